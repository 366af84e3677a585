"""MinHash LSH near-duplicate groups as pure functions over signatures: band keys, candidate pairs, components.

Each example has a MinHash signature of P 32-bit values; LSH cuts it into b bands of r values, and two examples
are candidates when they agree on a whole band. A candidate pair is an edge when its estimated Jaccard similarity
(the fraction of equal signature values) reaches the threshold; duplicate groups are the connected components of
those edges, and each group is represented by its first example in input order (its smallest row). The result
depends on the set of edges only, so it is the same whatever order the examples were hashed in or the shards
finished in: the local engine and the Ray engine give the same groups.

References:
    Broder 1997, "On the resemblance and containment of documents".
    Leskovec, Rajaraman & Ullman, "Mining of Massive Datasets", ch. 3 (banding).
"""

from __future__ import annotations

import numpy as np

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (a strong 64-bit mix)."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def band_keys(signatures: np.ndarray, bands: int, rows_per_band: int) -> np.ndarray:
    """A 64-bit key per example and band: equal bands give equal keys, (n, P) uint32 → (n, bands) uint64.

    Bands are the consecutive slices `[i·r, (i+1)·r)` of the signature (datasketch's layout). Distinct bands collide
    with probability about 2⁻⁶⁴ per pair, and a collision only proposes a pair that must still pass the Jaccard test.
    """
    signatures = np.asarray(signatures)
    if signatures.ndim != 2 or signatures.shape[1] < bands * rows_per_band:
        raise ValueError(f"signatures of shape {signatures.shape} cannot hold {bands} bands of {rows_per_band}")
    keys = np.empty((len(signatures), bands), dtype=np.uint64)
    for band in range(bands):
        key = np.full(len(signatures), np.uint64(band), dtype=np.uint64)
        for column in range(band * rows_per_band, (band + 1) * rows_per_band):
            key = _splitmix64(key ^ signatures[:, column].astype(np.uint64))
        keys[:, band] = key
    return keys


def estimated_jaccard(signature: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Fraction of equal MinHash values between one signature (P,) and each row of `others` (m, P)."""
    return (np.asarray(others) == np.asarray(signature)[None, :]).mean(axis=1)


class UnionFind:
    """Disjoint sets over rows 0..n-1 whose root is always the set's smallest row."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, row: int) -> int:
        parent = self.parent
        root = row
        while parent[root] != root:
            root = int(parent[root])
        while parent[row] != root:  # path compression
            parent[row], row = root, int(parent[row])
        return root

    def union(self, first: int, second: int) -> None:
        a, b = self.find(first), self.find(second)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def roots(self) -> np.ndarray:
        """The root (smallest row of its set) of every row."""
        roots = self.parent.copy()
        while True:
            parents = roots[roots]
            if np.array_equal(parents, roots):
                return roots
            roots = parents


def near_duplicate_representatives(signatures: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """For each row, the first row (input order) of its near-duplicate group; a row heading its group names itself.

    Args:
        signatures: (n, P) MinHash values (a memory map is fine: only candidates' rows are read).
        keys: (n, b) band keys (`band_keys`); each band is grouped in turn, so memory is O(n) per band.
        threshold: the estimated Jaccard similarity at which a candidate pair is an edge.

    Within a group of rows sharing a band key, each row is compared with the earlier rows that are not yet in its
    set (rows already joined need no test: the components are the same), so exact copies cost one pass.
    """
    n = len(keys)
    sets = UnionFind(n)
    for band in range(keys.shape[1]):
        column = np.ascontiguousarray(keys[:, band])
        order = np.argsort(column, kind="stable")  # rows ascending within equal keys
        ordered = column[order]
        starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
        sizes = np.diff(np.concatenate([starts, [n]]))
        for start, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
            group = order[start : start + size]
            group_signatures = np.asarray(signatures[np.sort(group)])
            group = np.sort(group)
            for position in range(1, len(group)):
                row = int(group[position])
                root = sets.find(row)
                earlier = [k for k in range(position) if sets.find(int(group[k])) != root]
                if not earlier:
                    continue
                similar = estimated_jaccard(group_signatures[position], group_signatures[earlier]) >= threshold
                for k in np.asarray(earlier)[similar]:
                    sets.union(row, int(group[k]))
    return sets.roots()
