"""scripts/build_corpus.py: bad options give one line on stderr and exit code 2, before anything is installed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "build_corpus.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("build_corpus_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gcide", "--label-noise", "0.1"], "labelled corpora"),
        (["wordnet-supersense", "--label-noise", "1.5"], "between 0 and 1"),
        (["gcide", "--inject", "dup=oops"], "not a number"),
        (["gcide", "--limit", "0"], "at least 1"),
    ],
)
def test_bad_options_exit_2_with_one_line(script, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setattr(script, "ensure_debian_package", lambda corpus: pytest.fail("must not install"))
    out = tmp_path / "out.jsonl"
    assert script.main([*argv, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and message in error and "\n" not in error
    assert not out.exists()


def test_passes_options_through_and_writes_jsonl(script, tmp_path, monkeypatch):
    calls = []

    def fake_build(name, **options):
        calls.append((name, options))
        return [{"id": "a", "text": "x", "injected": None}, {"id": "a-dup0", "text": "x", "injected": "dup"}]

    monkeypatch.setattr(script, "ensure_debian_package", lambda corpus: None)
    monkeypatch.setattr(script, "build_corpus", fake_build)
    out = tmp_path / "out.jsonl"
    assert script.main(["gcide", "--out", str(out), "--limit", "5", "--seed", "3", "--inject", "dup=0.5"]) == 0
    assert calls == [("gcide", {"limit": 5, "seed": 3, "label_noise": 0.0, "inject": {"dup": 0.5}})]
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [record["injected"] for record in written] == [None, "dup"]
