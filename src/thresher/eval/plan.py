"""The plan of an evaluation: which methods, keep ratios and seeds run, one training run each.

A method is `full` (every training row, once per seed), a registered strategy that needs no column (`random`,
`zip`, `dsir`; `dedup` over its default keep-flag column), or `COLUMN[:strategy]` (a strategy of `thresher select`
over a score column, `top` by default), or `pipeline:FILE` (the steps of a pipeline file, `thresher select --pipeline`,
its last step sized by each keep ratio). Any of them but `full` and a pipeline takes the suffix `:balanced`
(`random:balanced`, `el2n:bottom:balanced`): the strategy runs within each class, like `thresher select
--balance-classes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from thresher.errors import OptionError

if TYPE_CHECKING:
    from thresher.selection.pipeline import Pipeline
    from thresher.store import ColumnInfo

FULL = "full"  # the method that is not a strategy: every training row, once per seed
BALANCED = "balanced"  # the method suffix that runs its strategy within each class
PIPELINE = "pipeline"  # the method prefix of a pipeline file: pipeline:FILE
DEFAULT_KEEPS = (0.1, 0.3, 0.5)


@dataclass(frozen=True)
class Method:
    """One way to choose training rows: `random`, `full`, a score column with a selection strategy, or a pipeline."""

    name: str  # as the user wrote it, e.g. "nll_mean:bottom"
    column: str | None = None
    strategy: str = "random"
    balanced: bool = False  # the strategy runs within each class (`:balanced`)
    pipeline: Pipeline | None = field(default=None, compare=False)  # pipeline:FILE, its steps loaded
    step_columns: tuple[tuple[str, ...], ...] = ()  # each pipeline step's columns (resolved by parse_methods)

    @property
    def is_full(self) -> bool:
        return self.name == FULL

    @property
    def is_pipeline(self) -> bool:
        return self.pipeline is not None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every score column the method reads, each once."""
        if self.is_pipeline:
            return tuple(dict.fromkeys(column for columns in self.step_columns for column in columns))
        return (self.column,) if self.column is not None else ()


def method_names(spec: str | Sequence[str]) -> tuple[str, ...]:
    """The names of `--methods random,full,COLUMN[:strategy],...`, each once."""
    names = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else [str(part) for part in spec]
    names = [name for name in names if name]
    if not names:
        raise OptionError("--methods is empty; give e.g. random,full,nll_mean:top")
    if len(set(names)) != len(names):
        raise OptionError(f"--methods lists a method twice: {', '.join(names)}")
    return tuple(names)


def parse_method(name: str) -> Method:
    """One method, its strategy checked against the registry; its column is resolved by `parse_methods`."""
    from thresher.selection.registry import STRATEGIES

    if name.startswith(f"{PIPELINE}:"):
        return _pipeline_method(name)
    base, _, suffix = name.rpartition(":")
    if suffix == BALANCED and base:
        if base == FULL:
            raise OptionError(f"--methods {name}: full keeps every row; only a strategy can be {BALANCED}")
        return replace(parse_method(base), name=name, balanced=True)
    if name == FULL:
        return Method(name, None, FULL)
    if name in STRATEGIES and (not STRATEGIES.get(name).reads_column() or STRATEGIES.get(name).default_columns):
        return Method(name, None, name)  # no column, or its default column (dedup), found by parse_methods
    column, _, strategy = name.partition(":")
    strategy = strategy or "top"
    if strategy not in STRATEGIES:
        raise OptionError(f"--methods {name}: strategy {strategy!r} is not one of {', '.join(STRATEGIES.names())}")
    if not STRATEGIES.get(strategy).reads_column():
        raise OptionError(
            f"--methods {name}: {strategy} chooses without a score column; give it as the method {strategy}"
        )
    return Method(name, column, strategy)


def _pipeline_method(name: str) -> Method:
    """The method `pipeline:FILE`, its file loaded and checked (`thresher.selection.pipeline.load_pipeline`)."""
    from thresher.selection.pipeline import load_pipeline

    path = name[len(PIPELINE) + 1 :]
    if path.endswith(f":{BALANCED}"):
        raise OptionError(
            f"--methods {name}: a pipeline's steps run over every class; only a strategy can be {BALANCED}"
        )
    if not path:
        raise OptionError(f"--methods {name}: give the pipeline file, pipeline:FILE.yaml")
    return Method(name, None, PIPELINE, pipeline=load_pipeline(path))


def parse_methods(spec: str | Sequence[str], columns: Mapping[str, ColumnInfo] | Sequence[str]) -> list[Method]:
    """The methods of `--methods`, their columns checked against the score directory's: present, the default column
    of a strategy that has one (dedup), and, given `store.column_infos()` rather than names, of a kind the
    strategy takes."""
    from thresher.selection.inputs import check_column_kind
    from thresher.selection.registry import STRATEGIES

    known = ", ".join(sorted(columns)) or "none (give --scores DIR)"
    methods = []
    for method in (parse_method(name) for name in method_names(spec)):
        if method.pipeline is not None:
            methods.append(replace(method, step_columns=_pipeline_columns(method, method.pipeline, columns)))
            continue
        if method.is_full or not STRATEGIES.get(method.strategy).reads_column():
            methods.append(method)
            continue
        if method.column is None:
            defaults = STRATEGIES.get(method.strategy).default_columns
            present = [column for column in defaults if column in columns]
            if len(present) != 1:
                choices = " or ".join(f"{column}:{method.name}" for column in present)
                raise OptionError(
                    f"--methods {method.name}: choose the column, {choices}"
                    if present
                    else f"--methods {method.name}: no {' or '.join(defaults)} column; available: {known}"
                )
            method = replace(method, column=present[0])
        if method.column not in columns:
            raise OptionError(f"--methods {method.name}: no score column {method.column!r}; available: {known}")
        if isinstance(columns, Mapping):
            kind = columns[method.column].kind
            check_column_kind(method.strategy, STRATEGIES.get(method.strategy), method.column, kind)
        methods.append(method)
    return methods


def _pipeline_columns(
    method: Method, pipeline: Pipeline, columns: Mapping[str, ColumnInfo] | Sequence[str]
) -> tuple[tuple[str, ...], ...]:
    """Each step's columns, checked against the score directory's (their kinds too, given `column_infos()`)."""
    from thresher.selection.pipeline import resolve_columns
    from thresher.types import ColumnKind

    if isinstance(columns, Mapping):
        kinds = {name: info.kind for name, info in columns.items()}
    else:
        kinds = dict.fromkeys(columns, ColumnKind.SCORE)  # names only: presence is all that can be checked
    try:
        return resolve_columns(pipeline, kinds, source="the score directory (--scores)")
    except OptionError as error:
        raise OptionError(f"--methods {method.name}: {error}") from None


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


@dataclass(frozen=True)
class PlannedRun:
    """One training run: the method, its keep ratio (1 for `full`) and the seed of both selection and training."""

    method: Method
    keep: float
    seed: int

    @property
    def label(self) -> str:
        return f"{self.method.name} keep={self.keep:g} seed={self.seed}"


def plan_runs(
    methods: Sequence[Method], keeps: Sequence[float], seeds: int, full_seeds: int | None, seed: int
) -> list[PlannedRun]:
    """Every run, method by method: each keep ratio times `seeds` seeds (`full`: ratio 1, `full_seeds` seeds).

    Seed i of a (method, ratio) is `seed + i`, so every method draws with the same seeds.
    """
    return [
        PlannedRun(method, 1.0 if method.is_full else ratio, seed + index)
        for method in methods
        for ratio in ([1.0] if method.is_full else keeps)
        for index in range((full_seeds or seeds) if method.is_full else seeds)
    ]
