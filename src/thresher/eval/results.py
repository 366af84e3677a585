"""What an evaluation gives back: one `RunResult` per training run, and the `EvalResult` that results.json holds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The `thresher eval` options an `EvalConfig` record holds, in the order a settings file lists them.
SETTINGS_OPTIONS = (
    "input",
    "task",
    "methods",
    "keep",
    "seeds",
    "full_seeds",
    "scores",
    "eval_split",
    "eval_file",
    "text_field",
    "id_field",
    "label_field",
    "response_field",
    "budget",
    "seed",
    "jobs",
)


@dataclass
class RunResult:
    """One training run: which rows it trained on, and what it scored on the held-out part.

    `curve` holds the checkpoints (`step`, `examples` and/or `tokens` seen, `metrics`), the last at the final step;
    with a labelled target, `class_kept` is the share of each class's training rows the run kept and
    `class_recall` each class's held-out recall; a pipeline method's `steps` say what each of its steps did.
    """

    method: str
    keep: float
    seed: int
    kept: int
    metrics: dict[str, float]
    seconds: float
    curve: list[dict[str, Any]] = field(default_factory=list)
    class_kept: dict[str, float] | None = None
    class_recall: dict[str, float] | None = None
    steps: list[dict[str, Any]] | None = None  # a pipeline method's steps: rows received, kept and dropped


@dataclass
class EvalResult:
    """Every run of an evaluation, the settings it ran with, and where the report went.

    `config` is the `EvalConfig` as recorded (plus the primary metric, the part sizes, the prepared target's
    description and the seconds taken); `params` every component's parameters (the target's under the task name,
    each strategy's under its name); `higher_is_better` the direction of the target's metrics.
    """

    config: dict[str, Any]
    runs: list[RunResult]
    out: Path
    reference: dict[str, float] = field(default_factory=dict)  # held-out metrics before training (lm, sft)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, Any]:
        """The run's settings in the settings-file format (`thresher eval --config results.json` repeats it)."""
        from thresher.config import settings_record

        options = {name: self.config.get(name) for name in SETTINGS_OPTIONS}
        options["methods"] = ",".join(options["methods"] or [])
        options["keep"] = ",".join(f"{ratio:g}" for ratio in options["keep"] or [])
        return settings_record({**options, "out": str(self.out)}, self.params)

    @property
    def primary_metric(self) -> str:
        """The metric the verdicts are on: the target's primary one, else the first the runs report."""
        recorded = self.config.get("primary_metric")
        if recorded:
            return str(recorded)
        names = [name for run in self.runs for name in run.metrics if name in self.higher_is_better]
        return names[0] if names else ""

    def summary(self) -> dict[str, Any]:
        """Per method and keep ratio: intervals, paired verdicts, compute to full data's metric, classes
        (`thresher.eval.summary.summarize_runs`)."""
        from thresher.eval.summary import summarize_runs

        return summarize_runs(self.runs, self.higher_is_better, self.primary_metric, self.config.get("compute_axis"))

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": {"eval": self.settings},
            "config": self.config,
            "params": self.params,
            "higher_is_better": self.higher_is_better,
            "reference": self.reference,
            "summary": self.summary(),
            "runs": [asdict(run) for run in self.runs],
        }
