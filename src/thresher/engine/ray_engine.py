"""Ray engine: the same scorers and the same score directory as the local engine, run by a pool of Ray actors.

What moves where:

- The driver plans the shards (`thresher.engine.sources`): pieces of the input are counted and the id census is
  taken by Ray tasks on the workers; the driver keeps only the shard descriptions (a few hundred bytes each) and the
  census's offsets files. Inputs without pieces (compressed JSON Lines, CSV) are read by the driver, whose shards
  then go to the object store as before.
- Each scorer gets a pool of actors (`ShardWorker`; one scorer, so one model, per actor, set up once). An actor
  reads each shard it is given from storage itself (a shared path or an object-store URL), and for a set-level
  scorer runs `update` on it, sending back only the small partial state, which the driver folds in and saves
  (`thresher.engine.fit`) before it finalizes each round on the driver. To score, the actor reads the shard
  again, scores it and writes the score shard into the score directory itself (atomically); the driver records it
  in the manifest. So the score directory must be on storage every node sees (a shared filesystem).
- Actors are restartable and their calls retried (`max_restarts`, `max_task_retries`): a worker killed mid-shard
  (`ray.kill`, a lost node) is restarted and the shard redone; a shard file is only recorded once, so every id is
  scored exactly once. Shards the manifest already records are never sent, and a fitting round resumes with the
  shards whose partial state was not saved yet, as locally.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from thresher.data.fields import ID_COLUMN
from thresher.data.readers import DEFAULT_PIECE_BYTES, Dataset
from thresher.data.shards import ShardSource
from thresher.engine.fit import FitJob, RoundState, finalize_round, plan_fits, scorer_context
from thresher.engine.progress import ScoreProgress
from thresher.engine.shards import DEFAULT_SHARD_ROWS, ScoringSummary, iter_shards, shard_tokens, start_runs
from thresher.engine.sources import plan_sources, read_source, shards_dir
from thresher.errors import OptionError, ThresherError
from thresher.scorers.base import Scorer
from thresher.store import ScorerRun, ScoreStore, write_shard_file
from thresher.types import RunContext

if TYPE_CHECKING:
    from types import ModuleType

    import pyarrow as pa

    from thresher.progress import ProgressTask

INSTALL_HINT = "pip install 'thresher[ray]'"
_IN_FLIGHT_PER_ACTOR = 2
ACTOR_NAME_PREFIX = "thresher"


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the Ray engine runs.

    Attributes:
        address: Ray cluster to join (`auto`, `ray://host:10001`, `host:6379`); `None` joins the cluster this
            process is already connected to, or starts a local one.
        workers: actors per scorer (each holds one model); `None`: as many as the cluster's CPUs (or GPUs) allow,
            at most one per shard.
        num_gpus_per_worker: GPUs each actor reserves (fractions share a GPU); 0 for CPU scorers.
        num_cpus_per_worker: CPUs each actor reserves.
        piece_bytes: bytes of a JSON Lines file per piece that a worker counts and reads on its own.
    """

    address: str | None = None
    workers: int | None = None
    num_gpus_per_worker: float = 0.0
    num_cpus_per_worker: float = 1.0
    piece_bytes: int = DEFAULT_PIECE_BYTES


def import_ray() -> ModuleType:
    """Import Ray, or raise `OptionError` telling the user how to install it."""
    try:
        import ray
    except ImportError as error:
        raise OptionError(f"--engine ray needs Ray ({error}); install it with `{INSTALL_HINT}`") from None
    return ray


@dataclass(frozen=True)
class ScorerSpec:
    """What an actor builds a scorer from: its class, parameters and context (with its state directory)."""

    key: str
    scorer_class: type[Scorer]
    params: dict[str, Any]
    context: RunContext

    @classmethod
    def of(cls, scorer: Scorer, context: RunContext) -> ScorerSpec:
        return cls(uuid.uuid4().hex, type(scorer), scorer.get_params(), context)


class ShardWorker:
    """A Ray actor: hosts one scorer at a time (built and set up once, so one model per actor) and updates or scores
    the shards it is sent.

    Every call names its scorer (`ScorerSpec`), so the run's actors serve each scorer in turn and an actor that was
    restarted after a crash rebuilds the scorer on its first call. It reads each shard from its description (or
    takes the rows the driver put in the object store), so the rows never pass through the driver; scored shards
    are written straight into the score directory.
    """

    def __init__(self, dataset: Dataset, store_root: str) -> None:
        self.dataset = dataset
        self.store_root = store_root
        self.key: str | None = None
        self.scorer: Scorer | None = None
        self.provenance = "{}"

    def _scorer(self, spec: ScorerSpec) -> Scorer:
        if spec.key != self.key or self.scorer is None:
            if self.scorer is not None:
                self.scorer.teardown()
                self.scorer = None
            scorer = spec.scorer_class(**spec.params)
            scorer.setup(spec.context)
            self.scorer, self.key = scorer, spec.key
            self.provenance = json.dumps(scorer.provenance(), default=str)
        return self.scorer

    def _rows(self, source: ShardSource, rows: pa.RecordBatch | None) -> pa.RecordBatch:
        return rows if rows is not None else read_source(self.dataset, source)

    def update(
        self, spec: ScorerSpec, source: ShardSource, round: int, rows: pa.RecordBatch | None = None
    ) -> tuple[int, Any]:
        """Round `round`'s update of one shard: (shard index, its partial state)."""
        scorer = self._scorer(spec)
        return source.index, scorer.update(self._rows(source, rows), round)

    def score(self, spec: ScorerSpec, source: ShardSource, rows: pa.RecordBatch | None = None) -> dict[str, Any]:
        """Score one shard and write its file into the score directory; what the driver records."""
        scorer = self._scorer(spec)
        started = time.perf_counter()
        batch = self._rows(source, rows)
        scores = scorer.score_batch(batch)
        columns = [column.name for column in scorer.columns]
        ids = batch.column(ID_COLUMN)
        relative = write_shard_file(self.store_root, scorer.name, columns, source.index, ids, scores)
        return {
            "index": source.index,
            "row_start": source.row_start,
            "rows": batch.num_rows,
            "file": relative,
            "seconds": time.perf_counter() - started,
            "tokens": shard_tokens(scores),
            "provenance": self.provenance,
        }

    def release(self) -> None:
        """Tear the hosted scorer down (free its model) before the next scorer."""
        scorer = getattr(self, "scorer", None)
        if scorer is not None:
            scorer.teardown()
        self.scorer, self.key = None, None

    def __del__(self) -> None:
        if getattr(self, "scorer", None) is not None:
            self.release()


@dataclass
class _Shard:
    """A shard as the driver sends it: its description, and its rows when the driver read them itself."""

    source: ShardSource
    rows_ref: Any = None


class _Pool:
    """The run's actors, each with at most a few calls in flight; Ray restarts a dead actor and retries its calls."""

    def __init__(self, ray: ModuleType, dataset: Dataset, store_root: str, size: int, options: RayOptions) -> None:
        self.ray = ray
        remote = ray.remote(ShardWorker)
        run_id = uuid.uuid4().hex[:8]
        self.actors = [
            remote.options(
                num_cpus=options.num_cpus_per_worker,
                num_gpus=options.num_gpus_per_worker,
                max_restarts=-1,
                max_task_retries=-1,
                # Named so an operator (or a test) can find a run's actors: thresher-<run>-<number>.
                name=f"{ACTOR_NAME_PREFIX}-{run_id}-{number}",
            ).remote(dataset, store_root)
            for number in range(size)
        ]

    def map(
        self,
        method: str,
        spec: ScorerSpec,
        shards: Sequence[_Shard],
        extra: tuple[Any, ...],
        on_result: Callable[[Any], None],
    ) -> None:
        """Call `method(spec, source, *extra, rows)` for every shard, spread over the actors; `on_result` each result
        as it comes (in completion order). A scorer's error stops the run with that error."""
        spec_ref = self.ray.put(spec)
        queue = deque(shards)
        in_flight: dict[Any, Any] = {}  # object ref -> actor
        load = {id(actor): 0 for actor in self.actors}
        while queue or in_flight:
            for actor in self.actors:
                while queue and load[id(actor)] < _IN_FLIGHT_PER_ACTOR:
                    shard = queue.popleft()
                    ref = getattr(actor, method).remote(spec_ref, shard.source, *extra, shard.rows_ref)
                    in_flight[ref] = actor
                    load[id(actor)] += 1
            done, _ = self.ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                actor = in_flight.pop(ref)
                load[id(actor)] -= 1
                on_result(_get(self.ray, ref))

    def release(self) -> None:
        """Free every actor's scorer (its model) between scorers."""
        _get_all(self.ray, [actor.release.remote() for actor in self.actors])

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)


def _get_all(ray: ModuleType, refs: list[Any]) -> list[Any]:
    return [_get(ray, ref) for ref in refs]


def _get(ray: ModuleType, ref: Any) -> Any:
    """`ray.get`, with a user's mistake (bad input, bad option) raised as itself, not wrapped in Ray's error."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, ThresherError):
            raise cause from None
        raise


def _pool_size(ray: ModuleType, options: RayOptions, shards: int) -> int:
    if options.workers is not None:
        return max(1, min(options.workers, max(shards, 1)))
    # One actor per CPU (or per GPU share) the cluster has, never more than there are shards.
    resources = ray.cluster_resources()
    if options.num_gpus_per_worker > 0:
        fits = resources.get("GPU", 0) / options.num_gpus_per_worker
    else:
        fits = resources.get("CPU", 1) / options.num_cpus_per_worker
    return max(1, min(shards, int(fits)))


def _ray_map(ray: ModuleType) -> Callable[[Callable[..., Any], Sequence[tuple[Any, ...]]], list[Any]]:
    """Run planning tasks (piece counts, the census) as Ray tasks; results in the order of the arguments."""

    def map_tasks(function: Callable[..., Any], arguments: Sequence[tuple[Any, ...]]) -> list[Any]:
        task = ray.remote(num_cpus=1, max_retries=3)(function)
        return [_get(ray, ref) for ref in [task.remote(*args) for args in arguments]]

    return map_tasks


def _shards(
    ray: ModuleType, dataset: Dataset, shard_rows: int, context: RunContext, options: RayOptions, needed: bool
) -> list[_Shard]:
    """Every shard of the input: descriptions workers read by themselves, or rows the driver read and put."""
    assert context.cache_dir is not None
    work_dir = shards_dir(context.cache_dir, context.input_digest, shard_rows)
    sources = plan_sources(dataset, shard_rows, work_dir, _ray_map(ray), piece_bytes=options.piece_bytes)
    if sources is not None:
        return [_Shard(source) for source in sources]
    # No pieces (compressed JSON Lines, CSV): the driver reads the input and places each shard in the object store.
    shards = []
    for shard in iter_shards(dataset.iter_examples(), shard_rows):
        source = ShardSource(shard.index, shard.row_start, shard.examples.num_rows, ())
        shards.append(_Shard(source, ray.put(shard.examples) if needed else None))
    return shards


def run_scorers_on_ray(
    dataset: Dataset,
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
    """Score every example of `dataset` with every scorer on a Ray cluster and write the results to `store`.

    Same result as `engine.local.run_scorers` (the same shards, ids, fitting passes and manifest), plus `options`
    (cluster address, pool size, resources). Scorers run one after another, each on its own actor pool, so GPUs are
    freed between them.

    Raises:
        OptionError: Ray is not installed, or bad options.
    """
    options = options or RayOptions()
    context = context or RunContext()
    _check_options(options)
    ray = import_ray()
    started = time.perf_counter()
    runs, summary = start_runs(store, scorers, shard_rows=shard_rows, overwrite=overwrite)
    pending = [(scorer, run) for scorer, run in zip(scorers, runs, strict=True) if not run.complete]
    if not pending:
        return summary
    with _connected(ray, options):
        shards = _shards(ray, dataset, shard_rows, context, options, needed=True)
        row_count = sum(shard.source.rows for shard in shards)
        pool = _Pool(ray, dataset, str(store.root), _pool_size(ray, options, len(shards)), options)
        try:
            with ScoreProgress(total_rows, [scorer.name for scorer, _ in pending], enabled=show_progress) as progress:
                progress.set_total(row_count)
                fits = plan_fits([scorer for scorer, _ in pending], context, shard_rows=shard_rows)
                jobs = {job.scorer.name: job for job in fits}
                for scorer, run in pending:
                    owed = [shard for shard in shards if shard.source.index not in run.done_shards]
                    reused = [shard for shard in shards if shard.source.index in run.done_shards]
                    summary.shards_reused[scorer.name] += len(reused)
                    progress.advance(scorer.name, sum(shard.source.rows for shard in reused), 0)
                    job = jobs.get(scorer.name)
                    provenance = _run_scorer(scorer, run, job, owed, shards, pool, context, progress)
                    summary.shards_computed[scorer.name] += len(owed)
                    fit_record = job.fit_record() if job is not None else {}
                    run.finish(row_count, {**provenance, **fit_record})
        finally:
            pool.close()
    summary.row_count = row_count
    summary.seconds = time.perf_counter() - started
    return summary


def _run_scorer(
    scorer: Scorer,
    run: ScorerRun,
    job: FitJob | None,
    owed: list[_Shard],
    shards: list[_Shard],
    pool: _Pool,
    context: RunContext,
    progress: ScoreProgress,
) -> dict[str, Any]:
    """Fit (set-level scorers) and score one scorer's owed shards on the run's actors; gives its provenance."""
    shard_rows = int(run.entry["shard_rows"])
    spec = ScorerSpec.of(scorer, scorer_context(context, scorer, shard_rows=shard_rows))
    if not owed:
        # Every shard was already scored: provenance still comes from a set-up scorer, as locally.
        scorer.setup(spec.context)
        provenance = scorer.provenance()
        scorer.teardown()
        return provenance
    try:
        if job is not None and job.pending_rounds():
            scorer.set_progress_display(progress.display)
            _fit_rounds(job, pool, spec, shards, progress)
        provenance: dict[str, Any] = {}

        def record(result: dict[str, Any]) -> None:
            if not provenance:
                provenance.update(json.loads(result["provenance"]))
            run.record_shard(
                result["index"],
                result["row_start"],
                result["rows"],
                result["file"],
                seconds=result["seconds"],
                tokens=result["tokens"],
            )
            progress.advance(scorer.name, result["rows"], result["tokens"])

        pool.map("score", spec, owed, (), record)
        return provenance
    finally:
        pool.release()


def _fit_rounds(job: FitJob, pool: _Pool, spec: ScorerSpec, shards: list[_Shard], progress: ScoreProgress) -> None:
    """Every round the job still owes: updates on the pool's actors, folded and saved as they come, then finalize."""
    rows = sum(shard.source.rows for shard in shards)
    if rows == 0:
        return  # nothing to fit and nothing to score
    sizes = {shard.source.index: shard.source.rows for shard in shards}
    for index in job.pending_rounds():
        state = job.round(index)
        if not state.complete:
            owed = [shard for shard in shards if shard.source.index not in state.done]
            task = progress.display.task(f"fit {job.scorer.name} (pass {index + 1})", rows, unit="examples")
            task.update(advance=rows - sum(shard.source.rows for shard in owed))
            pool.map("update", spec, owed, (index,), _folder(state, task, sizes))
            state.complete_with(rows)
            task.close()
        finalize_round(job, index, rows)


def _folder(state: RoundState, task: ProgressTask, sizes: dict[int, int]) -> Callable[[tuple[int, Any]], None]:
    """What to do with each (shard, partial state) an update gives back: save and fold it, move the bar."""

    def fold(result: tuple[int, Any]) -> None:
        shard_index, partial = result
        state.add(shard_index, partial)  # saved at once: a killed run does not update this shard again
        task.update(advance=sizes[shard_index])

    return fold


def fit_on_ray(
    dataset: Dataset,
    jobs: Sequence[Scorer],
    *,
    options: RayOptions | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    context: RunContext | None = None,
    show_progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Run only the fitting pass of set-level jobs on the cluster (`thresher embed --engine ray`)."""
    options = options or RayOptions()
    context = context or RunContext()
    _check_options(options)
    ray = import_ray()
    fits = plan_fits(jobs, context, shard_rows=shard_rows)
    with _connected(ray, options), ScoreProgress(None, [], enabled=show_progress) as progress:
        shards = _shards(ray, dataset, shard_rows, context, options, needed=True)
        pool = _Pool(ray, dataset, "", _pool_size(ray, options, len(shards)), options)
        try:
            for job in fits:
                if job.pending_rounds():
                    job.scorer.set_progress_display(progress.display)
                    _fit_rounds(job, pool, ScorerSpec.of(job.scorer, job.context), shards, progress)
                    pool.release()
        finally:
            pool.close()
    return {job.scorer.name: job.fit_record() for job in fits}


class _connected:
    """Join (or start) the Ray cluster for the block; shut it down after only when this call started it."""

    def __init__(self, ray: ModuleType, options: RayOptions) -> None:
        self.ray, self.options = ray, options
        self.started = False

    def __enter__(self) -> _connected:
        if not self.ray.is_initialized():
            self.ray.init(address=self.options.address, include_dashboard=False, logging_level=logging.WARNING)
            self.started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.ray.shutdown()


def _check_options(options: RayOptions) -> None:
    if options.workers is not None and options.workers < 1:
        raise OptionError(f"--workers must be at least 1, got {options.workers}")
    if options.num_cpus_per_worker <= 0:
        raise OptionError(f"CPUs per worker must be more than 0, got {options.num_cpus_per_worker}")
    if options.num_gpus_per_worker < 0:
        raise OptionError(f"--num-gpus-per-worker must be 0 or more, got {options.num_gpus_per_worker}")
    if options.piece_bytes < 1:
        raise OptionError(f"piece_bytes must be at least 1, got {options.piece_bytes}")
