"""Influence scorers on a surrogate model: `influence` (DEALRec's inverse-Hessian influence) and `tracin`.

Both train (or load from the run's cache) the surrogate of `thresher.models.surrogate` in `fit()`: an MLP head on
cached sentence embeddings, predicting `--label-field`. `influence` computes one inverse-Hessian-vector product
(`--ihvp lissa|cg`) of the target loss's gradient and dots it with each example's gradient; `tracin` sums
lr·∇ℓ(s)·∇L̄ over the surrogate's epoch checkpoints (cheaper, no Hessian). The target loss L̄ is the mean
training loss, or the mean loss on `--validation FILE` (same text and label fields). Higher = removing the
example would raise the target loss more = more important.

References:
    Lin et al. 2024, "Data-efficient Fine-tuning for LLM-based Recommendation" (DEALRec), arXiv 2401.17197.
    Koh & Liang 2017, "Understanding Black-box Predictions via Influence Functions".
    Pruthi et al. 2020, "Estimating Training Data Influence by Tracing Gradient Descent" (TracIn).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F

from thresher.data.fields import ID_COLUMN, LABEL_COLUMN, TEXT_COLUMN
from thresher.errors import OptionError
from thresher.models import surrogate
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.scorers.base import Direction, ExampleSource, RunContext, ScoreColumn, Scorer

IHVP_SOLVERS = ("lissa", "cg")


class SurrogateScorer(Scorer):
    """Base of the surrogate scorers: train (or load) the surrogate in `fit`, compute every score, look up by id.

    Parameters
    ----------
    embedder:
        sentence-transformers Hub id or directory whose embeddings the surrogate head reads.
    epochs:
        Surrogate training epochs (one TracIn checkpoint per epoch).
    validation:
        A labelled file (same --text-field and --label-field); influence on its mean loss instead of the
        training loss.
    text_field:
        Text field of the `validation` file (the run's own --text-field, passed by `thresher score`).
    label_field:
        Label field of the `validation` file (the run's own --label-field, passed by `thresher score`).
    seed:
        Seeds the surrogate's training (and LiSSA's batch draws).
    device:
        auto | cpu | cuda, where the embedder runs.
    """

    needs_labels: ClassVar[bool] = True
    requires_fit: ClassVar[bool] = True

    def __init__(
        self,
        *,
        embedder: str = DEFAULT_EMBEDDER,
        epochs: int = 10,
        validation: str | None = None,
        text_field: str = "text",
        label_field: str = "label",
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        self.embedder = embedder
        self.epochs = epochs
        self.validation = validation
        self.text_field = text_field
        self.label_field = label_field
        self.seed = seed
        self.device = device

    _cache_dir = None
    _surrogate: surrogate.Surrogate | None = None
    _scores: np.ndarray | None = None
    _row_of: dict[Any, int] | None = None

    def config(self) -> surrogate.SurrogateConfig:
        return surrogate.SurrogateConfig(embedder=self.embedder, epochs=self.epochs, seed=self.seed)

    def setup(self, context: RunContext) -> None:
        self._cache_dir = context.cache_dir

    def fit(self, examples: ExampleSource) -> None:
        ids, texts, labels = collect_labelled(examples(), self.name)
        self._surrogate = surrogate.load_or_train(
            ids,
            texts,
            labels,
            self.config(),
            cache_dir=self._cache_dir,
            device=self.device,
            progress=self.progress_reporter("surrogate training", unit="epoch"),
        )
        target = None
        if self.validation is not None:
            target = surrogate.validation_set(
                self.validation,
                self._surrogate,
                self.config(),
                text_field=self.text_field,
                label_field=self.label_field,
                device=self.device,
            )
        self._row_of = {example_id: row for row, example_id in enumerate(ids)}
        with surrogate.single_thread():
            self._scores = self.compute(self._surrogate, target).astype(np.float64)

    def compute(self, trained: surrogate.Surrogate, target: tuple[torch.Tensor, torch.Tensor] | None) -> np.ndarray:
        """One score per training example, in input order."""
        raise NotImplementedError

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        if self._scores is None or self._row_of is None:
            raise RuntimeError(f"scorer {self.name}: call fit() before score_batch()")
        rows = rows_of(batch, self._row_of, self.name)
        return {self.columns[0].name: self._scores[rows]}

    def provenance(self) -> dict[str, Any]:
        if self._surrogate is None:
            return {}
        return {
            "surrogate": "mlp-head-on-embeddings",
            "surrogate_source": self.embedder,
            "surrogate_key": self._surrogate.key,
            "surrogate_reused": self._surrogate.from_cache,
            "classes": len(self._surrogate.classes),
        }

    def teardown(self) -> None:
        self._surrogate = None
        self._scores = None
        self._row_of = None


class InfluenceScorer(SurrogateScorer):
    """DEALRec's influence score: ∇ℓ(s)ᵀ (H + λI)⁻¹ ∇L̄ on the surrogate, with one inverse-HVP for all examples.

    LiSSA iterates h ← v + (1 − damp)·h − HVP(h)/scale; both solvers damp the Hessian by λ = damp·scale.

    Parameters
    ----------
    ihvp:
        Inverse-HVP solver: lissa (stochastic recursion, default) | cg (conjugate gradient on the full Hessian).
    hvp_steps:
        LiSSA recursion steps, or CG iterations at most.
    damp:
        LiSSA damping, in [0, 1).
    scale:
        LiSSA scale (positive): the Hessian is divided by it so the recursion converges.
    hvp_batch_size:
        Examples per LiSSA Hessian-vector product.
    """

    name = "influence"
    columns = (
        ScoreColumn(
            "influence",
            Direction.HIGHER,
            "∇ℓ(s)ᵀ(H+λI)⁻¹∇L̄ on the surrogate head: how much the training (or validation) loss rises without s",
        ),
    )

    def __init__(
        self,
        *,
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
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        super().__init__(
            embedder=embedder,
            epochs=epochs,
            validation=validation,
            text_field=text_field,
            label_field=label_field,
            seed=seed,
            device=device,
        )
        self.ihvp = ihvp
        self.hvp_steps = hvp_steps
        self.damp = damp
        self.scale = scale
        self.hvp_batch_size = hvp_batch_size

    def check(self) -> None:
        if self.ihvp not in IHVP_SOLVERS:
            raise OptionError(f"unknown --ihvp {self.ihvp!r}; choose one of {', '.join(IHVP_SOLVERS)}")
        if self.hvp_steps < 1 or self.hvp_batch_size < 1:
            raise OptionError("--hvp-steps and the HVP batch size must be at least 1")
        if not 0.0 <= self.damp < 1.0 or self.scale <= 0.0:
            raise OptionError(f"--damp must be in [0, 1) and --scale positive (got {self.damp}, {self.scale})")

    def setup(self, context: RunContext) -> None:
        self.check()
        super().setup(context)

    def compute(self, trained: surrogate.Surrogate, target: tuple[torch.Tensor, torch.Tensor] | None) -> np.ndarray:
        from thresher.ops.influence import influence_scores

        target_inputs, target_targets = target if target is not None else (None, None)
        scores = influence_scores(
            trained.model(),
            F.cross_entropy,
            trained.features,
            trained.labels,
            target_inputs=target_inputs,
            target_targets=target_targets,
            solver=self.ihvp,
            steps=self.hvp_steps,
            damp=self.damp,
            scale=self.scale,
            batch_size=self.hvp_batch_size,
            seed=self.seed,
            on_step=self.progress_reporter(f"inverse HVP ({self.ihvp})", unit="step"),
        )
        return scores.detach().double().numpy()


class TracInScorer(SurrogateScorer):
    """TracInCP on the surrogate: Σ over epoch checkpoints of lr · ∇ℓ(s)ᵀ ∇L̄ (validation or training loss).

    Cheaper than `influence` (no Hessian); takes the surrogate's parameters only.
    """

    name = "tracin"
    columns = (
        ScoreColumn(
            "tracin",
            Direction.HIGHER,
            "Σ_checkpoints lr·∇ℓ(s)ᵀ∇L̄ on the surrogate head: how much s's steps lowered the target loss",
        ),
    )

    def compute(self, trained: surrogate.Surrogate, target: tuple[torch.Tensor, torch.Tensor] | None) -> np.ndarray:
        from thresher.ops.influence import tracin_scores

        target_inputs, target_targets = target if target is not None else (None, None)
        scores = tracin_scores(
            trained.checkpoint_models(),
            F.cross_entropy,
            trained.features,
            trained.labels,
            target_inputs=target_inputs,
            target_targets=target_targets,
        )
        return scores.numpy()


def collect_labelled(batches: Iterable[pa.RecordBatch], scorer: str) -> tuple[list[Any], list[str], list[Any]]:
    """Ids, texts and labels of every example, in input order."""
    ids: list[Any] = []
    texts: list[str] = []
    labels: list[Any] = []
    for batch in batches:
        if LABEL_COLUMN not in batch.schema.names:
            raise OptionError(f"scorer {scorer} trains a surrogate classifier and needs labels; give --label-field")
        ids.extend(batch.column(ID_COLUMN).to_pylist())
        texts.extend(batch.column(TEXT_COLUMN).to_pylist())
        labels.extend(batch.column(LABEL_COLUMN).to_pylist())
    return ids, texts, labels


def rows_of(batch: pa.RecordBatch, row_of: dict[Any, int], scorer: str) -> np.ndarray:
    """Positions (in the fitted examples) of the batch's ids."""
    try:
        return np.array([row_of[value] for value in batch.column(ID_COLUMN).to_pylist()], dtype=np.int64)
    except KeyError as error:
        raise OptionError(f"scorer {scorer}: id {error.args[0]!r} was not in the examples it fit on") from None
