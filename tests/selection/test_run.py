"""`run_strategy`: the checks before a strategy runs, and class balance by slicing the inputs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tests.conftest import write_jsonl
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.selection import strategies
from thresher.selection.balance import class_budgets
from thresher.selection.base import Budget, Strategy, StrategyInputs, TextList
from thresher.selection.builtin.dedup import Dedup
from thresher.selection.builtin.ips import InversePropensity
from thresher.selection.builtin.ranking import Top
from thresher.selection.builtin.stratified import Stratified
from thresher.selection.builtin.threshold import Threshold
from thresher.selection.builtin.zip import Zip
from thresher.selection.inputs import DatasetTexts
from thresher.selection.run import run_strategy
from thresher.selection.zip import ZipParams, zip_select

# 60 rows in three classes of 30, 20 and 10, interleaved so that no class is a block of rows.
LABELS = np.array(["a", "b", "a", "c", "a", "b"] * 10)
RNG = np.random.default_rng(0)
IMPORTANCE = RNG.normal(size=60)
DENSITY = RNG.uniform(1, 5, size=60)


def expected_per_class(total: int, select_alone) -> list[int]:
    """Rows of each class's own selection (its proportional share of `total`), as whole-input rows."""
    kept: list[int] = []
    classes = ["a", "b", "c"]
    for label, budget in zip(classes, class_budgets(np.array([30, 20, 10]), total), strict=True):
        rows = np.flatnonzero(np.asarray(LABELS) == label)
        kept.extend(rows[select_alone(rows, int(budget))].tolist())
    return sorted(kept)


def test_balanced_stratified_is_ccs_within_each_class():
    inputs = StrategyInputs(n_rows=60, importance=IMPORTANCE)
    chosen = run_strategy(Stratified(strata=4), inputs, Budget(count=12), 5, balance_labels=LABELS)
    assert Counter(LABELS[chosen].tolist()) == {"a": 6, "b": 4, "c": 2}
    expected = expected_per_class(12, lambda rows, k: strategies.select_stratified(IMPORTANCE[rows], k, 5, strata=4))
    assert chosen.tolist() == expected


def test_balanced_ips_draws_within_each_class():
    inputs = StrategyInputs(n_rows=60, values=DENSITY)
    chosen = run_strategy(InversePropensity(temperature=2.0), inputs, Budget(count=13), 1, balance_labels=LABELS)
    assert Counter(LABELS[chosen].tolist()) == {"a": 7, "b": 4, "c": 2}  # 6.5, 4.33, 2.17: the largest remainder
    expected = expected_per_class(
        13, lambda rows, k: strategies.select_ips(DENSITY[rows], k, np.random.default_rng(1), temperature=2.0)
    )
    assert chosen.tolist() == expected


def test_balanced_top_differs_from_a_global_top_when_classes_differ():
    importance = np.where(LABELS == "c", 10.0, 0.0) + IMPORTANCE  # class c is the most important everywhere
    inputs = StrategyInputs(n_rows=60, importance=importance)
    assert set(LABELS[run_strategy(Top(), inputs, Budget(count=10), 0)]) == {"c"}
    balanced = run_strategy(Top(), inputs, Budget(count=10), 0, balance_labels=LABELS)
    assert Counter(LABELS[balanced].tolist()) == {"a": 5, "b": 3, "c": 2}


def test_balanced_zip_slices_the_texts():
    texts = [f"text {i} " + "ab" * (i % 7) for i in range(60)]
    inputs = StrategyInputs(n_rows=60, texts=TextList(texts))
    chosen = run_strategy(Zip(k2=6, k3=2), inputs, Budget(count=9), 0, balance_labels=LABELS)
    expected = expected_per_class(
        9, lambda rows, k: np.sort(zip_select([texts[row] for row in rows], k, ZipParams(k2=6, k3=2)))
    )
    assert chosen.tolist() == expected


def test_balanced_without_a_budget_keeps_what_the_strategy_keeps():
    flags = (np.arange(60) % 4 != 0).astype(float)
    inputs = StrategyInputs(n_rows=60, values=flags)
    assert run_strategy(Dedup(), inputs, None, 0, balance_labels=LABELS).tolist() == np.flatnonzero(flags).tolist()


def test_balance_refuses_a_token_budget_and_labels_of_another_length():
    inputs = StrategyInputs(n_rows=60, importance=IMPORTANCE, costs=np.ones(60))
    with pytest.raises(OptionError, match="--balance-classes works with --keep"):
        run_strategy(Top(), inputs, Budget(tokens=10), 0, balance_labels=LABELS)
    with pytest.raises(OptionError, match="59 labels but 60 rows"):
        run_strategy(Top(), inputs, Budget(count=10), 0, balance_labels=LABELS[:59])


def test_what_a_strategy_needs_is_checked_with_clear_messages():
    empty = StrategyInputs(n_rows=60)
    with pytest.raises(OptionError, match="--strategy top needs --by COLUMN"):
        run_strategy(Top(), empty, Budget(count=3), 0)
    with pytest.raises(OptionError, match="--strategy ccs needs --by COLUMN"):
        run_strategy(Stratified(), empty, Budget(count=3), 0, name="ccs")
    with pytest.raises(OptionError, match="needs the example texts"):
        run_strategy(Zip(), empty, Budget(count=3), 0)
    scored = StrategyInputs(n_rows=60, importance=IMPORTANCE, values=IMPORTANCE)
    with pytest.raises(OptionError, match="needs a budget: give --keep K"):
        run_strategy(Top(), scored, None, 0)
    with pytest.raises(OptionError, match="token counts"):
        run_strategy(Top(), scored, Budget(tokens=100), 0)
    with pytest.raises(OptionError, match="cannot keep 61 of 60"):
        run_strategy(Top(), scored, Budget(count=61), 0)
    texts = StrategyInputs(n_rows=60, texts=TextList(["x"] * 60), costs=np.ones(60))
    with pytest.raises(OptionError, match="--strategy zip takes --keep, not --budget-tokens"):
        run_strategy(Zip(), texts, Budget(tokens=5), 0)
    # A strategy that may keep every row it chooses needs no budget.
    assert run_strategy(Threshold(minimum=0.0), scored, None, 0).tolist() == np.flatnonzero(IMPORTANCE >= 0).tolist()


class Unsorted(Strategy):
    """Keep rows in the wrong order (a broken plug-in)."""

    name = "unsorted"

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        return np.array([3, 1])


def test_a_strategy_that_breaks_the_contract_is_a_programming_error():
    with pytest.raises(RuntimeError, match="ascending, distinct rows below 5"):
        run_strategy(Unsorted(), StrategyInputs(n_rows=5), Budget(count=2), 0)


def test_dataset_texts_stream_the_input_and_slice_by_rows(tmp_path):
    texts = [f"example number {i}" for i in range(23)]
    dataset = open_dataset(write_jsonl(tmp_path / "in.jsonl", [{"body": text} for text in texts]), Fields(text="body"))
    streamed = DatasetTexts(dataset, batch_rows=5)  # batches of 5 rows: slices cross batch boundaries
    assert len(streamed) == 23 and list(streamed) == texts and list(streamed) == texts  # read again on each pass
    rows = np.array([0, 4, 5, 9, 14, 22])
    part = streamed.subset(rows)
    assert len(part) == 6 and list(part) == [texts[row] for row in rows]
    assert list(part.subset(np.array([1, 2, 5]))) == [texts[4], texts[5], texts[22]]
    assert list(streamed.subset(np.array([], dtype=np.int64))) == []
    with pytest.raises(ValueError, match="ascending"):
        streamed.subset(np.array([3, 1]))
