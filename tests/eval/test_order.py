"""Runs of one seed visit the rows they share in the same order; checkpoints are spread evenly."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.eval.order import checkpoint_steps, seeded_order


def test_the_whole_part_in_the_seeded_permutation_and_subsets_in_its_relative_order():
    full = seeded_order(np.arange(50), 50, seed=3, epoch=1)
    assert full.tolist() == np.random.default_rng([3, 1]).permutation(50).tolist()
    subset = np.array([2, 7, 11, 19, 30, 41, 48])
    ordered = seeded_order(subset, 50, seed=3, epoch=1)
    assert sorted(ordered.tolist()) == subset.tolist()
    assert ordered.tolist() == [row for row in full.tolist() if row in set(subset.tolist())]
    other = np.array([7, 8, 19, 41, 42])  # shares 7, 19, 41 with `subset`
    shared = [row for row in seeded_order(other, 50, 3, 1).tolist() if row in set(subset.tolist())]
    assert shared == [row for row in ordered.tolist() if row in set(other.tolist())]
    # Another epoch or seed is another order.
    assert seeded_order(np.arange(50), 50, 3, 2).tolist() != full.tolist()
    assert seeded_order(np.arange(50), 50, 4, 1).tolist() != full.tolist()
    with pytest.raises(ValueError):
        seeded_order(np.array([50]), 50, 0)


def test_checkpoints_are_evenly_spread_and_end_at_the_final_step():
    assert checkpoint_steps(100, 10) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert checkpoint_steps(25, 4) == [6, 12, 19, 25]
    assert checkpoint_steps(3, 10) == [1, 2, 3]  # fewer steps than checkpoints: one per step
    assert checkpoint_steps(7, 1) == [7] and checkpoint_steps(0, 5) == []
