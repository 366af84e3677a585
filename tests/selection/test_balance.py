import numpy as np
import pytest

from thresher.errors import OptionError
from thresher.selection.balance import class_budgets, select_balanced
from thresher.selection.strategies import select_top


def test_class_budgets_are_proportional_and_sum_to_k():
    np.testing.assert_array_equal(class_budgets(np.array([50, 30, 20]), 10), [5, 3, 2])
    np.testing.assert_array_equal(class_budgets(np.array([5, 5, 5]), 4), [2, 1, 1])  # remainder ties: lower first
    budgets = class_budgets(np.array([7, 1, 13, 2]), 9)
    assert budgets.sum() == 9 and (budgets <= [7, 1, 13, 2]).all()
    with pytest.raises(OptionError):
        class_budgets(np.array([2, 2]), 5)


def test_select_balanced_applies_the_strategy_within_each_class():
    labels = np.array(["a", "a", "a", "a", "b", "b", "b", "b", "b", "b"])
    importance = np.array([0.1, 0.9, 0.5, 0.2, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    # A global top 5 takes only class b; shares 4:6 of 5 give a its top 2 and b its top 3.
    chosen = select_balanced(labels, 5, lambda rows, k: select_top(importance[rows], k))
    np.testing.assert_array_equal(chosen, [1, 2, 7, 8, 9])
