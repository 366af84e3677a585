"""MinHash LSH groups: components of candidate pairs at the threshold, each represented by its first row."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from thresher.ops.minhash import UnionFind, band_keys, near_duplicate_representatives


def brute_force_representatives(signatures: np.ndarray, bands: int, rows_per_band: int, threshold: float):
    """Every pair that shares a whole band and whose fraction of equal values reaches the threshold is an edge;
    each row's representative is the smallest row of its connected component (by repeated relaxation)."""
    n = len(signatures)
    label = list(range(n))
    edges = []
    for a, b in itertools.combinations(range(n), 2):
        shares = any(
            np.array_equal(
                signatures[a, k * rows_per_band : (k + 1) * rows_per_band],
                signatures[b, k * rows_per_band : (k + 1) * rows_per_band],
            )
            for k in range(bands)
        )
        if shares and (signatures[a] == signatures[b]).mean() >= threshold:
            edges.append((a, b))
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            low = min(label[a], label[b])
            if label[a] != low or label[b] != low:
                label[a] = label[b] = low
                changed = True
    return np.array(label)


def planted_signatures(seed: int) -> np.ndarray:
    """40 random signatures of 24 values; some rows are copies of earlier (or later) ones with a few values redrawn,
    so some pairs share bands and others do not, and chains (A≈B≈C, A≉C) occur."""
    rng = np.random.default_rng(seed)
    signatures = rng.integers(0, 2**32, size=(40, 24), dtype=np.uint64).astype(np.uint32)
    for row in range(40):
        if rng.random() < 0.6:
            source = int(rng.integers(0, 40))
            copy = signatures[source].copy()
            redraw = rng.choice(24, size=int(rng.integers(0, 12)), replace=False)
            copy[redraw] = rng.integers(0, 2**32, size=len(redraw), dtype=np.uint64).astype(np.uint32)
            signatures[row] = copy
    return signatures


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("bands", "rows_per_band", "threshold"), [(6, 4, 0.6), (8, 3, 0.4), (12, 2, 0.8)])
def test_groups_are_the_connected_components_of_candidate_pairs(seed, bands, rows_per_band, threshold):
    signatures = planted_signatures(seed)
    keys = band_keys(signatures, bands, rows_per_band)
    got = near_duplicate_representatives(signatures, keys, threshold)
    expected = brute_force_representatives(signatures, bands, rows_per_band, threshold)
    np.testing.assert_array_equal(got, expected)
    assert (got < np.arange(40)).any()  # some rows do have an earlier near-duplicate
    assert (got <= np.arange(40)).all()  # a representative is never later than its members


def test_a_chain_joins_ends_that_are_not_similar_themselves():
    # b shares half its values with a and half with c; a and c share nothing: one group, headed by a.
    a = np.arange(8, dtype=np.uint32)
    c = np.arange(100, 108, dtype=np.uint32)
    b = np.concatenate([a[:4], c[4:]])
    signatures = np.stack([a, b, c, np.arange(200, 208, dtype=np.uint32)])
    keys = band_keys(signatures, 2, 4)
    assert near_duplicate_representatives(signatures, keys, 0.5).tolist() == [0, 0, 0, 3]


def test_band_keys_agree_exactly_when_bands_do():
    rng = np.random.default_rng(1)
    signatures = rng.integers(0, 2**32, size=(50, 12), dtype=np.uint64).astype(np.uint32)
    signatures[10, :4] = signatures[3, :4]
    keys = band_keys(signatures, 3, 4)
    assert keys[10, 0] == keys[3, 0] and keys[10, 1] != keys[3, 1]
    flat = keys.ravel()
    assert len(np.unique(flat)) == len(flat) - 1  # no other collision among 150 keys


def test_union_find_roots_are_the_smallest_rows():
    sets = UnionFind(6)
    sets.union(4, 2)
    sets.union(5, 4)
    sets.union(1, 3)
    assert sets.roots().tolist() == [0, 1, 2, 1, 2, 2]
