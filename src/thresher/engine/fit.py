"""The fitting pass of set-level scorers, as both engines run it: per-shard updates, merged, finalized, resumable.

Layout, under the score directory's cache::

    cache/fit/<key>/                     # one per fit: key = the scorer's fit_key(), the input digest, shard_rows
      round-0/partial-00012.pkl          # shard 12's partial state, saved as it arrives (not yet consolidated)
      round-0/state.pkl                  # the merged partial state and the shards it holds (consolidated)
      round-0/finalized-density.json     # written after `finalize`: what it recorded; the round is then done
      ...                                # the scorer's own files (shard-named arrays, the finalized state)

The engine (local or Ray) decides where `update` runs; everything here is what happens on the driver: which shards
a round still owes, folding each partial state in as it arrives (`merge` is associative and commutative, so the
order shards finish in does not matter), saving it so a killed pass resumes with the shards not yet updated, and
finalizing. Scorers with the same `fit_key()` in one run share a directory: the first (the leader) updates, every
one of them finalizes.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.atomic import staged_file
from thresher.cache import cache_key
from thresher.data.fields import ROW_COLUMN
from thresher.scorers.base import Scorer
from thresher.types import RunContext

FIT_DIR_NAME = "fit"
# Partial files folded into state.pkl at most this often (and at the end of a round): each arrival is one small file,
# the consolidated state is rewritten rarely, so a pass over 10⁵ shards writes O(shards) bytes, not O(shards²).
_CONSOLIDATE_EVERY = 64
_CONSOLIDATE_SECONDS = 30.0
_NOTHING = object()


def fit_dir(cache_dir: Path, scorer: Scorer, *, input_digest: str | None, shard_rows: int) -> Path:
    """The directory of a scorer's fit: keyed by its fit key, the input and the shard layout."""
    key = cache_key(FIT_DIR_NAME, {"fit": scorer.fit_key(), "input": input_digest, "shard_rows": shard_rows})
    return cache_dir / FIT_DIR_NAME / key


class RoundState:
    """One round of one fit: the shards updated so far and their merged partial state, kept on disk as they come."""

    def __init__(self, directory: Path, merge: Any) -> None:
        self.directory = directory
        self._merge = merge
        self.done: set[int] = set()
        self.rows: int | None = None  # the input's row count, once the whole round is updated
        self._merged: Any = _NOTHING
        self._unconsolidated: list[int] = []
        self._consolidated_at = time.monotonic()
        self._load()

    @property
    def complete(self) -> bool:
        return self.rows is not None

    @property
    def merged(self) -> Any:
        return None if self._merged is _NOTHING else self._merged

    def _load(self) -> None:
        state_path = self.directory / "state.pkl"
        if state_path.is_file():
            with open(state_path, "rb") as handle:
                state = pickle.load(handle)
            self.done = set(state["done"])
            self._merged = state["merged"]
            self.rows = state["rows"]
        # Partial states saved after the last consolidation (a killed run): fold them in now.
        for path in sorted(self.directory.glob("partial-*.pkl")):
            index = int(path.stem.split("-")[1])
            if index in self.done:
                path.unlink(missing_ok=True)
                continue
            with open(path, "rb") as handle:
                self._fold(index, pickle.load(handle))
            self._unconsolidated.append(index)

    def _fold(self, index: int, partial: Any) -> None:
        self._merged = partial if self._merged is _NOTHING else self._merge(self._merged, partial)
        self.done.add(index)

    def add(self, index: int, partial: Any) -> None:
        """Record shard `index`'s partial state: saved at once, folded into the merged state."""
        if index in self.done:
            return  # a retried shard that had already come back
        self.directory.mkdir(parents=True, exist_ok=True)
        with staged_file(self.directory / f"partial-{index:05d}.pkl", suffix=".tmp") as staging:
            staging.write_bytes(pickle.dumps(partial, protocol=pickle.HIGHEST_PROTOCOL))
        self._fold(index, partial)
        self._unconsolidated.append(index)
        due = time.monotonic() - self._consolidated_at >= _CONSOLIDATE_SECONDS
        if len(self._unconsolidated) >= _CONSOLIDATE_EVERY or due:
            self.consolidate()

    def consolidate(self) -> None:
        """Write the merged state and the shards it holds as one file, then drop the folded partial files."""
        self.directory.mkdir(parents=True, exist_ok=True)
        state = {"done": np.array(sorted(self.done), dtype=np.int64), "merged": self.merged, "rows": self.rows}
        with staged_file(self.directory / "state.pkl", suffix=".tmp") as staging:
            staging.write_bytes(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        for index in self._unconsolidated:
            (self.directory / f"partial-{index:05d}.pkl").unlink(missing_ok=True)
        self._unconsolidated = []
        self._consolidated_at = time.monotonic()

    def complete_with(self, rows: int) -> None:
        """Every shard of an input of `rows` rows is updated: save the round as complete."""
        self.rows = rows
        self.consolidate()

    def finalized(self, scorer_name: str) -> dict[str, Any] | None:
        """What `finalize` recorded for this scorer, or None when it has not finalized this round."""
        path = self.directory / f"finalized-{scorer_name}.json"
        if not path.is_file():
            return None
        record: dict[str, Any] = json.loads(path.read_text())
        return record

    def record_finalized(self, scorer_name: str, record: dict[str, Any]) -> None:
        with staged_file(self.directory / f"finalized-{scorer_name}.json", suffix=".tmp") as staging:
            staging.write_text(json.dumps(record, indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


@dataclass
class FitJob:
    """One set-level scorer's fit in a run: its context (with `state_dir`) and whether it leads its fit group."""

    scorer: Scorer
    context: RunContext
    leader: bool

    @property
    def state_dir(self) -> Path:
        assert self.context.state_dir is not None
        return self.context.state_dir

    def round(self, index: int) -> RoundState:
        return RoundState(self.state_dir / f"round-{index}", self.scorer.merge)

    def pending_rounds(self) -> list[int]:
        """Rounds this scorer has not finalized yet."""
        return [
            index for index in range(self.scorer.fit_rounds) if self.round(index).finalized(self.scorer.name) is None
        ]

    def fit_record(self) -> dict[str, Any]:
        """What every finalized round recorded, merged: the fit's part of the scorer's provenance."""
        record: dict[str, Any] = {}
        for index in range(self.scorer.fit_rounds):
            record.update(self.round(index).finalized(self.scorer.name) or {})
        return record


def scorer_context(context: RunContext, scorer: Scorer, *, shard_rows: int) -> RunContext:
    """The context a scorer is set up with: set-level scorers get their own state directory under the cache."""
    if scorer.fit_rounds == 0:
        return context
    if context.cache_dir is None:
        raise RuntimeError(f"scorer {scorer.name} fits on the whole input and needs a cache directory")
    directory = fit_dir(context.cache_dir, scorer, input_digest=context.input_digest, shard_rows=shard_rows)
    return dataclasses.replace(context, state_dir=directory, shard_rows=shard_rows)


def plan_fits(scorers: Sequence[Scorer], context: RunContext, *, shard_rows: int) -> list[FitJob]:
    """A fit job per set-level scorer; the first scorer of each shared state directory leads it."""
    jobs = []
    seen: set[Path] = set()
    for scorer in scorers:
        if scorer.fit_rounds == 0:
            continue
        job_context = scorer_context(context, scorer, shard_rows=shard_rows)
        assert job_context.state_dir is not None
        jobs.append(FitJob(scorer, job_context, leader=job_context.state_dir not in seen))
        seen.add(job_context.state_dir)
    return jobs


def finalize_round(job: FitJob, index: int, rows: int) -> dict[str, Any]:
    """Run the scorer's `finalize` for round `index` on the driver and record it (the round is then done)."""
    state = job.round(index)
    if not state.complete:
        raise RuntimeError(f"scorer {job.scorer.name}: round {index} was finalized before every shard was updated")
    context = dataclasses.replace(job.context, rows=rows)
    record = job.scorer.finalize(state.merged, index, context) or {}
    state.record_finalized(job.scorer.name, record)
    return record


def with_rows(batch: pa.RecordBatch, row_start: int) -> pa.RecordBatch:
    """A batch with its `row` column (input positions from `row_start`), added when missing."""
    if ROW_COLUMN in batch.schema.names:
        return batch
    rows = pa.array(np.arange(row_start, row_start + batch.num_rows, dtype=np.int64))
    return pa.RecordBatch.from_arrays([rows, *batch.columns], names=[ROW_COLUMN, *batch.schema.names])


def fit_and_score(
    scorer: Scorer,
    batches: Iterable[pa.RecordBatch],
    context: RunContext,
    *,
    shard_rows: int | None = None,
) -> dict[str, np.ndarray]:
    """Run a scorer's whole lifecycle in this process over in-memory batches, and give the scores of every row.

    For tests and notebooks: the batches (without a `row` column, positions are counted from 0) are cut into
    shards of `shard_rows` rows (default: one shard), fitted (set-level scorers; `context.cache_dir` is needed) and
    scored. The scorer is left set up, so `score_batch` can be called again on batches with `row` columns.
    """
    from thresher.engine.shards import rechunk

    table_batches = []
    row_start = 0
    for batch in batches:
        table_batches.append(with_rows(batch, row_start))
        row_start += batch.num_rows
    rows = row_start
    shard_rows = shard_rows or max(rows, 1)
    shards = list(rechunk(table_batches, shard_rows))
    if context.input_digest is None:
        from thresher.embeddings import ids_digest

        ids = [value for batch in table_batches for value in batch.column("id").to_pylist()]
        context = dataclasses.replace(context, input_digest=ids_digest(ids))
    context = dataclasses.replace(scorer_context(context, scorer, shard_rows=shard_rows), rows=rows)
    scorer.setup(context)
    job = FitJob(scorer, context, leader=True) if scorer.fit_rounds else None
    if job is not None:
        for index in job.pending_rounds():
            state = job.round(index)
            if not state.complete:
                for shard_index, shard in enumerate(shards):
                    if shard_index not in state.done:
                        state.add(shard_index, scorer.update(shard, index))
                state.complete_with(rows)
            finalize_round(job, index, rows)
    parts = [scorer.score_batch(shard) for shard in shards]
    if not parts:
        return {}
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
