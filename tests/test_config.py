"""Settings files: sections, option names, params, errors that name the file, and records read back as settings."""

from __future__ import annotations

import json

import pytest

from thresher.components import Assignment
from thresher.config import load_settings, settings_record
from thresher.errors import OptionError

ALLOWED = {"input", "scorer", "out", "text_field", "seed"}


def write(tmp_path, text: str, name: str = "study.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_section_gives_options_by_their_python_names_and_params_as_assignments(tmp_path):
    path = write(
        tmp_path,
        "score:\n  input: d.jsonl\n  text-field: body\n  scorer: [a, b]\n"
        "  params:\n    likelihood.stride: 256\n    lm: {n_layer: 4}\nselect:\n  by: nll_mean\n",
    )
    settings = load_settings(path, "score", ALLOWED)
    assert settings.options == {"input": "d.jsonl", "text_field": "body", "scorer": ["a", "b"]}
    assert [(a.path, a.value) for a in settings.params] == [(("likelihood", "stride"), 256), (("lm", "n_layer"), 4)]
    assert all(isinstance(a, Assignment) and str(path) in a.source for a in settings.params)
    assert load_settings(path, "eval", ALLOWED).options == {}  # a study file may hold only some commands


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("score:\n  bogus: 1\n", "score.bogus: `thresher score` has no such option"),
        ("train:\n  x: 1\n", "unknown section 'train'"),
        ("- a list\n", "expected a mapping with sections score, select, eval"),
        ("score: 3\n", "score: expected a mapping of options"),
        ("score:\n  params: [1]\n", "score.params: expected a mapping"),
        ("score:\n  scorer: [a\n", "not valid YAML"),
    ],
)
def test_bad_files_are_refused_naming_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(OptionError, match=message) as caught:
        load_settings(path, "score", ALLOWED)
    assert str(caught.value).startswith(str(path))


def test_yaml_errors_name_the_line(tmp_path):
    path = write(tmp_path, "score:\n  input: a\n  scorer: [x\n")
    with pytest.raises(OptionError, match=r"study\.yaml:\d+: not valid YAML"):
        load_settings(path, "score", ALLOWED)


def test_a_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(OptionError, match="settings file not found"):
        load_settings(tmp_path / "absent.yaml", "score", ALLOWED)


def test_a_record_is_read_back_through_its_settings_key(tmp_path):
    record = settings_record({"input": tmp_path / "d.jsonl", "scorer": ("a",), "seed": None}, {"a": {"k": 1}})
    assert record == {"input": str(tmp_path / "d.jsonl"), "scorer": ["a"], "params": {"a": {"k": 1}}}
    manifest = write(tmp_path, json.dumps({"format": "x", "settings": {"score": record}}), "manifest.json")
    settings = load_settings(manifest, "score", ALLOWED)
    assert settings.options == {"input": str(tmp_path / "d.jsonl"), "scorer": ["a"]}
    assert [(a.path, a.value) for a in settings.params] == [(("a", "k"), 1)]
