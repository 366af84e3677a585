"""`thresher distill`'s options model: every student parameter through -p and --config, shared flags, listings."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.test_cli_options import dig, flat_params, other_value
from thresher.cli import app
from thresher.distillation.registry import STUDENTS

runner = CliRunner()
STUDENT_PARAMS = [(name, path, spec) for name in STUDENTS.names() for path, spec in flat_params(STUDENTS.get(name))]


def invoke(*args: object):
    return runner.invoke(app, [str(arg) for arg in args])


@pytest.mark.parametrize(
    ("name", "path", "spec"), STUDENT_PARAMS, ids=[f"{n}.{'.'.join(p)}" for n, p, _ in STUDENT_PARAMS]
)
def test_every_student_parameter_reaches_the_student_through_p_and_through_config(tmp_path, name, path, spec):
    value = other_value(spec)
    expected = spec.coerce(value, "test")
    expected = str(expected) if isinstance(expected, Path) else expected
    base = ["distill", tmp_path / "in.jsonl", "--scores", tmp_path / "s", "--by", "nll_mean", "--out", tmp_path / "m",
            "--student", name]  # fmt: skip
    by_flag = invoke(*base, "-p", f"{name}.{'.'.join(path)}={value}", "--print-config")
    assert by_flag.exit_code == 0, by_flag.output
    assert dig(yaml.safe_load(by_flag.output)["distill"]["params"][name], path) == expected

    settings = tmp_path / "study.yaml"
    settings.write_text(yaml.safe_dump({"distill": {"params": {f"{name}.{'.'.join(path)}": value}}}))
    by_file = invoke(*base, "--config", settings, "--print-config")
    assert by_file.exit_code == 0, by_file.output
    assert dig(yaml.safe_load(by_file.output)["distill"]["params"][name], path) == expected


def test_shared_flags_and_the_seed_reach_the_student_that_takes_them(tmp_path):
    base = ["distill", "--positive", tmp_path / "p.jsonl", "--negative", tmp_path / "n.jsonl", "--out", tmp_path / "m"]
    head = invoke(*base, "--student", "head", "--embedder", "my-embedder", "--device", "cpu", "--print-config")
    assert head.exit_code == 0, head.output
    settings = yaml.safe_load(head.output)["distill"]
    assert settings["params"]["head"]["embedder"] == "my-embedder" and settings["params"]["head"]["device"] == "cpu"
    assert "positive_fraction" not in settings  # the file form labels by file
    fasttext = invoke(*base, "--seed", "7", "--print-config")
    assert yaml.safe_load(fasttext.output)["distill"]["params"]["fasttext"]["seed"] == 7


def test_the_listings_show_the_students():
    listing = invoke("students")
    assert listing.exit_code == 0 and "fasttext" in listing.output and "head" in listing.output
    one = invoke("students", "fasttext")
    assert one.exit_code == 0 and "word_ngrams" in one.output
