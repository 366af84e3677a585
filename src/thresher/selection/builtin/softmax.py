"""`softmax`: a sample without replacement with probability ∝ exp(score/τ) (Gumbel top-k)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher.selection import strategies
from thresher.selection.base import IMPORTANCE, Budget, RankedStream, Strategy, StrategyInputs


class Softmax(Strategy):
    """Sample rows without replacement with probability ∝ exp(importance/temperature) of the --by score.

    QuRating's sampling (Wettig et al. 2024): keep the k largest importance/τ + Gumbel noise (Gumbel top-k), the
    noise from each row's seeded draw (`thresher.selection.draws.gumbel_noise`), so it streams. The importance is
    the --by score in its recorded direction (for a lower-is-better column, exp(−value/τ)).

    Parameters
    ----------
    temperature:
        τ > 0: small values approach `top`, large values approach `random`, in the score's own units.
    """

    name = "softmax"
    needs: ClassVar[frozenset[str]] = frozenset({IMPORTANCE})

    def __init__(self, *, temperature: float = 1.0) -> None:
        self.temperature = temperature

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        assert budget is not None
        order = strategies.softmax_order(inputs.need(IMPORTANCE, self.name), self.temperature, seed)
        return budget.prefix_of(order, inputs.costs)

    def streamed(self, budget: Budget | None) -> RankedStream:
        strategies.check_temperature(self.name, self.temperature)
        return RankedStream("softmax", temperature=self.temperature)
