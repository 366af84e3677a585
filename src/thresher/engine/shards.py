"""What every engine shares: the shard plan of an input, the runs to resume, and how one scored shard is written.

The local and Ray engines differ only in where `score_batch` runs; cutting the input into shards, deciding which
shards a resumed run still owes, and writing a scored shard into the store happen here, so the two engines
produce the same score directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.data.fields import ROW_COLUMN
from thresher.scorers.base import Scorer
from thresher.store import ScorerRun, ScoreStore

DEFAULT_SHARD_ROWS = 8192


@dataclass
class ScoringSummary:
    """What a scoring call did: rows in the input, and per scorer the shards it had to compute."""

    row_count: int = 0
    shards_computed: dict[str, int] = field(default_factory=dict)
    shards_reused: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)  # the run's resolved settings (settings-file format)


@dataclass(frozen=True)
class Shard:
    """Shard `index` of the input: rows `[row_start, row_start + examples.num_rows)`, as scorers see them."""

    index: int
    row_start: int
    examples: pa.RecordBatch  # row, id, text[, label, prompt, response]: what scorers are given


def rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Re-slice a stream of record batches into batches of exactly `rows` rows (the last may be shorter)."""
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).combine_chunks().to_batches()[0]
            rest = table.slice(rows)
            pending = rest.combine_chunks().to_batches() if rest.num_rows else []
            pending_rows = rest.num_rows
    if pending_rows:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def iter_shards(batches: Iterable[pa.RecordBatch], shard_rows: int) -> Iterator[Shard]:
    """Cut reader batches (with a `row` column) into the numbered shards every engine and scorer agree on."""
    for index, batch in enumerate(rechunk(batches, shard_rows)):
        row_start = int(batch.column(ROW_COLUMN)[0].as_py())
        yield Shard(index, row_start, batch)


def start_runs(
    store: ScoreStore, scorers: Sequence[Scorer], *, shard_rows: int, overwrite: bool
) -> tuple[list[ScorerRun], ScoringSummary]:
    """Begin or resume one store run per scorer, with a summary whose shard counts start at zero."""
    runs = [
        store.start_run(
            scorer.name,
            scorer.params_record(),  # plain data: nested components (dealrec's parts) as dicts
            scorer.columns,
            shard_rows=shard_rows,
            overwrite=overwrite,
            code=scorer.code(),
        )
        for scorer in scorers
    ]
    summary = ScoringSummary(
        shards_computed={scorer.name: 0 for scorer in scorers},
        shards_reused={scorer.name: 0 for scorer in scorers},
    )
    if all(run.complete for run in runs):
        summary.row_count = store.row_count() or 0
        for scorer, run in zip(scorers, runs, strict=True):
            summary.shards_reused[scorer.name] = len(run.done_shards)
    return runs, summary


def shard_tokens(scores: dict[str, np.ndarray]) -> int:
    """Tokens a scored shard covered, for throughput: the sum of its `n_tokens` column when it has one."""
    return int(scores["n_tokens"].sum()) if "n_tokens" in scores else 0


def write_scored_shard(
    run: ScorerRun,
    shard_index: int,
    row_start: int,
    ids: pa.Array | pa.ChunkedArray,
    scores: dict[str, np.ndarray],
    *,
    seconds: float,
) -> int:
    """Write one scored shard into the store and record it in the manifest; gives the tokens it covered."""
    tokens = shard_tokens(scores)
    run.write_shard(shard_index, row_start, ids, scores, seconds=seconds, tokens=tokens)
    return tokens
