"""The strategy contract: a strategy is a pure function over the arrays it declares it needs.

`thresher select` and the eval harness build a `StrategyInputs` (from a score store and the input, or from the
training rows) and hand it to `thresher.selection.run.run_strategy`, which slices it per class for
`--balance-classes` and calls `Strategy.select`; no strategy sees a dataset or a score store.
A strategy's parameters are its keyword-only constructor (a registry component, set with `-p`); expensive I/O
that does not depend on the rows (DSIR reading its target file) goes in `prepare`, run once before any select.
A strategy whose choice is a prefix of the rows in some order (top, bottom, threshold, random, stratified, softmax,
pareto; band: the difference of two prefixes) also says so in `streamed`, and `thresher select` then runs it over
the score shards without holding them (`thresher.selection.streaming`), with the same rows as `select`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

import numpy as np

from thresher.components import Component
from thresher.errors import OptionError
from thresher.types import ColumnKind

# What a strategy may declare in `needs`.
IMPORTANCE = "importance"  # the --by column turned so that higher = more important (score columns only)
VALUES = "values"  # the --by column's raw values, float64 (scores or flags)
TEXTS = "texts"  # the example texts, in row order
LABELS = "labels"  # class labels, for strategies that use them
INPUTS = frozenset({IMPORTANCE, VALUES, TEXTS, LABELS})


class Texts(Protocol):
    """Texts in row order that can be read more than once and sliced, without holding them all in memory."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[str]: ...

    def subset(self, rows: np.ndarray) -> Texts: ...


@dataclass(frozen=True)
class TextList:
    """Texts held in memory."""

    texts: Sequence[str]

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts)

    def subset(self, rows: np.ndarray) -> TextList:
        return TextList([self.texts[int(row)] for row in rows])


@dataclass(frozen=True)
class StrategyInputs:
    """The arrays a strategy chooses from; each is indexed by row and absent unless the strategy needs it.

    `costs` (tokens per row) is present whenever the budget is in tokens.
    """

    n_rows: int
    importance: np.ndarray | None = None
    values: np.ndarray | None = None
    texts: Texts | None = None
    labels: np.ndarray | None = None
    costs: np.ndarray | None = None

    def subset(self, rows: np.ndarray) -> StrategyInputs:
        """The same inputs restricted to `rows` (ascending), renumbered from 0."""
        rows = np.asarray(rows, dtype=np.int64)
        return replace(
            self,
            n_rows=int(rows.size),
            importance=None if self.importance is None else self.importance[rows],
            values=None if self.values is None else self.values[rows],
            texts=None if self.texts is None else self.texts.subset(rows),
            labels=None if self.labels is None else self.labels[rows],
            costs=None if self.costs is None else self.costs[rows],
        )

    def require(self, name: str, strategy: str) -> None:
        """`OptionError` saying what the strategy needs when the input `name` (one of INPUTS, or costs) is absent."""
        if getattr(self, name) is None:
            raise OptionError(f"--strategy {strategy} needs {_NEEDS_HINT.get(name, name)}")

    def need(self, name: str, strategy: str) -> np.ndarray:
        """The named array (importance, values, labels or costs); `OptionError` when it is absent."""
        self.require(name, strategy)
        value = getattr(self, name)
        assert isinstance(value, np.ndarray), f"{name} is not an array"
        return value

    def need_texts(self, strategy: str) -> Texts:
        """The texts; `OptionError` when they are absent."""
        self.require(TEXTS, strategy)
        assert self.texts is not None
        return self.texts


_NEEDS_HINT = {
    IMPORTANCE: "--by COLUMN (a score column)",
    VALUES: "--by COLUMN",
    TEXTS: "the example texts",
    LABELS: "labels: give --label-field",
    "costs": "token counts (n_tokens) for --budget-tokens",
}


@dataclass(frozen=True)
class Budget:
    """How much to keep: `count` rows, or rows whose `costs` sum to at most `tokens`; exactly one is set."""

    count: int | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        if (self.count is None) == (self.tokens is None):
            raise OptionError("a budget is a number of rows or a number of tokens, exactly one of them")
        if self.count is not None and self.count < 0:
            raise OptionError(f"cannot keep {self.count} rows")
        if self.tokens is not None and self.tokens < 0:
            raise OptionError(f"--budget-tokens must be non-negative (got {self.tokens})")

    def prefix_of(self, order: np.ndarray, costs: np.ndarray | None = None) -> np.ndarray:
        """The rows of a preference order (most preferred first) this budget keeps, ascending.

        A count keeps the first `count` rows of the order, or all of them when the order is shorter (a strategy
        that orders only its candidates, such as dedup's survivors, keeps at most those); a token budget keeps
        the longest prefix whose `costs` (indexed by row) sum to at most `tokens`.
        """
        order = np.asarray(order, dtype=np.int64)
        if self.tokens is not None:
            if costs is None:
                raise OptionError(f"a token budget needs {_NEEDS_HINT['costs']}")
            spent = np.cumsum(np.asarray(costs, dtype=np.float64)[order])
            # Costs are non-negative, so the running total never falls: the prefix ends where it passes.
            return np.sort(order[: int(np.searchsorted(spent, self.tokens, side="right"))])
        assert self.count is not None
        return np.sort(order[: self.count])


@dataclass(frozen=True)
class RankedStream:
    """A selection that keeps a prefix of the rows in one order, ties to the lower row, and can stream.

    `order` is `top` (most important first), `bottom` (least important first), `random` (ascending seeded
    draw, `thresher.selection.draws`), `softmax` (descending importance/`temperature` + seeded Gumbel noise) or
    `pareto` (descending importance + seeded Lomax(`alpha`) noise, only rows where that exceeds 1 are
    candidates). With `in_range`, only rows whose raw --by value lies in [minimum, maximum] (either bound open
    when None) are candidates. Without a budget every candidate is kept (`in_range` and `pareto` only).
    """

    order: str
    in_range: bool = False
    minimum: float | None = None
    maximum: float | None = None
    temperature: float = 1.0
    alpha: float = 3.0

    @property
    def filters(self) -> bool:
        """True when only some rows are candidates, so that the selection needs no budget."""
        return self.in_range or self.order == "pareto"


@dataclass(frozen=True)
class StratifiedStream:
    """CCS (`strategies.select_stratified`) as a stream: drop the hardest, stratify, sample each stratum by draw."""

    strata: int
    drop_hardest: float


@dataclass(frozen=True)
class BandStream:
    """`band` as a stream: the rows whose rank by raw --by value (ascending, ties to the lower row) lies in
    `strategies.band_ranks(n, low, high, count)`: two prefix cuts of one order."""

    low: float
    high: float
    count: int | None = None


StreamSpec = RankedStream | StratifiedStream | BandStream


class Strategy(Component):
    """Base class of selection strategies.

    Subclasses set `name` and `needs`, take their parameters as keyword-only constructor arguments (documented in
    the ``Parameters`` section of the class docstring), and implement `select`. They are registered in
    `thresher.selection.registry.STRATEGIES` and run through `thresher.selection.run.run_strategy`, which checks
    `needs`, the budget and the class balance before any `select`.
    """

    kind: ClassVar[str] = "strategy"
    # Which of INPUTS `select` reads; the caller provides exactly these (plus `costs` for a token budget).
    needs: ClassVar[frozenset[str]] = frozenset()
    # Kinds of --by column the strategy accepts, when it needs one.
    column_kinds: ClassVar[frozenset[ColumnKind]] = frozenset({ColumnKind.SCORE})
    # Columns to use, first one present, when --by is not given (dedup: the dedup scorers' keep flags).
    default_columns: ClassVar[tuple[str, ...]] = ()
    # True: without a budget, keep every row the strategy chooses (threshold, dedup); False: a budget is required.
    budget_optional: ClassVar[bool] = False
    # False: the strategy cannot honour a token budget (zip).
    supports_tokens: ClassVar[bool] = True

    @classmethod
    def reads_column(cls) -> bool:
        """True when the strategy chooses by a column of the score directory (`--by`, or a default column)."""
        return bool(cls.needs & {IMPORTANCE, VALUES})

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Read what the strategy needs beyond the rows (a target file), once before any `select`."""

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        """The rows to keep, ascending int64 indices into `inputs`.

        `budget` is None only when `budget_optional`; `seed` is the only source of randomness.
        """
        raise NotImplementedError

    def streamed(self, budget: Budget | None) -> StreamSpec | None:
        """How `thresher select` can run this selection under `budget` in passes over the score shards, keeping
        exactly the rows `select` keeps; None (the default): only in memory."""
        return None
