"""The run step: train the prepared target once per planned run, in this process or in workers, with progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from thresher.eval.parallel import run_all
from thresher.eval.plan import PlannedRun
from thresher.eval.results import RunResult
from thresher.eval.target import PreparedTarget
from thresher.progress import ProgressDisplay, ProgressTask


def run_plan(
    target: PreparedTarget,
    runs: Sequence[PlannedRun],
    chosen: Sequence[np.ndarray],
    *,
    jobs: int,
    display: ProgressDisplay,
    labels: Sequence[Any] | None = None,
) -> list[RunResult]:
    """The result of every planned run, in plan order; `chosen[i]` are run i's training rows.

    `labels` (the training rows' classes, for a target that reads labels) add each run's share of every class kept.
    """
    progress = RunProgress(display, runs, target.primary_metric)
    planned = [(rows, run.seed) for rows, run in zip(chosen, runs, strict=True)]
    outcomes = run_all(target, planned, jobs=jobs, on_start=progress.started, on_done=progress.finished)
    return [
        RunResult(
            run.method.name,
            run.keep,
            run.seed,
            int(rows.size),
            outcome.metrics,
            seconds,
            curve=[checkpoint.to_json() for checkpoint in outcome.curve],
            class_kept=class_shares_kept(labels, rows) if labels is not None else None,
            class_recall=outcome.class_recall,
        )
        for run, rows, (outcome, seconds) in zip(runs, chosen, outcomes, strict=True)
    ]


def class_shares_kept(labels: Sequence[Any], rows: np.ndarray) -> dict[str, float]:
    """Class (as text) -> the share of the training rows of that class that `rows` keeps, in class order."""
    from thresher.labels import class_order

    kept = Counter(str(labels[row]) for row in rows)
    totals = Counter(str(label) for label in labels)
    return {str(label): kept[str(label)] / totals[str(label)] for label in class_order(labels)}


class RunProgress:
    """The eval's progress: runs done of the plan, the runs running now and the last result, with an ETA."""

    def __init__(self, display: ProgressDisplay, runs: Sequence[PlannedRun], metric: str) -> None:
        self.names = [run.label for run in runs]
        self.metric = metric
        self.running: dict[int, None] = {}  # insertion-ordered set of the plan indices running now
        self.last = ""
        self.display = display
        self.task: ProgressTask | None = None  # made when the first run starts, showing that run

    def started(self, index: int) -> None:
        self.running[index] = None
        if self.task is None:
            self.task = self.display.task("eval", len(self.names), unit="runs", detail=self._detail())
        else:
            # A run can take minutes: a log gets a line as each one starts, not only as it ends.
            self.task.update(detail=self._detail(), milestone=True)

    def finished(self, index: int, metrics: dict[str, float], seconds: float) -> None:
        self.running.pop(index, None)
        value = metrics.get(self.metric)
        result = f" {self.metric} {value:.4g}" if isinstance(value, int | float) else ""
        self.last = f"last {self.names[index]}{result}"
        assert self.task is not None, "a run finished before any started"
        self.task.update(advance=1, detail=self._detail())

    def _detail(self) -> str:
        names = [self.names[index] for index in self.running]
        shown = ", ".join(names[:2]) + (f" (+{len(names) - 2} more)" if len(names) > 2 else "")
        return "; ".join(part for part in (f"running {shown}" if names else "", self.last) if part)
