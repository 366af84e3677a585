"""The choose step: the training rows every planned run trains on, all chosen before any training.

The harness meets the selection strategies only here, through the same registry and `run_strategy` as
`thresher select` (a `pipeline:FILE` method through `thresher.selection.pipeline.run_pipeline`, as
`select --pipeline`): each method's strategy is built once from its resolved parameters (and prepared once: DSIR reads
its target file a single time), then run on the `StrategyInputs` of the training rows it declares it needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher.components import Chosen, build
from thresher.errors import OptionError
from thresher.eval.plan import Method, PlannedRun
from thresher.selection.base import IMPORTANCE, TEXTS, VALUES, Budget, Strategy, StrategyInputs, TextList, Texts
from thresher.selection.keep import KeepSpec
from thresher.selection.registry import STRATEGIES, every_strategy
from thresher.selection.run import run_strategy

if TYPE_CHECKING:
    from thresher.eval.data import TrainingColumn


def strategy_class(name: str) -> type[Strategy]:
    """The registered strategy `name`."""
    return STRATEGIES.get(name)


def known_strategies() -> list[Chosen]:
    """Every registered strategy, to say where a parameter no chosen component takes would apply."""
    return every_strategy()


def strategies_of(methods: Sequence[Method]) -> list[str]:
    """The strategy of every method that has one (`full` has none; a pipeline's steps build their own from its
    file), each once, in method order."""
    return list(dict.fromkeys(method.strategy for method in methods if not (method.is_full or method.is_pipeline)))


def build_strategies(methods: Sequence[Method], params: Mapping[str, Mapping[str, Any]]) -> dict[str, Strategy]:
    """Each method's strategy, built once from `params[name]` (its resolved parameters; absent: the defaults) and
    prepared (its own I/O done) once for every run."""
    strategies = {name: build(strategy_class(name), params.get(name, {})) for name in strategies_of(methods)}
    for strategy in strategies.values():
        strategy.prepare()
    return strategies


def training_inputs(strategy: type[Strategy], column: TrainingColumn | None, texts: Texts) -> StrategyInputs:
    """What a method's strategy chooses from over the training rows: what it declares, and nothing else."""
    from thresher.selection import strategies

    n_rows = len(column.values) if column is not None else len(texts)
    importance = values = None
    if column is not None and IMPORTANCE in strategy.needs and column.direction is not None:
        importance = strategies.importance(column.values, column.direction)
    if column is not None and VALUES in strategy.needs:
        values = column.values
    return StrategyInputs(
        n_rows=n_rows, importance=importance, values=values, texts=texts if TEXTS in strategy.needs else None
    )


def choose_rows(
    method: Method,
    keep: float,
    seed: int,
    inputs: StrategyInputs,
    strategy: Strategy | None,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Indices into the training rows that `method` keeps at ratio `keep` under `seed`, ascending.

    `inputs` are the training rows' arrays (`training_inputs`); `strategy` the method's strategy as built by
    `build_strategies` (None for `full`); `labels` the training rows' class indices, which a balanced method
    (`:balanced`) runs its strategy within, as `thresher select --balance-classes` does.
    """
    if method.is_full:
        return np.arange(inputs.n_rows)
    assert strategy is not None, f"method {method.name} has no strategy"
    if method.balanced and labels is None:
        raise OptionError(f"--methods {method.name}: a balanced method needs class labels (--task classify)")
    budget = Budget(count=KeepSpec(fraction=keep).resolve(inputs.n_rows))
    balance = labels if method.balanced else None
    chosen = run_strategy(strategy, inputs, budget, seed, balance_labels=balance, name=method.strategy)
    if chosen.size == 0:
        raise OptionError(f"--methods {method.name} kept no examples at --keep {keep}")
    return chosen


@dataclass(frozen=True)
class RunChoice:
    """The training rows of one run, and for a pipeline what each step received and kept."""

    rows: np.ndarray
    steps: list[dict[str, Any]] | None = None


def choose_pipeline(
    method: Method, keep: float, seed: int, columns: Mapping[str, TrainingColumn], texts: Texts
) -> RunChoice:
    """The training rows a pipeline method keeps at ratio `keep` (its last step's size: that share of every training
    row, as for the other methods), and each step's counts."""
    from thresher.selection.pipeline import run_pipeline

    assert method.pipeline is not None
    n_rows = len(texts)
    final = Budget(count=KeepSpec(fraction=keep).resolve(n_rows))
    try:
        rows, reports = run_pipeline(
            method.pipeline, method.step_columns, columns, n_rows, seed=seed, final=final, texts=texts
        )
    except OptionError as error:
        raise OptionError(f"--methods {method.name} at --keep {keep:g}: {error}") from None
    if rows.size == 0:
        raise OptionError(f"--methods {method.name} kept no examples at --keep {keep}")
    return RunChoice(rows, [report.record() for report in reports])


def choose_runs(
    runs: Sequence[PlannedRun],
    columns: Mapping[str, TrainingColumn],
    texts: Sequence[str],
    strategies: Mapping[str, Strategy],
    labels: np.ndarray | None = None,
) -> list[RunChoice]:
    """The training rows of every run, in plan order (with a pipeline's step counts); the first method that cannot
    keep its ratio raises.

    `columns` are the methods' score columns over the training rows, `texts` the training texts, `strategies`
    the methods' strategies by name (`build_strategies`), `labels` the training rows' class indices (for
    balanced methods; None when the target reads no labels).
    """
    shared_texts = TextList(texts)
    chosen = []
    for run in runs:
        if run.method.is_pipeline:
            chosen.append(choose_pipeline(run.method, run.keep, run.seed, columns, shared_texts))
            continue
        strategy = strategies.get(run.method.strategy)
        inputs = StrategyInputs(n_rows=len(texts))
        if strategy is not None:
            column = columns[run.method.column] if run.method.column is not None else None
            inputs = training_inputs(type(strategy), column, shared_texts)
        chosen.append(RunChoice(choose_rows(run.method, run.keep, run.seed, inputs, strategy, labels)))
    return chosen


def choose_all(
    runs: Sequence[PlannedRun],
    columns: Mapping[str, TrainingColumn],
    texts: Sequence[str],
    strategies: Mapping[str, Strategy],
    labels: np.ndarray | None = None,
) -> list[np.ndarray]:
    """The training rows of every run, in plan order (`choose_runs` without the step counts)."""
    return [choice.rows for choice in choose_runs(runs, columns, texts, strategies, labels)]
