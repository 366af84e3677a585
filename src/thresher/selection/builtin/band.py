"""`band`: a middle quantile band of a score column (perplexity-band pruning)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher.selection import strategies
from thresher.selection.base import VALUES, BandStream, Budget, Strategy, StrategyInputs


class Band(Strategy):
    """Keep the rows whose --by value lies between its low and high quantiles (Ankner et al. 2024).

    "Perplexed by Perplexity" prunes by a reference model's perplexity and compares keeping the low, middle and
    high bands. The rows are ranked by raw value, ascending whatever the column's direction (ties to the lower
    row), and ranks [round(low·n), round(high·n)) are kept. With --keep K the band is K rows wide, centred on the
    (low + high)/2 quantile (moved inside the rows at either end), so an eval sweeps band widths around it.

    Parameters
    ----------
    low:
        Lower quantile in [0, 1) of the band (inclusive).
    high:
        Upper quantile in (0, 1] of the band (exclusive), above low.
    """

    name = "band"
    needs: ClassVar[frozenset[str]] = frozenset({VALUES})
    budget_optional = True
    supports_tokens = False

    def __init__(self, *, low: float = 0.25, high: float = 0.75) -> None:
        self.low = low
        self.high = high

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        count = None if budget is None else budget.count
        return strategies.select_band(inputs.need(VALUES, self.name), self.low, self.high, count)

    def streamed(self, budget: Budget | None) -> BandStream:
        strategies.check_band(self.low, self.high)
        return BandStream(self.low, self.high, None if budget is None else budget.count)
