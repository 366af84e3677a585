"""Byte streams over plain, gzip and zstd files, and the translation of low-level read errors to `InputError`."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from thresher.data import storage
from thresher.data.storage import Location
from thresher.errors import InputError

_BUFFER_BYTES = 1 << 20

# Exceptions that reading a damaged, truncated or unreadable file raises somewhere below us.
READ_ERRORS = (OSError, EOFError, zlib.error, pa.ArrowException)


def open_input(path: Location, compression: str | None) -> BinaryIO:
    """A buffered binary reader of a file's decompressed bytes (a local path or a URL: `thresher.data.storage`)."""
    if compression is None:
        return storage.open_binary(path)
    # Arrow's decompressing stream reports a truncated gzip or zstd stream as an error, where the zstandard
    # module's stream reader can end silently.
    return io.BufferedReader(storage.open_stream(path, compression), _BUFFER_BYTES)  # type: ignore[arg-type]


def open_output(path: Path, compression: str | None) -> pa.NativeFile:
    """Give a binary writer that compresses what it is given into `path`."""
    return pa.output_stream(str(path), compression=compression, buffer_size=_BUFFER_BYTES)


@contextmanager
def read_errors_as_input_errors(path: Location, what: str) -> Iterator[None]:
    """Turn an OS, decompression or Arrow error raised while reading `path` into a one-line `InputError`."""
    try:
        yield
    except InputError:
        raise
    except PermissionError as error:
        raise InputError(path, "permission denied") from error
    except READ_ERRORS as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(path, f"cannot read {what}: {detail}; the file may be truncated or corrupt") from error
