"""Exact kernel sums of the LSH collision kernels that RACE estimates, for checking sketches on small data.

`collision_kernel_sums(queries, points, lsh)` returns Σ_i k(x_i, q) for each query, with k the collision
probability of one row of `lsh` (so it is exactly the quantity a RACE sketch built with `lsh` estimates,
up to the rare extra collisions of rehashing into W buckets). Cost is O(n_queries × n_points × d), computed in
blocks so memory stays O(block × n_points).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from thresher.ops.race import LshFamily

_BLOCK_ROWS = 1024


def angular_kernel(cosine: np.ndarray, hash_bits: int) -> np.ndarray:
    """Collision probability of p sign-random-projection bits: (1 − θ/π)^p with θ = arccos(cosine).

    Computed in the input's float dtype, in place, with the integer power by repeated squaring (a generic
    float `**` is several times slower, and this runs n² times for an exact sum).
    """
    base = np.arccos(np.clip(cosine, -1.0, 1.0))
    base *= -1.0 / math.pi
    base += 1.0
    result = np.ones_like(base)
    exponent = int(hash_bits)
    while exponent:
        if exponent & 1:
            result *= base
        exponent >>= 1
        if exponent:
            base *= base
    return result


def pstable_kernel(distance: np.ndarray, bandwidth: float) -> np.ndarray:
    """Collision probability of the Gaussian p-stable hash ⌊(a·x + b)/r⌋ at Euclidean distance c (Datar et al. 2004).

    p(c) = 1 − 2Φ(−r/c) − (2c / (√(2π) r)) (1 − exp(−r² / (2c²))), and p(0) = 1.
    """
    distance = np.asarray(distance, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = bandwidth / distance
        value = 1.0 - 2.0 * ndtr(-ratio) - (2.0 / (math.sqrt(2.0 * math.pi) * ratio)) * (1.0 - np.exp(-(ratio**2) / 2))
    return np.where(distance > 1e-12, value, 1.0)


def collision_kernel_sums(queries: np.ndarray, points: np.ndarray, lsh: LshFamily) -> np.ndarray:
    """Exact Σ_i k(x_i, q) over `points` for each of `queries`, with k the collision kernel of `lsh`, float64 (n,)."""
    queries = np.asarray(queries, dtype=np.float32)
    points = np.asarray(points, dtype=np.float32)
    sums = np.empty(len(queries), dtype=np.float64)
    if lsh.kernel == "angular":
        point_norms = np.linalg.norm(points, axis=1)
        point_norms[point_norms == 0] = 1.0
        unit_points = points / point_norms[:, None]
    else:
        point_sq = np.einsum("ij,ij->i", points, points, dtype=np.float64)
    for start in range(0, len(queries), _BLOCK_ROWS):
        block = queries[start : start + _BLOCK_ROWS]
        if lsh.kernel == "angular":
            norms = np.linalg.norm(block, axis=1)
            norms[norms == 0] = 1.0
            # float32 kernel values, summed in float64: the sums are exact to ~1e-6 relative.
            kernel = angular_kernel((block / norms[:, None]) @ unit_points.T, lsh.hash_bits)
        else:
            block_sq = np.einsum("ij,ij->i", block, block, dtype=np.float64)
            squared = block_sq[:, None] + point_sq[None, :] - 2.0 * (block @ points.T).astype(np.float64)
            kernel = pstable_kernel(np.sqrt(np.maximum(squared, 0.0)), lsh.bandwidth)
        sums[start : start + len(block)] = kernel.sum(axis=1, dtype=np.float64)
    return sums
