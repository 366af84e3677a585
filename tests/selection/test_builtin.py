"""Each built-in strategy, run through `run_strategy`, against an independent computation of what it keeps."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SENTENCES, write_jsonl
from thresher.errors import OptionError
from thresher.selection import strategies
from thresher.selection.base import Budget, StrategyInputs, TextList
from thresher.selection.builtin.dedup import Dedup
from thresher.selection.builtin.dsir import Dsir
from thresher.selection.builtin.ips import InversePropensity
from thresher.selection.builtin.ranking import Bottom, Top
from thresher.selection.builtin.sample import Random
from thresher.selection.builtin.stratified import Stratified
from thresher.selection.builtin.threshold import Threshold
from thresher.selection.builtin.zip import Zip
from thresher.selection.draws import draw_order
from thresher.selection.dsir import NgramHasher
from thresher.selection.run import run_strategy
from thresher.selection.zip import ZipParams, zip_select

IMPORTANCE = np.array([0.3, 0.9, 0.1, 0.9, 0.5, 0.7, 0.2, 0.8])
COSTS = np.array([5.0, 2.0, 1.0, 4.0, 3.0, 6.0, 1.0, 2.0])


def scored(**arrays) -> StrategyInputs:
    return StrategyInputs(n_rows=IMPORTANCE.size, **arrays)


def longest_affordable_prefix(order: list[int], costs: np.ndarray, tokens: float) -> list[int]:
    kept, spent = [], 0.0
    for row in order:
        if spent + costs[row] > tokens:
            break
        kept.append(row)
        spent += costs[row]
    return sorted(kept)


def test_top_and_bottom_keep_the_ends_with_ties_to_the_lower_row():
    inputs = scored(importance=IMPORTANCE, costs=COSTS)
    # By hand: importance order 1 (0.9), 3 (0.9, tie), 7 (0.8), 5 (0.7), 4, 0, 6, 2.
    assert run_strategy(Top(), inputs, Budget(count=3), 0).tolist() == [1, 3, 7]
    assert run_strategy(Bottom(), inputs, Budget(count=3), 0).tolist() == [0, 2, 6]
    top_order = [1, 3, 7, 5, 4, 0, 6, 2]
    assert run_strategy(Top(), inputs, Budget(tokens=9), 0).tolist() == longest_affordable_prefix(top_order, COSTS, 9)
    assert run_strategy(Top(), inputs, Budget(tokens=9), 0).tolist() == [1, 3, 7]  # 2 + 4 + 2; row 5 would pass 9


def test_random_is_the_seeded_uniform_sample_of_select_random():
    inputs = scored(costs=COSTS)
    for seed in (0, 5):
        expected = strategies.select_random(8, 4, seed)
        assert run_strategy(Random(), inputs, Budget(count=4), seed).tolist() == expected.tolist()
        order = draw_order(8, seed).tolist()  # ascending seeded per-row draw
        chosen = run_strategy(Random(), inputs, Budget(tokens=7), seed)
        assert chosen.tolist() == longest_affordable_prefix(order, COSTS, 7)


def test_threshold_keeps_the_range_and_with_a_budget_its_most_important_rows():
    values = np.array([0.3, 0.9, np.nan, 0.9, 0.5, 0.7, 0.2, 0.8])
    inputs = scored(values=values, importance=-values)  # a column where lower is more important
    in_range = [row for row, value in enumerate(values) if 0.3 <= value <= 0.8]
    assert in_range == [0, 4, 5, 7]
    assert run_strategy(Threshold(minimum=0.3, maximum=0.8), inputs, None, 0).tolist() == in_range
    assert run_strategy(Threshold(maximum=0.5), inputs, None, 0).tolist() == [0, 4, 6]
    # The two most important (lowest) values in range are 0.3 (row 0) and 0.5 (row 4).
    assert run_strategy(Threshold(minimum=0.3, maximum=0.8), inputs, Budget(count=2), 0).tolist() == [0, 4]


def test_threshold_without_a_bound_names_the_parameters():
    with pytest.raises(OptionError, match="-p minimum=X"):
        run_strategy(Threshold(), scored(values=IMPORTANCE, importance=IMPORTANCE), None, 0)


def test_stratified_is_ccs_under_a_count_and_under_a_token_budget():
    rng = np.random.default_rng(0)
    importance = rng.normal(size=200)
    costs = rng.integers(1, 20, size=200).astype(float)
    inputs = StrategyInputs(n_rows=200, importance=importance, costs=costs)
    strategy = Stratified(strata=5, drop_hardest=0.1)
    expected = strategies.select_stratified(importance, 30, 3, strata=5, drop_hardest=0.1)
    assert run_strategy(strategy, inputs, Budget(count=30), 3).tolist() == expected.tolist()
    within = strategies.select_stratified_within_budget(importance, costs, 300, 3, strata=5, drop_hardest=0.1)
    chosen = run_strategy(strategy, inputs, Budget(tokens=300), 3)
    assert chosen.tolist() == within.tolist() and costs[chosen].sum() <= 300
    hardest = np.argsort(-importance, kind="stable")[:20]
    assert not set(hardest) & set(chosen.tolist())


def test_ips_is_the_inverse_density_draw_of_select_ips():
    density = np.random.default_rng(1).uniform(1, 10, size=100)
    inputs = StrategyInputs(n_rows=100, values=density)
    for temperature in (1.0, 3.0):
        expected = strategies.select_ips(density, 25, np.random.default_rng(9), temperature=temperature)
        chosen = run_strategy(InversePropensity(temperature=temperature), inputs, Budget(count=25), 9)
        assert chosen.tolist() == expected.tolist()


def test_dedup_keeps_the_flagged_rows_and_samples_them_under_a_budget():
    flags = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    inputs = scored(values=flags)
    assert run_strategy(Dedup(), inputs, None, 0).tolist() == [0, 2, 3, 5, 7]
    sample = run_strategy(Dedup(), inputs, Budget(count=3), 2)
    assert sample.size == 3 and set(sample.tolist()) <= {0, 2, 3, 5, 7}
    assert sample.tolist() == run_strategy(Dedup(), inputs, Budget(count=3), 2).tolist()
    # A budget above the survivors keeps the survivors.
    assert run_strategy(Dedup(), inputs, Budget(count=8), 2).tolist() == [0, 2, 3, 5, 7]


def test_zip_is_zip_select_with_its_parameters():
    texts = [f"{SENTENCES[i % 8]} {'x' * (i % 5)} {i}" for i in range(40)]
    inputs = StrategyInputs(n_rows=40, texts=TextList(texts))
    chosen = run_strategy(Zip(k1=30, k2=8, k3=3), inputs, Budget(count=12), 0)
    assert chosen.tolist() == sorted(zip_select(texts, 12, ZipParams(k1=30, k2=8, k3=3)).tolist())
    reference = run_strategy(Zip(k1=40, k2=8, k3=4, exclude_unpicked=True), inputs, Budget(count=30), 0)
    assert reference.size == 20  # each round discards k2 - k3 candidates: 5 rounds of 4 use up 40 rows


def test_dsir_weighs_texts_by_the_target_read_once(tmp_path):
    pool = [f"{SENTENCES[i % 8]} number {i}" for i in range(60)]
    target = write_jsonl(tmp_path / "target.jsonl", [{"content": "the cat sat on the mat with the lazy dog"}])
    strategy = Dsir(target=target, target_text_field="content", buckets=256)
    chosen = run_strategy(strategy, StrategyInputs(n_rows=60, texts=TextList(pool)), Budget(count=10), 7)

    # Independently: hashed unigram+bigram counts, normalised, 1e-8 inside the logs, Gumbel keys from the seed.
    hasher = NgramHasher(256)

    def distribution(texts: list[str]) -> np.ndarray:
        counts = sum(np.bincount(hasher.features(text), minlength=256) for text in texts)
        return counts / counts.sum()

    log_ratio = np.log(distribution(["the cat sat on the mat with the lazy dog"]) + 1e-8) - np.log(
        distribution(pool) + 1e-8
    )
    weights = np.array([log_ratio[hasher.features(text)].sum() for text in pool])
    keys = weights + np.random.default_rng(7).gumbel(size=60)
    assert chosen.tolist() == sorted(np.argsort(-keys, kind="stable")[:10].tolist())
    cat_rows = [row for row in range(60) if row % 8 == 0]  # "the cat sat on the mat" shares most with the target
    assert len(set(chosen.tolist()) & set(cat_rows)) >= 5
