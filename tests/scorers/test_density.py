"""The density scorer: sketch estimate vs exact kernel sum, and rare examples score low."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from scipy.stats import spearmanr

from tests.conftest import HARBOUR, MARKETS, OUTLIER
from thresher.engine.fit import fit_and_score
from thresher.ops.race import RaceSketch, make_lsh
from thresher.scorers.base import RunContext
from thresher.scorers.density import DensityScorer

# Six paraphrases of one sentence, four of another, one unrelated text: every text distinct, so the densities
# differ by geometry (cluster size, closeness within a cluster), not by ties between copies.
TEXTS = [*HARBOUR, *MARKETS, OUTLIER]
HASH_BITS = 4


def score(tiny_embedder_dir, tmp_path, shard_rows: int = 5, **options) -> np.ndarray:
    """Densities of `TEXTS` from a scorer fitted in shards of `shard_rows` (each shard its own sketch, summed)."""
    scorer = DensityScorer(embedder=str(tiny_embedder_dir), device="cpu", **options)
    ids = [f"id-{i}" for i in range(len(TEXTS))]
    batch = pa.record_batch({"id": ids, "text": TEXTS})
    cache = tmp_path / f"cache-{len(list(tmp_path.iterdir()))}"
    return fit_and_score(scorer, [batch], RunContext(cache_dir=cache), shard_rows=shard_rows)["density"]


def brute_force_angular_density(tiny_embedder_dir, hash_bits: int) -> np.ndarray:
    """Σ_x (1 − θ(x, y)/π)^p over every text x, for each text y, from embeddings made here."""
    from sentence_transformers import SentenceTransformer

    vectors = SentenceTransformer(str(tiny_embedder_dir), device="cpu").encode(TEXTS, convert_to_numpy=True)
    vectors = vectors.astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    angles = np.arccos(np.clip(vectors @ vectors.T, -1.0, 1.0))
    return ((1.0 - angles / np.pi) ** hash_bits).sum(axis=1)


def test_race_estimate_tracks_the_exact_kernel_sum_and_the_outlier_is_rarest(tiny_embedder_dir, tmp_path):
    estimate = score(tiny_embedder_dir, tmp_path, rows=2000, hash_bits=HASH_BITS)
    exact = score(tiny_embedder_dir, tmp_path, rows=2000, hash_bits=HASH_BITS, exact=True)
    np.testing.assert_allclose(exact, brute_force_angular_density(tiny_embedder_dir, HASH_BITS), rtol=1e-4)
    assert np.argmin(exact) == len(TEXTS) - 1 and np.argmin(estimate) == len(TEXTS) - 1
    # The bigger cluster is the denser one, on average.
    harbour, markets = slice(0, len(HARBOUR)), slice(len(HARBOUR), len(HARBOUR) + len(MARKETS))
    assert exact[harbour].mean() > exact[markets].mean() and estimate[harbour].mean() > estimate[markets].mean()
    np.testing.assert_allclose(estimate, exact, rtol=0.1)
    assert spearmanr(estimate, exact).statistic > 0.8


def test_l2_kernel_runs(tiny_embedder_dir, tmp_path):
    values = score(tiny_embedder_dir, tmp_path, kernel="l2", rows=500, bandwidth=0.5, buckets=1024)
    assert np.argmin(values) == len(TEXTS) - 1


def test_the_summed_shard_sketches_are_the_sketch_of_all_examples(tiny_embedder_dir, tmp_path):
    # Shards of 3, of 5 and one shard of everything: the merged sketch, hence every density, is the same, and it is
    # the one a single RaceSketch built here from all the embeddings gives.
    by_shards = [score(tiny_embedder_dir, tmp_path, shard_rows=rows, rows=300, hash_bits=HASH_BITS) for rows in (3, 5)]
    whole = score(tiny_embedder_dir, tmp_path, shard_rows=len(TEXTS), rows=300, hash_bits=HASH_BITS)
    np.testing.assert_array_equal(by_shards[0], whole)
    np.testing.assert_array_equal(by_shards[1], whole)
    from sentence_transformers import SentenceTransformer

    vectors = SentenceTransformer(str(tiny_embedder_dir), device="cpu").encode(
        TEXTS, convert_to_numpy=True, normalize_embeddings=True
    )
    sketch = RaceSketch(make_lsh(vectors.shape[1], rows=300, hash_bits=HASH_BITS, seed=0))
    sketch.add(vectors)
    np.testing.assert_array_equal(whole, sketch.query(vectors))
