"""Class-balanced selection: run a strategy within each class, with a budget proportional to the class's size.

Pruning by a difficulty score can empty rare or hard classes; keeping each class's share of the input keeps the
label distribution of the subset equal to that of the input (up to rounding).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from thresher.errors import OptionError


def class_budgets(class_sizes: np.ndarray, k: int) -> np.ndarray:
    """How many of k to keep from each class: proportional to its size, by largest remainder; sums to k.

    Parameters
    ----------
    class_sizes:
        Number of examples in each class.
    k:
        Total to keep, between 0 and sum(class_sizes).

    Returns
    -------
    int64 array in the order of `class_sizes`; no class gets more than its size. Ties in the remainders go to
    the lower class index.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    total = int(sizes.sum())
    if not 0 <= k <= total:
        raise OptionError(f"cannot select {k} of {total} examples")
    if total == 0:
        return np.zeros_like(sizes)
    exact = sizes * (k / total)
    budgets = np.floor(exact).astype(np.int64)
    remainder_order = np.argsort(-(exact - budgets), kind="stable")
    budgets[remainder_order[: k - int(budgets.sum())]] += 1
    return np.minimum(budgets, sizes)


def class_rows(labels: np.ndarray) -> list[np.ndarray]:
    """The rows of each class (ascending int64), classes in sorted order of their labels."""
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    codes = codes.reshape(-1)
    return [np.flatnonzero(codes == code).astype(np.int64) for code in range(int(codes.max(initial=-1)) + 1)]


def select_balanced(
    labels: np.ndarray,
    k: int,
    select_within: Callable[[np.ndarray, int], np.ndarray],
) -> np.ndarray:
    """k rows chosen class by class, sorted by index.

    Parameters
    ----------
    labels:
        The class of every row (any comparable values), shape (n,).
    k:
        Total number of rows to keep.
    select_within:
        Called as `select_within(rows, budget)` with one class's row indices (ascending) and its budget; returns
        the positions within `rows` to keep (a strategy applied to that class alone).
    """
    rows_of_class = class_rows(labels)
    budgets = class_budgets(np.array([rows.size for rows in rows_of_class], dtype=np.int64), k)
    chosen = [
        rows[np.asarray(select_within(rows, int(budget)), dtype=np.int64)]
        for rows, budget in zip(rows_of_class, budgets, strict=True)
        if budget > 0
    ]
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)
