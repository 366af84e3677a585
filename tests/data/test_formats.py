from __future__ import annotations

import json

import pytest

from thresher.data.formats import DataFormat, detect_format, format_from_suffix, output_format
from thresher.errors import InputError, OptionError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jsonl", DataFormat("jsonl")),
        ("a.json", DataFormat("jsonl")),
        ("a.ndjson", DataFormat("jsonl")),
        ("A.JSONL", DataFormat("jsonl")),
        ("a.jsonl.gz", DataFormat("jsonl", "gzip")),
        ("a.jsonl.zst", DataFormat("jsonl", "zstd")),
        ("corpus.v2.parquet", DataFormat("parquet")),
        ("a.csv", DataFormat("csv")),
        ("a.csv.gz", DataFormat("csv", "gzip")),
    ],
)
def test_detect_format_from_suffix(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(b"")
    assert detect_format(path) == expected


@pytest.mark.parametrize("name", ["a.txt", "a", "a.gz", "a.parquet.gz", "a.arrow"])
def test_unknown_suffix_is_an_input_error(tmp_path, name):
    with pytest.raises(InputError, match="unknown input format") as raised:
        detect_format(tmp_path / name)
    assert name in str(raised.value)


def test_hf_dataset_dir_is_detected(tmp_path):
    (tmp_path / "state.json").write_text("{}")
    (tmp_path / "data-00000-of-00001.arrow").write_bytes(b"")
    assert detect_format(tmp_path) == DataFormat("hf")


def test_dataset_dict_dir_asks_for_a_split(tmp_path):
    (tmp_path / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    with pytest.raises(InputError, match="split") as raised:
        detect_format(tmp_path)
    assert str(tmp_path / "train") in str(raised.value)


def test_plain_directory_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not a Hugging Face dataset"):
        detect_format(tmp_path)


def test_output_format_prefers_explicit_format_then_suffix_then_hf_input(tmp_path):
    assert output_format(tmp_path / "o.jsonl.zst", None, "parquet") == DataFormat("jsonl", "zstd")
    assert output_format(tmp_path / "o.csv.gz", "csv", "jsonl") == DataFormat("csv", "gzip")
    assert output_format(tmp_path / "o.data", "parquet", "jsonl") == DataFormat("parquet")
    assert output_format(tmp_path / "subset", None, "hf") == DataFormat("hf")
    assert format_from_suffix(tmp_path / "subset") is None


def test_output_format_without_suffix_or_format_is_an_option_error(tmp_path):
    with pytest.raises(OptionError, match="suffix"):
        output_format(tmp_path / "subset", None, "jsonl")
    with pytest.raises(OptionError, match="unknown output format"):
        output_format(tmp_path / "o.jsonl", "xml", "jsonl")
