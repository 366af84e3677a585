"""`thresher embed` as a set-level job: every shard embedded into the shared cache, on whichever engine runs it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from thresher.embeddings import DEFAULT_BATCH_SIZE, ShardEmbedder, embedder_identity
from thresher.scorers.base import Scorer
from thresher.types import RunContext


class EmbeddingPass(Scorer):
    """Embeds every shard into the score directory's shared embedding cache (what `thresher embed` runs).

    A set-level job with no columns: one round whose update embeds a shard (on a worker, with the Ray engine) and
    whose finalize marks the cache complete; either engine's fitting pass runs it. Not a registered scorer.

    Parameters
    ----------
    embedder:
        sentence-transformers Hub id or local directory.
    device:
        auto | cpu | cuda, where the embedder runs.
    batch_size:
        Texts per embedding batch.
    """

    name = "embed"
    columns = ()
    fit_rounds = 1

    def __init__(self, *, embedder: str, device: str = "auto", batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.embedder = embedder
        self.device = device
        self.batch_size = batch_size

    _shards: ShardEmbedder | None = None

    def fit_key(self) -> dict[str, Any]:
        return {"embed": embedder_identity(self.embedder)["key"]}

    def _embedder(self, context: RunContext) -> ShardEmbedder:
        assert context.input_digest is not None and context.shard_rows is not None
        return ShardEmbedder(
            context,
            self.embedder,
            input_digest=context.input_digest,
            shard_rows=context.shard_rows,
            device=self.device,
            batch_size=self.batch_size,
        )

    def setup(self, context: RunContext) -> None:
        self._shards = self._embedder(context)

    def update(self, batch: pa.RecordBatch, round: int) -> None:
        assert self._shards is not None
        self._shards.vectors(batch)

    def finalize(self, merged: None, round: int, context: RunContext) -> dict[str, Any]:
        assert context.rows is not None
        cache = self._embedder(context).finish(context.rows)
        assert cache is not None
        return {"rows": cache.rows, "dimension": cache.dimension}

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        return {}
