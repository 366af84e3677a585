"""Shard descriptions for engines whose workers read the input themselves (`thresher.data.shards`).

`plan_sources` runs the three steps that turn an input into `ShardSource`s with the same rows and ids as the local
engine's sequential pass: count each piece's rows (in parallel), cut the pieces into shards, and take the id census
(each shard's digest counts, in parallel, then the exclusive prefix over shards on the driver). The work is given
to a `map_tasks(function, arguments)` callable, so the Ray engine runs it on the cluster and a test can run it in
this process. The plan is saved under the score directory's cache (`cache/shards/<input>-r<shard_rows>/`), so a
resumed run reads it instead of counting again.

Errors in the input surface as the sequential reader raises them, at the first bad line in file order: every
census task reports its shard's first error instead of raising, and the driver raises the earliest one, after
checking that the types of ids and labels agree from shard to shard and that no id repeats an earlier shard's.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from thresher.atomic import staged_file
from thresher.data.fields import ID_COLUMN
from thresher.data.readers import DEFAULT_PIECE_BYTES, Dataset, ShardCensus
from thresher.data.shards import (
    Offsets,
    Piece,
    PieceCount,
    ShardSource,
    census_counts,
    content_digests,
    id_digest,
    load_counts,
    occurrence_offsets,
    plan_shards,
    save_counts,
)
from thresher.errors import InputError

SHARDS_DIR_NAME = "shards"
_PLAN_VERSION = 1

MapTasks = Callable[[Callable[..., Any], Sequence[tuple[Any, ...]]], list[Any]]
"""`map_tasks(function, arguments)`: `[function(*args) for args in arguments]`, wherever it runs them."""


def map_here(function: Callable[..., Any], arguments: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Run the tasks in this process, in order."""
    return [function(*args) for args in arguments]


def count_piece(dataset: Dataset, piece: Piece) -> PieceCount:
    """A task: the rows of one piece."""
    return dataset.count_piece(piece)


def take_census(dataset: Dataset, source: ShardSource, path: str) -> ShardCensus | InputError:
    """A task: read a shard without offsets, save its digest counts at `path`; its summary, or its first error."""
    try:
        batch, summary = dataset.census(source)
    except InputError as error:
        return error
    values = batch.column(ID_COLUMN).to_pylist()
    if dataset.fields.id is None:
        digests = content_digests(values)
    else:
        import numpy as np

        digests = np.array([id_digest(value) for value in values], dtype=np.uint64)
    save_counts(Path(path), *census_counts(digests))
    return summary


def read_source(dataset: Dataset, source: ShardSource) -> Any:
    """Read one planned shard (on whichever process holds it): the example batch the local engine would give."""
    offsets = None
    if source.offsets is not None:
        digests, counts = load_counts(source.offsets)
        offsets = Offsets(digests, counts)
    return dataset.read_shard(source, offsets)


def plan_sources(
    dataset: Dataset,
    shard_rows: int,
    work_dir: Path,
    map_tasks: MapTasks = map_here,
    *,
    piece_bytes: int = DEFAULT_PIECE_BYTES,
) -> list[ShardSource] | None:
    """The shards of `dataset` as descriptions workers can read, or None when it has no pieces (compressed JSON
    Lines, CSV: the driver reads those).

    `work_dir` (shared by every node) keeps the census files and the finished plan.
    """
    plan_path = work_dir / "plan.pkl"
    if plan_path.is_file():
        with open(plan_path, "rb") as handle:
            stored = pickle.load(handle)
        if stored.get("version") == _PLAN_VERSION and stored.get("piece_bytes") == piece_bytes:
            sources: list[ShardSource] = stored["sources"]
            return sources
    pieces = dataset.pieces(piece_bytes)
    if pieces is None:
        return None
    counts = map_tasks(count_piece, [(dataset, piece) for piece in pieces])
    planned = plan_shards(pieces, counts, shard_rows)
    work_dir.mkdir(parents=True, exist_ok=True)
    census_paths = [work_dir / f"census-{source.index:05d}.npz" for source in planned]
    results = map_tasks(take_census, [(dataset, s, str(p)) for s, p in zip(planned, census_paths, strict=True)])
    first_error = next((index for index, result in enumerate(results) if isinstance(result, InputError)), None)
    # Only the shards before the first one that failed can hold an earlier error than its own.
    valid = len(results) if first_error is None else first_error
    # Type changes between shards: what a sequential pass would report at the first row of the shard that changes.
    for index in range(1, valid):
        error = dataset.census_error(results[0], results[index])
        if error is not None:
            raise error
    offsets = occurrence_offsets(census_paths[:valid], work_dir)
    sources = [
        dataclasses.replace(source, offsets=str(path) if path is not None else None)
        for source, path in zip(planned[:valid], offsets, strict=True)
    ]
    if dataset.fields.id is not None:
        # An id that an earlier shard holds: reading the first such shard raises the duplicate at its line.
        repeated = next((source for source in sources if source.offsets is not None), None)
        if repeated is not None:
            read_source(dataset, repeated)
    if first_error is not None:
        raise results[first_error]
    with staged_file(plan_path, suffix=".tmp") as staging:
        staging.write_bytes(pickle.dumps({"version": _PLAN_VERSION, "piece_bytes": piece_bytes, "sources": sources}))
    for path in census_paths:
        path.unlink(missing_ok=True)
    return sources


def shards_dir(cache_dir: Path, input_digest: str | None, shard_rows: int) -> Path:
    """Where an input's shard plan lives under the score directory's cache."""
    return cache_dir / SHARDS_DIR_NAME / f"{input_digest or 'input'}-r{shard_rows}"
