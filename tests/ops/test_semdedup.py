import numpy as np
import pytest

from thresher.ops.semdedup import default_cluster_count, greedy_dedup, semdedup


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def planted(seed: int = 0) -> tuple[np.ndarray, list[list[int]]]:
    """30 random directions; rows 0-4 each get two near copies appended (groups of three)."""
    rng = np.random.default_rng(seed)
    base = unit(rng.normal(size=(30, 16)))
    copies = [unit(base[i] + 0.01 * rng.normal(size=(2, 16))) for i in range(5)]
    embeddings = np.vstack([base, *copies]).astype(np.float32)
    groups = [[i, 30 + 2 * i, 31 + 2 * i] for i in range(5)]
    return embeddings, groups


@pytest.mark.parametrize("clusters", [1, 3, 8])
def test_keeps_exactly_one_per_planted_group(clusters):
    embeddings, groups = planted()
    result = semdedup(embeddings, clusters=clusters, eps=0.05, seed=0)
    for group in groups:
        assert result.keep[group].sum() == 1
        kept = group[int(np.flatnonzero(result.keep[group])[0])]
        for member in group:
            assert result.duplicate_of[member] == (-1 if member == kept else kept)
    others = [row for row in range(30) if row >= 5]
    assert result.keep[others].all()
    assert (~result.keep).sum() == 10


def test_keeps_the_member_farthest_from_the_centroid():
    # One cluster with its centroid near (0.98, 0.2); of the two near-identical rows, row 1 is farther from it.
    embeddings = unit(np.array([[1.0, 0.0], [0.6, 0.8], [0.61, 0.79], [0.8, -0.6], [0.9, -0.2]]))
    result = semdedup(embeddings, clusters=1, eps=0.01)
    assert result.keep.tolist() == [True, True, False, True, True]
    assert result.duplicate_of[2] == 1


def test_greedy_compares_with_kept_rows_only():
    # a≈b and b≈c but a≉c: b duplicates a, c is kept (it is not similar enough to a kept row).
    angles = np.radians([0.0, 20.0, 40.0])
    embeddings = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    threshold = float(np.cos(np.radians(25.0)))
    assert greedy_dedup(embeddings, threshold).tolist() == [-1, 0, -1]


def test_blocks_give_the_same_answer_as_one_block(monkeypatch):
    import thresher.ops.semdedup as module

    embeddings, _ = planted(seed=3)
    whole = greedy_dedup(embeddings, 0.95)
    monkeypatch.setattr(module, "_BLOCK_ROWS", 7)
    np.testing.assert_array_equal(greedy_dedup(embeddings, 0.95), whole)


def test_deterministic_and_edge_cases():
    embeddings, _ = planted(seed=1)
    first = semdedup(embeddings, clusters=4, eps=0.05, seed=7)
    second = semdedup(embeddings, clusters=4, eps=0.05, seed=7)
    np.testing.assert_array_equal(first.duplicate_of, second.duplicate_of)
    assert semdedup(np.zeros((0, 4)), clusters=3, eps=0.1).keep.size == 0
    assert semdedup(embeddings[:2], clusters=10, eps=0.05).keep.all()  # clusters clipped to n
    assert default_cluster_count(10) == 1 and default_cluster_count(250_000) == 250
    with pytest.raises(ValueError):
        semdedup(embeddings, clusters=2, eps=-0.1)
