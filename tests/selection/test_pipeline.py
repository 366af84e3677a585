"""Pipelines: step counts on a hand-made score directory, each step among the rows the steps before it kept, and
the file's mistakes named by file and step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import thresher
from thresher.cli import app
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.selection.draws import gumbel_noise
from thresher.selection.pipeline import load_pipeline, step_seed
from thresher.store import ScoreStore
from thresher.types import ColumnKind, Direction, ScoreColumn

N = 100


def write_scores(directory: Path) -> dict:
    """100 rows: `dup_keep` (every 4th row is a duplicate, flag 0), `junk` (higher = more important, distinct),
    `quality` (lower = more important, distinct)."""
    path = directory / "input.jsonl"
    path.write_text("".join(json.dumps({"text": f"row {i}", "row": i}) + "\n" for i in range(N)))
    rng = np.random.default_rng(0)
    arrays = {
        "dup_keep": (np.arange(N) % 4 != 3).astype(np.float64),
        "junk": rng.permutation(N).astype(np.float64),
        "quality": rng.permutation(N) / 10.0,
    }
    dataset = open_dataset(path, Fields())
    ids = [value for batch in dataset.iter_examples() for value in batch.column("id").to_pylist()]
    store = ScoreStore(directory / "scores")
    store.bind_input(dataset.fingerprint())
    columns = [
        ScoreColumn("dup_keep", None, "kept by dedup", kind=ColumnKind.FLAG),
        ScoreColumn("junk", Direction.HIGHER, "j"),
        ScoreColumn("quality", Direction.LOWER, "q"),
    ]
    run = store.start_run("hand", {}, columns, shard_rows=30)
    for index, start in enumerate(range(0, N, 30)):
        stop = min(start + 30, N)
        run.write_shard(index, start, pa.array(ids[start:stop]), {name: arrays[name][start:stop] for name in arrays})
    run.finish(N, {})
    return {"input": path, "scores": directory / "scores", **arrays}


def write_pipeline(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


THREE_STEPS = """
steps:
  - {by: dup_keep, strategy: dedup}
  - {by: junk, strategy: bottom, drop: 0.2}   # the 20 % most important by junk go
  - by: quality
    strategy: softmax
    keep: 0.5
    params: {temperature: 0.5}
"""


def test_each_step_chooses_among_the_rows_the_steps_before_it_kept(tmp_path):
    data = write_scores(tmp_path)
    pipeline = write_pipeline(tmp_path / "p.yaml", THREE_STEPS)
    result = thresher.select(data["input"], scores=data["scores"], pipeline=pipeline, out=tmp_path / "k.jsonl", seed=7)
    # Step 1: the 75 rows whose flag is 1. Step 2: keep the 60 lowest junk among them (drop round(0.2·75) = 15).
    survivors = np.flatnonzero(data["dup_keep"] == 1)
    after_bottom = np.sort(survivors[np.argsort(data["junk"][survivors], kind="stable")[:60]])
    # Step 3: softmax by -quality/τ + Gumbel over the 60 rows, renumbered 0..59, with step 3's seed; keep 30.
    keys = -data["quality"][after_bottom] / 0.5 + gumbel_noise(step_seed(7, 3), np.arange(60))
    expected = np.sort(after_bottom[np.argsort(-keys, kind="stable")[:30]])
    assert result.kept_rows.tolist() == expected.tolist()
    assert [(step["received"], step["kept"], step["dropped"]) for step in result.steps] == [
        (100, 75, 25),
        (75, 60, 15),
        (60, 30, 30),
    ]
    assert [step["strategy"] for step in result.steps] == ["dedup", "bottom", "softmax"]
    kept_lines = [json.loads(line)["row"] for line in (tmp_path / "k.jsonl").read_text().splitlines()]
    assert kept_lines == expected.tolist()


def test_the_last_step_takes_keep_from_the_command_as_a_share_of_the_input(tmp_path):
    data = write_scores(tmp_path)
    # dup_keep is not one of dedup's default columns (semdedup_keep, minhash_keep), so the step must name it.
    pipeline = write_pipeline(tmp_path / "p.yaml", "steps:\n  - {strategy: dedup}\n  - {by: junk, strategy: top}\n")
    with pytest.raises(OptionError, match=r"p.yaml: step 1: strategy dedup needs by: COLUMN"):
        thresher.select(data["input"], scores=data["scores"], pipeline=pipeline, out=tmp_path / "e.jsonl")
    pipeline = write_pipeline(
        tmp_path / "p.yaml", "steps:\n  - {by: dup_keep, strategy: dedup}\n  - {by: junk, strategy: top}\n"
    )
    result = thresher.select(
        data["input"], scores=data["scores"], pipeline=pipeline, keep=0.3, out=tmp_path / "k.jsonl"
    )
    survivors = np.flatnonzero(data["dup_keep"] == 1)
    top = np.sort(survivors[np.argsort(-data["junk"][survivors], kind="stable")[:30]])  # 30 % of the 100 input rows
    assert result.kept_rows.tolist() == top.tolist()
    assert [(step["received"], step["kept"]) for step in result.steps] == [(100, 75), (75, 30)]
    with pytest.raises(OptionError, match=r"step 2: the command asks for 80 rows, but only 75 are left"):
        thresher.select(data["input"], scores=data["scores"], pipeline=pipeline, keep=80, out=tmp_path / "e.jsonl")
    with pytest.raises(OptionError, match=r"step 2: strategy top needs a size"):
        thresher.select(data["input"], scores=data["scores"], pipeline=pipeline, out=tmp_path / "e.jsonl")
    sized = write_pipeline(tmp_path / "s.yaml", THREE_STEPS)
    with pytest.raises(OptionError, match=r"s.yaml: step 3 sets keep: and the command sizes the last step too"):
        thresher.select(data["input"], scores=data["scores"], pipeline=sized, keep=10, out=tmp_path / "e.jsonl")
    assert not (tmp_path / "e.jsonl").exists()


def test_a_one_step_pipeline_keeps_what_select_keeps(tmp_path):
    data = write_scores(tmp_path)
    pipeline = write_pipeline(tmp_path / "p.yaml", "steps:\n  - {by: quality, strategy: softmax, keep: 0.4}\n")
    common = {"scores": data["scores"], "out": tmp_path / "k.jsonl", "seed": 5}
    piped = thresher.select(data["input"], pipeline=pipeline, **common)
    direct = thresher.select(data["input"], by="quality", strategy="softmax", keep=0.4, **common)
    assert piped.kept_rows.tolist() == direct.kept_rows.tolist() and piped.kept == 40


def test_a_step_can_fuse_columns(tmp_path):
    data = write_scores(tmp_path)
    text = "steps:\n  - {by: [junk, quality], fuse: rank-mean, strategy: top, keep: 10}\n"
    result = thresher.select(
        data["input"],
        scores=data["scores"],
        pipeline=write_pipeline(tmp_path / "p.yaml", text),
        out=tmp_path / "k.jsonl",
    )
    ranks_junk = np.argsort(np.argsort(data["junk"])) / (N - 1)
    ranks_quality = np.argsort(np.argsort(-data["quality"])) / (N - 1)
    fused = (ranks_junk + ranks_quality) / 2
    assert result.kept_rows.tolist() == sorted(np.argsort(-fused, kind="stable")[:10].tolist())
    assert result.steps[0]["by"] == "rank-mean(junk,quality)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "steps:\n  - {by: junk, strategy: top, keep: 0.5}\n  - {by: quality, strategy: sofmax}\n",
            r"p.yaml: step 2: unknown strategy 'sofmax'; choose one of ",
        ),
        ("steps: []\n", r"p.yaml: steps: expected a non-empty list"),
        ("- {strategy: top}\n", r"p.yaml: a pipeline file is a mapping with a `steps:` list"),
        ("steps:\n  - {by: junk, strategy: top, keep: 0.5, drop: 0.1}\n", r"step 1: give keep or drop, not both"),
        ("steps:\n  - {by: junk, strategy: top, keep: 1.5}\n", r"step 1: keep: a fraction must be greater than 0"),
        ("steps:\n  - {by: junk, strategy: top, drop: 1.0}\n", r"step 1: drop: a fraction must be at least 0"),
        (
            "steps:\n  - {by: junk, strategy: top}\n  - {by: junk, strategy: top, keep: 3}\n",
            r"step 1: strategy top needs a size: keep: or drop:",
        ),
        (
            "steps:\n  - {by: junk, strategy: softmax, keep: 3, params: {temprature: 2}}\n",
            r"step 1: params: temprature",
        ),
        ("steps:\n  - {by: junk, strategy: random, keep: 3}\n", r"step 1: strategy random chooses without a score"),
        ("steps:\n  - {by: [junk, quality], strategy: top, keep: 3}\n", r"step 1: by: several columns .* need fuse"),
        ("steps:\n  - {by: junk, strategy: top, keep: 3, sort: up}\n", r"step 1: unknown key 'sort'"),
        (
            "steps:\n  - {by: junk, strategy: top, keep: 3}\n  - {by: nope, strategy: top, keep: 1}\n",
            r"step 2: no score column 'nope'",
        ),
        ("steps:\n  - {by: dup_keep, strategy: top, keep: 3}\n", r"step 1: --by dup_keep is a flag column"),
        ("steps:\n  - {by: junk, strategy: top, keep: 3\n", r"p.yaml: line \d+: not valid YAML"),
    ],
)
def test_a_bad_pipeline_file_is_named_with_its_step(tmp_path, text, message):
    data = write_scores(tmp_path)
    pipeline = write_pipeline(tmp_path / "p.yaml", text)
    with pytest.raises(OptionError, match=message):
        thresher.select(data["input"], scores=data["scores"], pipeline=pipeline, out=tmp_path / "k.jsonl")
    assert not (tmp_path / "k.jsonl").exists()


def test_the_cli_runs_a_pipeline_reports_its_steps_and_exits_2_on_a_bad_file(tmp_path):
    data = write_scores(tmp_path)
    pipeline = write_pipeline(tmp_path / "p.yaml", THREE_STEPS)
    common = ["select", str(data["input"]), "--scores", str(data["scores"]), "--out", str(tmp_path / "k.jsonl")]
    result = CliRunner().invoke(app, [*common, "--pipeline", str(pipeline)])
    assert result.exit_code == 0, result.output
    assert "step 1 dedup by dup_keep: kept 75 of 100, dropped 25" in result.output
    assert "step 3 softmax by quality: kept 30 of 60, dropped 30" in result.output
    assert "kept 30 of 100 examples (pipeline" in result.output

    bad = write_pipeline(tmp_path / "bad.yaml", "steps:\n  - {by: junk, strategy: sofmax, keep: 3}\n")
    result = CliRunner().invoke(app, [*common[:-1], str(tmp_path / "o.jsonl"), "--pipeline", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {bad}: step 1: unknown strategy 'sofmax'; choose one of "
        + result.output.split("choose one of ")[1].strip()
    ]
    assert not (tmp_path / "o.jsonl").exists()
    result = CliRunner().invoke(app, [*common, "--pipeline", str(pipeline), "--strategy", "top"])
    assert result.exit_code == 2 and "drop --strategy" in result.output


def test_print_config_reads_the_pipeline_file_and_nothing_else(tmp_path):
    pipeline = write_pipeline(tmp_path / "p.yaml", THREE_STEPS)
    args = ["select", "nowhere.jsonl", "--scores", "none/", "--out", "k.jsonl", "--pipeline", str(pipeline)]
    result = CliRunner().invoke(app, [*args, "--keep", "0.3", "--print-config"])
    assert result.exit_code == 0, result.output
    assert f"pipeline: {pipeline}" in result.output and "strategy:" not in result.output
    assert load_pipeline(pipeline).record()[2] == {
        "strategy": "softmax",
        "by": "quality",
        "keep": 0.5,
        "params": {"temperature": 0.5},
    }
    result = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "missing.yaml"), "--print-config"])
    assert result.exit_code == 2 and "missing.yaml: no such pipeline file" in result.output


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"


def test_the_example_pipelines_are_valid_and_leave_their_last_step_to_keep():
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert {path.name for path in files} >= {"dclm_fineweb.yaml", "d4.yaml"}
    for path in files:
        pipeline = load_pipeline(path)
        assert pipeline.steps[-1].size is None, path  # usable as an eval method at every keep ratio
    d4 = load_pipeline(EXAMPLES / "d4.yaml").record()
    assert d4 == [{"strategy": "dedup", "by": "semdedup_keep"}, {"strategy": "top", "by": "prototype_distance"}]


def test_the_dclm_example_runs_on_the_columns_it_names(tmp_path):
    path = tmp_path / "input.jsonl"
    path.write_text("".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(200)))
    rng = np.random.default_rng(1)
    arrays = {
        "minhash_keep": (rng.uniform(size=200) > 0.1).astype(np.float64),
        "nll_mean": rng.gamma(2.0, size=200),
        "fasttext_score": rng.uniform(size=200),
    }
    dataset = open_dataset(path, Fields())
    ids = pa.array([value for batch in dataset.iter_examples() for value in batch.column("id").to_pylist()])
    store = ScoreStore(tmp_path / "scores")
    store.bind_input(dataset.fingerprint())
    columns = [
        ScoreColumn("minhash_keep", None, "k", kind=ColumnKind.FLAG),
        ScoreColumn("nll_mean", Direction.HIGHER, "n"),
        ScoreColumn("fasttext_score", Direction.HIGHER, "f"),
    ]
    run = store.start_run("hand", {}, columns, shard_rows=200)
    run.write_shard(0, 0, ids, arrays)
    run.finish(200, {})
    result = thresher.select(
        path, scores=tmp_path / "scores", pipeline=EXAMPLES / "dclm_fineweb.yaml", keep=0.3, out=tmp_path / "k.jsonl"
    )
    survivors = int(arrays["minhash_keep"].sum())
    after_junk = survivors - round(0.05 * survivors)
    assert [(step["received"], step["kept"]) for step in result.steps] == [
        (200, survivors),
        (survivors, after_junk),
        (after_junk, 60),
    ]
    kept = result.kept_rows
    assert arrays["minhash_keep"][kept].min() == 1.0
    # The junk step dropped the highest NLLs among the survivors: nothing kept is above its cut.
    flagged = np.flatnonzero(arrays["minhash_keep"] == 1)
    cut = np.sort(arrays["nll_mean"][flagged])[after_junk - 1]
    assert arrays["nll_mean"][kept].max() <= cut


def test_a_settings_file_sets_the_pipeline_and_fusion(tmp_path):
    data = write_scores(tmp_path)
    pipeline = write_pipeline(
        tmp_path / "p.yaml", "steps:\n  - {by: dup_keep, strategy: dedup}\n  - {by: junk, strategy: top}\n"
    )
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"select:\n  pipeline: {pipeline}\n  keep: 0.3\n")
    common = ["select", str(data["input"]), "--scores", str(data["scores"]), "--config", str(settings)]
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "k.jsonl")])
    assert result.exit_code == 0, result.output
    assert "kept 30 of 100 examples" in result.output
    settings.write_text("select:\n  by: junk,quality\n  fuse: z-mean\n  strategy: band\n")
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "f.jsonl"), "--print-config"])
    assert result.exit_code == 0, result.output
    assert "by: junk,quality\n" in result.output and "fuse: z-mean\n" in result.output
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "f.jsonl")])
    assert result.exit_code == 0, result.output
    assert "kept 50 of 100 examples (band by z-mean(junk,quality))" in result.output
