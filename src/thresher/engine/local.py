"""Local engine: stream a dataset in fixed-size shards through one or more scorers into a score store.

Shard boundaries depend only on the input and `shard_rows`, so an interrupted run resumes by skipping the
shards the manifest already records, and every scorer's shard `i` covers the same rows.

Set-level scorers (`fit_rounds > 0`) first run their fitting pass (`thresher.engine.fit`): for each round, one
streaming pass over the input updates every set-level scorer that still owes the round (each shard's partial state
saved as it comes, so a killed pass resumes), then each finalizes. The scoring pass follows, as for every scorer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from thresher.data.fields import ID_COLUMN
from thresher.engine.fit import FitJob, finalize_round, plan_fits, scorer_context
from thresher.engine.interrupt import StopAfterShard, stop_after_shard_on_sigint
from thresher.engine.progress import ScoreProgress
from thresher.engine.shards import (
    DEFAULT_SHARD_ROWS,
    ScoringSummary,
    Shard,
    iter_shards,
    rechunk,
    start_runs,
    write_scored_shard,
)
from thresher.scorers.base import Scorer
from thresher.store import ScorerRun, ScoreStore
from thresher.types import ExampleSource, RunContext

__all__ = ["DEFAULT_SHARD_ROWS", "ScoringSummary", "rechunk", "run_scorers"]


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
        examples: starts a pass over record batches with `row`, `id`, `text` (and `label`, and the scorers'
            `input_fields`) columns, in input order; called once for scoring, and once per fitting round.
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

    contexts = {scorer.name: scorer_context(context, scorer, shard_rows=shard_rows) for scorer, _ in pending}
    ready: set[str] = set()

    def set_up(scorer: Scorer, progress: ScoreProgress) -> None:
        if scorer.name not in ready:
            scorer.set_progress_callback(progress.callback(scorer.name))
            scorer.set_progress_display(progress.display)
            scorer.setup(contexts[scorer.name])
            ready.add(scorer.name)

    owing = [scorer for scorer, run in pending if _owes_shards(store, run)]
    jobs = plan_fits([scorer for scorer in owing if scorer.fit_rounds], context, shard_rows=shard_rows)
    with (
        ScoreProgress(total_rows, [scorer.name for scorer, _ in pending], enabled=show_progress) as progress,
        stop_after_shard_on_sigint() as stop,
    ):
        _fit(examples, jobs, shard_rows, total_rows, progress, stop, lambda scorer: set_up(scorer, progress))
        row_count = 0
        for shard in iter_shards(examples(), shard_rows):
            if stop.requested:
                # Everything written so far is recorded in the manifest; the same command resumes from here.
                raise KeyboardInterrupt
            row_count += shard.examples.num_rows
            for scorer, run in pending:
                if shard.index in run.done_shards:
                    summary.shards_reused[scorer.name] += 1
                    progress.advance(scorer.name, shard.examples.num_rows, 0)
                    continue
                set_up(scorer, progress)
                _score_shard(scorer, run, shard, progress)
                summary.shards_computed[scorer.name] += 1
        fit_records = {
            job.scorer.name: job.fit_record()
            for job in plan_fits(
                [scorer for scorer, _ in pending if scorer.fit_rounds], context, shard_rows=shard_rows
            )
        }
        for scorer, run in pending:
            if scorer.name not in ready:
                scorer.setup(contexts[scorer.name])
            run.finish(row_count, {**scorer.provenance(), **fit_records.get(scorer.name, {})})
            scorer.teardown()
    summary.row_count = row_count
    summary.seconds = time.perf_counter() - started
    return summary


def fit_only(
    examples: ExampleSource,
    jobs: Sequence[Scorer],
    *,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    context: RunContext | None = None,
    total_rows: int | None = None,
    show_progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Run only the fitting pass of set-level jobs (`thresher embed`); gives what each finalize recorded."""
    context = context or RunContext()
    fits = plan_fits(jobs, context, shard_rows=shard_rows)
    ready: set[str] = set()
    with (
        ScoreProgress(total_rows, [], enabled=show_progress) as progress,
        stop_after_shard_on_sigint() as stop,
    ):

        def set_up(scorer: Scorer) -> None:
            if scorer.name not in ready:
                scorer.set_progress_display(progress.display)
                scorer.setup(scorer_context(context, scorer, shard_rows=shard_rows))
                ready.add(scorer.name)

        _fit(examples, fits, shard_rows, total_rows, progress, stop, set_up)
    return {job.scorer.name: job.fit_record() for job in fits}


def _owes_shards(store: ScoreStore, run: ScorerRun) -> bool:
    """Whether a scorer has shards left to score (when no row count is known yet, it may: assume so)."""
    rows = store.row_count()
    if rows is None:
        return True
    return run.done_shards != set(range(-(-rows // int(run.entry["shard_rows"]))))


def _fit(
    examples: ExampleSource,
    jobs: list[FitJob],
    shard_rows: int,
    total_rows: int | None,
    progress: ScoreProgress,
    stop: StopAfterShard,
    set_up: Callable[[Scorer], None],
) -> None:
    """Every round of every fit job: one pass over the input per round for the leaders that owe updates."""
    rounds = max((job.scorer.fit_rounds for job in jobs), default=0)
    for index in range(rounds):
        active = [job for job in jobs if index in job.pending_rounds()]
        if not active:
            continue
        updating = [(job, job.round(index)) for job in active if job.leader]
        updating = [(job, state) for job, state in updating if not state.complete]
        rows = next((job.round(index).rows for job in active if job.round(index).complete), None)
        if updating:
            for job, _ in updating:
                set_up(job.scorer)
            names = ", ".join(job.scorer.name for job, _ in updating)
            task = progress.display.task(f"fit {names} (pass {index + 1})", total_rows, unit="examples")
            rows = 0
            for shard in iter_shards(examples(), shard_rows):
                if stop.requested:
                    for _, state in updating:
                        state.consolidate()
                    raise KeyboardInterrupt
                rows += shard.examples.num_rows
                for job, state in updating:
                    if shard.index not in state.done:
                        state.add(shard.index, job.scorer.update(shard.examples, index))
                task.update(advance=shard.examples.num_rows)
            task.close()
            for _, state in updating:
                state.complete_with(rows)
        assert rows is not None
        if rows == 0:
            return  # nothing to fit and nothing to score
        for job in active:
            finalize_round(job, index, rows)


def _score_shard(scorer: Scorer, run: ScorerRun, shard: Shard, progress: ScoreProgress) -> None:
    started = time.perf_counter()
    progress.begin_shard(scorer.name)
    scores = scorer.score_batch(shard.examples)
    tokens = write_scored_shard(
        run,
        shard.index,
        shard.row_start,
        shard.examples.column(ID_COLUMN),
        scores,
        seconds=time.perf_counter() - started,
    )
    progress.end_shard(scorer.name, shard.examples.num_rows, tokens)
