"""Label noise with a known answer: flip an exact share of labels to another class, and record which ones.

Pruning by training dynamics is often judged by whether it finds mislabelled examples; flipping labels
ourselves (seeded) gives the ground truth to check against. Two modes: `uniform` moves a flipped label to any other
class at random; `class-dependent` moves every flipped label of a class to one fixed class, the next one in sorted
order (cyclically), so the noise is structured as annotators' confusions are, and for WordNet's lexicographer files
(`noun.animal` → `noun.artifact`) mostly stays within a part of speech.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from thresher.errors import OptionError
from thresher.labels import class_order

NOISE_MODES = ("uniform", "class-dependent")


def confusion_targets(classes: Sequence[Any]) -> dict[Any, Any]:
    """The `class-dependent` mode's fixed target of each class: the next class in `classes`' order, cyclically."""
    ordered = list(classes)
    return {label: ordered[(i + 1) % len(ordered)] for i, label in enumerate(ordered)}


def flip_labels(
    labels: Sequence[Any],
    fraction: float,
    rng: np.random.Generator,
    classes: Sequence[Any] | None = None,
    *,
    mode: str = "uniform",
) -> tuple[list[Any], np.ndarray]:
    """(noisy labels, flipped mask): exactly round(fraction · n) labels, chosen at random, each moved to another of
    `classes` (default: the labels' own classes, sorted): drawn uniformly (`uniform`), or its class's fixed target
    (`class-dependent`, see `confusion_targets`)."""
    if not 0.0 <= fraction <= 1.0:
        raise OptionError(f"--label-noise {fraction}: must be a fraction between 0 and 1")
    if mode not in NOISE_MODES:
        raise OptionError(f"--noise-mode {mode!r}: choose one of {', '.join(NOISE_MODES)}")
    choices = class_order(labels) if classes is None else list(classes)
    n_flip = round(fraction * len(labels))
    if n_flip and len(choices) < 2:
        raise OptionError("--label-noise needs at least two classes to flip a label to another one")
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.choice(len(labels), size=n_flip, replace=False)] = True
    noisy = list(labels)
    if mode == "class-dependent":
        targets = confusion_targets(choices)
        for row in np.flatnonzero(flipped):
            noisy[row] = targets[labels[row]]
        return noisy, flipped
    for row in np.flatnonzero(flipped):
        others = [label for label in choices if label != labels[row]]
        noisy[row] = others[int(rng.integers(len(others)))]
    return noisy, flipped


def add_label_noise(
    records: Sequence[dict[str, Any]],
    fraction: float,
    rng: np.random.Generator,
    *,
    label_field: str = "label",
    mode: str = "uniform",
) -> list[dict[str, Any]]:
    """Copies of `records` with `fraction` of `label_field` flipped (`mode` as in `flip_labels`); each keeps
    `clean_label` and a `noisy` flag."""
    missing = [row for row, record in enumerate(records) if label_field not in record]
    if missing:
        raise OptionError(f"record {missing[0]} has no label field {label_field!r}")
    labels = [record[label_field] for record in records]
    noisy_labels, flipped = flip_labels(labels, fraction, rng, mode=mode)
    return [
        {**record, label_field: noisy, "clean_label": clean, "noisy": bool(flip)}
        for record, noisy, clean, flip in zip(records, noisy_labels, labels, flipped, strict=True)
    ]
