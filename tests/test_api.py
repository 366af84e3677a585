import json

import numpy as np
import pytest

import thresher
from thresher.errors import OptionError, StoreError
from thresher.store import ScoreStore


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_then_select_top_keeps_the_least_compressible_examples(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "scores")
    table = ScoreStore.open(tmp_path / "scores").read_columns(["zlib_ratio"])
    ratios = np.asarray(table.column("zlib_ratio"))
    result = thresher.select(
        corpus_jsonl,
        scores=tmp_path / "scores",
        by="zlib_ratio",
        keep="0.25",
        strategy="top",
        out=tmp_path / "kept.jsonl",
        write_pruned=tmp_path / "pruned.jsonl",
    )
    assert result.kept == 6 and result.pruned == 18
    kept, pruned = read_jsonl(tmp_path / "kept.jsonl"), read_jsonl(tmp_path / "pruned.jsonl")
    assert len(kept) == 6 and len(pruned) == 18
    expected_rows = np.sort(np.argsort(-ratios, kind="stable")[:6])
    originals = read_jsonl(corpus_jsonl)
    assert kept == [originals[i] for i in expected_rows]  # every field kept, in input order
    assert min(ratios[expected_rows]) >= max(np.delete(ratios, expected_rows))


def test_rerunning_a_finished_score_reuses_every_shard(tmp_path, corpus_jsonl):
    first = thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s", shard_rows=10)
    assert first.shards_computed == {"compression": 3}
    again = thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s", shard_rows=10)
    assert again.shards_computed == {"compression": 0} and again.shards_reused == {"compression": 3}


def test_select_is_reproducible_under_a_seed(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s")
    runs = [
        thresher.select(
            corpus_jsonl,
            scores=tmp_path / "s",
            by=None,
            keep=5,
            strategy="random",
            seed=seed,
            out=tmp_path / f"r{i}.jsonl",
        ).kept_rows.tolist()
        for i, seed in enumerate([7, 7, 8])
    ]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_select_refuses_scores_of_another_input(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s")
    other = tmp_path / "other.jsonl"
    other.write_text('{"text": "something else"}\n')
    with pytest.raises(StoreError, match="does not match"):
        thresher.select(other, scores=tmp_path / "s", by="zlib_ratio", keep="0.5", out=tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()


def test_select_options_are_checked(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s")
    common = {"scores": tmp_path / "s", "out": tmp_path / "o.jsonl"}
    with pytest.raises(OptionError, match="--keep"):
        thresher.select(corpus_jsonl, by="zlib_ratio", keep="1.5", **common)
    with pytest.raises(OptionError, match="exceeds"):
        thresher.select(corpus_jsonl, by="zlib_ratio", keep="500", **common)
    with pytest.raises(OptionError, match="unknown --strategy"):
        thresher.select(corpus_jsonl, by="zlib_ratio", keep="3", strategy="best", **common)
    with pytest.raises(StoreError, match="no score column 'nll'"):
        thresher.select(corpus_jsonl, by="nll", keep="3", **common)
    assert not (tmp_path / "o.jsonl").exists()


def test_threshold_keeps_exactly_the_rows_in_range(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s")
    ratios = np.asarray(ScoreStore.open(tmp_path / "s").read_columns(["zlib_ratio"]).column("zlib_ratio"))
    low, high = np.quantile(ratios, [0.25, 0.75])
    result = thresher.select(
        corpus_jsonl,
        scores=tmp_path / "s",
        by="zlib_ratio",
        strategy="threshold",
        params={"minimum": low, "maximum": high},
        out=tmp_path / "t.jsonl",
    )
    assert result.kept_rows.tolist() == np.flatnonzero((ratios >= low) & (ratios <= high)).tolist()


def test_ccs_is_the_stratified_strategy_under_dealrecs_name(tmp_path, corpus_jsonl):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s")
    chosen = {
        strategy: thresher.select(
            corpus_jsonl,
            scores=tmp_path / "s",
            by="zlib_ratio",
            keep=8,
            strategy=strategy,
            params={"strata": 4, "drop_hardest": 0.1},
            seed=3,
            out=tmp_path / f"{strategy}.jsonl",
        ).kept_rows.tolist()
        for strategy in ("ccs", "stratified")
    }
    assert len(chosen["ccs"]) == 8 and chosen["ccs"] == chosen["stratified"]
