"""How well one score agrees with another: ROC-AUC against a binary split, Spearman rank correlation.

Pure numpy, ties given their average rank (as scikit-learn's `roc_auc_score` and scipy's `spearmanr` do), so that
`thresher distill` measures a student against its teacher without a model or a file in sight.
"""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, tied values sharing the mean of their ranks. Shapes: (n,) in, (n,) float64 out."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"average_ranks: expected a 1-D array, got shape {values.shape}")
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ordered) != 0) + 1])
    ends = np.concatenate([starts[1:], [len(values)]])
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half): the ROC-AUC.

    Computed as the Mann-Whitney U statistic over average ranks. NaN when either class is empty.

    Shapes: `scores` (n,) float, `positive` (n,) bool.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    if scores.shape != positive.shape or scores.ndim != 1:
        raise ValueError(f"roc_auc: scores {scores.shape} and positive {positive.shape} must be equal 1-D shapes")
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    rank_sum = float(average_ranks(scores)[positive].sum())
    return (rank_sum - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative)


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's correlation of the average ranks. NaN when either is constant.

    Shapes: (n,) and (n,).
    """
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"spearman: shapes {first.shape} and {second.shape} must be equal and 1-D")
    if len(first) < 2:
        return float("nan")
    ranks_first = average_ranks(first) - (len(first) + 1) / 2.0
    ranks_second = average_ranks(second) - (len(second) + 1) / 2.0
    denominator = float(np.sqrt((ranks_first**2).sum() * (ranks_second**2).sum()))
    if denominator == 0.0:
        return float("nan")
    return float((ranks_first * ranks_second).sum() / denominator)
