"""The target registry: every target follows the component contract, and `--task` dispatches only through it."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from thresher.cli import app
from thresher.components import describe_params
from thresher.eval.registry import TARGETS
from thresher.eval.target import BUDGETS, LABELS, RESPONSES, EvalTarget, Metric


@pytest.mark.parametrize("name", TARGETS.names())
def test_every_target_declares_its_metrics_reads_budgets_and_documented_parameters(name):
    cls = TARGETS.get(name)
    assert cls.kind == "target" and cls.name == name and cls.summary()
    directions = cls.higher_is_better()
    assert cls.primary_metric in directions and all(isinstance(up, bool) for up in directions.values())
    assert "epochs" in cls.budgets and set(cls.budgets) <= set(BUDGETS)
    assert cls.reads in (None, LABELS, RESPONSES)
    rows = describe_params(cls)
    assert rows and [row.name for row in rows if not row.help] == []
    default = cls()
    assert pickle.loads(pickle.dumps(default)).get_params() == default.get_params()
    assert json.loads(json.dumps(default.params_record())) == default.params_record()


def test_the_builtin_targets_and_their_parameter_lists():
    assert TARGETS.names() == ["classify", "lm", "sft"]
    params = {name: set(TARGETS.get(name).param_names()) for name in TARGETS.names()}
    classify = {"embedder", "device", "epochs", "batch_size", "learning_rate", "hidden", "dropout", "checkpoints"}
    assert classify == params["classify"]
    assert all("checkpoints" in params[name] for name in TARGETS.names())
    assert {"vocab_size", "n_layer", "n_head", "n_embd", "context_length", "batch_size", "epochs"} <= params["lm"]
    assert {"model", "lora_target", "lora_rank", "lora_layers", "epochs", "min_steps", "max_length"} <= params["sft"]
    assert TARGETS.get("lm").budgets == ("epochs", "tokens") and TARGETS.get("classify").budgets == ("epochs",)


class ThrowawayTarget(EvalTarget):
    """Scores each run by how many rows it kept, plus an offset: no model at all.

    Parameters
    ----------
    offset:
        Added to every run's score.
    """

    name = "throwaway"
    metrics: ClassVar[tuple[Metric, ...]] = (Metric("kept_plus_offset", True),)
    primary_metric = "kept_plus_offset"

    def __init__(self, *, offset: float = 0.0) -> None:
        self.offset = offset

    def prepare(self, data: Any, *, budget: str, cache_dir: Path | None) -> PreparedThrowaway:
        return PreparedThrowaway(len(data.train.texts), self.offset)


class PreparedThrowaway:
    primary_metric = "kept_plus_offset"

    def __init__(self, n_train: int, offset: float) -> None:
        self.n_train, self.offset = n_train, offset

    def train_and_evaluate(self, rows: np.ndarray, seed: int) -> dict[str, float]:
        return {"kept_plus_offset": len(rows) + self.offset}

    def evaluate_at_init(self, seed: int) -> dict[str, float]:
        return {"kept_plus_offset": self.offset}

    def describe(self) -> dict[str, Any]:
        return {"n_train": self.n_train}


@pytest.fixture
def throwaway_target():
    TARGETS.register("throwaway", ThrowawayTarget)
    try:
        yield
    finally:
        TARGETS.unregister("throwaway")


def test_a_registered_target_runs_through_thresher_eval(tmp_path, corpus_jsonl, throwaway_target):
    command = ["eval", str(corpus_jsonl), "--task", "throwaway", "--methods", "random,full", "--keep", "0.5"]
    options = ["--seeds", "2", "--full-seeds", "1", "--eval-split", "0.25", "--quiet"]
    result = CliRunner().invoke(app, [*command, *options, "-p", "offset=0.5", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    n_train = saved["config"]["train_examples"]
    assert n_train + saved["config"]["eval_examples"] == 24
    assert [(run["method"], run["seed"], run["kept"]) for run in saved["runs"]] == [
        ("random", 0, round(0.5 * n_train)),
        ("random", 1, round(0.5 * n_train)),
        ("full", 0, n_train),
    ]
    assert all(run["metrics"] == {"kept_plus_offset": run["kept"] + 0.5} for run in saved["runs"])
    assert saved["params"] == {"throwaway": {"offset": 0.5}, "random": {}}
    assert (
        saved["config"]["target"] == {"n_train": n_train} and saved["config"]["primary_metric"] == "kept_plus_offset"
    )
    assert saved["higher_is_better"] == {"kept_plus_offset": True} and saved["reference"] == {"kept_plus_offset": 0.5}
    page = (tmp_path / "r" / "report.html").read_text()
    # The report reads the direction and the primary metric from the target: the best (only) method is random.
    assert "By mean kept_plus_offset (higher is better)" in page
    assert f'<td class="name">random</td><td>{round(0.5 * n_train) + 0.5:.4f}</td>' in page

    # The throwaway target reads no labels, and takes no embedder: both say which target would.
    labels = CliRunner().invoke(app, [*command, *options, "--label-field", "label", "--out", str(tmp_path / "l")])
    assert labels.exit_code == 2 and "it applies to target classify" in labels.output
    embedder = CliRunner().invoke(app, [*command, *options, "--embedder", "e", "--out", str(tmp_path / "e")])
    assert embedder.exit_code == 2 and "it applies to target classify" in embedder.output


def test_an_unregistered_target_is_gone(tmp_path, corpus_jsonl):
    assert "throwaway" not in TARGETS
    result = CliRunner().invoke(app, ["eval", str(corpus_jsonl), "--task", "throwaway", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "unknown --task 'throwaway'" in result.output
