"""Exact prefix cuts found in a few passes over a stream, in memory that does not grow with the rows.

Top-k, bottom-k, a random sample and a token budget all keep a *prefix*: order the rows by a key, ascending, ties
to the lower row, and keep the longest prefix whose costs (1 per row, or its tokens) sum to at most the budget.
The prefix is fixed by a `PrefixCut`: the key `c` of the first row left out, and how much of the budget is left
for the rows whose key equals `c`. Given it, one pass in row order decides every row (`apply_cuts`).

`CutSearch` finds the cut of each group of rows (one group, or one per stratum) exactly, by passes over the
stream that each hold only a sketch and a small band of keys:

1. a *collect* pass over the rows whose key lies in the current band (at first: all) builds a KLL quantile sketch
   of their keys (Karnin, Lang and Liberty 2016; `datasketches`) and collects their distinct keys with the cost of
   each, up to `max_band` distinct keys. When they fit, the cut is read off them exactly: a column with few
   distinct values (a flag, a token count) is settled in this one pass, by exact counts;
2. otherwise a *bins* pass counts, exactly, the rows and costs between split points: quantiles of the sketch,
   the band's least and greatest key, and the midpoint of those two in the order of float64 bit patterns. The
   bin where the running cost passes the budget becomes the new band, and the costs before it are exact.
   The sketch's rank error bounds the new band's rows (about n·(1/`split_ranks` + 2ε)); the midpoint at least
   halves the band's span of float64 values, so even keys the sketch cannot tell apart are settled within 64
   rounds. Then 1. again, over the band.

So the rows kept are exactly those of the in-memory sort; the sketch only decides how many passes it takes (three
for 10⁷ distinct keys with the defaults). Every pass's state is mergeable (`CutPass.merge`): partial passes over
parts of the stream, added up, give the pass over all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_SKETCH_K = 2000  # KLL k: normalised rank error about 0.14 %; a few tens of KiB per sketch
DEFAULT_SPLIT_RANKS = 1024  # sketch quantiles a bins pass counts between
DEFAULT_MAX_BAND = 1 << 16  # distinct keys a collect pass may hold, over all groups (about 1 MiB)

COLLECT = "collect"
BINS = "bins"


@dataclass(frozen=True)
class PrefixCut:
    """The prefix one group keeps, in the order of ascending key, ties to the lower row.

    Every row with key < `key` is kept, and the rows with key == `key`, in row order, while the running sum of
    their costs (this row's included) is at most `tie_budget`. `key` None keeps every row of the group.
    """

    key: float | None = None
    tie_budget: float = 0.0


def apply_cuts(
    cuts: Sequence[PrefixCut],
    keys: np.ndarray,
    costs: np.ndarray | None,
    groups: np.ndarray | None,
    tie_spent: np.ndarray,
) -> np.ndarray:
    """Which of these rows (the next ones in row order) the cuts keep; a boolean mask.

    Parameters
    ----------
    cuts:
        One cut per group.
    keys, costs, groups:
        Per row: its key, its cost (None: 1 each) and its group (None: all in group 0).
    tie_spent:
        Per group, the cost of the rows at the cut key seen so far in row order; updated in place, so the next
        chunk's call continues where this one stopped.
    """
    keys = np.asarray(keys, dtype=np.float64)
    group_of = np.zeros(keys.size, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    keeps_all = np.array([cut.key is None for cut in cuts], dtype=bool)
    cut_keys = np.array([np.inf if cut.key is None else cut.key for cut in cuts], dtype=np.float64)
    row_cut = cut_keys[group_of]
    kept = keeps_all[group_of] | (keys < row_cut)
    ties = ~keeps_all[group_of] & (keys == row_cut)
    if ties.any():
        tie_rows = np.flatnonzero(ties)
        tie_costs = np.ones(tie_rows.size) if costs is None else np.asarray(costs, dtype=np.float64)[tie_rows]
        for group in np.unique(group_of[tie_rows]):
            mine = group_of[tie_rows] == group
            running = tie_spent[group] + np.cumsum(tie_costs[mine])
            # Costs are non-negative, so the running sum never falls: once past the budget, no later tie fits.
            kept[tie_rows[mine]] = running <= cuts[group].tie_budget
            tie_spent[group] = running[-1]
    return kept


def ordered_midpoint(low: float, high: float) -> float:
    """The float64 halfway between `low` and `high` in the order of bit patterns (not of values).

    Splitting there halves the number of float64 values in [low, high], so repeated splits isolate one value in
    at most 64 steps whatever the values are.
    """
    low_order, high_order = _bit_order(low), _bit_order(high)
    return _from_bit_order(low_order + (high_order - low_order) // 2)


def _bit_order(value: float) -> int:
    bits = int(np.array(value, dtype=np.float64).view(np.int64))
    return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF) - 1


def _from_bit_order(order: int) -> float:
    bits = order if order >= 0 else -(order + 1) | -0x8000000000000000
    return float(np.array(bits, dtype=np.int64).view(np.float64))


class _DistinctKeys:
    """Distinct keys with the summed cost of each, until there are more than `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.overflowed = False
        self._pieces: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending = 0

    def add(self, keys: np.ndarray, costs: np.ndarray | None) -> None:
        if self.overflowed or keys.size == 0:
            return
        unique, inverse = np.unique(keys, return_inverse=True)
        summed = np.bincount(inverse.reshape(-1), weights=costs, minlength=unique.size).astype(np.float64)
        self._add_piece(unique, summed)

    def _add_piece(self, unique: np.ndarray, summed: np.ndarray) -> None:
        self._pieces.append((unique, summed))
        self._pending += unique.size
        if self._pending > 2 * self.limit:
            self._compact()

    def _compact(self) -> None:
        if self.overflowed or len(self._pieces) <= 1:
            self._check_limit()
            return
        keys = np.concatenate([piece[0] for piece in self._pieces])
        costs = np.concatenate([piece[1] for piece in self._pieces])
        unique, inverse = np.unique(keys, return_inverse=True)
        summed = np.bincount(inverse.reshape(-1), weights=costs, minlength=unique.size)
        self._pieces = [(unique, summed)]
        self._pending = unique.size
        self._check_limit()

    def _check_limit(self) -> None:
        if self._pending > self.limit and (len(self._pieces) == 1 or self.overflowed):
            self.overflowed = True
            self._pieces, self._pending = [], 0

    def merge(self, other: _DistinctKeys) -> None:
        if other.overflowed:
            self.overflowed = True
            self._pieces, self._pending = [], 0
            return
        for unique, summed in other._pieces:
            if self.overflowed:
                return
            self._add_piece(unique, summed)

    def result(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Sorted distinct keys and their costs, or None when there were more than `limit`."""
        self._compact()
        if self.overflowed:
            return None
        if not self._pieces:
            return np.zeros(0), np.zeros(0)
        return self._pieces[0]


def _new_sketch(k: int) -> Any:
    from datasketches import kll_doubles_sketch

    return kll_doubles_sketch(k)


@dataclass
class _GroupCollect:
    """A collect pass's state for one group: counts, extremes, a sketch and the distinct keys of its band."""

    sketch_k: int
    band_limit: int
    rows: int = 0
    cost: float = 0.0
    least: float = np.inf
    greatest: float = -np.inf
    sketch: Any = None
    distinct: _DistinctKeys = field(init=False)

    def __post_init__(self) -> None:
        self.sketch = _new_sketch(self.sketch_k)
        self.distinct = _DistinctKeys(self.band_limit)

    def add(self, keys: np.ndarray, costs: np.ndarray | None) -> None:
        if keys.size == 0:
            return
        self.rows += keys.size
        self.cost += float(keys.size if costs is None else costs.sum())
        self.least = min(self.least, float(keys.min()))
        self.greatest = max(self.greatest, float(keys.max()))
        self.sketch.update(np.ascontiguousarray(keys, dtype=np.float64))
        self.distinct.add(keys, costs)

    def merge(self, other: _GroupCollect) -> None:
        self.rows += other.rows
        self.cost += other.cost
        self.least = min(self.least, other.least)
        self.greatest = max(self.greatest, other.greatest)
        self.sketch.merge(other.sketch)
        self.distinct.merge(other.distinct)

    def __getstate__(self) -> dict[str, Any]:
        # KLL sketches pickle through their own serialisation (a Ray task ships passes between processes).
        state = dict(self.__dict__)
        state["sketch"] = self.sketch.serialize()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from datasketches import kll_doubles_sketch

        state = dict(state)
        state["sketch"] = kll_doubles_sketch.deserialize(state["sketch"])
        self.__dict__.update(state)


class CutPass:
    """One pass of a `CutSearch` over (part of) the stream: feed it every row with `update`, then hand it back.

    Made by `CutSearch.new_pass`; passes over parts of the stream `merge` into the pass over the whole.
    """

    def __init__(
        self,
        kind: str,
        bands: dict[int, tuple[float | None, float | None]],
        *,
        groups: int,
        sketch_k: int,
        band_limit: int,
        splits: dict[int, np.ndarray] | None = None,
    ) -> None:
        self.kind = kind
        self.bands = bands  # group -> (exclusive lower bound or None, inclusive upper bound or None)
        self.groups = groups
        self.collect = {group: _GroupCollect(sketch_k, band_limit) for group in bands} if kind == COLLECT else {}
        self.splits = splits or {}
        self.bin_rows = {group: np.zeros(self.splits[group].size + 1) for group in bands} if kind == BINS else {}
        self.bin_costs = {group: np.zeros(self.splits[group].size + 1) for group in bands} if kind == BINS else {}
        low = np.full(groups, np.inf)  # groups not searched: no key is in their band
        high = np.full(groups, -np.inf)
        searched = np.zeros(groups, dtype=bool)
        for group, (lower, upper) in bands.items():
            low[group] = -np.inf if lower is None else lower
            high[group] = np.inf if upper is None else upper
            searched[group] = True
        self._low, self._high, self._searched = low, high, searched
        self._open_below = np.array([bands.get(group, (0.0, None))[0] is None for group in range(groups)])

    def update(self, keys: np.ndarray, costs: np.ndarray | None = None, groups: np.ndarray | None = None) -> None:
        """Count the rows (their keys, costs and groups; None: cost 1, group 0) that fall in a band searched."""
        keys = np.asarray(keys, dtype=np.float64)
        if keys.size == 0 or not self.bands:
            return
        group_of = np.zeros(keys.size, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
        low, high = self._low[group_of], self._high[group_of]
        # A band is (lower, upper]; a band open below also holds -inf keys.
        above = (keys > low) | (self._open_below[group_of] & self._searched[group_of])
        inside = above & (keys <= high)
        if not inside.all():
            keys, group_of = keys[inside], group_of[inside]
            costs = None if costs is None else np.asarray(costs, dtype=np.float64)[inside]
        elif costs is not None:
            costs = np.asarray(costs, dtype=np.float64)
        if keys.size == 0:
            return
        if self.groups == 1:
            self._update_group(0, keys, costs)
            return
        order = np.argsort(group_of, kind="stable")  # stable: each group's rows stay in row order
        sorted_groups = group_of[order]
        bounds = np.searchsorted(sorted_groups, np.arange(self.groups + 1))
        for group in np.unique(sorted_groups):
            rows = order[bounds[group] : bounds[group + 1]]
            self._update_group(int(group), keys[rows], None if costs is None else costs[rows])

    def _update_group(self, group: int, keys: np.ndarray, costs: np.ndarray | None) -> None:
        if self.kind == COLLECT:
            self.collect[group].add(keys, costs)
            return
        bins = np.searchsorted(self.splits[group], keys, side="left")
        size = self.splits[group].size + 1
        self.bin_rows[group] += np.bincount(bins, minlength=size)
        self.bin_costs[group] += np.bincount(bins, weights=costs, minlength=size)

    def merge(self, other: CutPass) -> CutPass:
        """Add another part's pass of the same search and kind into this one; gives self."""
        if other.kind != self.kind or set(other.bands) != set(self.bands):
            raise ValueError("only passes made by the same CutSearch.new_pass merge")
        for group in self.bands:
            if self.kind == COLLECT:
                self.collect[group].merge(other.collect[group])
            else:
                self.bin_rows[group] += other.bin_rows[group]
                self.bin_costs[group] += other.bin_costs[group]
        return self


@dataclass
class _GroupSearch:
    """Where the search of one group stands."""

    lower: float | None = None  # the band (lower, upper]; None: unbounded
    upper: float | None = None
    cost_before: float = 0.0  # exact cost of the rows with key <= lower
    cut: PrefixCut | None = None
    collected: tuple[np.ndarray, np.ndarray] | None = None  # distinct keys and costs of the band, when they fit
    least: float = np.inf
    greatest: float = -np.inf
    sketch: Any = None
    splits: np.ndarray | None = None


class CutSearch:
    """Finds the exact `PrefixCut` of every group by passes over a stream (see the module docstring).

    Usage::

        search = CutSearch(budgets=[k])
        while not search.done:
            this_pass = search.new_pass()
            for keys, costs in chunks():
                this_pass.update(keys, costs)
            search.absorb(this_pass)
        cut = search.cuts[0]

    Parameters
    ----------
    budgets:
        The budget of each group (a number of rows, or a cost). None: set them with `set_budgets` after the first
        pass, which gives each group's row count (`rows`): CCS sizes each stratum's share from them.
    groups:
        Number of groups, when `budgets` is None.
    unit_costs:
        Every row costs 1 (the budget is a number of rows); the caller passes no costs.
    sketch_k, split_ranks, max_band:
        The KLL sketch's k, the quantiles a bins pass counts between, and the distinct keys a collect pass may
        hold over all groups. They change how many passes the search takes, never its result.
    """

    def __init__(
        self,
        budgets: Sequence[float] | None = None,
        *,
        groups: int | None = None,
        unit_costs: bool = True,
        sketch_k: int = DEFAULT_SKETCH_K,
        split_ranks: int = DEFAULT_SPLIT_RANKS,
        max_band: int = DEFAULT_MAX_BAND,
    ) -> None:
        if budgets is None and groups is None:
            raise ValueError("give the budgets, or the number of groups")
        self.groups = len(budgets) if budgets is not None else int(groups or 0)
        self.budgets = None if budgets is None else np.asarray(budgets, dtype=np.float64)
        self.unit_costs = unit_costs
        self.sketch_k = sketch_k
        self.split_ranks = split_ranks
        self.band_limit = max(max_band // max(self.groups, 1), 1)
        self.state = [_GroupSearch() for _ in range(self.groups)]
        self.rows = np.zeros(self.groups, dtype=np.int64)  # per group, after the first pass
        self.costs = np.zeros(self.groups)
        self.least = np.full(self.groups, np.inf)  # per group, least and greatest key, after the first pass
        self.greatest = np.full(self.groups, -np.inf)
        self.passes = 0
        self._next = COLLECT

    @property
    def done(self) -> bool:
        """True when every group's cut is known (the budgets, if deferred, must be set first)."""
        return all(group.cut is not None for group in self.state)

    @property
    def cuts(self) -> list[PrefixCut]:
        """The cut of each group; only once `done`."""
        if not self.done:
            raise RuntimeError("the search has not finished")
        return [group.cut for group in self.state if group.cut is not None]

    def new_pass(self) -> CutPass:
        """A pass to feed every row of the stream to, then give to `absorb`."""
        if self.done:
            raise RuntimeError("the search has finished")
        if self.passes > 0 and self.budgets is None:
            raise RuntimeError("set the budgets after the first pass")
        searching = {g: (s.lower, s.upper) for g, s in enumerate(self.state) if s.cut is None}
        options = {"groups": self.groups, "sketch_k": self.sketch_k, "band_limit": self.band_limit}
        if self._next == BINS:
            splits = {g: self.state[g].splits for g in searching}
            return CutPass(BINS, searching, splits=splits, **options)  # type: ignore[arg-type]
        return CutPass(COLLECT, searching, **options)

    def absorb(self, finished: CutPass) -> None:
        """Take a pass over the whole stream (parts merged) and move the search on."""
        first = self.passes == 0
        self.passes += 1
        for group, _ in finished.bands.items():
            state = self.state[group]
            if finished.kind == COLLECT:
                collect = finished.collect[group]
                if first:
                    self.rows[group], self.costs[group] = collect.rows, collect.cost
                    self.least[group], self.greatest[group] = collect.least, collect.greatest
                state.least, state.greatest = collect.least, collect.greatest
                state.collected = collect.distinct.result()
                state.sketch = collect.sketch
            else:
                self._narrow(group, finished.bin_rows[group], finished.bin_costs[group])
        self._next = BINS if finished.kind == COLLECT else COLLECT
        if self.budgets is not None:
            self._settle(first=first)

    def set_budgets(self, budgets: Sequence[float]) -> None:
        """Give the groups' budgets (when deferred), after the first pass."""
        if self.passes != 1 or self.budgets is not None:
            raise RuntimeError("budgets are set once, after the first pass")
        if len(budgets) != self.groups:
            raise ValueError(f"{len(budgets)} budgets for {self.groups} groups")
        self.budgets = np.asarray(budgets, dtype=np.float64)
        self._settle(first=True)

    def _settle(self, *, first: bool) -> None:
        """After a collect pass: read off the cuts the band decides, and plan bins for the others."""
        if self._next != BINS:
            return
        assert self.budgets is not None
        for group, state in enumerate(self.state):
            if state.cut is not None:
                continue
            budget = float(self.budgets[group])
            remaining = budget - state.cost_before
            if first and self.costs[group] <= budget:
                state.cut = PrefixCut(None)  # everything fits (an empty group too)
            elif self.unit_costs and remaining < 1:
                # Not even one more row fits: the first row of the band is the first left out.
                state.cut = PrefixCut(state.least, 0.0)
            elif state.collected is not None:
                state.cut = _cut_from_keys(*state.collected, remaining)
            else:
                state.splits = self._splits(state)
            state.collected = None
            if state.cut is not None:
                state.sketch = None

    def _splits(self, state: _GroupSearch) -> np.ndarray:
        ranks = np.linspace(0.0, 1.0, self.split_ranks + 1)[1:-1]
        quantiles = np.asarray(state.sketch.get_quantiles(ranks.tolist()), dtype=np.float64)
        extremes = [state.least, state.greatest, ordered_midpoint(state.least, state.greatest)]
        points = np.concatenate([quantiles, extremes])
        points = points[(points >= state.least) & (points <= state.greatest)]
        state.sketch = None
        return np.unique(points + 0.0)

    def _narrow(self, group: int, bin_rows: np.ndarray, bin_costs: np.ndarray) -> None:
        """After a bins pass: the bin where the running cost passes the budget is the group's new band."""
        assert self.budgets is not None
        state = self.state[group]
        splits = state.splits
        assert splits is not None
        running = state.cost_before + np.cumsum(bin_costs)
        crossing = int(np.searchsorted(running, self.budgets[group], side="right"))
        # The band's rows cost more than is left, and no key lies above its greatest (the last split): the
        # crossing bin is one of the splits' own.
        assert crossing < splits.size, "the budget is not passed inside the band"
        if crossing > 0:
            state.lower = float(splits[crossing - 1])
            state.cost_before = float(running[crossing - 1])
        state.upper = float(splits[crossing])
        state.splits = None


def _cut_from_keys(keys: np.ndarray, costs: np.ndarray, remaining: float) -> PrefixCut:
    """The cut within a band whose every distinct key (ascending) and summed cost is known."""
    running = np.cumsum(costs)
    first_out = int(np.searchsorted(running, remaining, side="right"))
    assert first_out < keys.size, "the budget is not passed inside the band"
    spent = float(running[first_out - 1]) if first_out > 0 else 0.0
    return PrefixCut(float(keys[first_out]), remaining - spent)
