import lzma
import zlib

import numpy as np
import pyarrow as pa
import zstandard

from thresher.ops.compression import compression_ratios, zlib_compressor
from thresher.scorers.compression import CompressionScorer


def test_ratios_equal_direct_compression():
    texts = ["the cat sat on the mat " * 20, "a quick brown fox jumps over the lazy dog", "ünïcödé ✓"]
    scores = CompressionScorer().score_batch(pa.record_batch({"id": ["a", "b", "c"], "text": texts}))
    for i, text in enumerate(texts):
        raw = text.encode("utf-8")
        assert scores["zlib_ratio"][i] == len(zlib.compress(raw, 9)) / len(raw)
        assert scores["zstd_ratio"][i] == len(zstandard.ZstdCompressor(level=19).compress(raw)) / len(raw)
        assert scores["lzma_ratio"][i] == len(lzma.compress(raw, preset=6)) / len(raw)


def test_repetitive_text_compresses_better_than_varied_text_of_same_length():
    rng = np.random.default_rng(0)
    varied = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz "), size=800))
    repetitive = ("abcd " * 200)[:800]
    ratios = compression_ratios([repetitive, varied], zlib_compressor())
    assert ratios[0] < 0.1 < ratios[1]


def test_scores_do_not_depend_on_batch_composition():
    texts = [f"example number {i} " * (i % 7 + 1) for i in range(30)]
    scorer = CompressionScorer()
    whole = scorer.score_batch(pa.record_batch({"id": list(range(30)), "text": texts}))
    part = scorer.score_batch(pa.record_batch({"id": list(range(10, 20)), "text": texts[10:20]}))
    for name in whole:
        np.testing.assert_array_equal(whole[name][10:20], part[name])
