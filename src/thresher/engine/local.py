"""Local engine: stream a dataset in fixed-size shards through one or more scorers into a score store.

Shard boundaries depend only on the input and `shard_rows`, so an interrupted run resumes by skipping the
shards the manifest already records, and every scorer's shard `i` covers the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pyarrow as pa

from thresher.data.fields import ID_COLUMN, ROW_COLUMN
from thresher.engine.interrupt import stop_after_shard_on_sigint
from thresher.engine.progress import ScoreProgress
from thresher.engine.shards import DEFAULT_SHARD_ROWS, ScoringSummary, rechunk, start_runs, write_scored_shard
from thresher.scorers.base import Scorer
from thresher.store import ScorerRun, ScoreStore
from thresher.types import ExampleSource, RunContext


def run_scorers(
    examples: ExampleSource,
    scorers: Sequence[Scorer],
    store: ScoreStore,
    *,
    total_rows: int | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    context: RunContext | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> ScoringSummary:
    """Score every example with every scorer and write the results to `store` (already bound to the input).

    Args:
        examples: starts a pass over record batches with `row`, `id`, `text` (and `label`) columns, in input
            order; called once for scoring, and again by scorers that fit on the whole input first.
        scorers: scorers to run; each writes its own columns.
        store: the score store, bound to this input.
        total_rows: number of examples, for the progress bar (optional).
        shard_rows: rows per shard, the unit of writing and of resume.
    """
    context = context or RunContext()
    started = time.perf_counter()
    runs, summary = start_runs(store, scorers, shard_rows=shard_rows, overwrite=overwrite)
    pending = [(scorer, run) for scorer, run in zip(scorers, runs, strict=True) if not run.complete]
    if not pending:
        return summary

    ready: set[str] = set()
    with (
        ScoreProgress(total_rows, [scorer.name for scorer, _ in pending], enabled=show_progress) as progress,
        stop_after_shard_on_sigint() as stop,
    ):
        row_count = 0
        for index, shard in enumerate(rechunk(examples(), shard_rows)):
            if stop.requested:
                # Everything written so far is recorded in the manifest; the same command resumes from here.
                raise KeyboardInterrupt
            row_start = int(shard.column(ROW_COLUMN)[0].as_py())
            row_count += shard.num_rows
            scorer_input = shard.drop_columns([ROW_COLUMN])
            for scorer, run in pending:
                if index in run.done_shards:
                    summary.shards_reused[scorer.name] += 1
                    progress.advance(scorer.name, shard.num_rows, 0)
                    continue
                if scorer.name not in ready:
                    scorer.set_progress_callback(progress.callback(scorer.name))
                    scorer.set_progress_display(progress.display)
                    scorer.setup(context)
                    if scorer.requires_fit:
                        scorer.fit(_without_row(examples))
                    ready.add(scorer.name)
                _score_shard(scorer, run, index, row_start, scorer_input, progress)
                summary.shards_computed[scorer.name] += 1
        for scorer, run in pending:
            if scorer.name not in ready:
                scorer.setup(context)
            run.finish(row_count, scorer.provenance())
            scorer.teardown()
    summary.row_count = row_count
    summary.seconds = time.perf_counter() - started
    return summary


def _without_row(examples: ExampleSource) -> ExampleSource:
    """The example source as scorers see it: without the engine's `row` column."""

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in examples():
            yield batch.drop_columns([ROW_COLUMN])

    return batches


def _score_shard(
    scorer: Scorer,
    run: ScorerRun,
    index: int,
    row_start: int,
    shard: pa.RecordBatch,
    progress: ScoreProgress,
) -> None:
    started = time.perf_counter()
    progress.begin_shard(scorer.name)
    scores = scorer.score_batch(shard)
    tokens = write_scored_shard(
        run, index, row_start, shard.column(ID_COLUMN), scores, seconds=time.perf_counter() - started
    )
    progress.end_shard(scorer.name, shard.num_rows, tokens)
