import json

import numpy as np
import pyarrow as pa
import pytest

from thresher.engine.local import rechunk, run_scorers
from thresher.scorers.base import Scorer
from thresher.store import ScoreStore
from thresher.types import Direction, RunContext, ScoreColumn


class LengthScorer(Scorer):
    """Scores each text by its length; can be told to fail on one shard to simulate a crash."""

    name = "length"
    columns = (ScoreColumn("length", Direction.HIGHER, "characters"),)

    def __init__(self, *, fail_on_row: int = -1) -> None:
        self.fail_on_row = fail_on_row
        self.calls = 0

    def score_batch(self, batch):
        self.calls += 1
        texts = batch.column("text").to_pylist()
        if self.fail_on_row >= 0 and any(text == f"text {self.fail_on_row}" for text in texts):
            raise RuntimeError("simulated crash")
        return {"length": np.array([len(text) for text in texts], dtype=np.float64)}

    def get_params(self):
        return {}  # the crash switch is not a parameter of the scores


def examples(n: int, batch_rows: int = 7):
    for start in range(0, n, batch_rows):
        rows = range(start, min(start + batch_rows, n))
        yield pa.record_batch(
            {"row": pa.array(rows, pa.int64()), "id": [f"id{i}" for i in rows], "text": [f"text {i}" for i in rows]}
        )


def bound_store(path):
    store = ScoreStore(path)
    store.bind_input({"path": "x", "size_bytes": 1, "blake2b": "b", "fields": {"text": "text"}})
    return store


def test_rechunk_gives_exact_sizes_in_order():
    sizes = [batch.num_rows for batch in rechunk(examples(45), 10)]
    assert sizes == [10, 10, 10, 10, 5]
    rows = [row for batch in rechunk(examples(45), 10) for row in batch.column("row").to_pylist()]
    assert rows == list(range(45))


def test_interrupted_run_resumes_and_equals_an_uninterrupted_one(tmp_path):
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_scorers(
            lambda: examples(50),
            [LengthScorer(fail_on_row=33)],
            bound_store(tmp_path / "a"),
            shard_rows=10,
            show_progress=False,
        )
    resumed_scorer = LengthScorer()
    summary = run_scorers(
        lambda: examples(50), [resumed_scorer], bound_store(tmp_path / "a"), shard_rows=10, show_progress=False
    )
    assert summary.shards_reused == {"length": 3} and summary.shards_computed == {"length": 2}
    assert resumed_scorer.calls == 2
    fresh = bound_store(tmp_path / "b")
    run_scorers(lambda: examples(50), [LengthScorer()], fresh, shard_rows=10, show_progress=False)
    resumed = ScoreStore.open(tmp_path / "a").read_columns(["length"])
    assert resumed.equals(ScoreStore.open(tmp_path / "b").read_columns(["length"]))
    assert resumed.column("id").to_pylist() == [f"id{i}" for i in range(50)]


class RankScorer(Scorer):
    """A set-level scorer: each example's rank among all texts, known only after seeing them all.

    Its partial state is the sorted texts of a shard (fine for a test's few rows), merged by merging the lists; it
    counts its calls so tests can see which shards a resumed fitting pass updates.
    """

    name = "rank"
    columns = (ScoreColumn("rank", Direction.HIGHER, "rank of the text among all texts"),)
    fit_rounds = 1

    def __init__(self, *, fail_on_row: int = -1) -> None:
        self.fail_on_row = fail_on_row
        self.updated: list[int] = []
        self.finalized = 0

    def get_params(self):
        return {}

    def setup(self, context):
        self.context = context

    def update(self, batch, round):
        rows = batch.column("row").to_pylist()
        if self.fail_on_row in rows:
            raise RuntimeError("simulated crash")
        self.updated.append(rows[0])
        return sorted(batch.column("text").to_pylist())

    def merge(self, partial, other):
        return sorted(partial + other)

    def finalize(self, merged, round, context):
        self.finalized += 1
        (context.state_dir / "ranks.json").write_text(json.dumps({text: rank for rank, text in enumerate(merged)}))
        return {"texts": len(merged)}

    def score_batch(self, batch):
        ranks = json.loads((self.context.state_dir / "ranks.json").read_text())
        return {"rank": np.array([ranks[text] for text in batch.column("text").to_pylist()], dtype=float)}


def context_in(path):
    return RunContext(cache_dir=path / "cache", input_digest="test-input")


def test_set_level_scorer_is_fitted_once_on_every_example_and_not_when_done(tmp_path):
    scorer = RankScorer()
    run_scorers(
        lambda: examples(30),
        [scorer],
        bound_store(tmp_path),
        shard_rows=8,
        show_progress=False,
        context=context_in(tmp_path),
    )
    assert scorer.updated == [0, 8, 16, 24] and scorer.finalized == 1
    store = ScoreStore.open(tmp_path)
    ranks = store.read_columns(["rank"]).column("rank").to_pylist()
    # "text 0" < "text 1" < "text 10" < ... in string order: an independent sort of the same texts.
    expected = {text: rank for rank, text in enumerate(sorted(f"text {i}" for i in range(30)))}
    assert ranks == [expected[f"text {i}"] for i in range(30)]
    assert store.manifest["scorers"]["rank"]["provenance"]["texts"] == 30
    again = RankScorer()
    run_scorers(
        lambda: examples(30),
        [again],
        bound_store(tmp_path),
        shard_rows=8,
        show_progress=False,
        context=context_in(tmp_path),
    )
    assert again.updated == [] and again.finalized == 0


def test_a_killed_fitting_pass_resumes_without_updating_the_shards_it_had_updated(tmp_path):
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_scorers(
            lambda: examples(50),
            [RankScorer(fail_on_row=30)],
            bound_store(tmp_path / "a"),
            shard_rows=10,
            show_progress=False,
            context=context_in(tmp_path / "a"),
        )
    resumed = RankScorer()
    summary = run_scorers(
        lambda: examples(50),
        [resumed],
        bound_store(tmp_path / "a"),
        shard_rows=10,
        show_progress=False,
        context=context_in(tmp_path / "a"),
    )
    # Shards 0-2 were updated before the crash: only shards 3 and 4 are updated again, then it finalizes once.
    assert resumed.updated == [30, 40] and resumed.finalized == 1 and summary.shards_computed == {"rank": 5}
    fresh = RankScorer()
    run_scorers(
        lambda: examples(50),
        [fresh],
        bound_store(tmp_path / "b"),
        shard_rows=10,
        show_progress=False,
        context=context_in(tmp_path / "b"),
    )
    assert fresh.updated == [0, 10, 20, 30, 40]
    first = ScoreStore.open(tmp_path / "a").read_columns(["rank"])
    assert first.equals(ScoreStore.open(tmp_path / "b").read_columns(["rank"]))
