"""`thresher train-ref`: read an input's texts and train a reference LM on them (optionally k-fold)."""

from __future__ import annotations

from pathlib import Path

from thresher.data.fields import ID_COLUMN, TEXT_COLUMN, Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.models.folds_training import train_kfold_reference
from thresher.models.reference import ReferenceConfig, TrainSummary, train_reference_model
from thresher.progress import ProgressDisplay


def train_reference(
    input: str | Path,
    *,
    out: str | Path,
    folds: int = 1,
    text_field: str = "text",
    id_field: str | None = None,
    overwrite: bool = False,
    show_progress: bool = False,
    **config_options: object,
) -> list[TrainSummary]:
    """Train one reference model on every text of `input` (or `folds` models, each holding one fold out).

    `config_options` are `ReferenceConfig` fields (epochs, vocab_size, n_layer, n_embd, context_length, seed, ...).
    The ids used for folds are the same ids `thresher score` gives the examples, so scoring with the
    resulting directory routes each example to the model that did not see it. `show_progress` reports each
    model's steps, loss and ETA on stderr.
    """
    if folds < 1:
        raise OptionError(f"--folds must be 1 (one model) or at least 2, got {folds}")
    try:
        config = ReferenceConfig(**config_options)  # type: ignore[arg-type]
    except TypeError as error:
        raise OptionError(f"unknown reference-model option: {error}") from None
    config.validate()
    dataset = open_dataset(input, Fields(text=text_field, id=id_field))
    fingerprint = dataset.fingerprint()
    ids: list[object] = []
    texts: list[str] = []
    for batch in dataset.iter_examples():
        ids.extend(batch.column(ID_COLUMN).to_pylist())
        texts.extend(batch.column(TEXT_COLUMN).to_pylist())
    data_fingerprint = str(fingerprint.get("blake2b"))
    with ProgressDisplay(enabled=show_progress) as display:
        models = "a tokenizer and a model" if folds == 1 else f"{folds} tokenizers and models, each without one fold"
        display.note(f"train-ref: {len(texts):,} texts read; training {models}")
        if folds == 1:
            report = display.follow("train-ref", unit="step")
            return [
                train_reference_model(
                    texts,
                    config,
                    out,
                    lambda step, total, loss: report(step, total, f"loss {loss:.3f}"),
                    overwrite=overwrite,
                    data_fingerprint=data_fingerprint,
                )
            ]
        reports = [display.follow(f"train-ref fold {fold + 1}/{folds}", unit="step") for fold in range(folds)]
        return train_kfold_reference(
            ids,
            texts,
            folds,
            config,
            out,
            overwrite=overwrite,
            progress=lambda fold, step, total, loss: reports[fold](step, total, f"loss {loss:.3f}"),
            data_fingerprint=data_fingerprint,
        )
