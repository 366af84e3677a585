"""The harness's statistics: per-cell intervals, paired tests against random and full data, seeds for 80 % power,
and compute-to-target. Pure functions over arrays; no runs, files or models.

Runs are paired by seed: seed i of every method shares the target's initialisation and the seeded order of the
training rows (`thresher.eval.order`), so the difference of two methods at one seed holds less seed noise than two
independent runs would. The tests are on those per-seed differences, method minus baseline:

- the **paired t-test** (two-sided, n − 1 degrees of freedom) decides: a method beats (or loses to) the baseline
  when p < α = 0.05 and the mean difference points the better (worse) way;
- the **exact sign-flip permutation test** (all 2ⁿ sign patterns of the differences; p = the share whose |mean| is
  at least the observed one) is shown beside it, as a check that assumes no normality. Its smallest possible p is
  2 / 2ⁿ — 0.25 with 3 seeds, 0.0625 with 5 — so below 6 seeds it cannot reach 0.05 and cannot be what decides.

When the t-test does not decide, `seeds_for_power` says how many paired seeds would give it 80 % power at α = 0.05
if the true mean difference and spread were the observed ones (noncentral t; about 7.85 / d² + 2 for an effect
size d = |mean| / sd of the differences).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ALPHA = 0.05
CONFIDENCE = 0.95
POWER = 0.8
MAX_EXACT_SIGN_FLIP = 16  # seeds up to which the sign-flip test enumerates all 2ⁿ patterns (65,536)
MAX_SEEDS = 10_000  # seeds_for_power gives None beyond this: no affordable number of seeds would decide

BETTER, WORSE, UNDECIDED, UNTESTED = "better", "worse", "undecided", "untested"


@dataclass(frozen=True)
class Interval:
    """A mean over seeds with its two-sided t-interval (None with fewer than two values) and standard deviation."""

    mean: float
    low: float | None
    high: float | None
    sd: float | None
    n: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean of `values` and its t-interval: mean ± t(1 − (1 − confidence)/2, n − 1) · sd / √n, sd with n − 1."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise ValueError("mean_interval needs at least one value")
    mean = float(array.mean())
    if array.size < 2:
        return Interval(mean, None, None, None, int(array.size))
    from scipy import stats

    sd = float(array.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, array.size - 1)) * sd / math.sqrt(array.size)
    return Interval(mean, mean - half, mean + half, sd, int(array.size))


def paired_differences(values: Mapping[int, float], baseline: Mapping[int, float]) -> tuple[list[int], np.ndarray]:
    """(the seeds both have, ascending; `values[seed] − baseline[seed]` for each)."""
    seeds = sorted(set(values) & set(baseline))
    return seeds, np.array([values[seed] - baseline[seed] for seed in seeds], dtype=np.float64)


def paired_t_pvalue(differences: Sequence[float]) -> float | None:
    """Two-sided p-value of the paired t-test that the mean difference is zero; None with fewer than two.

    Differences that are all equal have no spread: p is 0 when they are not zero (every seed agrees exactly) and 1
    when they are (the runs are identical), where the t statistic itself is undefined.
    """
    array = np.asarray(differences, dtype=np.float64)
    if array.size < 2:
        return None
    mean, sd = float(array.mean()), float(array.std(ddof=1))
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return 0.0 if abs(mean) > 0.0 else 1.0
    from scipy import stats

    statistic = mean / (sd / math.sqrt(array.size))
    return float(2.0 * stats.t.sf(abs(statistic), array.size - 1))


def sign_flip_pvalue(differences: Sequence[float]) -> float | None:
    """Exact two-sided p-value of the sign-flip permutation test: the share of the 2ⁿ sign patterns whose |mean| is
    at least the observed |mean|. None with no differences or more than `MAX_EXACT_SIGN_FLIP` of them."""
    array = np.asarray(differences, dtype=np.float64)
    if array.size == 0 or array.size > MAX_EXACT_SIGN_FLIP:
        return None
    observed = abs(float(array.sum()))
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=array.size)))
    sums = np.abs(signs @ array)
    # A relative tolerance so that the observed pattern and its mirror count despite summation order.
    tolerance = 1e-9 * max(1.0, float(np.abs(array).sum()))
    return float(np.mean(sums >= observed - tolerance))


def seeds_for_power(
    mean_difference: float, sd_difference: float, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """The fewest paired seeds for which a two-sided paired t-test at `alpha` has `power` when the true mean
    difference and standard deviation of the differences are the given ones.

    power(n) = P(|T| > t(1 − α/2, n − 1)) for T noncentral t with n − 1 degrees of freedom and noncentrality
    d·√n, d = |mean| / sd. Gives 2 when sd is 0 and the mean is not (any two agreeing seeds decide), None when the
    mean difference is 0 (no number of seeds would show a difference) or more than `MAX_SEEDS` would be needed.
    """
    if mean_difference == 0.0 or not math.isfinite(mean_difference):
        return None
    if sd_difference <= 0.0:
        return 2
    from scipy import stats

    effect = abs(mean_difference) / sd_difference
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    # The normal approximation never asks for more seeds than the t-test needs, so the search starts there.
    seeds = max(2, math.floor((z / effect) ** 2))
    while seeds <= MAX_SEEDS:
        critical = stats.t.ppf(1 - alpha / 2, seeds - 1)
        noncentrality = effect * math.sqrt(seeds)
        achieved = stats.nct.sf(critical, seeds - 1, noncentrality) + stats.nct.cdf(
            -critical, seeds - 1, noncentrality
        )
        if achieved >= power:
            return seeds
        seeds += 1
    return None


@dataclass(frozen=True)
class Comparison:
    """A method against a baseline (random at the same keep ratio, or full data), paired by seed.

    `mean_difference` is method − baseline in the metric's units, `low`/`high` its 95 % t-interval; `verdict` is
    `better` / `worse` (paired t-test p < α, in the metric's better / worse direction), `undecided`, or `untested`
    (fewer than two paired seeds); `seeds_needed` is set when undecided (`seeds_for_power`).
    """

    baseline: str
    seeds: int
    mean_difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    p_sign_flip: float | None
    verdict: str
    seeds_needed: int | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def compare_paired(
    values: Mapping[int, float],
    baseline: Mapping[int, float],
    *,
    higher_is_better: bool,
    baseline_name: str,
    alpha: float = ALPHA,
) -> Comparison:
    """The paired comparison of a method's per-seed values with a baseline's (both keyed by seed)."""
    seeds, differences = paired_differences(values, baseline)
    if differences.size == 0:
        return Comparison(baseline_name, 0, None, None, None, None, None, UNTESTED, None)
    interval = mean_interval(differences)
    p_value = paired_t_pvalue(differences)
    p_sign_flip = sign_flip_pvalue(differences)
    if p_value is None:
        return Comparison(baseline_name, 1, interval.mean, None, None, None, p_sign_flip, UNTESTED, None)
    verdict, needed = UNDECIDED, None
    if p_value < alpha:
        verdict = BETTER if (interval.mean > 0) == higher_is_better else WORSE
    else:
        needed = seeds_for_power(interval.mean, interval.sd or 0.0, alpha)
    return Comparison(
        baseline_name, len(seeds), interval.mean, interval.low, interval.high, p_value, p_sign_flip, verdict, needed
    )


def compute_to_target(
    compute: Sequence[float], values: Sequence[float], target: float, *, higher_is_better: bool
) -> float | None:
    """The compute at which a checkpointed curve first reaches `target`, or None if it never does.

    `compute` (ascending: steps, tokens or examples seen) and `values` are the run's checkpoints. Between the last
    checkpoint short of the target and the first that reaches it, the curve is taken as linear; a curve that
    reaches the target at its first checkpoint gives that checkpoint's compute (nothing earlier was measured).
    """
    x = np.asarray(compute, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("compute and values must be one-dimensional and of the same length")
    reached = y >= target if higher_is_better else y <= target
    if not reached.any():
        return None
    first = int(np.argmax(reached))
    if first == 0:
        return float(x[0])
    before, after = y[first - 1], y[first]
    share = (target - before) / (after - before)  # after reaches the target and before does not, so after != before
    return float(x[first - 1] + share * (x[first] - x[first - 1]))
