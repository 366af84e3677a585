"""Seeded per-row draws: SplitMix64 outputs at a blake2b key, against a plain-Python SplitMix64."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from thresher.selection.draws import draw_order, row_draws, seed_key
from thresher.selection.strategies import select_random

MASK64 = 2**64 - 1


def splitmix64_outputs(state: int, count: int) -> list[int]:
    """The first `count` outputs of SplitMix64 started at `state` (Steele, Lea and Flood 2014), in Python ints."""
    outputs = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        outputs.append(z ^ (z >> 31))
    return outputs


def test_the_python_reference_is_splitmix64():
    # The published first outputs of SplitMix64 seeded with 1234567 (as in Vigna's splitmix64.c test).
    assert splitmix64_outputs(1234567, 3) == [6457827717110365317, 3203168211198807973, 9817491932198370423]


@pytest.mark.parametrize("seed", [0, 7, -3, 2**40])
def test_row_draws_are_the_generators_outputs_at_the_seeds_key(seed):
    key = int.from_bytes(hashlib.blake2b(str(seed).encode(), digest_size=8).digest(), "little")
    assert int(seed_key(seed)) == key
    expected = [(output >> 11) * 2.0**-53 for output in splitmix64_outputs(key, 50)]
    assert row_draws(seed, np.arange(50)).tolist() == expected
    # A row's draw does not depend on which other rows are drawn with it, nor on their order.
    rows = np.array([49, 3, 17, 0])
    assert row_draws(seed, rows).tolist() == [expected[row] for row in rows]


def test_draws_are_uniform_and_seeds_differ():
    draws = row_draws(11, np.arange(100_000))
    assert draws.min() >= 0.0 and draws.max() < 1.0
    counts = np.bincount((draws * 10).astype(int), minlength=10)
    # Chi-square with 9 degrees of freedom: 27.9 is its 0.999 quantile.
    assert ((counts - 10_000) ** 2 / 10_000).sum() < 27.9
    assert np.corrcoef(draws, row_draws(12, np.arange(100_000)))[0, 1] ** 2 < 1e-3
    with pytest.raises(ValueError):
        row_draws(0, np.array([-1]))


def test_a_random_sample_is_the_smallest_draws_and_grows_by_supersets():
    draws = row_draws(5, np.arange(200))
    assert draw_order(200, 5).tolist() == sorted(range(200), key=lambda row: (draws[row], row))
    assert select_random(200, 30, 5).tolist() == sorted(draw_order(200, 5)[:30].tolist())
    assert set(select_random(200, 30, 5).tolist()) <= set(select_random(200, 31, 5).tolist())
