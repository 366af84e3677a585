"""`threshold`: the rows whose raw value lies in a range."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher.selection import strategies
from thresher.selection.base import IMPORTANCE, VALUES, Budget, RankedStream, Strategy, StrategyInputs


class Threshold(Strategy):
    """Keep the rows whose raw --by value lies in [minimum, maximum]; with a budget, the most important of them.

    Parameters
    ----------
    minimum:
        Lowest value kept (inclusive); none for no lower bound.
    maximum:
        Highest value kept (inclusive); none for no upper bound.
    """

    name = "threshold"
    needs: ClassVar[frozenset[str]] = frozenset({VALUES, IMPORTANCE})
    budget_optional = True

    def __init__(self, *, minimum: float | None = None, maximum: float | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        in_range = strategies.select_threshold(inputs.need(VALUES, self.name), self.minimum, self.maximum)
        if budget is None:
            return in_range
        # Within the range, prefer the most important rows up to the count or the token budget.
        importance = inputs.need(IMPORTANCE, self.name)
        return budget.prefix_of(in_range[np.argsort(-importance[in_range], kind="stable")], inputs.costs)

    def streamed(self, budget: Budget | None) -> RankedStream:
        strategies.check_threshold_bounds(self.minimum, self.maximum)
        return RankedStream("top", in_range=True, minimum=self.minimum, maximum=self.maximum)
