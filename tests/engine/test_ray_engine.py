"""The Ray engine writes the same score directory as the local engine, resumes the same way, and survives a worker
killed mid-shard; its workers read their shards themselves, with the local engine's ids."""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import thresher
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.engine.ray_engine import ACTOR_NAME_PREFIX, RayOptions, run_scorers_on_ray
from thresher.errors import InputError, OptionError
from thresher.scorers.compression import CompressionScorer
from thresher.store import ScoreStore
from thresher.types import RunContext

ray = pytest.importorskip("ray", reason="the Ray engine needs `pip install 'thresher[ray]'`")

SENTENCE = "the cat sat on a mat while quick brown foxes jump over lazy dogs and rain falls in spain"
WORDS = SENTENCE.split()
ROWS = 230
SHARD_ROWS = 50  # five shards, the last one short
COLUMNS = ["zlib_ratio", "zstd_ratio", "lzma_ratio"]


@pytest.fixture(scope="module")
def ray_cluster():
    """A two-CPU local Ray cluster, shared by the module's tests and shut down after them."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def texts_with_repeats(rows: int, seed: int = 0) -> list[str]:
    """Short random texts from a small vocabulary, with many exact repeats spread over the whole input."""
    rng = np.random.default_rng(seed)
    distinct = [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 6)))) for _ in range(rows // 3)]
    return [distinct[int(rng.integers(0, len(distinct)))] for _ in range(rows)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("ray-corpus") / "corpus.jsonl"
    lines = [json.dumps({"text": text}) for text in texts_with_repeats(ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def table_of(score_dir, columns=COLUMNS):
    return ScoreStore.open(score_dir).read_columns(columns)


def test_ray_compression_scores_equal_local_and_resume_skips_recorded_shards(ray_cluster, corpus, tmp_path):
    local = thresher.score(corpus, scorers=["compression"], out=tmp_path / "local", shard_rows=SHARD_ROWS)
    on_ray = thresher.score(
        corpus, scorers=["compression"], out=tmp_path / "ray", shard_rows=SHARD_ROWS, engine="ray", workers=2
    )
    assert on_ray.row_count == local.row_count == ROWS
    assert on_ray.shards_computed == {"compression": 5}
    expected = table_of(tmp_path / "local")
    assert table_of(tmp_path / "ray").equals(expected)
    manifest = ScoreStore.open(tmp_path / "ray").manifest["scorers"]["compression"]
    assert [shard["row_start"] for shard in manifest["shards"]] == [0, 50, 100, 150, 200]
    assert manifest["complete"]

    # An interrupted run: shards 0 and 3 recorded, the rest not; Ray computes only the three missing ones.
    partial = tmp_path / "partial"
    thresher.score(corpus, scorers=["compression"], out=partial, shard_rows=SHARD_ROWS)
    store = ScoreStore.open(partial)
    entry = store.manifest["scorers"]["compression"]
    for shard in entry["shards"]:
        if shard["index"] not in (0, 3):
            (partial / shard["file"]).unlink()
    kept_files = {shard["file"]: (partial / shard["file"]).stat().st_mtime_ns for shard in entry["shards"][::3]}
    entry["shards"] = [shard for shard in entry["shards"] if shard["index"] in (0, 3)]
    entry["complete"] = False
    store._save_manifest()
    resumed = thresher.score(corpus, scorers=["compression"], out=partial, shard_rows=SHARD_ROWS, engine="ray")
    assert resumed.shards_computed == {"compression": 3} and resumed.shards_reused == {"compression": 2}
    assert {name: (partial / name).stat().st_mtime_ns for name in kept_files} == kept_files
    assert table_of(partial).equals(expected)

    finished = thresher.score(corpus, scorers=["compression"], out=partial, shard_rows=SHARD_ROWS, engine="ray")
    assert finished.shards_computed == {"compression": 0} and finished.shards_reused == {"compression": 5}


def test_ray_options_are_refused_with_the_local_engine(corpus, tmp_path):
    with pytest.raises(OptionError, match="--workers only apply with --engine ray"):
        thresher.score(corpus, scorers=["compression"], out=tmp_path / "s", workers=2)
    with pytest.raises(OptionError, match="unknown --engine"):
        thresher.score(corpus, scorers=["compression"], out=tmp_path / "s", engine="spark")


# -------------------------------------------------------------------------- a worker killed mid-shard


class GatedCompressionScorer(CompressionScorer):
    """The compression scorer, held at one shard until the test releases it; says which actor and process hold it."""

    def __init__(self, *, gate: str = "", gate_row: int = -1) -> None:
        super().__init__()
        self.gate = gate
        self.gate_row = gate_row

    def score_batch(self, batch):
        gate = Path(self.gate)
        if self.gate_row in batch.column("row").to_pylist() and not (gate / "release").exists():
            actor = ray.get_runtime_context().get_actor_name()
            (gate / "blocked.json").write_text(json.dumps({"actor": actor, "pid": os.getpid()}))
            while not (gate / "release").exists():
                time.sleep(0.01)
        return super().score_batch(batch)


def kill_the_blocked_worker_then_release(gate: Path, killed: dict) -> None:
    """Wait until a worker is held inside a shard, kill its actor (Ray restarts it), then open the gate."""
    deadline = time.monotonic() + 120
    while not (gate / "blocked.json").exists():
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)
    time.sleep(0.2)  # the file is written: let the write land before reading it
    blocked = json.loads((gate / "blocked.json").read_text())
    ray.kill(ray.get_actor(blocked["actor"]), no_restart=False)
    killed.update(blocked)
    while _alive(blocked["pid"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    (gate / "release").touch()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_a_worker_killed_mid_shard_is_retried_and_every_id_is_scored_once(ray_cluster, corpus, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    killed: dict = {}
    killer = threading.Thread(target=kill_the_blocked_worker_then_release, args=(gate, killed), daemon=True)
    killer.start()
    scorer = GatedCompressionScorer(gate=str(gate), gate_row=3 * SHARD_ROWS + 7)
    summary = thresher.score(
        corpus, scorers=[scorer], out=tmp_path / "ray", shard_rows=SHARD_ROWS, engine="ray", workers=2
    )
    killer.join(timeout=5)
    # The worker was really killed mid-shard: its process is gone, and the shard was scored by the restarted actor.
    assert killed and killed["actor"].startswith(ACTOR_NAME_PREFIX) and not _alive(killed["pid"])
    assert summary.shards_computed == {"compression": 5}
    on_ray = table_of(tmp_path / "ray")
    ids = on_ray.column("id").to_pylist()
    assert len(ids) == ROWS and len(set(ids)) == ROWS  # every id exactly once
    thresher.score(corpus, scorers=["compression"], out=tmp_path / "local", shard_rows=SHARD_ROWS)
    assert on_ray.equals(table_of(tmp_path / "local"))
    manifest = ScoreStore.open(tmp_path / "ray").manifest["scorers"]["compression"]
    assert [shard["index"] for shard in manifest["shards"]] == [0, 1, 2, 3, 4]
    assert not list((tmp_path / "ray").rglob("*.tmp"))


# ------------------------------------------------------------------------ workers read their own shards


def score_both(path, tmp_path, *, fields: Fields, shard_rows: int, piece_bytes: int) -> tuple[pa.Table, pa.Table]:
    """Compression scores of `path` by the local engine and by Ray workers reading pieces of `piece_bytes`."""
    dataset = open_dataset(path, fields)
    tables = []
    for name in ("local", "ray"):
        store = ScoreStore(tmp_path / name)
        store.bind_input(dataset.fingerprint())
        context = RunContext(cache_dir=tmp_path / name / "cache", input_digest="test")
        options = {"shard_rows": shard_rows, "context": context, "show_progress": False}
        if name == "ray":
            ray_options = RayOptions(workers=2, piece_bytes=piece_bytes)
            run_scorers_on_ray(dataset, [CompressionScorer()], store, options=ray_options, **options)
        else:
            from thresher.engine.local import run_scorers

            run_scorers(dataset.iter_examples, [CompressionScorer()], store, **options)
        tables.append(table_of(tmp_path / name, ["zlib_ratio"]))
    return tables[0], tables[1]


def test_content_ids_of_shards_read_in_parallel_are_the_sequential_ones(ray_cluster, tmp_path):
    # Repeated texts in every shard and piece, blank lines, a byte-order mark: pieces of 300 bytes cut lines
    # anywhere, and shards of 17 rows straddle pieces.
    texts = texts_with_repeats(120, seed=1)
    lines = []
    for row, text in enumerate(texts):
        lines.append(json.dumps({"text": text}))
        if row % 11 == 0:
            lines.append("  ")
    path = tmp_path / "in.jsonl"
    path.write_text("\ufeff" + "\n".join(lines) + "\n")
    local, on_ray = score_both(path, tmp_path, fields=Fields(), shard_rows=17, piece_bytes=300)
    assert on_ray.equals(local)
    # The ids are digest-occurrence, the occurrence counted over the whole input: checked here by hand.
    from thresher.data.ids import content_digest

    seen: dict[str, int] = {}
    expected = []
    for text in texts:
        expected.append(f"{content_digest(text)}-{seen.get(text, 0)}")
        seen[text] = seen.get(text, 0) + 1
    assert on_ray.column("id").to_pylist() == expected
    assert max(seen.values()) > 2  # the test has texts repeated across shards


@pytest.mark.slow  # the same readers' pieces are checked in one process by tests/data/test_shards.py
def test_parquet_row_groups_and_hf_arrow_files_are_read_by_the_workers(ray_cluster, tmp_path):
    texts = texts_with_repeats(90, seed=2)
    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": texts, "n": list(range(90))}), parquet, row_group_size=13)
    local, on_ray = score_both(parquet, tmp_path / "pq", fields=Fields(), shard_rows=20, piece_bytes=1)
    assert on_ray.equals(local) and on_ray.num_rows == 90

    import datasets

    hf_dir = tmp_path / "hf"
    datasets.Dataset.from_dict({"text": texts, "key": [f"k{i}" for i in range(90)]}).save_to_disk(
        str(hf_dir), max_shard_size="1KB"
    )
    assert len(list(hf_dir.glob("*.arrow"))) > 1
    local, on_ray = score_both(hf_dir, tmp_path / "hf-scores", fields=Fields(id="key"), shard_rows=20, piece_bytes=1)
    assert on_ray.equals(local) and on_ray.column("id").to_pylist() == [f"k{i}" for i in range(90)]


def test_a_compressed_input_is_read_by_the_driver_with_the_same_result(ray_cluster, corpus, tmp_path):
    packed = tmp_path / "corpus.jsonl.gz"
    packed.write_bytes(gzip.compress(corpus.read_bytes()))
    local, on_ray = score_both(packed, tmp_path, fields=Fields(), shard_rows=SHARD_ROWS, piece_bytes=100)
    assert on_ray.equals(local)


def test_a_file_url_input_gives_the_local_paths_scores(ray_cluster, corpus, tmp_path):
    url = corpus.absolute().as_uri()  # file:///...: read through pyarrow's filesystem layer
    thresher.score(url, scorers=["compression"], out=tmp_path / "url", shard_rows=SHARD_ROWS, engine="ray")
    thresher.score(corpus, scorers=["compression"], out=tmp_path / "path", shard_rows=SHARD_ROWS)
    assert table_of(tmp_path / "url").equals(table_of(tmp_path / "path"))
    recorded = ScoreStore.open(tmp_path / "url").manifest["input"]
    assert recorded["path"] == url and recorded["blake2b"].startswith("stat:")  # no download to fingerprint it


def test_bad_input_read_by_workers_fails_as_the_sequential_reader_does(ray_cluster, tmp_path):
    def first_error(path, fields):
        errors = []
        for name, options in (("local", {}), ("ray", {"engine": "ray", "workers": 2})):
            with pytest.raises(InputError) as caught:
                thresher.score(
                    path,
                    scorers=["compression"],
                    out=tmp_path / f"{path.stem}-{name}",
                    shard_rows=4,
                    **options,
                    id_field=fields.id,
                    label_field=fields.label,
                )
            errors.append(str(caught.value))
        return errors

    good = [json.dumps({"text": f"text {row}", "key": f"k{row}", "label": "a"}) for row in range(30)]
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text("\n".join([*good[:21], "{oops", *good[21:]]) + "\n")
    local, on_ray = first_error(malformed, Fields())
    assert local == on_ray and "malformed.jsonl:22: malformed JSON" in on_ray

    repeated = tmp_path / "repeated.jsonl"
    repeated.write_text("\n".join([*good, json.dumps({"text": "again", "key": "k3", "label": "a"})]) + "\n")
    local, on_ray = first_error(repeated, Fields(id="key"))
    assert local == on_ray and "repeated.jsonl:31: field 'key': duplicate id 'k3'" in on_ray

    retyped = tmp_path / "retyped.jsonl"
    retyped.write_text("\n".join([*good[:25], json.dumps({"text": "x", "label": 5}), *good[25:]]) + "\n")
    local, on_ray = first_error(retyped, Fields(label="label"))
    assert local == on_ray and "retyped.jsonl:26: field 'label': label is a number (5)" in on_ray


@pytest.mark.slow  # an actor loading sentence-transformers; the fitting pass it runs is the contract test's
def test_embed_on_ray_writes_the_local_embeddings(ray_cluster, tmp_path, tiny_embedder_dir):
    from typer.testing import CliRunner

    from tests.conftest import EMBEDDER_TEXTS
    from thresher.cli import app
    from thresher.embeddings import list_embedding_caches

    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in EMBEDDER_TEXTS))
    caches = []
    for name, extra in (("local", []), ("ray", ["--engine", "ray", "--workers", "2"])):
        args = ["embed", str(path), "--embedder", str(tiny_embedder_dir), "--out", str(tmp_path / name)]
        result = CliRunner().invoke(app, [*args, "--shard-rows", "5", "--device", "cpu", "--quiet", *extra])
        assert result.exit_code == 0, result.output
        (cache,) = list_embedding_caches(tmp_path / name / "cache")
        caches.append(cache)
    local_ids, local_vectors = caches[0].load()
    ray_ids, ray_vectors = caches[1].load()
    assert list(ray_ids) == list(local_ids) and ray_vectors.shape == (len(EMBEDDER_TEXTS), 32)
    np.testing.assert_allclose(ray_vectors, local_vectors, rtol=1e-6, atol=1e-6)
