"""ROC-AUC and Spearman against scikit-learn's and scipy's, ties included."""

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import roc_auc_score

from thresher.ops.agreement import average_ranks, roc_auc, spearman


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_equals_scikit_learns_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=200).astype(float)  # few distinct values: many ties
    positive = rng.random(200) < 0.3 + 0.1 * (scores / 5)
    assert roc_auc(scores, positive) == pytest.approx(roc_auc_score(positive, scores), abs=1e-12)


def test_roc_auc_of_a_perfect_and_a_reversed_ranking():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.95])
    positive = np.array([False, False, False, True, True])
    assert roc_auc(scores, positive) == 1.0
    assert roc_auc(-scores, positive) == 0.0


def test_roc_auc_is_nan_with_one_class():
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([True, True])))


@pytest.mark.parametrize("seed", [0, 1])
def test_spearman_and_ranks_equal_scipys_with_ties(seed):
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 10, size=300).astype(float)
    second = first + rng.normal(0, 3, size=300).round()
    np.testing.assert_array_equal(average_ranks(first), rankdata(first))
    assert spearman(first, second) == pytest.approx(spearmanr(first, second).statistic, abs=1e-12)


def test_spearman_is_nan_for_a_constant():
    assert np.isnan(spearman(np.ones(5), np.arange(5.0)))
