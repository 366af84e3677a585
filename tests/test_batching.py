from __future__ import annotations

import numpy as np
import pytest

from thresher.batching import padding_fraction, token_budget_batches


def test_batches_cover_every_row_once_within_budget_longest_first():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=200)

    batches = token_budget_batches(lengths, 1024)

    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(200))
    for batch in batches:
        assert len(batch) * lengths[batch].max() <= 1024
    maxima = [lengths[batch].max() for batch in batches]
    assert maxima == sorted(maxima, reverse=True)


def test_over_long_row_forms_its_own_batch():
    batches = token_budget_batches([5, 50, 5], 20)
    assert [batch.tolist() for batch in batches] == [[1], [0, 2]]


def test_known_grouping_and_padding_fraction():
    lengths = [3, 10, 4, 9, 2]
    batches = token_budget_batches(lengths, 20)
    assert [batch.tolist() for batch in batches] == [[1, 3], [2, 0, 4]]
    # padded: 2×10 + 3×4 = 32 positions; real: 28 tokens.
    assert padding_fraction(lengths, batches) == pytest.approx(1 - 28 / 32)


def test_empty_and_bad_budget():
    assert token_budget_batches([], 10) == []
    assert padding_fraction([], []) == 0.0
    with pytest.raises(ValueError):
        token_budget_batches([1], 0)


def test_max_row_padding_bounds_the_padding_of_every_batch():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 400, size=300)

    batches = token_budget_batches(lengths, 4096, max_row_padding=0.25)

    assert sorted(np.concatenate(batches).tolist()) == list(range(300))
    for batch in batches:
        assert len(batch) * lengths[batch].max() <= 4096 or len(batch) == 1
        assert lengths[batch].min() >= 0.75 * lengths[batch].max()
    assert padding_fraction(lengths, batches) <= 0.25
    assert padding_fraction(lengths, batches) < padding_fraction(lengths, token_budget_batches(lengths, 4096))


def test_max_row_padding_zero_groups_equal_lengths_only():
    batches = token_budget_batches([4, 5, 4, 5, 3], 100, max_row_padding=0.0)
    assert [batch.tolist() for batch in batches] == [[1, 3], [0, 2], [4]]
