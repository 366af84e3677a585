"""`zip`: the Entropy Law's greedy selection of a subset that compresses badly."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher.errors import OptionError
from thresher.selection.base import TEXTS, Budget, Strategy, StrategyInputs
from thresher.selection.zip import ZipParams, zip_select

_DEFAULTS = ZipParams()


class Zip(Strategy):
    """Greedily keep the rows whose texts together compress worst with zlib (ZIP, Yin et al. 2024).

    Parameters
    ----------
    k1:
        Candidates per round with the lowest global compression ratio (stage 1).
    k2:
        Candidates per round kept after pricing each against the selection (stage 2).
    k3:
        Rows picked per round, greedily (stage 3).
    exclude_unpicked:
        Reproduce the reference code, which discards the stage-2 candidates it does not pick.
    """

    name = "zip"
    needs: ClassVar[frozenset[str]] = frozenset({TEXTS})
    supports_tokens = False

    def __init__(
        self,
        *,
        k1: int = _DEFAULTS.k1,
        k2: int = _DEFAULTS.k2,
        k3: int = _DEFAULTS.k3,
        exclude_unpicked: bool = _DEFAULTS.exclude_unpicked,
    ) -> None:
        self.k1 = k1
        self.k2 = k2
        self.k3 = k3
        self.exclude_unpicked = exclude_unpicked

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        assert budget is not None and budget.count is not None
        if min(self.k1, self.k2, self.k3) < 1:
            raise OptionError(f"zip: k1, k2 and k3 must be at least 1 (got {self.k1}, {self.k2}, {self.k3})")
        params = ZipParams(k1=self.k1, k2=self.k2, k3=self.k3, exclude_unpicked=self.exclude_unpicked)
        texts = list(inputs.need_texts(self.name))
        return np.sort(zip_select(texts, budget.count, params))
