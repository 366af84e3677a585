"""The `thresher` command with a compression scorer that can be held at one shard: the resume tests' kill point.

With THRESHER_GATE_DIR and THRESHER_GATE_TEXT set, the compression scorer, given the shard whose first text is
THRESHER_GATE_TEXT, creates GATE_DIR/blocked and waits until GATE_DIR/release exists; at that point the engine
has recorded every earlier shard and nothing of this one. Once the engine's SIGINT handler has run, it creates
GATE_DIR/interrupted. Without the variables this is the plain command (and the scorer the plain compression
scorer: same name and parameters, so a plain `thresher score` resumes what this one wrote).

Usage: python tests/engine/gated_cli.py score INPUT --scorer compression ...
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from thresher.cli import main
from thresher.engine.interrupt import StopAfterShard
from thresher.scorers import registry
from thresher.scorers.compression import CompressionScorer

ENGINE_HANDLER = StopAfterShard._handle


def gate_dir() -> Path | None:
    value = os.environ.get("THRESHER_GATE_DIR")
    return Path(value) if value else None


class GatedCompressionScorer(CompressionScorer):
    """The compression scorer, held at the gated shard until the test releases it."""

    @classmethod
    def code(cls):
        # The same scores as the plain scorer, so the same code identity: a plain rerun resumes what this one wrote.
        return CompressionScorer.code()

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        gate = gate_dir()
        if gate is not None and batch.column("text")[0].as_py() == os.environ["THRESHER_GATE_TEXT"]:
            (gate / "blocked").touch()
            while not (gate / "release").exists():
                time.sleep(0.01)
        return super().score_batch(batch)


def handle_and_tell(stop: StopAfterShard, signum, frame) -> None:
    """The engine's SIGINT handler, then a file saying it ran (so the test releases the gate only after it)."""
    ENGINE_HANDLER(stop, signum, frame)
    gate = gate_dir()
    if gate is not None:
        (gate / "interrupted").touch()


if __name__ == "__main__":
    registry.SCORERS.unregister("compression")
    registry.SCORERS.register("compression", GatedCompressionScorer)
    StopAfterShard._handle = handle_and_tell
    sys.exit(main())
