"""The scorer contract: a scorer turns a batch of examples into named score arrays and declares its columns.

The engine (local or Ray) owns batching into shards, progress, the score store and resume; a scorer only
loads its model in `setup()` and answers `score_batch()`. Constructor arguments are the scorer's parameters
(scikit-learn style): stored verbatim, keyword-only, no logic, so a scorer can be pickled before `setup()`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

# The neutral types live in thresher.types; they are re-exported here for the scorers that import them from base.
from thresher.components import Component
from thresher.types import (  # noqa: F401
    ColumnKind,
    Direction,
    ExampleSource,
    ProgressCallback,
    RunContext,
    ScoreColumn,
    ScorerCode,
)

if TYPE_CHECKING:
    from thresher.progress import ProgressDisplay, ProgressReport


class Scorer(Component, ABC):
    """Base class of every scorer.

    Subclasses set `name` and `columns`, take their parameters as keyword-only constructor arguments with
    defaults, and implement `score_batch`. Heavy state (models, tokenizers) is created in `setup`, never in
    `__init__`.
    """

    kind: ClassVar[str] = "scorer"
    name: ClassVar[str]
    columns: ClassVar[tuple[ScoreColumn, ...]]
    # Bump when the scorer's output changes (a fixed bug, another formula, another default): the score store keys
    # resume on it, so a rerun never appends new scores to shards the old code wrote.
    version: ClassVar[int] = 1
    needs_labels: ClassVar[bool] = False
    # Multi-pass scorers (training dynamics, density) must see every example before they can score any.
    requires_fit: ClassVar[bool] = False

    _on_progress: ProgressCallback | None = None
    _progress_display: ProgressDisplay | None = None

    @classmethod
    def code(cls) -> ScorerCode:
        """The class and version of this scorer, recorded in the manifest next to its parameters."""
        return ScorerCode(f"{cls.__module__}:{cls.__qualname__}", cls.version)

    def setup(self, context: RunContext) -> None:  # noqa: B027 - optional hook
        """Load models and anything else expensive, once per worker."""

    def fit(self, examples: ExampleSource) -> None:  # noqa: B027 - optional hook
        """Multi-pass scorers: look at every example (train a proxy, build a sketch) before `score_batch`.

        Called once after `setup` when `requires_fit` is set and some shard is left to score; `examples()` may be
        called more than once for several passes.
        """

    @abstractmethod
    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """Score a batch of examples.

        Args:
            batch: columns `id`, `text` and, when the run has a label field, `label`.

        Returns:
            One array of length `batch.num_rows` per declared column, in the batch's row order.
        """

    def provenance(self) -> dict[str, Any]:
        """What the manifest should record about how scores were made (model, fingerprint, dtype, device)."""
        return {}

    def teardown(self) -> None:  # noqa: B027 - optional hook
        """Release models and memory."""

    def set_progress_callback(self, callback: ProgressCallback | None) -> None:
        """Let the engine's progress bar follow the scorer's inner batches."""
        self._on_progress = callback

    def report_progress(self, examples: int, tokens: int = 0) -> None:
        """Tell the engine how much work was done since the last report."""
        if self._on_progress is not None:
            self._on_progress(examples, tokens)

    def set_progress_display(self, display: ProgressDisplay | None) -> None:
        """Let the scorer show its own long work (a proxy training in `fit`) on the engine's display."""
        self._progress_display = display

    def progress_reporter(self, what: str, *, unit: str) -> ProgressReport:
        """A `report(done, total, detail=None)` callback for a long loop of this scorer's own, such as training
        a proxy in `fit`: a task named after the scorer on the engine's display, silent without one or when quiet."""
        from thresher.progress import ProgressDisplay

        display = self._progress_display or ProgressDisplay(enabled=False)
        return display.follow(f"{self.name} {what}", unit=unit)
