"""SemDeDup (Abbas et al. 2023) as pure functions over unit-length embeddings: cluster, then keep one per group.

Within each k-means cluster, examples are visited from the farthest from the centroid to the nearest (the
paper keeps the "hard", off-centre example of a group), ties broken by row. An example whose cosine
similarity to an already kept example exceeds `1 - eps` is a duplicate of the most similar such kept example;
otherwise it is kept. Comparing with kept examples only (the paper compares with every earlier example) means
every removed example has a kept representative, and a chain A≈B≈C with A≉C keeps A and C.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BLOCK_ROWS = 512


@dataclass(frozen=True)
class SemDedupResult:
    """Per example: its cluster, whether it is kept, and the row of the kept example it duplicates (-1 if kept)."""

    cluster: np.ndarray  # int64, (n,)
    keep: np.ndarray  # bool, (n,)
    duplicate_of: np.ndarray  # int64, (n,): row of the kept representative, -1 for kept examples


def default_cluster_count(n_examples: int) -> int:
    """About 1,000 examples per cluster: exact within-cluster comparison stays cheap (O(n · 1000 · dim))."""
    return max(1, n_examples // 1000)


def sample_rows(n_rows: int, size: int, seed: int) -> np.ndarray:
    """The rows k-means is fitted on: all of them when `size >= n_rows`, else `size` rows drawn without replacement
    by `numpy.random.default_rng(seed)`, ascending. The same rows on every engine, whatever the shard layout."""
    if size >= n_rows:
        return np.arange(n_rows, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=size, replace=False)).astype(np.int64)


def fit_centroids(sample: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    """Seeded k-means centroids (k, dim) of the sample's rows, k clipped to the sample's size.

    scikit-learn `KMeans` (one initialisation, `random_state=seed`) up to 50,000 rows, `MiniBatchKMeans` above.
    """
    n_rows = len(sample)
    clusters = max(1, min(clusters, n_rows))
    sample = np.asarray(sample, dtype=np.float32)
    if clusters == 1:
        return sample.mean(axis=0, keepdims=True)
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if n_rows <= 50_000:
        model = KMeans(n_clusters=clusters, random_state=seed, n_init=1)
    else:
        model = MiniBatchKMeans(n_clusters=clusters, random_state=seed, n_init=1, batch_size=4096)
    model.fit(sample)
    return model.cluster_centers_.astype(np.float32)


def assign_clusters(embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The nearest centroid (Euclidean, as k-means assigns) of each row, int64; ties go to the lower cluster.

    Computed in float64 from float32 inputs row by row, so a row's cluster does not depend on which rows share
    its shard.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    centroids = np.asarray(centroids, dtype=np.float64)
    if len(centroids) == 1:
        return np.zeros(len(embeddings), dtype=np.int64)
    distances = (centroids * centroids).sum(axis=1)[None, :] - 2.0 * embeddings @ centroids.T
    return distances.argmin(axis=1).astype(np.int64)


def centroid_distances(embeddings: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """1 − cosine similarity of each unit-length row to its cluster's (unit-length) centroid, float64."""
    unit = unit_rows(np.asarray(centroids, dtype=np.float32)).astype(np.float64)
    embeddings = np.asarray(embeddings, dtype=np.float64)
    return 1.0 - np.einsum("ij,ij->i", embeddings, unit[np.asarray(labels)])


def dedup_cluster(members: np.ndarray, embeddings: np.ndarray, distances: np.ndarray, eps: float) -> np.ndarray:
    """Within one cluster: for each member row, the row of the kept member it duplicates, or -1 when kept.

    `members` are the cluster's rows, `embeddings` and `distances` theirs (same order). Members are visited from the
    farthest from the centroid to the nearest, ties by row (`greedy_dedup` over that order).
    """
    members = np.asarray(members, dtype=np.int64)
    order = np.lexsort((members, -np.asarray(distances)))  # lexsort's last key is primary
    representative = greedy_dedup(np.asarray(embeddings, dtype=np.float32)[order], 1.0 - eps)
    duplicate_of = np.full(len(members), -1, dtype=np.int64)
    duplicates = representative >= 0
    duplicate_of[order[duplicates]] = members[order[representative[duplicates]]]
    return duplicate_of


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows left as they are)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def greedy_dedup(embeddings: np.ndarray, threshold: float) -> np.ndarray:
    """For rows in priority order: the index of the kept row each duplicates (similarity > threshold), else -1.

    Rows are compared with the rows kept before them, in blocks so memory stays O(block · kept).
    """
    n_rows = len(embeddings)
    representative = np.full(n_rows, -1, dtype=np.int64)
    kept: list[int] = []
    for start in range(0, n_rows, _BLOCK_ROWS):
        block = embeddings[start : start + _BLOCK_ROWS]
        prior_best = np.full(len(block), -np.inf)
        prior_arg = np.full(len(block), -1, dtype=np.int64)
        if kept:
            prior = block @ embeddings[kept].T
            prior_arg = np.asarray(kept, dtype=np.int64)[prior.argmax(axis=1)]
            prior_best = prior.max(axis=1)
        within = block @ block.T
        block_kept: list[int] = []
        for offset in range(len(block)):
            best, best_row = prior_best[offset], prior_arg[offset]
            if block_kept:
                sims = within[offset, block_kept]
                arg = int(sims.argmax())
                if sims[arg] > best:
                    best, best_row = sims[arg], start + block_kept[arg]
            if best > threshold:
                representative[start + offset] = best_row
            else:
                block_kept.append(offset)
        kept.extend(start + offset for offset in block_kept)
    return representative


def semdedup(embeddings: np.ndarray, *, clusters: int, eps: float, seed: int = 0) -> SemDedupResult:
    """Cluster unit-length `embeddings` and mark, per cluster, which examples are semantic duplicates.

    Args:
        embeddings: (n, dim) float array, rows of unit length.
        clusters: number of k-means clusters (clipped to n).
        eps: an example is a duplicate when its cosine similarity to a kept example exceeds `1 - eps`.
        seed: k-means seed.

    Returns:
        The cluster of each row, the keep mask (one kept per group) and each duplicate's kept row.
    """
    if not 0 <= eps <= 2:
        raise ValueError(f"eps must lie in [0, 2], got {eps}")
    n_rows = len(embeddings)
    if n_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return SemDedupResult(empty, np.zeros(0, dtype=bool), empty)
    embeddings = unit_rows(np.asarray(embeddings, dtype=np.float32))
    centroids = fit_centroids(embeddings, clusters, seed)
    labels = assign_clusters(embeddings, centroids)
    distances = centroid_distances(embeddings, labels, centroids)
    duplicate_of = np.full(n_rows, -1, dtype=np.int64)
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        duplicate_of[members] = dedup_cluster(members, embeddings[members], distances[members], eps)
    return SemDedupResult(cluster=labels, keep=duplicate_of < 0, duplicate_of=duplicate_of)
