"""How many examples to keep: the `--keep` option, given as a fraction ("0.3") or a count ("5000")."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from thresher.errors import OptionError

_COUNT = re.compile(r"[+-]?\d+")
_FRACTION = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class KeepSpec:
    """A keep size as the user wrote it: exactly one of `fraction` (0 < f <= 1) or `count` (>= 1) is set."""

    fraction: float | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        if (self.fraction is None) == (self.count is None):
            raise OptionError("--keep: give exactly one of a fraction (such as 0.3) or a count (such as 5000)")
        if self.fraction is not None and not (0.0 < self.fraction <= 1.0):
            raise OptionError(f"--keep {self.fraction}: a fraction must be greater than 0 and at most 1")
        if self.count is not None and self.count < 1:
            raise OptionError(f"--keep {self.count}: a count must be at least 1")

    def resolve(self, n: int) -> int:
        """The number of examples to keep out of `n`.

        Parameters
        ----------
        n:
            Number of examples in the input.

        Returns
        -------
        int
            For a fraction, `round(fraction * n)` but at least 1 when `n > 0`; for a count, the count itself.

        Raises
        ------
        OptionError
            If the count exceeds `n`.
        """
        if n < 0:
            raise OptionError(f"--keep: the number of examples cannot be negative (got {n})")
        if self.count is not None:
            if self.count > n:
                raise OptionError(f"--keep {self.count} exceeds the {n} examples in the input")
            return self.count
        assert self.fraction is not None
        if n == 0:
            return 0
        return max(1, round(self.fraction * n))


def parse_keep(text: str) -> KeepSpec:
    """The `KeepSpec` that a `--keep` value stands for.

    A value with a decimal point or an exponent ("0.3", "1.0", "5e-1") is a fraction and must lie in (0, 1];
    a plain integer ("5000") is a count and must be at least 1.

    Raises
    ------
    OptionError
        If `text` is neither, or is out of range; the message names `--keep` and the value.
    """
    value = text.strip()
    if _COUNT.fullmatch(value):
        count = int(value)
        if count < 1:
            raise OptionError(f"--keep {value!r}: a count must be at least 1")
        return KeepSpec(count=count)
    if _FRACTION.fullmatch(value):
        fraction = float(value)
        if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
            raise OptionError(f"--keep {value!r}: a fraction must be greater than 0 and at most 1")
        return KeepSpec(fraction=fraction)
    raise OptionError(
        f"--keep {text!r}: expected a fraction in (0, 1] such as 0.3, or a count of examples such as 5000"
    )
