import numpy as np
import pyarrow as pa
import pytest

from thresher.engine.local import rechunk, run_scorers
from thresher.scorers.base import Scorer
from thresher.store import ScoreStore
from thresher.types import Direction, ScoreColumn


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
    """A multi-pass scorer: each example's rank among all texts, known only after seeing them all."""

    name = "rank"
    columns = (ScoreColumn("rank", Direction.HIGHER, "rank of the text among all texts"),)
    requires_fit = True

    def __init__(self) -> None:
        self.fits = 0

    def fit(self, examples):
        self.fits += 1
        texts = [text for batch in examples() for text in batch.column("text").to_pylist()]
        assert all("row" not in batch.column_names for batch in examples())
        self.rank_ = {text: rank for rank, text in enumerate(sorted(texts))}

    def score_batch(self, batch):
        return {"rank": np.array([self.rank_[text] for text in batch.column("text").to_pylist()], dtype=float)}


def test_multi_pass_scorer_is_fitted_once_on_every_example_and_not_when_done(tmp_path):
    scorer = RankScorer()
    run_scorers(lambda: examples(30), [scorer], bound_store(tmp_path), shard_rows=8, show_progress=False)
    assert scorer.fits == 1
    ranks = ScoreStore.open(tmp_path).read_columns(["rank"]).column("rank").to_pylist()
    assert sorted(ranks) == list(range(30)) and ranks[0] == 0.0  # "text 0" sorts first
    again = RankScorer()
    run_scorers(lambda: examples(30), [again], bound_store(tmp_path), shard_rows=8, show_progress=False)
    assert again.fits == 0
