"""Compressed-size ratios of texts: the model-free information baseline used by the Entropy Law paper."""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import zstandard

Compressor = Callable[[bytes], bytes]


def zlib_compressor(level: int = 9) -> Compressor:
    """zlib (DEFLATE) at `level`, as ZIP / Entropy Law compute their ratio."""
    return lambda data: zlib.compress(data, level)


def zstd_compressor(level: int = 19) -> Compressor:
    """Zstandard at `level`; one compressor object is reused across texts (it is not thread-safe)."""
    compressor = zstandard.ZstdCompressor(level=level)
    return compressor.compress


def lzma_compressor(preset: int = 6) -> Compressor:
    """LZMA (xz container) at `preset`."""
    return lambda data: lzma.compress(data, preset=preset)


def compression_ratios(texts: Sequence[str], compress: Compressor) -> np.ndarray:
    """Compressed bytes / raw UTF-8 bytes for each text (higher = less redundant = more information).

    Short texts can exceed 1.0 because of the compressor's fixed header; the ratio still ranks texts
    of similar length by how repetitive they are.
    """
    ratios = np.empty(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        raw = text.encode("utf-8")
        ratios[i] = len(compress(raw)) / max(len(raw), 1)
    return ratios
