"""The evaluation harness: plan → choose → run → report, for one `EvalConfig`.

Hold out part of the data, choose each planned run's training rows (all before any training, so a method that
cannot keep some ratio fails in seconds), prepare the target once, train it once per run, and write the report.
`thresher eval` and `thresher.evaluate` build the config; `run_evaluation` runs it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from thresher.cache import cache_dir
from thresher.components import build
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.eval.choose import build_strategies, choose_runs, strategies_of
from thresher.eval.config import EvalConfig
from thresher.eval.data import EvalData, TrainingColumn, open_scores, read_split, training_columns
from thresher.eval.plan import PlannedRun, parse_method, parse_methods, plan_runs
from thresher.eval.results import EvalResult
from thresher.eval.run import run_plan
from thresher.eval.target import LABELS, EvalTarget
from thresher.labels import class_index
from thresher.progress import ProgressDisplay
from thresher.selection.registry import STRATEGIES


def run_evaluation(config: EvalConfig, *, out: str | Path, show_progress: bool = False) -> EvalResult:
    """Train the target on the rows each planned run chooses, score every run held out, and write the report.

    Returns the `EvalResult`; the same data are in `out/results.json`, with `out/curves.png` and `out/report.html`.
    """
    from thresher.eval.report import write_report

    started = time.perf_counter()
    config.validate()
    target = build(config.target_class, config.target_params)
    target.validate()
    data, columns, runs = plan_evaluation(config)
    strategies = build_strategies([run.method for run in runs], config.strategy_params)
    labels = training_labels(data, config.target_class)
    choices = choose_runs(runs, columns, data.train.texts, strategies, labels)
    chosen = [choice.rows for choice in choices]

    display = ProgressDisplay(enabled=show_progress)
    # Embedding the input (classify) or tokenising it (lm, sft) can take a while before the first run.
    sizes = f"{len(data.train.texts):,} training and {len(data.held_out.texts):,} held-out examples"
    display.note(f"eval: {sizes}; preparing the {config.task} target")
    scores_cache = cache_dir(config.scores) if config.scores is not None else None
    prepared = target.prepare(data, budget=config.budget, cache_dir=scores_cache)
    reference = prepared.evaluate_at_init(config.seed)
    with display:
        class_names = data.train.labels if labels is not None else None
        results = run_plan(prepared, runs, chosen, jobs=config.jobs, display=display, labels=class_names)
    for result, choice in zip(results, choices, strict=True):
        result.steps = choice.steps

    record = {
        **config.to_record(),
        "primary_metric": prepared.primary_metric,
        "train_examples": len(data.train.texts),
        "eval_examples": len(data.held_out.texts),
        "target": prepared.describe(),
        "compute_axis": config.target_class.compute_axis,
        "seconds": round(time.perf_counter() - started, 3),
    }
    params = {config.task: target.params_record()}
    params.update((name, strategy.params_record()) for name, strategy in strategies.items())
    result = EvalResult(record, results, Path(out), reference, params, type(target).higher_is_better())
    write_report(result)
    return result


def training_labels(data: EvalData, target: type[EvalTarget]) -> np.ndarray | None:
    """The training rows' class indices (in `thresher.labels` order) for a target that reads labels, else None."""
    if target.reads != LABELS or data.train.labels is None:
        return None
    index = class_index(data.train.labels)
    return np.array([index[label] for label in data.train.labels], dtype=np.int64)


def describe_evaluation(config: EvalConfig, *, out: str | Path) -> EvalResult:
    """The result an evaluation would record, without running it: its config and every component's parameters."""
    config.validate()
    target = build(config.target_class, config.target_params)
    target.validate()
    methods = [parse_method(name) for name in config.methods]
    strategies = {
        name: build(STRATEGIES.get(name), config.strategy_params.get(name, {})) for name in strategies_of(methods)
    }
    params = {config.task: target.params_record()}
    params.update((name, strategy.params_record()) for name, strategy in strategies.items())
    return EvalResult(config.to_record(), [], Path(out), {}, params, type(target).higher_is_better())


def plan_evaluation(config: EvalConfig) -> tuple[EvalData, dict[str, TrainingColumn], list[PlannedRun]]:
    """The input split into training and held-out parts, the methods' score columns over the training rows, and
    every (method, keep ratio, seed) to run."""
    fields = Fields(text=config.text_field, id=config.id_field, label=config.read_field)
    dataset = open_dataset(config.input, fields)
    store = open_scores(config.scores, dataset)
    methods = parse_methods(config.methods, store.column_infos() if store is not None else {})
    data = read_split(dataset, fields, config.eval_split, config.eval_file, config.seed)
    wanted = [column for method in methods for column in method.columns]
    columns = training_columns(store, wanted, data.train_rows)
    return data, columns, plan_runs(methods, config.keep, config.seeds, config.full_seeds, config.seed)
