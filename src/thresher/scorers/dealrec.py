"""The DEALRec scorer: min-max normalised influence (surrogate) + λ · min-max normalised effort (LLM).

Lin et al. 2024 score each example by how much it matters to the empirical risk (influence on a cheap surrogate,
`thresher.scorers.influence`) plus how hard it is for the LLM to learn (effort, `thresher.scorers.effort`); both
are min-max normalised over the whole input before the sum. The parts are nested components (`dealrec.influence`,
`dealrec.effort`) with every parameter of their own scorer, recorded as nested dicts in the manifest.

One fitting round composes the parts: a shard's `update` is the influence scorer's update (embeddings and labels,
into the influence part's own state directory) plus the shard's effort, computed on the worker (the LLM is loaded
there) and saved as a shard-named array; the partial state is the influence part's, with the effort's minimum and
maximum, merged by min and max. `finalize` (driver) finalizes the influence part (its surrogate and its column),
gathers the effort shards into one column (a memory map), and records both parts' minimum and maximum; scoring then
reads both columns by row position and normalises with those four numbers. Select with `thresher select --by dealrec
--strategy ccs` (coverage-enhanced sampling; DEALRec's code also drops the top 10 % first: `--drop-hardest 0.1`).
λ was 0.3 to 1.0 in the paper (searched in 0.1 … 2.0).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from thresher.errors import OptionError
from thresher.scorers import labelled, state
from thresher.scorers.base import Direction, RunContext, ScoreColumn, Scorer
from thresher.scorers.effort import EffortScorer
from thresher.scorers.influence import InfluenceScorer


def min_max(values: np.ndarray) -> np.ndarray:
    """Values mapped to [0, 1] by their minimum and maximum; all zeros when they are all equal."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


class DealRecScorer(Scorer):
    """DEALRec's score: min-max normalised influence + λ · min-max normalised effort; the raw parts are columns too.

    The two parts are the `influence` and `effort` scorers themselves, nested: set their parameters as
    ``-p dealrec.influence.damp=0.02`` or ``-p dealrec.effort.lora_rank=4``; a bare ``model``, ``seed`` or
    ``device`` reaches every part that takes it.

    Parameters
    ----------
    influence : scorer
        The influence scorer on the surrogate (embedder, epochs, ihvp, hvp_steps, damp, scale, ...): I_s.
    effort : scorer
        The effort scorer on the LM (model, lora_target, lora_rank, lora_layers, prompt_field, ...): δ_s.
    lam:
        Weight λ of the effort score (at least 0; the paper used 0.3 to 1.0, searched in 0.1 … 2.0).
    """

    needs_labels: ClassVar[bool] = True
    fit_rounds: ClassVar[int] = 1
    version: ClassVar[int] = 2  # its influence part's surrogate trains on shard-by-shard embeddings
    name = "dealrec"
    columns = (
        ScoreColumn("dealrec", Direction.HIGHER, "minmax(influence) + λ·minmax(effort) (DEALRec)"),
        ScoreColumn("dealrec_influence", Direction.HIGHER, "influence on the surrogate's loss (raw)"),
        ScoreColumn("dealrec_effort", Direction.HIGHER, "LoRA gradient norm of the LM's loss (raw)"),
    )

    def __init__(self, *, influence: InfluenceScorer, effort: EffortScorer, lam: float = 0.3) -> None:
        self.influence = influence
        self.effort = effort
        self.lam = lam

    _set_up = False
    _context: RunContext | None = None
    _columns: dict[str, np.ndarray] | None = None
    _ranges: np.ndarray | None = None

    def input_fields(self) -> dict[str, str]:
        return self.effort.input_fields()

    def check(self) -> None:
        if self.lam < 0:
            raise OptionError(f"--lam must be at least 0, got {self.lam}")
        self.influence.check()

    @staticmethod
    def part_context(context: RunContext) -> RunContext:
        """The influence part's context: its own state directory inside DEALRec's."""
        assert context.state_dir is not None
        return dataclasses.replace(context, state_dir=context.state_dir / "influence")

    def setup(self, context: RunContext) -> None:
        self.check()
        self._context = context
        self.influence.set_progress_display(self._progress_display)
        self.influence.setup(self.part_context(context))
        self.effort.setup(context)
        self._set_up = True

    def update(self, batch: pa.RecordBatch, round: int) -> tuple[Any, float, float]:
        """The influence part's update, and the shard's effort (saved; its minimum and maximum merged)."""
        if not self._set_up:
            raise RuntimeError("scorer dealrec: call setup() before update()")
        influence_partial = self.influence.update(batch, round)
        effort = self.effort.score_batch(batch)["effort"]
        state.save_shard_array(state.state_dir(self._context, self.name), "effort", batch, effort)
        return influence_partial, float(effort.min()), float(effort.max())

    def merge(self, partial: tuple[Any, float, float], other: tuple[Any, float, float]) -> tuple[Any, float, float]:
        return (
            self.influence.merge(partial[0], other[0]),
            min(partial[1], other[1]),
            max(partial[2], other[2]),
        )

    def finalize(self, merged: tuple[Any, float, float], round: int, context: RunContext) -> dict[str, Any]:
        """Finalize the influence part, gather the effort column, record both parts' ranges."""
        self.check()
        self.influence.set_progress_display(self._progress_display)
        influence_record = self.influence.finalize(merged[0], round, self.part_context(context))
        rows, shard_rows = state.input_rows(context, self.name)
        directory = state.state_dir(context, self.name)
        state.gather_shard_arrays(directory, "effort", rows, shard_rows, out=directory / "column-effort.npy")
        influence = labelled.load_columns(self.part_context(context), "influence", ["influence"])["influence"]
        ranges = np.array([float(np.min(influence)), float(np.max(influence)), merged[1], merged[2]])
        state.save_array(directory / "ranges.npy", ranges)
        state.remove_shard_arrays(directory, "effort")
        return {"influence": influence_record}

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        if self._columns is None or self._ranges is None:
            directory = state.state_dir(self._context, self.name)
            assert self._context is not None
            influence = labelled.load_columns(self.part_context(self._context), "influence", ["influence"])
            self._columns = {
                "influence": influence["influence"],
                "effort": state.load_array(directory / "column-effort.npy"),
            }
            self._ranges = state.load_array(directory / "ranges.npy", mmap=False)
        rows = state.rows_of(batch)
        influence = np.asarray(self._columns["influence"][rows], dtype=np.float64)
        effort = np.asarray(self._columns["effort"][rows], dtype=np.float64)
        low_i, high_i, low_e, high_e = (float(value) for value in self._ranges)
        return {
            "dealrec": scaled(influence, low_i, high_i) + self.lam * scaled(effort, low_e, high_e),
            "dealrec_influence": influence,
            "dealrec_effort": effort,
        }

    def provenance(self) -> dict[str, Any]:
        if not self._set_up:
            return {}
        return {"influence": self.influence.provenance(), "effort": self.effort.provenance()}

    def teardown(self) -> None:
        if self._set_up:
            self.influence.teardown()
            self.effort.teardown()
        self._set_up = False
        self._columns = None
        self._ranges = None


def scaled(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values mapped to [0, 1] by a known minimum and maximum; all zeros when they are equal (as `min_max`)."""
    return (values - low) / (high - low) if high > low else np.zeros_like(values)
