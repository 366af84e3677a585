"""Which format and compression a dataset path holds, inferred from its suffix or directory layout."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from thresher.data import storage
from thresher.data.storage import Location
from thresher.errors import InputError, OptionError

FORMATS = ("jsonl", "parquet", "csv", "hf")

_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
_COMPRESSION_SUFFIXES = {".gz": "gzip", ".zst": "zstd"}
# Compressions each file format accepts; Parquet compresses inside the file, and an HF dir is a directory.
_COMPRESSIBLE = {"jsonl": ("gzip", "zstd"), "csv": ("gzip", "zstd")}


@dataclass(frozen=True)
class DataFormat:
    """A dataset's on-disk format (`jsonl`, `parquet`, `csv` or `hf`) and its stream compression, if any."""

    format: str
    compression: str | None = None


def format_from_suffix(path: str | Path) -> DataFormat | None:
    """Give the format that a file name's suffixes name, or None when they name no known format."""
    name = str(path).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] if storage.is_url(path) else Path(path).name
    suffixes = [suffix.lower() for suffix in Path(name).suffixes]
    compression = None
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        compression = _COMPRESSION_SUFFIXES[suffixes.pop()]
    if not suffixes:
        return None
    last = suffixes[-1]
    if last in _JSON_SUFFIXES:
        fmt = "jsonl"
    elif last in (".parquet", ".pq"):
        fmt = "parquet"
    elif last == ".csv":
        fmt = "csv"
    else:
        return None
    if compression is not None and compression not in _COMPRESSIBLE.get(fmt, ()):
        return None
    return DataFormat(fmt, compression)


def is_hf_dataset_dir(path: Location) -> bool:
    """Tell whether a directory (a path or a URL) was written by Hugging Face `datasets` `Dataset.save_to_disk`."""
    names = storage.list_names(path)
    has_metadata = "state.json" in names or "dataset_info.json" in names
    return has_metadata and any(name.endswith(".arrow") for name in names)


def detect_format(path: Location) -> DataFormat:
    """Give the format of an input path or URL; raise `InputError` when it is not one thresher reads."""
    if not storage.is_url(path):
        path = Path(path)
    if storage.is_dir(path):
        if storage.is_file(storage.join(path, "dataset_dict.json")):
            raise InputError(path, _dataset_dict_message(path))
        if is_hf_dataset_dir(path):
            return DataFormat("hf")
        raise InputError(
            path,
            "is a directory but not a Hugging Face dataset saved with save_to_disk "
            "(expected state.json or dataset_info.json and *.arrow files)",
        )
    detected = format_from_suffix(path)
    if detected is None:
        raise InputError(
            path,
            "unknown input format; expected .jsonl/.json/.ndjson (optionally .gz or .zst), .parquet, "
            ".csv (optionally .gz or .zst), or a Hugging Face dataset directory",
        )
    return detected


def output_format(out: str | Path, out_format: str | None, input_format: str) -> DataFormat:
    """Give the format to write `out` in: `out_format` if given, else `out`'s suffix, else HF for an HF input."""
    from_suffix = format_from_suffix(out)
    if out_format is not None:
        if out_format not in FORMATS:
            raise OptionError(f"unknown output format {out_format!r}; choose one of {', '.join(FORMATS)}")
        if from_suffix is not None and from_suffix.format == out_format:
            return from_suffix
        return DataFormat(out_format)
    if from_suffix is not None:
        return from_suffix
    if input_format == "hf":
        return DataFormat("hf")
    raise OptionError(
        f"cannot tell the output format of {out}; give it a suffix (.jsonl, .jsonl.gz, .jsonl.zst, .parquet, "
        ".csv, .csv.gz) or name the format explicitly"
    )


def _dataset_dict_message(path: Location) -> str:
    try:
        splits = json.loads(storage.read_bytes(storage.join(path, "dataset_dict.json"))).get("splits") or []
    except (OSError, ValueError, AttributeError):
        splits = []
    hint = f" (splits: {', '.join(str(split) for split in splits)})" if splits else ""
    example = f"{storage.join(path, str(splits[0]))}" if splits else f"{path}/train"
    return f"is a Hugging Face DatasetDict{hint}; pass one split's sub-directory, e.g. {example}"
