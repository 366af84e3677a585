"""The density scorer: sketch estimate vs exact kernel sum, and rare examples score low."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from scipy.stats import spearmanr

from thresher.scorers.base import RunContext
from thresher.scorers.density import DensityScorer

TEXTS = ["the cat sat on the mat"] * 6 + ["the cat sat on a mat"] * 4 + ["colorless green ideas sleep furiously"]


def batches(texts: list[str]):
    ids = [f"id-{i}" for i in range(len(texts))]
    return lambda: iter(
        [pa.record_batch({"id": ids[:5], "text": texts[:5]}), pa.record_batch({"id": ids[5:], "text": texts[5:]})]
    )


def score(tiny_embedder_dir, tmp_path, **options) -> np.ndarray:
    scorer = DensityScorer(embedder=str(tiny_embedder_dir), device="cpu", **options)
    scorer.setup(RunContext(cache_dir=tmp_path / "cache"))
    scorer.fit(batches(TEXTS))
    ids = [f"id-{i}" for i in range(len(TEXTS))]
    values = scorer.score_batch(pa.record_batch({"id": ids, "text": TEXTS}))["density"]
    assert scorer.provenance()["points"] == len(TEXTS)
    return values


def test_race_estimate_tracks_the_exact_kernel_sum_and_the_outlier_is_rarest(tiny_embedder_dir, tmp_path):
    estimate = score(tiny_embedder_dir, tmp_path, rows=2000, hash_bits=4)
    exact = score(tiny_embedder_dir, tmp_path, rows=2000, hash_bits=4, exact=True)
    assert np.argmin(exact) == len(TEXTS) - 1 and np.argmin(estimate) == len(TEXTS) - 1
    np.testing.assert_allclose(estimate, exact, rtol=0.1)
    assert spearmanr(estimate, exact).statistic > 0.8
    # Every example counts itself: density >= 1.
    assert np.all(exact >= 1.0 - 1e-9) and exact[0] == exact[5 - 5]


def test_l2_kernel_runs(tiny_embedder_dir, tmp_path):
    values = score(tiny_embedder_dir, tmp_path, kernel="l2", rows=500, bandwidth=0.5, buckets=1024)
    assert np.argmin(values) == len(TEXTS) - 1
