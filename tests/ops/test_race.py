"""RACE sketches: hashes in range, mergeable counters, and rank agreement with the exact kernel sum."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from thresher.ops.kde import angular_kernel, collision_kernel_sums, pstable_kernel
from thresher.ops.race import RaceSketch, make_lsh, race_counts, race_query


def clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    """Unit vectors from clusters of very different sizes and spreads, plus uniform background points."""
    rng = np.random.default_rng(seed)
    sizes = (1.0 / np.arange(1, 21) ** 1.2) / (1.0 / np.arange(1, 21) ** 1.2).sum()
    labels = rng.choice(20, size=n, p=sizes)
    centres = rng.standard_normal((20, dim))
    spread = rng.uniform(0.2, 0.9, size=20)
    points = centres[labels] / np.linalg.norm(centres[labels], axis=1, keepdims=True)
    points = points + spread[labels, None] * rng.standard_normal((n, dim)) / np.sqrt(dim)
    points[: n // 20] = rng.standard_normal((n // 20, dim))  # a sparse background
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(
    ("kernel", "options"),
    [
        ("angular", {"hash_bits": 6}),
        ("angular", {"hash_bits": 6, "buckets": 7}),
        ("l2", {"buckets": 50, "bandwidth": 0.3}),
    ],
)
def test_hashes_lie_in_the_buckets(kernel, options):
    points = clustered(500)
    lsh = make_lsh(points.shape[1], kernel=kernel, rows=40, seed=1, **options)
    hashes = lsh.hash(points * 5.0)  # large projections give negative p-stable codes: they must wrap into range
    assert hashes.shape == (500, 40) and hashes.min() >= 0 and hashes.max() < lsh.buckets
    np.testing.assert_array_equal(hashes, lsh.hash(points * 5.0))


def test_sketches_of_shards_merge_into_the_sketch_of_the_union():
    points = clustered(1000)
    lsh = make_lsh(points.shape[1], rows=50, hash_bits=4, seed=3)
    whole, first, second = RaceSketch(lsh), RaceSketch(lsh), RaceSketch(lsh)
    whole.add(points)
    first.add(points[:300])
    second.add(points[300:])
    first.merge(second)
    np.testing.assert_array_equal(first.counts, whole.counts)
    assert first.n_points == 1000 and first.counts.sum() == 1000 * 50
    np.testing.assert_array_equal(first.query(points[:10]), whole.query(points[:10]))
    with pytest.raises(ValueError, match="different hash functions"):
        first.merge(RaceSketch(make_lsh(points.shape[1], rows=50, hash_bits=4, seed=4)))


def test_query_is_the_mean_count_over_rows():
    hashes = np.array([[0, 1], [0, 0], [1, 1]])
    counts = race_counts(hashes, buckets=2)
    np.testing.assert_array_equal(counts, [[2, 1], [1, 2]])
    np.testing.assert_allclose(race_query(counts, hashes), [2.0, 1.5, 1.5])


@pytest.mark.parametrize(("kernel", "options"), [("angular", {"hash_bits": 2}), ("l2", {"bandwidth": 0.8})])
def test_collision_rate_matches_the_kernel(kernel, options):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16)
    x /= np.linalg.norm(x)
    y = x + 0.5 * rng.standard_normal(16) / 4
    y /= np.linalg.norm(y)
    lsh = make_lsh(16, kernel=kernel, rows=20_000, buckets=1 << 20 if kernel == "l2" else None, seed=2, **options)
    hashes = lsh.hash(np.stack([x, y]))
    rate = float(np.mean(hashes[0] == hashes[1]))
    if kernel == "angular":
        expected = angular_kernel(np.array(x @ y), 2)
    else:
        expected = pstable_kernel(np.array(np.linalg.norm(x - y)), 0.8)
    assert rate == pytest.approx(float(expected), abs=0.015)
    exact = collision_kernel_sums(np.stack([x]), np.stack([x, y]), lsh)
    assert exact[0] == pytest.approx(1.0 + float(expected), rel=1e-6)


@pytest.mark.parametrize(("kernel", "options"), [("angular", {"hash_bits": 6}), ("l2", {"bandwidth": 0.6})])
def test_race_ranks_agree_with_exact_kernel_sums(kernel, options):
    points = clustered(3000)
    sketch = RaceSketch(make_lsh(points.shape[1], kernel=kernel, rows=400, seed=0, **options))
    sketch.add(points)
    estimate = sketch.query(points)
    exact = collision_kernel_sums(points, points, sketch.lsh)
    assert spearmanr(estimate, exact).statistic >= 0.9
    assert np.median(np.abs(estimate - exact) / exact) < 0.1
