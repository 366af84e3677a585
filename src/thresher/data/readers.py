"""Datasets (JSON Lines, Parquet, CSV, Hugging Face dirs; local paths or URLs), streamed as validated example batches.

`open_dataset(path, fields)` gives a `Dataset` whose `iter_examples()` yields Arrow record batches with the
columns `row`, `id`, `text`, (when a label field is named) `label` and (when named) `prompt` and `response`, in
file order, and whose `write_subset(keep, out)` writes the kept examples with all their original fields.

For the Ray engine a dataset also cuts itself into `pieces()` that a worker reads on its own (`thresher.data.shards`):
`count_piece` counts one, and `read_shard(source)` reads one shard from them with exactly the validation and the
ids of a sequential pass (`iter_examples`), given the census offsets of its content ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from thresher.data import storage
from thresher.data.fields import ID_COLUMN, LABEL_COLUMN, ROW_COLUMN, TEXT_COLUMN, Fields
from thresher.data.formats import DataFormat, detect_format, output_format
from thresher.data.ids import ContentIdAssigner
from thresher.data.masks import KeepChunks, MaskCursor
from thresher.data.shards import MARK_ROWS, Offsets, Piece, PieceCount, ShardSource, even_byte_ranges, id_digest
from thresher.data.storage import Location
from thresher.data.streams import open_input, read_errors_as_input_errors
from thresher.data.writers import check_output_path, write_batches, write_lines
from thresher.errors import InputError

DEFAULT_BATCH_ROWS = 4096
_HASH_CHUNK_BYTES = 1 << 20
_CSV_BLOCK_BYTES = 1 << 20
DEFAULT_PIECE_BYTES = 64 << 20  # JSON Lines pieces for parallel reading
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MISSING = object()


def open_dataset(path: Location, fields: Fields | None = None) -> Dataset:
    """Give the dataset at `path` (a local path or a URL; format inferred), checking up front that it exists and has
    the named fields."""
    fields = fields or Fields()
    location: Location = path if storage.is_url(path) else Path(path)
    with read_errors_as_input_errors(location, "the input"):
        if not storage.exists(location):
            raise InputError(location, "no such file or directory")
        detected = detect_format(location)
        if detected.format != "hf" and not storage.is_file(location):
            raise InputError(location, "is not a regular file")
    if isinstance(location, Path) and not os.access(location, os.R_OK):
        raise InputError(location, "permission denied")
    dataset_class = {"jsonl": JsonlDataset, "parquet": ParquetDataset, "csv": CsvDataset, "hf": HfDataset}
    dataset = dataset_class[detected.format](location, fields, detected.compression)
    dataset.check_fields()
    return dataset


@dataclass
class ShardCensus:
    """What reading a shard for the id census found: its rows, and the type and place of its first id and label
    (so the driver can check that every shard's types agree, as one sequential pass does)."""

    rows: int
    first_line: int | None
    first_row: int
    id_type: str | None = None
    id_value: Any = None
    label_type: str | None = None
    label_value: Any = None


class Dataset(ABC):
    """An input dataset: streams validated example batches, fingerprints its bytes, writes kept subsets."""

    format: str = ""

    def __init__(self, path: Location, fields: Fields, compression: str | None = None) -> None:
        self.path: Location = path if storage.is_url(path) else Path(path)
        self.fields = fields
        self.compression = compression
        self._num_rows: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_num_rows": None}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r}, fields={self.fields!r})"

    @abstractmethod
    def iter_examples(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Yield batches of at most `batch_rows` examples in file order: columns row, id, text[, label]."""

    @abstractmethod
    def _count_rows(self) -> int: ...

    @abstractmethod
    def _kept_batches(self, keep: KeepChunks, rows: RowRange) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """Give the schema of all original fields and the batches of the kept rows of `rows`, in file order."""

    @abstractmethod
    def check_fields(self) -> None:
        """Raise `InputError` when the named text, id or label field is plainly absent (where cheap to tell)."""

    def num_rows(self) -> int:
        """Give the number of examples in the input (a streaming pass the first time for row-oriented files)."""
        if self._num_rows is None:
            self._num_rows = self._count_rows()
        return self._num_rows

    def data_files(self) -> list[Location]:
        """Give the files whose bytes make up the dataset, in the order they are hashed."""
        return [self.path]

    def fingerprint(self) -> dict[str, Any]:
        """Give a fingerprint: path, format, size, a blake2b digest, and the fields that identify the examples.

        A local input is hashed byte for byte. A URL (object storage) is identified by each file's size and
        modification time instead (`blake2b` is then `stat:` + a digest of them), so the driver never downloads a
        corpus to fingerprint it.
        """
        digest = hashlib.blake2b()
        size_bytes = 0
        with read_errors_as_input_errors(self.path, "the data to fingerprint it"):
            if storage.is_url(self.path):
                for data_file in self.data_files():
                    file_info = storage.info(data_file)
                    size_bytes += int(file_info.size or 0)
                    digest.update(f"{data_file}\x00{file_info.size}\x00{file_info.mtime_ns}\x00".encode())
                blake2b = "stat:" + digest.hexdigest()
            else:
                for data_file in self.data_files():
                    with open(data_file, "rb") as handle:
                        while chunk := handle.read(_HASH_CHUNK_BYTES):
                            digest.update(chunk)
                            size_bytes += len(chunk)
                blake2b = digest.hexdigest()
        path = self.path if storage.is_url(self.path) else str(Path(self.path).absolute())
        return {
            "path": str(path),
            "format": self.format,
            "size_bytes": size_bytes,
            "blake2b": blake2b,
            "fields": self.fields.identity(),
        }

    # -- parallel reading -----------------------------------------------------------------------------------------

    def pieces(self, piece_bytes: int = DEFAULT_PIECE_BYTES) -> list[Piece] | None:
        """Parts of the input a worker can read on its own, in input order; None when the input has none (then
        the driver reads its shards)."""
        return None

    def count_piece(self, piece: Piece) -> PieceCount:
        """The rows (and lines, and seek marks) of one piece."""
        raise NotImplementedError(f"{self.format} inputs are not read in pieces")

    def read_shard(self, source: ShardSource, offsets: Offsets | None = None) -> pa.RecordBatch:
        """Shard `source` as one example batch, validated and with the ids a sequential pass gives it.

        `offsets` are the census's counts of this shard's digests in earlier shards (`thresher.data.shards`): they
        seed the content-id occurrence counter, or, with an id field, are the ids an earlier shard already holds.
        """
        batches = list(self._shard_examples(source, _ExampleChecker(self.path, self.fields, offsets)))
        return _one_batch(batches, self._empty_batch())

    def census(self, source: ShardSource) -> tuple[pa.RecordBatch, ShardCensus]:
        """Read a shard for the id census (no offsets): its examples and the types its first row has."""
        checker = _ExampleChecker(self.path, self.fields, None)
        lines: list[int] = []
        batch = _one_batch(list(self._shard_examples(source, checker, lines)), self._empty_batch())
        first_line = lines[0] if lines else None
        summary = ShardCensus(batch.num_rows, first_line, source.row_start + 1)
        if batch.num_rows:
            if self.fields.id is not None:
                summary.id_value = batch.column(ID_COLUMN)[0].as_py()
                summary.id_type = _type_name(_python_type(summary.id_value))
            if self.fields.label is not None:
                summary.label_value = batch.column(LABEL_COLUMN)[0].as_py()
                summary.label_type = _type_name(_python_type(summary.label_value))
        return batch, summary

    def census_error(self, earlier: ShardCensus, later: ShardCensus) -> InputError | None:
        """The error a sequential pass would raise at `later`'s first row if its types differ from `earlier`'s."""
        for role, field, before, value, after in (
            ("id", self.fields.id, earlier.id_type, later.id_value, later.id_type),
            ("label", self.fields.label, earlier.label_type, later.label_value, later.label_type),
        ):
            if field is not None and before is not None and after is not None and before != after:
                where = {"line": later.first_line} if later.first_line is not None else {"row": later.first_row}
                message = f"{role} is {_kind_name(value)} but earlier {role}s are {before}s"
                return InputError(self.path, message, field=field, **where)
        return None

    def _shard_examples(
        self, source: ShardSource, checker: _ExampleChecker, lines: list[int] | None = None
    ) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError(f"{self.format} inputs are not read in pieces")

    def _empty_batch(self) -> pa.RecordBatch:
        checker = _ExampleChecker(self.path, self.fields, None)
        id_type = pa.string() if self.fields.id is None else pa.int64()
        texts = {column: pa.array([], pa.string()) for column, _ in self.fields.text_columns()}
        labels = pa.array([], pa.string()) if self.fields.label is not None else None
        return checker.batch(0, pa.array([], id_type), texts, labels)

    def write_subset(self, keep: np.ndarray, out: str | Path, out_format: str | None = None) -> int:
        """Write the examples where `keep` is true, with all their original fields, to `out`; give rows written.

        Parameters
        ----------
        keep:
            Boolean mask with one entry per example, in file order.
        out:
            Output path; its suffix names the format unless `out_format` does. With no known suffix, an HF
            input is written as an HF dataset directory.
        out_format:
            One of `jsonl`, `parquet`, `csv`, `hf`, overriding the suffix.

        Returns
        -------
        The number of rows written. The output appears only when complete (written under a temporary name).
        """
        keep = np.asarray(keep)
        if keep.dtype != np.bool_ or keep.ndim != 1:
            raise ValueError(f"keep must be a 1-D boolean mask, got dtype {keep.dtype} and shape {keep.shape}")
        if len(keep) != self.num_rows():
            raise ValueError(f"keep has {len(keep)} entries but {self.path} holds {self.num_rows()} examples")
        return self.write_selected(lambda: [keep], out, out_format)

    def write_selected(
        self,
        keep: KeepChunks,
        out: str | Path,
        out_format: str | None = None,
        *,
        rows: tuple[int, int] | None = None,
    ) -> int:
        """Write the examples a chunked keep mask selects, like `write_subset`, never holding a mask of every row.

        Parameters
        ----------
        keep:
            Called (once, or twice when converting JSON Lines) for an iterator over boolean arrays that cover the
            rows written, in file order, back to back, in chunks of any size (`thresher.data.masks`).
        out, out_format:
            As for `write_subset`.
        rows:
            Write only input rows [start, stop), which the mask then covers (a part of a parallel write).

        Raises
        ------
        ValueError
            When the mask covers fewer or more rows than the input (or `rows`) holds.
        """
        out = Path(out)
        target = output_format(out, out_format, self.format)
        check_output_path(out, target, None if storage.is_url(self.path) else Path(self.path))
        return self._write(keep, out, target, RowRange(*rows) if rows is not None else RowRange())

    def _write(self, keep: KeepChunks, out: Path, target: DataFormat, rows: RowRange) -> int:
        schema, batches = self._kept_batches(keep, rows)
        return write_batches(batches, schema, out, target)


@dataclass(frozen=True)
class RowRange:
    """Input rows [start, stop); stop None: to the end."""

    start: int = 0
    stop: int | None = None

    def ends_before(self, row: int) -> bool:
        return self.stop is not None and row >= self.stop


class _ExampleChecker:
    """Validates text, id and label values and assembles example batches; holds the state across a file (or a shard,
    started from the census's offsets)."""

    def __init__(self, path: Location, fields: Fields, offsets: Offsets | None = None) -> None:
        self.path = path
        self.fields = fields
        self.content_ids: ContentIdAssigner | None = None
        if fields.id is None:
            seeded = offsets is not None and len(offsets.digests)
            self.content_ids = (
                ContentIdAssigner.starting_from(offsets.digests, offsets.counts) if seeded else ContentIdAssigner()
            )
        # With an id field, the digests of ids that earlier shards hold: each is a duplicate here.
        self.earlier_ids: set[int] = set(offsets.digests.tolist()) if fields.id is not None and offsets else set()
        self.id_type: pa.DataType | None = None
        self.label_type: pa.DataType | None = None
        self._seen_ids: set[int | str] = set()

    def error(self, message: str, where: dict[str, int], field: str | None) -> InputError:
        return InputError(self.path, message, field=field, **where)

    def text(self, value: Any, where: dict[str, int], column: str = TEXT_COLUMN) -> str:
        """A text-like value (the text, a prompt or a response), checked: a non-empty UTF-8 string."""
        field = dict(self.fields.text_columns())[column]
        role = column  # "text", "prompt" or "response"
        if value is _MISSING:
            raise self.error(f"the {role} field is missing", where, field)
        if value is None:
            raise self.error(f"{role} is null", where, field)
        if not isinstance(value, str):
            raise self.error(f"{role} must be a string, found {_kind_name(value)}", where, field)
        if not value.strip():
            raise self.error(f"{role} is empty", where, field)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise self.error(f"{role} is not valid UTF-8 ({error.reason})", where, field) from error
        return value

    def identifier(self, value: Any, where: dict[str, int]) -> int | str:
        field = self.fields.id
        if value is _MISSING:
            raise self.error("the id field is missing", where, field)
        if value is None:
            raise self.error("id is null", where, field)
        value_type = _python_type(value)
        if value_type not in (pa.int64(), pa.string()):
            raise self.error(f"id must be an integer or a string, found {_kind_name(value)}", where, field)
        if isinstance(value, str) and not value:
            raise self.error("id is empty", where, field)
        if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
            raise self.error(f"id {value} does not fit in a 64-bit integer", where, field)
        if self.id_type is None:
            self.id_type = value_type
        elif value_type != self.id_type:
            raise self.error(
                f"id is {_kind_name(value)} but earlier ids are {_type_name(self.id_type)}s", where, field
            )
        if value in self._seen_ids or (self.earlier_ids and id_digest(value) in self.earlier_ids):
            raise self.error(f"duplicate id {value!r}", where, field)
        self._seen_ids.add(value)
        return value

    def label(self, value: Any, where: dict[str, int]) -> Any:
        field = self.fields.label
        if value is _MISSING:
            raise self.error("the label field is missing", where, field)
        if value is None:
            raise self.error("label is null", where, field)
        value_type = _python_type(value)
        if value_type is None:
            raise self.error(f"label must be a string or a number, found {_kind_name(value)}", where, field)
        if self.label_type is None:
            self.label_type = value_type
        elif value_type != self.label_type:
            raise self.error(
                f"label is {_kind_name(value)} but earlier labels are {_type_name(self.label_type)}s", where, field
            )
        return value

    def batch(
        self, first_row: int, ids: pa.Array, texts: dict[str, pa.Array], labels: pa.Array | None
    ) -> pa.RecordBatch:
        """An example batch: row, id, text[, label][, prompt][, response]."""
        text = texts[TEXT_COLUMN]
        rows = pa.array(np.arange(first_row, first_row + len(text), dtype=np.int64))
        columns = [rows, ids, text]
        names = [ROW_COLUMN, ID_COLUMN, TEXT_COLUMN]
        if labels is not None:
            columns.append(labels)
            names.append(LABEL_COLUMN)
        for column, _ in self.fields.text_columns()[1:]:
            columns.append(texts[column])
            names.append(column)
        return pa.RecordBatch.from_arrays(columns, names=names)


def _one_batch(batches: list[pa.RecordBatch], empty: pa.RecordBatch) -> pa.RecordBatch:
    if not batches:
        return empty
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


class JsonlDataset(Dataset):
    """JSON Lines (optionally gzip or zstd): one object per line; blank lines are skipped, not examples."""

    format = "jsonl"

    def check_fields(self) -> None:
        """Do nothing: each line may hold different keys, so fields are checked line by line while reading."""

    def iter_examples(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        _check_batch_rows(batch_rows)
        checker = _ExampleChecker(self.path, self.fields)
        yield from self._examples(self._lines(), 0, batch_rows, checker)

    def _examples(
        self,
        lines: Iterable[tuple[int, bytes]],
        first_row: int,
        batch_rows: int,
        checker: _ExampleChecker,
        line_numbers: list[int] | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Example batches of (line number, raw line) pairs; `line_numbers` collects the first one, if given."""
        text_columns = self.fields.text_columns()
        ids: list[Any] = []
        texts: dict[str, list[str]] = {column: [] for column, _ in text_columns}
        labels: list[Any] = []
        for line_number, raw in lines:
            if line_numbers is not None and not line_numbers:
                line_numbers.append(line_number)
            record = self._parse(line_number, raw)
            where = {"line": line_number}
            for column, field in text_columns:
                texts[column].append(checker.text(record.get(field, _MISSING), where, column))
            if self.fields.id is not None:
                ids.append(checker.identifier(record.get(self.fields.id, _MISSING), where))
            if self.fields.label is not None:
                labels.append(checker.label(record.get(self.fields.label, _MISSING), where))
            if len(texts[TEXT_COLUMN]) == batch_rows:
                yield self._batch(checker, first_row, ids, texts, labels)
                first_row += batch_rows
                ids, labels = [], []
                texts = {column: [] for column, _ in text_columns}
        if texts[TEXT_COLUMN]:
            yield self._batch(checker, first_row, ids, texts, labels)

    def _batch(
        self,
        checker: _ExampleChecker,
        first_row: int,
        ids: list[Any],
        texts: dict[str, list[str]],
        labels: list[Any],
    ) -> pa.RecordBatch:
        if self.fields.id is None:
            assert checker.content_ids is not None
            ids = checker.content_ids.assign_many(texts[TEXT_COLUMN])  # a whole batch at once: vectorised
        id_type = pa.string() if self.fields.id is None else checker.id_type
        label_array = pa.array(labels, type=checker.label_type) if self.fields.label is not None else None
        text_arrays = {column: pa.array(values, type=pa.string()) for column, values in texts.items()}
        return checker.batch(first_row, pa.array(ids, type=id_type), text_arrays, label_array)

    # -- pieces: byte ranges of an uncompressed file; a piece owns the lines that start inside it ---------------

    def pieces(self, piece_bytes: int = DEFAULT_PIECE_BYTES) -> list[Piece] | None:
        if self.compression is not None:
            return None  # a compressed stream cannot be entered in the middle: the driver reads it
        with read_errors_as_input_errors(self.path, "the file"):
            size = int(storage.info(self.path).size or 0)
        ranges = even_byte_ranges(size, piece_bytes)
        return [Piece(index, str(self.path), start, stop) for index, (start, stop) in enumerate(ranges)]

    def _piece_lines(self, piece: Piece, offset: int | None = None) -> Iterator[tuple[int, int, bytes]]:
        """(byte offset, 1-based line within the piece from the seek point, raw bytes) of every line (blank ones
        too) that starts in the piece, from its first line or from `offset` (a line start inside it)."""
        with read_errors_as_input_errors(self.path, "the file"), storage.open_binary(piece.file) as handle:
            if offset is None:
                position = piece.start
                if position > 0:
                    # The line that straddles the start belongs to the piece before: skip to the next line start.
                    handle.seek(position - 1)
                    position += len(handle.readline()) - 1
            else:
                position = offset
                handle.seek(position)
            line = 0
            while position < piece.stop:
                raw = handle.readline()
                if not raw:
                    return
                line += 1
                yield position, line, raw
                position += len(raw)

    def count_piece(self, piece: Piece) -> PieceCount:
        rows = lines = 0
        marks = []
        for position, line, raw in self._piece_lines(piece):
            lines = line
            if raw.strip():
                if rows % MARK_ROWS == 0:
                    marks.append((rows, position, line - 1))
                rows += 1
        return PieceCount(rows, lines, tuple(marks))

    def _shard_examples(
        self, source: ShardSource, checker: _ExampleChecker, lines: list[int] | None = None
    ) -> Iterator[pa.RecordBatch]:
        def shard_lines() -> Iterator[tuple[int, bytes]]:
            for span in source.spans:
                skipped = taken = 0
                for _, line, raw in self._piece_lines(span.piece, span.offset):
                    if taken == span.take:
                        break
                    if not raw.strip():
                        continue
                    if skipped < span.skip:
                        skipped += 1
                        continue
                    taken += 1
                    yield span.first_line + line - 1, raw

        yield from self._examples(shard_lines(), source.row_start, max(source.rows, 1), checker, lines)

    def _count_rows(self) -> int:
        return sum(1 for _ in self._lines())

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        """Yield (1-based physical line number, raw bytes with terminator) of every non-blank line."""
        what = "the file" if self.compression is None else f"the {self.compression} stream"
        with read_errors_as_input_errors(self.path, what), open_input(self.path, self.compression) as handle:
            for line_number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield line_number, raw

    def _parse(self, line_number: int, raw: bytes) -> dict[str, Any]:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise self._utf8_error(line_number, raw, error) from error
        if line_number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(
                self.path, f"malformed JSON ({error.msg} at column {error.colno})", line=line_number
            ) from error
        if not isinstance(record, dict):
            raise InputError(
                self.path,
                f"expected a JSON object, found {_kind_name(record)}; thresher reads JSON Lines, one object per line",
                line=line_number,
            )
        return record

    def _utf8_error(self, line_number: int, raw: bytes, error: UnicodeDecodeError) -> InputError:
        # Name the field that holds the bad bytes when the line still parses with them escaped.
        field = None
        try:
            record = json.loads(raw.decode("utf-8", errors="surrogateescape"))
        except ValueError:
            record = None
        if isinstance(record, dict):
            bad_fields = [key for key, value in record.items() if _has_surrogates(key) or _has_surrogates(value)]
            if self.fields.text in bad_fields:
                field = self.fields.text
            elif bad_fields:
                field = bad_fields[0]
        return InputError(
            self.path,
            f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset {error.start})",
            line=line_number,
            field=field,
        )

    def _kept_lines(self, keep: KeepChunks, rows: RowRange) -> Iterator[tuple[int, bytes]]:
        cursor = MaskCursor(keep())
        bits = cursor.bits()
        for row, (line_number, raw) in enumerate(self._lines()):
            if row < rows.start:
                continue  # before a part: the lines are counted, not parsed
            if rows.ends_before(row):
                break
            kept = next(bits, None)
            if kept is None:
                raise ValueError(f"the keep mask ends after {cursor.consumed} rows, before {self.path} does")
            if kept:
                yield line_number, raw
        cursor.finish()

    def _write(self, keep: KeepChunks, out: Path, target: DataFormat, rows: RowRange) -> int:
        if target.format == "jsonl":
            # Lossless: the original bytes of each kept line, terminator included.
            return write_lines((raw for _, raw in self._kept_lines(keep, rows)), out, target.compression)
        return super()._write(keep, out, target, rows)

    def _kept_batches(self, keep: KeepChunks, rows: RowRange) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        # Lines may have different keys and types, so a first pass unifies the schema of the kept records.
        schema = pa.schema([])
        for records, line_numbers in self._kept_record_chunks(keep, rows):
            chunk_schema = self._infer_schema(records, line_numbers)
            try:
                schema = pa.unify_schemas([schema, chunk_schema], promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                raise InputError(
                    self.path,
                    f"fields change type between lines and cannot share one column: {error}",
                    line=line_numbers[0],
                ) from error
        if not schema.names:
            schema = self._schema_of_first_records()
        return schema, self._record_batches(keep, rows, schema)

    def _schema_of_first_records(self) -> pa.Schema:
        """Give the schema of the input's first records, so that an empty subset still has its columns."""
        records: list[dict[str, Any]] = []
        line_numbers: list[int] = []
        for line_number, raw in self._lines():
            records.append(self._parse(line_number, raw))
            line_numbers.append(line_number)
            if len(records) == DEFAULT_BATCH_ROWS:
                break
        if records:
            return self._infer_schema(records, line_numbers)
        return pa.schema([pa.field(self.fields.text, pa.string())])

    def _record_batches(self, keep: KeepChunks, rows: RowRange, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        for records, line_numbers in self._kept_record_chunks(keep, rows):
            try:
                columns = [pa.array([record.get(f.name) for record in records], type=f.type) for f in schema]
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                raise InputError(self.path, f"cannot convert to Arrow: {error}", line=line_numbers[0]) from error
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    def _kept_record_chunks(
        self, keep: KeepChunks, rows: RowRange
    ) -> Iterator[tuple[list[dict[str, Any]], list[int]]]:
        records: list[dict[str, Any]] = []
        line_numbers: list[int] = []
        for line_number, raw in self._kept_lines(keep, rows):
            records.append(self._parse(line_number, raw))
            line_numbers.append(line_number)
            if len(records) == DEFAULT_BATCH_ROWS:
                yield records, line_numbers
                records, line_numbers = [], []
        if records:
            yield records, line_numbers

    def _infer_schema(self, records: list[dict[str, Any]], line_numbers: list[int]) -> pa.Schema:
        names = list(dict.fromkeys(name for record in records for name in record))
        fields = []
        for name in names:
            values = [record.get(name) for record in records]
            try:
                fields.append(pa.field(name, pa.array(values).type))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                line = _first_type_change(values, line_numbers)
                raise InputError(
                    self.path, f"values of different types cannot share one column ({error})", line=line, field=name
                ) from error
        return pa.schema(fields)


class _ArrowDataset(Dataset):
    """A dataset read as Arrow record batches: Parquet, CSV and HF dirs. Row numbers in errors are 1-based."""

    @abstractmethod
    def schema(self) -> pa.Schema:
        """Give the Arrow schema of all columns of the input."""

    @abstractmethod
    def _arrow_batches(self, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Yield the input's record batches (only `columns`, or all when None) in file order."""

    def check_fields(self) -> None:
        names = self.schema().names
        roles = [("text", self.fields.text), ("id", self.fields.id), ("label", self.fields.label)]
        roles += [(column, field) for column, field in self.fields.text_columns()[1:]]
        for role, name in roles:
            if name is not None and name not in names:
                raise InputError(self.path, f"has no {role} column '{name}' (columns: {', '.join(names)})", field=name)

    def _read_columns(self) -> list[str]:
        fields = (self.fields.text, self.fields.id, self.fields.label, self.fields.prompt, self.fields.response)
        return list(dict.fromkeys(field for field in fields if field))

    def iter_examples(self, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        _check_batch_rows(batch_rows)
        checker = _ExampleChecker(self.path, self.fields)
        batches = _at_most(self._arrow_batches(self._read_columns(), batch_rows), batch_rows)
        yield from self._examples(batches, 0, checker)

    def _examples(
        self, batches: Iterable[pa.RecordBatch], first_row: int, checker: _ExampleChecker
    ) -> Iterator[pa.RecordBatch]:
        """Example batches of the input's record batches (the read columns), starting at row `first_row`."""
        for batch in batches:
            texts = {
                column: self._texts(batch.column(field), first_row, column, field)
                for column, field in self.fields.text_columns()
            }
            if self.fields.id is None:
                assert checker.content_ids is not None
                assigned = checker.content_ids.assign_many(texts[TEXT_COLUMN].to_pylist())
                ids = pa.array(assigned, type=pa.string())
            else:
                ids = self._values(batch.column(self.fields.id), first_row, checker.identifier, "id")
            labels = None
            if self.fields.label is not None:
                labels = self._values(batch.column(self.fields.label), first_row, checker.label, "label")
            yield checker.batch(first_row, ids, texts, labels)
            first_row += batch.num_rows

    def _shard_examples(
        self, source: ShardSource, checker: _ExampleChecker, lines: list[int] | None = None
    ) -> Iterator[pa.RecordBatch]:
        def span_batches() -> Iterator[pa.RecordBatch]:
            for span in source.spans:
                skipped = taken = 0
                for batch in self._piece_batches(span.piece, self._read_columns()):
                    if taken == span.take:
                        break
                    if skipped + batch.num_rows <= span.skip:
                        skipped += batch.num_rows
                        continue
                    begin = span.skip - skipped
                    skipped = span.skip
                    part = batch.slice(begin, span.take - taken)
                    taken += part.num_rows
                    yield part

        yield from self._examples(span_batches(), source.row_start, checker)

    def _piece_batches(self, piece: Piece, columns: list[str]) -> Iterator[pa.RecordBatch]:
        """The record batches of one piece, in order (only `columns`)."""
        raise NotImplementedError(f"{self.format} inputs are not read in pieces")

    def _texts(self, column: pa.Array, first_row: int, role: str = TEXT_COLUMN, field: str | None = None) -> pa.Array:
        """Give a text-like column as `string`, raising `InputError` at the first null, empty or non-UTF-8 value."""
        field = field or self.fields.text
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if _arrow_kind(column.type) != pa.string():
            row = first_row + _first_index(column.is_valid()) + 1 if len(column) else first_row + 1
            raise InputError(self.path, f"{role} must be a string column, found {column.type}", row=row, field=field)
        if column.null_count:
            row = first_row + _first_index(column.is_null()) + 1
            raise InputError(self.path, f"{role} is null", row=row, field=field)
        try:
            column.validate(full=True)
        except pa.ArrowInvalid as error:
            row = first_row + _first_invalid_utf8(column) + 1
            raise InputError(self.path, f"{role} is not valid UTF-8", row=row, field=field) from error
        empty = pc.equal(pc.utf8_trim_whitespace(column), "")
        if pc.any(empty).as_py():
            raise InputError(self.path, f"{role} is empty", row=first_row + _first_index(empty) + 1, field=field)
        return column.cast(pa.string())

    def _values(self, column: pa.Array, first_row: int, check: Any, role: str) -> pa.Array:
        """Give an id or label column in its thresher type (int64, string, float64, bool), each value checked."""
        name = self.fields.id if role == "id" else self.fields.label
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        target = _arrow_kind(column.type)
        allowed = (pa.int64(), pa.string()) if role == "id" else (pa.int64(), pa.string(), pa.float64(), pa.bool_())
        if target not in allowed:
            kinds = "an integer or string" if role == "id" else "a string or number"
            raise InputError(
                self.path, f"{role} must be {kinds} column, found {column.type}", row=first_row + 1, field=name
            )
        try:
            column = column.cast(target)
        except pa.ArrowInvalid as error:
            raise InputError(
                self.path, f"{role} values do not fit in {target}: {error}", row=first_row + 1, field=name
            ) from error
        for offset, value in enumerate(column.to_pylist()):
            check(value, {"row": first_row + offset + 1})
        return column

    def _kept_batches(self, keep: KeepChunks, rows: RowRange) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        return self.schema(), self._filtered(keep, rows)

    def _filtered(self, keep: KeepChunks, rows: RowRange) -> Iterator[pa.RecordBatch]:
        cursor = MaskCursor(keep())
        first_row = 0
        for batch in self._arrow_batches(None, DEFAULT_BATCH_ROWS):
            batch_start, first_row = first_row, first_row + batch.num_rows
            if rows.ends_before(batch_start):
                break
            low = max(batch_start, rows.start)
            high = first_row if rows.stop is None else min(first_row, rows.stop)
            if high <= low:
                continue
            piece = batch if (low, high) == (batch_start, first_row) else batch.slice(low - batch_start, high - low)
            mask = cursor.take(high - low)
            if mask.all():
                yield piece
            elif mask.any():
                yield piece.filter(pa.array(mask))
        cursor.finish()


class ParquetDataset(_ArrowDataset):
    """A Parquet file (a local path or a URL), streamed by record batch; its row groups are its pieces."""

    format = "parquet"

    def _file(self, location: Location | None = None) -> pq.ParquetFile:
        location = location if location is not None else self.path
        with read_errors_as_input_errors(location, "the Parquet file"):
            return pq.ParquetFile(storage.open_random_access(location))

    def schema(self) -> pa.Schema:
        return self._file().schema_arrow

    def _count_rows(self) -> int:
        return self._file().metadata.num_rows

    def _arrow_batches(self, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
        parquet_file = self._file()
        with read_errors_as_input_errors(self.path, "the Parquet file"), parquet_file:
            yield from parquet_file.iter_batches(batch_size=batch_rows, columns=columns)

    def pieces(self, piece_bytes: int = DEFAULT_PIECE_BYTES) -> list[Piece] | None:
        groups = self._file().metadata.num_row_groups
        return [Piece(group, str(self.path), group, group) for group in range(groups)]

    def count_piece(self, piece: Piece) -> PieceCount:
        return PieceCount(self._file(piece.file).metadata.row_group(piece.start).num_rows)

    def _piece_batches(self, piece: Piece, columns: list[str]) -> Iterator[pa.RecordBatch]:
        parquet_file = self._file(piece.file)
        with read_errors_as_input_errors(self.path, "the Parquet file"), parquet_file:
            yield from parquet_file.iter_batches(
                batch_size=DEFAULT_BATCH_ROWS, row_groups=[piece.start], columns=columns
            )


class CsvDataset(_ArrowDataset):
    """A CSV file with a header row (optionally gzip or zstd); every column is read as strings, so "007" stays."""

    format = "csv"

    def schema(self) -> pa.Schema:
        with read_errors_as_input_errors(self.path, "the CSV file"), open_input(self.path, self.compression) as src:
            reader = pcsv.open_csv(
                src,
                read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                parse_options=pcsv.ParseOptions(newlines_in_values=True),
            )
            names = reader.schema.names
        return pa.schema([pa.field(name, pa.string()) for name in names])

    def _count_rows(self) -> int:
        first_column = self.schema().names[:1]
        return sum(batch.num_rows for batch in self._arrow_batches(first_column, DEFAULT_BATCH_ROWS))

    def _arrow_batches(self, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
        schema = self.schema()
        convert = pcsv.ConvertOptions(
            column_types=schema,
            include_columns=columns or [],
            # An empty field is a missing value; a quoted "" is an empty string; "NA" or "null" are just text.
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,
        )
        with read_errors_as_input_errors(self.path, "the CSV file"), open_input(self.path, self.compression) as src:
            reader = pcsv.open_csv(
                src,
                read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                parse_options=pcsv.ParseOptions(newlines_in_values=True),
                convert_options=convert,
            )
            yield from reader


class HfDataset(_ArrowDataset):
    """A directory written by Hugging Face `datasets` `Dataset.save_to_disk`, read by record batch; its Arrow files
    are its pieces."""

    format = "hf"

    def data_files(self) -> list[Location]:
        return [storage.join(self.path, name) for name in storage.list_names(self.path) if name.endswith(".arrow")]

    def _shards(self) -> list[Location]:
        """Give the Arrow shards in dataset order: as state.json lists them, else by sorted name."""
        state_path = storage.join(self.path, "state.json")
        if storage.is_file(state_path):
            with read_errors_as_input_errors(state_path, "state.json"):
                try:
                    state = json.loads(storage.read_bytes(state_path))
                except ValueError as error:
                    raise InputError(state_path, f"malformed JSON ({error})") from error
            names = [entry["filename"] for entry in state.get("_data_files") or [] if "filename" in entry]
            if names:
                return [storage.join(self.path, name) for name in names]
        return self.data_files()

    def schema(self) -> pa.Schema:
        shard = self._shards()[0]
        with read_errors_as_input_errors(shard, "the Arrow shard"), _open_arrow(shard) as source:
            return _open_ipc(source).schema

    def _count_rows(self) -> int:
        return sum(batch.num_rows for batch in self._arrow_batches(None, DEFAULT_BATCH_ROWS))

    def _arrow_batches(self, columns: list[str] | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for shard in self._shards():
            yield from self._file_batches(shard, columns)

    def _file_batches(self, shard: Location, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        with read_errors_as_input_errors(shard, "the Arrow shard"), _open_arrow(shard) as source:
            for batch in _open_ipc(source):
                yield batch if columns is None else batch.select(columns)

    def pieces(self, piece_bytes: int = DEFAULT_PIECE_BYTES) -> list[Piece] | None:
        return [Piece(index, str(shard)) for index, shard in enumerate(self._shards())]

    def count_piece(self, piece: Piece) -> PieceCount:
        return PieceCount(sum(batch.num_rows for batch in self._file_batches(piece.file, [self.fields.text])))

    def _piece_batches(self, piece: Piece, columns: list[str]) -> Iterator[pa.RecordBatch]:
        yield from self._file_batches(piece.file, columns)


def _open_arrow(location: Location) -> pa.NativeFile:
    """An Arrow file: memory-mapped when local, a random-access stream from its filesystem otherwise."""
    if storage.is_url(location):
        source = storage.open_random_access(location)
        assert isinstance(source, pa.NativeFile)
        return source
    return pa.memory_map(str(location))


def _open_ipc(source: pa.NativeFile) -> Iterable[pa.RecordBatch]:
    """Open an Arrow IPC stream (what `datasets` writes) or, failing that, an Arrow IPC file."""
    try:
        return pa.ipc.open_stream(source)
    except pa.ArrowInvalid:
        source.seek(0)
        reader = pa.ipc.open_file(source)
        return _FileBatches(reader)


class _FileBatches:
    """Iterates an Arrow IPC file reader's batches the way a stream reader iterates."""

    def __init__(self, reader: pa.ipc.RecordBatchFileReader) -> None:
        self.schema = reader.schema
        self._reader = reader

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for index in range(self._reader.num_record_batches):
            yield self._reader.get_batch(index)


def _at_most(batches: Iterable[pa.RecordBatch], max_rows: int) -> Iterator[pa.RecordBatch]:
    """Yield the batches, slicing any longer than `max_rows` (zero-copy) and dropping empty ones."""
    for batch in batches:
        for start in range(0, batch.num_rows, max_rows):
            yield batch.slice(start, max_rows)


def _check_batch_rows(batch_rows: int) -> None:
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")


def _first_index(mask: pa.Array) -> int:
    return pc.index(mask, True).as_py()


def _first_invalid_utf8(column: pa.Array) -> int:
    for index, value in enumerate(column.cast(pa.binary()).to_pylist()):
        if value is None:
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return index
    return 0


def _first_type_change(values: list[Any], line_numbers: list[int]) -> int:
    """Give the line of the first value whose Python type differs from the first non-null value's."""
    first_type = None
    for value, line_number in zip(values, line_numbers, strict=True):
        if value is None:
            continue
        if first_type is None:
            first_type = type(value)
        elif type(value) is not first_type:
            return line_number
    return line_numbers[0]


def _python_type(value: Any) -> pa.DataType | None:
    """Give the Arrow type that a JSON scalar maps to, or None for lists, objects and other values."""
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, str):
        return pa.string()
    return None


def _arrow_kind(data_type: pa.DataType) -> pa.DataType | None:
    """Give the thresher type that an Arrow column type is read as, or None when it is not a scalar we take."""
    if pa.types.is_integer(data_type):
        return pa.int64()
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return pa.string()
    if pa.types.is_floating(data_type):
        return pa.float64()
    if pa.types.is_boolean(data_type):
        return pa.bool_()
    return None


def _type_name(data_type: pa.DataType) -> str:
    return {pa.int64(): "integer", pa.string(): "string", pa.float64(): "float", pa.bool_(): "boolean"}.get(
        data_type, str(data_type)
    )


def _kind_name(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _has_surrogates(value: Any) -> bool:
    if isinstance(value, str):
        return any("\udc80" <= char <= "\udcff" for char in value)
    if isinstance(value, dict):
        return any(_has_surrogates(key) or _has_surrogates(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_surrogates(item) for item in value)
    return False
