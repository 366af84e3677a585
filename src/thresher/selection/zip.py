"""ZIP (Yin et al. 2024, "Entropy Law"): greedy selection of a subset that zlib compresses badly (low redundancy).

The ratio of a set is C(D) = raw bytes / zlib level-9 bytes of its texts joined by newlines; lower C = less
redundant = more information (thresher's `zlib_ratio` column is its inverse, compressed / raw). The paper's
three-stage loop, per round until the budget is met:

1. take the `k1` candidates with the lowest global state (initially each example's own ratio);
2. set each candidate's state to C(selected ∪ {c}); take the `k2` lowest;
3. among those, pick `k3` greedily, each minimising C(picks of this round ∪ {c}), and append them.

Quirks of the reference code (`ZIP.py`), and what thresher does:

- Only the text is compressed, not Python's `str()` of the example dicts with their ids and sources (fixed:
  ids are random-looking bytes that would blur the measure).
- The `k2 - k3` stage-2 candidates not picked in stage 3 stay at state 1e6 forever, so each round discards
  `k2` examples to keep `k3`, and budgets above about half the data run out (fixed by default: they keep
  their stage-2 state and stay eligible; `exclude_unpicked=True` reproduces the reference).
- Stage 3 starts from an empty anchor, ignoring the examples already selected (reproduced: it is what the
  paper ran, and anchoring on the selection would cost `k2 · k3` compressions of the whole selection a round).

C(selected ∪ {c}) is computed incrementally: the selection is fed once to a zlib stream that is copied per
candidate, so a candidate costs its own bytes, not the selection's. zlib's 32 KiB window means only the tail
of the selection can be referenced anyway.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_LEVEL = 9
_SEPARATOR = b"\n"
_EXCLUDED = 1e6


@dataclass(frozen=True)
class ZipParams:
    """Candidate pool sizes per round (the paper's defaults); each is clipped to what is left."""

    k1: int = 10_000
    k2: int = 200
    k3: int = 100
    exclude_unpicked: bool = False


class _Stream:
    """A zlib stream fed with a growing set of texts, which can price one more text without being changed."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(_LEVEL)
        self.raw_bytes = 0
        self._emitted = 0

    def add(self, data: bytes) -> None:
        self._emitted += len(self._compressor.compress(data + _SEPARATOR))
        self.raw_bytes += len(data) + 1

    def ratio_with(self, data: bytes) -> float:
        """Raw / compressed bytes of everything added so far plus `data`."""
        trial = self._compressor.copy()
        compressed = self._emitted + len(trial.compress(data + _SEPARATOR)) + len(trial.flush())
        return (self.raw_bytes + len(data) + 1) / compressed


def set_ratio(texts: Sequence[str]) -> float:
    """C(D): raw / zlib level-9 compressed bytes of the texts joined by newlines (lower = less redundant)."""
    raw = b"".join(text.encode() + _SEPARATOR for text in texts)
    return len(raw) / len(zlib.compress(raw, _LEVEL)) if raw else 0.0


def zip_select(texts: Sequence[str], budget: int, params: ZipParams | None = None) -> np.ndarray:
    """Rows chosen by ZIP, in the order they were chosen (at most `budget` of them).

    Args:
        texts: the text of every example.
        budget: number of examples to select (clipped to len(texts)).
        params: k1, k2, k3 and whether to reproduce the reference's exclusion of unpicked candidates.

    Returns:
        int64 array of row indices in selection order.
    """
    params = params or ZipParams()
    if min(params.k1, params.k2, params.k3) < 1:
        raise ValueError("k1, k2 and k3 must be at least 1")
    encoded = [text.encode() for text in texts]
    budget = max(0, min(budget, len(encoded)))
    state = np.array([set_ratio([text]) for text in texts], dtype=np.float64)
    available = np.ones(len(encoded), dtype=bool)
    selected: list[int] = []
    selection = _Stream()
    while len(selected) < budget:
        open_rows = np.flatnonzero(available)
        if open_rows.size == 0:
            break
        k1 = min(params.k1, open_rows.size)
        k2 = min(params.k2, k1)
        k3 = min(params.k3, k2, budget - len(selected))
        # Stage 1: lowest global state; a stable sort on (state, row) keeps ties deterministic.
        stage1 = open_rows[np.argsort(state[open_rows], kind="stable")[:k1]]
        # Stage 2: each candidate's ratio together with the whole selection.
        for row in stage1:
            state[row] = selection.ratio_with(encoded[row])
        stage2 = stage1[np.argsort(state[stage1], kind="stable")[:k2]]
        # Stage 3: greedy picks anchored on this round's picks only (as in the reference).
        round_stream = _Stream()
        remaining = list(stage2)
        for _ in range(k3):
            ratios = [round_stream.ratio_with(encoded[row]) for row in remaining]
            pick = remaining.pop(int(np.argmin(ratios)))
            round_stream.add(encoded[pick])
            selection.add(encoded[pick])
            selected.append(int(pick))
            available[pick] = False
        if params.exclude_unpicked:
            state[remaining] = _EXCLUDED
            available[remaining] = False
    return np.asarray(selected, dtype=np.int64)
