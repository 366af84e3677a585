"""Influence scorers on a surrogate model: `influence` (DEALRec's inverse-Hessian influence) and `tracin`.

Set-level scorers (`thresher.scorers.base`) in one round: the workers embed each shard into the shared embedding
cache and save its labels (`thresher.scorers.labelled`); on the driver, `finalize` trains (or loads from the score
directory's cache) the surrogate of `thresher.models.surrogate` (an MLP head on the cached sentence embeddings,
predicting `--label-field`) and computes every example's score into a column that the workers read by row
position. `influence` computes one inverse-Hessian-vector product (`--ihvp lissa|cg`) of the target loss's gradient
and dots it with each example's gradient; `tracin` sums lr·∇ℓ(s)·∇L̄ over the surrogate's epoch checkpoints
(cheaper, no Hessian). The target loss L̄ is the mean training loss, or the mean loss on `--validation FILE` (same
text and label fields). Higher = removing the example would raise the target loss more = more important.

References:
    Lin et al. 2024, "Data-efficient Fine-tuning for LLM-based Recommendation" (DEALRec), arXiv 2401.17197.
    Koh & Liang 2017, "Understanding Black-box Predictions via Influence Functions".
    Pruthi et al. 2020, "Estimating Training Data Influence by Tracing Gradient Descent" (TracIn).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from thresher.errors import OptionError
from thresher.models import surrogate
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.scorers import labelled
from thresher.scorers.base import Direction, RunContext, ScoreColumn, Scorer

IHVP_SOLVERS = ("lissa", "cg")


class SurrogateScorer(labelled.LabelledPass, Scorer):
    """Base of the surrogate scorers: the surrogate trained (or loaded) in `finalize`, scores read by position.

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
    fit_rounds: ClassVar[int] = 1
    # 2: the surrogate trains on embeddings computed shard by shard (float-level differences).
    version: ClassVar[int] = 2

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

    def config(self) -> surrogate.SurrogateConfig:
        return surrogate.SurrogateConfig(embedder=self.embedder, epochs=self.epochs, seed=self.seed)

    def fit_key(self) -> dict[str, Any]:
        """The surrogate (not the scorer): influence and tracin of one run share one fitting pass."""
        return {"family": "surrogate", "training": surrogate.surrogate_key(self.config(), "")}

    def check(self) -> None:
        """Raise `OptionError` for parameters out of range (before any work)."""
        self.config()

    def setup(self, context: RunContext) -> None:
        self.check()
        self._context = context

    def finalize(self, merged: frozenset[Any], round: int, context: RunContext) -> dict[str, Any]:
        """Train (or load) the surrogate and write every example's score, in input order."""
        self.check()
        labels, classes = labelled.class_labels(context, merged, self.name)
        features = labelled.all_features(context, self.embedder, self.device, self.name)
        assert context.input_digest is not None
        trained = surrogate.train_cached(
            features,
            labels,
            classes,
            self.config(),
            cache_dir=context.cache_dir,
            input_digest=context.input_digest,
            progress=self.progress_reporter("surrogate training", unit="epoch"),
        )
        target = None
        if self.validation is not None:
            target = surrogate.validation_set(
                self.validation,
                trained,
                self.config(),
                text_field=self.text_field,
                label_field=self.label_field,
                device=self.device,
            )
        with surrogate.single_thread():
            scores = self.compute(trained, target).astype(np.float64)
        labelled.save_columns(context, self.name, {self.columns[0].name: scores})
        return {
            "surrogate": "mlp-head-on-embeddings",
            "surrogate_source": self.embedder,
            "surrogate_key": trained.key,
            "surrogate_reused": trained.from_cache,
            "classes": len(trained.classes),
        }

    def compute(self, trained: surrogate.Surrogate, target: tuple[torch.Tensor, torch.Tensor] | None) -> np.ndarray:
        """One score per training example, in input order."""
        raise NotImplementedError


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
        super().check()
        if self.ihvp not in IHVP_SOLVERS:
            raise OptionError(f"unknown --ihvp {self.ihvp!r}; choose one of {', '.join(IHVP_SOLVERS)}")
        if self.hvp_steps < 1 or self.hvp_batch_size < 1:
            raise OptionError("--hvp-steps and the HVP batch size must be at least 1")
        if not 0.0 <= self.damp < 1.0 or self.scale <= 0.0:
            raise OptionError(f"--damp must be in [0, 1) and --scale positive (got {self.damp}, {self.scale})")

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
