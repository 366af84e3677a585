"""The plan of an evaluation: which methods, keep ratios and seeds run, one training run each.

Methods are `random` (seeded uniform), `full` (every training row, once per seed), the set-level `zip` and
`dsir`, and `COLUMN[:strategy]` (the strategies of `thresher select` over a score column, `top` by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from thresher.errors import OptionError

# Strategies that choose from the --by column's values alone, so they apply to any subset of rows; `dedup` reads
# a dedup scorer's keep flag.
EVAL_STRATEGIES = ("top", "bottom", "random", "threshold", "stratified", "ccs", "ips", "dedup")
# Methods that need no score column: set-level strategies that read the training texts themselves.
STANDALONE_METHODS = ("random", "full", "zip", "dsir")
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
    """One method, its strategy checked; its column is checked against the score directory by `parse_methods`."""
    if name in STANDALONE_METHODS:
        return Method(name, None, name)
    column, _, strategy = name.partition(":")
    strategy = strategy or "top"
    if strategy not in EVAL_STRATEGIES:
        raise OptionError(f"--methods {name}: strategy {strategy!r} is not one of {', '.join(EVAL_STRATEGIES)}")
    return Method(name, column, strategy)


def parse_methods(spec: str | Sequence[str], available_columns: Sequence[str]) -> list[Method]:
    """The methods of `--methods`, checked against the score columns."""
    methods = [parse_method(name) for name in method_names(spec)]
    for method in methods:
        if method.column is not None and method.column not in available_columns:
            known = ", ".join(sorted(available_columns)) or "none (give --scores DIR)"
            raise OptionError(f"--methods {method.name}: no score column {method.column!r}; available: {known}")
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
