"""Exact prefix cuts from passes over a stream, against sorting every row in memory."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from thresher.selection.cut import CutSearch, PrefixCut, apply_cuts, ordered_midpoint


def sorted_prefix(keys: np.ndarray, costs: np.ndarray, budget: float) -> np.ndarray:
    """The oracle: rows by (key, row) ascending, the longest prefix whose costs sum to at most `budget`."""
    order = np.lexsort((np.arange(keys.size), keys))
    spent = np.cumsum(costs[order])
    kept = order[: int(np.searchsorted(spent, budget, side="right"))]
    mask = np.zeros(keys.size, dtype=bool)
    mask[kept] = True
    return mask


def chunked(n: int, rng: np.random.Generator) -> list[slice]:
    """Cut [0, n) into chunks of random sizes (1 to 300 rows)."""
    bounds = [0]
    while bounds[-1] < n:
        bounds.append(min(n, bounds[-1] + int(rng.integers(1, 300))))
    return [slice(low, high) for low, high in zip(bounds[:-1], bounds[1:], strict=True)]


def search_cuts(keys, costs, groups, budgets, rng, **options) -> tuple[list[PrefixCut], int]:
    """Run a CutSearch over the rows in random chunks; costs None means 1 per row."""
    search = CutSearch(budgets, unit_costs=costs is None, **options)
    while not search.done:
        this_pass = search.new_pass()
        for rows in chunked(keys.size, rng):
            this_pass.update(
                keys[rows], None if costs is None else costs[rows], None if groups is None else groups[rows]
            )
        search.absorb(this_pass)
    return search.cuts, search.passes


def mask_of(cuts, keys, costs, groups, rng) -> np.ndarray:
    """Apply the cuts in row order, in other random chunks, carrying the tie state across them."""
    spent = np.zeros(len(cuts))
    return np.concatenate(
        [
            apply_cuts(
                cuts,
                keys[rows],
                None if costs is None else costs[rows],
                None if groups is None else groups[rows],
                spent,
            )
            for rows in chunked(keys.size, rng)
        ]
    )


def key_cases(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "continuous": rng.normal(size=n),
        "few values": rng.integers(0, 5, size=n).astype(float),
        "one value": np.full(n, 2.5),
        "heavy tie": np.where(rng.random(n) < 0.6, 0.5, rng.random(n)),
        "near ties": 1.0 + rng.integers(0, 3, size=n) * np.finfo(float).eps,
        "infinities": np.where(rng.random(n) < 0.1, np.inf, np.where(rng.random(n) < 0.1, -np.inf, rng.random(n))),
    }


@pytest.mark.parametrize("n", [1, 37, 2000, 20_000])
@pytest.mark.parametrize("band", [1, 16, 1 << 16])
def test_count_cuts_equal_the_sorted_prefix(n, band):
    rng = np.random.default_rng(n + band)
    for name, keys in key_cases(rng, n).items():
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            if k < 0:
                continue
            cuts, passes = search_cuts(keys, None, None, [k], rng, sketch_k=8, split_ranks=4, max_band=band)
            expected = sorted_prefix(keys, np.ones(n), k)
            assert (mask_of(cuts, keys, None, None, rng) == expected).all(), (name, k, passes)
            assert passes <= 2 * 66  # the midpoint split bounds the rounds


@pytest.mark.parametrize("n", [50, 5000])
def test_token_cuts_equal_the_sorted_prefix_with_zero_costs_and_ties(n):
    rng = np.random.default_rng(n)
    costs = rng.integers(0, 40, size=n).astype(float)  # zero-cost rows after the cut must not be kept
    for name, keys in key_cases(rng, n).items():
        for budget in (0, 1, 39, float(costs.sum()) / 3, float(costs.sum()) - 1, float(costs.sum())):
            cuts, _ = search_cuts(keys, costs, None, [budget], rng, sketch_k=8, split_ranks=8, max_band=32)
            expected = sorted_prefix(keys, costs, budget)
            assert (mask_of(cuts, keys, costs, None, rng) == expected).all(), (name, budget)
            assert costs[expected].sum() <= budget


def test_groups_are_cut_each_by_its_own_budget():
    rng = np.random.default_rng(3)
    n, groups = 6000, 7
    keys, group_of = rng.random(n), rng.integers(0, groups, size=n)
    sizes = np.bincount(group_of, minlength=groups)
    budgets = [0, 1, sizes[2] // 2, sizes[3], sizes[4] + 5, 17, sizes[6] - 1]
    cuts, _ = search_cuts(keys, None, group_of, budgets, rng, sketch_k=16, split_ranks=8, max_band=groups * 20)
    mask = mask_of(cuts, keys, None, group_of, rng)
    for group in range(groups):
        mine = np.flatnonzero(group_of == group)
        expected = sorted_prefix(keys[mine], np.ones(mine.size), budgets[group])
        assert (mask[mine] == expected).all(), group


def test_deferred_budgets_come_from_the_first_pass_counts():
    rng = np.random.default_rng(4)
    keys, group_of = rng.random(3000), rng.integers(0, 3, size=3000)
    search = CutSearch(groups=3, sketch_k=8, split_ranks=4, max_band=30)
    first = search.new_pass()
    first.update(keys, None, group_of)
    search.absorb(first)
    assert search.rows.tolist() == np.bincount(group_of, minlength=3).tolist()
    search.set_budgets((search.rows // 4).tolist())
    while not search.done:
        this_pass = search.new_pass()
        this_pass.update(keys, None, group_of)
        search.absorb(this_pass)
    mask = mask_of(search.cuts, keys, None, group_of, rng)
    assert np.bincount(group_of[mask], minlength=3).tolist() == (search.rows // 4).tolist()


def test_passes_over_parts_merge_into_the_pass_over_the_whole():
    # KLL compaction flips coins (datasketches does not take a seed), so a merged sketch may split the keys at other
    # ranks than the whole one and take another pass; the cut it ends at is exact either way.
    rng = np.random.default_rng(5)
    keys = rng.normal(size=8000)
    whole = CutSearch([2500], sketch_k=16, split_ranks=16, max_band=64)
    while not whole.done:
        this_pass = whole.new_pass()
        this_pass.update(keys)
        whole.absorb(this_pass)
    merged = CutSearch([2500], sketch_k=16, split_ranks=16, max_band=64)
    while not merged.done:
        parts = [merged.new_pass() for _ in range(3)]
        for part, rows in zip(parts, np.array_split(np.arange(keys.size), 3), strict=True):
            part.update(keys[rows])
        # A part crosses processes in a Ray task: it pickles, sketch included.
        parts = [pickle.loads(pickle.dumps(part)) for part in parts]
        merged.absorb(parts[0].merge(parts[1]).merge(parts[2]))
        assert merged.passes <= 10, "the band never narrowed"
    assert merged.cuts == whole.cuts
    assert (mask_of(merged.cuts, keys, None, None, rng) == sorted_prefix(keys, np.ones(keys.size), 2500)).all()


def test_a_discrete_column_is_settled_by_counts_in_one_pass_and_a_big_one_in_three():
    rng = np.random.default_rng(6)
    flags = rng.integers(0, 2, size=50_000).astype(float)
    _, passes = search_cuts(flags, None, None, [20_000], rng)
    assert passes == 1
    _, passes = search_cuts(rng.normal(size=200_000), None, None, [70_000], rng, max_band=4096)
    assert passes == 3  # collect (too many keys), bins, collect of the band


def test_everything_fits_or_nothing_is_left():
    keys = np.array([3.0, 1.0, 2.0])
    cuts, passes = search_cuts(keys, None, None, [3], np.random.default_rng(0))
    assert cuts == [PrefixCut(None)] and passes == 1
    cuts, _ = search_cuts(keys, None, None, [0], np.random.default_rng(0))
    assert cuts == [PrefixCut(1.0, 0.0)]
    assert apply_cuts(cuts, keys, None, None, np.zeros(1)).tolist() == [False, False, False]


def test_ordered_midpoint_halves_the_float64_values_between():
    assert ordered_midpoint(1.0, 2.0) == 1.5
    assert ordered_midpoint(2.0, 2.0) == 2.0
    low, high = 1.0, np.nextafter(np.nextafter(1.0, 2.0), 2.0)
    assert ordered_midpoint(low, high) == np.nextafter(1.0, 2.0)
    middle = ordered_midpoint(-1.0, 1.0)
    assert -1.0 <= middle <= 1.0
    assert -np.inf < ordered_midpoint(-np.inf, 0.0) < 0.0
