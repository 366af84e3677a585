"""What results.json's `summary` holds and the report shows: per (method, keep ratio) a mean with its 95 % interval,
the paired verdicts against random and full data, the compute needed to reach full data's final metric, and (with
class labels) how each class fared. Plain data computed from the runs with `thresher.eval.stats`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher.eval.plan import FULL
from thresher.eval.stats import ALPHA, compare_paired, compute_to_target, mean_interval

if TYPE_CHECKING:
    from thresher.eval.results import RunResult

RANDOM = "random"
STEP = "step"
RECALL_GAP = 0.1  # a class whose held-out recall is this much below random's counts as left behind


def cells(runs: Sequence[RunResult]) -> list[tuple[str, float]]:
    """Every (method, keep ratio) the runs cover, in plan order."""
    return list(dict.fromkeys((run.method, run.keep) for run in runs))


def by_seed(runs: Sequence[RunResult], method: str, keep: float, metric: str) -> dict[int, float]:
    """Seed -> `metric` of the runs of one cell."""
    return {run.seed: run.metrics[metric] for run in runs if run.method == method and run.keep == keep}


def curve_axis(runs: Sequence[RunResult], preferred: str | None) -> str:
    """The compute axis the runs' curves share: `preferred` (the target's) where every checkpoint has it, else
    optimiser steps."""
    points = [point for run in runs for point in run.curve]
    if preferred is not None and points and all(preferred in point for point in points):
        return preferred
    return STEP


def compute_to_full(
    runs: Sequence[RunResult], method: str, keep: float, metric: str, higher_is_better: bool, axis: str
) -> dict[str, Any] | None:
    """How much compute the runs of one cell need to first reach full data's final `metric` (its mean over the
    full runs' seeds), from each run's own checkpoints; None without full runs or curves.

    `mean` is over the seeds that reach it (None when none does); `fraction_of_full` divides it by the full runs'
    mean final compute on the same axis.
    """
    full_runs = [run for run in runs if run.method == FULL and run.curve]
    cell_runs = [run for run in runs if run.method == method and run.keep == keep and run.curve]
    if not full_runs or not cell_runs:
        return None
    target = float(np.mean([run.metrics[metric] for run in full_runs]))
    full_compute = float(np.mean([run.curve[-1][axis] for run in full_runs]))
    reached = []
    for run in cell_runs:
        compute = [point[axis] for point in run.curve]
        values = [point["metrics"][metric] for point in run.curve]
        needed = compute_to_target(compute, values, target, higher_is_better=higher_is_better)
        if needed is not None:
            reached.append(needed)
    mean = float(np.mean(reached)) if reached else None
    return {
        "axis": axis,
        "target": target,
        "seeds": len(cell_runs),
        "reached": len(reached),
        "mean": mean,
        "full_compute": full_compute,
        "fraction_of_full": mean / full_compute if mean is not None and full_compute > 0 else None,
    }


def class_means(runs: Sequence[RunResult], field: str) -> dict[str, float] | None:
    """Class -> the mean over `runs` of their per-class `field` (`class_kept` or `class_recall`); None without."""
    records = [getattr(run, field) for run in runs if getattr(run, field) is not None]
    if not records:
        return None
    names = list(dict.fromkeys(name for record in records for name in record))
    return {name: float(np.mean([record[name] for record in records if name in record])) for name in names}


def class_summary(cell: Mapping[str, Any], random_cell: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A cell's classes in brief: the least and most kept class, the worst held-out class, and against random at
    the same keep ratio the mean per-class recall difference and the classes left behind (recall lower by more
    than `RECALL_GAP`)."""
    kept, recall = cell.get("class_kept"), cell.get("class_recall")
    if not kept and not recall:
        return None
    brief: dict[str, Any] = {}
    if kept:
        least, most = min(kept, key=kept.__getitem__), max(kept, key=kept.__getitem__)
        brief.update(least_kept=[least, kept[least]], most_kept=[most, kept[most]])
    if recall:
        worst = min(recall, key=recall.__getitem__)
        brief["worst_recall"] = [worst, recall[worst]]
        random_recall = (random_cell or {}).get("class_recall")
        if random_recall and cell is not random_cell:
            shared = [name for name in recall if name in random_recall]
            gaps = {name: recall[name] - random_recall[name] for name in shared}
            brief["recall_vs_random"] = float(np.mean(list(gaps.values()))) if gaps else None
            brief["left_behind"] = sorted(name for name, gap in gaps.items() if gap < -RECALL_GAP)
            brief["classes"] = len(shared)
    return brief


def summarize_runs(
    runs: Sequence[RunResult],
    higher_is_better: Mapping[str, bool],
    primary: str,
    compute_axis: str | None = None,
) -> dict[str, Any]:
    """results.json's `summary`: one record per (method, keep ratio), in plan order.

    Each has the mean examples kept, the seeds, every metric's mean with its 95 % t-interval and standard deviation,
    the paired comparisons on the primary metric with random at the same keep ratio (`vs_random`, for every method
    but random and full) and with full data (`vs_full`, for every method but full), the compute to reach full data's
    final primary metric (`compute_to_full`), and with class labels each class's mean share kept and held-out recall.
    """
    metrics = [
        name for name in dict.fromkeys(name for run in runs for name in run.metrics) if name in higher_is_better
    ]
    axis = curve_axis(runs, compute_axis)
    higher = higher_is_better.get(primary, True)
    full_values = {run.seed: run.metrics[primary] for run in runs if run.method == FULL and primary in run.metrics}
    records: list[dict[str, Any]] = []
    for method, keep in cells(runs):
        members = [run for run in runs if run.method == method and run.keep == keep]
        record: dict[str, Any] = {
            "method": method,
            "keep": keep,
            "kept": float(np.mean([run.kept for run in members])),
            "seeds": [run.seed for run in members],
            "metrics": {name: mean_interval([run.metrics[name] for run in members]).to_json() for name in metrics},
        }
        if primary in metrics:
            values = by_seed(runs, method, keep, primary)
            if method not in (RANDOM, FULL) and any(run.method == RANDOM and run.keep == keep for run in runs):
                baseline = by_seed(runs, RANDOM, keep, primary)
                record["vs_random"] = compare_paired(
                    values, baseline, higher_is_better=higher, baseline_name=RANDOM
                ).to_json()
            if method != FULL and full_values:
                record["vs_full"] = compare_paired(
                    values, full_values, higher_is_better=higher, baseline_name=FULL
                ).to_json()
            record["compute_to_full"] = compute_to_full(runs, method, keep, primary, higher, axis)
        for field in ("class_kept", "class_recall"):
            means = class_means(members, field)
            if means is not None:
                record[field] = means
        records.append(record)
    randoms = {record["keep"]: record for record in records if record["method"] == RANDOM}
    for record in records:
        brief = class_summary(record, randoms.get(record["keep"]))
        if brief is not None:
            record["classes"] = brief
    return {"metric": primary, "alpha": ALPHA, "compute_axis": axis, "cells": records}
