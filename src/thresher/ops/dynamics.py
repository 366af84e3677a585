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


def epoch_at_fraction(fraction: float, epochs: int) -> int:
    """The epoch end closest to `fraction` of a run of `epochs` epochs, at least 1 when `fraction` > 0.

    Data Diet reads EL2N at about 10 % of training, however long the run; a run records the model at each epoch
    end (0 = initialisation), so the fraction is rounded to one of them (halves round up).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be between 0 and 1 (got {fraction})")
    if fraction == 0.0:
        return 0
    return min(epochs, max(1, int(np.floor(fraction * epochs + 0.5))))


def threshold_sample_sets(n: int, classes: int, seed: int, runs: int = 2) -> list[np.ndarray]:
    """Disjoint sets of threshold samples for AUM (Pleiss et al. 2020), one per run, each of ⌊n / (classes + 1)⌋.

    In each run the set's examples are relabelled to a fake class `classes`; the sets are disjoint so that every
    example (with `runs` ≥ 2 sets covering at most n examples) keeps its own label in at least one run.
    """
    size = n // (classes + 1)
    if size * runs > n:
        raise ValueError(f"{runs} disjoint sets of {size} threshold samples need more than {n} examples")
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[run * size : (run + 1) * size]) for run in range(runs)]


def aum_threshold(threshold_aums: np.ndarray, percentile: float = 99.0) -> float:
    """The AUM cut of one threshold-sample run: the `percentile`-th percentile of the threshold samples' AUM.

    Threshold samples are mislabelled by construction (a class of their own, drawn at random), so an example whose
    AUM falls below what 99 % of them reach looks mislabelled too.
    """
    values = np.asarray(threshold_aums, dtype=np.float64)
    return float(np.percentile(values, percentile)) if values.size else float("-inf")


def aum_mislabeled(
    run_aums: list[np.ndarray], threshold_sets: list[np.ndarray], percentile: float = 99.0
) -> np.ndarray:
    """AUM's mislabelled flag from threshold-sample runs: below the cut in every run where it kept its label.

    Parameters
    ----------
    run_aums:
        Per run, every example's AUM (shape (n,)) with respect to its label in that run (the fake class for the
        run's threshold samples).
    threshold_sets:
        Per run, the indices of its threshold samples.
    percentile:
        Which percentile of the threshold samples' AUM is the cut (99 in the paper).

    Returns
    -------
    Shape (n,) bool. An example that was a threshold sample in every run has no reading of its own and is False.
    """
    n = np.asarray(run_aums[0]).size
    flagged = np.ones(n, dtype=bool)
    readings = np.zeros(n, dtype=np.int64)
    for values, members in zip(run_aums, threshold_sets, strict=True):
        values = np.asarray(values, dtype=np.float64)
        own = np.ones(n, dtype=bool)
        own[members] = False
        cut = aum_threshold(values[members], percentile)
        flagged &= ~own | (values < cut)
        readings += own
    return flagged & (readings > 0)
