"""Python API: `score` and `select`, the same operations as the `thresher score` and `thresher select` commands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher.cache import cache_dir
from thresher.components import Chosen, ParamsLike, as_layers, build, resolve_params
from thresher.config import settings_record
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.engine.local import DEFAULT_SHARD_ROWS, ScoringSummary, run_scorers
from thresher.errors import InputError, OptionError
from thresher.scorers.base import RunContext, Scorer
from thresher.scorers.build import build_scorers, parse_names
from thresher.selection.base import IMPORTANCE, LABELS, TEXTS, Budget, Strategy
from thresher.selection.fusion import check_fusable, parse_fuse, split_columns
from thresher.selection.inputs import (
    TOKEN_COLUMN,
    DatasetTexts,
    check_token_column,
    choose_column,
    column_direction,
    dataset_labels,
    fused_inputs_from_store,
    inputs_from_store,
    row_count,
)
from thresher.selection.keep import KeepSpec, parse_keep
from thresher.selection.pipeline import Pipeline, StepColumn, StepReport, load_pipeline, resolve_columns, run_pipeline
from thresher.selection.registry import STRATEGIES, every_strategy
from thresher.selection.run import check_budget, run_strategy
from thresher.selection.streaming import KeepRule, RowsRule, Tally, kept_rows, stream_select, write_rule
from thresher.store import ScoreStore

if TYPE_CHECKING:
    from thresher.components import Assignment
    from thresher.data.readers import Dataset
    from thresher.eval.results import EvalResult


def score(
    input: str | Path,
    *,
    scorers: str | Sequence[str | Scorer],
    out: str | Path,
    model: str | None = None,
    embedder: str | None = None,
    dtype: str | None = None,
    device: str | None = None,
    batch_tokens: int | None = None,
    prompt_field: str | None = None,
    response_field: str | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    seed: int = 0,
    params: ParamsLike = None,
    overwrite: bool = False,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    show_progress: bool = False,
    engine: str = "local",
    address: str | None = None,
    num_gpus_per_worker: float = 0.0,
    workers: int | None = None,
    dry_run: bool = False,
) -> ScoringSummary:
    """Score every example of `input` with each scorer and write the scores to the directory `out`.

    Args:
        input: JSONL (.gz/.zst), Parquet or CSV file, or a Hugging Face dataset saved with `save_to_disk`.
        scorers: registered scorer names ("likelihood,compression" or a list; see `thresher scorers`) or scorer
            objects.
        out: score directory; created if missing; several scorers may share it.
        model, embedder, dtype, device, batch_tokens, prompt_field, response_field: shared scorer options, given to
            every chosen scorer that takes them; one that none takes is an `OptionError`.
        text_field, id_field, label_field: the input's fields (scorers reading other files with the same fields
            receive them too).
        seed: the run's seed, also given to every scorer with a `seed` parameter.
        params: scorer parameters: `{"likelihood.stride": 256, "epochs": 5}` (a bare name reaches every chosen
            scorer that takes it), or layers of `Assignment`s as the CLI passes them.
        engine: "local" (this process) or "ray" (a Ray Data actor pool; same score directory, needs `thresher[ray]`).
        address: Ray cluster to join ("auto", "ray://host:10001"); default: the connected one or a new local one.
        num_gpus_per_worker: GPUs each Ray actor reserves (one model per actor).
        workers: Ray actors per scorer; default: as many as the cluster's CPUs (or GPUs) allow.
        dry_run: check the options and build the scorers, but read and write nothing (`--print-config`).

    Returns:
        A summary of rows scored and shards computed or reused from an earlier, interrupted run, and the resolved
        settings (`summary.settings`, in the settings-file format), which the manifest records as `settings.score`.
    """
    run = _score_run(
        input,
        scorers=scorers,
        out=out,
        shared={
            "model": model,
            "embedder": embedder,
            "dtype": dtype,
            "device": device,
            "batch_tokens": batch_tokens,
            "prompt_field": prompt_field,
            "response_field": response_field,
        },
        text_field=text_field,
        id_field=id_field,
        label_field=label_field,
        seed=seed,
        params=params,
        shard_rows=shard_rows,
        engine=engine,
        address=address,
        num_gpus_per_worker=num_gpus_per_worker,
        workers=workers,
    )
    if dry_run:
        return ScoringSummary(settings=run.settings)
    fields = Fields(text=text_field, id=id_field, label=label_field, **_extra_fields(run.scorers))
    dataset = open_dataset(input, fields)
    store = ScoreStore(out)
    fingerprint = dataset.fingerprint()
    store.bind_input(fingerprint, overwrite=overwrite)
    store.record_settings("score", run.settings)
    run_options: dict[str, Any] = {
        # The row count of an earlier run saves a counting pass over the input; the Ray engine learns it from its
        # shard plan, so the driver never reads a whole input only to size a progress bar.
        "total_rows": (store.row_count() or dataset.num_rows()) if show_progress and engine != "ray" else None,
        "shard_rows": shard_rows,
        "context": RunContext(
            seed=seed, input_path=str(input), cache_dir=cache_dir(store.root), input_digest=input_digest(fingerprint)
        ),
        "overwrite": overwrite,
        "show_progress": show_progress,
    }
    if engine == "ray":
        # Imported here so that the local engine never loads the Ray engine (nor Ray).
        from thresher.engine.ray_engine import RayOptions, run_scorers_on_ray

        ray_options = RayOptions(address=address, workers=workers, num_gpus_per_worker=num_gpus_per_worker)
        summary = run_scorers_on_ray(dataset, run.scorers, store, options=ray_options, **run_options)
    else:
        summary = run_scorers(dataset.iter_examples, run.scorers, store, **run_options)
    summary.settings = run.settings
    return summary


def _extra_fields(scorers: Sequence[Scorer]) -> dict[str, str]:
    """The prompt and response fields the scorers read (`Scorer.input_fields`), as `Fields` arguments."""
    wanted: dict[str, str] = {}
    for scorer in scorers:
        for column, field_name in scorer.input_fields().items():
            if wanted.get(column, field_name) != field_name:
                raise OptionError(
                    f"scorers read different {column} fields ({wanted[column]!r} and {field_name!r}); score them "
                    "in separate runs"
                )
            wanted[column] = field_name
    return wanted


def input_digest(fingerprint: dict[str, Any]) -> str:
    """A short digest of an input's bytes and fields: what keys everything cached from it (embeddings, fits)."""
    from thresher.cache import cache_key

    keys = ("format", "size_bytes", "blake2b", "fields")
    return cache_key("input", {key: fingerprint.get(key) for key in keys})


def _check_engine(
    engine: str,
    address: str | None,
    workers: int | None,
    *,
    num_gpus_per_worker: float = 0.0,
    shard_rows: int | None = None,
) -> None:
    """Refuse an unknown engine, Ray options without the Ray engine, and fewer than one worker or shard row."""
    if engine not in ("local", "ray"):
        raise OptionError(f"unknown --engine {engine!r}; choose local or ray")
    ray_flags = {"--address": address, "--num-gpus-per-worker": num_gpus_per_worker or None, "--workers": workers}
    if engine == "local" and any(value is not None for value in ray_flags.values()):
        given = ", ".join(flag for flag, value in ray_flags.items() if value is not None)
        raise OptionError(f"{given} only apply with --engine ray")
    if workers is not None and workers < 1:
        raise OptionError(f"--workers must be at least 1, got {workers}")
    if shard_rows is not None and shard_rows < 1:
        raise OptionError(f"--shard-rows must be at least 1, got {shard_rows}")


@dataclass(frozen=True)
class ScoreRun:
    """The scorers a `score` call builds and its resolved settings, in the settings-file format."""

    scorers: list[Scorer]
    settings: dict[str, Any]


def _score_run(
    input: str | Path,
    *,
    scorers: str | Sequence[str | Scorer],
    out: str | Path,
    shared: dict[str, Any],
    text_field: str,
    id_field: str | None,
    label_field: str | None,
    seed: int,
    params: ParamsLike,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    engine: str = "local",
    address: str | None = None,
    num_gpus_per_worker: float = 0.0,
    workers: int | None = None,
) -> ScoreRun:
    """Check a score call's options and build its scorers (nothing is read or written yet)."""
    _check_engine(engine, address, workers, num_gpus_per_worker=num_gpus_per_worker, shard_rows=shard_rows)
    items = parse_names(scorers) if isinstance(scorers, str) else list(scorers)
    if not items:
        raise OptionError("no scorer given; use --scorer NAME[,NAME...] (see `thresher scorers`)")
    built = build_scorers(
        items,
        params=params,
        shared=shared,
        forwarded={"seed": seed, "text_field": text_field, "label_field": label_field},
    )
    needs_labels = [scorer.name for scorer in built if scorer.needs_labels]
    if needs_labels and label_field is None:
        raise OptionError(f"scorer(s) {', '.join(needs_labels)} need labels; give --label-field")
    options = {
        "input": input,
        "scorer": [scorer.name for scorer in built],
        "out": out,
        "text_field": text_field,
        "id_field": id_field,
        "label_field": label_field,
        "seed": seed,
        "shard_rows": shard_rows,
        "engine": engine,
        "address": address,
        "num_gpus_per_worker": num_gpus_per_worker or None,
        "workers": workers,
    }
    settings = settings_record(options, {scorer.name: scorer.params_record() for scorer in built})
    return ScoreRun(built, settings)


@dataclass(frozen=True)
class SelectionResult:
    """What `select` kept and where it wrote it."""

    input_rows: int
    kept: int
    by: str
    strategy: str
    out: Path
    pruned_out: Path | None
    rule: KeepRule = field(repr=False, compare=False)  # decides the rows again, from the score shards if streamed
    kept_tokens: int | None = None
    params: dict[str, Any] = field(default_factory=dict)  # the strategy's parameters, as built
    settings: dict[str, Any] = field(default_factory=dict)  # the call's resolved settings (settings-file format)
    streamed: bool = False  # chosen in passes over the score shards rather than in memory
    score_passes: int = 0  # passes over the score shards before the writing pass (streamed only)
    steps: list[dict[str, Any]] = field(default_factory=list)  # a pipeline's steps: rows received, kept, dropped

    @property
    def pruned(self) -> int:
        return self.input_rows - self.kept

    @property
    def kept_rows(self) -> np.ndarray:
        """The 0-based input rows kept, ascending (computed on each access: a streamed selection holds none)."""
        return kept_rows(self.rule)


def select(
    input: str | Path,
    *,
    scores: str | Path,
    by: str | Sequence[str] | None = None,
    out: str | Path,
    strategy: str | None = None,
    keep: str | float | int | None = None,
    budget_tokens: int | None = None,
    seed: int = 0,
    write_pruned: str | Path | None = None,
    text_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    balance_classes: bool = False,
    params: ParamsLike = None,
    in_memory: bool = False,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    fuse: str | None = None,
    pipeline: str | Path | None = None,
    dry_run: bool = False,
) -> SelectionResult:
    """Select a subset of `input` with a strategy and write it in the input's format (or `out`'s suffix).

    Args:
        input: the data the score directory was made from.
        scores: the score directory (`thresher score --out`).
        by: the column to select by; None for strategies that need none (`random`, `zip`, `dsir`) or that have
            a default column (`dedup`: the dedup scorers' keep flags); several ("a,b,c" or a list) with `fuse`.
        out: where to write the kept examples.
        strategy: a registered strategy (`thresher.selection.registry.STRATEGIES`; default `top`): `top` keeps the
            most important examples by the column's recorded direction, `bottom` the least, `random` a uniform
            sample, `threshold` the rows in [minimum, maximum], `stratified`/`ccs` an equal share of the budget
            per score stratum (CCS), `softmax`, `pareto`, `band`, `ips`, `dedup`, `zip`, `dsir` (see the README).
        keep: a fraction ("0.3") or a count (5000) of examples to keep.
        budget_tokens: keep examples up to this many tokens (`n_tokens`), instead of `keep`.
        seed: the only source of randomness.
        write_pruned: also write the examples that were dropped here.
        text_field / id_field / label_field: default to those the scores were computed with.
        balance_classes: apply the strategy within each class, with a budget proportional to the class's size.
        params: the strategy's parameters: a mapping (`{"strata": 20}` or `{"stratified.drop_hardest": 0.1}`),
            or layers of `Assignment`s from lowest to highest precedence (what the CLI passes: its `-p`s).
        in_memory: choose in memory even where the strategy streams. By default `top`, `bottom`, `threshold`,
            `random`, `softmax`, `pareto`, `band` and `stratified` with `--keep` are chosen in passes over the
            score shards, in memory that does not grow with the input (`thresher.selection.streaming`), the others,
            `balance_classes`, `fuse` and pipelines in memory; both keep the same rows.
        engine: "local" writes `out` in this process; "ray" writes it as a directory of parts, in parallel
            (`thresher.selection.ray_write`).
        address, workers: the Ray cluster to join and the parts written at once (`--engine ray`).
        fuse: fuse the `by` columns into one score for the strategy: "rank-mean", "z-mean" or "weights=0.5,0.3,0.2"
            (`thresher.selection.fusion`).
        pipeline: a pipeline file (`thresher.selection.pipeline`) instead of `by`, `strategy`, `fuse` and
            `params`; `keep`/`budget_tokens` then size its last step.
        dry_run: resolve the strategy and its parameters, but read and write nothing (`--print-config`).

    Returns:
        What was kept, and where it went (a pipeline's steps in `steps`).

    Raises:
        OptionError: an unknown strategy, a parameter it does not take, a column it cannot use, a bad budget, a bad
            pipeline file.
    """
    if pipeline is not None:
        _check_pipeline_options(by, strategy, fuse, params, balance_classes)
    strategy = strategy or "top"
    if strategy not in STRATEGIES:
        raise OptionError(f"unknown --strategy {strategy!r}; choose one of {', '.join(STRATEGIES.names())}")
    if keep is not None and budget_tokens is not None:
        raise OptionError("give either --keep or --budget-tokens, not both")
    if budget_tokens is not None and budget_tokens < 1:
        raise OptionError(f"--budget-tokens must be a positive number of tokens, got {budget_tokens}")
    _check_engine(engine, address, workers)
    keep_spec = parse_keep(str(keep)) if keep is not None else None
    fusion = parse_fuse(fuse) if fuse is not None else None
    by_columns = split_columns(by) if by is not None else []
    if fusion is not None:
        check_fusable(fusion, by_columns)
    elif len(by_columns) > 1:
        raise OptionError(f"--by {','.join(by_columns)}: several columns need --fuse rank-mean, z-mean or weights=...")

    # A dry run reads nothing: the fields default to the ones given (the score directory may not exist yet).
    store = ScoreStore.open(scores) if not dry_run else None
    recorded_fields = store.manifest.get("input", {}).get("fields", {}) if store is not None else {}
    fields = Fields(
        text=text_field or recorded_fields.get("text", "text"),
        id=id_field if id_field is not None else recorded_fields.get("id"),
        label=label_field if label_field is not None else recorded_fields.get("label"),
    )
    steps = load_pipeline(pipeline, text_field=fields.text) if pipeline is not None else None
    built = _build_strategy(strategy, params, fields.text) if steps is None else None
    options = {
        "input": input,
        "scores": scores,
        "pipeline": pipeline,
        "by": ",".join(by_columns) or None,
        "fuse": None if fusion is None else str(fusion),
        "out": out,
        "strategy": strategy if steps is None else None,
        "keep": None if keep is None else str(keep),
        "budget_tokens": budget_tokens,
        "seed": seed,
        "write_pruned": write_pruned,
        "text_field": text_field,
        "id_field": id_field,
        "label_field": label_field,
        "balance_classes": balance_classes or None,
        "in_memory": in_memory or None,
        "engine": engine,
        "address": address,
        "workers": workers,
    }
    settings = settings_record(options, {strategy: built.params_record()} if built is not None else {})
    if store is None:
        empty = RowsRule(np.zeros(0, dtype=np.int64), 0)
        label = "pipeline" if steps is not None else strategy
        return SelectionResult(0, 0, ",".join(by_columns), label, Path(out), None, empty, settings=settings)
    dataset = open_dataset(input, fields)
    store.check_input(dataset.fingerprint())

    n_rows = row_count(store)
    budget = _budget(keep_spec, budget_tokens, n_rows)
    if budget_tokens is not None:
        check_token_column(store)
    spec, passes, reports = None, 0, []
    if steps is not None:
        rule, reports = _run_pipeline(steps, store, dataset, budget, seed, with_costs=budget_tokens is not None)
        column_label = ""
    elif fusion is not None:
        assert built is not None
        inputs = fused_inputs_from_store(
            strategy, type(built), store, dataset, by_columns, fusion, with_costs=budget_tokens is not None
        )
        labels = dataset_labels(dataset) if balance_classes else None
        chosen = run_strategy(built, inputs, budget, seed, balance_labels=labels, name=strategy)
        rule = RowsRule(chosen, inputs.n_rows, None if inputs.costs is None else inputs.costs[chosen])
        column_label = fusion.label(by_columns)
    else:
        assert built is not None
        column = choose_column(strategy, type(built), store, by_columns[0] if by_columns else None)
        spec = None if in_memory or balance_classes else built.streamed(budget)
        if spec is not None:
            check_budget(built, budget, n_rows, strategy)
            direction = column_direction(store, column) if column is not None and IMPORTANCE in built.needs else None
            cost_column = TOKEN_COLUMN if budget_tokens is not None else None
            rule, passes = stream_select(
                spec, store, column=column, direction=direction, cost_column=cost_column, budget=budget, seed=seed
            )
        else:
            inputs = inputs_from_store(
                type(built), store, dataset, column=column, with_costs=budget_tokens is not None
            )
            labels = dataset_labels(dataset) if balance_classes else None
            chosen = run_strategy(built, inputs, budget, seed, balance_labels=labels, name=strategy)
            rule = RowsRule(chosen, inputs.n_rows, None if inputs.costs is None else inputs.costs[chosen])
        column_label = column or ""
    tally = _write_selection(dataset, rule, Path(out), write_pruned, engine, address, workers)
    return SelectionResult(
        input_rows=n_rows,
        kept=tally.rows,
        by=column_label,
        strategy="pipeline" if steps is not None else strategy,
        out=Path(out),
        pruned_out=Path(write_pruned) if write_pruned is not None else None,
        rule=rule,
        kept_tokens=round(tally.cost) if budget_tokens is not None else None,
        params=built.params_record() if built is not None else {},
        settings=settings,
        streamed=spec is not None,
        score_passes=passes,
        steps=[report.record() for report in reports],
    )


def _check_pipeline_options(
    by: str | Sequence[str] | None, strategy: str | None, fuse: str | None, params: ParamsLike, balance: bool
) -> None:
    """`OptionError` for an option that a pipeline file replaces (its steps name their own)."""
    given = [
        flag
        for flag, value in (("--by", by), ("--strategy", strategy), ("--fuse", fuse), ("-p", any(as_layers(params))))
        if value
    ]
    if balance:
        given.append("--balance-classes")
    if given:
        raise OptionError(
            f"--pipeline FILE names each step's column, strategy and parameters; drop {', '.join(given)}"
        )


def _run_pipeline(
    steps: Pipeline, store: ScoreStore, dataset: Dataset, final: Budget | None, seed: int, *, with_costs: bool
) -> tuple[RowsRule, list[StepReport]]:
    """The rows a pipeline keeps from the score directory's rows, chosen in memory, and each step's counts."""
    infos = store.column_infos()
    step_by = resolve_columns(steps, {name: info.kind for name, info in infos.items()}, source=str(store.root))
    names = sorted({column for columns in step_by for column in columns})
    wanted = [*names, *([TOKEN_COLUMN] if with_costs and TOKEN_COLUMN not in names else [])]
    table = store.read_columns(wanted, with_id=False) if wanted else None
    n_rows = table.num_rows if table is not None else row_count(store)

    def column(name: str) -> np.ndarray:
        assert table is not None
        return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)

    arrays = {name: StepColumn(column(name), infos[name].direction) for name in names}
    needs = {need for step in steps.steps for need in step.built.needs}
    costs = column(TOKEN_COLUMN) if with_costs else None
    texts = DatasetTexts(dataset) if TEXTS in needs else None
    labels = dataset_labels(dataset, f"--pipeline {steps.path}") if LABELS in needs else None
    rows, reports = run_pipeline(
        steps, step_by, arrays, n_rows, seed=seed, final=final, texts=texts, labels=labels, costs=costs
    )
    return RowsRule(rows, n_rows, None if costs is None else costs[rows]), reports


def _write_selection(
    dataset: Dataset,
    rule: KeepRule,
    out: Path,
    write_pruned: str | Path | None,
    engine: str,
    address: str | None,
    workers: int | None,
) -> Tally:
    """Write the rows `rule` keeps to `out` (and the others to `write_pruned`); gives what was kept."""
    pruned = Path(write_pruned) if write_pruned is not None else None
    if engine == "ray":
        # Imported here so that a local select never loads Ray.
        from thresher.selection.ray_write import write_on_ray

        return write_on_ray(dataset, rule, out, pruned, address=address, workers=workers)
    return write_rule(dataset, rule, out, pruned)


def _build_strategy(name: str, params: ParamsLike, text_field: str) -> Strategy:
    """Strategy `name` built from its resolved parameters (DSIR reads its target with the input's text field)."""
    strategy_class = STRATEGIES.get(name)
    resolved = resolve_params(
        [Chosen(name, strategy_class)],
        as_layers(params),
        forwarded={"target_text_field": text_field},
        known=every_strategy(),
        flags={"target_text_field": "--text-field"},
    )
    return build(strategy_class, resolved[name])


def _budget(keep: KeepSpec | None, budget_tokens: int | None, n_rows: int) -> Budget | None:
    """How much `select` keeps: a token budget, a count of the rows, or None (the strategy keeps what it chooses)."""
    if budget_tokens is not None:
        return Budget(tokens=budget_tokens)
    return Budget(count=keep.resolve(n_rows)) if keep is not None else None


@dataclass(frozen=True)
class EmbeddingResult:
    """What `embed` wrote (or found already written)."""

    rows: int
    dimension: int
    path: Path
    reused: bool
    seconds: float


def embed(
    input: str | Path,
    *,
    embedder: str = "all-MiniLM-L6-v2",
    out: str | Path,
    text_field: str = "text",
    id_field: str | None = None,
    device: str = "auto",
    batch_size: int = 64,
    overwrite: bool = False,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    engine: str = "local",
    address: str | None = None,
    num_gpus_per_worker: float = 0.0,
    workers: int | None = None,
    show_progress: bool = False,
) -> EmbeddingResult:
    """Embed every example of `input` into the score directory `out`, where embedding scorers reuse them.

    The vectors (unit length, float32) go to `out/cache/embeddings/<embedder key>/`, one file per shard; a later
    `score --scorer density --embedder <same>` on the same directory reads them instead of embedding again. With
    `engine="ray"` the shards are embedded on the cluster's workers (the engine options are `score`'s).
    """
    import time

    from thresher.embeddings import complete_cache, embedder_identity, embeddings_root
    from thresher.scorers.embed import EmbeddingPass

    _check_engine(engine, address, workers, num_gpus_per_worker=num_gpus_per_worker, shard_rows=shard_rows)
    dataset = open_dataset(input, Fields(text=text_field, id=id_field))
    store = ScoreStore(out)
    fingerprint = dataset.fingerprint()
    store.bind_input(fingerprint, overwrite=overwrite)
    digest = input_digest(fingerprint)
    identity = embedder_identity(embedder)
    cache = complete_cache(embeddings_root(store), identity, digest)
    reused = cache is not None
    started = time.perf_counter()
    if cache is None:
        context = RunContext(input_path=str(input), cache_dir=cache_dir(store.root), input_digest=digest)
        job = EmbeddingPass(embedder=embedder, device=device, batch_size=batch_size)
        options: dict[str, Any] = {"shard_rows": shard_rows, "context": context, "show_progress": show_progress}
        if engine == "ray":
            from thresher.engine.ray_engine import RayOptions, fit_on_ray

            ray_options = RayOptions(address=address, workers=workers, num_gpus_per_worker=num_gpus_per_worker)
            fit_on_ray(dataset, [job], options=ray_options, **options)
        else:
            from thresher.engine.local import fit_only

            fit_only(dataset.iter_examples, [job], **options)
        cache = complete_cache(embeddings_root(store), identity, digest)
        if cache is None:
            raise InputError(input, "has no examples to embed")
    return EmbeddingResult(
        rows=cache.rows,
        dimension=cache.dimension,
        path=cache.path,
        reused=reused,
        seconds=0.0 if reused else time.perf_counter() - started,
    )


def evaluate(
    input: str | Path,
    *,
    task: str,
    out: str | Path,
    methods: str | Sequence[str] = "random,full",
    keep: str | Sequence[float] = (0.1, 0.3, 0.5),
    seeds: int = 3,
    full_seeds: int | None = None,
    scores: str | Path | None = None,
    eval_split: float | None = 0.1,
    eval_file: str | Path | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    response_field: str | None = None,
    budget: str = "epochs",
    seed: int = 0,
    jobs: int = 1,
    params: Mapping[str, Any] | Sequence[Sequence[Assignment]] | Sequence[Assignment] | None = None,
    embedder: str | None = None,
    model: str | None = None,
    device: str | None = None,
    show_progress: bool = False,
    dry_run: bool = False,
) -> EvalResult:
    """Train a target model on the subsets each method selects and report held-out quality (`thresher eval`).

    Args:
        input: the data (any format `thresher score` reads); methods choose from its training part.
        task: a registered eval target (`thresher.eval.registry.TARGETS`): "classify" (MLP head on sentence
            embeddings; accuracy, macro-F1), "lm" (a small GPT-2 trained from scratch; held-out NLL per token and
            bits per byte) or "sft" (LoRA fine-tuning of a causal LM on prompt/response pairs; held-out response
            NLL per token, and accuracy when the responses are class labels).
        out: report directory: results.json, curves.png, report.html.
        methods: "random", "full", "zip", "dsir", "COLUMN[:strategy]" (strategy top by default), comma-separated.
        keep: keep ratios in (0, 1].
        seeds: runs per (method, ratio); run i uses seed `seed + i` for both selection and training.
        full_seeds: runs of the `full` method (default `seeds`): full data costs the most.
        scores: score directory of `input`, needed by column methods.
        eval_split: fraction held out by a seeded hash of each id (ignored with `eval_file`).
        eval_file: a separate held-out file, read with the same text and label fields (ids not needed).
        text_field, id_field: the fields of the text (sft: the prompt) and of a unique id.
        label_field: the class of each example, for targets that read labels (classify).
        response_field: the response to each prompt, for targets that read responses (sft).
        budget: "epochs" (the same epochs per run) or, where the target supports it (lm), "tokens" (as many
            trained tokens as the full-data run).
        seed: the first run's seed, and the seed of the held-out split.
        jobs: training runs at once, in spawned worker processes (`thresher.eval.parallel`); results equal the
            one-process ones up to float summation order.
        params: parameters of the target and of the methods' strategies: a mapping (`{"lm.n_layer": 1,
            "strata": 20}`) or layers of `Assignment`s from lowest precedence (the CLI passes its `-p` layer). A
            bare name goes to every chosen component that takes it; one that none takes is an `OptionError`.
        embedder, model, device: the shared settings of the same name (classify's embedder, sft's model, where
            the target runs); giving one the chosen target does not take is an `OptionError`.
        show_progress: report the runs and their ETA on stderr.
        dry_run: resolve the settings and build the target and strategies, but read, train and write nothing
            (`--print-config`); the result has no runs, and its `settings` are what a real run would record.

    Returns:
        An `EvalResult`; the same data are in `out/results.json`, which records every resolved setting.
    """
    # Imported here so that `score` and `select` never load the harness, its plots, or scikit-learn.
    from thresher.eval.config import EvalConfig
    from thresher.eval.harness import describe_evaluation, run_evaluation
    from thresher.eval.params import param_layers
    from thresher.eval.plan import method_names, parse_keeps

    config = EvalConfig(
        input=Path(input),
        task=task,
        methods=method_names(methods),
        keep=tuple(parse_keeps(keep)),
        seeds=seeds,
        full_seeds=full_seeds,
        scores=Path(scores) if scores is not None else None,
        eval_split=None if eval_file is not None else eval_split,
        eval_file=Path(eval_file) if eval_file is not None else None,
        text_field=text_field,
        id_field=id_field,
        label_field=label_field,
        response_field=response_field,
        budget=budget,
        seed=seed,
        jobs=jobs,
    )
    config.validate()
    flags = {"embedder": embedder, "model": model, "device": device}
    config = config.with_params(param_layers(params), flags)
    if dry_run:
        return describe_evaluation(config, out=out)
    return run_evaluation(config, out=out, show_progress=show_progress)
