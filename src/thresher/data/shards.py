"""Shards as descriptions: what a worker needs to read shard `i` of an input by itself, and the id census.

An input is cut into *pieces* a process can read on its own: byte ranges of a JSON Lines file (a piece owns the
lines that start inside it), the row groups of a Parquet file, the Arrow files of a saved Hugging Face dataset.
Counting each piece's rows (in parallel) places every piece in the input, so shard `i` (input rows
`[i·shard_rows, (i+1)·shard_rows)`, the same as the local engine's) becomes a `ShardSource`: a list of spans
(piece, rows to skip, rows to take, where to seek), a few hundred bytes that the driver sends instead of the rows.
Compressed JSON Lines and CSV have no such pieces (a gzip stream cannot be entered in the middle; a CSV field may
hold a newline, so a byte offset cannot be trusted without reading from the start): their shards are read by
the driver.

Ids. Without `--id-field`, an example's id is `blake2b(text)[:16]-occurrence`, where `occurrence` counts the earlier
examples with the same text in the whole input. Read in parallel, a shard knows only its own rows, so a census
comes first: each shard's digests are counted (`census_counts`, on the workers), then `occurrence_offsets` gives
every shard, for each digest it holds that earlier shards hold too, how many times they hold it: an exclusive
prefix sum over shards in shard order, computed digest bucket by digest bucket so memory stays one bucket's worth.
A shard's reader starts its occurrence counter from those offsets (`ContentIdAssigner.starting_from`) and then
counts its own rows in order, which gives exactly the ids one sequential pass gives. With `--id-field`, the same
census on the ids' digests finds an id that an earlier shard holds: a duplicate id, reported at its line.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from thresher.atomic import staged_file

MARK_ROWS = 4096  # a piece's row count also records where every MARK_ROWS-th row starts, so spans seek near it


@dataclass(frozen=True)
class Piece:
    """A part of the input a worker can read on its own: a byte range, a Parquet row group, an Arrow file.

    `file` is a local path or URL. JSON Lines: bytes `[start, stop)` (the lines starting there). Parquet: row group
    `start`. HF: the whole Arrow file.
    """

    index: int
    file: str
    start: int = 0
    stop: int = 0


@dataclass(frozen=True)
class PieceCount:
    """A piece's rows and physical lines (JSON Lines: blank lines included), and seek marks.

    `marks` holds (rows before, byte offset, lines before) for the piece's first row and every `MARK_ROWS`-th row.
    """

    rows: int
    lines: int = 0
    marks: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class Span:
    """Rows `[skip, skip + take)` counted from a seek point of one piece; for JSON Lines the seek point is the
    byte `offset`, whose line is `first_line` (1-based); for row groups and Arrow files it is the piece's start."""

    piece: Piece
    skip: int
    take: int
    offset: int = 0
    first_line: int = 1


@dataclass(frozen=True)
class ShardSource:
    """What reading shard `index` takes: its rows `[row_start, row_start + rows)` as spans of pieces, and the
    census file of occurrence offsets for its ids (None when no earlier shard shares a digest with it)."""

    index: int
    row_start: int
    rows: int
    spans: tuple[Span, ...]
    offsets: str | None = None


def plan_shards(pieces: Sequence[Piece], counts: Sequence[PieceCount], shard_rows: int) -> list[ShardSource]:
    """Cut counted pieces into shards of `shard_rows` rows (the last may be shorter), in input order."""
    piece_starts = np.concatenate([[0], np.cumsum([count.rows for count in counts])]).astype(np.int64)
    line_starts = np.concatenate([[1], 1 + np.cumsum([count.lines for count in counts])]).astype(np.int64)
    rows = int(piece_starts[-1])
    shards = []
    for index in range(math.ceil(rows / shard_rows)):
        first, last = index * shard_rows, min((index + 1) * shard_rows, rows)
        spans = []
        for number, (piece, count) in enumerate(zip(pieces, counts, strict=True)):
            begin, end = int(piece_starts[number]), int(piece_starts[number + 1])
            if end <= first or begin >= last or count.rows == 0:
                continue
            local_first, local_last = max(first - begin, 0), min(last - begin, count.rows)
            mark_rows, offset, mark_lines = 0, 0, 0
            for mark in count.marks:
                if mark[0] <= local_first:
                    mark_rows, offset, mark_lines = mark
            spans.append(
                Span(
                    piece,
                    skip=local_first - mark_rows,
                    take=local_last - local_first,
                    offset=offset,
                    first_line=int(line_starts[number]) + mark_lines,
                )
            )
        shards.append(ShardSource(index, first, last - first, tuple(spans)))
    return shards


def even_byte_ranges(size: int, piece_bytes: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of about `piece_bytes` covering a file of `size` bytes (one range for an empty file)."""
    count = max(1, math.ceil(size / max(piece_bytes, 1)))
    bounds = [round(size * k / count) for k in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


# -------------------------------------------------------------------------------------------- the id census


def id_digest(value: object) -> int:
    """A 64-bit digest of an id value and its type (so 1 and "1" differ), for finding duplicate ids."""
    kind = "i" if isinstance(value, int) else "s"
    return int.from_bytes(hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=8).digest(), "big")


def content_digests(ids: Sequence[str]) -> np.ndarray:
    """The 64-bit text digests inside content ids (`<16 hex>-<occurrence>`), uint64."""
    return np.array([int(value[:16], 16) for value in ids], dtype=np.uint64)


def census_counts(digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A shard's distinct digests (sorted) and how many of its rows have each."""
    unique, counts = np.unique(np.asarray(digests, dtype=np.uint64), return_counts=True)
    return unique, counts.astype(np.int64)


def save_counts(path: Path, digests: np.ndarray, counts: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(path, suffix=".npz") as staging, open(staging, "wb") as handle:
        np.savez(handle, digests=digests, counts=counts)


def load_counts(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as stored:
        return stored["digests"], stored["counts"]


@dataclass
class Offsets:
    """For one shard: digests that earlier shards hold, and how many rows of earlier shards hold each."""

    digests: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def occurrence_offsets(census: Sequence[Path], out_dir: Path, *, bucket_entries: int = 1 << 23) -> list[Path | None]:
    """The exclusive prefix over shards of each digest's count: per shard, a file of its non-zero offsets.

    Args:
        census: each shard's `save_counts` file, in shard order.
        out_dir: where the offsets files go (`offsets-00012.npz`).
        bucket_entries: digests handled at once: the digest range is cut into equal buckets so that about this
            many (shard, digest) entries fall in each; memory is O(bucket_entries), however large the input.

    Returns:
        Per shard, its offsets file, or None when no earlier shard holds any of its digests.
    """
    sizes = []
    for path in census:
        with np.load(path) as stored:
            sizes.append(len(stored["digests"]))
    buckets = max(1, math.ceil(sum(sizes) / bucket_entries))
    edges = [k * 2**64 // buckets for k in range(buckets + 1)]
    found: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in census]
    for bucket in range(buckets):
        low, high = edges[bucket], edges[bucket + 1]
        parts_digests, parts_shards, parts_counts = [], [], []
        for shard, path in enumerate(census):
            digests, counts = load_counts(path)
            begin = int(np.searchsorted(digests, np.uint64(low), side="left")) if low > 0 else 0
            end = int(np.searchsorted(digests, np.uint64(high - 1), side="right")) if high < 2**64 else len(digests)
            if end > begin:
                parts_digests.append(digests[begin:end])
                parts_counts.append(counts[begin:end])
                parts_shards.append(np.full(end - begin, shard, dtype=np.int64))
        if not parts_digests:
            continue
        digests = np.concatenate(parts_digests)
        shards = np.concatenate(parts_shards)
        counts = np.concatenate(parts_counts)
        order = np.lexsort((shards, digests))  # by digest, then shard order
        digests, shards, counts = digests[order], shards[order], counts[order]
        running = np.cumsum(counts)
        first_of_digest = np.concatenate([[True], digests[1:] != digests[:-1]])
        start_total = np.maximum.accumulate(np.where(first_of_digest, running - counts, 0))
        prior = running - counts - start_total  # rows of earlier shards with this digest
        has_prior = prior > 0
        for shard in np.unique(shards[has_prior]):
            where = has_prior & (shards == shard)
            found[int(shard)].append((digests[where], prior[where]))
    paths: list[Path | None] = []
    for shard, parts in enumerate(found):
        if not parts:
            paths.append(None)
            continue
        path = out_dir / f"offsets-{shard:05d}.npz"
        save_counts(path, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        paths.append(path)
    return paths
