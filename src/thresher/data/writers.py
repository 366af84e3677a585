"""Atomic writers of selected examples as JSON Lines, Parquet, CSV or a Hugging Face dataset directory."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from thresher.atomic import staged_dir, staged_file
from thresher.data.formats import DataFormat, is_hf_dataset_dir
from thresher.data.streams import open_output
from thresher.errors import OptionError


def check_output_path(out: Path, target: DataFormat, input_path: Path | None) -> None:
    """Raise `OptionError` unless `out` can be written as `target` without clobbering the input or a stray dir.

    `input_path` is None for an input read from a URL (it cannot be the local `out`)."""
    parent = out.absolute().parent
    if not parent.is_dir():
        raise OptionError(f"cannot write {out}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OptionError(f"cannot write {out}: directory {parent} is not writable")
    if input_path is not None and out.exists() and out.resolve() == input_path.resolve():
        raise OptionError(f"cannot write {out}: it is the input itself; choose another output path")
    if target.format == "hf":
        if out.is_file():
            raise OptionError(f"cannot write a Hugging Face dataset directory to {out}: it is an existing file")
        if out.is_dir() and any(out.iterdir()) and not is_hf_dataset_dir(out):
            raise OptionError(
                f"cannot write a Hugging Face dataset directory to {out}: it is a non-empty directory that is "
                "not a saved dataset, so thresher will not replace it"
            )
    elif out.is_dir():
        raise OptionError(f"cannot write {out}: it is a directory")


@contextmanager
def staged_output(out: Path, target: DataFormat) -> Iterator[Path]:
    """A staging path beside `out` (a directory for a Hugging Face dataset, else a file), moved onto `out` on
    success and removed on failure (`thresher.atomic`)."""
    if target.format == "hf":
        # check_output_path has refused a non-empty directory that is not a saved dataset.
        with staged_dir(out, overwrite=True) as staging:
            yield staging
    else:
        with staged_file(out, suffix=".tmp") as staging:
            yield staging


def write_lines(lines: Iterable[bytes], out: Path, compression: str | None) -> int:
    """Write raw lines (each with its own line terminator) atomically to `out`; give the number written."""
    written = 0
    # The error mapping is outermost: creating the staging file and renaming it can fail too.
    with (
        _write_errors_as_option_errors(out),
        staged_file(out, suffix=".tmp") as temporary,
        open_output(temporary, compression) as sink,
    ):
        for line in lines:
            sink.write(line)
            written += 1
    return written


def write_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema, out: Path, target: DataFormat) -> int:
    """Write record batches of `schema` atomically to `out` in the `target` format; give the rows written."""
    if target.format == "csv":
        _check_flat(schema, out)
    writers = {"jsonl": _write_jsonl, "parquet": _write_parquet, "csv": _write_csv, "hf": _write_hf}
    if target.format not in writers:
        raise OptionError(f"cannot write {out}: unknown output format {target.format!r}")
    with _write_errors_as_option_errors(out), staged_output(out, target) as temporary:
        return writers[target.format](batches, schema, temporary, target.compression)


def _write_jsonl(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path, compression: str | None) -> int:
    written = 0
    with open_output(path, compression) as sink:
        for batch in batches:
            for record in batch.to_pylist():
                sink.write(json.dumps(record, ensure_ascii=False, default=_json_value).encode("utf-8") + b"\n")
            written += batch.num_rows
    return written


def _write_parquet(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path, compression: str | None) -> int:
    written = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            written += batch.num_rows
    return written


def _write_csv(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path, compression: str | None) -> int:
    written = 0
    with open_output(path, compression) as sink, pcsv.CSVWriter(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            written += batch.num_rows
    return written


def _write_hf(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path, compression: str | None) -> int:
    import datasets

    # Stage the kept rows as one Arrow stream and let `datasets` lay out the directory, so that the features
    # kept in the schema metadata (class labels, images, ...) survive and `load_from_disk` reads the result.
    staging = path.with_name(path.name + ".arrow")
    written = 0
    try:
        with pa.OSFile(str(staging), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
                written += batch.num_rows
        dataset = datasets.Dataset.from_file(str(staging))
        progress_was_on = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            dataset.save_to_disk(str(path))
        finally:
            if progress_was_on:
                datasets.enable_progress_bars()
        del dataset
    finally:
        staging.unlink(missing_ok=True)
    return written


def _check_flat(schema: pa.Schema, out: Path) -> None:
    for field in schema:
        if pa.types.is_nested(field.type):
            raise OptionError(
                f"cannot write {out}: CSV cannot hold nested field '{field.name}' ({field.type}); "
                "write .jsonl or .parquet instead"
            )


def _json_value(value: object) -> object:
    """Give a JSON-serialisable stand-in for an Arrow value that `json` cannot write as is."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    raise TypeError(f"a value of type {type(value).__name__} cannot be written to JSON")


@contextmanager
def _write_errors_as_option_errors(out: Path) -> Iterator[None]:
    try:
        yield
    except (OSError, pa.ArrowException, TypeError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OptionError(f"cannot write {out}: {detail}") from error
