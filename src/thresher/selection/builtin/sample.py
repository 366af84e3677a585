"""`random`: a uniform sample of the rows."""

from __future__ import annotations

import numpy as np

from thresher.selection.base import Budget, Strategy, StrategyInputs


class Random(Strategy):
    """Keep a uniform random sample of the rows, drawn from the seed."""

    name = "random"

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        assert budget is not None
        # The first k of a seeded permutation: `strategies.select_random` draws the same rows.
        order = np.random.default_rng(seed).permutation(inputs.n_rows)
        return budget.prefix_of(order, inputs.costs)
