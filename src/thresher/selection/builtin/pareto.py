"""`pareto`: NeMo Curator's fastText-filter rule, keep a row when score > 1 − a Pareto(α) draw."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from thresher.selection import strategies
from thresher.selection.base import IMPORTANCE, Budget, RankedStream, Strategy, StrategyInputs


class Pareto(Strategy):
    """Keep a row when its --by score > 1 − X, X a Lomax (Pareto II) draw of shape alpha: mostly high scores, some low.

    NeMo Curator's `FastTextQualityFilter.keep_document` (`nemo_curator/stages/text/filters/fasttext_filter.py`):
    `np.random.pareto(alpha) > 1 - score`, alpha 3 by default; a row with score s is kept with probability
    (2 − s)^(−α) for s in [0, 1]. X comes from each row's seeded draw (`thresher.selection.draws.lomax_noise`), so
    the rule streams. It is meant for a score in [0, 1] where higher is better (`fasttext_score`, a `--fuse
    rank-mean`); the score is taken in its recorded direction. The rule decides how many rows it keeps: without
    --keep, every row it keeps; --keep K is an upper bound: of the rows it keeps, at most the K with the largest
    score + X.

    Parameters
    ----------
    alpha:
        Shape α > 0 of the Pareto draw: larger keeps fewer low-scoring rows.
    """

    name = "pareto"
    needs: ClassVar[frozenset[str]] = frozenset({IMPORTANCE})
    budget_optional = True

    def __init__(self, *, alpha: float = 3.0) -> None:
        self.alpha = alpha

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        order = strategies.pareto_order(inputs.need(IMPORTANCE, self.name), self.alpha, seed)
        return np.sort(order) if budget is None else budget.prefix_of(order, inputs.costs)

    def streamed(self, budget: Budget | None) -> RankedStream:
        strategies.check_alpha(self.alpha)
        return RankedStream("pareto", alpha=self.alpha)
