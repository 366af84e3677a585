"""Train k reference models, each on all folds but one, so every example is scored by a model that never saw it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from thresher.atomic import staged_dir
from thresher.errors import OptionError
from thresher.models.folds import FOLD_ASSIGNMENT, FOLDS_FILE, fold_of
from thresher.models.reference import ReferenceConfig, TrainSummary, train_into_dir


def fold_model_name(fold: int) -> str:
    """Give the sub-directory name of the model that held out `fold`."""
    return f"fold-{fold}"


def train_kfold_reference(
    ids: Sequence,
    texts: Sequence[str],
    k: int,
    config: ReferenceConfig,
    out_dir: str | Path,
    overwrite: bool = False,
    progress: Callable[[int, int, int, float], None] | None = None,
    data_fingerprint: str | None = None,
) -> list[TrainSummary]:
    """Train model j on every example whose `fold_of(id, k) != j`, saved in `out_dir/fold-j/`.

    Each fold trains its own tokenizer on its own training texts, so nothing of the held-out fold leaks
    into a model. `out_dir/folds.json` records k, the assignment rule, the model dirs and the fold sizes.
    The whole `out_dir` is written atomically; an existing non-empty one raises `OptionError` unless
    `overwrite`.

    Parameters
    ----------
    ids, texts:
        Example ids and their texts, aligned.
    k:
        Number of folds, at least 2.
    progress:
        Called after every optimiser step as `progress(fold, step, total_steps, loss)`.

    Returns
    -------
    One `TrainSummary` per fold, in fold order.
    """
    if k < 2:
        raise OptionError(f"k must be at least 2 for k-fold reference models, got {k}")
    if len(ids) != len(texts):
        raise OptionError(f"ids and texts differ in length ({len(ids)} vs {len(texts)})")
    config.validate()

    folds = [fold_of(example_id, k) for example_id in ids]
    fold_sizes = [0] * k
    for fold in folds:
        fold_sizes[fold] += 1
    for held_out, size in enumerate(fold_sizes):
        if size == len(texts):
            raise OptionError(
                f"fold {held_out} holds all {size} examples, leaving nothing to train on; use fewer folds or more data"
            )

    summaries = []
    with staged_dir(out_dir, overwrite=overwrite) as staging_dir:
        for held_out in range(k):
            train_texts = [text for text, fold in zip(texts, folds, strict=True) if fold != held_out]
            model_dir = staging_dir / fold_model_name(held_out)
            model_dir.mkdir()
            fold_progress = None
            if progress is not None:

                def fold_progress(step: int, total: int, loss: float, fold: int = held_out) -> None:
                    progress(fold, step, total, loss)

            extra_metadata = {"data_fingerprint": data_fingerprint, "fold": held_out, "k": k}
            summaries.append(train_into_dir(train_texts, config, model_dir, fold_progress, extra_metadata))
        folds_manifest = {
            "k": k,
            "assignment": FOLD_ASSIGNMENT,
            "models": [fold_model_name(fold) for fold in range(k)],
            "fold_sizes": fold_sizes,
            "n_examples": len(texts),
            "data_fingerprint": data_fingerprint,
        }
        (staging_dir / FOLDS_FILE).write_text(json.dumps(folds_manifest, indent=2) + "\n")
    return summaries
