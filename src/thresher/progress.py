"""Progress of long work on stderr: live rich bars on a terminal, plain timestamped lines in a log.

Every long command reports through one `ProgressDisplay`: `thresher score` (one task per scorer, and the proxy or
surrogate training inside a scorer's `finalize`), `thresher train-ref` (one task per fold) and `thresher eval` (the
training runs). On a terminal the display draws rich bars. When stderr is a file or a pipe (a log, CI), rich's live
display would print nothing until the end, so the display writes a plain line instead: when a task appears, at
its milestones, at most every `log_every` seconds while it moves, and when it ends. A disabled display (`--quiet`)
prints nothing; its tasks still count, so code that reports need not care.

    with ProgressDisplay(enabled=not quiet) as display:
        task = display.task("train-ref", total=600, unit="step")
        for step in range(600):
            ...
            task.update(advance=1, detail=f"loss {loss:.3f}")

A terminal shows ``train-ref ━━━━━━━━━━╸━━━━━━━━━━━━━ step 240/600 ETA 0:01:10 loss 4.123``; a log gets
``12:03:44 train-ref: step 240/600 (40%), loss 4.123, 50 s elapsed, ETA 1 min 10 s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

LOG_EVERY_SECONDS = 15.0
"""In a log, a moving task writes a line at most this often (plus its start, milestones and end)."""

ProgressReport = Callable[..., None]
"""`report(done, total, detail=None)`: what `ProgressDisplay.follow` gives a loop that counts its own steps."""


class ProgressDisplay:
    """Tasks with a count, a total and a detail text, shown on stderr as bars (terminal) or lines (log).

    Parameters
    ----------
    enabled:
        False prints nothing at all (`--quiet`).
    console:
        Where to write; default a rich console on stderr. Bars are drawn only when it is a terminal.
    log_every:
        Seconds between the lines a moving task writes when the console is not a terminal.
    """

    def __init__(
        self, *, enabled: bool = True, console: Console | None = None, log_every: float = LOG_EVERY_SECONDS
    ) -> None:
        self.enabled = enabled
        self.log_every = log_every
        self._console = console
        self._bars: Any = None
        self._tasks: list[ProgressTask] = []
        if enabled:
            from rich.console import Console

            self._console = console or Console(stderr=True)
            if self._console.is_terminal:
                self._bars = _rich_bars(self._console)

    @property
    def live(self) -> bool:
        """True when the display draws bars on a terminal, False when it writes lines (or nothing)."""
        return self._bars is not None

    def __enter__(self) -> ProgressDisplay:
        if self._bars is not None:
            self._bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.close()
        if self._bars is not None:
            self._bars.stop()

    def task(
        self, description: str, total: int | None = None, *, unit: str = "", detail: str = "", completed: int = 0
    ) -> ProgressTask:
        """A new task: `unit` names what is counted ("step", "runs", "examples"), `detail` what is shown after it."""
        task = ProgressTask(self, description, total, unit, detail, completed)
        self._tasks.append(task)
        return task

    def follow(self, description: str, *, unit: str = "") -> ProgressReport:
        """A callback `report(done, total, detail=None)` for a loop that learns its length only when it starts.

        The task appears at the first call, so work that turns out not to be needed (a training found in a cache)
        shows nothing.
        """
        task: ProgressTask | None = None

        def report(done: int, total: int | None = None, detail: str | None = None) -> None:
            nonlocal task
            if task is None:
                task = self.task(description, total, unit=unit, detail=detail or "", completed=done)
            else:
                task.update(completed=done, total=total, detail=detail)

        return report

    def note(self, message: str) -> None:
        """One line of text: above the bars on a terminal, a timestamped line in a log."""
        if not self.enabled:
            return
        if self._bars is not None:
            self._bars.console.print(message, markup=False, highlight=False)
        else:
            self._write(message)

    def _write(self, line: str) -> None:
        assert self._console is not None
        self._console.print(f"{time.strftime('%H:%M:%S')} {line}", markup=False, highlight=False, soft_wrap=True)


class ProgressTask:
    """One line of a `ProgressDisplay`; made by `ProgressDisplay.task`."""

    def __init__(
        self, display: ProgressDisplay, description: str, total: int | None, unit: str, detail: str, completed: int
    ) -> None:
        self.display = display
        self.description = description
        self.total = total
        self.unit = unit
        self.detail = detail
        self.completed = completed
        self.finished = total is not None and completed >= total
        self._completed_at_start = completed  # what was done before this task was timed: not in the ETA's rate
        self._started = time.perf_counter()
        self._last_line: float | None = None
        self._bar_id = None
        if display._bars is not None:
            self._bar_id = display._bars.add_task(
                description, total=total, completed=completed, count=self._count(), detail=detail, clock="ETA"
            )
        elif display.enabled:
            self._log()

    def update(
        self,
        *,
        advance: int = 0,
        completed: int | None = None,
        total: int | None = None,
        detail: str | None = None,
        milestone: bool = False,
    ) -> None:
        """Move the task on by `advance` (or to `completed`); `milestone` writes a line to a log right away."""
        self.completed = completed if completed is not None else self.completed + advance
        if total is not None:
            self.total = total
        if detail is not None:
            self.detail = detail
        done = self.total is not None and self.completed >= self.total
        if self._bar_id is not None:
            bars = self.display._bars
            clock = "took" if done else "ETA"
            bars.update(
                self._bar_id,
                completed=self.completed,
                total=self.total,
                count=self._count(),
                detail=self.detail,
                clock=clock,
            )
        elif self.display.enabled and not self.finished:
            assert self._last_line is not None
            due = time.perf_counter() - self._last_line >= self.display.log_every
            if done or milestone or due:
                self._log(done=done)
        self.finished = self.finished or done

    def close(self) -> None:
        """End the task: a log gets its last state when that was not written yet."""
        if self.finished:
            return
        self.finished = True
        if self._bar_id is None and self.display.enabled:
            self._log(done=True)

    def _count(self) -> str:
        count = f"{self.completed:,}" if self.total is None else f"{self.completed:,}/{self.total:,}"
        return f"{self.unit} {count}" if self.unit else count

    def _log(self, *, done: bool = False) -> None:
        self._last_line = time.perf_counter()
        elapsed = self._last_line - self._started
        count = self._count()
        if self.total:
            count += f" ({100 * self.completed / self.total:.0f}%)"
        parts = [count]
        if self.detail:
            parts.append(self.detail)
        if done:
            parts.append(f"took {format_duration(elapsed)}")
        elif self.completed > self._completed_at_start and self.total:
            remaining = elapsed / (self.completed - self._completed_at_start) * (self.total - self.completed)
            parts.append(f"{format_duration(elapsed)} elapsed, ETA {format_duration(remaining)}")
        self.display._write(f"{self.description}: " + ", ".join(parts))


def format_duration(seconds: float) -> str:
    """A duration for people: "8 s", "3 min 20 s", "2 h 05 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _rich_bars(console: Console) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Column

    # The detail comes last and is the one cut short on a narrow terminal, so the counts and the ETA stay whole.
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False, table_column=Column(no_wrap=True)),
        BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=10, max_width=40)),
        TextColumn("{task.fields[count]}", markup=False, table_column=Column(no_wrap=True)),
        TextColumn("{task.fields[clock]}", table_column=Column(no_wrap=True)),
        TimeRemainingColumn(elapsed_when_finished=True, table_column=Column(no_wrap=True)),
        TextColumn(
            "{task.fields[detail]}", markup=False, table_column=Column(no_wrap=True, overflow="ellipsis", ratio=2)
        ),
        console=console,
        expand=True,
        refresh_per_second=4,
    )
