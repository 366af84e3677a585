"""Label-quality math on out-of-fold predictions: pure functions from arrays to per-example scores.

Cross-fitting (`cross_fit_folds`) splits the examples into K seeded folds, stratified by label; a proxy trained on
every fold but one predicts the held-out fold, so every example is scored by a model that never saw it (the
"out-of-fold predicted probabilities" cleanlab asks for). The scores follow cleanlab's definitions
(`cleanlab.rank`): `self_confidence` is its default label quality, `normalized_margin` its `normalized_margin`.
"""

from __future__ import annotations

import numpy as np


def cross_fit_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (0 … folds−1) of every example: seeded, stratified by label where a class allows it.

    Each class's members are shuffled (seeded) and dealt round-robin over the folds, starting where the previous
    class stopped, so every fold gets ⌊n/folds⌋ or ⌈n/folds⌉ examples and each class spreads as evenly as its size
    allows (a class smaller than `folds` lands in that many distinct folds).

    Parameters
    ----------
    labels:
        Integer (or any hashable, sortable) labels, shape (n,).
    folds:
        Number of folds, at least 2 and at most n.
    seed:
        Seed of the shuffles.
    """
    labels = np.asarray(labels)
    n = labels.size
    if folds < 2 or folds > n:
        raise ValueError(f"cross-fitting needs 2 ≤ folds ≤ examples (got {folds} folds for {n} examples)")
    rng = np.random.default_rng(seed)
    assignment = np.empty(n, dtype=np.int64)
    start = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(members.size)]
        assignment[members] = (start + np.arange(members.size)) % folds
        start = (start + members.size) % folds
    return assignment


def self_confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p(given label) per example, shape (n,); low = likely mislabelled (cleanlab's default label quality)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    return probs[np.arange(labels.size), labels]


def normalized_margin(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(p(given) − max_{k≠given} p(k) + 1) / 2 per example, in [0, 1]; low = likely mislabelled (cleanlab's)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(labels.size)
    given = probs[rows, labels]
    others = probs.copy()
    others[rows, labels] = -np.inf
    if probs.shape[1] < 2:
        return np.ones(labels.size)
    return (given - others.max(axis=1) + 1.0) / 2.0


def normalized_entropy(probs: np.ndarray) -> np.ndarray:
    """H(p) / log(classes) per example, in [0, 1]; high = the proxy cannot tell the classes apart."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[1] < 2:
        return np.zeros(probs.shape[0])
    safe = np.where(probs > 0, probs, 1.0)
    return -(probs * np.log(safe)).sum(axis=1) / np.log(probs.shape[1])


def predicted_other(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Whether the proxy's most likely class differs from the given label, shape (n,) bool."""
    return np.asarray(probs).argmax(axis=1) != np.asarray(labels)
