"""Embeddings of a whole input, computed once per score directory and reused by every embedding-based scorer.

Layout, under the score directory's cache (`SCORE_DIR/cache/embeddings/<key>/`)::

    vectors.npy   # float32 (n, d), unit length, input order; read back as a memory map
    ids.npy       # the example ids, input order (a cache belongs to the input whose ids it holds)
    meta.json     # embedder spec, resolved path, weights fingerprint, dimension, rows, seconds

`<key>` is a digest of the embedder's weights fingerprint (or its spec when it has no local weights), so
`thresher embed --embedder X` and a `density` (or `semdedup`) scorer using embedder X share one matrix. A cache
is written to a temporary directory and renamed, so an interrupted run leaves none.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher.atomic import staged_dir
from thresher.cache import cache_dir, cache_key
from thresher.data.fields import ID_COLUMN, TEXT_COLUMN
from thresher.types import ExampleSource, RunContext

if TYPE_CHECKING:
    from thresher.store import ScoreStore

EMBEDDINGS_DIR_NAME = "embeddings"
# Bump when the files of a cache change (names, dtypes, meta fields): it enters the key, so old caches are not read.
EMBEDDINGS_FORMAT = 1

DEFAULT_BATCH_SIZE = 64
# Texts embedded per call to the model, so progress can be reported and memory stays bounded.
_CHUNK_ROWS = 2048


@dataclass(frozen=True)
class EmbeddingCache:
    """One cached embedding matrix: where it is and what made it."""

    path: Path
    meta: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.meta["rows"])

    @property
    def dimension(self) -> int:
        return int(self.meta["dimension"])

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors): ids as a str array, vectors as a read-only float32 memory map (n, d)."""
        ids = np.load(self.path / "ids.npy")
        vectors = np.load(self.path / "vectors.npy", mmap_mode="r")
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
        # Hidden directories are staging ones (thresher.atomic), complete only once renamed.
        if directory.is_dir() and not directory.name.startswith(".") and meta_path.is_file():
            caches.append(EmbeddingCache(directory, json.loads(meta_path.read_text())))
    return caches


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
        where: a scorer's `RunContext` (its `cache_dir`), a `ScoreStore`, a cache directory, or None (compute,
            cache nothing).
        embedder: sentence-transformers Hub id or local directory (as `--embedder`).
        examples: starts a pass over record batches with `id` and `text` columns, in input order.
        device: where to run the embedder when it has to be run.
        on_progress: called with the number of examples embedded since the last call.

    Returns:
        (ids, vectors): the example ids (str array, input order) and unit-length float32 vectors (n, d),
        a read-only memory map when cached. A cache whose ids differ from the examples' is recomputed.
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
) -> tuple[EmbeddingCache | tuple[np.ndarray, np.ndarray], bool]:
    """The embedding cache for (where, embedder), computed when missing or stale; and whether it was reused.

    Without a cache location, returns the (ids, vectors) arrays themselves instead of an `EmbeddingCache`.
    """
    identity = embedder_identity(embedder)
    root = embeddings_root(where)
    ids = np.asarray([str(value) for batch in examples() for value in batch.column(ID_COLUMN).to_pylist()], dtype=str)
    if root is not None:
        existing = root / identity["key"]
        if (existing / "meta.json").is_file():
            cache = EmbeddingCache(existing, json.loads((existing / "meta.json").read_text()))
            cached_ids, _ = cache.load()
            if cached_ids.shape == ids.shape and bool(np.all(cached_ids == ids)):
                if on_progress is not None:
                    on_progress(len(ids))
                return cache, True
            shutil.rmtree(existing, ignore_errors=True)  # made from another input

    from thresher.models.embedder import embed_texts, load_embedder

    started = time.perf_counter()
    loaded = load_embedder(embedder, device=device)
    parts: list[np.ndarray] = []
    for batch in examples():
        texts = batch.column(TEXT_COLUMN).to_pylist()
        for start in range(0, len(texts), _CHUNK_ROWS):
            chunk = texts[start : start + _CHUNK_ROWS]
            parts.append(embed_texts(loaded, chunk, batch_size=batch_size))
            if on_progress is not None:
                on_progress(len(chunk))
    vectors = np.concatenate(parts) if parts else np.zeros((0, loaded.dimension), dtype=np.float32)
    if root is None:
        return (ids, vectors), False

    meta = {
        **identity,
        "dimension": loaded.dimension,
        "rows": len(ids),
        "max_seq_length": loaded.max_seq_length,
        "normalized": True,
        "device": loaded.device,
        "seconds": round(time.perf_counter() - started, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    target = root / identity["key"]
    with staged_dir(target, overwrite=True) as staging:
        np.save(staging / "vectors.npy", vectors)
        np.save(staging / "ids.npy", ids)
        (staging / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return EmbeddingCache(target, meta), False
