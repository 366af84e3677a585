"""RACE sketches: kernel density of every point among all points from R × W counters, in two linear passes.

A RACE sketch (Coleman & Shrivastava 2020, "Sub-linear RACE Sketches for Approximate Kernel Density Estimation
on Streaming Data") keeps one row of W integer counters per LSH function. Inserting x adds one to
`counts[r, h_r(x)]` in every row r; querying q averages `counts[r, h_r(q)]` over the rows, an unbiased estimate
of Σ_i k(x_i, q) where k is the hash family's collision probability. Sketches of disjoint shards merge by
addition, and the memory is R × W counters whatever the number of points.

Hash families (each row draws its own hash from a seeded generator):

* angular (sign random projections, Charikar 2002): p hyperplanes per row, code = the p sign bits, so
  k(x, y) = (1 − θ(x, y)/π)^p;
* l2 (p-stable, Datar et al. 2004): h(x) = ⌊(a·x + b)/r⌋ with a ~ N(0, I), b ~ U[0, r), rehashed into W
  buckets with a universal hash, so k depends on ‖x − y‖ / r (`bandwidth` r).

Everything here is a pure function of arrays and a seed (see `thresher.ops.kde` for the exact kernel sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KERNELS = ("angular", "l2")
# A Mersenne prime above any bucket count we use: the universal hash ((a·h + b) mod P) mod W.
_UNIVERSAL_PRIME = (1 << 31) - 1


@dataclass(frozen=True)
class LshFamily:
    """R locality-sensitive hash functions into W buckets, drawn once from a seed.

    Build one with `make_lsh`; `hash(vectors)` gives each vector's bucket in every row.
    """

    kernel: str
    rows: int
    buckets: int
    hash_bits: int  # angular: sign bits per row
    bandwidth: float  # l2: bucket width r
    projections: np.ndarray  # angular: (d, R·p); l2: (d, R)
    offsets: np.ndarray  # l2: (R,) in [0, r); angular: empty
    rehash: np.ndarray  # (2, R) int64 multipliers/increments of the universal rehash into W
    seed: int | None = None  # the seed `make_lsh` drew it from: it then pickles as its recipe, not its arrays

    @property
    def dim(self) -> int:
        return int(self.projections.shape[0])

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Sketches travel between processes (a shard's partial sketch to the driver): send how to draw the hash
        # functions, a few numbers, instead of the (d, R·p) projection matrix.
        if self.seed is None:
            fields = (self.kernel, self.rows, self.buckets, self.hash_bits, self.bandwidth)
            return (LshFamily, (*fields, self.projections, self.offsets, self.rehash))
        recipe = (self.dim, self.kernel, self.rows, self.hash_bits, self.buckets, self.bandwidth, self.seed)
        return (_redraw, recipe)

    def hash(self, vectors: np.ndarray) -> np.ndarray:
        """Bucket of each vector in each row, int64 in [0, buckets), shape (n, rows)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        projected = vectors @ self.projections
        if self.kernel == "angular":
            bits = (projected > 0).reshape(len(vectors), self.rows, self.hash_bits)
            codes = bits.astype(np.int64) @ (np.int64(1) << np.arange(self.hash_bits, dtype=np.int64))
            if self.buckets >= 1 << self.hash_bits:
                return codes
        else:
            codes = np.floor((projected.astype(np.float64) + self.offsets) / self.bandwidth).astype(np.int64)
        # np.mod is non-negative for a positive modulus, so negative p-stable codes land in range too.
        return np.mod(np.mod(codes * self.rehash[0] + self.rehash[1], _UNIVERSAL_PRIME), self.buckets)


def make_lsh(
    dim: int,
    *,
    kernel: str = "angular",
    rows: int = 1000,
    hash_bits: int = 8,
    buckets: int | None = None,
    bandwidth: float = 1.0,
    seed: int = 0,
) -> LshFamily:
    """Draw R hash functions for `dim`-dimensional vectors.

    Args:
        kernel: "angular" (sign random projections, p = `hash_bits` bits per row) or "l2" (p-stable).
        rows: R, the number of hash functions (more rows = lower variance).
        hash_bits: angular only: bits per row; the kernel is (1 − θ/π)^p, so more bits = narrower kernel.
        buckets: W counters per row. Default: 2^hash_bits for angular (no collisions added by rehashing),
            4096 for l2.
        bandwidth: l2 only: bucket width r of the p-stable hash (the kernel's bandwidth).
        seed: seeds the hyperplanes / projections; the same seed gives the same sketch layout.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if rows < 1 or dim < 1:
        raise ValueError(f"rows and dim must be >= 1, got rows={rows}, dim={dim}")
    if kernel == "angular" and not 1 <= hash_bits <= 30:
        raise ValueError(f"hash_bits must be in 1..30, got {hash_bits}")
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    if buckets is None:
        buckets = 1 << hash_bits if kernel == "angular" else 4096
    if not 1 <= buckets < _UNIVERSAL_PRIME:
        raise ValueError(f"buckets must be in 1..{_UNIVERSAL_PRIME - 1}, got {buckets}")
    rng = np.random.default_rng(seed)
    width = rows * hash_bits if kernel == "angular" else rows
    projections = rng.standard_normal((dim, width)).astype(np.float32)
    offsets = rng.uniform(0.0, bandwidth, size=rows) if kernel == "l2" else np.zeros(0)
    rehash = np.stack(
        [rng.integers(1, _UNIVERSAL_PRIME, size=rows), rng.integers(0, _UNIVERSAL_PRIME, size=rows)]
    ).astype(np.int64)
    return LshFamily(kernel, rows, int(buckets), hash_bits, float(bandwidth), projections, offsets, rehash, seed)


def _redraw(dim: int, kernel: str, rows: int, hash_bits: int, buckets: int, bandwidth: float, seed: int) -> LshFamily:
    return make_lsh(
        dim, kernel=kernel, rows=rows, hash_bits=hash_bits, buckets=buckets, bandwidth=bandwidth, seed=seed
    )


def race_counts(hashes: np.ndarray, buckets: int) -> np.ndarray:
    """The RACE counters of a set of points from their hashes (n, R): shape (R, buckets), int64.

    Sketches of disjoint sets add up to the sketch of their union (`counts_a + counts_b`).
    """
    hashes = np.asarray(hashes, dtype=np.int64)
    n_rows = hashes.shape[1]
    flat = (np.arange(n_rows, dtype=np.int64) * buckets)[None, :] + hashes
    return np.bincount(flat.ravel(), minlength=n_rows * buckets).reshape(n_rows, buckets).astype(np.int64)


def race_query(counts: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """RACE kernel-sum estimates of the query points whose hashes are (n, R): mean over rows, float64 (n,)."""
    hashes = np.asarray(hashes, dtype=np.int64)
    return counts[np.arange(counts.shape[0])[None, :], hashes].mean(axis=1, dtype=np.float64)


class RaceSketch:
    """A RACE sketch over one `LshFamily`: `add` points in any number of chunks, `merge` shards, `query` points."""

    def __init__(self, lsh: LshFamily) -> None:
        self.lsh = lsh
        self.counts = np.zeros((lsh.rows, lsh.buckets), dtype=np.int64)
        self.n_points = 0

    def add(self, vectors: np.ndarray) -> None:
        """Insert points (n, d)."""
        self.counts += race_counts(self.lsh.hash(vectors), self.lsh.buckets)
        self.n_points += len(vectors)

    def merge(self, other: RaceSketch) -> RaceSketch:
        """Add another sketch built with the same hash functions (e.g. of another shard); gives this sketch."""
        if other.counts.shape != self.counts.shape or not np.array_equal(other.lsh.projections, self.lsh.projections):
            raise ValueError("sketches built with different hash functions cannot be merged")
        self.counts += other.counts
        self.n_points += other.n_points
        return self

    def query(self, vectors: np.ndarray) -> np.ndarray:
        """Estimated Σ_i k(x_i, q) over the inserted points x_i, for each query q (n, d) → (n,)."""
        return race_query(self.counts, self.lsh.hash(vectors))

    @property
    def nbytes(self) -> int:
        return int(self.counts.nbytes)
