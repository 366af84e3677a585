"""`thresher select` in memory that does not grow with the rows: counting passes over the score shards, then a
streaming pass that writes the subset.

A strategy that declares a `RankedStream`, a `StratifiedStream` or a `BandStream` (`Strategy.streamed`) runs here:

- `top`, `bottom`, `threshold` with a budget, `random`: the rows kept are a prefix of one order (by importance,
  or by seeded draw for `random`; ties to the lower row) under a count or a token budget. `CutSearch` finds the
  exact cut in a few passes over the score column (a KLL sketch, then exact counts in a narrowing band);
- `threshold` without a budget: every row in range, no search;
- `softmax`: the same prefix cut of the order by importance/τ + the rows' seeded Gumbel noise; `pareto`: the rows
  whose importance + seeded Lomax draw exceeds 1 (NeMo Curator's rule), with a budget the prefix of them by that sum;
- `stratified`/`ccs` with `--keep`: the cut that drops the hardest rows (a top-k), then one pass that counts the
  rows of each stratum (CCS's share of each follows from the counts), and a cut per stratum by seeded draw;
- `band`: two prefix cuts of the ascending raw values, found in the same passes; the rows between them.

Each gives a rule (`RankedRule`, `StratifiedRule`, `BandRule`) that decides the rows chunk by chunk, in row order,
from the score shards alone; the writers take its masks as they read the input (`Dataset.write_selected`). Every
rule keeps exactly the rows the strategy's `select` keeps in memory, and a rule split at row boundaries (`split`)
gives each part what it needs to decide its rows alone (the ties at a cut already taken), so parts can be written in
parallel.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from thresher.errors import OptionError
from thresher.selection import strategies
from thresher.selection.base import BandStream, Budget, RankedStream, StratifiedStream, StreamSpec
from thresher.selection.cut import CutSearch, PrefixCut, apply_cuts
from thresher.selection.draws import gumbel_noise, lomax_noise, row_draws
from thresher.store import ScoreStore
from thresher.types import Direction

if TYPE_CHECKING:
    from thresher.data.readers import Dataset

CHUNK_ROWS = 8192  # rows per chunk when no score column is read (random with --keep)


@dataclass
class Tally:
    """What the masks of a rule kept, counted while they are made."""

    rows: int = 0
    cost: float = 0.0


class KeepRule(Protocol):
    """Decides which rows to keep, chunk by chunk in row order (what the writers consume)."""

    n_rows: int

    def masks(self, start: int = 0, stop: int | None = None, *, tally: Tally | None = None) -> Iterator[np.ndarray]:
        """Boolean chunks covering rows [start, stop), back to back; `tally` adds up the rows kept and their cost."""
        ...

    def split(self, boundaries: Sequence[int]) -> list[KeepRule]:
        """One rule per part [boundaries[i], boundaries[i+1]), each deciding its rows without the others."""
        ...


def kept_rows(rule: KeepRule) -> np.ndarray:
    """The rows a rule keeps, ascending int64 (memory grows with them: for callers that asked for them)."""
    chosen = [np.flatnonzero(mask) + start for start, mask in _with_starts(rule.masks())]
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)


def _with_starts(masks: Iterator[np.ndarray], start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    for mask in masks:
        yield start, mask
        start += mask.size


@dataclass(frozen=True)
class RowsRule:
    """A rule over rows already chosen in memory (the strategies that do not stream, and `--in-memory`)."""

    rows: np.ndarray  # ascending input rows kept
    n_rows: int
    row_costs: np.ndarray | None = None  # the cost of each row kept, aligned with `rows`

    def masks(self, start: int = 0, stop: int | None = None, *, tally: Tally | None = None) -> Iterator[np.ndarray]:
        stop = self.n_rows if stop is None else stop
        for low in range(start, stop, CHUNK_ROWS):
            high = min(low + CHUNK_ROWS, stop)
            mask = np.zeros(high - low, dtype=bool)
            first, last = np.searchsorted(self.rows, [low, high])
            mask[self.rows[first:last] - low] = True
            if tally is not None:
                tally.rows += int(last - first)
                tally.cost += (
                    float(last - first) if self.row_costs is None else float(self.row_costs[first:last].sum())
                )
            yield mask

    def split(self, boundaries: Sequence[int]) -> list[KeepRule]:
        parts: list[KeepRule] = []
        for start, stop in zip(boundaries[:-1], boundaries[1:], strict=True):
            first, last = np.searchsorted(self.rows, [start, stop])
            costs = None if self.row_costs is None else self.row_costs[first:last]
            parts.append(RowsRule(self.rows[first:last], self.n_rows, costs))  # only the part's rows travel
        return parts


@dataclass(frozen=True)
class Chunk:
    """Consecutive rows of the score directory: their positions, --by values and costs (None when not read)."""

    rows: np.ndarray
    values: np.ndarray | None
    costs: np.ndarray | None


@dataclass(frozen=True)
class RowSource:
    """Where a rule reads its rows: the score directory, the --by column and its direction, the cost column."""

    scores: Path
    n_rows: int
    column: str | None = None
    direction: Direction | None = None
    cost_column: str | None = None

    def chunks(self, start: int = 0, stop: int | None = None) -> Iterator[Chunk]:
        """The rows [start, stop) a shard at a time, with the columns the rule reads."""
        stop = self.n_rows if stop is None else stop
        columns = [name for name in (self.column, self.cost_column) if name is not None]
        if not columns:
            for low in range(start, stop, CHUNK_ROWS):
                yield Chunk(np.arange(low, min(low + CHUNK_ROWS, stop), dtype=np.int64), None, None)
            return
        store = ScoreStore.open(self.scores)
        for first, values in store.iter_columns(list(dict.fromkeys(columns)), start=start, stop=stop):
            size = len(next(iter(values.values())))
            yield Chunk(
                np.arange(first, first + size, dtype=np.int64),
                None if self.column is None else np.asarray(values[self.column], dtype=np.float64),
                None if self.cost_column is None else np.asarray(values[self.cost_column], dtype=np.float64),
            )

    def importance(self, chunk: Chunk) -> np.ndarray:
        """The chunk's --by values turned so that higher = more important (as `strategies.importance`)."""
        assert chunk.values is not None
        return -chunk.values if self.direction is Direction.LOWER else chunk.values


def _count_missing(source: RowSource) -> None:
    """`OptionError` like `strategies.importance` when any --by value is NaN (one pass)."""
    missing = sum(int(np.isnan(chunk.values).sum()) for chunk in source.chunks() if chunk.values is not None)
    _raise_missing(missing, source.n_rows)


def _raise_missing(missing: int, rows: int) -> None:
    if missing:
        raise OptionError(f"{missing} of {rows} score values are NaN; fill or filter them before selecting")


@dataclass(frozen=True)
class RankedRule:
    """Keeps the candidates (all rows, or those in range) that a prefix cut of one order keeps."""

    source: RowSource
    spec: RankedStream
    seed: int
    cut: PrefixCut  # key None: every candidate
    tie_spent: float = 0.0  # cost of the rows at the cut key before `start` (the rule of a later part)

    @property
    def n_rows(self) -> int:
        return self.source.n_rows

    def masks(self, start: int = 0, stop: int | None = None, *, tally: Tally | None = None) -> Iterator[np.ndarray]:
        spent = np.array([self.tie_spent])
        for chunk in self.source.chunks(start, stop):
            yield self._mask(chunk, spent, tally)

    def _mask(self, chunk: Chunk, spent: np.ndarray, tally: Tally | None) -> np.ndarray:
        candidates, keys = ranked_candidate_keys(self.source, self.spec, self.seed, chunk)
        mask = np.zeros(chunk.rows.size, dtype=bool)
        costs = None if chunk.costs is None else chunk.costs[candidates]
        mask[candidates] = apply_cuts([self.cut], keys, costs, None, spent)
        if tally is not None:
            tally.rows += int(mask.sum())
            tally.cost += float(mask.sum()) if chunk.costs is None else float(chunk.costs[mask].sum())
        return mask

    def split(self, boundaries: Sequence[int]) -> list[KeepRule]:
        spent = np.array([self.tie_spent])
        parts: list[KeepRule] = []
        for start, stop in zip(boundaries[:-1], boundaries[1:], strict=True):
            parts.append(replace(self, tie_spent=float(spent[0])))
            for chunk in self.source.chunks(start, stop):
                self._mask(chunk, spent, None)
        return parts


def ranked_candidate_keys(
    source: RowSource, spec: RankedStream, seed: int, chunk: Chunk
) -> tuple[np.ndarray, np.ndarray]:
    """Positions within the chunk of the rows the ranked selection may keep (all, those in range, or those the
    Pareto rule keeps), and their keys: ascending key is the order of preference."""
    keys = ranked_keys(source, spec, seed, chunk)
    if spec.order == "pareto":
        candidates = np.flatnonzero(keys < -1.0)  # margin = importance + draw > 1 (strategies.pareto_order)
        return candidates, keys[candidates]
    if not spec.in_range:
        return np.arange(chunk.rows.size), keys
    assert chunk.values is not None
    inside = ~np.isnan(chunk.values)
    if spec.minimum is not None:
        inside &= chunk.values >= spec.minimum
    if spec.maximum is not None:
        inside &= chunk.values <= spec.maximum
    candidates = np.flatnonzero(inside)
    return candidates, keys[candidates]


def ranked_keys(source: RowSource, spec: RankedStream, seed: int, chunk: Chunk) -> np.ndarray:
    """Each row's key: ascending key is the order of preference (`strategies.preference_order`, `softmax_order`,
    `pareto_order`)."""
    if spec.order == "random":
        return row_draws(seed, chunk.rows)
    importance = source.importance(chunk)
    if spec.order == "softmax":
        return strategies.softmax_keys(importance, spec.temperature, gumbel_noise(seed, chunk.rows))
    if spec.order == "pareto":
        return -strategies.pareto_margins(importance, lomax_noise(seed, chunk.rows, spec.alpha)) + 0.0
    # + 0.0 makes -0.0 into 0.0: equal scores are one key, as they are one score in the in-memory sort.
    return (-importance if spec.order == "top" else importance) + 0.0


def stream_ranked(
    source: RowSource, spec: RankedStream, budget: Budget | None, seed: int, **search: int
) -> tuple[RankedRule, int]:
    """The rule of a ranked selection and the passes over the score shards it took to find.

    `search` passes `sketch_k`, `split_ranks` and `max_band` to `CutSearch` (they change the passes, not the rows).
    """
    if budget is None:
        if not spec.filters:
            raise OptionError("a ranked selection needs a budget")
        _count_missing(source)
        return RankedRule(source, spec, seed, PrefixCut(None)), 1
    unit = budget.count is not None
    limit = float(budget.count if budget.count is not None else budget.tokens)  # type: ignore[arg-type]
    search = CutSearch([limit], unit_costs=unit, **search)
    while not search.done:
        this_pass, missing = search.new_pass(), 0
        for chunk in source.chunks():
            if chunk.values is not None:
                missing += int(np.isnan(chunk.values).sum())
                if missing:
                    continue
            candidates, keys = ranked_candidate_keys(source, spec, seed, chunk)
            this_pass.update(keys, None if unit or chunk.costs is None else chunk.costs[candidates])
        if search.passes == 0:
            _raise_missing(missing, source.n_rows)
        search.absorb(this_pass)
    return RankedRule(source, spec, seed, search.cuts[0]), search.passes


@dataclass(frozen=True)
class StratifiedRule:
    """CCS in a stream: rows not cut as the hardest, stratified over [low, high], kept by each stratum's draw cut."""

    source: RowSource
    seed: int
    strata: int
    drop: PrefixCut  # the hardest rows: the prefix of the `top` order this cut keeps
    low: float
    high: float
    stratum_cuts: tuple[PrefixCut, ...]
    drop_spent: float = 0.0
    stratum_spent: tuple[float, ...] = field(default=())

    @property
    def n_rows(self) -> int:
        return self.source.n_rows

    def masks(self, start: int = 0, stop: int | None = None, *, tally: Tally | None = None) -> Iterator[np.ndarray]:
        drop_spent, stratum_spent = self._spent()
        for chunk in self.source.chunks(start, stop):
            mask = self._mask(chunk, drop_spent, stratum_spent)
            if tally is not None:
                tally.rows += int(mask.sum())
                tally.cost += float(mask.sum())
            yield mask

    def _spent(self) -> tuple[np.ndarray, np.ndarray]:
        stratum_spent = np.array(self.stratum_spent or [0.0] * self.strata, dtype=np.float64)
        return np.array([self.drop_spent]), stratum_spent

    def _mask(self, chunk: Chunk, drop_spent: np.ndarray, stratum_spent: np.ndarray) -> np.ndarray:
        candidates, strata = stratified_candidates(
            self.source, chunk, self.drop, drop_spent, self.low, self.high, self.strata
        )
        mask = np.zeros(chunk.rows.size, dtype=bool)
        draws = row_draws(self.seed, chunk.rows[candidates])
        mask[candidates] = apply_cuts(self.stratum_cuts, draws, None, strata, stratum_spent)
        return mask

    def split(self, boundaries: Sequence[int]) -> list[KeepRule]:
        drop_spent, stratum_spent = self._spent()
        parts: list[KeepRule] = []
        for start, stop in zip(boundaries[:-1], boundaries[1:], strict=True):
            parts.append(replace(self, drop_spent=float(drop_spent[0]), stratum_spent=tuple(stratum_spent.tolist())))
            for chunk in self.source.chunks(start, stop):
                self._mask(chunk, drop_spent, stratum_spent)
        return parts


def stratified_candidates(
    source: RowSource,
    chunk: Chunk,
    drop: PrefixCut,
    drop_spent: np.ndarray,
    low: float,
    high: float,
    strata: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions within the chunk of the rows CCS did not drop as the hardest, and the stratum of each."""
    importance = source.importance(chunk)
    dropped = apply_cuts([drop], -importance + 0.0, None, None, drop_spent)
    candidates = np.flatnonzero(~dropped)
    return candidates, strategies.stratum_of(importance[candidates], low, high, strata)


def stream_stratified(
    source: RowSource, spec: StratifiedStream, k: int, seed: int, **search: int
) -> tuple[StratifiedRule, int]:
    """The rule of a CCS selection of k rows and the passes over the score shards it took to find."""
    n = source.n_rows
    # The budget of the drop is set after the first pass, so that NaN scores are refused first, as in memory.
    drop_search, dropped = CutSearch(groups=1, **search), 0
    while not drop_search.done:
        this_pass, missing = drop_search.new_pass(), 0
        for chunk in source.chunks():
            assert chunk.values is not None
            missing += int(np.isnan(chunk.values).sum())
            if not missing:
                this_pass.update(-source.importance(chunk) + 0.0)
        drop_search.absorb(this_pass)
        if drop_search.passes == 1:
            _raise_missing(missing, n)
            dropped = strategies.dropped_count(spec.drop_hardest, n)
            drop_search.set_budgets([float(dropped)])
    drop = drop_search.cuts[0]
    strategies.check_strata(spec.strata)
    left = n - dropped
    # The hardest kept candidate is the first row the drop leaves out; the easiest is the easiest of all.
    low = -float(drop_search.greatest[0]) if left else 0.0
    high = -float(drop.key) if drop.key is not None else low
    if left and not (np.isfinite(low) and np.isfinite(high)):
        raise OptionError(strategies.NOT_FINITE)
    if k > left:
        raise strategies.too_few_candidates(k, left, spec.drop_hardest)

    strata_search = CutSearch(groups=spec.strata, **search)
    while not strata_search.done:
        this_pass, drop_spent = strata_search.new_pass(), np.zeros(1)
        for chunk in source.chunks():
            candidates, strata = stratified_candidates(source, chunk, drop, drop_spent, low, high, spec.strata)
            this_pass.update(row_draws(seed, chunk.rows[candidates]), None, strata)
        strata_search.absorb(this_pass)
        if strata_search.passes == 1:
            # CCS's share of each stratum follows from the strata's sizes, counted by the first pass.
            strata_search.set_budgets(strategies.allocate_strata(strata_search.rows, k).astype(np.float64))
    rule = StratifiedRule(source, seed, spec.strata, drop, low, high, tuple(strata_search.cuts))
    return rule, drop_search.passes + strata_search.passes


@dataclass(frozen=True)
class BandRule:
    """`band` in a stream: the rows the `upper` prefix cut of the ascending raw values keeps and the `lower` one
    does not (ranks [first, stop))."""

    source: RowSource
    lower: PrefixCut
    upper: PrefixCut
    lower_spent: float = 0.0
    upper_spent: float = 0.0

    @property
    def n_rows(self) -> int:
        return self.source.n_rows

    def masks(self, start: int = 0, stop: int | None = None, *, tally: Tally | None = None) -> Iterator[np.ndarray]:
        spent = (np.array([self.lower_spent]), np.array([self.upper_spent]))
        for chunk in self.source.chunks(start, stop):
            mask = self._mask(chunk, spent)
            if tally is not None:
                tally.rows += int(mask.sum())
                tally.cost += float(mask.sum())
            yield mask

    def _mask(self, chunk: Chunk, spent: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        assert chunk.values is not None
        keys = chunk.values + 0.0
        below = apply_cuts([self.lower], keys, None, None, spent[0])
        return apply_cuts([self.upper], keys, None, None, spent[1]) & ~below

    def split(self, boundaries: Sequence[int]) -> list[KeepRule]:
        spent = (np.array([self.lower_spent]), np.array([self.upper_spent]))
        parts: list[KeepRule] = []
        for start, stop in zip(boundaries[:-1], boundaries[1:], strict=True):
            parts.append(replace(self, lower_spent=float(spent[0][0]), upper_spent=float(spent[1][0])))
            for chunk in self.source.chunks(start, stop):
                self._mask(chunk, spent)
        return parts


def stream_band(source: RowSource, spec: BandStream, **search: int) -> tuple[BandRule, int]:
    """The rule of a `band` selection and the passes over the score shards it took: the two prefix cuts (the
    first `first` and the first `stop` rows by ascending value) are searched in the same passes."""
    first, stop = strategies.band_ranks(source.n_rows, spec.low, spec.high, spec.count)
    searches = [CutSearch([float(first)], **search), CutSearch([float(stop)], **search)]
    passes = 0
    while not all(cut_search.done for cut_search in searches):
        running = [cut_search for cut_search in searches if not cut_search.done]
        this_passes, missing = [cut_search.new_pass() for cut_search in running], 0
        for chunk in source.chunks():
            assert chunk.values is not None
            missing += int(np.isnan(chunk.values).sum())
            if not missing:
                for this_pass in this_passes:
                    this_pass.update(chunk.values + 0.0)
        if passes == 0:
            _raise_missing(missing, source.n_rows)
        for cut_search, this_pass in zip(running, this_passes, strict=True):
            cut_search.absorb(this_pass)
        passes += 1
    return BandRule(source, searches[0].cuts[0], searches[1].cuts[0]), passes


def stream_select(
    spec: StreamSpec,
    store: ScoreStore,
    *,
    column: str | None,
    direction: Direction | None,
    cost_column: str | None,
    budget: Budget | None,
    seed: int,
    **search: int,
) -> tuple[KeepRule, int]:
    """The rule of a streamed selection over `store`'s rows, and the passes over its score shards it took.

    `search`: `CutSearch`'s `sketch_k`, `split_ranks`, `max_band` (tests shrink them to force refinement).
    """
    n_rows = store.row_count()
    if n_rows is None:
        raise OptionError(f"{store.root}: no scorer has finished; run `thresher score` first")
    source = RowSource(store.root, n_rows, column=column, direction=direction, cost_column=cost_column)
    if isinstance(spec, StratifiedStream):
        assert budget is not None and budget.count is not None
        return stream_stratified(source, spec, budget.count, seed, **search)
    if isinstance(spec, BandStream):
        return stream_band(source, spec, **search)
    return stream_ranked(source, spec, budget, seed, **search)


def write_rule(
    dataset: Dataset,
    rule: KeepRule,
    out: Path,
    pruned: Path | None = None,
    *,
    rows: tuple[int, int] | None = None,
    out_format: str | None = None,
) -> Tally:
    """Write the rows of `dataset` that `rule` keeps to `out`, and the others to `pruned`; gives what was kept.

    With `rows`, only input rows [start, stop) are written (one part of a parallel write).
    """
    start, stop = rows if rows is not None else (0, rule.n_rows)
    tallies: list[Tally] = []

    def kept_masks() -> Iterator[np.ndarray]:
        # A conversion from JSON Lines reads the mask twice: what was kept is what the last reading counted.
        tallies.append(Tally())
        return rule.masks(start, stop, tally=tallies[-1])

    dataset.write_selected(kept_masks, out, out_format, rows=rows)
    if pruned is not None:
        dataset.write_selected(lambda: (~mask for mask in rule.masks(start, stop)), pruned, out_format, rows=rows)
    return tallies[-1]
