"""Stable content ids: the same example gets the same id in every run, and duplicate texts get distinct ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

DIGEST_HEX_CHARS = 16


def content_digest(text: str) -> str:
    """Give the first 16 hex characters of the blake2b hash of a text's UTF-8 bytes."""
    return hashlib.blake2b(text.encode("utf-8")).hexdigest()[:DIGEST_HEX_CHARS]


def content_id(text: str, occurrence: int) -> str:
    """Give the id of the `occurrence`-th (0-based) appearance of `text` in a file: `<digest>-<occurrence>`."""
    return f"{content_digest(text)}-{occurrence}"


class DigestCounter:
    """Counts how often each 64-bit digest was seen, in about 8 bytes per distinct digest.

    Distinct digests live in a few sorted numpy arrays merged like a log-structured merge tree (each array at
    least twice the size of the next), so inserting n digests costs O(n log n) and lookups are binary searches;
    only digests seen more than once get a Python dict entry. A Python dict of every digest would cost ~100
    bytes per example, which made memory grow with the input.
    """

    def __init__(self) -> None:
        self._levels: list[np.ndarray] = []
        self._repeats: dict[int, int] = {}  # digest -> times seen, for digests seen at least twice

    @classmethod
    def starting_from(cls, digests: np.ndarray, counts: np.ndarray) -> DigestCounter:
        """A counter that has already seen each of `digests` `counts` times (earlier shards of a parallel read)."""
        counter = cls()
        digests = np.asarray(digests, dtype=np.uint64)
        if len(digests):
            order = np.argsort(digests)
            counter._levels = [digests[order]]
            # Every seeded digest gets an entry, even when seen once: `occurrences` reads 1 only for digests absent
            # from `_repeats`, which is right for them too, but an explicit count keeps the rule in one place.
            counter._repeats = {int(d): int(c) for d, c in zip(digests[order], np.asarray(counts)[order], strict=True)}
        return counter

    def _seen_before(self, digests: np.ndarray) -> np.ndarray:
        found = np.zeros(len(digests), dtype=bool)
        for level in self._levels:
            positions = np.searchsorted(level, digests)
            positions[positions == len(level)] = 0
            found |= level[positions] == digests
        return found

    def _insert(self, new_digests: np.ndarray) -> None:
        self._levels.append(np.sort(new_digests))
        while len(self._levels) > 1 and len(self._levels[-2]) <= 2 * len(self._levels[-1]):
            newest = self._levels.pop()
            self._levels[-1] = np.sort(np.concatenate([self._levels[-1], newest]))

    def occurrences(self, digests: np.ndarray) -> np.ndarray:
        """For each digest, in order, how many times it was seen before (counting earlier ones in `digests`)."""
        digests = np.asarray(digests, dtype=np.uint64)
        if len(digests) == 0:
            return np.zeros(0, dtype=np.int64)
        unique, first_index, inverse, counts = np.unique(
            digests, return_index=True, return_inverse=True, return_counts=True
        )
        # Rank of each element among equal digests within this batch, in input order.
        order = np.argsort(inverse, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank_in_batch = np.empty(len(digests), dtype=np.int64)
        rank_in_batch[order] = np.arange(len(digests)) - np.repeat(starts, counts)

        seen = self._seen_before(unique)
        before = np.zeros(len(unique), dtype=np.int64)
        for slot in np.flatnonzero(seen):
            before[slot] = self._repeats.get(int(unique[slot]), 1)
        for slot in np.flatnonzero(seen | (counts > 1)):
            self._repeats[int(unique[slot])] = int(before[slot] + counts[slot])
        if (~seen).any():
            self._insert(unique[~seen])
        return before[inverse] + rank_in_batch


class ContentIdAssigner:
    """Assigns content ids to texts in file order, counting earlier appearances of each identical text."""

    def __init__(self, counter: DigestCounter | None = None) -> None:
        self._counter = counter or DigestCounter()

    @classmethod
    def starting_from(cls, digests: np.ndarray, counts: np.ndarray) -> ContentIdAssigner:
        """An assigner for a shard read on its own: each digest of earlier shards already counted so many times."""
        return cls(DigestCounter.starting_from(digests, counts))

    def assign(self, text: str) -> str:
        """Give the id of the next appearance of `text`."""
        return self.assign_many([text])[0]

    def assign_many(self, texts: Iterable[str]) -> list[str]:
        """Give the ids of a run of texts, in order."""
        hex_digests = [content_digest(text) for text in texts]
        digests = np.array([int(digest, 16) for digest in hex_digests], dtype=np.uint64)
        occurrences = self._counter.occurrences(digests)
        return [f"{digest}-{occurrence}" for digest, occurrence in zip(hex_digests, occurrences, strict=True)]
