"""`--methods pipeline:FILE`: a pipeline file as one eval method, its last step sized by each keep ratio, each run's
step counts in results.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.eval.test_harness import labelled, write_label_column  # noqa: F401 - the fixture is used by name
from thresher.api import evaluate
from thresher.errors import OptionError
from thresher.eval.choose import choose_runs
from thresher.eval.data import TrainingColumn
from thresher.eval.plan import PlannedRun, parse_method, parse_methods
from thresher.store import ColumnInfo
from thresher.types import ColumnKind, Direction

PIPELINE = """
steps:
  - {by: b_keep, strategy: dedup}
  - {by: is_b, strategy: softmax, params: {temperature: 2.0}}
"""


def test_a_pipeline_method_runs_its_steps_and_records_their_counts(labelled, tmp_path, tiny_embedder_dir):  # noqa: F811
    write_label_column(labelled, tmp_path / "scores")
    pipeline = tmp_path / "d4.yaml"
    pipeline.write_text(PIPELINE)
    result = evaluate(
        labelled,
        task="classify",
        out=tmp_path / "report",
        methods=f"random,pipeline:{pipeline}",
        keep="0.1,0.2",
        seeds=1,
        scores=tmp_path / "scores",
        eval_split=0.25,
        label_field="label",
        embedder=str(tiny_embedder_dir),
        params={"epochs": 1},
    )
    n_train = result.config["train_examples"]
    flagged = sum(1 for label in result_labels(labelled, result) if label == "b")
    runs = [run for run in result.runs if run.method == f"pipeline:{pipeline}"]
    assert [run.keep for run in runs] == [0.1, 0.2]
    for run in runs:
        kept = round(run.keep * n_train)
        assert run.kept == kept
        assert run.steps == [
            {
                "step": 1,
                "strategy": "dedup",
                "by": "b_keep",
                "received": n_train,
                "kept": flagged,
                "dropped": n_train - flagged,
            },
            {
                "step": 2,
                "strategy": "softmax",
                "by": "is_b",
                "received": flagged,
                "kept": kept,
                "dropped": flagged - kept,
            },
        ]
    recorded = json.loads((tmp_path / "report" / "results.json").read_text())
    assert [run["steps"] for run in recorded["runs"] if run["method"].startswith("pipeline:")] == [
        run.steps for run in runs
    ]
    assert all(run["steps"] is None for run in recorded["runs"] if run["method"] == "random")


def result_labels(data, result):
    """The labels of the training rows, in order (the held-out split is by a seeded hash of the ids)."""
    from thresher.data.fields import Fields
    from thresher.data.readers import open_dataset
    from thresher.eval.data import read_split

    dataset = open_dataset(data, Fields(label="label"))
    split = read_split(dataset, Fields(label="label"), 0.25, None, result.config["seed"])
    return split.train.labels


def test_a_ratio_the_pipeline_cannot_reach_fails_before_training(labelled, tmp_path, tiny_embedder_dir):  # noqa: F811
    write_label_column(labelled, tmp_path / "scores")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    with pytest.raises(OptionError, match=r"--methods pipeline:.*p.yaml at --keep 0.5: .*p.yaml: step 2: the command"):
        evaluate(
            labelled,
            task="classify",
            out=tmp_path / "report",
            methods=f"pipeline:{pipeline}",
            keep="0.5",  # dedup leaves a third of the rows
            seeds=1,
            scores=tmp_path / "scores",
            label_field="label",
            embedder=str(tiny_embedder_dir),
        )
    assert not (tmp_path / "report").exists()


def test_pipeline_methods_are_parsed_and_checked_against_the_columns(tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    infos = {
        "is_b": ColumnInfo("is_b", "oracle", Direction.HIGHER, "", ColumnKind.SCORE),
        "b_keep": ColumnInfo("b_keep", "oracle", None, "", ColumnKind.FLAG),
    }
    (method,) = parse_methods(f"pipeline:{pipeline}", infos)
    assert method.is_pipeline and method.columns == ("b_keep", "is_b")
    with pytest.raises(OptionError, match=r"--methods pipeline:.*: .*p.yaml: step 2: no score column 'is_b'"):
        parse_methods(f"pipeline:{pipeline}", {"b_keep": infos["b_keep"]})
    with pytest.raises(OptionError, match="only a strategy can be balanced"):
        parse_method(f"pipeline:{pipeline}:balanced")
    with pytest.raises(OptionError, match="missing.yaml: no such pipeline file"):
        parse_method(f"pipeline:{tmp_path / 'missing.yaml'}")

    # choose_runs runs the steps over the training rows: the same counts as a direct computation.
    flags = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    columns = {"b_keep": TrainingColumn(flags, None), "is_b": TrainingColumn(np.arange(8.0), Direction.HIGHER)}
    (choice,) = choose_runs([PlannedRun(method, 0.25, 3)], columns, [f"t{i}" for i in range(8)], {})
    assert choice.rows.size == 2 and set(choice.rows) <= set(np.flatnonzero(flags))
    assert [(step["received"], step["kept"]) for step in choice.steps] == [(8, 6), (6, 2)]


def test_print_config_of_an_eval_with_a_pipeline_method(tmp_path):
    from typer.testing import CliRunner

    from thresher.cli import app

    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    args = ["eval", "in.jsonl", "--task", "lm", "--methods", f"random,pipeline:{pipeline}", "--out", "r"]
    result = CliRunner().invoke(app, [*args, "--print-config"])
    assert result.exit_code == 0, result.output
    assert f"pipeline:{pipeline}" in result.output
    pipeline.write_text("steps:\n  - {by: is_b, strategy: sofmax}\n")
    result = CliRunner().invoke(app, [*args, "--print-config"])
    assert result.exit_code == 2 and "step 1: unknown strategy 'sofmax'" in result.output
