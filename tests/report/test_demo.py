import gzip
import json

import numpy as np

from thresher.report.demo import DemoEvaluation, bundled_sample, run_demo
from thresher.store import ScoreStore


def test_bundled_sample_is_real_labelled_wordnet_data():
    with gzip.open(bundled_sample(), "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    assert len(records) == 4000
    assert all(record["text"].strip() and record["label"].count(".") >= 1 for record in records)
    assert len({record["label"] for record in records}) >= 40
    assert len({record["id"] for record in records}) == 4000


def test_demo_scores_selects_evaluates_and_reports(tmp_path, tiny_embedder_dir):
    small = DemoEvaluation(
        keeps=(0.5,), seeds=2, epochs=2, proxy_epochs=2, proxy_seeds=1, embedder=str(tiny_embedder_dir)
    )
    report = run_demo(tmp_path, epochs=0.3, evaluation=small)
    text = report.read_text()
    for section in ("## Reference model", "## Scores", "## Selection", "Most informative", "Least informative"):
        assert section in text
    assert (tmp_path / "score_histograms.png").stat().st_size > 10_000
    store = ScoreStore.open(tmp_path / "scores")
    assert sorted(store.scorer_names) == ["aum", "compression", "likelihood"]
    # The evaluation: its report beside the demo's, linked; one table row per cell with the paired verdicts.
    assert "## Does the selection help?" in text and "](eval/report.html)" in text and "](eval/curves.png)" in text
    assert (tmp_path / "eval" / "report.html").is_file() and (tmp_path / "eval" / "compute.png").is_file()
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert {(run["method"], run["keep"]) for run in results["runs"]} == {
        ("random", 0.5), ("full", 1.0), ("aum", 0.5), ("aum:bottom", 0.5)
    }  # fmt: skip
    for cell in results["summary"]["cells"]:
        row = next(line for line in text.splitlines() if line.startswith(f"| {cell['method']} | {cell['keep']:g} |"))
        assert f"{cell['metrics']['accuracy']['mean']:.3f}" in row
        if "vs_random" in cell:
            assert cell["vs_random"]["verdict"] in row
    # `--strategy top --keep 0.5`: the half with the highest nll_mean, ties to the lower row (a stable sort), written
    # in input order; the other half is the pruned file.
    nll = store.read_columns(["nll_mean"]).column("nll_mean").to_numpy()
    assert len(nll) == 4000 and len(np.unique(nll)) > 2000  # not a selection among ties
    top_half = np.sort(np.argsort(-nll, kind="stable")[:2000])
    with gzip.open(bundled_sample(), "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    kept = [json.loads(line) for line in (tmp_path / "selected.jsonl").read_text().splitlines()]
    pruned = [json.loads(line) for line in (tmp_path / "pruned.jsonl").read_text().splitlines()]
    assert kept == [records[row] for row in top_half]
    assert pruned == [records[row] for row in np.setdiff1d(np.arange(4000), top_half)]
