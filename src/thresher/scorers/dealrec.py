"""The DEALRec scorer: min-max normalised influence (surrogate) + λ · min-max normalised effort (LLM).

Lin et al. 2024 score each example by how much it matters to the empirical risk (influence on a cheap surrogate,
`thresher.scorers.influence`) plus how hard it is for the LLM to learn (effort, `thresher.scorers.effort`); both
are min-max normalised over the whole input before the sum, so this is a multi-pass scorer that runs both parts in
`fit()`. The parts are nested components (`dealrec.influence`, `dealrec.effort`) with every parameter of their own
scorer, recorded as nested dicts in the manifest. Select with `thresher select --by dealrec --strategy ccs`
(coverage-enhanced sampling; DEALRec's code also drops the top 10 % first: `--drop-hardest 0.1`). λ was 0.3 to 1.0
in the paper (searched in 0.1 … 2.0).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from thresher.data.fields import ID_COLUMN, TEXT_COLUMN
from thresher.errors import OptionError
from thresher.scorers.base import Direction, ExampleSource, RunContext, ScoreColumn, Scorer
from thresher.scorers.effort import EffortScorer
from thresher.scorers.influence import InfluenceScorer, rows_of


def min_max(values: np.ndarray) -> np.ndarray:
    """Values mapped to [0, 1] by their minimum and maximum; all zeros when they are all equal."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


class DealRecScorer(Scorer):
    """DEALRec's score: min-max normalised influence + λ · min-max normalised effort; the raw parts are columns too.

    The two parts are the `influence` and `effort` scorers themselves, nested: set their parameters as
    ``-p dealrec.influence.damp=0.02`` or ``-p dealrec.effort.lora_rank=4``; a bare ``model``, ``seed`` or
    ``device`` reaches every part that takes it.

    Parameters
    ----------
    influence : scorer
        The influence scorer on the surrogate (embedder, epochs, ihvp, hvp_steps, damp, scale, ...): I_s.
    effort : scorer
        The effort scorer on the LM (model, lora_target, lora_rank, lora_layers, prompt_field, ...): δ_s.
    lam:
        Weight λ of the effort score (at least 0; the paper used 0.3 to 1.0, searched in 0.1 … 2.0).
    """

    needs_labels: ClassVar[bool] = True
    requires_fit: ClassVar[bool] = True
    name = "dealrec"
    columns = (
        ScoreColumn("dealrec", Direction.HIGHER, "minmax(influence) + λ·minmax(effort) (DEALRec)"),
        ScoreColumn("dealrec_influence", Direction.HIGHER, "influence on the surrogate's loss (raw)"),
        ScoreColumn("dealrec_effort", Direction.HIGHER, "LoRA gradient norm of the LM's loss (raw)"),
    )

    def __init__(self, *, influence: InfluenceScorer, effort: EffortScorer, lam: float = 0.3) -> None:
        self.influence = influence
        self.effort = effort
        self.lam = lam

    _set_up = False
    _columns: dict[str, np.ndarray] | None = None
    _row_of: dict[Any, int] | None = None

    def setup(self, context: RunContext) -> None:
        if self.lam < 0:
            raise OptionError(f"--lam must be at least 0, got {self.lam}")
        self.influence.set_progress_display(self._progress_display)
        self.influence.setup(context)
        self.effort.setup(context)
        self._set_up = True

    def fit(self, examples: ExampleSource) -> None:
        if not self._set_up:
            raise RuntimeError("scorer dealrec: call setup() before fit()")
        self.influence.fit(examples)
        self.effort.fit(examples)
        ids: list[Any] = []
        influence_parts, effort_parts = [], []
        for batch in examples():
            ids.extend(batch.column(ID_COLUMN).to_pylist())
            influence_parts.append(self.influence.score_batch(batch)["influence"])
            effort_parts.append(
                self.effort.effort(batch.column(ID_COLUMN).to_pylist(), batch.column(TEXT_COLUMN).to_pylist())
            )
        influence = np.concatenate(influence_parts)
        effort = np.concatenate(effort_parts)
        self._row_of = {example_id: row for row, example_id in enumerate(ids)}
        self._columns = {
            "dealrec": min_max(influence) + self.lam * min_max(effort),
            "dealrec_influence": influence,
            "dealrec_effort": effort,
        }

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        if self._columns is None or self._row_of is None:
            raise RuntimeError("scorer dealrec: call fit() before score_batch()")
        rows = rows_of(batch, self._row_of, self.name)
        return {name: values[rows] for name, values in self._columns.items()}

    def provenance(self) -> dict[str, Any]:
        if not self._set_up:
            return {}
        return {"influence": self.influence.provenance(), "effort": self.effort.provenance()}

    def teardown(self) -> None:
        if self._set_up:
            self.influence.teardown()
            self.effort.teardown()
        self._set_up = False
        self._columns = None
        self._row_of = None
