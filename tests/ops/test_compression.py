import lzma
import random

import pytest

from thresher.ops.compression import compression_ratios, lzma_compressor


@pytest.mark.parametrize("preset", [0, 6, 9])
def test_lzma_with_a_text_sized_dictionary_gives_the_presets_compressed_length(preset):
    rng = random.Random(preset)
    words = ["alpha", "beta", "gamma", "delta", "ratio", "entropy", "the", "of"]
    texts = [b"", b"a", b"x" * 4097, *(" ".join(rng.choices(words, k=n)).encode() for n in (3, 40, 900, 70_000))]
    compress = lzma_compressor(preset)
    for data in texts:
        assert len(compress(data)) == len(lzma.compress(data, preset=preset))
        assert lzma.decompress(compress(data)) == data


def test_ratios_rank_repetitive_text_below_varied_text():
    ratios = compression_ratios(["ab" * 200, "the quick brown fox jumps over the lazy dog " * 2], lzma_compressor())
    assert ratios[0] < ratios[1]
