"""Which examples a student learns as positives and negatives, and which it never sees (the held-out part).

Pure functions over arrays: the labelling of a teacher's score column (`label_by_column`) and the seeded held-out
split (`holdout_mask`), which `thresher distill` applies to the column's values and the examples' ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from thresher.errors import OptionError
from thresher.types import Direction

PositiveEnd = Literal["top", "bottom"]
"""Which end of the teacher column the positives come from: `top` = the more important end by the column's
declared direction (what `select --strategy top` keeps), `bottom` = the other end."""


@dataclass(frozen=True)
class TeacherLabels:
    """Rows (0-based input positions, ascending) labelled positive and negative from a teacher column."""

    positive_rows: np.ndarray
    negative_rows: np.ndarray

    def __post_init__(self) -> None:
        if np.intersect1d(self.positive_rows, self.negative_rows).size:
            raise ValueError("a row cannot be both positive and negative")


def check_fractions(positive_fraction: float, negative_fraction: float | None) -> None:
    """`OptionError` unless 0 < positive_fraction < 1, 0 < negative_fraction < 1 and their sum is at most 1."""
    if not 0.0 < positive_fraction < 1.0:
        raise OptionError(f"--positive-fraction must be between 0 and 1 (exclusive), got {positive_fraction}")
    if negative_fraction is None:
        return
    if not 0.0 < negative_fraction < 1.0:
        raise OptionError(f"--negative-fraction must be between 0 and 1 (exclusive), got {negative_fraction}")
    if positive_fraction + negative_fraction > 1.0:
        raise OptionError(
            f"--positive-fraction {positive_fraction} + --negative-fraction {negative_fraction} exceed 1: "
            "an example cannot be both"
        )


def oriented(values: np.ndarray, direction: Direction | str, positive_end: PositiveEnd) -> np.ndarray:
    """The teacher's values turned so that higher means closer to the positives' end (float64).

    `top` keeps the column's declared direction (a `lower_is_more_important` column is negated); `bottom` reverses
    it. NaN values are an `OptionError`.
    """
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"expected one value per example, got shape {scores.shape}")
    missing = int(np.isnan(scores).sum())
    if missing:
        raise OptionError(f"{missing} of {scores.size} teacher values are NaN; fill or filter them before distilling")
    if positive_end not in ("top", "bottom"):
        raise OptionError(f"--positive-end must be top or bottom, got {positive_end!r}")
    sign = 1.0 if Direction(direction) is Direction.HIGHER else -1.0
    if positive_end == "bottom":
        sign = -sign
    return sign * scores


def label_by_column(
    values: np.ndarray,
    direction: Direction | str,
    *,
    positive_fraction: float,
    negative_fraction: float | None = None,
    positive_end: PositiveEnd = "top",
    column: str = "the column",
) -> TeacherLabels:
    """Positives: the round(positive_fraction · n) rows nearest the positives' end; negatives: the
    round(negative_fraction · n) rows at the other end, or every other row when `negative_fraction` is None.

    Rows are ordered by `oriented` value, highest first, equal values by input row (earlier first), so ties at a
    boundary always fall the same way: the earlier row is the more positive one.

    Raises
    ------
    OptionError
        A fraction out of range, NaN values, or an empty positive or negative set.
    """
    check_fractions(positive_fraction, negative_fraction)
    scores = oriented(values, direction, positive_end)
    n = len(scores)
    n_positive = int(round(positive_fraction * n))
    if n_positive == 0:
        raise OptionError(
            f"--positive-fraction {positive_fraction} of {n} examples of {column} labels no example positive; "
            "raise it or give more examples"
        )
    n_negative = n - n_positive if negative_fraction is None else int(round(negative_fraction * n))
    n_negative = min(n_negative, n - n_positive)
    if n_negative == 0:
        which = "all the rest" if negative_fraction is None else f"--negative-fraction {negative_fraction}"
        raise OptionError(f"{which} of {n} examples of {column} leaves no example negative")
    rows = np.arange(n)
    order = np.lexsort((rows, -scores))  # highest oriented value first; equal values by row
    return TeacherLabels(
        positive_rows=np.sort(order[:n_positive]),
        negative_rows=np.sort(order[n - n_negative :]),
    )


def holdout_mask(ids: list[str] | np.ndarray, fraction: float, seed: int, *, salt: str = "") -> np.ndarray:
    """True for the examples held out: those whose seeded hash of (salt, id) falls below `fraction`.

    An example stays on its side whatever else the input holds (the split depends on its own id only), and
    another `seed` draws another split.
    """
    if not 0.0 <= fraction < 1.0:
        raise OptionError(f"--holdout must be in [0, 1), got {fraction}")
    mask = np.zeros(len(ids), dtype=bool)
    if fraction == 0.0:
        return mask
    for index, example_id in enumerate(ids):
        digest = hashlib.blake2b(f"{seed}\0{salt}\0{example_id}".encode(), digest_size=8).digest()
        mask[index] = int.from_bytes(digest, "big") / 2.0**64 < fraction
    return mask
