"""Cross-fitted proxies: out-of-fold class probabilities of every example, from proxies that never saw it.

`out_of_fold_probs` splits the examples into K seeded folds stratified by label (`thresher.ops.label_quality`),
trains one proxy on every fold but one and predicts the held-out fold, K times. Two proxies on frozen embeddings:

- `logreg`: scikit-learn's `LogisticRegression` (L2, lbfgs) on embeddings standardised with the training folds'
  mean and spread, with `inverse_regularisation` as its C: fast and strong on sentence embeddings. Standardised
  384-dimensional unit vectors need a C near 1/d (0.003 for MiniLM, the same fit as C = 1 on the raw vectors);
  a larger C over-fits the folds and ranks flipped labels worse (benchmarks/noise_vs_cleanlab.py);
- `head`: the training-dynamics MLP (`thresher.models.proxy.HeadProxy`), `epochs` passes of AdamW at a learning
  rate of 3e-3 (the dynamics proxy's 1e-3 under-fits in 10 epochs, which held-out predictions show).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from thresher.errors import OptionError
from thresher.ops import dynamics
from thresher.ops.label_quality import cross_fit_folds

PROXIES = ("logreg", "head")


@dataclass(frozen=True)
class CrossFitConfig:
    """How the out-of-fold proxies are trained; every field enters the cache key."""

    proxy: str = "logreg"
    folds: int = 5
    seed: int = 0
    epochs: int = 10  # head
    hidden: int = 128  # head
    batch_size: int = 128  # head
    learning_rate: float = 3e-3  # head
    inverse_regularisation: float = 0.003  # logreg: scikit-learn's C, on standardised features
    max_iter: int = 1000  # logreg

    def __post_init__(self) -> None:
        if self.proxy not in PROXIES:
            raise OptionError(f"unknown proxy {self.proxy!r} for cross-fitting; choose one of {', '.join(PROXIES)}")
        if self.folds < 2:
            raise OptionError(f"cross_fit must be at least 2 (got {self.folds})")
        if self.epochs < 1:
            raise OptionError(f"epochs must be at least 1 (got {self.epochs})")
        if self.inverse_regularisation <= 0:
            raise OptionError(f"inverse_regularisation must be positive (got {self.inverse_regularisation})")


def out_of_fold_probs(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    config: CrossFitConfig,
    *,
    device: str = "auto",
    folds: np.ndarray | None = None,
    on_fold: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every example's class probabilities (n, num_classes) from the proxy of the fold it was held out of.

    Returns the probabilities and the fold of each example. The folds are `cross_fit_folds(labels, config.folds,
    config.seed)` unless given (0 … K−1 per example); with fewer examples than `config.folds`, there are as many
    folds as examples (leave one out). `on_fold(done, total)` is called after each fold.
    """
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    n = labels.size
    if n < 2:
        raise OptionError(f"cross-fitting needs at least 2 labelled examples (got {n})")
    if folds is None:
        folds = cross_fit_folds(labels, min(config.folds, n), config.seed)
    probs = np.zeros((n, num_classes), dtype=np.float64)
    total = int(folds.max()) + 1
    for fold in range(total):
        held_out = folds == fold
        probs[held_out] = fit_predict(
            features[~held_out], labels[~held_out], features[held_out], num_classes, config, fold, device
        )
        if on_fold is not None:
            on_fold(fold + 1, total)
    return probs, folds


def fit_predict(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    num_classes: int,
    config: CrossFitConfig,
    fold: int,
    device: str = "auto",
) -> np.ndarray:
    """Class probabilities of `test_features` (m, num_classes) from one proxy trained on the training part.

    A class absent from the training part gets probability 0; a training part of a single class predicts it.
    """
    present = np.unique(train_labels)
    if present.size == 1:
        probs = np.zeros((len(test_features), num_classes))
        probs[:, present[0]] = 1.0
        return probs
    if config.proxy == "logreg":
        return _logreg(train_features, train_labels, test_features, num_classes, config)
    return _head(train_features, train_labels, test_features, num_classes, config, fold, device)


def _logreg(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    num_classes: int,
    config: CrossFitConfig,
) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    mean = train_features.mean(axis=0, dtype=np.float64)
    spread = train_features.std(axis=0, dtype=np.float64)
    spread[spread == 0] = 1.0
    model = LogisticRegression(C=config.inverse_regularisation, max_iter=config.max_iter)
    model.fit((train_features - mean) / spread, train_labels)
    probs = np.zeros((len(test_features), num_classes))
    probs[:, model.classes_] = model.predict_proba((test_features - mean) / spread)
    return probs


def _head(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    num_classes: int,
    config: CrossFitConfig,
    fold: int,
    device: str,
) -> np.ndarray:
    import torch

    from thresher.models.device import resolve_device
    from thresher.models.proxy import HeadProxy, train_head_epoch

    torch_device = resolve_device(device)
    run_seed = config.seed * 1000 + fold
    torch.manual_seed(run_seed)
    model = HeadProxy(train_features.shape[1], num_classes, hidden=config.hidden).to(torch_device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(run_seed)
    features = torch.as_tensor(train_features, device=torch_device)
    labels = torch.as_tensor(train_labels, device=torch_device)
    for _ in range(config.epochs):
        train_head_epoch(model, optimiser, features, labels, config.batch_size, generator)
    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(test_features, device=torch_device)).double().cpu().numpy()
    return dynamics.softmax(logits)
