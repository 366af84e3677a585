"""Ray engine: the same scorers and the same score directory as the local engine, scored by a Ray Data actor pool.

The driver cuts the input into the same numbered shards as the local engine (`engine.shards`), places each shard
a scorer still owes in the Ray object store as one block, and runs `map_batches` over those blocks with a pool of
actors, each of which builds the scorer from its class and parameters and calls `setup()` once (one model per
actor). The driver takes the scored shards back and writes them through the same `ScoreStore` calls as the local
engine, so shards, manifest and resume are identical; shards the manifest already records are never sent.

Multi-pass scorers (`requires_fit`) are refused: their fitted state lives in one process and is not shipped to
actors; run them with the local engine.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.data.fields import ID_COLUMN, ROW_COLUMN
from thresher.engine.progress import ScoreProgress
from thresher.engine.shards import DEFAULT_SHARD_ROWS, ScoringSummary, iter_shards, start_runs, write_scored_shard
from thresher.errors import OptionError
from thresher.scorers.base import Scorer
from thresher.store import ScorerRun, ScoreStore
from thresher.types import ExampleSource, RunContext

if TYPE_CHECKING:
    from types import ModuleType

# Columns the engine adds around a scorer's own: which shard a row belongs to, and what the actor measured.
SHARD_COLUMN = "__thresher_shard"
SECONDS_COLUMN = "__thresher_seconds"
PROVENANCE_COLUMN = "__thresher_provenance"
_ENGINE_COLUMNS = (SHARD_COLUMN, ROW_COLUMN)

INSTALL_HINT = "pip install 'thresher[ray]'"


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the Ray engine runs.

    Attributes:
        address: Ray cluster to join (`auto`, `ray://host:10001`, `host:6379`); `None` joins the cluster this
            process is already connected to, or starts a local one.
        workers: actors per scorer (each holds one model); `None` lets Ray Data grow the pool from 1 to the
            cluster's size.
        num_gpus_per_worker: GPUs each actor reserves (fractions share a GPU); 0 for CPU scorers.
        num_cpus_per_worker: CPUs each actor reserves.
    """

    address: str | None = None
    workers: int | None = None
    num_gpus_per_worker: float = 0.0
    num_cpus_per_worker: float = 1.0


def import_ray() -> ModuleType:
    """Import Ray and Ray Data, or raise `OptionError` telling the user how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is a separate extra of ray
    except ImportError as error:
        raise OptionError(f"--engine ray needs Ray Data ({error}); install it with `{INSTALL_HINT}`") from None
    return ray


class ScorerActor:
    """A Ray Data actor: builds one scorer, loads its model once, then scores the shards sent to it."""

    def __init__(self, scorer_class: type[Scorer], params: dict[str, Any], context: RunContext) -> None:
        self.scorer = scorer_class(**params)
        self.scorer.setup(context)
        self.provenance = json.dumps(self.scorer.provenance(), default=str)

    def __call__(self, batch: pa.Table) -> pa.Table:
        started = time.perf_counter()
        examples = batch.drop_columns(list(_ENGINE_COLUMNS))
        record_batch = pa.record_batch(
            [column.combine_chunks() for column in examples.columns], schema=examples.schema
        )
        scores = self.scorer.score_batch(record_batch)
        seconds = time.perf_counter() - started
        rows = batch.num_rows
        return pa.table(
            {
                SHARD_COLUMN: batch.column(SHARD_COLUMN),
                ROW_COLUMN: batch.column(ROW_COLUMN),
                ID_COLUMN: batch.column(ID_COLUMN),
                **{name: np.asarray(values) for name, values in scores.items()},
                SECONDS_COLUMN: np.full(rows, seconds / max(rows, 1), dtype=np.float64),
                PROVENANCE_COLUMN: pa.array([self.provenance] + [None] * (rows - 1), pa.string()),
            }
        )

    def __del__(self) -> None:
        scorer = getattr(self, "scorer", None)
        if scorer is not None:
            scorer.teardown()


def run_scorers_on_ray(
    examples: ExampleSource,
    scorers: Sequence[Scorer],
    store: ScoreStore,
    *,
    options: RayOptions | None = None,
    total_rows: int | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    context: RunContext | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> ScoringSummary:
    """Score every example with every scorer on a Ray cluster and write the results to `store`.

    Same arguments and result as `engine.local.run_scorers`, plus `options` (cluster address, pool size,
    resources). Scorers run one after another, each on its own actor pool, so GPUs are freed between them.

    Raises:
        OptionError: Ray is not installed, a scorer needs a fitting pass (`requires_fit`), or bad options.
    """
    options = options or RayOptions()
    context = context or RunContext()
    _check_options(scorers, options)
    ray = import_ray()
    started = time.perf_counter()
    runs, summary = start_runs(store, scorers, shard_rows=shard_rows, overwrite=overwrite)
    pending = [(scorer, run) for scorer, run in zip(scorers, runs, strict=True) if not run.complete]
    if not pending:
        return summary

    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address=options.address, include_dashboard=False, logging_level=logging.WARNING)
    try:
        # One pass over the input: every shard some scorer still owes goes to the object store once.
        shard_refs: dict[int, Any] = {}
        spans: dict[int, tuple[int, int]] = {}  # shard -> (first input row, rows)
        for shard in iter_shards(examples(), shard_rows):
            spans[shard.index] = (shard.row_start, shard.examples.num_rows)
            if any(shard.index not in run.done_shards for _, run in pending):
                shard_refs[shard.index] = ray.put(_engine_block(shard.index, shard.row_start, shard.examples))
        row_count = sum(rows for _, rows in spans.values())

        with ScoreProgress(total_rows, [scorer.name for scorer, _ in pending], enabled=show_progress) as progress:
            for scorer, run in pending:
                owed = [index for index in spans if index not in run.done_shards]
                reused = [index for index in spans if index in run.done_shards]
                summary.shards_reused[scorer.name] += len(reused)
                progress.advance(scorer.name, sum(spans[index][1] for index in reused), 0)
                provenance = None
                if owed:
                    provenance = _score_on_actors(
                        ray, scorer, run, [shard_refs[index] for index in owed], spans, options, context, progress
                    )
                    summary.shards_computed[scorer.name] += len(owed)
                if provenance is None:
                    # Every shard was already scored: provenance still comes from a set-up scorer, as locally.
                    scorer.setup(context)
                    provenance = scorer.provenance()
                    scorer.teardown()
                run.finish(row_count, provenance)
    finally:
        if started_ray:
            ray.shutdown()
    summary.row_count = row_count
    summary.seconds = time.perf_counter() - started
    return summary


def _check_options(scorers: Sequence[Scorer], options: RayOptions) -> None:
    multi_pass = [scorer.name for scorer in scorers if scorer.requires_fit]
    if multi_pass:
        raise OptionError(
            f"scorer(s) {', '.join(multi_pass)} must see every example before scoring (a fitting pass), "
            "which the Ray engine does not run; use --engine local for them"
        )
    if options.workers is not None and options.workers < 1:
        raise OptionError(f"--workers must be at least 1, got {options.workers}")
    if options.num_cpus_per_worker <= 0:
        raise OptionError(f"CPUs per worker must be more than 0, got {options.num_cpus_per_worker}")
    if options.num_gpus_per_worker < 0:
        raise OptionError(f"--num-gpus-per-worker must be 0 or more, got {options.num_gpus_per_worker}")


def _engine_block(index: int, row_start: int, examples: pa.RecordBatch) -> pa.Table:
    """A shard as one Ray block: the scorer's columns plus the shard number and input row of each example."""
    table = pa.Table.from_batches([examples])
    rows = examples.num_rows
    table = table.append_column(SHARD_COLUMN, pa.array(np.full(rows, index, dtype=np.int64)))
    return table.append_column(ROW_COLUMN, pa.array(np.arange(row_start, row_start + rows, dtype=np.int64)))


def _score_on_actors(
    ray: ModuleType,
    scorer: Scorer,
    run: ScorerRun,
    block_refs: list[Any],
    spans: dict[int, tuple[int, int]],
    options: RayOptions,
    context: RunContext,
    progress: ScoreProgress,
) -> str | None:
    """Run one scorer's owed shards through an actor pool and write each as it comes back; gives provenance."""
    if options.workers is not None:
        workers = options.workers
    else:
        # One actor per CPU (or per GPU share) the cluster has, never more than there are shards to score.
        resources = ray.cluster_resources()
        if options.num_gpus_per_worker > 0:
            fits = resources.get("GPU", 0) / options.num_gpus_per_worker
        else:
            fits = resources.get("CPU", 1) / options.num_cpus_per_worker
        workers = max(1, min(len(block_refs), int(fits)))
    scored = ray.data.from_arrow_refs(block_refs).map_batches(
        ScorerActor,
        fn_constructor_kwargs={"scorer_class": type(scorer), "params": scorer.get_params(), "context": context},
        batch_size=None,  # one block is one shard: the actor scores exactly the rows the local engine would
        batch_format="pyarrow",
        concurrency=workers,
        num_cpus=options.num_cpus_per_worker,
        num_gpus=options.num_gpus_per_worker,
    )
    # Shards come back in completion order, and Ray may split or merge blocks: rows are regrouped by shard, and a
    # shard is written (in any order; the manifest records it by number) once all its rows are back.
    parts: dict[int, list[pa.Table]] = {}
    provenance: str | None = None
    progress.begin_shard(scorer.name)
    for batch in scored.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1):
        if batch.num_rows == 0:
            continue
        provenance_values = [value for value in batch.column(PROVENANCE_COLUMN).to_pylist() if value is not None]
        if provenance_values and provenance is None:
            provenance = provenance_values[0]
        shard_column = batch.column(SHARD_COLUMN).to_numpy()
        for index in np.unique(shard_column):
            index = int(index)
            parts.setdefault(index, []).append(batch.filter(pa.array(shard_column == index)))
            row_start, rows = spans[index]
            if sum(part.num_rows for part in parts[index]) == rows:
                _write_shard(scorer, run, index, row_start, parts.pop(index), progress)
    if parts:
        raise RuntimeError(f"Ray returned incomplete shards {sorted(parts)} for scorer '{scorer.name}'")
    return json.loads(provenance) if provenance is not None else None


def _write_shard(
    scorer: Scorer, run: ScorerRun, index: int, row_start: int, parts: list[pa.Table], progress: ScoreProgress
) -> None:
    shard = pa.concat_tables(parts).combine_chunks()
    shard = shard.take(pc.sort_indices(shard.column(ROW_COLUMN)))
    scores = {column.name: shard.column(column.name).to_numpy() for column in scorer.columns}
    seconds = float(shard.column(SECONDS_COLUMN).to_numpy().sum())
    tokens = write_scored_shard(run, index, row_start, shard.column(ID_COLUMN), scores, seconds=seconds)
    progress.end_shard(scorer.name, shard.num_rows, tokens)
    progress.begin_shard(scorer.name)
