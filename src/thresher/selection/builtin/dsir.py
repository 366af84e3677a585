"""`dsir`: importance resampling towards a target corpus with hashed n-gram features."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from thresher.data.fields import TEXT_COLUMN, Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.selection import dsir
from thresher.selection.base import TEXTS, Budget, Strategy, StrategyInputs


class Dsir(Strategy):
    """Sample rows by importance weights p_target/p_raw of hashed n-grams, towards a target file (DSIR).

    Parameters
    ----------
    target:
        File of examples like the data you want more of (any input format).
    target_text_field:
        Field of the target file holding the text (default: the input's --text-field).
    buckets:
        Hashed unigram and bigram buckets.
    """

    name = "dsir"
    needs: ClassVar[frozenset[str]] = frozenset({TEXTS})

    def __init__(
        self, *, target: Path, target_text_field: str | None = None, buckets: int = dsir.DEFAULT_BUCKETS
    ) -> None:
        self.target = target
        self.target_text_field = target_text_field
        self.buckets = buckets
        self._hasher: dsir.NgramHasher | None = None
        self._p_target: np.ndarray | None = None

    def prepare(self) -> None:
        """Read the target file once: its bucket distribution does not depend on the rows selected from."""
        if self._p_target is not None:
            return
        if self.buckets < 1:
            raise OptionError(f"dsir: buckets must be at least 1 (got {self.buckets})")
        self._hasher = dsir.NgramHasher(self.buckets)
        fields = Fields(text=self.target_text_field) if self.target_text_field else Fields()
        target = open_dataset(self.target, fields)
        texts = (text for batch in target.iter_examples() for text in batch.column(TEXT_COLUMN).to_pylist())
        self._p_target = dsir.bucket_distribution(self._hasher.counts(texts))

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        assert budget is not None
        self.prepare()
        assert self._hasher is not None and self._p_target is not None
        texts = inputs.need_texts(self.name)
        # Two streaming passes over the texts: fit p_raw, then weigh each example.
        p_raw = dsir.bucket_distribution(self._hasher.counts(texts))
        log_weights = dsir.log_importance_weights(texts, self._hasher, dsir.log_ratio(self._p_target, p_raw))
        order = dsir.gumbel_top_k(log_weights, len(log_weights), np.random.default_rng(seed))
        return budget.prefix_of(order, inputs.costs)
