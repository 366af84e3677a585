"""The prototypes scorer: Sorscher et al.'s self-supervised prototypicality metric over sentence embeddings.

k-means on the embeddings; an example's score is the cosine distance to its nearest centroid: near a prototype =
easy (typical), far = hard (atypical). Their pruning rule depends on how much is kept: with little data kept, keep
the *easy* examples (`select --strategy bottom`); with much kept, keep the *hard* ones (`--strategy top`).
D4 (Tirumala et al. 2023) runs SemDeDup first, then this on what it kept.

A set-level scorer (`thresher.scorers.base`) with one fitting round, SemDeDup's: shards are embedded on the workers
(the shared embedding cache, `--embedder`); on the driver k-means is fitted on a seeded sample of `sample`
embeddings (`thresher.ops.semdedup.sample_rows` and `fit_centroids`: all rows when there are fewer, else rows drawn
by `numpy.random.default_rng(seed)`, so every engine and shard layout fits the same centroids); scoring reads each
shard's cached embeddings and finds its nearest centroid (`thresher.ops.prototypes.nearest_prototypes`).

Cost class: one embedding pass (GPU helps), k-means on the sample, O(n · k · dim) to score.

References:
    Sorscher et al. 2022, "Beyond neural scaling laws: beating power law scaling via data pruning", NeurIPS.
    Tirumala et al. 2023, "D4: Improving LLM Pretraining via Document De-Duplication and Diversification".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from thresher.errors import OptionError
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.scorers import state
from thresher.scorers.base import Scorer
from thresher.scorers.dedup import EmbeddedShards
from thresher.scorers.density import shard_embedder
from thresher.types import ColumnKind, Direction, RunContext, ScoreColumn


class PrototypesScorer(EmbeddedShards, Scorer):
    """Cosine distance of each example's embedding to its nearest k-means centroid (higher = harder, less typical).

    Parameters
    ----------
    embedder:
        sentence-transformers Hub id or local directory.
    clusters:
        k-means clusters k (clipped to the sample's size).
    sample:
        k-means is fitted on a seeded sample of this many embeddings (all of them when there are fewer).
    seed:
        Seeds k-means and the sample.
    device:
        auto | cpu | cuda, where the embedder runs.
    batch_size:
        Texts per embedding batch.
    """

    name = "prototypes"
    columns = (
        ScoreColumn(
            "prototype_distance",
            Direction.HIGHER,
            "1 − cosine similarity to the nearest k-means centroid (far = hard, near = easy/prototypical)",
        ),
        ScoreColumn(
            "prototype_cluster", None, "index of the nearest k-means centroid", dtype="int64", kind=ColumnKind.ID
        ),
    )
    fit_rounds = 1  # embed; k-means on the seeded sample in finalize
    version = 1

    def __init__(
        self,
        *,
        embedder: str = DEFAULT_EMBEDDER,
        clusters: int = 100,
        sample: int = 50_000,
        seed: int = 0,
        device: str = "auto",
        batch_size: int = 64,
    ) -> None:
        self.embedder = embedder
        self.clusters = clusters
        self.sample = sample
        self.seed = seed
        self.device = device
        self.batch_size = batch_size

    _centroids: np.ndarray | None = None

    def check(self) -> None:
        if self.clusters < 1 or self.sample < 1:
            raise OptionError(f"prototypes: clusters and sample must be >= 1, got {self.clusters} and {self.sample}")

    def setup(self, context: RunContext) -> None:
        self.check()
        self._context = context

    def update(self, batch: pa.RecordBatch, round: int) -> None:
        """Embed the shard into the shared cache (scoring reads it back)."""
        self._vectors(batch)

    def finalize(self, merged: None, round: int, context: RunContext) -> dict[str, Any]:
        """Fit k-means on the seeded sample of the cached embeddings; save the centroids for every worker."""
        from thresher.ops.semdedup import fit_centroids, sample_rows

        self.check()
        rows, _ = state.input_rows(context, self.name)
        cache = shard_embedder(context, self.embedder, self.device, self.name).finish(rows)
        assert cache is not None
        sampled = sample_rows(rows, self.sample, self.seed)
        centroids = fit_centroids(cache.take(sampled), self.clusters, self.seed)
        state.save_array(state.state_dir(context, self.name) / "centroids.npy", centroids)
        return {"clusters": len(centroids), "kmeans_sample": len(sampled)}

    def centroids(self) -> np.ndarray:
        """The fitted centroids (k, dim), as k-means gave them (not normalised)."""
        if self._centroids is None:
            directory = state.state_dir(self._context, self.name)
            self._centroids = state.load_array(directory / "centroids.npy", mmap=False)
        return self._centroids

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        from thresher.ops.prototypes import nearest_prototypes

        cluster, distance = nearest_prototypes(self._vectors(batch), self.centroids())
        self.report_progress(batch.num_rows)
        return {"prototype_distance": distance, "prototype_cluster": cluster}

    def teardown(self) -> None:
        self._centroids = None
        self._embedder = None
