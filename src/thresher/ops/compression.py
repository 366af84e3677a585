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


_LZMA_MIN_DICT = 4096
# Dictionary size of each xz preset level (liblzma's table); a longer text keeps the preset's own size.
_LZMA_PRESET_DICT = (1 << 18, 1 << 20, 1 << 21, 1 << 22, 1 << 22, 1 << 23, 1 << 23, 1 << 24, 1 << 25, 1 << 26)


def lzma_compressor(preset: int = 6) -> Compressor:
    """LZMA (xz container) at `preset`, with the dictionary cut to the text's size.

    A dictionary at least as long as the input finds the same matches and writes the same one-byte size code, so
    the output length equals `lzma.compress(data, preset=preset)`'s; but allocating the preset's 8 MiB dictionary
    for every short example cost ~1 ms, 16-31x the whole compression of a gloss-sized text.
    """

    preset_dict = _LZMA_PRESET_DICT[preset & 0x1F]

    def compress(data: bytes) -> bytes:
        dict_size = min(max(_LZMA_MIN_DICT, 1 << max(len(data) - 1, 1).bit_length()), preset_dict)
        filters = [{"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": dict_size}]
        return lzma.compress(data, format=lzma.FORMAT_XZ, filters=filters)

    return compress


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
