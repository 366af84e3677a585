import numpy as np
import pytest

from thresher.errors import OptionError
from thresher.scorers.base import Direction
from thresher.selection.strategies import (
    allocate_strata,
    assign_strata,
    importance,
    preference_order,
    prefix_within_budget,
    select_bottom,
    select_random,
    select_stratified,
    select_stratified_within_budget,
    select_threshold,
    select_top,
)

SCORES = np.array([0.5, 3.0, -1.0, 3.0, 2.0, 0.0, 7.5, 2.0])


def assert_indices(actual, expected):
    assert actual.dtype == np.int64
    np.testing.assert_array_equal(actual, np.asarray(expected, dtype=np.int64))


# importance and direction


def test_importance_keeps_higher_and_negates_lower():
    np.testing.assert_array_equal(importance(SCORES, Direction.HIGHER), SCORES)
    np.testing.assert_array_equal(importance(SCORES, Direction.LOWER), -SCORES)
    np.testing.assert_array_equal(importance(SCORES, "lower_is_more_important"), -SCORES)


def test_importance_rejects_nan_and_says_how_many():
    values = np.array([1.0, np.nan, 2.0, np.nan])
    with pytest.raises(OptionError, match="2 of 4"):
        importance(values, Direction.HIGHER)


def test_importance_does_not_alias_its_input():
    values = SCORES.copy()
    importance(values, Direction.HIGHER)[0] = 99.0
    assert values[0] == 0.5


def test_direction_decides_which_end_is_top():
    # Lower-is-more-important (e.g. perplexity): the top 2 are the 2 lowest raw values.
    assert_indices(select_top(importance(SCORES, Direction.LOWER), 2), [2, 5])
    assert_indices(select_top(importance(SCORES, Direction.HIGHER), 2), [1, 6])


# top / bottom


def test_select_top_exact_with_ties_going_to_lower_index():
    # 7.5 (row 6), then the tie 3.0 at rows 1 and 3, then the tie 2.0 at rows 4 and 7.
    assert_indices(select_top(SCORES, 1), [6])
    assert_indices(select_top(SCORES, 2), [1, 6])
    assert_indices(select_top(SCORES, 4), [1, 3, 4, 6])
    assert_indices(select_top(SCORES, 5), [1, 3, 4, 6, 7])
    assert_indices(select_top(SCORES, 0), [])
    assert_indices(select_top(SCORES, 8), range(8))


def test_select_bottom_exact_with_ties_going_to_lower_index():
    assert_indices(select_bottom(SCORES, 3), [0, 2, 5])
    assert_indices(select_bottom(SCORES, 4), [0, 2, 4, 5])
    ties = np.array([1.0, 1.0, 1.0, 0.0])
    assert_indices(select_bottom(ties, 2), [0, 3])
    assert_indices(select_top(ties, 2), [0, 1])


@pytest.mark.parametrize("k", [-1, 9, 2.5, True])
def test_top_and_bottom_reject_bad_k(k):
    with pytest.raises(OptionError):
        select_top(SCORES, k)
    with pytest.raises(OptionError):
        select_bottom(SCORES, k)


def test_preference_order_top_and_bottom():
    assert_indices(preference_order("top", SCORES), [6, 1, 3, 4, 7, 0, 5, 2])
    assert_indices(preference_order("bottom", SCORES), [2, 5, 0, 4, 7, 1, 3, 6])


def test_preference_order_rejects_unknown_strategy_and_random_without_generator():
    with pytest.raises(OptionError, match="unknown strategy"):
        preference_order("middle", SCORES)
    with pytest.raises(OptionError):
        preference_order("random", SCORES)


# random


def test_select_random_is_reproducible_under_a_seed():
    first = select_random(1000, 50, 7)
    again = select_random(1000, 50, 7)
    other = select_random(1000, 50, 8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.dtype == np.int64
    assert np.all(np.diff(first) > 0)  # sorted and unique
    assert first.min() >= 0 and first.max() < 1000


def test_select_random_is_a_prefix_of_the_random_preference_order():
    order = preference_order("random", np.zeros(100), 3)
    assert sorted(order.tolist()) == list(range(100))
    np.testing.assert_array_equal(select_random(100, 10, 3), np.sort(order[:10]))


def test_select_random_edges():
    assert_indices(select_random(5, 5, 0), range(5))
    assert_indices(select_random(5, 0, 0), [])
    with pytest.raises(OptionError):
        select_random(5, 6, 0)


# threshold


def test_select_threshold_uses_raw_inclusive_bounds():
    assert_indices(select_threshold(SCORES, minimum=2.0, maximum=3.0), [1, 3, 4, 7])
    assert_indices(select_threshold(SCORES, minimum=2.0), [1, 3, 4, 6, 7])
    assert_indices(select_threshold(SCORES, maximum=0.0), [2, 5])
    assert_indices(select_threshold(SCORES, minimum=100.0), [])


def test_select_threshold_never_selects_nan():
    assert_indices(select_threshold(np.array([1.0, np.nan, 2.0]), maximum=5.0), [0, 2])


def test_select_threshold_needs_a_consistent_bound():
    with pytest.raises(OptionError):
        select_threshold(SCORES)
    with pytest.raises(OptionError):
        select_threshold(SCORES, minimum=3.0, maximum=1.0)


# stratified (CCS)


def scripted_strata_scores():
    """Scores in four equal-width bins over [0, 4] with 2, 5, 100 and 100 members."""
    rng = np.random.default_rng(0)
    scores = np.concatenate(
        [
            [0.0, 0.5],  # bin 0 (holds the minimum)
            [1.1, 1.2, 1.3, 1.4, 1.5],  # bin 1
            rng.uniform(2.05, 2.95, 100),  # bin 2
            np.append(rng.uniform(3.05, 3.95, 99), 4.0),  # bin 3 (holds the maximum, closed on the right)
        ]
    )
    permutation = rng.permutation(scores.size)  # rows of a stratum are not contiguous
    return scores[permutation], np.repeat([0, 1, 2, 3], [2, 5, 100, 100])[permutation]


def test_assign_strata_equal_width_bins_with_the_maximum_in_the_last():
    scores, expected_bins = scripted_strata_scores()
    assert_indices(assign_strata(scores, 4), expected_bins)
    assert_indices(assign_strata(np.array([0.0, 1.0, 2.0, 3.0, 4.0]), 4), [0, 1, 2, 3, 3])
    assert_indices(assign_strata(np.array([5.0, 5.0, 5.0]), 4), [0, 0, 0])


def test_allocate_strata_visits_smallest_first_and_spreads_the_rest():
    # Ascending sizes 2, 5, 100, 100 with k = 40: 40//4=10 -> 2; 38//3=12 -> 5; 33//2=16 -> 16; 17//1 -> 17.
    assert_indices(allocate_strata(np.array([2, 5, 100, 100]), 40), [2, 5, 16, 17])
    # Allocations are reported in the strata's own order, not in visiting order.
    assert_indices(allocate_strata(np.array([100, 5, 100, 2]), 40), [16, 5, 17, 2])
    # Empty strata take nothing but still count as visited.
    assert_indices(allocate_strata(np.array([0, 10, 0, 10]), 6), [0, 3, 0, 3])
    assert_indices(allocate_strata(np.array([2, 5, 100, 100]), 207), [2, 5, 100, 100])


def test_allocate_strata_always_sums_to_k():
    rng = np.random.default_rng(1)
    for _ in range(200):
        sizes = rng.integers(0, 30, size=rng.integers(1, 12))
        k = int(rng.integers(0, sizes.sum() + 1))
        allocation = allocate_strata(sizes, k)
        assert allocation.sum() == k
        assert np.all(allocation <= sizes) and np.all(allocation >= 0)


def test_select_stratified_takes_the_ccs_allocation_from_each_stratum():
    scores, bins = scripted_strata_scores()
    selected = select_stratified(scores, 40, 0, strata=4)
    assert selected.dtype == np.int64
    assert selected.size == 40
    assert np.all(np.diff(selected) > 0)  # sorted, every row once
    np.testing.assert_array_equal(np.bincount(bins[selected], minlength=4), [2, 5, 16, 17])


def test_select_stratified_is_reproducible_under_a_seed():
    scores, _ = scripted_strata_scores()
    first = select_stratified(scores, 40, 11, strata=4)
    again = select_stratified(scores, 40, 11, strata=4)
    other = select_stratified(scores, 40, 12, strata=4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_select_stratified_drop_hardest_removes_the_top_fraction():
    scores = np.arange(100, dtype=np.float64)[::-1].copy()  # row i has score 99 - i: rows 0..9 are hardest
    selected = select_stratified(scores, 90, 0, strata=5, drop_hardest=0.1)
    assert_indices(selected, range(10, 100))
    fewer = select_stratified(scores, 30, 0, strata=5, drop_hardest=0.1)
    assert fewer.size == 30 and fewer.min() >= 10
    assert len(set(fewer.tolist())) == 30
    # The strata are rebuilt over the remaining range [0, 89]: five bins of 18, six taken from each.
    np.testing.assert_array_equal(np.bincount((99 - fewer) // 18, minlength=5), [6, 6, 6, 6, 6])


def test_select_stratified_rejects_k_beyond_what_is_left():
    scores = np.arange(10, dtype=np.float64)
    with pytest.raises(OptionError, match="only 8 are left"):
        select_stratified(scores, 9, 0, strata=3, drop_hardest=0.2)
    with pytest.raises(OptionError):
        select_stratified(scores, 3, 0, strata=0)
    with pytest.raises(OptionError):
        select_stratified(scores, 3, 0, drop_hardest=1.0)


# token budgets


def test_prefix_within_budget_is_the_longest_affordable_prefix():
    costs = np.array([10, 40, 5, 30, 20])
    order = np.array([3, 0, 4, 1, 2])  # cumulative cost 30, 40, 60, 100, 105
    assert_indices(prefix_within_budget(order, costs, 60), [0, 3, 4])
    assert_indices(prefix_within_budget(order, costs, 59), [0, 3])
    assert_indices(prefix_within_budget(order, costs, 29), [])
    assert_indices(prefix_within_budget(order, costs, 1000), range(5))
    # A prefix stops at the first row that does not fit, even if a later, cheaper one would.
    assert_indices(prefix_within_budget(order, costs, 99), [0, 3, 4])


def test_budget_selection_is_a_prefix_of_the_top_order():
    scores = np.array([1.0, 5.0, 3.0, 4.0])
    costs = np.array([100, 60, 10, 50])
    # top order: rows 1 (60), 3 (50), 2 (10), 0 (100)
    assert_indices(prefix_within_budget(preference_order("top", scores), costs, 120), [1, 2, 3])
    assert_indices(prefix_within_budget(preference_order("bottom", scores), costs, 120), [0, 2])


def test_prefix_within_budget_rejects_negative_costs_and_budget():
    with pytest.raises(OptionError):
        prefix_within_budget(np.array([0, 1]), np.array([1, -1]), 10)
    with pytest.raises(OptionError):
        prefix_within_budget(np.array([0, 1]), np.array([1, 1]), -1)


def test_stratified_within_budget_fits_and_is_maximal():
    scores, _ = scripted_strata_scores()
    costs = np.random.default_rng(5).integers(10, 500, size=scores.size)
    budget = 12_000
    selected = select_stratified_within_budget(scores, costs, budget, 3, strata=4)
    k = selected.size
    assert 0 < k < scores.size
    assert costs[selected].sum() <= budget
    # It is exactly the seeded CCS selection of size k, and the seeded selection of size k + 1 does not fit.
    np.testing.assert_array_equal(selected, select_stratified(scores, k, 3, strata=4))
    bigger = select_stratified(scores, k + 1, 3, strata=4)
    assert costs[bigger].sum() > budget


def test_stratified_within_budget_with_uniform_costs_keeps_budget_over_cost_rows():
    scores, _ = scripted_strata_scores()
    costs = np.full(scores.size, 100)
    selected = select_stratified_within_budget(scores, costs, 4_099, 0, strata=4, drop_hardest=0.1)
    assert selected.size == 40
    assert_indices(selected, select_stratified(scores, 40, 0, strata=4, drop_hardest=0.1))
    everything = select_stratified_within_budget(scores, costs, 10**9, 0, strata=4, drop_hardest=0.1)
    assert everything.size == scores.size - round(0.1 * scores.size)
    assert select_stratified_within_budget(scores, costs, 99, 0, strata=4).size == 0
