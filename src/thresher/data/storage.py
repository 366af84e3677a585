"""Where input files live: a local path, or a URL of any filesystem pyarrow or fsspec knows (s3://, gs://, hdfs://).

Readers open inputs through these functions only, so the same reader runs on the driver or on a Ray worker on
another node: a local path must be a path every node sees (a shared mount), a URL is read from object storage by
whoever reads it. pyarrow's own filesystems (`pyarrow.fs.FileSystem.from_uri`: local `file://`, S3, GCS, HDFS) are
tried first; any other scheme goes through fsspec (`pyarrow.fs.PyFileSystem(FSSpecHandler(...))`), e.g. `memory://`
in one process, or `az://` with adlfs installed.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.fs as pafs

_BUFFER_BYTES = 1 << 20

Location = str | Path


def is_url(location: Location) -> bool:
    """Whether a location is a URL (`scheme://...`) rather than a local path."""
    return isinstance(location, str) and "://" in location and not location.startswith("/")


def filesystem(location: Location) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding `location` and the path within it."""
    if not is_url(location):
        return pafs.LocalFileSystem(), str(Path(location).absolute())
    text = str(location)
    try:
        return pafs.FileSystem.from_uri(text)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        import fsspec

        fs, path = fsspec.core.url_to_fs(text)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def join(location: Location, name: str) -> Location:
    """`location/name`, for a directory given as a path or a URL."""
    if is_url(location):
        return str(location).rstrip("/") + "/" + name
    return Path(location) / name


def info(location: Location) -> pafs.FileInfo:
    fs, path = filesystem(location)
    return fs.get_file_info(path)


def exists(location: Location) -> bool:
    if not is_url(location):
        return Path(location).exists()
    return info(location).type != pafs.FileType.NotFound


def is_dir(location: Location) -> bool:
    if not is_url(location):
        return Path(location).is_dir()
    return info(location).type == pafs.FileType.Directory


def is_file(location: Location) -> bool:
    if not is_url(location):
        return Path(location).is_file()
    return info(location).type == pafs.FileType.File


def list_names(location: Location) -> list[str]:
    """Names of the entries of a directory."""
    if not is_url(location):
        return sorted(entry.name for entry in Path(location).iterdir())
    fs, path = filesystem(location)
    return sorted(entry.base_name for entry in fs.get_file_info(pafs.FileSelector(path)))


def read_bytes(location: Location) -> bytes:
    if not is_url(location):
        return Path(location).read_bytes()
    fs, path = filesystem(location)
    with fs.open_input_stream(path) as stream:
        return stream.read()


def open_binary(location: Location) -> BinaryIO:
    """A buffered, seekable binary reader of a file's bytes (the caller closes it)."""
    if not is_url(location):
        return open(location, "rb", buffering=_BUFFER_BYTES)  # noqa: SIM115 - the caller closes it
    fs, path = filesystem(location)
    return io.BufferedReader(fs.open_input_file(path), _BUFFER_BYTES)  # type: ignore[arg-type]


def open_random_access(location: Location) -> pa.NativeFile | str:
    """What pyarrow's readers (Parquet, IPC) open: a local path as is, a URL as a random-access file."""
    if not is_url(location):
        return str(location)
    fs, path = filesystem(location)
    return fs.open_input_file(path)


def open_stream(location: Location, compression: str | None) -> pa.NativeFile:
    """A (decompressing) input stream."""
    if not is_url(location):
        return pa.input_stream(str(location), compression=compression)
    fs, path = filesystem(location)
    return pa.input_stream(fs.open_input_stream(path), compression=compression)
