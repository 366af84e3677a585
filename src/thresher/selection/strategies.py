"""Selection strategies: pure functions from score arrays to the row indices to keep.

Every `select_*` function returns the selected row indices as a sorted (ascending) int64 array, so callers
can take rows from the input in their original order. Strategies that rank work on *importance*, a score
turned so that higher means more important (see `importance`); `select_threshold` works on raw values.
`random` and `stratified` draw from a seed through per-row draws (`thresher.selection.draws`): a uniform sample is
the rows with the smallest draws, so the streaming selection (`thresher.selection.streaming`) takes the same rows
without holding them; `ips` draws from a `np.random.Generator` the caller passes in.
"""

from __future__ import annotations

import numbers
from typing import Literal

import numpy as np

from thresher.errors import OptionError
from thresher.selection.draws import draw_order, gumbel_noise, lomax_noise, row_draws
from thresher.types import Direction

PreferenceStrategy = Literal["top", "bottom", "random"]
PREFERENCE_STRATEGIES: tuple[str, ...] = ("top", "bottom", "random")


def importance(values: np.ndarray, direction: Direction | str) -> np.ndarray:
    """Scores turned so that higher means more important, as float64.

    Parameters
    ----------
    values:
        One score per example (1-D).
    direction:
        The score column's `Direction`; `LOWER` values are negated.

    Raises
    ------
    OptionError
        If any value is NaN (the message says how many).
    """
    scores = _as_1d_float(values, "values")
    missing = int(np.isnan(scores).sum())
    if missing:
        raise OptionError(f"{missing} of {scores.size} score values are NaN; fill or filter them before selecting")
    if Direction(direction) is Direction.LOWER:
        return -scores
    return scores.copy()


def preference_order(
    strategy: PreferenceStrategy | str,
    importance: np.ndarray,
    seed: int | None = None,
) -> np.ndarray:
    """All row indices, most preferred first, for the `top`, `bottom` or `random` strategy.

    `top` puts the most important first and `bottom` the least important first, ties going to the lower
    row index; `random` orders the rows by their seeded draws (`draws.draw_order`). Keeping k examples under a
    strategy is the first k of its order, and keeping examples under a token budget is a prefix of it
    (`prefix_within_budget`).
    """
    scores = _as_1d_float(importance, "importance")
    if strategy == "top":
        # Stable sort of the negation keeps lower indices first among equal scores.
        return np.argsort(-scores, kind="stable").astype(np.int64)
    if strategy == "bottom":
        return np.argsort(scores, kind="stable").astype(np.int64)
    if strategy == "random":
        if seed is None:
            raise OptionError("the 'random' strategy needs a seed")
        return draw_order(scores.size, seed)
    raise OptionError(f"unknown strategy {strategy!r}: expected one of {', '.join(PREFERENCE_STRATEGIES)}")


def select_top(importance: np.ndarray, k: int) -> np.ndarray:
    """The k most important rows (ties broken by lower index first), sorted by index."""
    order = preference_order("top", importance)
    _check_k(k, order.size)
    return np.sort(order[:k])


def select_bottom(importance: np.ndarray, k: int) -> np.ndarray:
    """The k least important rows (ties broken by lower index first), sorted by index."""
    order = preference_order("bottom", importance)
    _check_k(k, order.size)
    return np.sort(order[:k])


def select_random(n: int, k: int, seed: int) -> np.ndarray:
    """k of n rows drawn uniformly without replacement, sorted by index.

    The sample is the k rows with the smallest seeded draws (`draws.row_draws`, ties to the lower row), so it
    equals the first k of `preference_order("random", ..., seed)`, and a larger k keeps a superset.
    """
    if n < 0:
        raise OptionError(f"the number of examples cannot be negative (got {n})")
    _check_k(k, n)
    return np.sort(draw_order(n, seed)[:k])


def ips_order(density: np.ndarray, rng: np.random.Generator, *, temperature: float = 1.0) -> np.ndarray:
    """All rows in the order of a weighted draw without replacement with weights ∝ density^(−1/temperature).

    Inverse-propensity sampling (Sachdeva et al. 2024, §3.3): rows in dense regions are drawn less often, rare
    rows more, so the sample covers the embedding space more evenly. The weights are the *inverse* of the
    density, as the paper's text and Theorem A.2 say; the last line of its Algorithm 2 literally reads
    "p = S/ΣS" (proportional to density), an erratum. The draw is the Gumbel-top-k trick (keys = log w + G,
    G ~ Gumbel(0, 1), largest first): any prefix of the order is a k-sample without replacement.
    `temperature` → ∞ tends to uniform sampling; smaller values favour rare rows more.
    """
    scores = _as_1d_float(density, "density")
    if np.isnan(scores).any() or (scores <= 0).any():
        raise OptionError("ips needs a positive density (a kernel sum such as the `density` column) for every row")
    if not temperature > 0:
        raise OptionError(f"ips: temperature must be > 0 (got {temperature}); set it with -p temperature=T")
    keys = -np.log(scores) / temperature + rng.gumbel(size=scores.size)
    return np.argsort(-keys, kind="stable").astype(np.int64)


def select_ips(density: np.ndarray, k: int, rng: np.random.Generator, *, temperature: float = 1.0) -> np.ndarray:
    """k rows drawn without replacement with probability ∝ density^(−1/temperature), sorted by index."""
    order = ips_order(density, rng, temperature=temperature)
    _check_k(k, order.size)
    return np.sort(order[:k])


def softmax_keys(importance: np.ndarray, temperature: float, gumbel: np.ndarray) -> np.ndarray:
    """Each row's key for `softmax` (ascending = preferred): −(importance/τ + Gumbel noise).

    The rows by ascending key are a draw without replacement with P ∝ exp(importance/τ) (Gumbel top-k; the
    sampling of QuRating, Wettig et al. 2024): any prefix of them is such a sample of its size.
    """
    check_temperature("softmax", temperature)
    return -(np.asarray(importance, dtype=np.float64) / temperature + gumbel) + 0.0


def softmax_order(importance: np.ndarray, temperature: float, seed: int) -> np.ndarray:
    """All rows, most preferred first, for `softmax`: ascending `softmax_keys` with the rows' seeded Gumbel noise,
    ties to the lower row."""
    scores = _as_1d_float(importance, "importance")
    keys = softmax_keys(scores, temperature, gumbel_noise(seed, np.arange(scores.size)))
    return np.argsort(keys, kind="stable").astype(np.int64)


def check_temperature(strategy: str, temperature: float) -> None:
    """`OptionError` unless the temperature is a positive, finite number."""
    if not (isinstance(temperature, numbers.Real) and 0 < temperature < np.inf):
        raise OptionError(f"{strategy}: temperature must be > 0 (got {temperature}); set it with -p temperature=T")


def pareto_margins(importance: np.ndarray, lomax: np.ndarray) -> np.ndarray:
    """importance + X for each row, X its Lomax(α) draw: `pareto` keeps a row when this exceeds 1.

    NeMo Curator's fastText quality filter keeps a document when `np.random.pareto(alpha) > 1 - score`
    (`nemo_curator/stages/text/filters/fasttext_filter.py`, `FastTextQualityFilter.keep_document`), that is
    score + X > 1; a larger margin is a row the rule keeps more surely.
    """
    return np.asarray(importance, dtype=np.float64) + lomax


def pareto_order(importance: np.ndarray, alpha: float, seed: int) -> np.ndarray:
    """The rows the Pareto rule keeps, largest margin first (ties to the lower row)."""
    check_alpha(alpha)
    scores = _as_1d_float(importance, "importance")
    margins = pareto_margins(scores, lomax_noise(seed, np.arange(scores.size), alpha))
    candidates = np.flatnonzero(margins > 1.0)
    return candidates[np.argsort(-margins[candidates] + 0.0, kind="stable")].astype(np.int64)


def check_alpha(alpha: float) -> None:
    """`OptionError` unless the Pareto shape is a positive, finite number."""
    if not (isinstance(alpha, numbers.Real) and 0 < alpha < np.inf):
        raise OptionError(f"pareto: alpha must be > 0 (got {alpha}); set it with -p alpha=A")


def band_ranks(n: int, low: float, high: float, count: int | None = None) -> tuple[int, int]:
    """The ranks [first, stop) of the rows (by ascending value, ties to the lower row) that `band` keeps.

    Without `count`: [round(low·n), round(high·n)). With `count` rows to keep: that many, centred on the quantile
    (low + high)/2 — first = round((low + high)/2 · n − count/2), moved into [0, n − count].
    """
    check_band(low, high)
    if count is None:
        return round(low * n), round(high * n)
    _check_k(count, n)
    first = min(max(round((low + high) / 2 * n - count / 2), 0), n - count)
    return first, first + count


def check_band(low: float, high: float) -> None:
    """`OptionError` unless 0 <= low < high <= 1."""
    if not (isinstance(low, numbers.Real) and isinstance(high, numbers.Real) and 0.0 <= low < high <= 1.0):
        raise OptionError(f"band: need 0 <= low < high <= 1 (got low={low}, high={high}); set -p low=L -p high=H")


def select_band(values: np.ndarray, low: float, high: float, count: int | None = None) -> np.ndarray:
    """The rows whose raw value's rank (ascending, ties to the lower row) lies in `band_ranks`, sorted by index.

    Raises
    ------
    OptionError
        If any value is NaN, or the band is not 0 <= low < high <= 1.
    """
    scores = importance(values, Direction.HIGHER)  # refuses NaN, as the streamed band does
    first, stop = band_ranks(scores.size, low, high, count)
    return np.sort(np.argsort(scores + 0.0, kind="stable")[first:stop]).astype(np.int64)


def select_threshold(
    values: np.ndarray,
    minimum: float | None = None,
    maximum: float | None = None,
) -> np.ndarray:
    """Rows whose raw value lies in [minimum, maximum] (either bound may be open), sorted by index.

    NaN values never fall inside the range.

    Raises
    ------
    OptionError
        If both bounds are None, or minimum > maximum.
    """
    check_threshold_bounds(minimum, maximum)
    scores = _as_1d_float(values, "values")
    inside = ~np.isnan(scores)
    if minimum is not None:
        inside &= scores >= minimum
    if maximum is not None:
        inside &= scores <= maximum
    return np.flatnonzero(inside).astype(np.int64)


def check_threshold_bounds(minimum: float | None, maximum: float | None) -> None:
    """`OptionError` unless [minimum, maximum] is a range: at least one bound, and minimum <= maximum."""
    if minimum is None and maximum is None:
        raise OptionError("threshold selection needs a minimum, a maximum or both: -p minimum=X, -p maximum=X")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise OptionError(f"threshold selection: minimum {minimum} is greater than maximum {maximum}")


def assign_strata(importance: np.ndarray, strata: int) -> np.ndarray:
    """The stratum (0 … strata-1) of each score: equal-width bins over [min, max], the last bin closed.

    Bin i holds scores in [min + i·w, min + (i+1)·w) with w = (max - min) / strata, and the maximum goes in
    the last bin. When all scores are equal they all fall in bin 0.
    """
    check_strata(strata)
    scores = _as_1d_float(importance, "importance")
    if scores.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.isfinite(scores).all():
        raise OptionError(NOT_FINITE)
    return stratum_of(scores, float(scores.min()), float(scores.max()), strata)


NOT_FINITE = "stratified selection needs finite scores; some are infinite or NaN"


def check_strata(strata: int) -> None:
    """`OptionError` unless `strata` is a whole number of at least 1."""
    if not isinstance(strata, numbers.Integral) or strata < 1:
        raise OptionError(f"strata must be a whole number of at least 1 (got {strata!r})")


def stratum_of(scores: np.ndarray, low: float, high: float, strata: int) -> np.ndarray:
    """The stratum of each score among `strata` equal-width bins over [low, high] (see `assign_strata`)."""
    if high == low:
        return np.zeros(scores.size, dtype=np.int64)
    position = (scores - low) / (high - low) * strata
    return np.clip(np.floor(position), 0, strata - 1).astype(np.int64)


def allocate_strata(sizes: np.ndarray, k: int) -> np.ndarray:
    """How many of k to take from each stratum, CCS style; returned in the order of `sizes`.

    Strata are visited from smallest to largest (ties by lower stratum first); each takes
    min(size, remaining_budget // remaining_strata), so small strata are kept whole and the rest of the
    budget is spread evenly over the large ones. The allocations sum to k when k <= sum(sizes).
    """
    stratum_sizes = np.asarray(sizes, dtype=np.int64)
    _check_k(k, int(stratum_sizes.sum()))
    allocation = np.zeros(stratum_sizes.size, dtype=np.int64)
    remaining = int(k)
    visit_order = np.argsort(stratum_sizes, kind="stable")
    for visited, stratum in enumerate(visit_order):
        share = remaining // (stratum_sizes.size - visited)
        allocation[stratum] = min(int(stratum_sizes[stratum]), share)
        remaining -= int(allocation[stratum])
    return allocation


def select_stratified(
    importance: np.ndarray,
    k: int,
    seed: int,
    *,
    strata: int = 50,
    drop_hardest: float = 0.0,
) -> np.ndarray:
    """k rows by coverage-centric coreset selection (CCS, Zheng et al. 2023), sorted by index.

    First the `round(drop_hardest * n)` most important ("hardest") rows are dropped (ties by lower index
    first, as in `select_top`). The remaining scores are split into `strata` equal-width bins over their
    [min, max] (`assign_strata`), the budget is spread over the bins (`allocate_strata`), and each bin's
    share is drawn uniformly at random: the rows of the bin with the smallest seeded draws (`draws.row_draws` of
    their positions in `importance`, ties to the lower row).

    Parameters
    ----------
    importance:
        Higher = more important; see `importance`.
    k:
        Number of rows to select; at most the number left after dropping.
    seed:
        The only source of randomness.
    strata:
        Number of equal-width score bins.
    drop_hardest:
        Fraction in [0, 1) of the most important rows to exclude before stratifying (CCS's hard cutoff).

    Raises
    ------
    OptionError
        If k exceeds the rows left after dropping, or an option is out of range.
    """
    candidates, labels = _stratify(importance, strata=strata, drop_hardest=drop_hardest)
    return _sample_strata(candidates, labels, strata, k, seed, drop_hardest=drop_hardest)


def prefix_within_budget(order: np.ndarray, costs: np.ndarray, budget: float) -> np.ndarray:
    """The longest prefix of `order` whose total cost is at most `budget`, as rows sorted by index.

    Parameters
    ----------
    order:
        Row indices, most preferred first (see `preference_order`).
    costs:
        Cost of every row, indexed by row (e.g. its token count); non-negative.
    budget:
        The most the selected rows may cost in total.
    """
    row_costs = _check_costs(costs)
    _check_budget(budget)
    preferred = np.asarray(order, dtype=np.int64)
    if preferred.ndim != 1:
        raise OptionError(f"order must be one-dimensional (got shape {preferred.shape})")
    spent = np.cumsum(row_costs[preferred])
    # Costs are non-negative, so the running total is non-decreasing and the prefix ends where it passes.
    length = int(np.searchsorted(spent, budget, side="right"))
    return np.sort(preferred[:length])


def select_stratified_within_budget(
    importance: np.ndarray,
    costs: np.ndarray,
    budget: float,
    seed: int,
    *,
    strata: int = 50,
    drop_hardest: float = 0.0,
) -> np.ndarray:
    """The CCS selection of the largest size k whose total cost fits in `budget`, sorted by index.

    k is found by binary search over `select_stratified(..., k, seed, ...)`, so the result equals that selection.
    A stratum's share of k+1 need not contain its share of k (the allocation moves), so total cost need not grow
    with k; the search guarantees that the returned selection fits and that the selection of size k+1 does not.
    """
    scores = _as_1d_float(importance, "importance")
    row_costs = _check_costs(costs)
    if row_costs.size != scores.size:
        raise OptionError(f"costs has {row_costs.size} entries but importance has {scores.size}")
    _check_budget(budget)
    candidates, labels = _stratify(scores, strata=strata, drop_hardest=drop_hardest)

    def draw(k: int) -> np.ndarray:
        return _sample_strata(candidates, labels, strata, k, seed, drop_hardest=drop_hardest)

    best = np.zeros(0, dtype=np.int64)
    fits, too_many = 0, candidates.size + 1  # invariant: draw(fits) fits, draw(too_many) does not
    while too_many - fits > 1:
        k = (fits + too_many) // 2
        selection = draw(k)
        if row_costs[selection].sum() <= budget:
            fits, best = k, selection
        else:
            too_many = k
    return best


def _stratify(importance: np.ndarray, *, strata: int, drop_hardest: float) -> tuple[np.ndarray, np.ndarray]:
    """The rows left after dropping the hardest, and the stratum of each, in row order."""
    scores = _as_1d_float(importance, "importance")
    dropped = dropped_count(drop_hardest, scores.size)
    candidates = np.sort(preference_order("top", scores)[dropped:])
    return candidates, assign_strata(scores[candidates], strata)


def dropped_count(drop_hardest: float, n: int) -> int:
    """How many of n rows CCS drops as the hardest: round(drop_hardest · n); `OptionError` unless 0 <= it < 1."""
    if not 0.0 <= drop_hardest < 1.0:
        raise OptionError(f"drop_hardest must be at least 0 and below 1 (got {drop_hardest})")
    return round(drop_hardest * n)


def too_few_candidates(k: int, candidates: int, drop_hardest: float) -> OptionError:
    """The error of asking CCS for more rows than are left after dropping the hardest."""
    return OptionError(
        f"cannot select {k} examples: only {candidates} are left after dropping the hardest {drop_hardest:g} fraction"
    )


def _sample_strata(
    candidates: np.ndarray,
    labels: np.ndarray,
    strata: int,
    k: int,
    seed: int,
    *,
    drop_hardest: float,
) -> np.ndarray:
    if isinstance(k, numbers.Integral) and not isinstance(k, bool) and k > candidates.size:
        raise too_few_candidates(k, candidates.size, drop_hardest)
    allocation = allocate_strata(np.bincount(labels, minlength=strata), k)
    chosen = []
    for stratum, take in enumerate(allocation):
        if take > 0:
            members = candidates[labels == stratum]
            chosen.append(members[np.argsort(row_draws(seed, members), kind="stable")[: int(take)]])
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _as_1d_float(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise OptionError(f"{name} must be one-dimensional (got shape {array.shape})")
    return array


def _check_k(k: int, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k <= n:
        raise OptionError(f"cannot select {k!r} of {n} examples: the number to keep must be between 0 and {n}")


def _check_costs(costs: np.ndarray) -> np.ndarray:
    row_costs = _as_1d_float(costs, "costs")
    if np.isnan(row_costs).any() or (row_costs < 0).any():
        raise OptionError("costs (e.g. token counts) must be non-negative numbers")
    return row_costs


def _check_budget(budget: float) -> None:
    if not budget >= 0:
        raise OptionError(f"--budget-tokens must be non-negative (got {budget})")
