"""The density scorer: each example's kernel density among all examples, in embedding space (a RACE sketch).

Sachdeva et al. (2024) sample for coverage: embed every example, score it by its kernel sum Σ_x k(x, y) over the
dataset, and sample with probability ∝ 1/score (`thresher select --strategy ips --by density`), so dense,
redundant regions are thinned and rare regions kept. The kernel sum is estimated with a RACE sketch
(`thresher.ops.race`) in two passes, shard by shard: `update` embeds a shard (into the score directory's shared
embedding cache) and hashes it into a sketch of its own, R × W counters; the driver adds the shards' sketches
(`RaceSketch.merge`) and saves the sum; scoring queries it with each shard's cached embeddings, read by position.
Memory is one sketch per shard in flight and one embedding shard; the sketch is the same whatever the shard order.

`exact=True` computes the true sum of the same LSH collision kernel instead (O(n²·d), and every worker reads the
whole embedding matrix: for checking on small data only).

References:
    Sachdeva et al. 2024, "How to Train Data-Efficient LLMs", arXiv 2402.09668.
    Coleman & Shrivastava 2020, "Sub-linear RACE Sketches for Approximate Kernel Density Estimation on
    Streaming Data", arXiv 1912.02283.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from thresher.errors import OptionError
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.ops.race import KERNELS, LshFamily, RaceSketch, make_lsh
from thresher.scorers import state
from thresher.scorers.base import Direction, RunContext, ScoreColumn, Scorer


class DensityScorer(Scorer):
    """Kernel density of each example's embedding among all examples (lower = rarer = more important for coverage).

    Parameters
    ----------
    embedder:
        sentence-transformers Hub id or local directory.
    kernel:
        angular (sign random projections; cosine geometry) | l2 (p-stable hashes).
    rows:
        R, the hash functions (sketch rows); more rows = lower variance.
    hash_bits:
        angular: bits per row p; the kernel is (1 − θ/π)^p, so more bits = a narrower kernel.
    buckets:
        W, counters per row (default 2^hash_bits for angular, 4096 for l2).
    bandwidth:
        l2: bucket width of the p-stable hash (unit-length embeddings lie within distance 2).
    exact:
        Compute the exact kernel sums of the same collision kernel instead of the sketch estimate (small data).
    device:
        auto | cpu | cuda, where the embedder runs.
    seed:
        Seeds the hash functions.
    """

    name = "density"
    columns = (
        ScoreColumn(
            "density",
            Direction.LOWER,
            "kernel sum Σ_x k(x, y) of the example's embedding over all examples, itself included (RACE estimate)",
        ),
    )
    fit_rounds = 1
    # 2: embeddings computed shard by shard (other batches inside the embedder: float-level differences).
    version = 2

    def __init__(
        self,
        *,
        embedder: str = DEFAULT_EMBEDDER,
        kernel: str = "angular",
        rows: int = 1000,
        hash_bits: int = 8,
        buckets: int | None = None,
        bandwidth: float = 1.0,
        exact: bool = False,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.embedder = embedder
        self.kernel = kernel
        self.rows = rows
        self.hash_bits = hash_bits
        self.buckets = buckets
        self.bandwidth = bandwidth
        self.exact = exact
        self.device = device
        self.seed = seed

    _context: RunContext | None = None
    _shard_embedder: Any = None
    _sketch: RaceSketch | None = None
    _all_vectors: np.ndarray | None = None

    def setup(self, context: RunContext | None = None) -> None:
        """Check the options; embeddings are computed (or read from the cache) shard by shard."""
        self.check()
        self._context = context or RunContext()

    def check(self) -> None:
        if self.kernel not in KERNELS:
            raise OptionError(f"--kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}")
        if self.rows < 1 or self.hash_bits < 1 or (self.buckets is not None and self.buckets < 1):
            raise OptionError("--rows, --hash-bits and --buckets must be >= 1")
        if self.bandwidth <= 0:
            raise OptionError(f"--bandwidth must be > 0, got {self.bandwidth}")

    def lsh(self, dimension: int) -> LshFamily:
        """The R hash functions, drawn from the seed (the same on every worker)."""
        return make_lsh(
            dimension,
            kernel=self.kernel,
            rows=self.rows,
            hash_bits=self.hash_bits,
            buckets=self.buckets,
            bandwidth=self.bandwidth,
            seed=self.seed,
        )

    def _vectors(self, batch: pa.RecordBatch) -> np.ndarray:
        if self._shard_embedder is None:
            self._shard_embedder = shard_embedder(self._context, self.embedder, self.device, self.name)
        return self._shard_embedder.vectors(batch)

    def update(self, batch: pa.RecordBatch, round: int) -> RaceSketch:
        """The shard's embeddings (cached for scoring) hashed into a sketch of this shard alone."""
        vectors = self._vectors(batch)
        sketch = RaceSketch(self.lsh(vectors.shape[1]))
        sketch.add(vectors)
        return sketch

    def merge(self, partial: RaceSketch, other: RaceSketch) -> RaceSketch:
        """The two shards' counters added (`RaceSketch.merge`)."""
        if not partial.counts.flags.writeable:  # a sketch straight from another process's buffer
            partial.counts = partial.counts.copy()
        return partial.merge(other)

    def finalize(self, merged: RaceSketch, round: int, context: RunContext) -> dict[str, Any]:
        """Mark the embeddings complete and save the summed sketch for every worker."""
        rows, _ = state.input_rows(context, self.name)
        shard_embedder(context, self.embedder, self.device, self.name).finish(rows)
        directory = state.state_dir(context, self.name)
        state.save_array(directory / "sketch-counts.npy", merged.counts)
        state.save_array(directory / "sketch-points.npy", np.array([merged.n_points], dtype=np.int64))
        return {
            "rows": merged.lsh.rows,
            "buckets": merged.lsh.buckets,
            "sketch_bytes": merged.nbytes,
            "points": merged.n_points,
            "dimension": merged.lsh.dim,
        }

    def _load(self) -> RaceSketch:
        if self._sketch is None:
            directory = state.state_dir(self._context, self.name)
            counts = state.load_array(directory / "sketch-counts.npy", mmap=False)
            points = int(state.load_array(directory / "sketch-points.npy", mmap=False)[0])
            cache = shard_embedder(self._context, self.embedder, self.device, self.name)._complete
            if cache is None:
                raise RuntimeError("scorer density: the embeddings were not finalized before scoring")
            sketch = RaceSketch(self.lsh(cache.dimension))
            sketch.counts, sketch.n_points = counts, points
            self._sketch = sketch
            if self.exact:
                self._all_vectors = cache.load()[1]
        return self._sketch

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """Density of every example of `batch` among all examples (the finalized sketch, or the exact sum)."""
        sketch = self._load()
        queries = self._vectors(batch)
        if self.exact:
            from thresher.ops.kde import collision_kernel_sums

            assert self._all_vectors is not None
            density = collision_kernel_sums(queries, self._all_vectors, sketch.lsh)
        else:
            density = sketch.query(queries)
        self.report_progress(batch.num_rows)
        return {"density": density}

    def provenance(self) -> dict[str, Any]:
        """Embedder identity and how the density was computed (the sketch's shape is the fit's record)."""
        from thresher.embeddings import embedder_identity

        identity = embedder_identity(self.embedder)
        return {
            "embedder": self.embedder,
            "fingerprint": identity["fingerprint"],
            "estimate": "exact" if self.exact else "race",
        }

    def teardown(self) -> None:
        """Drop the sketch and the embedding map."""
        self._sketch = None
        self._all_vectors = None
        self._shard_embedder = None


def shard_embedder(context: RunContext | None, embedder: str, device: str, scorer: str) -> Any:
    """The shared embedding cache's `ShardEmbedder` for this run's input (what every embedding scorer reads)."""
    from thresher.embeddings import ShardEmbedder

    if context is None or context.input_digest is None or context.shard_rows is None:
        raise RuntimeError(f"scorer {scorer}: the engine gives set-level scorers the input digest and shard size")
    return ShardEmbedder(
        context, embedder, input_digest=context.input_digest, shard_rows=context.shard_rows, device=device
    )
