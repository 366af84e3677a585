"""A streamed `select` keeps exactly the rows of the in-memory one, for every strategy that streams."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.selection.base import Budget
from thresher.selection.inputs import inputs_from_store
from thresher.selection.registry import STRATEGIES
from thresher.selection.run import run_strategy
from thresher.selection.streaming import kept_rows, stream_select
from thresher.store import ScoreStore
from thresher.types import Direction, ScoreColumn


def write_scored_input(directory: Path, n: int, score_shard: int, token_shard: int, seed: int = 0) -> dict:
    """A JSONL input of n rows and its score directory: `score` (higher = more important, many ties), `loss`
    (lower = more important, ties) in shards of `score_shard` rows, `n_tokens` (zeros included) from another
    scorer in shards of `token_shard` rows."""
    rng = np.random.default_rng(seed)
    path = directory / "input.jsonl"
    records = ({"text": f"example {i} of {n}", "row": i, "label": f"class-{i % 3}"} for i in range(n))
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    arrays = {
        "score": rng.integers(0, max(n // 4, 1) + 1, size=n) / 7.0,
        "loss": np.round(rng.normal(size=n), 1),
        "n_tokens": rng.integers(0, 40, size=n).astype(np.int64),
    }
    dataset = open_dataset(path, Fields(label="label"))
    ids = [value for batch in dataset.iter_examples() for value in batch.column("id").to_pylist()]
    store = ScoreStore(directory / "scores")
    store.bind_input(dataset.fingerprint())
    for scorer, columns, shard_rows in (
        (
            "quality",
            [ScoreColumn("score", Direction.HIGHER, "s"), ScoreColumn("loss", Direction.LOWER, "l")],
            score_shard,
        ),
        ("tokens", [ScoreColumn("n_tokens", Direction.HIGHER, "t", dtype="int64")], token_shard),
    ):
        run = store.start_run(scorer, {}, columns, shard_rows=shard_rows)
        for index, start in enumerate(range(0, n, shard_rows)):
            stop = min(start + shard_rows, n)
            values = {column.name: arrays[column.name][start:stop] for column in columns}
            run.write_shard(index, start, pa.array(ids[start:stop]), values)
        run.finish(n, {})
    return {"input": path, "scores": directory / "scores", **arrays}


CASES = [
    ("top", "score", {"keep": 0.3}),
    ("top", "loss", {"keep": 1}),
    ("bottom", "score", {"keep": 0.5}),
    ("top", "score", {"budget_tokens": 200}),
    ("bottom", "loss", {"budget_tokens": 37}),
    ("threshold", "score", {"params": {"minimum": 0.5, "maximum": 3.0}}),
    ("threshold", "loss", {"params": {"maximum": 0.2}, "keep": 0.2}),
    ("threshold", "score", {"params": {"minimum": 1.0}, "budget_tokens": 150}),
    ("random", None, {"keep": 0.4, "seed": 3}),
    ("random", None, {"budget_tokens": 300, "seed": 1}),
    ("stratified", "score", {"keep": 0.3, "seed": 2, "params": {"strata": 4}}),
    ("ccs", "loss", {"keep": 0.5, "seed": 5, "params": {"strata": 50, "drop_hardest": 0.2}}),
    ("stratified", "score", {"keep": 1.0, "params": {"strata": 1, "drop_hardest": 0.0}}),
    ("softmax", "score", {"keep": 0.3, "seed": 2, "params": {"temperature": 0.5}}),
    ("softmax", "loss", {"budget_tokens": 120, "seed": 1}),
    ("pareto", "loss", {"seed": 3}),
    ("pareto", "loss", {"keep": 0.05, "params": {"alpha": 1.0}}),
    ("band", "score", {}),
    ("band", "loss", {"keep": 0.2, "params": {"low": 0.5, "high": 1.0}}),
]


@pytest.mark.parametrize(("n", "score_shard", "token_shard"), [(1, 1, 1), (60, 7, 11), (2500, 64, 1000)])
def test_streamed_and_in_memory_selections_are_the_same_rows_and_bytes(tmp_path, n, score_shard, token_shard):
    data = write_scored_input(tmp_path, n, score_shard, token_shard)
    for number, (strategy, by, options) in enumerate(CASES):
        common = {"scores": data["scores"], "by": by, "strategy": strategy, **options}
        streamed = thresher.select(data["input"], out=tmp_path / f"s{number}.jsonl", **common)
        in_memory = thresher.select(data["input"], out=tmp_path / f"m{number}.jsonl", in_memory=True, **common)
        assert streamed.streamed and not in_memory.streamed, strategy
        assert streamed.kept_rows.tolist() == in_memory.kept_rows.tolist(), (strategy, by, options)
        assert streamed.kept == in_memory.kept and streamed.kept_tokens == in_memory.kept_tokens
        assert (tmp_path / f"s{number}.jsonl").read_bytes() == (tmp_path / f"m{number}.jsonl").read_bytes()


def test_streamed_top_is_the_sorted_prefix_with_ties_to_the_lower_row(tmp_path):
    data = write_scored_input(tmp_path, 700, 50, 33)
    score, tokens = data["score"], data["n_tokens"]
    result = thresher.select(data["input"], scores=data["scores"], by="score", keep=100, out=tmp_path / "k.jsonl")
    by_hand = sorted(range(700), key=lambda row: (-score[row], row))[:100]
    assert result.streamed and result.kept_rows.tolist() == sorted(by_hand)
    kept_lines = (tmp_path / "k.jsonl").read_text().splitlines()
    assert [json.loads(line)["row"] for line in kept_lines] == sorted(by_hand)

    result = thresher.select(
        data["input"], scores=data["scores"], by="loss", budget_tokens=500, out=tmp_path / "t.jsonl"
    )
    kept, spent = [], 0
    for row in sorted(range(700), key=lambda row: (data["loss"][row], row)):  # lower loss is more important
        if spent + tokens[row] > 500:
            break
        kept.append(row)
        spent += int(tokens[row])
    assert result.kept_rows.tolist() == sorted(kept) and result.kept_tokens == spent


@pytest.mark.parametrize(
    ("strategy", "by", "budget", "params"),
    [
        ("top", "score", Budget(count=777), {}),
        ("bottom", "loss", Budget(count=1), {}),
        ("top", "loss", Budget(tokens=4000), {}),
        ("random", None, Budget(count=1200), {}),
        ("random", None, Budget(tokens=999), {}),
        ("threshold", "score", Budget(count=300), {"minimum": 0.2}),
        ("stratified", "score", Budget(count=900), {"strata": 6, "drop_hardest": 0.15}),
        ("softmax", "loss", Budget(count=1100), {"temperature": 0.2}),
        ("softmax", "score", Budget(tokens=5000), {"temperature": 3.0}),
        ("pareto", "loss", Budget(count=100), {"alpha": 0.5}),
        ("band", "loss", None, {"low": 0.3, "high": 0.9}),
        ("band", "score", Budget(count=1000), {"low": 0.0, "high": 0.5}),
    ],
)
def test_a_tiny_sketch_and_band_still_give_the_exact_rows(tmp_path, strategy, by, budget, params):
    data = write_scored_input(tmp_path, 3000, 128, 500, seed=7)
    store = ScoreStore.open(data["scores"])
    built = STRATEGIES.get(strategy)(**params)
    direction = store.column_infos()[by].direction if by else None
    cost_column = "n_tokens" if budget is not None and budget.tokens is not None else None
    rule, passes = stream_select(
        built.streamed(budget),
        store,
        column=by,
        direction=direction,
        cost_column=cost_column,
        budget=budget,
        seed=4,
        sketch_k=8,
        split_ranks=4,
        max_band=3,
    )
    dataset = open_dataset(data["input"], Fields(label="label"))
    inputs = inputs_from_store(type(built), store, dataset, column=by, with_costs=cost_column is not None)
    assert kept_rows(rule).tolist() == run_strategy(built, inputs, budget, 4).tolist()
    assert passes >= 3  # 3000 distinct keys do not fit a band of 3: the sketch's bins narrowed it first


def test_nan_scores_are_refused_alike_streamed_or_not(tmp_path):
    data = write_scored_input(tmp_path, 40, 9, 9)
    store = ScoreStore.open(data["scores"])
    entry = store.manifest["scorers"]["quality"]
    shard = store.root / entry["shards"][1]["file"]
    table = pq.read_table(shard)
    values = table.column("score").to_numpy().copy()
    values[[0, 3]] = np.nan
    pq.write_table(table.set_column(1, "score", [values]), shard)
    for strategy in ("top", "threshold", "stratified"):
        for in_memory in (False, True):
            options = {"params": {"minimum": 0.0}} if strategy == "threshold" else {"keep": 3}
            with pytest.raises(OptionError, match="2 of 40 score values are NaN"):
                thresher.select(
                    data["input"],
                    scores=data["scores"],
                    by="score",
                    strategy=strategy,
                    out=tmp_path / "o.jsonl",
                    in_memory=in_memory,
                    **options,
                )
    assert not (tmp_path / "o.jsonl").exists()


def test_strategies_that_do_not_stream_and_class_balance_run_in_memory(tmp_path):
    data = write_scored_input(tmp_path, 30, 8, 8)
    common = {"scores": data["scores"], "out": tmp_path / "o.jsonl"}
    assert not thresher.select(data["input"], by=None, keep=5, strategy="zip", **common).streamed
    assert not thresher.select(data["input"], by="score", budget_tokens=50, strategy="stratified", **common).streamed
    assert thresher.select(data["input"], by="score", keep=5, strategy="stratified", **common).streamed
    balanced = thresher.select(data["input"], by="score", keep=6, balance_classes=True, **common)
    assert not balanced.streamed
    labels = np.arange(30) % 3
    assert np.bincount(labels[balanced.kept_rows]).tolist() == [2, 2, 2]


@pytest.mark.parametrize(
    ("strategy", "by", "budget", "params"),
    [
        ("top", "score", Budget(tokens=9000), {}),
        ("bottom", "score", Budget(count=1000), {}),
        ("stratified", "score", Budget(count=700), {"strata": 3, "drop_hardest": 0.3}),
    ],
)
def test_a_rule_split_into_parts_decides_each_part_alone_as_the_whole_does(tmp_path, strategy, by, budget, params):
    data = write_scored_input(tmp_path, 2000, 64, 100, seed=1)
    store = ScoreStore.open(data["scores"])
    built = STRATEGIES.get(strategy)(**params)
    rule, _ = stream_select(
        built.streamed(budget),
        store,
        column=by,
        direction=Direction.HIGHER,
        cost_column="n_tokens" if budget.tokens is not None else None,
        budget=budget,
        seed=0,
    )
    cut = getattr(rule, "cut", None) or rule.drop
    keys = data["score"] if strategy == "bottom" else -data["score"] + 0.0  # the drop of CCS is a top cut
    ties = np.flatnonzero(keys == cut.key)
    assert ties.size > 1  # the cut falls inside a group of equal scores, which the parts share
    whole = np.concatenate(list(rule.masks()))
    # Parts boundaries between the tied rows: a later part must know how much of the ties earlier ones took.
    boundaries = sorted({0, 1, 37, 500, 501, 1333, 2000, int(ties[0]) + 1, int(ties[-1])})
    parts = rule.split(boundaries)
    split = np.concatenate(
        [
            np.concatenate(list(part.masks(start, stop)) or [np.zeros(0, bool)])
            for part, start, stop in zip(parts, boundaries[:-1], boundaries[1:], strict=True)
        ]
    )
    assert split.tolist() == whole.tolist()


def test_a_band_rule_split_into_parts_decides_each_part_alone_as_the_whole_does(tmp_path):
    data = write_scored_input(tmp_path, 2000, 64, 100, seed=1)
    store = ScoreStore.open(data["scores"])
    built = STRATEGIES.get("band")(low=0.3, high=0.6)
    rule, _ = stream_select(
        built.streamed(None), store, column="loss", direction=None, cost_column=None, budget=None, seed=0
    )
    for cut in (rule.lower, rule.upper):
        assert np.flatnonzero(data["loss"] == cut.key).size > 1  # both cuts fall inside groups of equal scores
    whole = np.concatenate(list(rule.masks()))
    assert int(whole.sum()) == 600
    boundaries = [0, 1, 37, 500, 501, 1333, 2000]
    parts = rule.split(boundaries)
    split = np.concatenate(
        [
            np.concatenate(list(part.masks(start, stop)) or [np.zeros(0, bool)])
            for part, start, stop in zip(parts, boundaries[:-1], boundaries[1:], strict=True)
        ]
    )
    assert split.tolist() == whole.tolist()
