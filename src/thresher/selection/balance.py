"""Class-balanced selection: run a strategy within each class, with a budget proportional to the class's size.

Pruning by a difficulty score can empty rare or hard classes; keeping each class's share of the input keeps the
label distribution of the subset equal to that of the input (up to rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from thresher.data.fields import LABEL_COLUMN
from thresher.errors import OptionError
from thresher.selection.keep import KeepSpec

if TYPE_CHECKING:
    from thresher.data.readers import Dataset
    from thresher.selection.handlers import Handler, SelectionRequest


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
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    budgets = class_budgets(np.bincount(codes, minlength=classes.size), k)
    chosen = []
    for code, budget in enumerate(budgets):
        if budget == 0:
            continue
        rows = np.flatnonzero(codes == code)
        chosen.append(rows[np.asarray(select_within(rows, int(budget)), dtype=np.int64)])
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def dataset_labels(dataset: Dataset) -> np.ndarray:
    """The label of every row of `dataset`, in input order; `OptionError` when no label field is known."""
    if dataset.fields.label is None:
        raise OptionError("--balance-classes needs labels: give --label-field (or score with one)")
    labels: list[object] = []
    for batch in dataset.iter_examples():
        labels.extend(batch.column(LABEL_COLUMN).to_pylist())
    return np.asarray(labels)


def select_request_balanced(request: SelectionRequest, handler: Handler, labels: np.ndarray) -> np.ndarray:
    """Run a strategy handler class by class on the sub-request of each class (`--balance-classes`)."""
    if request.budget_tokens is not None:
        raise OptionError("--balance-classes works with --keep, not --budget-tokens")
    if labels.size != request.n_rows:
        raise OptionError(f"the input has {labels.size} labels but the scores cover {request.n_rows} rows")

    def within(rows: np.ndarray, budget: int) -> np.ndarray:
        part = replace(
            request,
            n_rows=rows.size,
            values=None if request.values is None else request.values[rows],
            importance=None if request.importance is None else request.importance[rows],
            keep=KeepSpec(count=budget),
        )
        return handler(part)

    return select_balanced(labels, request.keep_count(), within)
