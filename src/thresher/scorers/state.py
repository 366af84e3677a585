"""Files of a set-level scorer's fitted state: shard-named arrays written by `update`, position-addressed columns.

Everything here lives under a scorer's `RunContext.state_dir` (one directory per fit, under the score directory's
cache, the same path on every worker). A shard's file is named by the first input row it covers, so it belongs to
one shard layout and a redone update simply replaces it; every file is written under a temporary name and renamed
(`thresher.atomic`), so a reader never sees half of one. Finalized per-row results are plain `.npy` columns in
input order, read as memory maps and indexed by the rows' positions (`rows_of(batch)`), never by id.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from thresher.atomic import staged_file
from thresher.data.fields import ROW_COLUMN
from thresher.types import RunContext


def rows_of(batch: pa.RecordBatch) -> np.ndarray:
    """The input positions (0-based rows) of a batch's examples, int64."""
    if ROW_COLUMN not in batch.schema.names:
        raise RuntimeError("set-level scorers address examples by position: the batch needs its `row` column")
    return batch.column(ROW_COLUMN).to_numpy().astype(np.int64, copy=False)


def state_dir(context: RunContext | None, scorer: str) -> Path:
    """The scorer's state directory, created; a RuntimeError when the engine gave none."""
    if context is None or context.state_dir is None:
        raise RuntimeError(f"scorer {scorer}: a set-level scorer runs through an engine that gives it a state_dir")
    context.state_dir.mkdir(parents=True, exist_ok=True)
    return context.state_dir


def input_rows(context: RunContext, scorer: str) -> tuple[int, int]:
    """(rows of the whole input, rows per shard) from the engine's context."""
    if context.rows is None or context.shard_rows is None:
        raise RuntimeError(f"scorer {scorer}: the engine did not say how many rows the input has")
    return context.rows, context.shard_rows


def save_array(path: Path, array: np.ndarray) -> None:
    """Write one `.npy` file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(path, suffix=".npy") as staging, open(staging, "wb") as handle:
        np.save(handle, np.asarray(array), allow_pickle=False)


def load_array(path: Path, *, mmap: bool = True) -> np.ndarray:
    """Read a `.npy` file written by `save_array`, as a read-only memory map unless `mmap` is false."""
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def shard_path(directory: Path, name: str, row_start: int) -> Path:
    """Where the shard starting at input row `row_start` keeps its array `name`."""
    return directory / f"{name}-{row_start:012d}.npy"


def save_shard_array(directory: Path, name: str, batch: pa.RecordBatch, array: np.ndarray) -> Path:
    """Write a shard's per-row array (`len(array) == batch.num_rows`), named by the shard's first row."""
    if len(array) != batch.num_rows:
        raise ValueError(f"{name}: {len(array)} values for a shard of {batch.num_rows} rows")
    path = shard_path(directory, name, int(rows_of(batch)[0]))
    save_array(path, array)
    return path


def shard_starts(rows: int, shard_rows: int) -> Iterator[tuple[int, int]]:
    """(first row, rows) of every shard of an input of `rows` rows."""
    for index in range(math.ceil(rows / shard_rows)):
        start = index * shard_rows
        yield start, min(shard_rows, rows - start)


def gather_shard_arrays(directory: Path, name: str, rows: int, shard_rows: int, out: Path | None = None) -> np.ndarray:
    """Every shard's array `name`, in input order: one (rows, ...) array, as a memory map at `out` when given.

    Copies shard by shard, so memory stays one shard's array (plus the result, unless it is a memory map). A
    complete `out` from an earlier call is read instead (it is written under a temporary name and renamed, so the
    shard files may be removed once it exists). Raises RuntimeError when a shard's file is missing or has the wrong
    length (an update that never finished).
    """
    if out is not None and out.is_file():
        return load_array(out)
    parts = []
    for start, count in shard_starts(rows, shard_rows):
        path = shard_path(directory, name, start)
        if not path.is_file():
            raise RuntimeError(f"{path}: missing; the fitting pass did not update the shard at row {start}")
        part = load_array(path)
        if len(part) != count:
            raise RuntimeError(f"{path}: {len(part)} rows, expected {count}")
        parts.append((start, path))
    if not parts:
        return np.zeros(0)
    first = load_array(parts[0][1])
    shape = (rows, *first.shape[1:])
    if out is None:
        result = np.empty(shape, dtype=first.dtype)
        for start, path in parts:
            part = load_array(path)
            result[start : start + len(part)] = part
        return result
    out.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(out, suffix=".npy") as staging:
        gathered = np.lib.format.open_memmap(staging, mode="w+", dtype=first.dtype, shape=shape)
        for start, path in parts:
            part = load_array(path)
            gathered[start : start + len(part)] = part
        gathered.flush()
        del gathered
    return load_array(out)


def remove_shard_arrays(directory: Path, name: str) -> None:
    """Delete every shard file of array `name` (once gathered into a column)."""
    for path in directory.glob(f"{name}-" + "[0-9]" * 12 + ".npy"):
        path.unlink(missing_ok=True)


class IdsByRow:
    """Ids of some examples, looked up by input row: the kept examples that dedup scorers' duplicates point at.

    Stored as two aligned arrays (sorted rows, ids as strings), so memory is one entry per example listed, not
    per input row.
    """

    def __init__(self, rows: np.ndarray, ids: np.ndarray) -> None:
        order = np.argsort(rows, kind="stable")
        self.rows = np.asarray(rows, dtype=np.int64)[order]
        self.ids = np.asarray(ids, dtype=str)[order] if len(ids) else np.zeros(0, dtype=str)

    def save(self, path: Path) -> None:
        save_array(path.with_name(path.name + ".rows.npy"), self.rows)
        save_array(path.with_name(path.name + ".ids.npy"), self.ids)

    @classmethod
    def load(cls, path: Path) -> IdsByRow:
        rows = load_array(path.with_name(path.name + ".rows.npy"), mmap=False)
        ids = load_array(path.with_name(path.name + ".ids.npy"), mmap=False)
        return cls(rows, ids)

    def lookup(self, rows: np.ndarray) -> np.ndarray:
        """The ids of `rows` (each must be listed), as an object array of str."""
        rows = np.asarray(rows, dtype=np.int64)
        where = np.searchsorted(self.rows, rows)
        where = np.minimum(where, max(len(self.rows) - 1, 0))
        if len(rows) and (len(self.rows) == 0 or not np.array_equal(self.rows[where], rows)):
            raise RuntimeError("an example's representative row has no recorded id")
        return self.ids[where].astype(object)


def ids_as_strings(batch: pa.RecordBatch) -> np.ndarray:
    """A batch's ids as a str array (integer ids as their decimal text), as dedup columns record them."""
    return np.asarray([str(value) for value in batch.column("id").to_pylist()], dtype=str)
