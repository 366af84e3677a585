"""Cross-fitted label quality: how well a proxy that never saw an example predicts its given label.

The training-dynamics scores (EL2N, AUM, data maps) read a proxy that trains on the very examples it scores, so
it memorises flipped labels as epochs pass; here every example is scored by a proxy trained on the other folds
(`thresher.models.crossfit`), as cleanlab does with out-of-fold predicted probabilities. A set-level scorer in one
round, the same as the dynamics family's: the workers embed each shard into the shared embedding cache and save
its labels (`thresher.scorers.labelled`); the driver cross-fits on the whole input's embeddings and writes the
columns in input order; the workers score each shard by row position.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

import numpy as np

from thresher.cache import cache_key
from thresher.models import crossfit
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.models.proxy import embedder_identity
from thresher.ops import label_quality
from thresher.scorers import labelled, state
from thresher.scorers.base import Direction, RunContext, ScoreColumn, Scorer

CACHE_SUBDIR = "oof"
_FORMAT = 1


class OOFScorer(labelled.LabelledPass, Scorer):
    """Out-of-fold label quality (cleanlab's self-confidence, margin) from K cross-fitted proxies on embeddings.

    Parameters
    ----------
    proxy:
        `logreg` (scikit-learn logistic regression on the standardised embeddings: fast, and strong on frozen
        sentence embeddings) or `head` (the training-dynamics MLP on the embeddings, trained `epochs` epochs).
    cross_fit:
        Number of folds K: K proxies, each trained on every fold but one (folds seeded and stratified by label),
        and every example scored by the proxy that never saw it.
    embedder:
        sentence-transformers Hub id or directory; the embeddings are shared with the dynamics scorers.
    epochs:
        Passes over the training folds per `head` proxy.
    inverse_regularisation:
        scikit-learn's C of the `logreg` proxy, on standardised embeddings (about 1/dimension suits them).
    seed:
        Seed of the folds and of the `head` proxies' initialisation and batch order.
    device:
        auto | cpu | cuda (embedding and the `head` proxy).
    """

    name = "oof"
    columns = (
        ScoreColumn(
            "oof_confidence",
            Direction.LOWER,
            "out-of-fold probability of the given label (cleanlab's self-confidence); low = likely mislabelled",
        ),
        ScoreColumn(
            "oof_margin",
            Direction.LOWER,
            "out-of-fold (p(given) − largest other p + 1) / 2 (cleanlab's normalized margin); low = likely wrong",
        ),
        ScoreColumn(
            "oof_entropy",
            Direction.HIGHER,
            "entropy of the out-of-fold predicted distribution / log(classes); high = ambiguous",
        ),
    )
    needs_labels: ClassVar[bool] = True
    fit_rounds: ClassVar[int] = 1

    def __init__(
        self,
        *,
        proxy: str = "logreg",
        cross_fit: int = 5,
        embedder: str = DEFAULT_EMBEDDER,
        epochs: int = 10,
        inverse_regularisation: float = 0.003,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        self.proxy = proxy
        self.cross_fit = cross_fit
        self.embedder = embedder
        self.epochs = epochs
        self.inverse_regularisation = inverse_regularisation
        self.seed = seed
        self.device = device

    def config(self) -> crossfit.CrossFitConfig:
        """The cross-fitting this scorer asks for."""
        return crossfit.CrossFitConfig(
            proxy=self.proxy,
            folds=self.cross_fit,
            seed=self.seed,
            epochs=self.epochs,
            inverse_regularisation=self.inverse_regularisation,
        )

    def setup(self, context: RunContext) -> None:
        self.config()  # checks the options
        self._context = context

    def finalize(self, merged: frozenset[Any], round: int, context: RunContext) -> dict[str, Any]:
        """Cross-fit the proxies on the whole input (or load an identical cross-fit) and write the columns."""
        labels, classes = labelled.class_labels(context, merged, self.name)
        config = self.config()
        params = {**asdict(config), "embedder": embedder_identity(self.embedder)}
        key = cache_key(CACHE_SUBDIR, {"format": _FORMAT, "params": params, "input": context.input_digest})
        path = context.cache_dir / CACHE_SUBDIR / f"probs-{key}.npy" if context.cache_dir is not None else None
        reused = path is not None and path.is_file()
        if reused:
            assert path is not None
            probs = state.load_array(path, mmap=False)
        else:
            report = self.progress_reporter("cross-fitting", unit="fold")
            features = labelled.all_features(context, self.embedder, self.device, self.name)
            probs, _ = crossfit.out_of_fold_probs(
                features, labels, len(classes), config, device=self.device, on_fold=report
            )
            if path is not None:
                state.save_array(path, probs)
        labelled.save_columns(context, self.name, oof_columns(probs, labels))
        return {
            "proxy": self.proxy,
            "proxy_source": self.embedder,
            "folds": min(self.cross_fit, labels.size),
            "cross_fit_key": key,
            "cross_fit_reused": reused,
            "classes": len(classes),
            "out_of_fold_accuracy": float((probs.argmax(axis=1) == labels).mean()),
        }


def oof_columns(probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The scorer's columns from out-of-fold probabilities (n, classes) and class indices (n,)."""
    return {
        "oof_confidence": label_quality.self_confidence(probs, labels),
        "oof_margin": label_quality.normalized_margin(probs, labels),
        "oof_entropy": label_quality.normalized_entropy(probs),
    }
