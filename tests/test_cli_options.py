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
from thresher.scorers.base import Scorer
from thresher.scorers.registry import SCORERS
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


def other_value(spec: ParamSpec) -> str:
    """A valid command-line value different from the parameter's default."""
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


def required_flags(cls: type, setting: tuple[str, ...]) -> list[str]:
    """Flags that give the component's required parameters (a model) other than the one being set."""
    required = [path for path, spec in flat_params(cls) if spec.required and path != setting]
    return ["--model", "some-model"] if required else []


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
        *base, *required_flags(SCORERS.get(name), path), "-p", f"{name}.{'.'.join(path)}={value}", "--print-config"
    )
    assert by_flag.exit_code == 0, by_flag.output
    assert dig(printed_params(by_flag.output, "score", name), path) == expected

    settings = tmp_path / "study.yaml"
    settings.write_text(yaml.safe_dump({"score": {"params": {f"{name}.{'.'.join(path)}": value}}}))
    by_file = invoke(*base, *required_flags(SCORERS.get(name), path), "--config", settings, "--print-config")
    assert by_file.exit_code == 0, by_file.output
    assert dig(printed_params(by_file.output, "score", name), path) == expected


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
