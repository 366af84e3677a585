"""The DEALRec scorer: min-max normalised influence (surrogate) + λ · min-max normalised effort (LLM).

Lin et al. 2024 score each example by how much it matters to the empirical risk (influence on a cheap surrogate,
`thresher.scorers.influence`) plus how hard it is for the LLM to learn (effort, `thresher.scorers.effort`); both
are min-max normalised over the whole input before the sum, so this is a multi-pass scorer that runs both parts in
`fit()`. Select with `thresher select --by dealrec --strategy ccs` (coverage-enhanced sampling; DEALRec's code also
drops the top 10 % first: `--drop-hardest 0.1`). λ was 0.3 to 1.0 in the paper (searched in 0.1 … 2.0).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from thresher.data.fields import ID_COLUMN, TEXT_COLUMN
from thresher.errors import OptionError
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.scorers.base import Direction, ExampleSource, RunContext, ScoreColumn, Scorer
from thresher.scorers.effort import EffortScorer
from thresher.scorers.influence import InfluenceScorer, rows_of


def min_max(values: np.ndarray) -> np.ndarray:
    """Values mapped to [0, 1] by their minimum and maximum; all zeros when they are all equal."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


class DealRecScorer(Scorer):
    """DEALRec's overall score I_s + λ·δ_s after min-max normalising each; the raw parts are columns too.

    Takes every parameter of the `influence` scorer (surrogate, inverse-HVP) and of the `effort` scorer (LM,
    LoRA, prompt/response fields), plus `lam` (λ).
    """

    needs_labels: ClassVar[bool] = True
    requires_fit: ClassVar[bool] = True
    name = "dealrec"
    columns = (
        ScoreColumn("dealrec", Direction.HIGHER, "minmax(influence) + λ·minmax(effort) (DEALRec)"),
        ScoreColumn("dealrec_influence", Direction.HIGHER, "influence on the surrogate's loss (raw)"),
        ScoreColumn("dealrec_effort", Direction.HIGHER, "LoRA gradient norm of the LM's loss (raw)"),
    )

    def __init__(
        self,
        *,
        model: str,
        lam: float = 0.3,
        embedder: str = DEFAULT_EMBEDDER,
        epochs: int = 10,
        validation: str | None = None,
        text_field: str = "text",
        label_field: str = "label",
        ihvp: str = "lissa",
        hvp_steps: int = 5000,
        damp: float = 0.01,
        scale: float = 25.0,
        hvp_batch_size: int = 128,
        lora_target: str | None = None,
        lora_rank: int = 8,
        lora_layers: int = 1,
        prompt_field: str | None = None,
        response_field: str | None = None,
        max_length: int = 256,
        batch_size: int = 16,
        dtype: str = "float32",
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        self.model = model
        self.lam = lam
        self.embedder = embedder
        self.epochs = epochs
        self.validation = validation
        self.text_field = text_field
        self.label_field = label_field
        self.ihvp = ihvp
        self.hvp_steps = hvp_steps
        self.damp = damp
        self.scale = scale
        self.hvp_batch_size = hvp_batch_size
        self.lora_target = lora_target
        self.lora_rank = lora_rank
        self.lora_layers = lora_layers
        self.prompt_field = prompt_field
        self.response_field = response_field
        self.max_length = max_length
        self.batch_size = batch_size
        self.dtype = dtype
        self.seed = seed
        self.device = device

    _influence: InfluenceScorer | None = None
    _effort: EffortScorer | None = None
    _columns: dict[str, np.ndarray] | None = None
    _row_of: dict[Any, int] | None = None

    def parts(self) -> tuple[InfluenceScorer, EffortScorer]:
        """The two scorers whose results DEALRec combines, built from this scorer's parameters."""
        params = self.get_params()
        influence = InfluenceScorer(**{k: v for k, v in params.items() if k in InfluenceScorer.param_names()})
        effort = EffortScorer(**{k: v for k, v in params.items() if k in EffortScorer.param_names()})
        return influence, effort

    def setup(self, context: RunContext) -> None:
        if self.lam < 0:
            raise OptionError(f"--lam must be at least 0, got {self.lam}")
        self._influence, self._effort = self.parts()
        self._influence.set_progress_display(self._progress_display)
        self._influence.setup(context)
        self._effort.setup(context)

    def fit(self, examples: ExampleSource) -> None:
        if self._influence is None or self._effort is None:
            raise RuntimeError("scorer dealrec: call setup() before fit()")
        self._influence.fit(examples)
        self._effort.fit(examples)
        ids: list[Any] = []
        influence_parts, effort_parts = [], []
        for batch in examples():
            ids.extend(batch.column(ID_COLUMN).to_pylist())
            influence_parts.append(self._influence.score_batch(batch)["influence"])
            effort_parts.append(
                self._effort.effort(batch.column(ID_COLUMN).to_pylist(), batch.column(TEXT_COLUMN).to_pylist())
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
        if self._influence is None or self._effort is None:
            return {}
        return {"influence": self._influence.provenance(), "effort": self._effort.provenance()}

    def teardown(self) -> None:
        for part in (self._influence, self._effort):
            if part is not None:
                part.teardown()
        self._columns = None
        self._row_of = None
