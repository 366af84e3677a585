"""The scorer contract: a scorer turns a batch of examples into named score arrays and declares its columns.

The engine (local or Ray) owns batching into shards, progress, the score store and resume; a scorer only
loads its model in `setup()` and answers `score_batch()`. Constructor arguments are the scorer's parameters
(scikit-learn style): stored verbatim, keyword-only, no logic, so a scorer can be pickled before `setup()`.

Set-level scorers (density, dedup, training dynamics, influence: those that must see every example before they can
score one) follow a sketch/TRAK-shaped lifecycle that both engines run the same way, in `fit_rounds` rounds:

1. `update(batch, round)` on every shard, on the workers (after `setup`): the shard's share of the work. It gives a
   small partial state (a sketch's counters, the set of labels seen) and may write bulk per-row results (embeddings,
   MinHash signatures) to shard-named files under `context.state_dir`, each written atomically;
2. `merge(partial, other)` folds the partial states on the driver, in whatever order shards finish, so it must be
   associative and commutative;
3. `finalize(merged, round, context)` on the driver: fit the proxy, build the index, decide the duplicates; what it
   needs later goes to files under `context.state_dir`, where every worker can read it.

The engine saves each shard's partial state as it arrives, so a killed fitting pass resumes with the shards not yet
updated, and records each finalized round, so a resumed run never finalizes twice. Then `score_batch` runs per
shard as for any scorer, reading the finalized state and addressing rows by their position in the input (the
batch's `row` column), never by id. Per-example scorers keep `fit_rounds = 0` and the defaults below.
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
    # Set-level scorers (density, dedup, training dynamics, influence) run this many rounds of update → merge →
    # finalize over every shard before any shard is scored; 0 for scorers that score each example on its own.
    fit_rounds: ClassVar[int] = 0

    _on_progress: ProgressCallback | None = None
    _progress_display: ProgressDisplay | None = None

    @classmethod
    def code(cls) -> ScorerCode:
        """The class and version of this scorer, recorded in the manifest next to its parameters."""
        return ScorerCode(f"{cls.__module__}:{cls.__qualname__}", cls.version)

    def setup(self, context: RunContext) -> None:  # noqa: B027 - optional hook
        """Load models and anything else expensive, once per worker."""

    def input_fields(self) -> dict[str, str]:
        """Input fields besides the text, id and label that this scorer reads, as {batch column: input field}.

        The reader adds them to every batch (validated like texts): the effort scorer's `prompt` and `response`.
        """
        return {}

    # -- the set-level lifecycle (fit_rounds > 0) ----------------------------------------------------------------

    def fit_key(self) -> dict[str, Any]:
        """What this scorer's fitted state depends on besides the input and the shard layout.

        Scorers of one run giving the same key share one fitting pass and one `state_dir` (the training-dynamics
        scorers share one proxy training); only the first of them updates, and each finalizes.
        """
        code = self.code()
        return {"class": code.class_path, "version": code.version, "params": self.params_record()}

    def update(self, batch: pa.RecordBatch, round: int) -> Any:
        """Round `round`'s work on one shard (a whole shard: rows `row`, `id`, `text`, …), on a set-up scorer.

        Returns a small, picklable partial state, combined by `merge` (None when there is nothing to merge). Bulk
        per-row results go to shard-named files under `context.state_dir` (see `thresher.scorers.state`), written
        atomically, so a shard whose update was interrupted is simply redone.
        """
        raise NotImplementedError(f"scorer {self.name} sets fit_rounds but has no update()")

    def merge(self, partial: Any, other: Any) -> Any:
        """Combine two partial states; associative and commutative (shards finish in any order)."""
        return None

    def finalize(self, merged: Any, round: int, context: RunContext) -> dict[str, Any]:
        """End round `round` on the driver, from the merged partial states of every shard.

        Writes what scoring (or the next round's `update`) needs under `context.state_dir`; it may run on a scorer
        that was never set up (the Ray driver loads no model). Returns what the manifest should record about the
        fitted state (merged into the scorer's provenance).
        """
        return {}

    # -- scoring --------------------------------------------------------------------------------------------------

    @abstractmethod
    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """Score a batch of examples.

        Args:
            batch: columns `row` (the example's 0-based position in the input), `id`, `text`, `label` when the run
                has a label field, and the columns of `input_fields()`.

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
        """Let the scorer show its own long work (a proxy training in `finalize`) on the engine's display."""
        self._progress_display = display

    def progress_reporter(self, what: str, *, unit: str) -> ProgressReport:
        """A `report(done, total, detail=None)` callback for a long loop of this scorer's own (training a proxy in
        `finalize`): a task named after the scorer on the engine's display, silent without one or when quiet."""
        from thresher.progress import ProgressDisplay

        display = self._progress_display or ProgressDisplay(enabled=False)
        return display.follow(f"{self.name} {what}", unit=unit)
