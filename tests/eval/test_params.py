"""Eval parameters: `-p` and the shared flags reach the chosen components, or fail saying where they apply."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import SENTENCES, write_jsonl
from thresher.cli import app
from thresher.components import parse_assignment
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.eval.data import Examples, split_by_id
from thresher.eval.lm import LmTarget, PreparedLm
from thresher.eval.params import resolve_eval_params

TINY_LM = {"vocab_size": 300, "min_frequency": 1, "n_layer": 1, "n_embd": 32, "context_length": 32, "batch_size": 8}


def layer(*texts: str) -> list:
    return [parse_assignment(text) for text in texts]


def invoke(*args) -> object:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def test_a_bare_name_goes_to_every_chosen_component_that_takes_it():
    target, strategies = resolve_eval_params("lm", ["random"], [layer("epochs=5")], {})
    assert target == {"epochs": 5.0} and strategies == {"random": {}}
    methods = ["random", "nll:stratified", "ppl:ccs", "ppl:top"]
    target, strategies = resolve_eval_params("lm", methods, [layer("strata=20", "stratified.drop_hardest=0.1")], {})
    assert target == {}
    assert strategies == {
        "random": {},
        "stratified": {"strata": 20, "drop_hardest": 0.1},
        "ccs": {"strata": 20},
        "top": {},
    }
    # A targeted setting beats a bare one of the same layer; a later layer (the command line) beats an earlier one.
    _, strategies = resolve_eval_params("lm", methods, [layer("strata=20", "ccs.strata=5")], {})
    assert strategies["stratified"]["strata"] == 20 and strategies["ccs"]["strata"] == 5
    target, _ = resolve_eval_params("lm", ["random"], [layer("lm.epochs=3"), layer("epochs=4")], {})
    assert target == {"epochs": 4.0}


def test_parameters_and_flags_no_chosen_component_takes_name_where_they_apply():
    with pytest.raises(OptionError, match=r"-p lora_rank=4: none of the chosen .* \(it applies to target sft\)"):
        resolve_eval_params("lm", ["random"], [layer("lora_rank=4")], {})
    with pytest.raises(OptionError, match=r"--model m: none of the chosen .* \(it applies to target sft\)"):
        resolve_eval_params("lm", ["random"], [[]], {"model": "m"})
    with pytest.raises(OptionError, match=r"--embedder e: .*it applies to target classify"):
        resolve_eval_params("sft", ["random"], [[]], {"embedder": "e"})
    with pytest.raises(OptionError, match=r"'strata' \(it applies to strategy ccs, strategy stratified\)"):
        resolve_eval_params("classify", ["random", "nll:top"], [layer("strata=5")], {})
    with pytest.raises(OptionError, match="both set sft.model"):
        resolve_eval_params("sft", ["random"], [layer("model=a")], {"model": "b"})
    with pytest.raises(OptionError, match="strategy dsir needs target"):
        resolve_eval_params("lm", ["dsir"], [[]], {})
    # The flags' values are the parameters of the same name, with one meaning in every target.
    target, _ = resolve_eval_params("sft", ["random"], [[]], {"model": "m", "device": "cpu", "embedder": None})
    assert target == {"model": "m", "device": "cpu"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--task", "lm", "-p", "lora_rank=4"], "it applies to target sft"),
        (["--task", "lm", "--model", "x"], "--model: none of the chosen components (lm, random) takes 'model'"),
        (["--task", "lm", "--label-field", "label"], "target lm does not read labels (it applies to target classify)"),
        (["--task", "classify", "--label-field", "label", "--response-field", "r"], "it applies to target sft"),
        (["--task", "lm", "-p", "strata=5"], "it applies to strategy ccs, strategy stratified"),
        (["--task", "lm", "-p", "sft.lora_rank=4"], "sft is not one of the chosen components (lm, random)"),
        (["--task", "lm", "-p", "n_layer"], "expected NAME=VALUE"),
        (["--task", "lm", "-p", "n_layer=two"], "n_layer: expected an integer, got 'two'"),
        (["--task", "classify", "--label-field", "label", "--budget", "tokens"], "target classify does not support"),
        (["--task", "magic"], "unknown --task 'magic'; choose one of classify, lm, sft"),
    ],
)
def test_cli_parameter_mistakes_exit_2_with_one_line(tmp_path, corpus_jsonl, arguments, message):
    result = invoke("eval", corpus_jsonl, *arguments, "--methods", "random,full", "--out", tmp_path / "r", "--quiet")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert message in result.output
    assert not (tmp_path / "r").exists()


def test_target_parameters_from_the_command_line_reach_the_target_and_results_json(tmp_path):
    rng = random.Random(1)
    words = " ".join(SENTENCES).split()
    texts = [" ".join(rng.choices(words, k=12)) for _ in range(60)]
    data = write_jsonl(tmp_path / "lm.jsonl", [{"text": text} for text in texts])
    settings = [item for name, value in TINY_LM.items() for item in ("-p", f"{name}={value}")]
    result = invoke(
        "eval", data, "--task", "lm", *settings, "-p", "lm.max_steps=3", "-p", "epochs=1", "--device", "cpu",
        "--methods", "random,full", "--keep", "0.5", "--seeds", "1", "--eval-split", "0.25", "--seed", "2",
        "--out", tmp_path / "r", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    recorded = saved["params"]["lm"]
    assert {name: recorded[name] for name in TINY_LM} == TINY_LM
    assert recorded["max_steps"] == 3 and recorded["epochs"] == 1.0 and recorded["device"] == "cpu"
    assert recorded["n_head"] == LmTarget().n_head  # untouched parameters keep their defaults, recorded too
    assert saved["params"]["random"] == {} and saved["config"]["target"]["full_data_steps"] == 3
    assert [run["metrics"]["train_steps"] for run in saved["runs"]] == [3.0, 3.0]
    # The full-data run equals one trained directly with the same settings on the same split and seed.
    examples = Examples.read(open_dataset(data, Fields()))
    train_rows, eval_rows = split_by_id(examples.ids, 0.25, seed=2)
    direct = PreparedLm(
        [examples.texts[row] for row in train_rows],
        [examples.texts[row] for row in eval_rows],
        LmTarget(**TINY_LM, max_steps=3, epochs=1.0).reference_config(),
    ).train_and_evaluate(np.arange(len(train_rows)), seed=2)
    full = next(run for run in saved["runs"] if run["method"] == "full")
    assert full["metrics"] == direct.metrics


def test_params_come_as_a_mapping_one_layer_or_layers():
    from thresher.components import Assignment
    from thresher.eval.params import param_layers

    assert param_layers(None) == [[]]
    (mapping,) = param_layers({"lm.n_layer": 1, "stratified": {"strata": 20}})
    assert [(item.path, item.value) for item in mapping] == [(("lm", "n_layer"), 1), (("stratified", "strata"), 20)]
    one = [Assignment(("epochs",), "2", "-p epochs=2")]
    assert param_layers(one) == [one]
    assert param_layers([[], one]) == [[], one]
