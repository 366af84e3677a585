from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import zstandard

from thresher.data.fields import Fields
from thresher.data.ids import content_id
from thresher.data.readers import open_dataset
from thresher.errors import InputError

RECORDS = [
    {"text": "the cat sat", "id": 10, "label": "pos"},
    {"text": "a dog barked", "id": 11, "label": "neg"},
    {"text": "the cat sat", "id": 12, "label": "pos"},
]


def jsonl_bytes(records: list[dict]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def write_format(directory: Path, records: list[dict], fmt: str) -> Path:
    """Write `records` in one of the formats thresher reads and give the path."""
    table = pa.Table.from_pylist(records) if fmt in ("parquet", "csv", "hf") else None
    if fmt == "jsonl":
        path = directory / "data.jsonl"
        path.write_bytes(jsonl_bytes(records))
    elif fmt == "jsonl.gz":
        path = directory / "data.jsonl.gz"
        path.write_bytes(gzip.compress(jsonl_bytes(records)))
    elif fmt == "jsonl.zst":
        path = directory / "data.jsonl.zst"
        path.write_bytes(zstandard.ZstdCompressor().compress(jsonl_bytes(records)))
    elif fmt == "parquet":
        path = directory / "data.parquet"
        pq.write_table(table, path)
    elif fmt == "csv":
        path = directory / "data.csv"
        pcsv.write_csv(table, path)
    elif fmt == "hf":
        import datasets

        path = directory / "data_hf"
        datasets.Dataset(table).save_to_disk(str(path))
    else:
        raise AssertionError(fmt)
    return path


def read_all(path: Path, fields: Fields | None = None, batch_rows: int = 4096) -> pa.Table:
    batches = list(open_dataset(path, fields).iter_examples(batch_rows))
    return pa.Table.from_batches(batches)


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "csv", "hf"])
def test_every_format_reads_rows_ids_texts_labels_in_order(tmp_path, fmt):
    path = write_format(tmp_path, RECORDS, fmt)
    table = read_all(path, Fields(id="id", label="label"))
    assert table.column_names == ["row", "id", "text", "label"]
    assert table.schema.field("row").type == pa.int64()
    assert table.schema.field("text").type == pa.string()
    assert table.column("row").to_pylist() == [0, 1, 2]
    assert table.column("text").to_pylist() == ["the cat sat", "a dog barked", "the cat sat"]
    assert table.column("label").to_pylist() == ["pos", "neg", "pos"]
    if fmt == "csv":  # every CSV column is read as strings, so ids such as "007" survive
        assert table.column("id").to_pylist() == ["10", "11", "12"]
    else:
        assert table.schema.field("id").type == pa.int64()
        assert table.column("id").to_pylist() == [10, 11, 12]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv", "hf"])
def test_content_ids_are_stable_and_distinct_for_duplicate_texts(tmp_path, fmt):
    path = write_format(tmp_path, RECORDS, fmt)
    first = read_all(path).column("id").to_pylist()
    second = read_all(path).column("id").to_pylist()
    assert first == second
    assert first == [content_id("the cat sat", 0), content_id("a dog barked", 0), content_id("the cat sat", 1)]
    assert read_all(path).column_names == ["row", "id", "text"]


def test_string_ids_and_int_labels_keep_their_types(tmp_path):
    path = write_format(tmp_path, [{"text": "a", "key": "x1", "y": 3}, {"text": "b", "key": "x2", "y": 4}], "jsonl")
    table = read_all(path, Fields(id="key", label="y"))
    assert table.schema.field("id").type == pa.string()
    assert table.schema.field("label").type == pa.int64()
    assert table.column("label").to_pylist() == [3, 4]


def test_csv_keeps_leading_zeros_and_custom_text_field(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('body,code\n"hello, world",007\nsecond,010\n')
    table = read_all(path, Fields(text="body", id="code"))
    assert table.column("id").to_pylist() == ["007", "010"]
    assert table.column("text").to_pylist() == ["hello, world", "second"]


def test_blank_lines_are_skipped_and_line_numbers_are_physical(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a"}\n\n   \n{"text": "b"}\n{"text": ""}\n')
    dataset = open_dataset(path)
    assert dataset.num_rows() == 3
    with pytest.raises(InputError) as raised:
        list(dataset.iter_examples())
    assert raised.value.line == 5
    assert "data.jsonl:5" in str(raised.value)


def test_utf8_bom_on_first_line_is_accepted(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\n')
    assert read_all(path).column("text").to_pylist() == ["a"]


BAD_JSONL_LINES = [
    ('{"other": 1}', "text", "missing"),
    ('{"text": null}', "text", "null"),
    ('{"text": 5}', "text", "must be a string"),
    ('{"text": "  \\t "}', "text", "empty"),
    ('{"text": "\\ud800"}', "text", "UTF-8"),
    ('{"text": "ok", "id": null, "label": 1}', "id", "null"),
    ('{"text": "ok", "label": 1}', "id", "missing"),
    ('{"text": "ok", "id": 1, "label": 1}', "id", "duplicate id 1"),
    ('{"text": "ok", "id": "s", "label": 1}', "id", "earlier ids are integer"),
    ('{"text": "ok", "id": 1.5, "label": 1}', "id", "integer or a string"),
    ('{"text": "ok", "id": 2}', "label", "missing"),
    ('{"text": "ok", "id": 2, "label": null}', "label", "null"),
    ('{"text": "ok", "id": 2, "label": [1]}', "label", "string or a number"),
    ('{"text": "ok", "id": 2, "label": "x"}', "label", "earlier labels are integer"),
]


@pytest.mark.parametrize(("bad_line", "field", "fragment"), BAD_JSONL_LINES)
def test_bad_jsonl_value_names_file_line_and_field(tmp_path, bad_line, field, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine", "id": 1, "label": 0}\n\n' + bad_line + "\n")
    with pytest.raises(InputError, match=fragment) as raised:
        read_all(path, Fields(id="id", label="label"))
    message = str(raised.value)
    assert str(path) + ":3" in message
    assert f"field '{field}'" in message
    assert (raised.value.line, raised.value.field) == (3, field)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"text": "a"}\n{"text": "b",\n', "malformed JSON"),
        (b'{"text": "a"}\n["text"]\n', "expected a JSON object"),
        (b'{"text": "a"}\n{"text": "caf\xe9"}\n', "not valid UTF-8"),
    ],
)
def test_malformed_jsonl_line_names_the_line(tmp_path, content, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=fragment) as raised:
        read_all(path)
    assert f"{path}:2" in str(raised.value)


def test_invalid_utf8_in_text_names_the_text_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text": "caf\xe9", "n": 1}\n')
    with pytest.raises(InputError) as raised:
        read_all(path)
    assert raised.value.field == "text"


@pytest.mark.parametrize("fmt", ["parquet", "hf", "csv"])
@pytest.mark.parametrize(
    ("records", "fields", "field", "fragment"),
    [
        ([{"text": "a", "n": 1}, {"text": None, "n": 2}], Fields(), "text", "null"),
        ([{"text": "a", "n": 1}, {"text": "   ", "n": 2}], Fields(), "text", "empty"),
        ([{"text": "a", "k": 1}, {"text": "b", "k": 1}], Fields(id="k"), "k", "duplicate id"),
        ([{"text": "a", "k": 1}, {"text": "b", "k": None}], Fields(id="k"), "k", "null"),
        ([{"text": "a", "y": 1}, {"text": "b", "y": None}], Fields(label="y"), "y", "null"),
    ],
)
def test_bad_columnar_value_names_file_row_and_field(tmp_path, fmt, records, fields, field, fragment):
    path = write_format(tmp_path, records, fmt)
    with pytest.raises(InputError, match=fragment) as raised:
        read_all(path, fields, batch_rows=1)
    assert f"{path}: row 2" in str(raised.value)
    assert f"field '{field}'" in str(raised.value)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "hf"])
def test_missing_text_column_is_an_input_error_on_open(tmp_path, fmt):
    path = write_format(tmp_path, [{"body": "a"}], fmt)
    with pytest.raises(InputError, match="no text column 'text'") as raised:
        open_dataset(path)
    assert "body" in str(raised.value)


def test_non_string_text_column_is_an_input_error(tmp_path):
    path = write_format(tmp_path, [{"text": 1}, {"text": 2}], "parquet")
    with pytest.raises(InputError, match="must be a string column") as raised:
        read_all(path)
    assert raised.value.row == 1


def test_missing_file_and_directory_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_dataset(tmp_path / "absent.jsonl")
    (tmp_path / "folder.jsonl").mkdir()
    with pytest.raises(InputError, match="directory"):
        open_dataset(tmp_path / "folder.jsonl")


def test_corrupt_parquet_is_an_input_error(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"this is not parquet at all")
    with pytest.raises(InputError, match="cannot read the Parquet file") as raised:
        open_dataset(path)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "compress"),
    [("data.jsonl.gz", gzip.compress), ("data.jsonl.zst", zstandard.ZstdCompressor().compress)],
)
def test_truncated_compressed_jsonl_is_an_input_error(tmp_path, name, compress):
    path = tmp_path / name
    path.write_bytes(compress(jsonl_bytes([{"text": f"example {i}"} for i in range(5000)]))[:-40])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_all(path)


def test_truncated_gzip_csv_is_an_input_error(tmp_path):
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"text\n" + b"".join(b"row %d\n" % i for i in range(5000)))[:-40])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_all(path)


def test_hf_dataset_dict_asks_for_a_split(tmp_path):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"]})}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(InputError, match="DatasetDict"):
        open_dataset(tmp_path / "dd")
    assert read_all(tmp_path / "dd" / "train").column("text").to_pylist() == ["a"]


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet", "csv", "hf"])
def test_batches_stream_in_bounded_sizes(tmp_path, fmt):
    records = [{"text": f"example number {i}"} for i in range(10_000)]
    path = write_format(tmp_path, records, fmt)
    batches = list(open_dataset(path).iter_examples(batch_rows=1000))
    assert len(batches) >= 10
    assert max(batch.num_rows for batch in batches) <= 1000
    rows = pa.concat_arrays([batch.column("row") for batch in batches]).to_pylist()
    assert rows == list(range(10_000))
    assert open_dataset(path).num_rows() == 10_000


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_fingerprint_is_stable_and_follows_content(tmp_path, fmt):
    path = write_format(tmp_path, RECORDS, fmt)
    fingerprint = open_dataset(path, Fields(id="id")).fingerprint()
    assert fingerprint == open_dataset(path, Fields(id="id")).fingerprint()
    assert fingerprint["path"] == str(path.absolute())
    assert fingerprint["format"] == ("hf" if fmt == "hf" else fmt)
    assert fingerprint["fields"] == {"text": "text", "id": "id", "label": None}
    assert fingerprint["size_bytes"] > 0
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    changed = write_format(other_dir, [*RECORDS[:2], {"text": "changed", "id": 12, "label": "pos"}], fmt)
    assert open_dataset(changed, Fields(id="id")).fingerprint()["blake2b"] != fingerprint["blake2b"]


def test_jsonl_fingerprint_hashes_the_file_bytes(tmp_path):
    import hashlib

    path = write_format(tmp_path, RECORDS, "jsonl")
    fingerprint = open_dataset(path).fingerprint()
    assert fingerprint["blake2b"] == hashlib.blake2b(path.read_bytes()).hexdigest()
    assert fingerprint["size_bytes"] == path.stat().st_size


def test_dataset_reports_format_and_compression(tmp_path):
    dataset = open_dataset(write_format(tmp_path, RECORDS, "jsonl.zst"))
    assert (dataset.format, dataset.compression) == ("jsonl", "zstd")
    assert dataset.path == tmp_path / "data.jsonl.zst"
