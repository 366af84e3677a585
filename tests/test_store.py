import json

import numpy as np
import pyarrow as pa
import pytest

from thresher.errors import StoreError
from thresher.store import ScoreStore
from thresher.types import Direction, ScoreColumn, ScorerCode

COLUMNS = (ScoreColumn("a", Direction.HIGHER, "test a"), ScoreColumn("b", Direction.LOWER, "test b"))
INPUT = {"path": "/data/x.jsonl", "format": "jsonl", "size_bytes": 10, "blake2b": "abc", "fields": {"text": "text"}}


def write_two_shards(store: ScoreStore, params: dict | None = None) -> None:
    run = store.start_run("test", params or {"p": 1}, COLUMNS, shard_rows=2)
    run.write_shard(0, 0, pa.array(["x", "y"]), {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])}, seconds=1.0)
    run.write_shard(1, 2, pa.array(["z"]), {"a": np.array([5.0]), "b": np.array([6.0])}, seconds=1.0)
    run.finish(3, {"model": "none"})


def test_shards_read_back_in_input_order_with_directions(tmp_path):
    store = ScoreStore(tmp_path / "scores")
    store.bind_input(INPUT)
    write_two_shards(store)
    reopened = ScoreStore.open(tmp_path / "scores")
    table = reopened.read_columns(["b", "a"])
    assert table.column("id").to_pylist() == ["x", "y", "z"]
    assert table.column("a").to_pylist() == [1.0, 2.0, 5.0]
    assert table.column("b").to_pylist() == [3.0, 4.0, 6.0]
    assert reopened.column_infos()["b"].direction is Direction.LOWER
    manifest = json.loads((tmp_path / "scores" / "manifest.json").read_text())
    entry = manifest["scorers"]["test"]
    assert entry["complete"] and entry["row_count"] == 3 and entry["seconds"] == 2.0
    assert entry["provenance"] == {"model": "none"} and "pyarrow" in entry["packages"]
    assert not list((tmp_path / "scores").rglob("*.tmp"))


def test_a_failed_shard_write_leaves_no_file_and_no_manifest_entry(tmp_path, monkeypatch):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    run = store.start_run("test", {"p": 1}, COLUMNS, shard_rows=2)
    run.write_shard(0, 0, pa.array(["x", "y"]), {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])})
    manifest_before = (tmp_path / "manifest.json").read_text()

    def write_half_then_fail(table, where, **kwargs):
        with open(where, "wb") as sink:
            sink.write(b"PAR1 half a shard")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("thresher.store.pq.write_table", write_half_then_fail)
    with pytest.raises(StoreError, match="part-00001.parquet: cannot write the shard"):
        run.write_shard(1, 2, pa.array(["z"]), {"a": np.array([5.0]), "b": np.array([6.0])})
    assert sorted(path.name for path in (tmp_path / "test").iterdir()) == ["part-00000.parquet"]
    assert (tmp_path / "manifest.json").read_text() == manifest_before
    assert ScoreStore(tmp_path).start_run("test", {"p": 1}, COLUMNS, shard_rows=2).done_shards == {0}


def test_a_failed_manifest_write_keeps_the_previous_manifest_whole(tmp_path, monkeypatch):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    manifest_before = json.loads((tmp_path / "manifest.json").read_text())

    def fail_after_half(self, text, *args, **kwargs):
        with open(self, "w") as sink:
            sink.write(text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pathlib.Path.write_text", fail_after_half)
    with pytest.raises(StoreError, match="cannot write the manifest"):
        store.start_run("test", {"p": 1}, COLUMNS, shard_rows=2)
    monkeypatch.undo()
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest_before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["manifest.json"]


def test_other_input_is_refused_unless_overwrite(tmp_path):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    write_two_shards(store)
    other = {**INPUT, "blake2b": "def"}
    with pytest.raises(StoreError, match="not of /data/x.jsonl"):
        ScoreStore(tmp_path).bind_input(other)
    with pytest.raises(StoreError, match="does not match"):
        ScoreStore.open(tmp_path).check_input(other)
    fresh = ScoreStore(tmp_path)
    fresh.bind_input(other, overwrite=True)
    assert fresh.scorer_names == [] and not (tmp_path / "test").exists()


def test_changed_parameters_are_refused_and_same_parameters_resume(tmp_path):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    run = store.start_run("test", {"p": 1}, COLUMNS, shard_rows=2)
    run.write_shard(0, 0, pa.array(["x", "y"]), {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])})
    resumed = ScoreStore(tmp_path).start_run("test", {"p": 1}, COLUMNS, shard_rows=2)
    assert resumed.done_shards == {0} and not resumed.complete
    with pytest.raises(StoreError, match="other parameters"):
        ScoreStore(tmp_path).start_run("test", {"p": 2}, COLUMNS, shard_rows=2)
    replaced = ScoreStore(tmp_path).start_run("test", {"p": 2}, COLUMNS, shard_rows=2, overwrite=True)
    assert replaced.done_shards == set()


def test_incomplete_scorer_and_unknown_column_are_clear_errors(tmp_path):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    store.start_run("test", {}, COLUMNS, shard_rows=2)
    with pytest.raises(StoreError, match="incomplete"):
        store.read_columns(["a"])
    with pytest.raises(StoreError, match="no score column 'nope'; available: a, b"):
        store.read_columns(["nope"])


def test_two_scorers_cannot_claim_the_same_column(tmp_path):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    store.start_run("first", {}, COLUMNS, shard_rows=2)
    with pytest.raises(StoreError, match="already written by scorer 'first'"):
        store.start_run("second", {}, COLUMNS[:1], shard_rows=2)


def test_open_refuses_a_directory_without_manifest(tmp_path):
    with pytest.raises(StoreError, match="not a thresher score directory"):
        ScoreStore.open(tmp_path)


def test_a_shard_with_missing_values_is_a_bug_not_a_silent_write(tmp_path):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    run = store.start_run("test", {}, COLUMNS, shard_rows=2)
    with pytest.raises(RuntimeError, match="returned 1 values"):
        run.write_shard(0, 0, pa.array(["x", "y"]), {"a": np.array([1.0]), "b": np.array([3.0, 4.0])})


def test_columns_read_without_ids_still_line_up_across_scorers(tmp_path):
    store = ScoreStore(tmp_path / "scores")
    store.bind_input(INPUT)
    write_two_shards(store)
    other = store.start_run("other", {}, (ScoreColumn("c", Direction.HIGHER, "test c"),), shard_rows=2)
    other.write_shard(0, 0, pa.array(["x", "y"]), {"c": np.array([7.0, 8.0])})
    other.write_shard(1, 2, pa.array(["z"]), {"c": np.array([9.0])})
    other.finish(3, {})
    table = store.read_columns(["a", "c"], with_id=False)
    assert table.column_names == ["a", "c"]
    assert table.column("c").to_pylist() == [7.0, 8.0, 9.0]

    resharded = store.start_run("resharded", {}, (ScoreColumn("d", Direction.HIGHER, "test d"),), shard_rows=3)
    resharded.write_shard(0, 0, pa.array(["x", "y", "z"]), {"d": np.array([1.0, 2.0, 3.0])})
    resharded.finish(3, {})
    assert store.read_columns(["a", "d"], with_id=False).column("d").to_pylist() == [1.0, 2.0, 3.0]

    gapped = store.start_run("gapped", {}, (ScoreColumn("e", Direction.HIGHER, "test e"),), shard_rows=2)
    gapped.write_shard(0, 1, pa.array(["y", "z"]), {"e": np.array([1.0, 2.0])})
    gapped.write_shard(1, 3, pa.array(["w"]), {"e": np.array([3.0])})
    gapped.finish(3, {})
    with pytest.raises(StoreError, match="do not line up"):
        store.read_columns(["a", "e"], with_id=False)


CODE = ScorerCode("tests.test_store:Scorer", 1)


def test_another_scorer_version_is_refused_and_overwrite_rescores(tmp_path):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    run = store.start_run("test", {"p": 1}, COLUMNS, shard_rows=2, code=CODE)
    run.write_shard(0, 0, pa.array(["x", "y"]), {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])})
    entry = ScoreStore(tmp_path).manifest["scorers"]["test"]
    assert (entry["class"], entry["version"]) == ("tests.test_store:Scorer", 1)
    assert ScoreStore(tmp_path).start_run("test", {"p": 1}, COLUMNS, shard_rows=2, code=CODE).done_shards == {0}

    bumped = ScorerCode("tests.test_store:Scorer", 2)
    message = "scorer 'test' was written by tests.test_store:Scorer version 1, this is version 2; use --overwrite"
    with pytest.raises(StoreError, match=message):
        ScoreStore(tmp_path).start_run("test", {"p": 1}, COLUMNS, shard_rows=2, code=bumped)
    moved = ScorerCode("tests.other:Scorer", 1)
    with pytest.raises(StoreError, match="version 1, this is tests.other:Scorer version 1"):
        ScoreStore(tmp_path).start_run("test", {"p": 1}, COLUMNS, shard_rows=2, code=moved)
    rescored = ScoreStore(tmp_path).start_run("test", {"p": 1}, COLUMNS, shard_rows=2, code=bumped, overwrite=True)
    assert rescored.done_shards == set() and rescored.entry["version"] == 2


def test_a_manifest_without_scorer_versions_gets_a_clear_refusal(tmp_path):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    write_two_shards(store)  # no code: as a thresher before scorer versions wrote it
    with pytest.raises(StoreError, match="did not record scorer versions, this is tests.test_store:Scorer version 1"):
        ScoreStore(tmp_path).start_run("test", {"p": 1}, COLUMNS, shard_rows=2, code=CODE)
    rescored = ScoreStore(tmp_path).start_run("test", {"p": 1}, COLUMNS, shard_rows=2, code=CODE, overwrite=True)
    assert rescored.done_shards == set() and not rescored.complete


def test_cli_refuses_scores_of_another_scorer_version_in_one_line(tmp_path, corpus_jsonl, monkeypatch):
    from typer.testing import CliRunner

    from thresher.cli import app
    from thresher.scorers.compression import CompressionScorer

    scores = tmp_path / "scores"
    command = ["score", str(corpus_jsonl), "--scorer", "compression", "--out", str(scores), "--quiet"]
    assert CliRunner().invoke(app, command).exit_code == 0
    monkeypatch.setattr(CompressionScorer, "version", 2)
    refused = CliRunner().invoke(app, command)
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert refused.stderr.strip().splitlines() == [
        f"error: {scores}: scorer 'compression' was written by thresher.scorers.compression:CompressionScorer "
        "version 1, this is version 2; use --overwrite to rescore"
    ]
    rescored = CliRunner().invoke(app, [*command, "--overwrite"])
    assert rescored.exit_code == 0, rescored.output
    assert "1 shard(s) computed" in rescored.output and "reused" not in rescored.output
    entry = json.loads((scores / "manifest.json").read_text())["scorers"]["compression"]
    assert entry["version"] == 2 and entry["complete"]


def test_columns_stream_a_shard_at_a_time_lined_up_across_shard_sizes(tmp_path):
    store = ScoreStore(tmp_path)
    store.bind_input(INPUT)
    a, c = np.arange(10.0), np.arange(100.0, 110.0)
    for name, columns, shard_rows, values in (
        ("first", COLUMNS[:1], 4, a),
        ("second", (ScoreColumn("c", Direction.HIGHER, "c"),), 3, c),
    ):
        run = store.start_run(name, {}, columns, shard_rows=shard_rows)
        for index, start in enumerate(range(0, 10, shard_rows)):
            stop = min(start + shard_rows, 10)
            run.write_shard(
                index, start, pa.array([str(row) for row in range(start, stop)]), {columns[0].name: values[start:stop]}
            )
        run.finish(10, {})
    chunks = list(store.iter_columns(["c", "a"]))
    # Shards of 4 and of 3 rows: each chunk ends where either scorer's shard does.
    assert [start for start, _ in chunks] == [0, 3, 4, 6, 8, 9]
    assert np.concatenate([values["a"] for _, values in chunks]).tolist() == a.tolist()
    assert np.concatenate([values["c"] for _, values in chunks]).tolist() == c.tolist()
    part = list(store.iter_columns(["a"], start=5, stop=9))
    assert [start for start, _ in part] == [5, 8] and np.concatenate([v["a"] for _, v in part]).tolist() == [
        5,
        6,
        7,
        8,
    ]
    assert list(store.iter_columns(["a"], start=10)) == []
    with pytest.raises(StoreError, match="no score column 'z'"):
        list(store.iter_columns(["z"]))
