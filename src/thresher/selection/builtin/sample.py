"""`random`: a uniform sample of the rows."""

from __future__ import annotations

import numpy as np

from thresher.selection.base import Budget, RankedStream, Strategy, StrategyInputs
from thresher.selection.draws import draw_order


class Random(Strategy):
    """Keep a uniform random sample of the rows: those with the smallest seeded per-row draws."""

    name = "random"

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        assert budget is not None
        # Rows by ascending draw: `strategies.select_random` and the streaming selection take the same rows.
        return budget.prefix_of(draw_order(inputs.n_rows, seed), inputs.costs)

    def streamed(self, budget: Budget | None) -> RankedStream:
        return RankedStream("random")
