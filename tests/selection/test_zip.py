import random
import zlib

import numpy as np
import pytest

from thresher.selection.zip import ZipParams, _Stream, set_ratio, zip_select


def corpus(n: int = 240, seed: int = 0) -> list[str]:
    """A third of the texts are copies of four templates (redundant); the rest are varied word salads."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(3000)]
    templates = [" ".join(rng.choice(vocab) for _ in range(30)) for _ in range(4)]
    return [
        templates[index % 4] if index % 3 == 0 else " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 30)))
        for index in range(n)
    ]


def test_incremental_ratio_equals_one_shot_compression():
    texts = corpus(40)
    stream = _Stream()
    for text in texts[:30]:
        stream.add(text.encode())
    raw = "".join(text + "\n" for text in texts[:30] + [texts[35]]).encode()
    assert stream.ratio_with(texts[35].encode()) == pytest.approx(len(raw) / len(zlib.compress(raw, 9)))
    assert set_ratio(texts[:30] + [texts[35]]) == pytest.approx(len(raw) / len(zlib.compress(raw, 9)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_selection_is_less_redundant_than_random(seed):
    texts = corpus(seed=seed)
    chosen = zip_select(texts, 60, ZipParams(k1=10_000, k2=40, k3=20))
    assert len(chosen) == 60 and len(set(chosen.tolist())) == 60
    rng = np.random.default_rng(seed)
    zip_info = 1 / set_ratio([texts[row] for row in chosen])  # compressed / raw: higher = more information
    random_info = [1 / set_ratio([texts[row] for row in rng.choice(len(texts), 60, replace=False)]) for _ in range(5)]
    assert zip_info > max(random_info) + 0.1
    assert sum(row % 3 == 0 for row in chosen) <= 3  # at most a few template copies (a random sample: ~20)


def test_budget_clipping_determinism_and_reference_exclusion():
    texts = corpus(50)
    everything = zip_select(texts, 500, ZipParams(k1=20, k2=10, k3=5))
    assert sorted(everything.tolist()) == list(range(50))
    np.testing.assert_array_equal(
        zip_select(texts, 17, ZipParams(k2=10, k3=4)), zip_select(texts, 17, ZipParams(k2=10, k3=4))
    )
    # The reference discards the k2 - k3 unpicked candidates each round, so it runs out above half the data.
    reference = zip_select(texts, 40, ZipParams(k1=50, k2=10, k3=5, exclude_unpicked=True))
    assert len(reference) == 25
    assert zip_select([], 5).size == 0
