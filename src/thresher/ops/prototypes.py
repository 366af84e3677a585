"""The prototypicality metric of Sorscher et al. (2022): cosine distance of each embedding to its nearest centroid.

Pure functions over arrays; the centroids come from k-means (`thresher.ops.semdedup.fit_centroids`).

References:
    Sorscher et al. 2022, "Beyond neural scaling laws: beating power law scaling via data pruning", NeurIPS.
"""

from __future__ import annotations

import numpy as np

from thresher.ops.semdedup import unit_rows


def nearest_prototypes(embeddings: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nearest centroid, 1 − cosine similarity to it) of each row; ties go to the lower centroid.

    "Nearest" is by cosine similarity, the measure the distance is in; rows and centroids need not be unit length
    (a zero vector has similarity 0 to everything). Computed in float64 row by row, so a row's answer does not
    depend on which rows share its batch.

    Shapes: embeddings (n, d), centroids (k, d); returns int64 (n,) and float64 (n,).
    """
    rows = unit_rows(np.asarray(embeddings, dtype=np.float64))
    prototypes = unit_rows(np.asarray(centroids, dtype=np.float64))
    similarity = rows @ prototypes.T
    nearest = similarity.argmax(axis=1).astype(np.int64)
    return nearest, 1.0 - similarity[np.arange(len(rows)), nearest]
