"""The data of an evaluation: the input's examples, its training and held-out parts, and the score columns.

The held-out part is set aside first (`split_by_id`, or a separate `--eval-file`); methods choose only among the
training rows, so score columns are read for those rows alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher.data.fields import ID_COLUMN, LABEL_COLUMN, TEXT_COLUMN, Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.types import Direction

if TYPE_CHECKING:
    from thresher.data.readers import Dataset
    from thresher.store import ScoreStore


def split_by_id(ids: Sequence[Any], eval_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, held-out rows), ascending: an example is held out when a seeded hash of its id falls
    below `eval_fraction`, so the same example lands on the same side whatever else the input holds."""
    if not 0.0 < eval_fraction < 1.0:
        raise OptionError(f"--eval-split {eval_fraction}: must be greater than 0 and less than 1")
    draws = np.array(
        [
            int.from_bytes(hashlib.blake2b(f"{seed}\x00{value}".encode(), digest_size=8).digest(), "big") / 2.0**64
            for value in ids
        ]
    )
    held_out = draws < eval_fraction
    if held_out.all() or not held_out.any():
        raise OptionError(
            f"--eval-split {eval_fraction} leaves {int(held_out.sum())} of {len(ids)} examples held out; "
            "use more data or another fraction"
        )
    return np.flatnonzero(~held_out), np.flatnonzero(held_out)


@dataclass
class Examples:
    """The ids, texts and (optional) labels of a dataset, in input order; sft reads responses as the labels."""

    ids: list[Any]
    texts: list[str]
    labels: list[Any] | None

    @classmethod
    def read(cls, dataset: Dataset) -> Examples:
        ids: list[Any] = []
        texts: list[str] = []
        labels: list[Any] | None = [] if dataset.fields.label is not None else None
        for batch in dataset.iter_examples():
            ids.extend(batch.column(ID_COLUMN).to_pylist())
            texts.extend(batch.column(TEXT_COLUMN).to_pylist())
            if labels is not None:
                labels.extend(batch.column(LABEL_COLUMN).to_pylist())
        return cls(ids, texts, labels)

    def subset(self, rows: np.ndarray) -> Examples:
        return Examples(
            [self.ids[i] for i in rows],
            [self.texts[i] for i in rows],
            [self.labels[i] for i in rows] if self.labels is not None else None,
        )


@dataclass(frozen=True)
class EvalData:
    """The whole input, its training part (what methods choose from) and the held-out part (what runs are scored on).

    `eval_rows` are the input rows held out by `--eval-split`, None when `--eval-file` gives the held-out part.
    """

    examples: Examples
    train_rows: np.ndarray
    train: Examples
    held_out: Examples
    eval_rows: np.ndarray | None


def read_split(
    dataset: Dataset, fields: Fields, eval_split: float | None, eval_file: Path | None, seed: int
) -> EvalData:
    """The examples of `dataset`, split into the training and the held-out part."""
    examples = Examples.read(dataset)
    if eval_file is not None:
        # Held-out rows are never selected, so they need no ids: an id field the file has is just another field.
        held_out = Examples.read(open_dataset(eval_file, Fields(text=fields.text, label=fields.label)))
        train_rows = np.arange(len(examples.texts))
        return EvalData(examples, train_rows, examples.subset(train_rows), held_out, None)
    if eval_split is None:
        raise OptionError("give --eval-split FRACTION or --eval-file FILE")
    train_rows, eval_rows = split_by_id(examples.ids, eval_split, seed)
    return EvalData(examples, train_rows, examples.subset(train_rows), examples.subset(eval_rows), eval_rows)


@dataclass(frozen=True)
class TrainingColumn:
    """A score column's values over the training rows, and which end matters most (None for flags)."""

    values: np.ndarray
    direction: Direction | None


def open_scores(scores: Path | None, dataset: Dataset) -> ScoreStore | None:
    """The score directory of `dataset`, checked to be of the same input; None without --scores."""
    if scores is None:
        return None
    from thresher.store import ScoreStore

    store = ScoreStore.open(scores)
    store.check_input(dataset.fingerprint())
    return store


def training_columns(
    store: ScoreStore | None, names: Sequence[str], train_rows: np.ndarray
) -> dict[str, TrainingColumn]:
    """The score columns `names`, restricted to the training rows."""
    if store is None or not names:
        return {}
    infos = store.column_infos()
    table = store.read_columns(sorted(set(names)))
    return {
        name: TrainingColumn(
            table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)[train_rows], infos[name].direction
        )
        for name in sorted(set(names))
    }
