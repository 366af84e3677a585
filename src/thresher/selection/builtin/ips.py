"""`ips`: inverse-propensity sampling by a density column."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher.selection import strategies
from thresher.selection.base import VALUES, Budget, Strategy, StrategyInputs


class InversePropensity(Strategy):
    """Sample rows with probability ∝ density^(-1/temperature) of the --by density, so rare rows are drawn more.

    Parameters
    ----------
    temperature:
        Larger flattens the draw towards uniform; smaller favours rare rows more.
    """

    name = "ips"
    needs: ClassVar[frozenset[str]] = frozenset({VALUES})

    def __init__(self, *, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        assert budget is not None
        density = inputs.need(VALUES, self.name)
        order = strategies.ips_order(density, np.random.default_rng(seed), temperature=self.temperature)
        return budget.prefix_of(order, inputs.costs)
