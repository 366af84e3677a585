"""A real `thresher score` process killed (SIGKILL) or interrupted (SIGINT) mid-run resumes to the same result.

The run goes through `gated_cli.py`, whose compression scorer stops at the first row of shard `GATED_SHARD` until
the test releases it: the process is then provably stuck with exactly `GATED_SHARD` shards recorded, so where it
is killed depends on no timing. The reruns are the plain `thresher score` command.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from thresher.store import ScoreStore

ROWS = 2_000
SHARD_ROWS = 200
GATED_SHARD = 3
COLUMNS = ["zlib_ratio", "zstd_ratio", "lzma_ratio"]
GATED_CLI = Path(__file__).with_name("gated_cli.py")


def text_of(row: int) -> str:
    return f"example {row % 997} with words {row * 7919 % 10007}"


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "big.jsonl"
    path.write_text("".join(json.dumps({"text": text_of(row), "n": row}) + "\n" for row in range(ROWS)))
    return path


def score_args(input_path, out) -> list[str]:
    return ["score", str(input_path), "--scorer", "compression", "--out", str(out), "--shard-rows", str(SHARD_ROWS)]


def plain_score(input_path, out) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "thresher.cli", *score_args(input_path, out), "--quiet"], capture_output=True, text=True
    )


def shards_recorded(out) -> int:
    manifest = json.loads((out / "manifest.json").read_text())
    return len(manifest["scorers"]["compression"]["shards"])


def wait_for(path: Path, process: subprocess.Popen) -> None:
    """Wait until `path` exists; fail if the process ends first (the deadline only stops a hung test)."""
    deadline = time.monotonic() + 120
    while not path.exists():
        assert process.poll() is None, f"the run ended before {path.name}: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {path.name} in two minutes"
        time.sleep(0.01)


def start_gated(input_path, out, gate: Path) -> subprocess.Popen:
    """A run held at the first row of shard GATED_SHARD, with every earlier shard recorded."""
    gate.mkdir()
    env = {**os.environ, "THRESHER_GATE_DIR": str(gate), "THRESHER_GATE_TEXT": text_of(GATED_SHARD * SHARD_ROWS)}
    command = [sys.executable, str(GATED_CLI), *score_args(input_path, out), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    wait_for(gate / "blocked", process)
    return process


@pytest.fixture(scope="module")
def uninterrupted(big_jsonl, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "scores"
    finished = plain_score(big_jsonl, out)
    assert finished.returncode == 0, finished.stderr
    return ScoreStore.open(out).read_columns(COLUMNS)


def test_sigkill_mid_run_then_rerun_equals_an_uninterrupted_run(big_jsonl, uninterrupted, tmp_path):
    out = tmp_path / "scores"
    process = start_gated(big_jsonl, out, tmp_path / "gate")
    assert shards_recorded(out) == GATED_SHARD
    process.kill()
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert shards_recorded(out) == GATED_SHARD
    rerun = plain_score(big_jsonl, out)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({GATED_SHARD} shard(s) reused)" in rerun.stdout
    resumed = ScoreStore.open(out).read_columns(COLUMNS)
    assert resumed.num_rows == ROWS
    assert len(set(resumed.column("id").to_pylist())) == ROWS  # every id exactly once
    assert resumed.equals(uninterrupted)


def test_first_sigint_stops_after_the_current_shard(big_jsonl, uninterrupted, tmp_path):
    out, gate = tmp_path / "scores", tmp_path / "gate"
    process = start_gated(big_jsonl, out, gate)
    process.send_signal(signal.SIGINT)
    wait_for(gate / "interrupted", process)
    (gate / "release").touch()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130
    assert b"rerun the same command to resume" in stderr and b"Traceback" not in stderr
    manifest = json.loads((out / "manifest.json").read_text())["scorers"]["compression"]
    # The shard it was scoring when interrupted is finished and recorded; none after it is started.
    assert not manifest["complete"] and [shard["index"] for shard in manifest["shards"]] == list(
        range(GATED_SHARD + 1)
    )
    assert not list(out.rglob("*.tmp"))  # stopped between shards, nothing half-written
    rerun = plain_score(big_jsonl, out)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({GATED_SHARD + 1} shard(s) reused)" in rerun.stdout
    assert ScoreStore.open(out).read_columns(COLUMNS).equals(uninterrupted)
