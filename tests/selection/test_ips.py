"""Inverse-propensity sampling: weights ∝ 1/density (not density, as the paper's Algorithm 2 misprints)."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.errors import OptionError
from thresher.selection.strategies import ips_order, select_ips


def test_ips_picks_sparse_points_more_often_than_uniform():
    # 900 points in a dense region (density 90) and 100 in the tail (density 1).
    density = np.concatenate([np.full(900, 90.0), np.full(100, 1.0)])
    tail_share = np.mean([np.mean(select_ips(density, 100, np.random.default_rng(seed)) >= 900) for seed in range(50)])
    assert tail_share > 0.5  # uniform sampling would give 0.1


def test_first_draw_probability_is_inverse_density():
    density = np.array([1.0, 2.0, 4.0])
    firsts = np.bincount([ips_order(density, np.random.default_rng(seed))[0] for seed in range(20_000)], minlength=3)
    expected = (1 / density) / (1 / density).sum()
    np.testing.assert_allclose(firsts / firsts.sum(), expected, atol=0.015)


def test_temperature_flattens_towards_uniform():
    density = np.array([1.0, 100.0])
    hot = np.mean(
        [ips_order(density, np.random.default_rng(seed), temperature=1000.0)[0] == 0 for seed in range(4000)]
    )
    assert hot == pytest.approx(0.5, abs=0.03)


def test_selection_is_seeded_sorted_and_without_replacement():
    density = np.random.default_rng(0).uniform(1, 10, size=200)
    chosen = select_ips(density, 50, np.random.default_rng(7))
    assert len(np.unique(chosen)) == 50 and np.all(np.diff(chosen) > 0)
    np.testing.assert_array_equal(chosen, select_ips(density, 50, np.random.default_rng(7)))


@pytest.mark.parametrize("density", [np.array([1.0, 0.0]), np.array([1.0, np.nan]), np.array([-1.0, 2.0])])
def test_ips_refuses_non_positive_density(density):
    with pytest.raises(OptionError, match="positive density"):
        select_ips(density, 1, np.random.default_rng(0))
