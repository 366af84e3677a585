"""Ctrl-C during scoring: the first SIGINT lets the current shard finish and be written, then stops."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopAfterShard:
    """Records a first SIGINT instead of raising; a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


@contextmanager
def stop_after_shard_on_sigint() -> Iterator[StopAfterShard]:
    """Within the block, Ctrl-C sets `requested` (checked by the engine between shards) instead of raising."""
    stop = StopAfterShard()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be installed from the main thread
        return
    previous = signal.signal(signal.SIGINT, stop._handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
