"""The fitting pass shared by the scorers that train a classifier on the input (training dynamics, influence).

Round 0's `update` runs on the workers: it embeds the shard into the score directory's shared embedding cache (or,
for a fine-tuned proxy, tokenizes it) and saves the shard's raw labels as a shard-named array; its partial state is
the set of labels seen, merged by union. On the driver, `gather` numbers the classes (`thresher.labels` order),
turns every shard's labels into class indices and gives the whole input's features, so the small proxy or
surrogate trains there; what it computes is written as position-addressed columns for the workers to score from.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from thresher.data.fields import LABEL_COLUMN, TEXT_COLUMN
from thresher.errors import OptionError
from thresher.labels import class_index, class_order
from thresher.scorers import state
from thresher.scorers.density import shard_embedder
from thresher.types import RunContext, ScoreColumn


class LabelledPass:
    """The passes every labelled scorer shares: embed each shard and save its labels (round 0 on the workers), merge
    the label sets, and score a shard by position from the columns `finalize` saved.

    A mixin for `Scorer` subclasses that set `name`, `columns`, `embedder` and `device`; `finalize` stays theirs.
    """

    name: str
    columns: ClassVar[tuple[ScoreColumn, ...]]
    embedder: str
    device: str
    _context: RunContext | None = None
    _columns: dict[str, np.ndarray] | None = None

    def update(self, batch: pa.RecordBatch, round: int) -> frozenset[Any]:
        """Embed the shard into the shared embedding cache and save its labels."""
        labels = update_labels(self._context, batch, self.name)
        shard_features(self._context, batch, self.embedder, self.device, self.name)
        return labels

    def merge(self, partial: frozenset[Any], other: frozenset[Any]) -> frozenset[Any]:
        return merge_labels(partial, other)

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """The batch's rows of every declared column, read from the finalized column files."""
        if self._columns is None:
            self._columns = load_columns(self._context, self.name, [column.name for column in self.columns])
        rows = state.rows_of(batch)
        return {name: np.asarray(values[rows]) for name, values in self._columns.items()}

    def teardown(self) -> None:
        self._columns = None


def labels_of(batch: pa.RecordBatch, scorer: str) -> np.ndarray:
    """The batch's raw labels as a numpy array (strings, integers, floats or booleans)."""
    if LABEL_COLUMN not in batch.schema.names:
        raise OptionError(f"scorer {scorer} trains a classifier on the input and needs labels; give --label-field")
    values = batch.column(LABEL_COLUMN).to_pylist()
    return np.asarray(values) if values else np.zeros(0)


def update_labels(context: RunContext | None, batch: pa.RecordBatch, scorer: str) -> frozenset[Any]:
    """Save the shard's raw labels; give the set of labels it holds (the partial state)."""
    labels = labels_of(batch, scorer)
    state.save_shard_array(state.state_dir(context, scorer), "labels", batch, labels)
    return frozenset(labels.tolist())


def merge_labels(partial: frozenset[Any], other: frozenset[Any]) -> frozenset[Any]:
    return partial | other


def class_labels(context: RunContext, merged: frozenset[Any] | None, scorer: str) -> tuple[np.ndarray, list[Any]]:
    """Every example's class index (input order) and the classes, from the shards' saved labels."""
    rows, shard_rows = state.input_rows(context, scorer)
    directory = state.state_dir(context, scorer)
    classes = class_order(merged or ())
    index = class_index(classes)
    labels = np.empty(rows, dtype=np.int64)
    for start, count in state.shard_starts(rows, shard_rows):
        raw = state.load_array(state.shard_path(directory, "labels", start), mmap=False)
        distinct, inverse = np.unique(raw, return_inverse=True)
        labels[start : start + count] = np.array([index[value] for value in distinct.tolist()], dtype=np.int64)[
            inverse.reshape(-1)
        ]
    return labels, classes


def shard_features(context: RunContext | None, batch: pa.RecordBatch, embedder: str, device: str, scorer: str) -> None:
    """Embed the shard into the shared embedding cache (nothing when it is there already)."""
    shard_embedder(context, embedder, device, scorer).vectors(batch)


def all_features(context: RunContext, embedder: str, device: str, scorer: str) -> np.ndarray:
    """The whole input's embeddings (n, d) float32, once every shard is embedded (marks the cache complete)."""
    rows, _ = state.input_rows(context, scorer)
    cache = shard_embedder(context, embedder, device, scorer).finish(rows)
    assert cache is not None
    return cache.load()[1]


def texts_of(batch: pa.RecordBatch) -> list[str]:
    return batch.column(TEXT_COLUMN).to_pylist()


def save_columns(context: RunContext, scorer: str, columns: dict[str, np.ndarray]) -> None:
    """Write finalized per-row columns (input order) for scoring by position."""
    directory = state.state_dir(context, scorer)
    for name, values in columns.items():
        state.save_array(directory / f"column-{name}.npy", np.asarray(values, dtype=np.float64))


def load_columns(context: RunContext | None, scorer: str, names: list[str]) -> dict[str, np.ndarray]:
    """The finalized columns, as memory maps."""
    directory = state.state_dir(context, scorer)
    return {name: state.load_array(directory / f"column-{name}.npy") for name in names}
