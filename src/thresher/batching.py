"""Length-sorted token-budget batches: rows of similar length share a batch, so little compute goes to padding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def token_budget_batches(
    lengths: Sequence[int] | np.ndarray, batch_tokens: int, *, max_row_padding: float = 1.0
) -> list[np.ndarray]:
    """Group row indices, longest first, into batches whose padded size `n_rows × longest_row` fits `batch_tokens`.

    A row longer than the budget forms a batch of its own. The sort is stable, so rows of equal length keep
    their input order (and the batches are deterministic).

    Args:
        lengths: length of each row (tokens).
        batch_tokens: padded-token budget of one batch (>= 1).
        max_row_padding: a row joins a batch only if padding it to the batch's longest row adds at most this
            share of that length, which bounds the padding fraction of every batch (1.0: no bound). On a CPU,
            where small batches run nearly as fast per token as large ones, a bound of ~0.25 pays; on a GPU,
            with many examples per call, full budgets matter more.

    Returns:
        Arrays of row indices (int64), one per batch, in the order to run them.
    """
    if batch_tokens < 1:
        raise ValueError(f"batch_tokens must be >= 1, got {batch_tokens}")
    if not 0.0 <= max_row_padding <= 1.0:
        raise ValueError(f"max_row_padding must be in [0, 1], got {max_row_padding}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    batches: list[np.ndarray] = []
    begin = 0
    while begin < len(order):
        longest = max(int(sorted_lengths[begin]), 1)
        n_rows = max(1, batch_tokens // longest)
        # Rows are sorted descending, so the rows short enough to break the padding bound form a suffix.
        shortest_allowed = longest * (1.0 - max_row_padding)
        n_within_bound = int(np.searchsorted(-sorted_lengths[begin:], -shortest_allowed, side="right"))
        n_rows = max(1, min(n_rows, n_within_bound))
        batches.append(order[begin : begin + n_rows])
        begin += n_rows
    return batches


def padding_fraction(lengths: Sequence[int] | np.ndarray, batches: Sequence[np.ndarray]) -> float:
    """The share of the padded positions of `batches` that are padding (0 = no waste)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    padded = sum(len(batch) * int(lengths[batch].max()) for batch in batches if len(batch))
    if padded == 0:
        return 0.0
    real = sum(int(lengths[batch].sum()) for batch in batches)
    return 1.0 - real / padded
