"""The prototypes scorer: distances to the nearest k-means centroid, checked by brute force and a direct k-means."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import thresher
from tests.conftest import HARBOUR, MARKETS, OUTLIER, SENTENCES, write_jsonl
from tests.ops.test_prototypes import brute_force
from thresher.engine.fit import fit_and_score
from thresher.errors import OptionError
from thresher.scorers.prototypes import PrototypesScorer
from thresher.store import ScoreStore
from thresher.types import RunContext

TEXTS = [*HARBOUR, *MARKETS, OUTLIER, *SENTENCES]


def batch_of(texts: list[str]) -> pa.RecordBatch:
    return pa.record_batch({"row": list(range(len(texts))), "id": [f"t{i}" for i in range(len(texts))], "text": texts})


def direct_embeddings(embedder_dir, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(embedder_dir), device="cpu")
    return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True).astype(np.float64)


def fitted_scores(embedder_dir, tmp_path, *, shard_rows: int, seed: int = 0, **params):
    scorer = PrototypesScorer(embedder=str(embedder_dir), device="cpu", seed=seed, **params)
    context = RunContext(seed=seed, cache_dir=tmp_path / f"cache-{shard_rows}-{seed}-{len(params)}")
    scores = fit_and_score(scorer, [batch_of(TEXTS)], context, shard_rows=shard_rows)
    return scores, scorer.centroids().copy()


def test_distances_are_the_brute_force_nearest_centroid_distances(tiny_embedder_dir, tmp_path):
    scores, centroids = fitted_scores(tiny_embedder_dir, tmp_path, shard_rows=4, clusters=3)
    embeddings = direct_embeddings(tiny_embedder_dir, TEXTS)
    clusters, distances = brute_force(embeddings, centroids)
    np.testing.assert_allclose(scores["prototype_distance"], distances, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(scores["prototype_cluster"], clusters)
    assert scores["prototype_cluster"].dtype == np.int64 and len(set(clusters)) > 1
    # Fewer examples than `sample`: k-means saw every embedding, as scikit-learn fits them directly.
    from sklearn.cluster import KMeans

    direct = KMeans(n_clusters=3, random_state=0, n_init=1).fit(embeddings.astype(np.float32)).cluster_centers_
    np.testing.assert_allclose(centroids, direct, atol=1e-5)


def test_kmeans_is_fitted_on_the_documented_seeded_sample(tiny_embedder_dir, tmp_path):
    from sklearn.cluster import KMeans

    scores, centroids = fitted_scores(tiny_embedder_dir, tmp_path, shard_rows=5, clusters=2, sample=8, seed=3)
    # The rule: numpy.random.default_rng(seed).choice(n, size=sample, replace=False), ascending.
    rows = np.sort(np.random.default_rng(3).choice(len(TEXTS), size=8, replace=False))
    embeddings = direct_embeddings(tiny_embedder_dir, TEXTS)
    direct = KMeans(n_clusters=2, random_state=3, n_init=1).fit(embeddings[rows].astype(np.float32)).cluster_centers_
    np.testing.assert_allclose(centroids, direct, atol=1e-5)
    np.testing.assert_allclose(scores["prototype_distance"], brute_force(embeddings, direct)[1], atol=1e-5)


def test_seeded_and_independent_of_the_shard_layout(tiny_embedder_dir, tmp_path):
    first, _ = fitted_scores(tiny_embedder_dir, tmp_path / "a", shard_rows=3, clusters=3, sample=10)
    again, _ = fitted_scores(tiny_embedder_dir, tmp_path / "b", shard_rows=3, clusters=3, sample=10)
    other_layout, _ = fitted_scores(tiny_embedder_dir, tmp_path / "c", shard_rows=len(TEXTS), clusters=3, sample=10)
    for name in ("prototype_distance", "prototype_cluster"):
        np.testing.assert_array_equal(first[name], again[name])
        np.testing.assert_allclose(first[name], other_layout[name], rtol=1e-6, atol=1e-7)
    other_seeds = [fitted_scores(tiny_embedder_dir, tmp_path / f"s{seed}", shard_rows=3, seed=seed, clusters=3,
                                 sample=10)[0] for seed in (1, 2)]  # fmt: skip
    assert any(not np.allclose(first["prototype_distance"], other["prototype_distance"]) for other in other_seeds)


def test_through_score_with_the_embedding_cache_shared_with_semdedup(tiny_embedder_dir, tmp_path):
    data = write_jsonl(tmp_path / "in.jsonl", [{"text": text} for text in TEXTS])
    options = {"embedder": str(tiny_embedder_dir), "device": "cpu", "shard_rows": 4}
    thresher.score(data, scorers=["semdedup", "prototypes"], out=tmp_path / "s", params={"clusters": 3}, **options)
    table = ScoreStore.open(tmp_path / "s").read_columns(["prototype_distance", "prototype_cluster", "semdedup_keep"])
    assert table.num_rows == len(TEXTS)
    # The centroids the run saved for its workers, and the brute-force distances to them.
    (finalized,) = (tmp_path / "s").rglob("finalized-prototypes.json")
    saved = np.load(finalized.parent.parent / "centroids.npy")
    assert saved.shape[0] == 3
    clusters, distances = brute_force(direct_embeddings(tiny_embedder_dir, TEXTS), saved)
    np.testing.assert_allclose(table.column("prototype_distance").to_numpy(), distances, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(table.column("prototype_cluster").to_numpy(), clusters)
    manifest = str(ScoreStore.open(tmp_path / "s").manifest)
    assert "kmeans_sample" in manifest and "embedder_fingerprint" in manifest


def test_bad_options():
    with pytest.raises(OptionError, match="clusters and sample must be >= 1"):
        PrototypesScorer(clusters=0).setup(RunContext())


def test_the_d4_example_pipeline_keeps_the_farthest_of_the_semdedup_survivors(tiny_embedder_dir, tmp_path):
    texts = [*TEXTS, *HARBOUR[:3]]  # exact copies, which semdedup removes
    data = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "n": row} for row, text in enumerate(texts)])
    options = {"embedder": str(tiny_embedder_dir), "device": "cpu", "shard_rows": 5}
    thresher.score(data, scorers=["semdedup", "prototypes"], out=tmp_path / "s", params={"clusters": 3}, **options)
    table = ScoreStore.open(tmp_path / "s").read_columns(["semdedup_keep", "prototype_distance"])
    survivors = np.flatnonzero(table.column("semdedup_keep").to_numpy() > 0.5)
    distance = table.column("prototype_distance").to_numpy()
    assert 2 <= len(survivors) < len(texts)
    d4 = Path(__file__).resolve().parents[2] / "examples" / "pipelines" / "d4.yaml"
    wanted = len(survivors) // 2
    result = thresher.select(data, scores=tmp_path / "s", pipeline=d4, keep=wanted, out=tmp_path / "d4.jsonl")
    # The survivors farthest from their centroids.
    farthest = survivors[np.argsort(-distance[survivors], kind="stable")][:wanted]
    kept = [json.loads(line)["n"] for line in (tmp_path / "d4.jsonl").read_text().splitlines()]
    assert result.kept == len(kept) == wanted and sorted(kept) == sorted(farthest.tolist())
    assert [step["kept"] for step in result.steps] == [len(survivors), len(kept)]
