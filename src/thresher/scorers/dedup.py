"""Deduplication scorers: semantic (SemDeDup over sentence embeddings) and near-exact (MinHash LSH over shingles).

Both are set-level scorers (`thresher.scorers.base`): shards are hashed or embedded on the workers, the driver
decides which examples are duplicates, and scoring reads that decision by row position. Each writes two columns:

- `<prefix>_keep` (1.0 kept, 0.0 duplicate): exactly one example of each duplicate group is kept.
- `duplicate_of` / `minhash_duplicate_of` (string): the id (as a string) of the kept example of the
  example's group; a kept example names itself, so the column is also a group id and is never null.

`thresher select --strategy dedup --by semdedup_keep` (or `minhash_keep`) keeps the kept ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from thresher.errors import OptionError
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.scorers import state
from thresher.scorers.base import Scorer
from thresher.scorers.density import shard_embedder
from thresher.types import ColumnKind, RunContext, ScoreColumn

_WORD = re.compile(r"\w+", re.UNICODE)


def save_representatives(directory: Path, representative: np.ndarray, rows: int, shard_rows: int) -> int:
    """Save each row's representative row and the ids of the representatives of duplicates; give the duplicates.

    The ids come from the shard-named `ids` arrays the updates wrote, read shard by shard, so only the ids of
    kept examples that some duplicate points at are held.
    """
    state.save_array(directory / "representative.npy", representative)
    duplicates = representative != np.arange(len(representative))
    wanted = np.unique(representative[duplicates])
    found_rows, found_ids = [], []
    for start, count in state.shard_starts(rows, shard_rows):
        inside = wanted[(wanted >= start) & (wanted < start + count)]
        if len(inside):
            ids = state.load_array(state.shard_path(directory, "ids", start))
            found_rows.append(inside)
            found_ids.append(np.asarray(ids[inside - start]))
    rows_array = np.concatenate(found_rows) if found_rows else np.zeros(0, dtype=np.int64)
    ids_array = np.concatenate(found_ids) if found_ids else np.zeros(0, dtype=str)
    state.IdsByRow(rows_array, ids_array).save(directory / "representative-ids")
    return int(duplicates.sum())


class _Representatives:
    """Keep flags and kept ids of a batch from the finalized representatives, by row position."""

    def __init__(self, directory: Path) -> None:
        self.representative = state.load_array(directory / "representative.npy")
        self.ids = state.IdsByRow.load(directory / "representative-ids")

    def lookup(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
        rows = state.rows_of(batch)
        representative = np.asarray(self.representative[rows])
        kept = representative == rows
        duplicate_of = state.ids_as_strings(batch).astype(object)
        if (~kept).any():
            duplicate_of[~kept] = self.ids.lookup(representative[~kept])
        return kept.astype(np.float64), duplicate_of


class EmbeddedShards:
    """What the scorers over the shared embedding cache (semdedup, prototypes) share: a shard's vectors, read from the
    cache or embedded into it, and the embedder's provenance.

    The class has `name`, `embedder`, `device` and `batch_size`; `setup` sets `_context`.
    """

    name: ClassVar[str]
    embedder: str
    device: str
    batch_size: int
    _context: RunContext | None = None
    _embedder: Any = None

    def _vectors(self, batch: pa.RecordBatch) -> np.ndarray:
        if self._embedder is None:
            self._embedder = shard_embedder(self._context, self.embedder, self.device, self.name)
            self._embedder.batch_size = self.batch_size
        return self._embedder.vectors(batch)

    def provenance(self) -> dict[str, Any]:
        from thresher.embeddings import embedder_identity

        identity = embedder_identity(self.embedder)
        return {"embedder": self.embedder, "embedder_fingerprint": identity["fingerprint"], "device": self.device}


class SemDedupScorer(EmbeddedShards, Scorer):
    """SemDeDup: k-means over sentence embeddings, then one kept example per group of near-identical meaning.

    Within a cluster, an example whose cosine similarity to a kept one exceeds `1 - eps` is its duplicate; the
    kept one of a group is the farthest from the cluster centroid (as in the paper), ties broken by input row.

    Three stages: shards are embedded on the workers (the shared embedding cache); k-means is fitted on the driver
    on a seeded sample of `sample` embeddings (`thresher.ops.semdedup.sample_rows`: all of them when there are
    fewer, else rows drawn by `numpy.random.default_rng(seed)`, so any engine and shard layout fits the same
    centroids); shards are assigned to their nearest centroid on the workers; then each cluster's members are
    deduplicated on the driver, one cluster at a time (memory: the largest cluster's embeddings).

    Cost class: one embedding pass (GPU helps), k-means on the sample, and O(n · cluster size · dim) similarity.

    Parameters
    ----------
    embedder:
        sentence-transformers Hub id or local directory.
    clusters:
        k-means clusters (default: about one per 1000 examples).
    eps:
        An example is a duplicate when its cosine similarity to a kept one exceeds 1 − eps.
    sample:
        k-means is fitted on a seeded sample of this many embeddings (all of them when there are fewer).
    seed:
        Seeds k-means and the sample.
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
    fit_rounds = 2  # embed, then assign clusters
    version = 2  # k-means on a seeded sample; clusters assigned by nearest centroid per shard

    def __init__(
        self,
        *,
        embedder: str = DEFAULT_EMBEDDER,
        clusters: int | None = None,
        eps: float = 0.05,
        sample: int = 50_000,
        seed: int = 0,
        device: str = "auto",
        batch_size: int = 64,
    ) -> None:
        self.embedder = embedder
        self.clusters = clusters
        self.eps = eps
        self.sample = sample
        self.seed = seed
        self.device = device
        self.batch_size = batch_size

    _decided: _Representatives | None = None

    def setup(self, context: RunContext) -> None:
        if not 0 <= self.eps <= 2:
            raise OptionError(f"semdedup: eps must lie in [0, 2], got {self.eps}")
        if self.sample < 1 or (self.clusters is not None and self.clusters < 1):
            raise OptionError("semdedup: sample and clusters must be at least 1")
        self._context = context

    def update(self, batch: pa.RecordBatch, round: int) -> None:
        """Round 0: embed the shard (and keep its ids); round 1: its nearest centroids and distances to them."""
        from thresher.ops.semdedup import assign_clusters, centroid_distances

        directory = state.state_dir(self._context, self.name)
        vectors = self._vectors(batch)
        if round == 0:
            state.save_shard_array(directory, "ids", batch, state.ids_as_strings(batch))
            return
        centroids = state.load_array(directory / "centroids.npy", mmap=False)
        labels = assign_clusters(vectors, centroids)
        state.save_shard_array(directory, "cluster", batch, labels)
        state.save_shard_array(directory, "distance", batch, centroid_distances(vectors, labels, centroids))

    def finalize(self, merged: None, round: int, context: RunContext) -> dict[str, Any]:
        """Round 0: k-means on the seeded sample; round 1: dedup within each cluster, one cluster at a time."""
        from thresher.ops.semdedup import dedup_cluster, default_cluster_count, fit_centroids, sample_rows

        rows, shard_rows = state.input_rows(context, self.name)
        directory = state.state_dir(context, self.name)
        cache = shard_embedder(context, self.embedder, self.device, self.name).finish(rows)
        assert cache is not None
        if round == 0:
            clusters = self.clusters if self.clusters is not None else default_cluster_count(rows)
            sampled = sample_rows(rows, self.sample, self.seed)
            centroids = fit_centroids(cache.take(sampled), clusters, self.seed)
            state.save_array(directory / "centroids.npy", centroids)
            return {"clusters": len(centroids), "kmeans_sample": len(sampled)}
        labels = state.gather_shard_arrays(directory, "cluster", rows, shard_rows, out=directory / "cluster.npy")
        distances = state.gather_shard_arrays(directory, "distance", rows, shard_rows, out=directory / "distance.npy")
        representative = np.arange(rows, dtype=np.int64)
        order = np.argsort(labels, kind="stable")  # rows ascending within each cluster
        bounds = np.flatnonzero(np.diff(np.asarray(labels)[order])) + 1
        for members in np.split(order, bounds):
            if len(members) < 2:
                continue
            duplicate_of = dedup_cluster(members, cache.take(members), np.asarray(distances[members]), self.eps)
            found = duplicate_of >= 0
            representative[members[found]] = duplicate_of[found]
        duplicates = save_representatives(directory, representative, rows, shard_rows)
        for name in ("cluster", "distance"):
            state.remove_shard_arrays(directory, name)
        return {"duplicates": duplicates}

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        if self._decided is None:
            self._decided = _Representatives(state.state_dir(self._context, self.name))
        keep, duplicate_of = self._decided.lookup(batch)
        self.report_progress(batch.num_rows)
        return {"semdedup_keep": keep, "duplicate_of": duplicate_of}

    def teardown(self) -> None:
        self._decided = None
        self._embedder = None


def word_shingles(text: str, size: int) -> list[bytes]:
    """Lowercased word n-grams of `text` (the whole text as one shingle when it has fewer than `size` words)."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return [" ".join(words).encode()]
    return [" ".join(words[start : start + size]).encode() for start in range(len(words) - size + 1)]


class MinHashScorer(Scorer):
    """Near-duplicate detection with MinHash LSH over word shingles; the first occurrence of a group is kept.

    Shards are hashed on the workers (a signature of `num_perm` values and its LSH band keys per example, the bands
    and rows per band chosen for `threshold` as datasketch chooses them); on the driver, examples sharing a band key
    are candidates, a candidate pair whose estimated Jaccard similarity reaches `threshold` is joined, and each
    connected component (union-find) keeps its first example in input order, which every other member names.

    Cost class: CPU only; hashing (`num_perm` hashes per shingle) in parallel, then a group-by of the band keys
    (O(n) memory per band) and a Jaccard test per candidate pair on the driver.

    Parameters
    ----------
    num_perm:
        MinHash permutations per signature; more = a closer Jaccard estimate.
    threshold:
        Estimated Jaccard similarity at which two candidate examples are near-duplicates.
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
    fit_rounds = 1
    version = 2  # connected components of candidate pairs, first occurrence kept (was: greedy against kept ones)

    def __init__(self, *, num_perm: int = 128, threshold: float = 0.8, shingle: int = 5, seed: int = 0) -> None:
        self.num_perm = num_perm
        self.threshold = threshold
        self.shingle = shingle
        self.seed = seed

    _context: RunContext | None = None
    _template: Any = None
    _decided: _Representatives | None = None

    def bands(self) -> tuple[int, int]:
        """(bands, rows per band) of the LSH index datasketch builds for this threshold and num_perm."""
        from datasketch import MinHashLSH

        try:
            lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        except ValueError as error:  # e.g. a threshold so high that num_perm cannot make two LSH bands
            raise OptionError(
                f"minhash: --threshold {self.threshold} with --num-perm {self.num_perm}: {error}"
            ) from None
        return int(lsh.b), int(lsh.r)

    def setup(self, context: RunContext) -> None:
        self.bands()
        self._context = context

    def signatures(self, texts: list[str]) -> np.ndarray:
        """MinHash signatures of texts' word shingles, (len(texts), num_perm) uint32."""
        from datasketch import MinHash

        if self._template is None:
            # One permutation set, copied per example: building MinHash(seed) draws the permutations each time.
            self._template = MinHash(num_perm=self.num_perm, seed=self.seed)
        signatures = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        for row, text in enumerate(texts):
            signature = self._template.copy()
            signature.update_batch(word_shingles(text, self.shingle))
            signatures[row] = signature.hashvalues
        return signatures

    def update(self, batch: pa.RecordBatch, round: int) -> None:
        """The shard's signatures, band keys and ids, as shard-named arrays."""
        from thresher.ops.minhash import band_keys

        directory = state.state_dir(self._context, self.name)
        signatures = self.signatures(batch.column("text").to_pylist())
        state.save_shard_array(directory, "signatures", batch, signatures)
        state.save_shard_array(directory, "bands", batch, band_keys(signatures, *self.bands()))
        state.save_shard_array(directory, "ids", batch, state.ids_as_strings(batch))

    def finalize(self, merged: None, round: int, context: RunContext) -> dict[str, Any]:
        """Group band keys, join candidates over the threshold, keep each component's first row."""
        from thresher.ops.minhash import near_duplicate_representatives

        rows, shard_rows = state.input_rows(context, self.name)
        directory = state.state_dir(context, self.name)
        signatures = state.gather_shard_arrays(
            directory, "signatures", rows, shard_rows, out=directory / "signatures.npy"
        )
        keys = state.gather_shard_arrays(directory, "bands", rows, shard_rows, out=directory / "bands.npy")
        representative = near_duplicate_representatives(signatures, keys, self.threshold)
        duplicates = save_representatives(directory, representative, rows, shard_rows)
        for name in ("signatures", "bands"):
            state.remove_shard_arrays(directory, name)
        bands, rows_per_band = self.bands()
        return {"duplicates": duplicates, "bands": bands, "rows_per_band": rows_per_band}

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        if self._decided is None:
            self._decided = _Representatives(state.state_dir(self._context, self.name))
        keep, duplicate_of = self._decided.lookup(batch)
        self.report_progress(batch.num_rows)
        return {"minhash_keep": keep, "minhash_duplicate_of": duplicate_of}

    def provenance(self) -> dict[str, Any]:
        import datasketch

        return {"datasketch": datasketch.__version__, "device": "cpu"}

    def teardown(self) -> None:
        self._decided = None
