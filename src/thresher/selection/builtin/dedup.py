"""`dedup`: one example per duplicate group, by a dedup scorer's keep flag."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher.selection.base import VALUES, Budget, Strategy, StrategyInputs
from thresher.types import ColumnKind

KEEP_FLAG_COLUMNS = ("semdedup_keep", "minhash_keep")


class Dedup(Strategy):
    """Keep the rows a dedup scorer kept (one per duplicate group); with a budget, a seeded sample of them."""

    name = "dedup"
    needs: ClassVar[frozenset[str]] = frozenset({VALUES})
    column_kinds: ClassVar[frozenset[ColumnKind]] = frozenset({ColumnKind.FLAG})
    default_columns: ClassVar[tuple[str, ...]] = KEEP_FLAG_COLUMNS
    budget_optional = True

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        survivors = np.flatnonzero(inputs.need(VALUES, self.name) > 0.5)
        if budget is None:
            return survivors
        order = survivors[np.random.default_rng(seed).permutation(survivors.size)]
        return budget.prefix_of(order, inputs.costs)
