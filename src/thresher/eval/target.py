"""The eval-target contract: a registry component that trains a model on chosen rows and scores it held out.

An `EvalTarget` is configured like every component (keyword-only constructor, numpydoc `Parameters`, set with
`-p`) and declares what the harness needs to know before any data is read: the metrics it reports and which way
each improves, its primary metric, the field it reads besides the text (`reads`) and the `--budget` kinds it
supports. `prepare` turns it and the data into a `PreparedTarget` (tokenizer trained, embeddings computed, model
loaded), which trains and scores one run per call and must pickle, so that `--jobs N` can send it to workers.

A run gives a `RunOutcome`: its final held-out metrics, the same metrics at checkpoints along the way (the compute
axis: optimiser steps, and examples or tokens seen), and for labelled targets the held-out recall of each class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from thresher.components import Component

if TYPE_CHECKING:
    from thresher.eval.data import EvalData

LABELS = "labels"  # the target reads a class label per example (--label-field)
RESPONSES = "responses"  # the target reads a response per prompt (--response-field)
BUDGETS = ("epochs", "tokens")  # every --budget kind some target may support
EXAMPLES, TOKENS = "examples", "tokens"  # what a target's compute axis counts, besides optimiser steps
DEFAULT_CHECKPOINTS = 10  # held-out evaluations per run, the last one at the final step


@dataclass(frozen=True)
class Metric:
    """A held-out metric a target reports, and which way it improves."""

    name: str
    higher_is_better: bool
    description: str = ""


@dataclass(frozen=True)
class Checkpoint:
    """Held-out metrics part-way through a run, and the compute spent to get there: optimiser steps, and the
    training examples and tokens seen so far (repeats counted; None where the target does not count them)."""

    step: int
    metrics: dict[str, float]
    examples: int | None = None
    tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"step": self.step}
        record.update(
            (name, value)
            for name, value in (("examples", self.examples), ("tokens", self.tokens))
            if value is not None
        )
        return {**record, "metrics": self.metrics}


@dataclass(frozen=True)
class RunOutcome:
    """What one training run gives: its final held-out metrics, its checkpointed curve (ascending steps, the last
    at the final step) and, for a target with class labels, each class's held-out recall."""

    metrics: dict[str, float]
    curve: list[Checkpoint] = field(default_factory=list)
    class_recall: dict[str, float] | None = None


def as_outcome(value: RunOutcome | Mapping[str, float]) -> RunOutcome:
    """A target's run result as a `RunOutcome`: a plain metrics mapping (a minimal plug-in target) has no curve."""
    return value if isinstance(value, RunOutcome) else RunOutcome(dict(value))


class PreparedTarget(Protocol):
    """A target ready to train: one fresh model per `train_and_evaluate(rows, seed)`, deterministic on a CPU.

    The model's initialisation depends on the seed alone (never on the rows), and the rows are visited in
    `thresher.eval.order.seeded_order`, so that runs of one seed are paired as far as their subsets allow.
    """

    primary_metric: str

    def train_and_evaluate(self, rows: np.ndarray, seed: int) -> RunOutcome | Mapping[str, float]:
        """The held-out outcome of a model trained on the training rows `rows` (indices into the training part)."""
        ...

    def evaluate_at_init(self, seed: int) -> dict[str, float]:
        """Held-out metrics before any training (empty when there is no such level to report)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the prepared target is beyond its parameters (model source, classes, steps): for results.json."""
        ...


class EvalTarget(Component):
    """Base class of eval targets.

    Subclasses set `name`, `metrics`, `primary_metric`, `reads` and `budgets`, take their parameters as keyword-only
    constructor arguments, and implement `prepare`.
    """

    kind: ClassVar[str] = "target"
    metrics: ClassVar[tuple[Metric, ...]] = ()
    primary_metric: ClassVar[str]
    reads: ClassVar[str | None] = None  # LABELS, RESPONSES, or None: the texts alone
    budgets: ClassVar[tuple[str, ...]] = ("epochs",)
    compute_axis: ClassVar[str] = EXAMPLES  # what the report's metric-vs-compute curves count: EXAMPLES or TOKENS

    @classmethod
    def higher_is_better(cls) -> dict[str, bool]:
        """Metric name -> whether higher is better, for the report's best method and plot labels."""
        return {metric.name: metric.higher_is_better for metric in cls.metrics}

    def validate(self) -> None:  # noqa: B027 - optional hook
        """Raise `OptionError` naming a parameter that is out of range, before any data is read."""

    def prepare(self, data: EvalData, *, budget: str, cache_dir: Path | None) -> PreparedTarget:
        """The runnable target for `data`: everything every run shares, computed once.

        `budget` is one of `budgets`; `cache_dir` is the score directory's cache (None without --scores), for
        intermediates shared with other commands, such as embeddings.
        """
        raise NotImplementedError
