"""The density scorer: each example's kernel density among all examples, in embedding space (a RACE sketch).

Sachdeva et al. (2024) sample for coverage: embed every example, score it by its kernel sum Σ_x k(x, y) over the
dataset, and sample with probability ∝ 1/score (`thresher select --strategy ips --by density`), so dense,
redundant regions are thinned and rare regions kept. The kernel sum is estimated with a RACE sketch
(`thresher.ops.race`) in two passes: `fit` hashes every embedding into R × W counters, `score_batch` queries
them. Memory is the sketch (R × W counters) plus the embedding matrix, read as a memory map from the score
directory's embedding cache (`thresher embed`, or the first embedding scorer of the directory, writes it).

`exact=True` computes the true sum of the same LSH collision kernel instead (O(n²·d); for checking on small data).

References:
    Sachdeva et al. 2024, "How to Train Data-Efficient LLMs", arXiv 2402.09668.
    Coleman & Shrivastava 2020, "Sub-linear RACE Sketches for Approximate Kernel Density Estimation on
    Streaming Data", arXiv 1912.02283.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from thresher.data.fields import ID_COLUMN, TEXT_COLUMN
from thresher.errors import OptionError
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.ops.race import KERNELS, RaceSketch, make_lsh
from thresher.scorers.base import Direction, ExampleSource, RunContext, ScoreColumn, Scorer

_HASH_CHUNK_ROWS = 8192


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
    requires_fit = True

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

    def setup(self, context: RunContext | None = None) -> None:
        """Check the options; the embeddings and the sketch come in `fit`."""
        if self.kernel not in KERNELS:
            raise OptionError(f"--kernel must be one of {', '.join(KERNELS)}, got {self.kernel!r}")
        if self.rows < 1 or self.hash_bits < 1 or (self.buckets is not None and self.buckets < 1):
            raise OptionError("--rows, --hash-bits and --buckets must be >= 1")
        if self.bandwidth <= 0:
            raise OptionError(f"--bandwidth must be > 0, got {self.bandwidth}")
        self._context = context or RunContext()
        self._sketch: RaceSketch | None = None
        self._row_of_id: dict[str, int] = {}
        self._vectors: np.ndarray | None = None

    def fit(self, examples: ExampleSource) -> None:
        """Embed every example (or read the cached embeddings) and insert them all into the sketch."""
        from thresher.embeddings import cached_embeddings

        ids, vectors = cached_embeddings(self._context, self.embedder, examples, device=self.device)
        self._vectors = vectors
        self._row_of_id = {str(example_id): row for row, example_id in enumerate(ids)}
        lsh = make_lsh(
            vectors.shape[1],
            kernel=self.kernel,
            rows=self.rows,
            hash_bits=self.hash_bits,
            buckets=self.buckets,
            bandwidth=self.bandwidth,
            seed=self.seed,
        )
        sketch = RaceSketch(lsh)
        for start in range(0, len(vectors), _HASH_CHUNK_ROWS):
            sketch.add(np.asarray(vectors[start : start + _HASH_CHUNK_ROWS]))
        self._sketch = sketch

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """Density of every example of `batch` among the examples `fit` saw."""
        if self._sketch is None or self._vectors is None:
            raise RuntimeError("DensityScorer.fit() must run before score_batch()")
        queries = self._batch_vectors(batch)
        if self.exact:
            from thresher.ops.kde import collision_kernel_sums

            density = collision_kernel_sums(queries, np.asarray(self._vectors), self._sketch.lsh)
        else:
            density = self._sketch.query(queries)
        self.report_progress(batch.num_rows)
        return {"density": density}

    def _batch_vectors(self, batch: pa.RecordBatch) -> np.ndarray:
        assert self._vectors is not None
        ids = [str(value) for value in batch.column(ID_COLUMN).to_pylist()]
        rows = [self._row_of_id.get(example_id) for example_id in ids]
        if all(row is not None for row in rows):
            return np.asarray(self._vectors[np.asarray(rows, dtype=np.int64)], dtype=np.float32)
        # Examples `fit` did not see (a caller scoring new data against the sketch): embed them now.
        from thresher.models.embedder import embed_texts, load_embedder

        if not hasattr(self, "_loaded_embedder"):
            self._loaded_embedder = load_embedder(self.embedder, device=self.device)
        return embed_texts(self._loaded_embedder, batch.column(TEXT_COLUMN).to_pylist())

    def provenance(self) -> dict[str, Any]:
        """Embedder identity and the sketch's shape and size."""
        from thresher.embeddings import embedder_identity

        identity = embedder_identity(self.embedder)
        record: dict[str, Any] = {
            "embedder": self.embedder,
            "fingerprint": identity["fingerprint"],
            "estimate": "exact" if self.exact else "race",
        }
        sketch = getattr(self, "_sketch", None)
        if sketch is not None:
            record.update(
                rows=sketch.lsh.rows,
                buckets=sketch.lsh.buckets,
                sketch_bytes=sketch.nbytes,
                points=sketch.n_points,
                dimension=sketch.lsh.dim,
            )
        return record

    def teardown(self) -> None:
        """Drop the sketch and the embedding map."""
        self._sketch = None
        self._vectors = None
        self._row_of_id = {}
