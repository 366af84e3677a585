"""The options model through the CLI: every registered parameter settable by -p and by --config, recorded as set.

Each parameter of each registered component gets a non-default value, set once with `-p` and once in a settings
file; `--print-config` shows what the component was built with (the same record the manifest keeps), without
loading any model. A throwaway scorer registered in the test runs end to end, proving that a new component needs
no CLI change.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from thresher.cli import app
from thresher.components import ParamSpec, _union_members
from thresher.eval.registry import TARGETS
from thresher.scorers.base import Scorer
from thresher.scorers.registry import SCORERS
from thresher.selection.registry import STRATEGIES
from thresher.types import Direction, ScoreColumn

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


def flat_params(cls: type, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], ParamSpec]]:
    rows = []
    for spec in cls.params():
        if spec.nested is not None:
            rows.extend(flat_params(spec.nested, (*prefix, spec.name)))
        else:
            rows.append(((*prefix, spec.name), spec))
    return rows


# Parameters whose values depend on others' (a width divisible by the heads, a floor below the peak rate).
VALID_VALUES = {"n_head": "4", "n_embd": "96", "min_learning_rate": "0.0001"}


def other_value(spec: ParamSpec) -> str:
    """A valid command-line value different from the parameter's default."""
    if spec.name in VALID_VALUES:
        return VALID_VALUES[spec.name]
    members = [member for member in _union_members(spec.annotation) if member is not type(None)]
    kind = members[0]
    if typing.get_origin(kind) is Literal:
        return str(next(choice for choice in typing.get_args(kind) if choice != spec.default))
    if kind is bool:
        return "false" if spec.default is True else "true"
    if kind is int:
        return str((spec.default if isinstance(spec.default, int) else 2) + 3)
    if kind is float:
        return str((spec.default if isinstance(spec.default, float) else 0.5) * 2 + 0.25)
    if kind is Path:
        return f"some/{spec.name}.txt"
    return f"x-{spec.name}"


def required_flags(cls: type, setting: tuple[str, ...], label: str = "") -> list[str]:
    """Flags that give the component's required parameters other than the one being set: `--model` for a model,
    `-p label.param=...` for the others (a DSIR target file)."""
    flags: list[str] = []
    for path, spec in flat_params(cls):
        if spec.required and path != setting:
            dotted = ".".join(path)
            flags += (
                ["--model", "some-model"] if path[-1] == "model" else ["-p", f"{label}.{dotted}={other_value(spec)}"]
            )
    return flags


def printed_params(output: str, command: str, label: str) -> dict[str, Any]:
    return yaml.safe_load(output)[command]["params"][label]


def dig(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        record = record[key]
    return record


SCORER_PARAMS = [(name, path, spec) for name in SCORERS.names() for path, spec in flat_params(SCORERS.get(name))]


@pytest.mark.parametrize(
    ("name", "path", "spec"), SCORER_PARAMS, ids=[f"{n}.{'.'.join(p)}" for n, p, _ in SCORER_PARAMS]
)
def test_every_scorer_parameter_reaches_the_scorer_through_p_and_through_config(tmp_path, name, path, spec):
    value = other_value(spec)
    expected = spec.coerce(value, "test")
    expected = str(expected) if isinstance(expected, Path) else expected
    base = ["score", tmp_path / "in.jsonl", "--scorer", name, "--out", tmp_path / "s", "--label-field", "label"]
    by_flag = invoke(
        *base,
        *required_flags(SCORERS.get(name), path, name),
        "-p",
        f"{name}.{'.'.join(path)}={value}",
        "--print-config",
    )
    assert by_flag.exit_code == 0, by_flag.output
    assert dig(printed_params(by_flag.output, "score", name), path) == expected

    settings = tmp_path / "study.yaml"
    settings.write_text(yaml.safe_dump({"score": {"params": {f"{name}.{'.'.join(path)}": value}}}))
    by_file = invoke(*base, *required_flags(SCORERS.get(name), path, name), "--config", settings, "--print-config")
    assert by_file.exit_code == 0, by_file.output
    assert dig(printed_params(by_file.output, "score", name), path) == expected


# select: one strategy, its parameters under its name; eval: the target under the task, strategies under theirs.
STRATEGY_PARAMS = [
    (name, path, spec) for name in STRATEGIES.names() for path, spec in flat_params(STRATEGIES.get(name))
]
TARGET_PARAMS = [(name, path, spec) for name in TARGETS.names() for path, spec in flat_params(TARGETS.get(name))]


def command_for(kind: str, name: str, tmp_path: Path) -> list[object]:
    if kind == "select":
        return ["select", tmp_path / "in.jsonl", "--scores", tmp_path / "s", "--out", tmp_path / "k.jsonl",
                "--strategy", name, "--keep", "0.5"]  # fmt: skip
    reads = getattr(TARGETS.get(name), "reads", None)
    fields = {"labels": ["--label-field", "label"], "responses": ["--response-field", "response"]}.get(reads, [])
    return ["eval", tmp_path / "in.jsonl", "--task", name, "--out", tmp_path / "r", "--methods", "random", *fields]


@pytest.mark.parametrize(
    ("kind", "name", "path", "spec"),
    [("select", *row) for row in STRATEGY_PARAMS] + [("eval", *row) for row in TARGET_PARAMS],
    ids=[f"strategy-{n}.{'.'.join(p)}" for n, p, _ in STRATEGY_PARAMS]
    + [f"target-{n}.{'.'.join(p)}" for n, p, _ in TARGET_PARAMS],
)
def test_every_strategy_and_target_parameter_reaches_it_through_p_and_through_config(tmp_path, kind, name, path, spec):
    value = other_value(spec)
    expected = spec.coerce(value, "test")
    expected = str(expected) if isinstance(expected, Path) else expected
    cls = STRATEGIES.get(name) if kind == "select" else TARGETS.get(name)
    label = cls.name if kind == "eval" else name
    base = [*command_for(kind, name, tmp_path), *required_flags(cls, path, label)]
    by_flag = invoke(*base, "-p", f"{label}.{'.'.join(path)}={value}", "--print-config")
    assert by_flag.exit_code == 0, by_flag.output
    assert dig(printed_params(by_flag.output, kind, label), path) == expected

    settings = tmp_path / "study.yaml"
    settings.write_text(yaml.safe_dump({kind: {"params": {f"{label}.{'.'.join(path)}": value}}}))
    by_file = invoke(*base, "--config", settings, "--print-config")
    assert by_file.exit_code == 0, by_file.output
    assert dig(printed_params(by_file.output, kind, label), path) == expected


def test_flags_override_the_settings_file_and_the_manifest_records_what_ran(tmp_path, corpus_jsonl):
    settings = tmp_path / "study.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "score": {
                    "input": str(corpus_jsonl),
                    "scorer": ["compression"],
                    "out": str(tmp_path / "from-file"),
                    "params": {"compression": {"zlib_level": 3, "zstd_level": 5}},
                }
            }
        )
    )
    out = tmp_path / "scores"
    result = invoke("score", "--config", settings, "--out", out, "-p", "zstd_level=7", "--quiet")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "from-file").exists()  # --out on the command line wins
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scorers"]["compression"]["params"] == {"zlib_level": 3, "zstd_level": 7, "lzma_preset": 6}
    recorded = manifest["settings"]["score"]
    assert recorded["params"]["compression"] == {"zlib_level": 3, "zstd_level": 7, "lzma_preset": 6}
    assert recorded["input"] == str(corpus_jsonl) and recorded["scorer"] == ["compression"]

    # The manifest is a settings file: the same run again, elsewhere, gives the same scores.
    again = tmp_path / "again"
    rerun = invoke("score", "--config", out / "manifest.json", "--out", again, "--quiet")
    assert rerun.exit_code == 0, rerun.output
    again_manifest = json.loads((again / "manifest.json").read_text())
    assert again_manifest["scorers"]["compression"]["fingerprint"] == manifest["scorers"]["compression"]["fingerprint"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "m"], "--model: none of the chosen components (compression) takes 'model'"),
        (["-p", "stride=3"], "it applies to scorer likelihood"),
        (["-p", "likelihood.stride=3"], "likelihood is not one of the chosen components (compression)"),
        (["-p", "compression.level=3"], "scorer compression has no parameter 'level'"),
        (["-p", "zlib_level=fast"], "zlib_level: expected an integer, got 'fast'"),
        (["-p", "novalue"], "expected NAME=VALUE"),
    ],
)
def test_parameter_mistakes_are_one_line_errors(tmp_path, corpus_jsonl, args, message):
    result = invoke("score", corpus_jsonl, "--scorer", "compression", "--out", tmp_path / "s", *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_a_command_without_its_input_says_so(tmp_path):
    result = invoke("score", "--scorer", "compression", "--out", tmp_path / "s")
    assert result.exit_code == 2 and "`thresher score` needs INPUT" in result.output


def test_score_help_fits_a_screen():
    result = runner.invoke(app, ["score", "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) <= 60 and max(len(line) for line in lines) <= 80


class LengthScorer(Scorer):
    """Characters per example, times a factor (a test-only scorer).

    Parameters
    ----------
    factor:
        What the length is multiplied by.
    """

    name = "test-length"
    columns: ClassVar = (ScoreColumn("test_length", Direction.HIGHER, "characters times factor"),)

    def __init__(self, *, factor: float = 1.0) -> None:
        self.factor = factor

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        lengths = np.array([len(text) for text in batch.column("text").to_pylist()], dtype=np.float64)
        return {"test_length": lengths * self.factor}


@pytest.fixture
def length_scorer():
    SCORERS.register(LengthScorer.name, LengthScorer)
    yield LengthScorer
    SCORERS.unregister(LengthScorer.name)


def test_a_registered_scorer_is_listed_described_and_run_with_its_parameters(tmp_path, corpus_jsonl, length_scorer):
    listing = invoke("scorers")
    assert listing.exit_code == 0 and "test-length" in listing.output
    described = invoke("scorers", "test-length")
    assert described.exit_code == 0 and "What the length is multiplied by." in described.output
    out = tmp_path / "scores"
    result = invoke("score", corpus_jsonl, "--scorer", "test-length", "--out", out, "-p", "factor=2.5", "--quiet")
    assert result.exit_code == 0, result.output
    from thresher.store import ScoreStore

    values = ScoreStore.open(out).read_columns(["test_length"]).column("test_length").to_pylist()
    texts = [json.loads(line)["text"] for line in corpus_jsonl.read_text().splitlines()]
    assert values == [2.5 * len(text) for text in texts]


LISTED = [("scorers", SCORERS), ("strategies", STRATEGIES), ("targets", TARGETS)]


@pytest.mark.parametrize(("kind", "registry"), LISTED, ids=[kind for kind, _ in LISTED])
def test_every_component_is_listed_and_described_with_its_parameters(kind, registry):
    listing = runner.invoke(app, [kind], terminal_width=200)
    assert listing.exit_code == 0, listing.output
    for name in registry.names():
        assert name in listing.output
        described = runner.invoke(app, [kind, name], terminal_width=200)
        assert described.exit_code == 0, described.output
        for path, _ in flat_params(registry.get(name)):
            assert ".".join(path) in described.output, (name, path)
    unknown = runner.invoke(app, [kind, "no-such-one"])
    assert unknown.exit_code == 2 and "unknown" in unknown.output
