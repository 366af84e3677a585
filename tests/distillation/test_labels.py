"""Labelling from a teacher column in its direction, ties, fractions, and the seeded held-out split."""

import numpy as np
import pytest

from thresher.distillation.labels import holdout_mask, label_by_column, oriented
from thresher.errors import OptionError
from thresher.types import Direction


def expected_split(values, more_positive_is_higher, n_positive, n_negative):
    """Positives and negatives by a plain sort: the most positive first, equal values by row."""
    key = (lambda row: (-values[row], row)) if more_positive_is_higher else (lambda row: (values[row], row))
    order = sorted(range(len(values)), key=key)
    return sorted(order[:n_positive]), sorted(order[len(values) - n_negative :])


@pytest.mark.parametrize(
    ("direction", "end", "higher_is_positive"),
    [
        (Direction.HIGHER, "top", True),
        (Direction.HIGHER, "bottom", False),
        (Direction.LOWER, "top", False),
        (Direction.LOWER, "bottom", True),
    ],
)
def test_positives_come_from_the_chosen_end_of_the_column_in_its_direction(direction, end, higher_is_positive):
    values = np.random.default_rng(0).normal(size=50)
    labels = label_by_column(values, direction, positive_fraction=0.1, negative_fraction=0.2, positive_end=end)
    positives, negatives = expected_split(values, higher_is_positive, 5, 10)
    assert labels.positive_rows.tolist() == positives
    assert labels.negative_rows.tolist() == negatives
    inner = values[labels.positive_rows]
    outer = values[labels.negative_rows]
    assert (inner.min() > outer.max()) if higher_is_positive else (inner.max() < outer.min())


def test_without_a_negative_fraction_every_other_example_is_negative():
    values = np.arange(20.0)
    labels = label_by_column(values, Direction.HIGHER, positive_fraction=0.25)
    assert labels.positive_rows.tolist() == [15, 16, 17, 18, 19]
    assert labels.negative_rows.tolist() == list(range(15))


def test_ties_fall_by_input_row_earlier_rows_more_positive():
    values = np.array([1.0, 2.0, 2.0, 2.0, 2.0, 0.0, 2.0, 1.0, 1.0, 1.0])
    labels = label_by_column(values, Direction.HIGHER, positive_fraction=0.3, negative_fraction=0.3)
    # Five rows tie at 2.0 for three positive places: rows 1, 2, 3. Four tie at 1.0 for the two negative places
    # beside row 5 (0.0): the latest rows, 8 and 9.
    assert labels.positive_rows.tolist() == [1, 2, 3]
    assert labels.negative_rows.tolist() == [5, 8, 9]
    again = label_by_column(values, Direction.HIGHER, positive_fraction=0.3, negative_fraction=0.3)
    assert np.array_equal(again.positive_rows, labels.positive_rows)


@pytest.mark.parametrize(
    ("positive", "negative", "message"),
    [
        (0.0, None, "--positive-fraction must be between 0 and 1"),
        (1.0, None, "--positive-fraction must be between 0 and 1"),
        (0.1, 0.0, "--negative-fraction must be between 0 and 1"),
        (0.1, 1.2, "--negative-fraction must be between 0 and 1"),
        (0.6, 0.5, "exceed 1"),
        (0.01, None, "labels no example positive"),
    ],
)
def test_fractions_out_of_range_and_an_empty_positive_set_are_refused(positive, negative, message):
    with pytest.raises(OptionError, match=message):
        label_by_column(np.arange(20.0), Direction.HIGHER, positive_fraction=positive, negative_fraction=negative)


def test_nan_teacher_values_are_refused():
    with pytest.raises(OptionError, match="1 of 3 teacher values are NaN"):
        oriented(np.array([1.0, np.nan, 2.0]), Direction.HIGHER, "top")


def test_the_holdout_depends_on_each_id_and_the_seed_only():
    ids = [f"example-{i}" for i in range(2000)]
    mask = holdout_mask(ids, 0.2, seed=0)
    assert 0.17 < mask.mean() < 0.23
    # The same id is on the same side whatever else the input holds.
    subset = holdout_mask(ids[500:700], 0.2, seed=0)
    assert np.array_equal(subset, mask[500:700])
    assert not np.array_equal(holdout_mask(ids, 0.2, seed=1), mask)
    assert not holdout_mask(ids, 0.0, seed=0).any()
    with pytest.raises(OptionError, match="--holdout"):
        holdout_mask(ids, 1.0, seed=0)
