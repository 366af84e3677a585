"""A real `thresher score` process killed (SIGKILL) or interrupted (SIGINT) mid-run resumes to the same result."""

import json
import signal
import subprocess
import sys
import time

import pytest

from thresher.store import ScoreStore

ROWS = 24_000
SHARD_ROWS = 800


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "big.jsonl"
    with path.open("w") as out:
        for i in range(ROWS):
            out.write(json.dumps({"text": f"example {i % 997} with words {i * 7919 % 10007}", "n": i}) + "\n")
    return path


def score_command(input_path, out):
    return [
        sys.executable,
        "-m",
        "thresher.cli",
        "score",
        str(input_path),
        "--scorer",
        "compression",
        "--out",
        str(out),
        "--shard-rows",
        str(SHARD_ROWS),
        "--quiet",
    ]


def shards_recorded(out) -> int:
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        return len(manifest["scorers"]["compression"]["shards"])
    except (OSError, KeyError, json.JSONDecodeError):
        return 0


def start_and_wait_for_shards(input_path, out, shards: int) -> subprocess.Popen:
    process = subprocess.Popen(score_command(input_path, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while shards_recorded(out) < shards:
        assert process.poll() is None, "the run finished before it could be interrupted"
        assert time.monotonic() < deadline, "no shard written in time"
        time.sleep(0.05)
    return process


@pytest.fixture(scope="module")
def uninterrupted(big_jsonl, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "scores"
    subprocess.run(score_command(big_jsonl, out), check=True, capture_output=True)
    return ScoreStore.open(out).read_columns(["zlib_ratio", "zstd_ratio", "lzma_ratio"])


def test_sigkill_mid_run_then_rerun_equals_an_uninterrupted_run(big_jsonl, uninterrupted, tmp_path):
    out = tmp_path / "scores"
    process = start_and_wait_for_shards(big_jsonl, out, 2)
    process.kill()
    process.wait()
    done_before = shards_recorded(out)
    assert 2 <= done_before < ROWS // SHARD_ROWS
    rerun = subprocess.run(score_command(big_jsonl, out), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({done_before} shard(s) reused)" in rerun.stdout
    resumed = ScoreStore.open(out).read_columns(["zlib_ratio", "zstd_ratio", "lzma_ratio"])
    assert resumed.num_rows == ROWS
    assert len(set(resumed.column("id").to_pylist())) == ROWS  # every id exactly once
    assert resumed.equals(uninterrupted)


def test_first_sigint_stops_after_the_current_shard(big_jsonl, uninterrupted, tmp_path):
    out = tmp_path / "scores"
    process = start_and_wait_for_shards(big_jsonl, out, 1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert b"rerun the same command to resume" in stderr and b"Traceback" not in stderr
    manifest = json.loads((out / "manifest.json").read_text())["scorers"]["compression"]
    assert not manifest["complete"] and manifest["shards"]
    assert not list(out.rglob("*.tmp"))  # stopped between shards, nothing half-written
    rerun = subprocess.run(score_command(big_jsonl, out), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert ScoreStore.open(out).read_columns(["zlib_ratio", "zstd_ratio", "lzma_ratio"]).equals(uninterrupted)
