"""Progress of scoring: one task per scorer with examples/s and tokens/s, on the shared `ProgressDisplay`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType

from thresher.progress import ProgressDisplay, ProgressTask
from thresher.types import ProgressCallback


class _Counter:
    def __init__(self) -> None:
        self.examples = 0
        self.tokens = 0
        self.started: float | None = None  # set when this scorer starts, not when the bar is drawn
        self.shard_examples = 0
        self.shard_tokens = 0

    def rates(self) -> tuple[float, float]:
        if self.started is None:
            return 0.0, 0.0
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return self.examples / elapsed, self.tokens / elapsed


class ScoreProgress:
    """Tracks examples and tokens per scorer; scorers report inner batches, the engine whole shards."""

    def __init__(self, total_rows: int | None, scorer_names: Sequence[str], *, enabled: bool = True) -> None:
        self._counters = {name: _Counter() for name in scorer_names}
        # Scorers show their own long work (a proxy training in `finalize`) on the same display.
        self.display = ProgressDisplay(enabled=enabled)
        self._tasks: dict[str, ProgressTask] = {
            name: self.display.task(name, total_rows, unit="examples") for name in scorer_names
        }

    def __enter__(self) -> ScoreProgress:
        self.display.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.display.__exit__(kind, error, trace)

    def set_total(self, rows: int) -> None:
        """Every scorer's total, once it is known (the Ray engine learns it from its shard plan)."""
        for task in self._tasks.values():
            task.update(total=rows)

    def callback(self, scorer_name: str) -> ProgressCallback:
        """A callback a scorer calls with (examples, tokens) after each of its inner batches."""

        def report(examples: int, tokens: int) -> None:
            counter = self._counters[scorer_name]
            counter.shard_examples += examples
            counter.shard_tokens += tokens
            self.advance(scorer_name, examples, tokens)

        return report

    def begin_shard(self, scorer_name: str) -> None:
        counter = self._counters[scorer_name]
        if counter.started is None:
            counter.started = time.perf_counter()
        counter.shard_examples = 0
        counter.shard_tokens = 0

    def end_shard(self, scorer_name: str, examples: int, tokens: int) -> None:
        """Account for whatever part of a finished shard the scorer did not report itself."""
        counter = self._counters[scorer_name]
        self.advance(
            scorer_name,
            max(examples - counter.shard_examples, 0),
            max(tokens - counter.shard_tokens, 0),
        )

    def advance(self, scorer_name: str, examples: int, tokens: int) -> None:
        counter = self._counters[scorer_name]
        counter.examples += examples
        counter.tokens += tokens
        examples_per_second, tokens_per_second = counter.rates()
        rates = f"{examples_per_second:,.1f} ex/s"
        if counter.tokens:
            rates += f"  {tokens_per_second:,.0f} tok/s"
        self._tasks[scorer_name].update(advance=examples, detail=rates)
