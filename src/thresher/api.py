"""Python API: `score` and `select`, the same operations as the `thresher score` and `thresher select` commands."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher.cache import cache_dir
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.engine.local import DEFAULT_SHARD_ROWS, ScoringSummary, run_scorers
from thresher.errors import OptionError
from thresher.scorers.base import RunContext, Scorer
from thresher.scorers.registry import build_scorer, scorer_param_names
from thresher.selection import strategies
from thresher.selection.handlers import HANDLERS, WITHOUT_BUDGET, WITHOUT_SCORES, SelectionRequest
from thresher.selection.keep import parse_keep
from thresher.store import ScoreStore

if TYPE_CHECKING:
    from thresher.components import Assignment
    from thresher.eval.results import EvalResult


def score(
    input: str | Path,
    *,
    scorers: Sequence[str | Scorer],
    out: str | Path,
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    show_progress: bool = False,
    engine: str = "local",
    address: str | None = None,
    num_gpus_per_worker: float = 0.0,
    workers: int | None = None,
    **scorer_options: Any,
) -> ScoringSummary:
    """Score every example of `input` with each scorer and write the scores to the directory `out`.

    Args:
        input: JSONL (.gz/.zst), Parquet or CSV file, or a Hugging Face dataset saved with `save_to_disk`.
        scorers: registered scorer names (e.g. "likelihood", "compression") or scorer objects.
        out: score directory; created if missing; several scorers may share it.
        engine: "local" (this process) or "ray" (a Ray Data actor pool; same score directory, needs `thresher[ray]`).
        address: Ray cluster to join ("auto", "ray://host:10001"); default: the connected one or a new local one.
        num_gpus_per_worker: GPUs each Ray actor reserves (one model per actor).
        workers: Ray actors per scorer; default: as many as the cluster's CPUs (or GPUs) allow.
        scorer_options: parameters passed to the scorers that take them (model, dtype, device, batch_tokens, ...).

    Returns:
        A summary of rows scored and shards computed or reused from an earlier, interrupted run.
    """
    if not scorers:
        raise OptionError("no scorer given; use --scorer NAME[,NAME...]")
    if engine not in ("local", "ray"):
        raise OptionError(f"unknown --engine {engine!r}; choose local or ray")
    ray_flags = {"--address": address, "--num-gpus-per-worker": num_gpus_per_worker or None, "--workers": workers}
    if engine == "local" and any(value is not None for value in ray_flags.values()):
        given = ", ".join(flag for flag, value in ray_flags.items() if value is not None)
        raise OptionError(f"{given} only apply with --engine ray")
    if shard_rows < 1:
        raise OptionError(f"--shard-rows must be at least 1, got {shard_rows}")
    # The run's field names reach the scorers that read other files with the same fields (influence --validation).
    options = {**scorer_options, "seed": seed, "text_field": text_field, "label_field": label_field}
    named = [item for item in scorers if isinstance(item, str)]
    used = set().union(*(scorer_param_names(name) for name in named)) if named else set()
    unused = sorted(key for key, value in scorer_options.items() if value is not None and key not in used)
    if named and unused:
        flags = ", ".join("--" + key.replace("_", "-") for key in unused)
        raise OptionError(f"{flags} not used by scorer(s) {', '.join(named)}")
    built = [item if isinstance(item, Scorer) else build_scorer(item, options) for item in scorers]
    names = [scorer.name for scorer in built]
    if len(set(names)) != len(names):
        raise OptionError(f"scorer listed twice: {', '.join(names)}")
    fields = Fields(text=text_field, id=id_field, label=label_field)
    needs_labels = [scorer.name for scorer in built if scorer.needs_labels]
    if needs_labels and label_field is None:
        raise OptionError(f"scorer(s) {', '.join(needs_labels)} need labels; give --label-field")
    dataset = open_dataset(input, fields)
    store = ScoreStore(out)
    store.bind_input(dataset.fingerprint(), overwrite=overwrite)
    run_options: dict[str, Any] = {
        # The row count of an earlier run saves a counting pass over the input.
        "total_rows": (store.row_count() or dataset.num_rows()) if show_progress else None,
        "shard_rows": shard_rows,
        "context": RunContext(seed=seed, input_path=str(input), cache_dir=cache_dir(store.root)),
        "overwrite": overwrite,
        "show_progress": show_progress,
    }
    if engine == "ray":
        # Imported here so that the local engine never loads the Ray engine (nor Ray).
        from thresher.engine.ray_engine import RayOptions, run_scorers_on_ray

        ray_options = RayOptions(address=address, workers=workers, num_gpus_per_worker=num_gpus_per_worker)
        return run_scorers_on_ray(dataset.iter_examples, built, store, options=ray_options, **run_options)
    return run_scorers(dataset.iter_examples, built, store, **run_options)


@dataclass(frozen=True)
class SelectionResult:
    """What `select` kept and where it wrote it."""

    input_rows: int
    kept: int
    by: str
    strategy: str
    out: Path
    pruned_out: Path | None
    kept_rows: np.ndarray  # 0-based input rows kept, ascending
    kept_tokens: int | None = None

    @property
    def pruned(self) -> int:
        return self.input_rows - self.kept


def select(
    input: str | Path,
    *,
    scores: str | Path,
    by: str | None,
    out: str | Path,
    strategy: str = "top",
    keep: str | float | int | None = None,
    budget_tokens: int | None = None,
    seed: int = 0,
    write_pruned: str | Path | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    strata: int = 50,
    drop_hardest: float = 0.0,
    text_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
    balance_classes: bool = False,
    **strategy_options: Any,
) -> SelectionResult:
    """Select a subset of `input` by a score column and write it in the input's format (or `out`'s suffix).

    `top` keeps the most important examples by the column's recorded direction (for likelihood: the most
    informative, highest NLL), `bottom` the least, `random` a uniform sample, `threshold` the rows whose value
    lies in [minimum, maximum], `stratified` an equal share of the budget per score stratum (CCS).
    Field names default to those the scores were computed with; `strategy_options` go to the strategy.
    `balance_classes` applies the strategy within each class, with a budget proportional to the class's size.
    """
    if strategy not in HANDLERS:
        raise OptionError(f"unknown --strategy {strategy!r}; choose one of {', '.join(HANDLERS)}")
    if keep is not None and budget_tokens is not None:
        raise OptionError("give either --keep or --budget-tokens, not both")
    if keep is None and budget_tokens is None and strategy not in WITHOUT_BUDGET:
        raise OptionError("give --keep K (a fraction such as 0.3 or a count such as 5000) or --budget-tokens N")
    if budget_tokens is not None and budget_tokens < 1:
        raise OptionError(f"--budget-tokens must be a positive number of tokens, got {budget_tokens}")
    keep_spec = parse_keep(str(keep)) if keep is not None else None

    store = ScoreStore.open(scores)
    recorded_fields = store.manifest.get("input", {}).get("fields", {})
    fields = Fields(
        text=text_field or recorded_fields.get("text", "text"),
        id=id_field if id_field is not None else recorded_fields.get("id"),
        label=label_field if label_field is not None else recorded_fields.get("label"),
    )
    dataset = open_dataset(input, fields)
    store.check_input(dataset.fingerprint())

    wanted = [by] if by is not None else []
    if budget_tokens is not None:
        wanted.append("n_tokens")
    if not wanted and strategy in WITHOUT_SCORES:
        # No score is needed, but the row count comes from any complete column.
        wanted = list(store.column_infos())[:1]
    if not wanted:
        raise OptionError(f"--strategy {strategy} needs --by COLUMN")
    if by in ("embedding", "embeddings") and by not in store.column_infos():
        raise OptionError(
            f"--by {by}: embeddings are vectors, not a score to select by; score them first "
            "(`thresher score --scorer density`, then `select --by density --strategy ips`)"
        )
    table = store.read_columns(list(dict.fromkeys(wanted)), with_id=False)
    values = importance = None
    if by is not None:
        values = table.column(by).to_numpy(zero_copy_only=False).astype(np.float64)
        direction = store.column_infos()[by].direction
        importance = strategies.importance(values, direction) if direction is not None else None
    request = SelectionRequest(
        n_rows=table.num_rows,
        by=by,
        values=values,
        importance=importance,
        keep=keep_spec,
        budget_tokens=budget_tokens,
        costs=table.column("n_tokens").to_numpy(zero_copy_only=False) if budget_tokens is not None else None,
        seed=seed,
        dataset=dataset,
        store=store,
        options={
            "minimum": minimum,
            "maximum": maximum,
            "strata": strata,
            "drop_hardest": drop_hardest,
            **strategy_options,
        },
    )
    if balance_classes:
        from thresher.selection.balance import dataset_labels, select_request_balanced

        chosen = select_request_balanced(request, HANDLERS[strategy], dataset_labels(dataset))
    else:
        chosen = HANDLERS[strategy](request)
    mask = np.zeros(request.n_rows, dtype=bool)
    mask[chosen] = True

    out_path = Path(out)
    dataset.write_subset(mask, out_path)
    pruned_path = Path(write_pruned) if write_pruned is not None else None
    if pruned_path is not None:
        dataset.write_subset(~mask, pruned_path)
    kept_tokens = int(request.costs[mask].sum()) if request.costs is not None else None
    return SelectionResult(
        input_rows=request.n_rows,
        kept=int(mask.sum()),
        by=by or "",
        strategy=strategy,
        out=out_path,
        pruned_out=pruned_path,
        kept_rows=np.flatnonzero(mask),
        kept_tokens=kept_tokens,
    )


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
) -> EmbeddingResult:
    """Embed every example of `input` into the score directory `out`, where embedding scorers reuse them.

    The vectors (unit length, float32) go to `out/cache/embeddings/<embedder key>/`; a later
    `score --scorer density --embedder <same>` on the same directory reads them instead of embedding again.
    """
    from thresher.embeddings import EmbeddingCache, ensure_embeddings

    dataset = open_dataset(input, Fields(text=text_field, id=id_field))
    store = ScoreStore(out)
    store.bind_input(dataset.fingerprint(), overwrite=overwrite)
    cache, reused = ensure_embeddings(store, embedder, dataset.iter_examples, device=device, batch_size=batch_size)
    assert isinstance(cache, EmbeddingCache)
    return EmbeddingResult(
        rows=cache.rows,
        dimension=cache.dimension,
        path=cache.path,
        reused=reused,
        seconds=float(cache.meta.get("seconds", 0.0)),
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

    Returns:
        An `EvalResult`; the same data are in `out/results.json`, which records every resolved setting.
    """
    # Imported here so that `score` and `select` never load the harness, its plots, or scikit-learn.
    from thresher.eval.config import EvalConfig
    from thresher.eval.harness import run_evaluation
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
    return run_evaluation(config, out=out, show_progress=show_progress)
