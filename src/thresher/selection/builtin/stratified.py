"""`stratified` (alias `ccs`): coverage-centric coreset selection over score strata."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher.selection import strategies
from thresher.selection.base import IMPORTANCE, Budget, Strategy, StrategyInputs, StratifiedStream


class Stratified(Strategy):
    """Spread the budget over equal-width strata of the --by score (CCS), after dropping the hardest rows.

    Parameters
    ----------
    strata:
        Number of equal-width score strata.
    drop_hardest:
        Fraction in [0, 1) of the most important rows to drop first (CCS's hard cutoff; DEALRec uses 0.1).
    """

    name = "stratified"
    needs: ClassVar[frozenset[str]] = frozenset({IMPORTANCE})

    def __init__(self, *, strata: int = 50, drop_hardest: float = 0.0) -> None:
        self.strata = strata
        self.drop_hardest = drop_hardest

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        assert budget is not None
        importance = inputs.need(IMPORTANCE, self.name)
        options = {"strata": self.strata, "drop_hardest": self.drop_hardest}
        if budget.tokens is not None:
            costs = inputs.need("costs", self.name)
            return strategies.select_stratified_within_budget(importance, costs, budget.tokens, seed, **options)
        assert budget.count is not None
        return strategies.select_stratified(importance, budget.count, seed, **options)

    def streamed(self, budget: Budget | None) -> StratifiedStream | None:
        if budget is None or budget.tokens is not None:
            return None  # a token budget searches over sample sizes: in memory
        return StratifiedStream(self.strata, self.drop_hardest)
