"""The evaluation report: results.json, curves.png and a self-contained report.html."""

from __future__ import annotations

import base64
import json
import re

from thresher.eval.report import best_methods, summarize, write_report
from thresher.eval.results import EvalResult, RunResult


def fake_result(out) -> EvalResult:
    runs = []
    for seed in (0, 1):
        runs.append(RunResult("full", 1.0, seed, 100, {"accuracy": 0.90 + 0.01 * seed, "macro_f1": 0.9}, 0.1))
        for keep in (0.1, 0.5):
            runs.append(
                RunResult("random", keep, seed, int(100 * keep), {"accuracy": 0.6 + keep / 2, "macro_f1": 0.5}, 0.1)
            )
            runs.append(
                RunResult(
                    "nll_mean", keep, seed, int(100 * keep), {"accuracy": 0.7 + 0.01 * seed, "macro_f1": 0.6}, 0.1
                )
            )
    config = {"task": "classify", "input": "data.jsonl", "primary_metric": "accuracy", "train_examples": 100}
    return EvalResult(config=config, runs=runs, out=out, higher_is_better={"accuracy": True, "macro_f1": True})


def test_summaries_and_best_method_per_ratio(tmp_path):
    result = fake_result(tmp_path)
    summary = summarize(result.runs, "accuracy")
    mean, spread, count = summary["nll_mean"][0.1]
    assert abs(mean - 0.705) < 1e-12 and abs(spread - 0.005) < 1e-12 and count == 2
    best = best_methods(result.runs, "accuracy", higher=True)
    assert best[0.1][0] == "nll_mean" and best[0.5][0] == "random"  # 0.85 beats 0.705
    assert 1.0 not in best  # full data is the reference, not a contender


def test_outputs_exist_and_the_page_embeds_table_and_image(tmp_path):
    paths = write_report(fake_result(tmp_path / "report"))
    assert set(paths) == {"results", "curves", "report"}
    payload = json.loads(paths["results"].read_text())
    assert len(payload["runs"]) == 10 and payload["config"]["task"] == "classify"
    png = paths["curves"].read_bytes()
    assert png.startswith(b"\x89PNG")
    page = paths["report"].read_text()
    assert '<table id="results">' in page and '<table id="best">' in page and "nll_mean" in page
    embedded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert embedded is not None and base64.b64decode(embedded.group(1)) == png
    assert not list((tmp_path / "report").glob(".*partial"))  # no staging files left
