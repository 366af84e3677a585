"""Training-dynamics math: pure functions from per-example training records (arrays) to per-example scores.

Conventions: `labels` are integer class indices of shape (n,); histories are indexed (time, example), where time
is an evaluation point of one training run (an epoch end, or a finer check within an epoch).
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits of shape (n, classes), computed stably."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def el2n(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """EL2N (Paul et al. 2021): ||p(x) − onehot(y)||₂ per example.

    Parameters
    ----------
    probs:
        Predicted class probabilities, shape (n, classes).
    labels:
        Integer labels, shape (n,).

    Returns
    -------
    Shape (n,); 0 for a confident correct prediction, up to √2 for a confident wrong one.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    error = probs.copy()
    error[np.arange(labels.size), labels] -= 1.0
    return np.linalg.norm(error, axis=-1)


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The AUM margin (Pleiss et al. 2020): assigned-class logit minus the largest other logit, shape (n,)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(labels.size)
    assigned = logits[rows, labels]
    others = logits.copy()
    others[rows, labels] = -np.inf
    return assigned - others.max(axis=-1)


def aum(margin_history: np.ndarray) -> np.ndarray:
    """Area under the margin: the mean margin over training, shape (time, n) → (n,); low = likely mislabelled."""
    return np.asarray(margin_history, dtype=np.float64).mean(axis=0)


def forgetting_events(correct_history: np.ndarray) -> np.ndarray:
    """Forgetting events (Toneva et al. 2019): learned → forgotten transitions per example.

    Parameters
    ----------
    correct_history:
        Whether each example was classified correctly, shape (time, n), in training order.

    Returns
    -------
    Shape (n,) float64: the number of times an example went from correct to wrong. Examples never classified
    correctly get `time`, more than any learned example can reach (at most ⌊time/2⌋ events), so they rank as the
    most forgotten while staying finite (data_diet gives them ∞).
    """
    correct = np.asarray(correct_history, dtype=bool)
    if correct.ndim != 2:
        raise ValueError(f"correct_history must have shape (time, n), got {correct.shape}")
    events = (correct[:-1] & ~correct[1:]).sum(axis=0).astype(np.float64)
    events[~correct.any(axis=0)] = float(correct.shape[0])
    return events


def vog_raw(grads: np.ndarray) -> np.ndarray:
    """Unnormalised VoG: the variance across checkpoints of each gradient entry, averaged over entries.

    `grads` has shape (checkpoints, n, ...): the gradient of the true-class logit with respect to the input
    representation at each checkpoint. We use the variance (Anand et al. 2023, Algorithm 1, without the constant
    1/√N_c factor), not the standard deviation of the original VoG code; both rank the same within an entry.
    """
    stacked = np.asarray(grads, dtype=np.float64)
    per_entry = stacked.var(axis=0)  # population variance over checkpoints
    return per_entry.reshape(per_entry.shape[0], -1).mean(axis=1)


def normalise_within_class(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(v − mean_class) / std_class per example; a class with zero spread is only centred."""
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    result = np.zeros_like(values)
    for label in np.unique(labels):
        members = labels == label
        centred = values[members] - values[members].mean()
        spread = values[members].std()
        result[members] = centred / spread if spread > 0 else centred
    return result


def vog(grads: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Variance of gradients (Agarwal et al. 2022), normalised within each class; high = hard / atypical."""
    return normalise_within_class(vog_raw(grads), labels)


def data_map(true_probs: np.ndarray, correct_history: np.ndarray) -> dict[str, np.ndarray]:
    """Dataset cartography (Swayamdipta et al. 2020) from histories of shape (epochs, n).

    Returns `confidence` (mean probability of the gold label), `variability` (its standard deviation across
    epochs) and `correctness` (fraction of epochs classified correctly), each shape (n,).
    """
    probs = np.asarray(true_probs, dtype=np.float64)
    return {
        "confidence": probs.mean(axis=0),
        "variability": probs.std(axis=0),
        "correctness": np.asarray(correct_history, dtype=np.float64).mean(axis=0),
    }
