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
        (["wordnet-supersense", "--label-noise", "0.2", "--noise-mode", "pairs"], "--noise-mode 'pairs'"),
        (["gcide", "--min-chars", "0"], "--min-chars must be at least 1"),
        (["gcide", "--min-chars", "500", "--max-chars", "80"], "more than --max-chars 80"),
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
    argv = ["gcide", "--out", str(out), "--limit", "5", "--seed", "3", "--inject", "dup=0.5", "--max-chars", "2000"]
    assert script.main(argv) == 0
    options = {"limit": 5, "seed": 3, "label_noise": 0.0, "noise_mode": "uniform", "inject": {"dup": 0.5}}
    options.update(min_chars=None, max_chars=2000)
    assert calls == [("gcide", options)]
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [record["injected"] for record in written] == [None, "dup"]


def test_length_bounds_are_inclusive_and_optional():
    from thresher.data.corpora.build import within_length

    assert [within_length("x" * n, 80, 2000) for n in (79, 80, 2000, 2001)] == [False, True, True, False]
    assert within_length("x", None, None) and within_length("x" * 5000, 80, None) and not within_length("", 1, None)
