"""results.json's summary on scripted runs: intervals, paired verdicts, compute to full data's metric, classes."""

from __future__ import annotations

import pytest
from scipy import stats

from thresher.eval.results import EvalResult, RunResult
from thresher.eval.summary import summarize_runs


def curve(final: float, start: float, tokens_per_point: int, points: int = 4) -> list[dict]:
    """A lower-is-better curve falling linearly from `start` to `final` over `points` checkpoints."""
    step = (start - final) / (points - 1)
    return [
        {"step": 10 * (k + 1), "tokens": tokens_per_point * (k + 1), "metrics": {"nll": start - step * k}}
        for k in range(points)
    ]


def scripted_runs() -> list[RunResult]:
    runs = []
    full = {0: 4.00, 1: 4.02, 2: 4.04}  # mean 4.02
    random = {0: 4.30, 1: 4.25, 2: 4.35}
    pruned = {0: 3.98, 1: 3.99, 2: 4.03}
    for seed in range(3):
        runs.append(RunResult("full", 1.0, seed, 100, {"nll": full[seed]}, 1.0, curve=curve(full[seed], 6.0, 100)))
    for seed in range(3):
        runs.append(
            RunResult("random", 0.5, seed, 50, {"nll": random[seed]}, 1.0, curve=curve(random[seed], 6.0, 100))
        )
    for seed in range(3):
        runs.append(
            RunResult("nll:bottom", 0.5, seed, 50, {"nll": pruned[seed]}, 1.0, curve=curve(pruned[seed], 5.0, 100))
        )
    return runs


def test_cells_intervals_and_paired_verdicts():
    summary = summarize_runs(scripted_runs(), {"nll": False}, "nll", "tokens")
    assert summary["metric"] == "nll" and summary["alpha"] == 0.05 and summary["compute_axis"] == "tokens"
    cells = {(cell["method"], cell["keep"]): cell for cell in summary["cells"]}
    assert list(cells) == [("full", 1.0), ("random", 0.5), ("nll:bottom", 0.5)]
    pruned = cells[("nll:bottom", 0.5)]
    values = [3.98, 3.99, 4.03]
    low, high = stats.t.interval(0.95, 2, loc=sum(values) / 3, scale=stats.sem(values))
    assert pruned["metrics"]["nll"]["low"] == pytest.approx(low) and pruned["metrics"]["nll"]["high"] == pytest.approx(
        high
    )
    assert pruned["kept"] == 50 and pruned["seeds"] == [0, 1, 2]
    vs_random = pruned["vs_random"]
    assert vs_random["p_value"] == pytest.approx(stats.ttest_rel(values, [4.30, 4.25, 4.35]).pvalue)
    assert vs_random["verdict"] == "better" and vs_random["mean_difference"] == pytest.approx(-0.3)
    vs_full = pruned["vs_full"]
    assert vs_full["p_value"] == pytest.approx(stats.ttest_rel(values, [4.00, 4.02, 4.04]).pvalue)
    assert vs_full["verdict"] == "undecided" and vs_full["seeds_needed"] > 3
    assert "vs_random" not in cells[("random", 0.5)] and cells[("random", 0.5)]["vs_full"]["verdict"] == "worse"
    assert "vs_random" not in cells[("full", 1.0)] and "vs_full" not in cells[("full", 1.0)]


def test_compute_to_reach_full_datas_final_metric():
    summary = summarize_runs(scripted_runs(), {"nll": False}, "nll", "tokens")
    cells = {(cell["method"], cell["keep"]): cell for cell in summary["cells"]}
    pruned = cells[("nll:bottom", 0.5)]["compute_to_full"]
    # Target 4.02. Seed 0 falls 5.0 → 4.66 → 4.32 → 3.98: crosses 4.02 between 300 and 400 tokens, at
    # 300 + 100 · (4.32 − 4.02) / (4.32 − 3.98); seed 1 (5.0 → … → 3.99) likewise; seed 2 ends at 4.03: never.
    third = {final: 5.0 - 2 * (5.0 - final) / 3 for final in (3.98, 3.99)}
    crossings = [300 + 100 * (third[final] - 4.02) / (third[final] - final) for final in (3.98, 3.99)]
    expected = sum(crossings) / 2
    assert pruned["target"] == pytest.approx(4.02) and pruned["reached"] == 2 and pruned["seeds"] == 3
    assert pruned["mean"] == pytest.approx(expected) and pruned["full_compute"] == 400
    assert pruned["fraction_of_full"] == pytest.approx(expected / 400)
    assert cells[("random", 0.5)]["compute_to_full"]["reached"] == 0
    assert cells[("random", 0.5)]["compute_to_full"]["mean"] is None


def test_class_shares_and_recall_against_random():
    runs = []
    for seed in range(2):
        runs.append(RunResult("random", 0.5, seed, 10, {"accuracy": 0.6}, 0.1, class_kept={"a": 0.5, "b": 0.5},
                              class_recall={"a": 0.7, "b": 0.6}))  # fmt: skip
        runs.append(RunResult("el2n", 0.5, seed, 10, {"accuracy": 0.5}, 0.1, class_kept={"a": 0.9, "b": 0.1 * seed},
                              class_recall={"a": 0.9, "b": 0.2 + 0.1 * seed}))  # fmt: skip
    summary = summarize_runs(runs, {"accuracy": True}, "accuracy", "examples")
    el2n = summary["cells"][1]
    assert el2n["class_kept"] == {"a": 0.9, "b": pytest.approx(0.05)}
    assert el2n["class_recall"] == {"a": 0.9, "b": pytest.approx(0.25)}
    assert el2n["classes"]["least_kept"] == ["b", pytest.approx(0.05)] and el2n["classes"]["most_kept"] == ["a", 0.9]
    assert el2n["classes"]["worst_recall"] == ["b", pytest.approx(0.25)]
    assert el2n["classes"]["recall_vs_random"] == pytest.approx(((0.9 - 0.7) + (0.25 - 0.6)) / 2)
    assert el2n["classes"]["left_behind"] == ["b"] and el2n["classes"]["classes"] == 2
    assert "recall_vs_random" not in summary["cells"][0]["classes"]  # random is not compared with itself
    assert summary["compute_axis"] == "step"  # no curves: the axis falls back to steps, with nothing to show
    assert el2n["compute_to_full"] is None


def test_results_json_carries_the_summary(tmp_path):
    result = EvalResult({"task": "lm", "primary_metric": "nll", "compute_axis": "tokens"}, scripted_runs(), tmp_path,
                        higher_is_better={"nll": False})  # fmt: skip
    record = result.to_json()
    assert record["summary"] == summarize_runs(result.runs, {"nll": False}, "nll", "tokens")
    assert record["runs"][0]["curve"][0] == {"step": 10, "tokens": 100, "metrics": {"nll": 6.0}}
