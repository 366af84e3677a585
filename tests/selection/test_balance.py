import json
from collections import Counter

import numpy as np
import pytest

import thresher
from tests.conftest import write_jsonl
from thresher.errors import OptionError
from thresher.selection.balance import class_budgets, class_rows, select_balanced
from thresher.selection.dsir import NgramHasher, bucket_distribution, gumbel_top_k, log_importance_weights, log_ratio
from thresher.selection.strategies import select_top
from thresher.selection.zip import ZipParams, zip_select
from thresher.store import ScoreStore


def test_class_budgets_are_proportional_and_sum_to_k():
    np.testing.assert_array_equal(class_budgets(np.array([50, 30, 20]), 10), [5, 3, 2])
    np.testing.assert_array_equal(class_budgets(np.array([5, 5, 5]), 4), [2, 1, 1])  # remainder ties: lower first
    budgets = class_budgets(np.array([7, 1, 13, 2]), 9)
    assert budgets.sum() == 9 and (budgets <= [7, 1, 13, 2]).all()
    with pytest.raises(OptionError):
        class_budgets(np.array([2, 2]), 5)


def test_select_balanced_applies_the_strategy_within_each_class():
    labels = np.array(["a", "a", "a", "a", "b", "b", "b", "b", "b", "b"])
    importance = np.array([0.1, 0.9, 0.5, 0.2, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    # A global top 5 takes only class b; shares 4:6 of 5 give a its top 2 and b its top 3.
    chosen = select_balanced(labels, 5, lambda rows, k: select_top(importance[rows], k))
    np.testing.assert_array_equal(chosen, [1, 2, 7, 8, 9])


def test_class_rows_lists_each_class_in_label_order():
    rows = class_rows(np.array(["b", "a", "b", "c", "a"]))
    assert [part.tolist() for part in rows] == [[1, 4], [0, 2], [3]]
    assert class_rows(np.array([], dtype=str)) == []


# --balance-classes through `thresher.select` for the strategies that read more than the --by column. Before
# strategies took `StrategyInputs`, the balanced run sliced the --by arrays but not the dataset or the store, so
# zip, dsir and dedup without --by chose among the whole input and their rows were taken as positions within one
# class: dedup kept duplicates (rows 15-17 of the corpus below), zip kept rows of the wrong class, and dsir failed
# with an IndexError.


def corpus_texts_and_labels(corpus_jsonl) -> tuple[list[str], np.ndarray]:
    records = [json.loads(line) for line in corpus_jsonl.read_text().splitlines()]
    return [record["text"] for record in records], np.array([record["label"] for record in records])


def per_class(labels: np.ndarray, total: int, select_alone) -> list[int]:
    """The rows chosen class by class, each class's budget its proportional share, computed from the class alone."""
    classes = sorted(set(labels.tolist()))
    budgets = class_budgets(np.array([(labels == label).sum() for label in classes]), total)
    kept: list[int] = []
    for label, budget in zip(classes, budgets, strict=True):
        rows = np.flatnonzero(labels == label)
        kept.extend(rows[select_alone(rows, int(budget))].tolist())
    return sorted(kept)


def test_balanced_dedup_without_by_keeps_each_class_survivors(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["minhash"], out=tmp_path / "s", label_field="label")
    flags = ScoreStore.open(tmp_path / "s").read_columns(["minhash_keep"]).column("minhash_keep").to_numpy()
    assert flags.tolist() == [1.0] * 8 + [0.0] * 16  # the corpus is eight sentences three times
    result = thresher.select(
        corpus_jsonl,
        scores=tmp_path / "s",
        by=None,
        strategy="dedup",
        keep=6,
        balance_classes=True,
        seed=1,
        out=tmp_path / "o.jsonl",
    )
    _, labels = corpus_texts_and_labels(corpus_jsonl)
    assert (flags[result.kept_rows] == 1.0).all()  # no duplicate kept
    assert sorted(Counter(labels[result.kept_rows].tolist()).values()) == [2, 2, 2]

    def dedup_alone(rows: np.ndarray, budget: int) -> np.ndarray:
        survivors = np.flatnonzero(flags[rows] > 0.5)
        return np.sort(survivors[np.random.default_rng(1).permutation(survivors.size)][:budget])

    assert result.kept_rows.tolist() == per_class(labels, 6, dedup_alone)


def test_balanced_zip_runs_zip_on_each_class(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s", label_field="label")
    result = thresher.select(
        corpus_jsonl,
        scores=tmp_path / "s",
        by=None,
        strategy="zip",
        keep=7,
        balance_classes=True,
        params={"k2": 4, "k3": 2},
        out=tmp_path / "o.jsonl",
    )
    texts, labels = corpus_texts_and_labels(corpus_jsonl)

    def zip_alone(rows: np.ndarray, budget: int) -> np.ndarray:
        return np.sort(zip_select([texts[row] for row in rows], budget, ZipParams(k2=4, k3=2)))

    assert result.kept_rows.tolist() == per_class(labels, 7, zip_alone)
    assert sorted(Counter(labels[result.kept_rows].tolist()).values()) == [2, 2, 3]


def test_balanced_dsir_fits_the_raw_distribution_on_each_class(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s", label_field="label")
    target = write_jsonl(tmp_path / "target.jsonl", [{"body": "the cat and the dog sat on the mat"}])
    result = thresher.select(
        corpus_jsonl,
        scores=tmp_path / "s",
        by=None,
        strategy="dsir",
        keep=9,
        balance_classes=True,
        seed=4,
        params={"target": target, "target_text_field": "body", "buckets": 500},
        out=tmp_path / "o.jsonl",
    )
    texts, labels = corpus_texts_and_labels(corpus_jsonl)
    hasher = NgramHasher(500)
    p_target = bucket_distribution(hasher.counts(["the cat and the dog sat on the mat"]))

    def dsir_alone(rows: np.ndarray, budget: int) -> np.ndarray:
        class_texts = [texts[row] for row in rows]
        ratio = log_ratio(p_target, bucket_distribution(hasher.counts(class_texts)))
        weights = log_importance_weights(class_texts, hasher, ratio)
        return np.sort(gumbel_top_k(weights, budget, np.random.default_rng(4)))

    assert result.kept_rows.tolist() == per_class(labels, 9, dsir_alone)
    assert sorted(Counter(labels[result.kept_rows].tolist()).values()) == [3, 3, 3]
