"""The choose step: the training rows every planned run trains on, all chosen before any training.

This module is the one place where the harness meets the selection strategies:

- `strategy_class(name)` / `known_strategies()`: a strategy's parameters, for `-p` and for error messages;
- `build_strategies(methods, params)`: each method's strategy, built once from its resolved parameters;
- `training_inputs(column, texts)`: the `StrategyInputs` of the training rows for one method;
- `choose_rows(method, keep, seed, inputs, strategy)`: the rows the method keeps.

For now the strategies are today's `thresher.selection.handlers`, described by the small parameter-only
components below; when the strategies become registry components (`thresher.selection.registry`), these
functions switch to them and nothing else in the harness changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

from thresher.components import Chosen, Component, build
from thresher.data.fields import TEXT_COLUMN, Fields
from thresher.errors import OptionError
from thresher.eval.plan import Method, PlannedRun
from thresher.selection.base import StrategyInputs, TextList, Texts

if TYPE_CHECKING:
    from thresher.eval.data import TrainingColumn


class _HandlerStrategy(Component):
    """A strategy of `thresher select`, without parameters."""

    kind: ClassVar[str] = "strategy"

    def __init__(self) -> None:
        pass


class _Threshold(_HandlerStrategy):
    """Keep the rows whose value lies in [minimum, maximum], the most important first.

    Parameters
    ----------
    minimum:
        Lowest value kept (none: no lower bound).
    maximum:
        Highest value kept (none: no upper bound).
    """

    name = "threshold"

    def __init__(self, *, minimum: float | None = None, maximum: float | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum


class _Stratified(_HandlerStrategy):
    """An equal share of the keep budget per score stratum (CCS).

    Parameters
    ----------
    strata:
        Number of score strata.
    drop_hardest:
        Fraction of the most important rows dropped first.
    """

    name = "stratified"

    def __init__(self, *, strata: int = 50, drop_hardest: float = 0.0) -> None:
        self.strata, self.drop_hardest = strata, drop_hardest


class _Ips(_HandlerStrategy):
    """Inverse-propensity sampling by a density column: rare rows are drawn more often.

    Parameters
    ----------
    temperature:
        Sample proportionally to density^(-1/T); larger is closer to uniform.
    """

    name = "ips"

    def __init__(self, *, temperature: float = 1.0) -> None:
        self.temperature = temperature


class _Zip(_HandlerStrategy):
    """ZIP: greedily keep the rows that compress worst together.

    Parameters
    ----------
    k1:
        Stage-1 candidates per round.
    k2:
        Stage-2 candidates per round.
    k3:
        Rows picked per round.
    """

    name = "zip"

    def __init__(self, *, k1: int = 10_000, k2: int = 200, k3: int = 100) -> None:
        self.k1, self.k2, self.k3 = k1, k2, k3


class _Dsir(_HandlerStrategy):
    """DSIR: importance resampling towards a target file's hashed n-gram distribution.

    Parameters
    ----------
    target:
        File of examples like the data wanted (any input format).
    target_text_field:
        Text field of the target file (none: text).
    buckets:
        Hashed n-gram buckets.
    """

    name = "dsir"

    def __init__(self, *, target: Path, target_text_field: str | None = None, buckets: int = 10_000) -> None:
        self.target, self.target_text_field, self.buckets = target, target_text_field, buckets


_STRATEGIES: dict[str, type[Component]] = {
    "top": _HandlerStrategy,
    "bottom": _HandlerStrategy,
    "random": _HandlerStrategy,
    "dedup": _HandlerStrategy,
    "threshold": _Threshold,
    "stratified": _Stratified,
    "ccs": _Stratified,
    "ips": _Ips,
    "zip": _Zip,
    "dsir": _Dsir,
}


def strategy_class(name: str) -> type[Component]:
    """The component whose parameters strategy `name` takes."""
    return _STRATEGIES[name]


def known_strategies() -> list[Chosen]:
    """Every strategy a method may use, to say where a parameter no chosen component takes would apply."""
    return [Chosen(name, cls) for name, cls in _STRATEGIES.items()]


def strategies_of(methods: Sequence[Method]) -> list[str]:
    """The strategy of every method that has one (`full` has none), each once, in method order."""
    return list(dict.fromkeys(method.strategy for method in methods if not method.is_full))


def build_strategies(methods: Sequence[Method], params: Mapping[str, Mapping[str, Any]]) -> dict[str, Component]:
    """Each method's strategy, built once from `params[name]` (its resolved parameters; absent: the defaults)."""
    return {name: build(strategy_class(name), params.get(name, {})) for name in strategies_of(methods)}


def training_inputs(column: TrainingColumn | None, texts: Texts) -> StrategyInputs:
    """What a method chooses from: its column's values and importance over the training rows, and their texts."""
    from thresher.selection import strategies

    if column is None:
        return StrategyInputs(n_rows=len(texts), texts=texts)
    importance = strategies.importance(column.values, column.direction) if column.direction is not None else None
    return StrategyInputs(n_rows=len(column.values), importance=importance, values=column.values, texts=texts)


def choose_rows(
    method: Method, keep: float, seed: int, inputs: StrategyInputs, strategy: Component | None
) -> np.ndarray:
    """Indices into the training rows that `method` keeps at ratio `keep` under `seed`, ascending.

    `inputs` are the training rows' arrays (`training_inputs`); `strategy` the method's strategy as built by
    `build_strategies` (None for `full`). `zip` and `dsir` read `inputs.texts`.
    """
    from thresher.selection.handlers import HANDLERS, SelectionRequest
    from thresher.selection.keep import KeepSpec

    if method.is_full:
        return np.arange(inputs.n_rows)
    if method.strategy in ("zip", "dsir") and inputs.texts is None:
        raise OptionError(f"--methods {method.name} needs the training texts")
    request = SelectionRequest(
        n_rows=inputs.n_rows,
        by=method.column,
        values=inputs.values,
        importance=inputs.importance,
        keep=KeepSpec(fraction=keep),
        budget_tokens=None,
        costs=None,
        seed=seed,
        dataset=_TrainingTexts(inputs.texts) if inputs.texts is not None else None,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]  # column values come in `values`
        options=strategy.get_params() if strategy is not None else {},
    )
    chosen = np.sort(np.asarray(HANDLERS[method.strategy](request), dtype=np.int64))
    if chosen.size == 0:
        raise OptionError(f"--methods {method.name} kept no examples at --keep {keep}")
    return chosen


def choose_all(
    runs: Sequence[PlannedRun],
    columns: Mapping[str, TrainingColumn],
    texts: Sequence[str],
    strategies: Mapping[str, Component],
) -> list[np.ndarray]:
    """The training rows of every run, in plan order; the first method that cannot keep its ratio raises.

    `columns` are the methods' score columns over the training rows, `texts` the training texts, `strategies`
    the methods' strategies by name (`build_strategies`).
    """
    shared_texts = TextList(texts)
    inputs = {name: training_inputs(column, shared_texts) for name, column in columns.items()}
    without_column = training_inputs(None, shared_texts)
    return [
        choose_rows(
            run.method,
            run.keep,
            run.seed,
            inputs[run.method.column] if run.method.column is not None else without_column,
            strategies.get(run.method.strategy),
        )
        for run in runs
    ]


class _TrainingTexts:
    """The training part as the set-level handlers read a dataset: text batches in row order."""

    fields = Fields()

    def __init__(self, texts: Texts) -> None:
        self.texts = list(texts)

    def iter_examples(self, batch_rows: int = 8192) -> Iterator[pa.RecordBatch]:
        for start in range(0, len(self.texts), batch_rows):
            yield pa.RecordBatch.from_pydict({TEXT_COLUMN: self.texts[start : start + batch_rows]})
