"""`top` and `bottom`: the most or the least important rows by a score column."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher.selection import strategies
from thresher.selection.base import IMPORTANCE, Budget, RankedStream, Strategy, StrategyInputs


class Top(Strategy):
    """Keep the most important rows by the --by score (its recorded direction says which end), ties to lower rows."""

    name = "top"
    needs: ClassVar[frozenset[str]] = frozenset({IMPORTANCE})

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        assert budget is not None
        order = strategies.preference_order(self.name, inputs.need(IMPORTANCE, self.name))
        return budget.prefix_of(order, inputs.costs)

    def streamed(self, budget: Budget | None) -> RankedStream:
        return RankedStream(self.name)


class Bottom(Top):
    """Keep the least important rows by the --by score, ties to lower rows."""

    name = "bottom"
