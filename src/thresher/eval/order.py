"""The order a run visits its training rows in, shared by every run of one seed as far as their subsets allow.

Seed i of every method trains from the same initialisation (each target builds its model from the seed alone),
and visits its rows in the order of one seeded permutation of the *whole* training part, restricted to the rows it
kept: two runs of one seed meet the examples they both kept in the same relative order, pass after pass, so what
differs between them is which rows they kept, not the luck of the shuffle.
"""

from __future__ import annotations

import numpy as np


def seeded_order(rows: np.ndarray, n_total: int, seed: int, epoch: int = 0) -> np.ndarray:
    """`rows` (indices into a training part of `n_total` rows) in the order that the permutation of all `n_total`
    rows drawn from (`seed`, `epoch`) puts them in."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n_total):
        raise ValueError(f"rows must be indices below {n_total}")
    position = np.empty(n_total, dtype=np.int64)
    position[np.random.default_rng([seed, epoch]).permutation(n_total)] = np.arange(n_total)
    return rows[np.argsort(position[rows], kind="stable")]


def checkpoint_steps(total_steps: int, count: int) -> list[int]:
    """The optimiser steps after which a run of `total_steps` records its held-out metrics: `count` points spread
    evenly, the last one the final step (fewer when the run has fewer steps; at least the final step)."""
    if total_steps < 1:
        return []
    count = max(1, count)
    return sorted({max(1, round(total_steps * k / count)) for k in range(1, count + 1)})
