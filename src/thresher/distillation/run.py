"""`thresher distill`: train a cheap student on the split an expensive teacher makes, and measure it held out.

Two ways to say what the student should learn:

- from a score column (`INPUT --scores DIR --by COLUMN`): positives are the top `positive_fraction` of the column
  at `positive_end` (`top` = its declared more-important end), negatives the `negative_fraction` at the other end,
  or every other example;
- from files, DCLM's way (`--positive FILE --negative FILE`): every example of the first file is positive, every
  example of the second negative.

Before training, a seeded hash of each example's id holds out a `holdout` fraction of the examples (labelled or
not). The student never sees them; on them the run measures its ROC-AUC on the positive-vs-negative split, its
Spearman correlation with the teacher column (column form; every held-out example, oriented so that the positives'
end is high), and its examples/s. The model directory (`thresher.distillation.model_dir`) records all of it.

The texts the student trains and is measured on are held in memory: distillation is meant for the sample an
expensive teacher scored, not for the whole corpus (which the `fasttext` scorer then scores shard by shard).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thresher.components import Chosen, ParamsLike, as_layers, build, registered, resolve_params, shared_layer
from thresher.config import settings_record
from thresher.data.fields import ID_COLUMN, TEXT_COLUMN, Fields
from thresher.distillation.labels import (
    PositiveEnd,
    check_fractions,
    holdout_mask,
    label_by_column,
    oriented,
)
from thresher.distillation.model_dir import STUDENT_FILE, file_digest, write_student_dir
from thresher.distillation.registry import STUDENTS
from thresher.distillation.students import FastTextModel, FastTextStudent, HeadModel, HeadStudent, Student
from thresher.errors import OptionError, StoreError
from thresher.ops.agreement import roc_auc, spearman
from thresher.types import ColumnKind

# Options of `thresher distill` that belong to students (an error when the chosen student takes none of them), and
# options of the run that a student taking a parameter of that name also receives.
SHARED_OPTIONS = ("embedder", "device")
FORWARDED_OPTIONS = ("seed",)
FLAGS = {name: "--" + name.replace("_", "-") for name in (*SHARED_OPTIONS, *FORWARDED_OPTIONS)}

NORMALISATION = "every whitespace run (newlines included) → one space, trimmed; words starting __label__ escaped"


@dataclass
class DistillResult:
    """What `distill` trained, where it wrote it, and how the student did on the held-out part."""

    out: Path
    student: str
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)  # the model directory's student.json
    settings: dict[str, Any] = field(default_factory=dict)  # the call's resolved settings (settings-file format)
    heldout_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    heldout_predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))


@dataclass
class _Examples:
    """The examples a run learns from: texts, ids, labels (None = unlabelled), and the teacher's oriented values."""

    texts: list[str]
    ids: list[str]
    positive: np.ndarray  # bool (n,)
    labelled: np.ndarray  # bool (n,)
    heldout: np.ndarray  # bool (n,)
    teacher: np.ndarray | None  # float64 (n,), higher = nearer the positives' end; None in the file form
    vectors: Callable[[HeadStudent], tuple[np.ndarray, dict[str, Any]]]  # the embeddings, for the head student


def distill(
    input: str | Path | None = None,
    *,
    out: str | Path,
    scores: str | Path | None = None,
    by: str | None = None,
    positive: str | Path | None = None,
    negative: str | Path | None = None,
    student: str = "fasttext",
    positive_fraction: float = 0.1,
    negative_fraction: float | None = None,
    positive_end: PositiveEnd = "top",
    holdout: float = 0.1,
    text_field: str | None = None,
    id_field: str | None = None,
    embedder: str | None = None,
    device: str | None = None,
    seed: int = 0,
    params: ParamsLike = None,
    overwrite: bool = False,
    show_progress: bool = False,
    dry_run: bool = False,
) -> DistillResult:
    """Train a student (fastText, or a head on embeddings) on a teacher's split and write it to the model dir `out`.

    Args:
        input: the data a score directory was made from (column form), with `scores` and `by`.
        out: the model directory to write (refused when it exists and is not empty, unless `overwrite`).
        scores: the score directory holding the teacher column.
        by: the teacher column (a score, not a flag or ids).
        positive, negative: instead of a column, a file of positive and a file of negative examples (any input
            format, read with `text_field` / `id_field`).
        student: a registered student (`thresher.distillation.registry.STUDENTS`): "fasttext" or "head".
        positive_fraction: share of the examples labelled positive (column form), in (0, 1).
        negative_fraction: share labelled negative, from the other end; None: every example not positive.
        positive_end: "top" (the column's declared more-important end, as `select --strategy top`) or "bottom".
        holdout: share of the examples held out by a seeded hash of their id, in [0, 1).
        text_field, id_field: the input's fields; in the column form they default to the score directory's.
        embedder, device: the head student's embedder and device (an error for a student that takes neither).
        seed: seeds the held-out split and the student (`seed` parameter: fastText's initialisation and order).
        params: the student's parameters: `{"epochs": 10, "fasttext.dim": 64}` or layers of `Assignment`s.
        overwrite: replace an existing model directory (swapped in only once the new one is complete).
        show_progress: report the steps on stderr.
        dry_run: resolve the settings and build the student, but read, train and write nothing (`--print-config`).

    Returns:
        A `DistillResult`; `out/student.json` holds the same record.

    Raises:
        OptionError, StoreError, InputError: a missing or non-score column, fractions out of range, an empty
        positive or negative set, inputs that do not match the score directory, a non-empty `out`.
    """
    column_form = any(value is not None for value in (input, scores, by))
    file_form = any(value is not None for value in (positive, negative))
    if column_form and file_form:
        raise OptionError("give either INPUT --scores DIR --by COLUMN or --positive FILE --negative FILE, not both")
    if file_form and (positive is None or negative is None):
        raise OptionError("the file form needs both --positive FILE and --negative FILE")
    if not file_form:
        missing = [name for name, value in (("INPUT", input), ("--scores", scores), ("--by", by)) if value is None]
        if missing:
            raise OptionError(
                f"`thresher distill` needs {', '.join(missing)} (or --positive FILE --negative FILE instead)"
            )
        check_fractions(positive_fraction, negative_fraction)
    if positive_end not in ("top", "bottom"):
        raise OptionError(f"--positive-end must be top or bottom, got {positive_end!r}")
    if not 0.0 <= holdout < 1.0:
        raise OptionError(f"--holdout must be in [0, 1), got {holdout}")

    built = build_student(student, params, embedder=embedder, device=device, seed=seed)
    options = {
        "input": input,
        "scores": scores,
        "by": by,
        "positive": positive,
        "negative": negative,
        "out": out,
        "student": student,
        "positive_fraction": positive_fraction if column_form else None,
        "negative_fraction": negative_fraction if column_form else None,
        "positive_end": positive_end if column_form else None,
        "holdout": holdout,
        "text_field": text_field,
        "id_field": id_field,
        "seed": seed,
    }
    settings = settings_record(options, {student: built.params_record()})
    out = Path(out)
    if dry_run:
        return DistillResult(out, student, settings=settings)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not overwrite:
        raise OptionError(f"{out}: exists and is not an empty directory; use another --out or --overwrite")

    from thresher.progress import ProgressDisplay

    with ProgressDisplay(enabled=show_progress) as display:
        if column_form:
            assert input is not None and scores is not None and by is not None
            examples, provenance = _from_column(
                input, scores, by, fields=(text_field, id_field), positive_fraction=positive_fraction,
                negative_fraction=negative_fraction, positive_end=positive_end, holdout=holdout, seed=seed,
            )  # fmt: skip
        else:
            assert positive is not None and negative is not None
            examples, provenance = _from_files(
                positive, negative, Fields(text=text_field or "text", id=id_field), holdout=holdout, seed=seed
            )
        data = _data_sizes(examples, holdout, seed)
        display.note(
            f"distill: {data['examples']} examples, {data['positives']} positive, {data['negatives']} negative; "
            f"training on {data['train']['positives'] + data['train']['negatives']}, {data['heldout']['examples']} "
            "held out"
        )
        started = time.perf_counter()
        model, fitted, embedder_record = _fit(built, examples, display)
        train_seconds = time.perf_counter() - started
        metrics, heldout_rows, predictions = _measure(examples, fitted)
        metrics["train_seconds"] = round(train_seconds, 3)

    record = {
        "student": student,
        "params": built.params_record(),
        "text": {"normalisation": NORMALISATION if built.reads == "texts" else "none (the embedder's own)",
                 "lowercase": bool(getattr(built, "lowercase", False))},
        **provenance,
        "data": data,
        "metrics": metrics,
        **({"embedder": embedder_record} if embedder_record else {}),
        "thresher_version": _thresher_version(),
        "packages": _packages(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"distill": settings},
    }  # fmt: skip
    record = write_student_dir(out, model, record, overwrite=overwrite)
    return DistillResult(out, student, metrics, data, record, settings, heldout_rows, predictions)


def build_student(
    name: str, params: ParamsLike, *, embedder: str | None = None, device: str | None = None, seed: int = 0
) -> Student:
    """Student `name` built from its parameters, the shared `--embedder` / `--device` and the run's seed."""
    cls = STUDENTS.get(name)
    layers = [*as_layers(params), shared_layer({"embedder": embedder, "device": device}, FLAGS)]
    resolved = resolve_params(
        [Chosen(name, cls)], layers, forwarded={"seed": seed}, known=registered(STUDENTS), flags=FLAGS
    )
    built = build(cls, resolved[name])
    built.check()
    return built


# -- reading the examples ----------------------------------------------------------------------------------------


def _from_column(
    input: str | Path,
    scores: str | Path,
    by: str,
    *,
    fields: tuple[str | None, str | None],
    positive_fraction: float,
    negative_fraction: float | None,
    positive_end: PositiveEnd,
    holdout: float,
    seed: int,
) -> tuple[_Examples, dict[str, Any]]:
    from thresher.data.readers import open_dataset
    from thresher.store import MANIFEST_NAME, ScoreStore

    store = ScoreStore.open(scores)
    recorded = store.manifest.get("input", {}).get("fields", {})
    text_field, id_field = fields
    dataset = open_dataset(
        input, Fields(text=text_field or recorded.get("text", "text"), id=id_field or recorded.get("id"))
    )
    fingerprint = dataset.fingerprint()
    store.check_input(fingerprint)
    infos = store.column_infos()
    if by not in infos:
        available = ", ".join(sorted(name for name, info in infos.items() if info.kind is ColumnKind.SCORE))
        raise StoreError(f"{store.root}: no score column {by!r}; available: {available or 'none'}")
    info = infos[by]
    if info.kind is not ColumnKind.SCORE or info.direction is None:
        raise OptionError(f"--by {by} is a {info.kind} column; a teacher must be a score with a direction")
    values = store.read_columns([by], with_id=False).column(by).to_numpy(zero_copy_only=False)
    texts, ids = _texts_and_ids(dataset.iter_examples)
    if len(texts) != len(values):
        raise StoreError(f"{store.root}: {len(values)} scores for {len(texts)} examples of {input}")
    labels = label_by_column(
        values, info.direction, positive_fraction=positive_fraction, negative_fraction=negative_fraction,
        positive_end=positive_end, column=by,
    )  # fmt: skip
    positive = np.zeros(len(texts), dtype=bool)
    positive[labels.positive_rows] = True
    labelled = positive.copy()
    labelled[labels.negative_rows] = True
    entry = store.manifest["scorers"][info.scorer]

    def vectors(student: HeadStudent) -> tuple[np.ndarray, dict[str, Any]]:
        from thresher.embeddings import cached_embeddings, embedder_identity

        cached_ids, matrix = cached_embeddings(
            store, student.embedder, dataset.iter_examples, device=student.device, batch_size=student.batch_size
        )
        if [str(value) for value in cached_ids] != ids:
            raise StoreError(f"{store.root}: the embedding cache does not line up with {input}")
        return np.asarray(matrix, dtype=np.float32), embedder_identity(student.embedder)

    teacher = {
        "form": "column",
        "column": by,
        "scorer": info.scorer,
        "direction": str(info.direction),
        "positive_end": positive_end,
        "positives": f"the {positive_fraction:g} of examples at the {positive_end} of {by}",
        "positive_fraction": positive_fraction,
        "negative_fraction": negative_fraction,
        "score_dir": str(Path(scores).absolute()),
        "manifest_blake2b": file_digest(store.root / MANIFEST_NAME),
        "scorer_fingerprint": entry.get("fingerprint"),
        "scorer_params": entry.get("params"),
        "scorer_model_fingerprint": (entry.get("provenance") or {}).get("fingerprint"),
        "teacher_examples_per_second": entry.get("examples_per_second"),
    }
    examples = _Examples(
        texts=texts,
        ids=ids,
        positive=positive,
        labelled=labelled,
        heldout=holdout_mask(ids, holdout, seed),
        teacher=oriented(values, info.direction, positive_end),
        vectors=vectors,
    )
    return examples, {"teacher": teacher, "input": fingerprint}


def _from_files(
    positive: str | Path, negative: str | Path, fields: Fields, *, holdout: float, seed: int
) -> tuple[_Examples, dict[str, Any]]:
    from thresher.data.readers import open_dataset

    datasets = {"positive": open_dataset(positive, fields), "negative": open_dataset(negative, fields)}
    texts: list[str] = []
    ids: list[str] = []
    is_positive: list[np.ndarray] = []
    heldout: list[np.ndarray] = []
    for side, dataset in datasets.items():
        side_texts, side_ids = _texts_and_ids(dataset.iter_examples)
        if not side_texts:
            raise OptionError(f"{dataset.path}: no examples in the --{side} file")
        texts += side_texts
        ids += side_ids
        is_positive.append(np.full(len(side_texts), side == "positive"))
        # Salted by side: the same text in both files is two examples, each with its own draw.
        heldout.append(holdout_mask(side_ids, holdout, seed, salt=side))

    def vectors(student: HeadStudent) -> tuple[np.ndarray, dict[str, Any]]:
        from thresher.embeddings import cached_embeddings, embedder_identity

        parts = [
            cached_embeddings(None, student.embedder, dataset.iter_examples, device=student.device,
                              batch_size=student.batch_size)[1]
            for dataset in datasets.values()
        ]  # fmt: skip
        return np.concatenate(parts).astype(np.float32), embedder_identity(student.embedder)

    labels = np.concatenate(is_positive)
    examples = _Examples(
        texts=texts,
        ids=ids,
        positive=labels,
        labelled=np.ones(len(texts), dtype=bool),
        heldout=np.concatenate(heldout),
        teacher=None,
        vectors=vectors,
    )
    teacher = {
        "form": "files",
        "positive": datasets["positive"].fingerprint(),
        "negative": datasets["negative"].fingerprint(),
    }
    return examples, {"teacher": teacher}


def _texts_and_ids(batches: Callable[[], Any]) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    ids: list[str] = []
    for batch in batches():
        texts.extend(batch.column(TEXT_COLUMN).to_pylist())
        ids.extend(str(value) for value in batch.column(ID_COLUMN).to_pylist())
    return texts, ids


def _data_sizes(examples: _Examples, holdout: float, seed: int) -> dict[str, Any]:
    train = examples.labelled & ~examples.heldout
    held = examples.heldout
    sizes = {
        "examples": len(examples.texts),
        "positives": int(examples.positive.sum()),
        "negatives": int((examples.labelled & ~examples.positive).sum()),
        "unlabelled": int((~examples.labelled).sum()),
        "train": {
            "positives": int((train & examples.positive).sum()),
            "negatives": int((train & ~examples.positive).sum()),
        },
        "heldout": {
            "examples": int(held.sum()),
            "positives": int((held & examples.positive).sum()),
            "negatives": int((held & examples.labelled & ~examples.positive).sum()),
        },
        "holdout": holdout,
        "holdout_seed": seed,
        "text_characters": int(sum(len(text) for text in examples.texts)),
    }
    for side in ("positives", "negatives"):
        if sizes["train"][side] == 0:
            raise OptionError(
                f"no {side} left to train on once {holdout:g} of the examples are held out "
                f"({sizes[side]} {side} in all); give more examples, a larger fraction or a smaller --holdout"
            )
    return sizes


# -- training and measuring --------------------------------------------------------------------------------------


@dataclass
class _Fitted:
    """A trained model and how to predict the examples' P(positive) by row."""

    model: FastTextModel | HeadModel
    predict_rows: Callable[[np.ndarray], np.ndarray]
    time_rows: Callable[[np.ndarray], float]  # seconds to score these rows from their texts, end to end


def _fit(
    student: Student, examples: _Examples, display: Any
) -> tuple[FastTextModel | HeadModel, _Fitted, dict[str, Any] | None]:
    train_rows = np.flatnonzero(examples.labelled & ~examples.heldout)
    labels = examples.positive[train_rows]
    if isinstance(student, FastTextStudent):
        display.note(f"distill: training fastText on {len(train_rows)} examples")
        model = student.fit([examples.texts[row] for row in train_rows], labels)

        def predict_rows(rows: np.ndarray) -> np.ndarray:
            return model.predict([examples.texts[row] for row in rows])

        def time_rows(rows: np.ndarray) -> float:
            texts = [examples.texts[row] for row in rows]
            started = time.perf_counter()
            model.predict(texts)
            return time.perf_counter() - started

        return model, _Fitted(model, predict_rows, time_rows), None

    assert isinstance(student, HeadStudent)
    display.note(f"distill: embedding {len(examples.texts)} examples with {student.embedder} (or reading the cache)")
    vectors, identity = examples.vectors(student)
    display.note(f"distill: training a logistic-regression head on {len(train_rows)} examples")
    head = student.fit(vectors[train_rows], labels, embedder=identity)

    def predict_head(rows: np.ndarray) -> np.ndarray:
        return head.predict_vectors(vectors[rows])

    def time_head(rows: np.ndarray) -> float:
        # What scoring new text costs: embedding it, then the head (the embedder's loading is not counted).
        from thresher.models.embedder import embed_texts, load_embedder

        loaded = load_embedder(student.embedder, device=student.device)
        texts = [examples.texts[row] for row in rows]
        started = time.perf_counter()
        head.predict_vectors(embed_texts(loaded, texts, batch_size=student.batch_size))
        return time.perf_counter() - started

    return head, _Fitted(head, predict_head, time_head), identity


def _measure(examples: _Examples, fitted: _Fitted) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Held-out ROC-AUC (positives vs negatives), Spearman with the teacher, training ROC-AUC, examples/s."""
    held_rows = np.flatnonzero(examples.heldout)
    train_rows = np.flatnonzero(examples.labelled & ~examples.heldout)
    predictions = fitted.predict_rows(held_rows)
    labelled = examples.labelled[held_rows]
    metrics: dict[str, Any] = {
        "heldout_roc_auc": _finite(roc_auc(predictions[labelled], examples.positive[held_rows][labelled])),
        "heldout_spearman": None,
        "train_roc_auc": _finite(roc_auc(fitted.predict_rows(train_rows), examples.positive[train_rows])),
    }
    if examples.teacher is not None:
        metrics["heldout_spearman"] = _finite(spearman(predictions, examples.teacher[held_rows]))
    timed_rows = held_rows if len(held_rows) else train_rows
    seconds = fitted.time_rows(timed_rows)
    metrics["examples_per_second"] = round(len(timed_rows) / seconds, 1) if seconds > 0 else None
    metrics["examples_per_second_rows"] = "held-out" if len(held_rows) else "training"
    return metrics, held_rows, predictions


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 6)


def _thresher_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("thresher")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _packages() -> dict[str, str]:
    from importlib import metadata

    from thresher.provenance import package_versions

    versions = package_versions()
    for name in ("fasttext-numpy2", "scikit-learn", "sentence-transformers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


__all__ = ["STUDENT_FILE", "DistillResult", "build_student", "distill"]
