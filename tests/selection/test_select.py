"""`thresher.select`: which column a strategy reads, its kind, its parameters, and token budgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import thresher
from thresher.components import Assignment
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError, StoreError
from thresher.selection.strategies import select_stratified
from thresher.store import ScoreStore
from thresher.types import ColumnKind, Direction, ScoreColumn

ROWS = 24
DIFFICULTY = np.random.default_rng(0).normal(size=ROWS)
TOKENS = np.random.default_rng(1).integers(1, 30, size=ROWS).astype(np.int64)
FLAGS = (np.arange(ROWS) % 3 != 2).astype(np.float64)


@pytest.fixture
def scores(tmp_path, corpus_jsonl) -> Path:
    """A score directory of the corpus with a score, a token count, a keep flag and an id column."""
    dataset = open_dataset(corpus_jsonl, Fields(label="label"))
    ids = next(dataset.iter_examples()).column("id")
    store = ScoreStore(tmp_path / "scores")
    store.bind_input(dataset.fingerprint())
    columns = {
        "difficulty": (ScoreColumn("difficulty", Direction.LOWER, "lower is harder"), DIFFICULTY),
        "n_tokens": (ScoreColumn("n_tokens", Direction.HIGHER, "tokens", dtype="int64"), TOKENS),
        "minhash_keep": (ScoreColumn("minhash_keep", None, "kept", kind=ColumnKind.FLAG), FLAGS),
        "duplicate_of": (
            ScoreColumn("duplicate_of", None, "the kept copy", dtype="string", kind=ColumnKind.ID),
            np.array([str(value) for value in ids.to_pylist()]),
        ),
    }
    run = store.start_run("oracle", {}, [column for column, _ in columns.values()], shard_rows=10_000)
    run.write_shard(0, 0, ids, {name: values for name, (_, values) in columns.items()})
    run.finish(ROWS, {})
    return tmp_path / "scores"


def select(corpus_jsonl, scores, **options):
    return thresher.select(corpus_jsonl, scores=scores, out=scores.parent / "kept.jsonl", **options)


def test_dedup_without_by_reads_its_default_column(corpus_jsonl, scores):
    result = select(corpus_jsonl, scores, by=None, strategy="dedup")
    assert result.by == "minhash_keep" and result.kept_rows.tolist() == np.flatnonzero(FLAGS).tolist()


def test_a_column_of_the_wrong_kind_is_refused_with_the_strategies_that_take_it(corpus_jsonl, scores):
    with pytest.raises(OptionError, match="duplicate_of holds ids of other examples"):
        select(corpus_jsonl, scores, by="duplicate_of", keep=3, strategy="dedup")
    for strategy in ("top", "stratified", "threshold"):
        with pytest.raises(OptionError, match=f"--strategy {strategy} ranks by a score.*take flag columns: dedup"):
            select(corpus_jsonl, scores, by="minhash_keep", keep=3, strategy=strategy)
    with pytest.raises(OptionError, match="--by minhash_keep is a flag column and --strategy ips takes score columns"):
        select(corpus_jsonl, scores, by="minhash_keep", keep=3, strategy="ips")
    with pytest.raises(OptionError, match="difficulty is a score column and --strategy dedup takes flag columns"):
        select(corpus_jsonl, scores, by="difficulty", strategy="dedup")
    with pytest.raises(OptionError, match="--strategy zip chooses without a score column; drop --by difficulty"):
        select(corpus_jsonl, scores, by="difficulty", keep=3, strategy="zip")
    with pytest.raises(OptionError, match="--strategy top needs --by COLUMN"):
        select(corpus_jsonl, scores, by=None, keep=3, strategy="top")
    with pytest.raises(StoreError, match="no score column 'nll'"):
        select(corpus_jsonl, scores, by="nll", keep=3)


def test_params_as_a_mapping_bare_or_targeted(corpus_jsonl, scores):
    importance = -DIFFICULTY  # lower is more important
    for params in ({"strata": 4, "drop_hardest": 0.25}, {"stratified.strata": 4, "stratified.drop_hardest": 0.25}):
        result = select(corpus_jsonl, scores, by="difficulty", keep=6, strategy="stratified", seed=2, params=params)
        expected = select_stratified(importance, 6, 2, strata=4, drop_hardest=0.25)
        assert result.kept_rows.tolist() == expected.tolist()
        assert result.params == {"strata": 4, "drop_hardest": 0.25}


def test_a_later_layer_of_assignments_overrides_an_earlier_one(corpus_jsonl, scores):
    config = [Assignment(("minimum",), "0.0", "config: minimum"), Assignment(("maximum",), "1.0", "config: maximum")]
    command_line = [Assignment(("threshold", "minimum"), "-1.0", "-p threshold.minimum=-1.0")]
    result = select(corpus_jsonl, scores, by="difficulty", strategy="threshold", params=[config, command_line])
    assert result.params == {"minimum": -1.0, "maximum": 1.0}
    assert result.kept_rows.tolist() == np.flatnonzero((DIFFICULTY >= -1.0) & (DIFFICULTY <= 1.0)).tolist()


def test_a_parameter_the_strategy_does_not_take_names_where_it_applies(corpus_jsonl, scores):
    with pytest.raises(OptionError, match=r"chosen components \(top\) takes 'strata' \(it applies to strategy ccs"):
        select(corpus_jsonl, scores, by="difficulty", keep=3, strategy="top", params={"strata": 4})
    with pytest.raises(OptionError, match="zip is not one of the chosen components"):
        select(corpus_jsonl, scores, by="difficulty", keep=3, strategy="top", params={"zip.k1": 4})
    with pytest.raises(OptionError, match="strata: expected an integer"):
        select(corpus_jsonl, scores, by="difficulty", keep=3, strategy="ccs", params={"strata": "many"})
    with pytest.raises(OptionError, match="strategy dsir needs target: give -p dsir.target="):
        select(corpus_jsonl, scores, by=None, keep=3, strategy="dsir")
    assert not (scores.parent / "kept.jsonl").exists()


def test_a_token_budget_costs_each_row_its_n_tokens(corpus_jsonl, scores):
    result = select(corpus_jsonl, scores, by="difficulty", budget_tokens=100, strategy="top")
    kept, spent = [], 0
    for row in np.argsort(DIFFICULTY, kind="stable"):  # lower difficulty first: the column's direction
        if spent + TOKENS[row] > 100:
            break
        kept.append(int(row))
        spent += int(TOKENS[row])
    assert result.kept_rows.tolist() == sorted(kept) and result.kept_tokens == spent
    with pytest.raises(OptionError, match="--strategy zip takes --keep, not --budget-tokens"):
        select(corpus_jsonl, scores, by=None, budget_tokens=100, strategy="zip")


def test_two_default_columns_present_ask_for_by(corpus_jsonl, scores):
    store = ScoreStore.open(scores)
    dataset = open_dataset(corpus_jsonl, Fields(label="label"))
    column = ScoreColumn("semdedup_keep", None, "kept", kind=ColumnKind.FLAG)
    run = store.start_run("other", {}, [column], shard_rows=99)
    run.write_shard(0, 0, next(dataset.iter_examples()).column("id"), {"semdedup_keep": FLAGS})
    run.finish(ROWS, {})
    with pytest.raises(OptionError, match=r"choose the column with --by \(semdedup_keep or minhash_keep\)"):
        select(corpus_jsonl, scores, by=None, strategy="dedup")


def test_token_budgets_and_class_balance_say_what_they_need(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s")
    common = {"scores": tmp_path / "s", "by": "zlib_ratio", "out": tmp_path / "kept.jsonl"}
    with pytest.raises(OptionError, match="--budget-tokens needs the n_tokens column.*--scorer likelihood"):
        thresher.select(corpus_jsonl, budget_tokens=50, **common)
    with pytest.raises(OptionError, match="--balance-classes needs labels: give --label-field"):
        thresher.select(corpus_jsonl, keep=6, balance_classes=True, **common)
    assert not (tmp_path / "kept.jsonl").exists()
