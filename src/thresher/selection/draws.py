"""Seeded per-row draws: a uniform number for every row that depends only on the seed and the row's position.

A random sample of k rows is the k rows with the smallest draws (ties to the lower row), so it can be taken in one
pass over the rows, in any order, on any number of workers, and gives the same rows as sorting them all in memory.

The rule, which `thresher select` documents: the seed's decimal string is hashed with blake2b to a 64-bit key; row
i's draw is the i-th output of a SplitMix64 generator started at that key (Steele, Lea and Flood 2014: state
key + (i + 1)·γ through the MurmurHash3-style finaliser), its top 53 bits read as a float in [0, 1). SplitMix64 is
a counter-based generator, so the draw of row i is computed without the draws of the rows before it.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MANTISSA_SHIFT = np.uint64(11)
_UNIT = 2.0**-53


def seed_key(seed: int) -> np.uint64:
    """The 64-bit key a seed starts the per-row generator at: blake2b of its decimal string, first 8 bytes."""
    digest = hashlib.blake2b(str(int(seed)).encode("ascii"), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def row_draws(seed: int, rows: np.ndarray) -> np.ndarray:
    """The draw in [0, 1) of each row (0-based positions), float64 with 53 random bits.

    Parameters
    ----------
    seed:
        The run's seed; the only input besides the rows.
    rows:
        Row positions, any shape; non-negative integers.
    """
    positions = np.asarray(rows, dtype=np.int64)
    if positions.size and positions.min() < 0:
        raise ValueError("row positions must be non-negative")
    with np.errstate(over="ignore"):
        # uint64 arithmetic wraps modulo 2**64, as SplitMix64 is defined.
        state = seed_key(seed) + (positions.astype(np.uint64) + np.uint64(1)) * _GAMMA
        mixed = (state ^ (state >> np.uint64(30))) * _MIX1
        mixed = (mixed ^ (mixed >> np.uint64(27))) * _MIX2
        mixed ^= mixed >> np.uint64(31)
    return (mixed >> _MANTISSA_SHIFT).astype(np.float64) * _UNIT


def draw_order(n: int, seed: int) -> np.ndarray:
    """All n rows by ascending draw, ties to the lower row: the order in which a seeded random sample takes them."""
    return np.argsort(row_draws(seed, np.arange(n)), kind="stable").astype(np.int64)


# The smallest draw a noise transform takes: row_draws can give exactly 0, whose log is -inf.
_TINY = 2.0**-54


def gumbel_noise(seed: int, rows: np.ndarray) -> np.ndarray:
    """A standard Gumbel(0, 1) value for each row from its seeded draw u: −log(−log u), u floored at 2⁻⁵⁴.

    `softmax` adds it to score/τ (the Gumbel-top-k trick), so a prefix of the rows by descending key is a sample
    without replacement with probability ∝ exp(score/τ), decided row by row from the seed alone.
    """
    uniform = np.maximum(row_draws(seed, rows), _TINY)
    return -np.log(-np.log(uniform))


def lomax_noise(seed: int, rows: np.ndarray, alpha: float) -> np.ndarray:
    """A Lomax (Pareto II) draw of shape `alpha` for each row: (1 − u)^(−1/α) − 1 from its seeded draw u.

    The distribution of `numpy.random.pareto(alpha)` (NeMo Curator's draw, whose P(X > t) = (1 + t)^(−α)),
    by inverting its CDF; 1 − u lies in (0, 1], so every value is finite and at least 0.
    """
    return (1.0 - row_draws(seed, rows)) ** (-1.0 / alpha) - 1.0
