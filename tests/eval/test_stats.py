"""The harness's statistics on scripted results, checked against scipy.stats and published power tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from thresher.eval.stats import (
    BETTER,
    UNDECIDED,
    UNTESTED,
    WORSE,
    compare_paired,
    compute_to_target,
    mean_interval,
    paired_differences,
    paired_t_pvalue,
    seeds_for_power,
    sign_flip_pvalue,
)

SCRIPTED = [
    # (method's values by seed, baseline's values by seed)
    ({0: 0.70, 1: 0.70, 2: 0.72}, {0: 0.65, 1: 0.66, 2: 0.66}),
    ({0: 4.10, 1: 4.31, 2: 4.02, 3: 4.25, 4: 4.18}, {0: 4.20, 1: 4.22, 2: 4.19, 3: 4.30, 4: 4.21}),
    ({3: 1.0, 4: 2.5, 5: 0.2, 6: 1.1, 7: 0.9, 8: 1.7}, {3: 0.1, 4: 0.4, 5: 0.5, 6: 0.3, 7: 0.0, 8: 0.2}),
]


@pytest.mark.parametrize("values", [[0.61, 0.64, 0.58], [4.2, 4.5], np.linspace(0.1, 0.9, 7).tolist()])
def test_mean_interval_is_scipys_t_interval(values):
    interval = mean_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert interval.mean == pytest.approx(np.mean(values))
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))
    assert interval.sd == pytest.approx(np.std(values, ddof=1)) and interval.n == len(values)


def test_one_seed_has_a_mean_and_no_interval():
    interval = mean_interval([0.5])
    assert (interval.mean, interval.low, interval.high, interval.sd, interval.n) == (0.5, None, None, None, 1)
    with pytest.raises(ValueError):
        mean_interval([])


@pytest.mark.parametrize(("method", "baseline"), SCRIPTED)
def test_paired_t_and_sign_flip_match_scipy(method, baseline):
    seeds, differences = paired_differences(method, baseline)
    assert seeds == sorted(method)
    a, b = [method[seed] for seed in seeds], [baseline[seed] for seed in seeds]
    assert paired_t_pvalue(differences) == pytest.approx(stats.ttest_rel(a, b).pvalue)
    # scipy's exact test over every sign pattern of the pairs ("samples": each pair's two values may swap).
    exact = stats.permutation_test(
        (a, b), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=np.inf, vectorized=False
    )
    assert sign_flip_pvalue(differences) == pytest.approx(exact.pvalue)


def test_pairs_are_matched_by_seed_and_seeds_only_one_side_has_are_dropped():
    seeds, differences = paired_differences({0: 3.0, 1: 5.0, 2: 9.0}, {2: 1.0, 1: 2.0, 7: 0.0})
    assert seeds == [1, 2] and differences.tolist() == [3.0, 8.0]


def test_sign_flip_floor_and_degenerate_differences():
    # With n seeds that all agree, the observed pattern and its mirror are the two most extreme of 2^n.
    assert [sign_flip_pvalue([0.1] * n) for n in (1, 3, 5, 6)] == [1.0, 0.25, 0.0625, 0.03125]
    assert sign_flip_pvalue([]) is None and sign_flip_pvalue([0.1] * 17) is None
    assert paired_t_pvalue([0.2]) is None
    assert paired_t_pvalue([0.2, 0.2, 0.2]) == 0.0  # every seed agrees exactly
    assert paired_t_pvalue([0.0, 0.0]) == 1.0  # identical runs


@pytest.mark.parametrize(
    ("effect", "seeds"),
    # One-sample / paired t-test, two-sided α = 0.05, power 0.8 (G*Power; Cohen 1988 Table 2.4.1).
    [(0.2, 199), (0.5, 34), (0.8, 15), (1.0, 10)],
)
def test_seeds_for_power_matches_the_power_tables(effect, seeds):
    assert seeds_for_power(effect * 0.03, 0.03) == seeds
    assert seeds_for_power(-effect, 1.0) == seeds  # the direction does not matter


def test_seeds_for_power_reaches_the_power_it_promises():
    needed = seeds_for_power(0.02, 0.05)  # d = 0.4
    assert needed is not None
    critical = stats.t.ppf(0.975, needed - 1)
    power = stats.nct.sf(critical, needed - 1, 0.4 * math.sqrt(needed))
    fewer = stats.nct.sf(stats.t.ppf(0.975, needed - 2), needed - 2, 0.4 * math.sqrt(needed - 1))
    assert power >= 0.8 > fewer
    assert needed >= ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / 0.4) ** 2  # at least the normal approximation
    assert seeds_for_power(0.0, 0.1) is None and seeds_for_power(0.1, 0.0) == 2
    assert seeds_for_power(1e-6, 1.0) is None  # more than any affordable number of seeds


def test_verdicts_follow_the_paired_t_test_and_the_metric_direction():
    method, baseline = SCRIPTED[0]  # every seed higher by 0.04-0.06: p ≈ 0.013
    assert compare_paired(method, baseline, higher_is_better=True, baseline_name="random").verdict == BETTER
    lower = compare_paired(method, baseline, higher_is_better=False, baseline_name="random")
    assert lower.verdict == WORSE and lower.seeds_needed is None
    # The t-test decides even where the sign-flip test cannot (0.25 is its floor with 3 seeds).
    assert lower.p_value < 0.05 and lower.p_sign_flip == 0.25
    undecided = compare_paired(*SCRIPTED[1], higher_is_better=False, baseline_name="full")
    seeds, differences = paired_differences(*SCRIPTED[1])
    assert undecided.verdict == UNDECIDED and undecided.baseline == "full" and undecided.seeds == 5
    assert undecided.seeds_needed == seeds_for_power(differences.mean(), differences.std(ddof=1))
    assert undecided.seeds_needed > 5
    low, high = stats.t.interval(0.95, 4, loc=differences.mean(), scale=stats.sem(differences))
    assert (undecided.low, undecided.high) == (pytest.approx(low), pytest.approx(high))
    one = compare_paired({0: 1.0}, {0: 0.5, 1: 0.4}, higher_is_better=True, baseline_name="full")
    assert one.verdict == UNTESTED and one.seeds == 1 and one.mean_difference == 0.5 and one.p_value is None
    none = compare_paired({0: 1.0}, {1: 0.5}, higher_is_better=True, baseline_name="full")
    assert none.verdict == UNTESTED and none.seeds == 0 and none.mean_difference is None


def test_compute_to_target_on_scripted_curves():
    tokens = [100, 200, 300, 400]
    # Lower is better: 5.0 → 4.0 → 3.5 → 3.4; 3.75 is crossed halfway between 200 and 300 tokens.
    assert compute_to_target(tokens, [5.0, 4.0, 3.5, 3.4], 3.75, higher_is_better=False) == pytest.approx(250.0)
    assert compute_to_target(tokens, [5.0, 4.0, 3.5, 3.4], 3.5, higher_is_better=False) == 300.0  # reached exactly
    assert compute_to_target(tokens, [5.0, 4.0, 3.5, 3.4], 3.3, higher_is_better=False) is None  # not reached
    assert compute_to_target(tokens, [3.0, 3.2, 2.9, 2.8], 3.1, higher_is_better=False) == 100.0  # at the first point
    # Higher is better; the first crossing counts even if the curve falls back later.
    assert compute_to_target(tokens, [0.2, 0.6, 0.5, 0.9], 0.4, higher_is_better=True) == pytest.approx(150.0)
    with pytest.raises(ValueError):
        compute_to_target([1, 2], [0.5], 0.4, higher_is_better=True)
