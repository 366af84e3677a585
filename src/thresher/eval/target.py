"""The eval-target contract: a registry component that trains a model on chosen rows and scores it held out.

An `EvalTarget` is configured like every component (keyword-only constructor, numpydoc `Parameters`, set with
`-p`) and declares what the harness needs to know before any data is read: the metrics it reports and which way
each improves, its primary metric, the field it reads besides the text (`reads`) and the `--budget` kinds it
supports. `prepare` turns it and the data into a `PreparedTarget` (tokenizer trained, embeddings computed, model
loaded), which trains and scores one run per call and must pickle, so that `--jobs N` can send it to workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from thresher.components import Component

if TYPE_CHECKING:
    from thresher.eval.data import EvalData

LABELS = "labels"  # the target reads a class label per example (--label-field)
RESPONSES = "responses"  # the target reads a response per prompt (--response-field)
BUDGETS = ("epochs", "tokens")  # every --budget kind some target may support


@dataclass(frozen=True)
class Metric:
    """A held-out metric a target reports, and which way it improves."""

    name: str
    higher_is_better: bool
    description: str = ""


class PreparedTarget(Protocol):
    """A target ready to train: one fresh model per `train_and_evaluate(rows, seed)`, deterministic on a CPU."""

    primary_metric: str

    def train_and_evaluate(self, rows: np.ndarray, seed: int) -> dict[str, float]:
        """Held-out metrics of a model trained on the training rows `rows` (indices into the training part)."""
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
