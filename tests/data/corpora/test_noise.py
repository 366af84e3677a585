"""Label noise: exactly round(P·n) labels move to another class, seeded, with the clean label kept."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.data.corpora.noise import add_label_noise, flip_labels
from thresher.errors import OptionError

LABELS = ["a", "b", "c", "d"] * 25  # 100 labels, 4 classes


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.333, 1.0])
def test_flips_exactly_round_p_n_labels_to_a_different_class(fraction):
    noisy, flipped = flip_labels(LABELS, fraction, np.random.default_rng(0))
    assert flipped.sum() == round(fraction * len(LABELS))
    changed = np.array([before != after for before, after in zip(LABELS, noisy, strict=True)])
    assert np.array_equal(changed, flipped)
    assert set(noisy) <= set(LABELS)


def test_same_seed_same_flips_other_seed_other_flips():
    first = flip_labels(LABELS, 0.2, np.random.default_rng(7))
    again = flip_labels(LABELS, 0.2, np.random.default_rng(7))
    other = flip_labels(LABELS, 0.2, np.random.default_rng(8))
    assert first[0] == again[0] and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_records_keep_clean_label_and_noisy_flag():
    records = [{"id": i, "text": f"t{i}", "label": label} for i, label in enumerate(LABELS[:10])]
    noisy = add_label_noise(records, 0.3, np.random.default_rng(1))
    assert sum(record["noisy"] for record in noisy) == 3
    for before, after in zip(records, noisy, strict=True):
        assert after["clean_label"] == before["label"]
        assert after["noisy"] == (after["label"] != before["label"])
    assert "noisy" not in records[0]  # the input records are not modified


def test_bad_fraction_or_single_class_is_an_option_error():
    with pytest.raises(OptionError, match="between 0 and 1"):
        flip_labels(LABELS, 1.5, np.random.default_rng(0))
    with pytest.raises(OptionError, match="two classes"):
        flip_labels(["a"] * 5, 0.4, np.random.default_rng(0))
    with pytest.raises(OptionError, match="no label field"):
        add_label_noise([{"text": "x"}], 0.5, np.random.default_rng(0))


def test_class_dependent_noise_moves_each_class_to_its_fixed_target():
    noisy, flipped = flip_labels(LABELS, 0.4, np.random.default_rng(3), mode="class-dependent")
    assert flipped.sum() == 40
    target = {"a": "b", "b": "c", "c": "d", "d": "a"}  # the next class in sorted order, cyclically
    for before, after, flip in zip(LABELS, noisy, flipped, strict=True):
        assert after == (target[before] if flip else before)
    # The same rows flip as with uniform noise of the same seed; only their new class differs.
    _, uniform = flip_labels(LABELS, 0.4, np.random.default_rng(3))
    assert np.array_equal(flipped, uniform)
    records = add_label_noise(
        [{"label": label} for label in LABELS], 0.4, np.random.default_rng(3), mode="class-dependent"
    )
    assert [record["label"] for record in records] == noisy
    with pytest.raises(OptionError, match="--noise-mode"):
        flip_labels(LABELS, 0.1, np.random.default_rng(0), mode="pairs")
