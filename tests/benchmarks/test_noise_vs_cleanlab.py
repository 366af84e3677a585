"""benchmarks/noise_vs_cleanlab.py --smoke: every method runs and the figures it reports are the right ones."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "noise_vs_cleanlab.py"


@pytest.fixture(scope="module")
def benchmark():
    spec = importlib.util.spec_from_file_location("noise_vs_cleanlab", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_reports_every_method(benchmark, tiny_embedder_dir, tmp_path):
    out = tmp_path / "results"
    argv = ["--smoke", "--rows", "150", "--embedder", str(tiny_embedder_dir), "--results-dir", str(out)]
    result = benchmark.main([*argv, "--workdir", str(tmp_path / "work")])
    written = json.loads((out / "noise_vs_cleanlab.json").read_text())
    assert written["conditions"].keys() == result["conditions"].keys() == {"uniform 20 %"}
    condition = written["conditions"]["uniform 20 %"]
    methods = condition["methods"]
    expected = {"el2n", "aum", "aum_mislabeled", "confidence", "forgetting", "correctness", "oof_confidence (logreg)"}
    expected |= {"oof_confidence (mlp)", "cleanlab (logreg)", "cleanlab (mlp)", "cleanlab (logreg, standardised)"}
    assert expected <= methods.keys()
    assert condition["flipped"] == round(0.2 * written["rows"])
    for row in methods.values():
        assert 0.0 <= row["roc_auc"] <= 1.0 and 0.0 <= row["precision"] <= 1.0 and 0.0 <= row["recall"] <= 1.0
    # Scores without a flag of their own are flagged at cleanlab (logreg)'s count.
    assert methods["el2n"]["flagged"] == methods["cleanlab (logreg)"]["flagged"]
    assert {k: len(v) for k, v in condition["el2n_roc_auc_by_epoch"].items()} == {"3": 4, "6": 7}
    assert "el2n (6 epochs)" in methods and "aum (6 epochs)" in methods
    # EL2N at fraction 0.5 of the runs: epoch 2 of 3 (halves round up) and epoch 3 of 6.
    halfway = written["el2n_by_fraction"]["0.5"]
    curves = condition["el2n_roc_auc_by_epoch"]
    assert halfway["cells"] == [curves["3"][2], curves["6"][3]]
    means = {float(f): row["mean"] for f, row in written["el2n_by_fraction"].items()}
    assert written["el2n_best_fraction"] == max(means, key=means.get)
    assert "| uniform 20 % |" in (out / "noise_vs_cleanlab.md").read_text()


def test_roc_auc_and_flag_metrics_against_direct_counts(benchmark):
    importance = np.array([0.9, 0.8, 0.1, 0.4, 0.3])
    flipped = np.array([True, False, False, True, False])
    # Pairs (flipped, clean) ordered right: (0.9 > 0.8, 0.1, 0.3) and (0.4 > 0.1, 0.3): 5 of 6.
    assert benchmark.roc_auc(importance, flipped) == pytest.approx(5 / 6)
    flagged = benchmark.top_k(importance, 2)
    assert flagged.tolist() == [True, True, False, False, False]
    assert benchmark.flag_metrics(flagged, flipped) == {"flagged": 2, "precision": 0.5, "recall": 0.5}
