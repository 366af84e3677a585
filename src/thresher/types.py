"""Types every layer shares (store, engines, scorers, selection, embeddings): columns, run context, example sources.

They live here, not in `thresher.scorers`, so that the store and the selection strategies do not depend on the
scorer layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pyarrow as pa


class Direction(StrEnum):
    """Which end of a score column holds the examples that matter most."""

    HIGHER = "higher_is_more_important"
    LOWER = "lower_is_more_important"


class ColumnKind(StrEnum):
    """What a column holds: a score (ordered, with a direction), a flag (1/0), or ids of other examples."""

    SCORE = "score"
    FLAG = "flag"
    ID = "id"


@dataclass(frozen=True)
class ScoreColumn:
    """A column a scorer writes: its name, what it measures, and for scores which direction means "more important".

    Only `kind=SCORE` columns have a direction; a flag (such as `semdedup_keep`) or an id column (such as
    `duplicate_of`) has none, so ranking strategies refuse them.
    """

    name: str
    direction: Direction | None
    description: str
    dtype: str = "float64"
    kind: ColumnKind = ColumnKind.SCORE

    def __post_init__(self) -> None:
        if self.kind is ColumnKind.SCORE and self.direction is None:
            raise ValueError(f"score column {self.name!r} needs a direction")
        if self.kind is not ColumnKind.SCORE and self.direction is not None:
            raise ValueError(f"{self.kind} column {self.name!r} has no direction; only scores do")


ProgressCallback = Callable[[int, int], None]
"""Called by a scorer as it goes with (examples done, tokens done) since the last call."""


ExampleSource = Callable[[], Iterable[pa.RecordBatch]]
"""Starts a fresh pass over every example (columns `id`, `text`, and `label` when given), in input order."""


@dataclass(frozen=True)
class ScorerCode:
    """Which code computed a scorer's columns: its class as `module:QualName` and its `version`."""

    class_path: str
    version: int

    def __str__(self) -> str:
        return f"{self.class_path} version {self.version}"


@dataclass(frozen=True)
class RunContext:
    """What the engine tells a scorer about the run it is part of.

    `cache_dir` is a directory, shared by the scorers of one score directory, where a scorer may keep
    expensive intermediate results (embeddings, training records, sketches) keyed by its own parameters, so
    that a resumed run or another scorer of the same family can reuse them.

    Set-level scorers (`Scorer.fit_rounds > 0`) also get `state_dir`, their own directory under the cache for the
    fitting pass (shard-named partial files, the finalized state), the same path on every worker; `rows`, the
    number of examples in the whole input; `shard_rows`, the rows per shard (shard `i` covers input rows
    `[i * shard_rows, (i + 1) * shard_rows)`); and `input_digest`, a short digest of the input's bytes and fields
    that keys what is cached from it.
    """

    seed: int = 0
    input_path: str | None = None
    cache_dir: Path | None = None
    state_dir: Path | None = None
    rows: int | None = None
    shard_rows: int | None = None
    input_digest: str | None = None
