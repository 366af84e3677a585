"""The Ray engine writes the same score directory as the local engine, and resumes the same way."""

from __future__ import annotations

import json

import numpy as np
import pytest

import thresher
from thresher.errors import OptionError
from thresher.store import ScoreStore

ray = pytest.importorskip("ray", reason="the Ray engine needs `pip install 'thresher[ray]'`")

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "while",
    "quick",
    "brown",
    "foxes",
    "jump",
    "over",
    "lazy",
    "dogs",
    "and",
    "rain",
    "falls",
    "in",
    "spain",
]
ROWS = 230
SHARD_ROWS = 50  # five shards, the last one short


@pytest.fixture(scope="module")
def ray_cluster():
    """A two-CPU local Ray cluster, shared by the module's tests and shut down after them."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("ray-corpus") / "corpus.jsonl"
    lines = [json.dumps({"text": " ".join(rng.choice(WORDS, size=int(rng.integers(3, 20))))}) for _ in range(ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def table_of(score_dir, columns):
    return ScoreStore.open(score_dir).read_columns(columns)


def test_ray_compression_scores_equal_local_and_resume_skips_recorded_shards(ray_cluster, corpus, tmp_path):
    local = thresher.score(corpus, scorers=["compression"], out=tmp_path / "local", shard_rows=SHARD_ROWS)
    on_ray = thresher.score(
        corpus, scorers=["compression"], out=tmp_path / "ray", shard_rows=SHARD_ROWS, engine="ray", workers=2
    )
    assert on_ray.row_count == local.row_count == ROWS
    assert on_ray.shards_computed == {"compression": 5}
    columns = ["zlib_ratio", "zstd_ratio", "lzma_ratio"]
    expected = table_of(tmp_path / "local", columns)
    assert table_of(tmp_path / "ray", columns).equals(expected)
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
    assert table_of(partial, columns).equals(expected)

    finished = thresher.score(corpus, scorers=["compression"], out=partial, shard_rows=SHARD_ROWS, engine="ray")
    assert finished.shards_computed == {"compression": 0} and finished.shards_reused == {"compression": 5}


def test_ray_options_are_refused_with_the_local_engine(corpus, tmp_path):
    with pytest.raises(OptionError, match="--workers only apply with --engine ray"):
        thresher.score(corpus, scorers=["compression"], out=tmp_path / "s", workers=2)
    with pytest.raises(OptionError, match="unknown --engine"):
        thresher.score(corpus, scorers=["compression"], out=tmp_path / "s", engine="spark")
