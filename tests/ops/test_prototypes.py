"""The prototypicality metric: nearest centroid by cosine and the distance to it, against a brute-force loop."""

import numpy as np

from thresher.ops.prototypes import nearest_prototypes


def brute_force(embeddings: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid and cosine distance, one (row, centroid) pair at a time."""
    clusters, distances = [], []
    for row in embeddings:
        cosine = [float(row @ c) / (np.linalg.norm(row) * np.linalg.norm(c)) for c in centroids]
        best = int(np.argmax(cosine))
        clusters.append(best)
        distances.append(1.0 - cosine[best])
    return np.array(clusters), np.array(distances)


def test_nearest_prototypes_matches_brute_force_on_unnormalised_vectors():
    rng = np.random.default_rng(0)
    embeddings, centroids = rng.normal(size=(40, 6)) * 3, rng.normal(size=(5, 6))
    clusters, distances = nearest_prototypes(embeddings, centroids)
    expected_clusters, expected_distances = brute_force(embeddings, centroids)
    np.testing.assert_array_equal(clusters, expected_clusters)
    np.testing.assert_allclose(distances, expected_distances, rtol=1e-12, atol=1e-12)
    assert (distances >= 0).all() and (distances <= 2).all()
    # A row on a centroid's ray is at distance 0 from it.
    on_ray, _ = nearest_prototypes(centroids[2:3] * 7.0, centroids)
    assert on_ray.tolist() == [2]
