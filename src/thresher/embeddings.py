"""Embeddings of a whole input, computed once per score directory, shard by shard, reused by every embedding scorer.

Layout, under the score directory's cache (`SCORE_DIR/cache/embeddings/<key>/`)::

    meta.json                          # written last (the cache is complete): embedder spec, resolved path, weights
                                       #   fingerprint, dimension, rows, the input's digest, shard layout, seconds
    <input>-r<shard_rows>/vectors-00012.npy   # float32 (rows of shard 12, d), unit length, input order
    <input>-r<shard_rows>/ids-00012.npy       # that shard's example ids (str)

`<key>` is a digest of the embedder's weights fingerprint (or its spec when it has no local weights), so
`thresher embed --embedder X` and a `density` (or `semdedup`, or a dynamics proxy head) scorer using embedder X
share one matrix. Each shard's vectors are computed where the shard is (a Ray worker or the local process) and
written atomically as their own files, so an interrupted pass resumes with the shards not yet embedded; `meta.json`
is written when every shard is there. A complete cache serves any later run on the same input whatever its shard
size: rows are read by position (`EmbeddingCache.take`). A cache made from another input is replaced once a new
one is complete.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from thresher.atomic import staged_file
from thresher.cache import cache_dir, cache_key
from thresher.data.fields import ID_COLUMN, ROW_COLUMN, TEXT_COLUMN
from thresher.types import ExampleSource, RunContext

if TYPE_CHECKING:
    from thresher.models.embedder import LoadedEmbedder
    from thresher.store import ScoreStore

EMBEDDINGS_DIR_NAME = "embeddings"
# Bump when the files of a cache change (names, dtypes, meta fields): it enters the key, so old caches are not read.
EMBEDDINGS_FORMAT = 2

DEFAULT_BATCH_SIZE = 64
# Rows per part when a whole input is embedded in one process (`ensure_embeddings`).
_WHOLE_INPUT_SHARD_ROWS = 8192


@dataclass(frozen=True)
class EmbeddingCache:
    """One complete embedding matrix, stored as one file per shard: where it is and what made it."""

    path: Path
    meta: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.meta["rows"])

    @property
    def dimension(self) -> int:
        return int(self.meta["dimension"])

    @property
    def shard_rows(self) -> int:
        return int(self.meta["shard_rows"])

    @property
    def parts(self) -> Path:
        return self.path / str(self.meta["parts"])

    def _part(self, name: str, index: int) -> np.ndarray:
        return np.load(self.parts / f"{name}-{index:05d}.npy", mmap_mode="r")

    def take(self, positions: np.ndarray) -> np.ndarray:
        """Vectors of the examples at these input positions (any order), float32 (len(positions), d)."""
        positions = np.asarray(positions, dtype=np.int64)
        result = np.empty((len(positions), self.dimension), dtype=np.float32)
        shards = positions // self.shard_rows
        for index in np.unique(shards):
            where = np.flatnonzero(shards == index)
            result[where] = self._part("vectors", int(index))[positions[where] - int(index) * self.shard_rows]
        return result

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every example in input order: ids as a str array, vectors float32 (n, d) in memory."""
        count = math.ceil(self.rows / self.shard_rows)
        if count == 0:
            return np.zeros(0, dtype=str), np.zeros((0, self.dimension), dtype=np.float32)
        ids = np.concatenate([np.asarray(self._part("ids", index)) for index in range(count)])
        vectors = np.concatenate([np.asarray(self._part("vectors", index)) for index in range(count)])
        return ids, vectors


def embeddings_root(where: RunContext | ScoreStore | str | Path | None) -> Path | None:
    """The embeddings cache directory for a run context, a score store, a cache dir path, or None (no cache)."""
    if where is None:
        return None
    if isinstance(where, RunContext):
        return where.cache_dir / EMBEDDINGS_DIR_NAME if where.cache_dir is not None else None
    if isinstance(where, str | Path):
        return Path(where) / EMBEDDINGS_DIR_NAME
    return cache_dir(where.root) / EMBEDDINGS_DIR_NAME


def embedder_identity(embedder: str) -> dict[str, str]:
    """What identifies an embedder without loading it: its spec, resolved path and weights fingerprint."""
    from thresher.models.embedder import _fingerprint, resolve_embedder

    path = resolve_embedder(embedder)
    fingerprint = _fingerprint(Path(path)) if Path(path).is_dir() else ""
    # Keyed by the weights when there are local ones, so two paths to the same model share one matrix.
    key = cache_key(EMBEDDINGS_DIR_NAME, {"format": EMBEDDINGS_FORMAT, "embedder": fingerprint or f"spec:{embedder}"})
    return {"embedder": embedder, "path": path, "fingerprint": fingerprint, "key": key}


def list_embedding_caches(where: RunContext | ScoreStore | str | Path | None) -> list[EmbeddingCache]:
    """Every complete embedding cache under a score directory (or cache dir)."""
    root = embeddings_root(where)
    if root is None or not root.is_dir():
        return []
    caches = []
    for directory in sorted(root.iterdir()):
        meta_path = directory / "meta.json"
        if directory.is_dir() and not directory.name.startswith(".") and meta_path.is_file():
            caches.append(EmbeddingCache(directory, json.loads(meta_path.read_text())))
    return caches


def complete_cache(root: Path | None, identity: dict[str, str], input_digest: str) -> EmbeddingCache | None:
    """The complete cache of this embedder for this input, if there is one."""
    if root is None:
        return None
    meta_path = root / identity["key"] / "meta.json"
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("input") != input_digest:
        return None
    return EmbeddingCache(meta_path.parent, meta)


class ShardEmbedder:
    """Gives the embeddings of one shard at a time, from the cache when there, computed (and cached) otherwise.

    What a set-level scorer's `update` calls on a worker: the embedder model is loaded on first need only, so a
    worker whose shards are all cached never loads it. Without a cache location, vectors are computed every time.
    """

    def __init__(
        self,
        where: RunContext | ScoreStore | str | Path | None,
        embedder: str,
        *,
        input_digest: str,
        shard_rows: int,
        device: str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.root = embeddings_root(where)
        self.embedder = embedder
        self.identity = embedder_identity(embedder)
        self.input_digest = input_digest
        self.shard_rows = shard_rows
        self.device = device
        self.batch_size = batch_size
        self.on_progress = on_progress
        self._loaded: LoadedEmbedder | None = None
        self._complete = complete_cache(self.root, self.identity, input_digest)

    @property
    def parts(self) -> Path | None:
        if self.root is None:
            return None
        return self.root / self.identity["key"] / f"{self.input_digest}-r{self.shard_rows}"

    def vectors(self, batch: pa.RecordBatch) -> np.ndarray:
        """Unit-length float32 embeddings of a whole shard's examples (its `row` column says which shard)."""
        rows = batch.column(ROW_COLUMN).to_numpy()
        if self._complete is not None:
            return self._complete.take(rows)
        index = int(rows[0]) // self.shard_rows if len(rows) else 0
        parts = self.parts
        if parts is not None:
            path = parts / f"vectors-{index:05d}.npy"
            if path.is_file():
                cached = np.load(path)
                if len(cached) == batch.num_rows:
                    if self.on_progress is not None:
                        self.on_progress(batch.num_rows)
                    return cached
        vectors = self.compute(batch.column(TEXT_COLUMN).to_pylist())
        if parts is not None:
            ids = np.asarray([str(value) for value in batch.column(ID_COLUMN).to_pylist()], dtype=str)
            parts.mkdir(parents=True, exist_ok=True)
            # The ids first: a vectors file is what marks the shard as embedded.
            _save(parts / f"ids-{index:05d}.npy", ids)
            _save(parts / f"vectors-{index:05d}.npy", vectors)
        return vectors

    def compute(self, texts: list[str]) -> np.ndarray:
        """Embed texts now (loading the model on first use)."""
        from thresher.models.embedder import embed_texts, load_embedder

        if self._loaded is None:
            self._loaded = load_embedder(self.embedder, device=self.device)
        vectors = embed_texts(self._loaded, texts, batch_size=self.batch_size)
        if self.on_progress is not None:
            self.on_progress(len(texts))
        return vectors

    def finish(self, rows: int) -> EmbeddingCache | None:
        """Mark the cache complete once every shard of an input of `rows` rows is embedded (on the driver).

        Returns the complete cache (None without a cache location). Raises RuntimeError when a shard is missing.
        """
        if self._complete is not None or self.root is None:
            return self._complete
        parts = self.parts
        assert parts is not None
        count = math.ceil(rows / self.shard_rows)
        dimension = None
        for index in range(count):
            path = parts / f"vectors-{index:05d}.npy"
            if not path.is_file() or not (parts / f"ids-{index:05d}.npy").is_file():
                raise RuntimeError(f"{path}: missing; shard {index} was never embedded")
            part = np.load(path, mmap_mode="r")
            expected = min(self.shard_rows, rows - index * self.shard_rows)
            if len(part) != expected:
                raise RuntimeError(f"{path}: {len(part)} rows, expected {expected}")
            dimension = int(part.shape[1])
        if dimension is None:
            dimension = self._dimension()
        directory = self.root / self.identity["key"]
        meta = {
            **self.identity,
            "dimension": dimension,
            "rows": rows,
            "input": self.input_digest,
            "shard_rows": self.shard_rows,
            "parts": parts.name,
            "normalized": True,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with staged_file(directory / "meta.json", suffix=".tmp") as staging:
            staging.write_text(json.dumps(meta, indent=2) + "\n")
        for other in directory.iterdir():  # parts of other inputs or layouts are no longer reachable
            if other.is_dir() and other.name != parts.name:
                shutil.rmtree(other, ignore_errors=True)
        self._complete = EmbeddingCache(directory, meta)
        return self._complete

    def _dimension(self) -> int:
        from thresher.models.embedder import load_embedder

        if self._loaded is None:
            self._loaded = load_embedder(self.embedder, device=self.device)
        return int(self._loaded.dimension)


def _save(path: Path, array: np.ndarray) -> None:
    with staged_file(path, suffix=".npy") as staging, open(staging, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def ids_digest(ids: np.ndarray) -> str:
    """The input digest of a set of examples known only by their ids (in order)."""
    digest = hashlib.blake2b(digest_size=8)
    for value in ids:
        digest.update(str(value).encode())
        digest.update(b"\x00")
    return "ids-" + digest.hexdigest()


def cached_embeddings(
    where: RunContext | ScoreStore | str | Path | None,
    embedder: str,
    examples: ExampleSource,
    *,
    device: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of every example, read from the score directory's cache when the same embedder made them.

    Args:
        where: a `RunContext` (its `cache_dir`), a `ScoreStore`, a cache directory, or None (compute, cache nothing).
        embedder: sentence-transformers Hub id or local directory (as `--embedder`).
        examples: starts a pass over record batches with `id` and `text` columns, in input order.
        device: where to run the embedder when it has to be run.
        on_progress: called with the number of examples embedded (or found cached) since the last call.

    Returns:
        (ids, vectors): the example ids (str array, input order) and unit-length float32 vectors (n, d). The cache
        is keyed by the ids in order; examples with other ids get their own matrix.
    """
    cache, _ = ensure_embeddings(
        where, embedder, examples, device=device, batch_size=batch_size, on_progress=on_progress
    )
    if isinstance(cache, EmbeddingCache):
        return cache.load()
    return cache


def ensure_embeddings(
    where: RunContext | ScoreStore | str | Path | None,
    embedder: str,
    examples: ExampleSource,
    *,
    device: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
    input_digest: str | None = None,
) -> tuple[EmbeddingCache | tuple[np.ndarray, np.ndarray], bool]:
    """The embedding cache for (where, embedder), computed in this process when missing; and whether it was reused.

    `input_digest` names the input (default: a digest of the examples' ids). Without a cache location, returns the
    (ids, vectors) arrays themselves instead of an `EmbeddingCache`.
    """
    from thresher.engine.shards import rechunk

    ids = np.asarray([str(value) for batch in examples() for value in batch.column(ID_COLUMN).to_pylist()], dtype=str)
    digest = input_digest or ids_digest(ids)
    root = embeddings_root(where)
    reused = complete_cache(root, embedder_identity(embedder), digest)
    if reused is not None:
        if on_progress is not None:
            on_progress(reused.rows)
        return reused, True
    shard_embedder = ShardEmbedder(
        where,
        embedder,
        input_digest=digest,
        shard_rows=_WHOLE_INPUT_SHARD_ROWS,
        device=device,
        batch_size=batch_size,
        on_progress=on_progress,
    )
    parts: list[np.ndarray] = []
    first_row = 0
    for batch in rechunk(examples(), _WHOLE_INPUT_SHARD_ROWS):
        positions = pa.array(np.arange(first_row, first_row + batch.num_rows, dtype=np.int64))
        if ROW_COLUMN in batch.schema.names:
            batch = batch.drop_columns([ROW_COLUMN])
        vectors = shard_embedder.vectors(batch.append_column(ROW_COLUMN, positions))
        if root is None:
            parts.append(vectors)
        first_row += batch.num_rows
    if root is None:
        dimension = shard_embedder._dimension() if not parts else parts[0].shape[1]
        vectors = np.concatenate(parts) if parts else np.zeros((0, dimension), dtype=np.float32)
        return (ids, vectors), False
    cache = shard_embedder.finish(len(ids))
    assert cache is not None
    return cache, False
