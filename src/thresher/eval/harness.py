"""The evaluation harness: hold out part of the data, select subsets of the rest by each method, train, score.

`evaluate` is what `thresher eval` runs. Methods are `full` (every training row, once per seed), a strategy that
needs no column (`random`, `zip`, `dsir`; `dedup` by its default column) and `COLUMN[:strategy]`: the strategies
of `thresher select`, run by the same `run_strategy` over the training rows only.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thresher.cache import cache_dir
from thresher.components import Assignment, Chosen, assignments_from_mapping, resolve_params
from thresher.data.fields import ID_COLUMN, LABEL_COLUMN, TEXT_COLUMN, Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.eval.parallel import run_all
from thresher.eval.targets import BUDGETS, PRIMARY_METRIC, TASKS, ClassifyTarget, LmTarget, tiny_lm_config
from thresher.progress import ProgressDisplay, ProgressTask

# Methods that are not strategies: every training row, once per seed.
FULL = "full"
DEFAULT_KEEPS = (0.1, 0.3, 0.5)


@dataclass(frozen=True)
class Method:
    """One way to choose training rows: `random`, `full`, or a score column with a selection strategy."""

    name: str  # as the user wrote it, e.g. "nll_mean:bottom"
    column: str | None = None
    strategy: str = "random"

    @property
    def is_full(self) -> bool:
        return self.name == "full"


def parse_methods(spec: str | Sequence[str], available_columns: Sequence[str] | Mapping[str, Any]) -> list[Method]:
    """The methods of `--methods random,full,COLUMN[:strategy],...`, checked against the score columns.

    `available_columns` are the score directory's column names or its `column_infos()`; with the infos, the
    column's kind is checked against the strategy too (a ranking strategy refuses a flag).
    """
    from thresher.selection.inputs import check_column_kind
    from thresher.selection.registry import STRATEGIES

    names = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else [str(part) for part in spec]
    names = [name for name in names if name]
    if not names:
        raise OptionError("--methods is empty; give e.g. random,full,nll_mean:top")
    if len(set(names)) != len(names):
        raise OptionError(f"--methods lists a method twice: {', '.join(names)}")
    infos = available_columns if isinstance(available_columns, Mapping) else None
    known = ", ".join(sorted(available_columns)) or "none (give --scores DIR)"
    methods = []
    for name in names:
        if name == FULL:
            methods.append(Method(name, None, FULL))
            continue
        if name in STRATEGIES and not STRATEGIES.get(name).reads_column():
            methods.append(Method(name, None, name))
            continue
        if name in STRATEGIES and STRATEGIES.get(name).default_columns:
            defaults = STRATEGIES.get(name).default_columns
            present = [column for column in defaults if column in available_columns]
            if not present:
                raise OptionError(f"--methods {name}: no {' or '.join(defaults)} column; available: {known}")
            if len(present) > 1:
                choices = " or ".join(f"{column}:{name}" for column in present)
                raise OptionError(f"--methods {name}: choose the column, {choices}")
            methods.append(Method(name, present[0], name))
            continue
        column, _, strategy = name.partition(":")
        strategy = strategy or "top"
        if strategy not in STRATEGIES:
            raise OptionError(f"--methods {name}: strategy {strategy!r} is not one of {', '.join(STRATEGIES.names())}")
        if not STRATEGIES.get(strategy).reads_column():
            raise OptionError(
                f"--methods {name}: strategy {strategy!r} chooses without a score column; give it as the method "
                f"{strategy}"
            )
        if column not in available_columns:
            raise OptionError(f"--methods {name}: no score column {column!r}; available: {known}")
        if infos is not None:
            check_column_kind(strategy, STRATEGIES.get(strategy), column, infos[column].kind)
        methods.append(Method(name, column, strategy))
    return methods


def parse_keeps(spec: str | Sequence[float]) -> list[float]:
    """The keep ratios of `--keep 0.1,0.3,0.5`: fractions in (0, 1], ascending, without repeats."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    keeps = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise OptionError(f"--keep {part!r}: not a number; give fractions such as 0.1,0.3,0.5") from None
        if not 0.0 < value <= 1.0:
            raise OptionError(f"--keep {value}: a keep ratio must be greater than 0 and at most 1")
        keeps.append(value)
    if not keeps:
        raise OptionError("--keep is empty; give fractions such as 0.1,0.3,0.5")
    return sorted(set(keeps))


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
    """The ids, texts and (optional) labels of a dataset, in input order."""

    ids: list[Any]
    texts: list[str]
    labels: list[Any] | None

    @classmethod
    def read(cls, dataset) -> Examples:
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


@dataclass
class RunResult:
    """One training run: which rows it trained on, and what it scored on the held-out part."""

    method: str
    keep: float
    seed: int
    kept: int
    metrics: dict[str, float]
    seconds: float


@dataclass
class EvalResult:
    """Every run of an evaluation, its configuration, and where the report went."""

    config: dict[str, Any]
    runs: list[RunResult]
    out: Path
    reference: dict[str, float] = field(default_factory=dict)  # lm: held-out metrics of an untrained model

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "reference": self.reference, "runs": [asdict(run) for run in self.runs]}


def choose_rows(
    method: Method,
    keep: float,
    seed: int,
    n_train: int,
    values: np.ndarray | None,
    direction: Any,
    options: Mapping[str, Any] | None = None,
    texts: Sequence[str] | None = None,
) -> np.ndarray:
    """Indices into the training rows that `method` keeps at ratio `keep` under `seed`, ascending.

    `values` and `direction` are the method's column over the training rows; `texts` (the training texts, in
    row order) are needed by the strategies that read texts (`zip`, `dsir`) only. `options` are strategy
    parameters as for `select(params=...)`; those the method's strategy does not take are left to the others
    (`check_strategy_options` refuses the ones no method takes).
    """
    from thresher.components import build
    from thresher.selection import strategies
    from thresher.selection.base import IMPORTANCE, TEXTS, VALUES, Budget, StrategyInputs, TextList
    from thresher.selection.keep import KeepSpec
    from thresher.selection.registry import STRATEGIES
    from thresher.selection.run import run_strategy

    if method.is_full:
        return np.arange(n_train)
    strategy_class = STRATEGIES.get(method.strategy)
    if TEXTS in strategy_class.needs and texts is None:
        raise OptionError(f"--methods {method.name} needs the training texts")
    layers = [
        [
            assignment
            for assignment in _strategy_assignments(options)
            if assignment.path[0] == method.strategy
            or (len(assignment.path) == 1 and assignment.path[0] in strategy_class.param_names())
        ]
    ]
    kwargs = resolve_params([Chosen(method.strategy, strategy_class)], layers)[method.strategy]
    inputs = StrategyInputs(
        n_rows=n_train,
        importance=(
            strategies.importance(values, direction)
            if IMPORTANCE in strategy_class.needs and values is not None and direction is not None
            else None
        ),
        values=values if VALUES in strategy_class.needs else None,
        texts=TextList(list(texts)) if TEXTS in strategy_class.needs and texts is not None else None,
    )
    budget = Budget(count=KeepSpec(fraction=keep).resolve(n_train))
    chosen = run_strategy(build(strategy_class, kwargs), inputs, budget, seed, name=method.strategy)
    if chosen.size == 0:
        raise OptionError(f"--methods {method.name} kept no examples at --keep {keep}")
    return chosen


def check_strategy_options(methods: Sequence[Method], options: Mapping[str, Any] | None) -> None:
    """`OptionError` for a strategy option that none of the methods' strategies takes, or a bad value."""
    from thresher.selection.registry import STRATEGIES, every_strategy

    labels = dict.fromkeys(method.strategy for method in methods if not method.is_full)
    chosen = [Chosen(label, STRATEGIES.get(label)) for label in labels]
    resolve_params(chosen, [_strategy_assignments(options)], known=every_strategy())


def _strategy_assignments(options: Mapping[str, Any] | None) -> list[Assignment]:
    return assignments_from_mapping(options or {}, "strategy options")


def evaluate(
    input: str | Path,
    *,
    task: str,
    out: str | Path,
    methods: str | Sequence[str] = "random,full",
    keep: str | Sequence[float] = DEFAULT_KEEPS,
    seeds: int = 3,
    scores: str | Path | None = None,
    eval_split: float | None = 0.1,
    eval_file: str | Path | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    embedder: str | None = None,
    budget: str = "epochs",
    seed: int = 0,
    device: str = "auto",
    lm_options: dict[str, Any] | None = None,
    classify_options: dict[str, Any] | None = None,
    strategy_options: dict[str, Any] | None = None,
    response_field: str | None = None,
    sft_options: dict[str, Any] | None = None,
    full_seeds: int | None = None,
    jobs: int = 1,
    show_progress: bool = False,
) -> EvalResult:
    """Train the target model on subsets chosen by each method and keep ratio, and report held-out quality.

    Args:
        input: the data (any format `thresher score` reads); methods choose from its training part.
        task: "classify" (MLP head on sentence embeddings; accuracy, macro-F1), "lm" (a small GPT trained from
            scratch; held-out NLL per token and bits per byte) or "sft" (LoRA fine-tuning of a causal LM on
            prompt/response pairs: `text_field` is the prompt, `response_field` the response; held-out response
            NLL per token, and accuracy when the responses are class labels).
        out: report directory: results.json, curves.png, report.html.
        methods: "random", "full", "COLUMN[:strategy]" (strategy top by default), comma-separated.
        keep: keep ratios in (0, 1].
        seeds: runs per (method, ratio); run i uses seed `seed + i` for both selection and training.
        scores: score directory of `input`, needed by column methods.
        eval_split: fraction held out by a seeded hash of each id (ignored with `eval_file`).
        eval_file: a separate held-out file, read with the same text and label fields (ids not needed).
        budget: lm only: "epochs" (same epochs per run) or "tokens" (same trained tokens as the full-data run).
        lm_options / classify_options: fields of the targets' configs (e.g. {"n_layer": 1, "epochs": 1.0}).
        strategy_options: options of the strategies (minimum, maximum, strata, temperature, ...).
        response_field: sft only: the field holding each prompt's response.
        sft_options: fields of `thresher.eval.sft.SftConfig` (model, lora_rank, epochs, min_steps, ...).
        full_seeds: training runs of the `full` method (default `seeds`): full data costs the most.
        jobs: training runs at once, in spawned worker processes (`thresher.eval.parallel`); the target must
            pickle. Results equal the one-process ones up to float summation order.

    Returns:
        An `EvalResult`; the same data are in `out/results.json`.
    """
    from thresher.eval.report import write_report

    started = time.perf_counter()
    if task not in TASKS:
        raise OptionError(f"unknown --task {task!r}; choose one of {', '.join(TASKS)}")
    if budget not in BUDGETS:
        raise OptionError(f"unknown --budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    if seeds < 1:
        raise OptionError(f"--seeds must be at least 1, got {seeds}")
    if task == "classify" and label_field is None:
        raise OptionError("--task classify needs --label-field F (the class of each example)")
    if task == "sft" and response_field is None:
        raise OptionError("--task sft needs --response-field F (the response to each --text-field prompt)")
    if full_seeds is not None and full_seeds < 1:
        raise OptionError(f"--full-seeds must be at least 1, got {full_seeds}")
    if jobs < 1:
        raise OptionError(f"--jobs must be at least 1, got {jobs}")
    keeps = parse_keeps(keep)

    # sft reads the response through the label slot: one string per example, like a class label.
    read_label = {"classify": label_field, "sft": response_field}.get(task)
    fields = Fields(text=text_field, id=id_field, label=read_label)
    dataset = open_dataset(input, fields)
    column_infos: dict[str, Any] = {}
    store = None
    if scores is not None:
        from thresher.store import ScoreStore

        store = ScoreStore.open(scores)
        store.check_input(dataset.fingerprint())
        column_infos = dict(store.column_infos())
    parsed_methods = parse_methods(methods, column_infos)
    check_strategy_options(parsed_methods, strategy_options)

    examples = Examples.read(dataset)
    if eval_file is not None:
        # Held-out rows are never selected, so they need no ids: an id field the file has is just another field.
        held_out = Examples.read(open_dataset(eval_file, Fields(text=text_field, label=read_label)))
        train_rows = np.arange(len(examples.texts))
        eval_rows = None
    else:
        if eval_split is None:
            raise OptionError("give --eval-split FRACTION or --eval-file FILE")
        train_rows, eval_rows = split_by_id(examples.ids, eval_split, seed)
        held_out = examples.subset(eval_rows)
    train = examples.subset(train_rows)

    column_values: dict[str, np.ndarray] = {}
    if store is not None:
        wanted = sorted({method.column for method in parsed_methods if method.column is not None})
        if wanted:
            table = store.read_columns(wanted)
            for name in wanted:
                values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
                column_values[name] = values[train_rows]

    display = ProgressDisplay(enabled=show_progress)
    # Embedding the input (classify) or tokenising it (lm, sft) can take a while before the first run.
    sizes = f"{len(train.texts):,} training and {len(held_out.texts):,} held-out examples"
    display.note(f"eval: {sizes}; preparing the {task} target")
    target, reference = _build_target(
        task,
        examples,
        train_rows,
        held_out,
        eval_rows,
        budget,
        embedder,
        device,
        seed,
        scores,
        lm_options,
        classify_options,
        sft_options,
    )
    plan = [
        (method, 1.0 if method.is_full else ratio, seed + index)
        for method in parsed_methods
        for ratio in ([1.0] if method.is_full else keeps)
        for index in range((full_seeds or seeds) if method.is_full else seeds)
    ]
    # Every selection is made before any training, so a method that cannot keep some ratio fails in seconds
    # instead of after hours of runs.
    chosen = [
        choose_rows(
            method,
            ratio,
            run_seed,
            len(train.texts),
            column_values.get(method.column) if method.column else None,
            column_infos[method.column].direction if method.column else None,
            strategy_options,
            texts=train.texts,
        )
        for method, ratio, run_seed in plan
    ]
    planned_runs = [(rows, run_seed) for rows, (_, _, run_seed) in zip(chosen, plan, strict=True)]
    with display:
        progress = _RunProgress(display, plan, _primary_metric(task, target))
        outcomes = run_all(target, planned_runs, jobs=jobs, on_start=progress.started, on_done=progress.finished)
    runs = [
        RunResult(method.name, ratio, run_seed, int(rows.size), metrics, seconds)
        for (method, ratio, run_seed), rows, (metrics, seconds) in zip(plan, chosen, outcomes, strict=True)
    ]

    config = {
        "input": str(input),
        "task": task,
        "primary_metric": _primary_metric(task, target),
        "methods": [method.name for method in parsed_methods],
        "keep": keeps,
        "seeds": seeds,
        "seed": seed,
        "scores": str(scores) if scores is not None else None,
        "eval_split": None if eval_file is not None else eval_split,
        "eval_file": str(eval_file) if eval_file is not None else None,
        "text_field": text_field,
        "id_field": id_field,
        "label_field": label_field,
        "embedder": embedder if task == "classify" else None,
        "budget": budget if task == "lm" else None,
        "response_field": response_field if task == "sft" else None,
        "jobs": jobs,
        "train_examples": len(train.texts),
        "eval_examples": len(held_out.texts),
        "target": _target_description(target),
        "seconds": 0.0,
    }
    config["seconds"] = round(time.perf_counter() - started, 3)
    result = EvalResult(config=config, runs=runs, out=Path(out), reference=reference)
    write_report(result)
    return result


def _build_target(
    task: str,
    examples: Examples,
    train_rows: np.ndarray,
    held_out: Examples,
    eval_rows: np.ndarray | None,
    budget: str,
    embedder: str | None,
    device: str,
    seed: int,
    scores: str | Path | None,
    lm_options: dict[str, Any] | None,
    classify_options: dict[str, Any] | None,
    sft_options: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, float]]:
    train = examples.subset(train_rows)
    if task == "lm":
        target = LmTarget(train.texts, held_out.texts, tiny_lm_config(**(lm_options or {})), budget=budget)
        return target, target.evaluate_at_init(seed)
    if task == "sft":
        from thresher.eval.sft import SftConfig, SftTarget

        assert train.labels is not None and held_out.labels is not None
        try:
            config = SftConfig(**{"device": device, **(sft_options or {})})
        except TypeError as error:
            raise OptionError(f"sft options: {error}") from None
        responses = [str(value) for value in train.labels]
        sft_target = SftTarget(
            train.texts, responses, held_out.texts, [str(value) for value in held_out.labels], config
        )
        return sft_target, sft_target.evaluate_at_init(seed)

    from thresher.eval.targets import ClassifyConfig
    from thresher.models.embedder import DEFAULT_EMBEDDER
    from thresher.models.proxy import cached_embeddings

    assert train.labels is not None and held_out.labels is not None
    classes = sorted(set(train.labels), key=str)
    if len(classes) < 2:
        raise OptionError("--task classify needs at least two classes in the training part")
    class_index = {label: i for i, label in enumerate(classes)}
    unseen = sorted({str(label) for label in held_out.labels if label not in class_index})
    if unseen:
        raise OptionError(f"held-out labels never seen in training: {', '.join(unseen[:5])}")
    cache = cache_dir(scores) if scores is not None else None
    chosen_embedder = embedder or DEFAULT_EMBEDDER
    # The whole input is embedded once through the score directory's cache (shared with `thresher embed` and the
    # density scorers, which key it to the input's ids); a separate --eval-file is embedded without a cache.
    features = cached_embeddings(
        [str(value) for value in examples.ids], examples.texts, chosen_embedder, cache_dir=cache, device=device
    )
    train_features = features[train_rows]
    if eval_rows is not None:
        eval_features = features[eval_rows]
    else:
        eval_features = cached_embeddings(
            [str(value) for value in held_out.ids], held_out.texts, chosen_embedder, cache_dir=None, device=device
        )
    target = ClassifyTarget(
        train_features,
        np.array([class_index[label] for label in train.labels]),
        eval_features,
        np.array([class_index[label] for label in held_out.labels]),
        num_classes=len(classes),
        config=ClassifyConfig(**(classify_options or {})),
    )
    return target, {}


def _primary_metric(task: str, target: Any) -> str:
    if task == "sft" and getattr(target, "classes", None) is not None:
        return "accuracy"
    return PRIMARY_METRIC[task]


def _target_description(target: Any) -> dict[str, Any]:
    from thresher.eval.sft import SftTarget

    if isinstance(target, SftTarget):
        classes = len(target.classes) if target.classes is not None else None
        return {
            "model": target.model_source,
            **asdict(target.config),
            "lora_targets": target.targets,
            "classes": classes,
        }
    if isinstance(target, LmTarget):
        return {"model": "gpt2-from-scratch", **asdict(target.config), "full_data_steps": target.full_steps}
    return {"model": "mlp-head-on-embeddings", **asdict(target.config), "num_classes": target.num_classes}


class _RunProgress:
    """The eval's progress: runs done of the plan, the runs running now and the last result, with an ETA."""

    def __init__(self, display: ProgressDisplay, plan: Sequence[tuple[Method, float, int]], metric: str) -> None:
        self.names = [f"{method.name} keep={ratio:g} seed={run_seed}" for method, ratio, run_seed in plan]
        self.metric = metric
        self.running: dict[int, None] = {}  # insertion-ordered set of the plan indices running now
        self.last = ""
        self.display = display
        self.task: ProgressTask | None = None  # made when the first run starts, showing that run

    def started(self, index: int) -> None:
        self.running[index] = None
        if self.task is None:
            self.task = self.display.task("eval", len(self.names), unit="runs", detail=self._detail())
        else:
            # A run can take minutes: a log gets a line as each one starts, not only as it ends.
            self.task.update(detail=self._detail(), milestone=True)

    def finished(self, index: int, metrics: dict[str, float], seconds: float) -> None:
        self.running.pop(index, None)
        value = metrics.get(self.metric)
        result = f" {self.metric} {value:.4g}" if isinstance(value, int | float) else ""
        self.last = f"last {self.names[index]}{result}"
        assert self.task is not None, "a run finished before any started"
        self.task.update(advance=1, detail=self._detail())

    def _detail(self) -> str:
        names = [self.names[index] for index in self.running]
        shown = ", ".join(names[:2]) + (f" (+{len(names) - 2} more)" if len(names) > 2 else "")
        return "; ".join(part for part in (f"running {shown}" if names else "", self.last) if part)
