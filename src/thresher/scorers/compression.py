"""Compression scorer: how well zlib, zstd and lzma compress each example (no model needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from thresher.ops.compression import compression_ratios, lzma_compressor, zlib_compressor, zstd_compressor
from thresher.scorers.base import Direction, ScoreColumn, Scorer


class CompressionScorer(Scorer):
    """Compressed size / raw size of each example under zlib, zstd and lzma (higher = less redundant = more important).

    Cost class: CPU only, no model; lzma dominates the time.

    Parameters
    ----------
    zlib_level:
        zlib compression level, 0 to 9.
    zstd_level:
        zstd compression level, 1 to 22.
    lzma_preset:
        lzma (xz) preset, 0 to 9.
    """

    name = "compression"
    columns = (
        ScoreColumn("zlib_ratio", Direction.HIGHER, "zlib-compressed bytes / raw UTF-8 bytes"),
        ScoreColumn("zstd_ratio", Direction.HIGHER, "zstd-compressed bytes / raw UTF-8 bytes"),
        ScoreColumn("lzma_ratio", Direction.HIGHER, "lzma-compressed bytes / raw UTF-8 bytes"),
    )

    def __init__(self, *, zlib_level: int = 9, zstd_level: int = 19, lzma_preset: int = 6) -> None:
        self.zlib_level = zlib_level
        self.zstd_level = zstd_level
        self.lzma_preset = lzma_preset

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        texts = batch.column("text").to_pylist()
        scores = {
            "zlib_ratio": compression_ratios(texts, zlib_compressor(self.zlib_level)),
            "zstd_ratio": compression_ratios(texts, zstd_compressor(self.zstd_level)),
            "lzma_ratio": compression_ratios(texts, lzma_compressor(self.lzma_preset)),
        }
        self.report_progress(len(texts))
        return scores

    def provenance(self) -> dict[str, Any]:
        import zstandard

        return {"zstandard": zstandard.__version__, "device": "cpu"}
