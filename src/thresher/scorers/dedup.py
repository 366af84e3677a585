"""Deduplication scorers: semantic (SemDeDup over sentence embeddings) and near-exact (MinHash LSH over shingles).

Both are multi-pass: `fit` sees every example and decides which are duplicates; `score_batch` then looks the
answer up by example id. Each writes two columns:

- `<prefix>_keep` (1.0 kept, 0.0 duplicate): exactly one example of each duplicate group is kept.
- `duplicate_of` / `minhash_duplicate_of` (string): the id (as a string) of the kept example of the
  example's group; a kept example names itself, so the column is also a group id and is never null.

`thresher select --strategy dedup --by semdedup_keep` (or `minhash_keep`) keeps the kept ones.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.errors import OptionError
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.scorers.base import Scorer
from thresher.types import ColumnKind, ExampleSource, RunContext, ScoreColumn

_WORD = re.compile(r"\w+", re.UNICODE)


def _lookup(batch: pa.RecordBatch, decided: dict[str, tuple[float, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Keep flags and duplicate-of ids for a batch, from the decisions `fit` made per id."""
    keys = [str(value) for value in batch.column("id").to_pylist()]
    missing = [key for key in keys if key not in decided]
    if missing:
        raise RuntimeError(f"example id {missing[0]!r} was not seen by fit(); dedup scorers must fit first")
    keep = np.array([decided[key][0] for key in keys], dtype=np.float64)
    duplicate_of = np.array([decided[key][1] for key in keys], dtype=object)
    return keep, duplicate_of


def embed_examples(
    context: RunContext | None, examples: ExampleSource, embedder: str, *, device: str, batch_size: int
) -> tuple[list[str], np.ndarray, dict[str, Any]]:
    """Ids (as strings), unit-length embeddings of every example in input order, and the embedder's provenance.

    Reads the score directory's embedding cache (`thresher embed`, or another embedding scorer) when the same
    embedder filled it, and fills it otherwise.
    """
    from thresher.embeddings import cached_embeddings, embedder_identity

    ids, vectors = cached_embeddings(context, embedder, examples, device=device, batch_size=batch_size)
    identity = embedder_identity(embedder)
    return (
        [str(value) for value in ids],
        np.asarray(vectors),
        {"embedder": embedder, "embedder_fingerprint": identity["fingerprint"], "device": device},
    )


class SemDedupScorer(Scorer):
    """SemDeDup: k-means over sentence embeddings, then one kept example per group of near-identical meaning.

    Within a cluster, an example whose cosine similarity to a kept one exceeds `1 - eps` is its duplicate; the
    kept one of a group is the farthest from the cluster centroid (as in the paper), ties broken by input row.

    Cost class: one embedding pass (GPU helps), k-means, and O(n · cluster size · dim) similarity.

    Parameters
    ----------
    embedder:
        sentence-transformers Hub id or local directory.
    clusters:
        k-means clusters (default: about one per 1000 examples).
    eps:
        An example is a duplicate when its cosine similarity to a kept one exceeds 1 − eps.
    seed:
        Seeds k-means.
    device:
        auto | cpu | cuda, where the embedder runs.
    batch_size:
        Texts per embedding batch.
    """

    name = "semdedup"
    columns = (
        ScoreColumn(
            "semdedup_keep", None, "1 if kept, 0 if a semantic duplicate of a kept example", kind=ColumnKind.FLAG
        ),
        ScoreColumn(
            "duplicate_of",
            None,
            "id of the kept example of this one's semantic-duplicate group (its own id when kept)",
            dtype="string",
            kind=ColumnKind.ID,
        ),
    )
    requires_fit = True

    def __init__(
        self,
        *,
        embedder: str = DEFAULT_EMBEDDER,
        clusters: int | None = None,
        eps: float = 0.05,
        seed: int = 0,
        device: str = "auto",
        batch_size: int = 64,
    ) -> None:
        self.embedder = embedder
        self.clusters = clusters
        self.eps = eps
        self.seed = seed
        self.device = device
        self.batch_size = batch_size

    def setup(self, context: RunContext) -> None:
        self._context = context
        self._decided: dict[str, tuple[float, str]] = {}
        self._provenance: dict[str, Any] = {"embedder": self.embedder}

    def fit(self, examples: ExampleSource) -> None:
        from thresher.ops.semdedup import default_cluster_count, semdedup

        ids, vectors, provenance = embed_examples(
            self._context, examples, self.embedder, device=self.device, batch_size=self.batch_size
        )
        clusters = self.clusters if self.clusters is not None else default_cluster_count(len(ids))
        result = semdedup(vectors, clusters=clusters, eps=self.eps, seed=self.seed)
        self._decided = {
            key: (1.0, key) if keep else (0.0, ids[int(row)])
            for key, keep, row in zip(ids, result.keep, result.duplicate_of, strict=True)
        }
        self._provenance = {
            **provenance,
            "clusters": int(min(clusters, max(len(ids), 1))),
            "duplicates": int((~result.keep).sum()),
        }

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        keep, duplicate_of = _lookup(batch, self._decided)
        self.report_progress(batch.num_rows)
        return {"semdedup_keep": keep, "duplicate_of": duplicate_of}

    def provenance(self) -> dict[str, Any]:
        return dict(getattr(self, "_provenance", {}))

    def teardown(self) -> None:
        self._decided = {}


def word_shingles(text: str, size: int) -> list[bytes]:
    """Lowercased word n-grams of `text` (the whole text as one shingle when it has fewer than `size` words)."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return [" ".join(words).encode()]
    return [" ".join(words[start : start + size]).encode() for start in range(len(words) - size + 1)]


class MinHashScorer(Scorer):
    """Near-duplicate detection with MinHash LSH over word shingles; the first occurrence of a group is kept.

    An example is a duplicate when LSH proposes an earlier kept example whose estimated Jaccard similarity
    reaches `threshold`; it points at the most similar such example (earliest on ties). Only kept examples are
    indexed, so every duplicate's representative is kept.

    Cost class: CPU only; one pass of hashing (`num_perm` hashes per shingle) and LSH queries.

    Parameters
    ----------
    num_perm:
        MinHash permutations per signature; more = a closer Jaccard estimate.
    threshold:
        Estimated Jaccard similarity at which an example is a duplicate of an earlier kept one.
    shingle:
        Words per shingle.
    seed:
        Seeds the MinHash permutations.
    """

    name = "minhash"
    columns = (
        ScoreColumn(
            "minhash_keep",
            None,
            "1 if kept, 0 if a near-duplicate of an earlier kept example",
            kind=ColumnKind.FLAG,
        ),
        ScoreColumn(
            "minhash_duplicate_of",
            None,
            "id of the kept first occurrence of this one's near-duplicate group (its own id when kept)",
            dtype="string",
            kind=ColumnKind.ID,
        ),
    )
    requires_fit = True

    def __init__(self, *, num_perm: int = 128, threshold: float = 0.8, shingle: int = 5, seed: int = 0) -> None:
        self.num_perm = num_perm
        self.threshold = threshold
        self.shingle = shingle
        self.seed = seed

    def setup(self, context: RunContext) -> None:
        self._decided: dict[str, tuple[float, str]] = {}
        self._duplicates = 0

    def fit(self, examples: ExampleSource) -> None:
        from datasketch import MinHash, MinHashLSH

        try:
            lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        except ValueError as error:  # e.g. a threshold so high that num_perm cannot make two LSH bands
            raise OptionError(
                f"minhash: --threshold {self.threshold} with --num-perm {self.num_perm}: {error}"
            ) from None
        kept_signatures: dict[str, MinHash] = {}
        order: dict[str, int] = {}
        decided: dict[str, tuple[float, str]] = {}
        # One permutation set, copied per example: building MinHash(seed) draws the permutations each time.
        template = MinHash(num_perm=self.num_perm, seed=self.seed)
        for batch in examples():
            for raw_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist(), strict=True):
                key = str(raw_id)
                signature = template.copy()
                signature.update_batch(word_shingles(text, self.shingle))
                best_key, best_similarity = None, -1.0
                for candidate in lsh.query(signature):
                    similarity = signature.jaccard(kept_signatures[candidate])
                    earlier = best_key is None or order[candidate] < order[best_key]
                    if similarity > best_similarity or (similarity == best_similarity and earlier):
                        best_key, best_similarity = candidate, similarity
                if best_key is not None and best_similarity >= self.threshold:
                    decided[key] = (0.0, best_key)
                    continue
                decided[key] = (1.0, key)
                order[key] = len(order)
                kept_signatures[key] = signature
                lsh.insert(key, signature)
        self._decided = decided
        self._duplicates = sum(1 for keep, _ in decided.values() if not keep)

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        keep, duplicate_of = _lookup(batch, self._decided)
        self.report_progress(batch.num_rows)
        return {"minhash_keep": keep, "minhash_duplicate_of": duplicate_of}

    def provenance(self) -> dict[str, Any]:
        import datasketch

        return {"datasketch": datasketch.__version__, "device": "cpu", "duplicates": getattr(self, "_duplicates", 0)}

    def teardown(self) -> None:
        self._decided = {}
