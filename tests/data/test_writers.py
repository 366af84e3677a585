from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.data import readers
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.errors import InputError, OptionError

from .test_readers import write_format

FLAT_RECORDS = [{"text": f"example {i}", "id": i, "score": i / 4, "tag": f"t{i % 3}"} for i in range(10)]
KEEP = np.array([i % 3 != 1 for i in range(10)])
KEPT = [record for record, kept in zip(FLAT_RECORDS, KEEP, strict=True) if kept]

OUTPUT_NAMES = {
    "jsonl": "out.jsonl",
    "jsonl.gz": "out.jsonl.gz",
    "jsonl.zst": "out.jsonl.zst",
    "parquet": "out.parquet",
    "csv": "out.csv",
    "csv.gz": "out.csv.gz",
    "hf": "out_hf",
}


def original_records(path: Path) -> list[dict]:
    """Give every record of a dataset with all its original fields (via the writers' own Arrow view)."""
    dataset = open_dataset(path)
    schema, batches = dataset._kept_batches(lambda: [np.ones(dataset.num_rows(), dtype=bool)], readers.RowRange())
    return pa.Table.from_batches(list(batches), schema=schema).to_pylist()


def leftover_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


@pytest.mark.parametrize("source", ["jsonl", "jsonl.gz", "parquet", "hf"])
@pytest.mark.parametrize("target", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "hf"])
def test_write_subset_round_trips_all_fields_in_order(tmp_path, source, target):
    path = write_format(tmp_path, FLAT_RECORDS, source)
    out = tmp_path / OUTPUT_NAMES[target]
    written = open_dataset(path, Fields(id="id")).write_subset(KEEP, out, "hf" if target == "hf" else None)
    assert written == len(KEPT)
    assert original_records(out) == KEPT
    examples = pa.Table.from_batches(list(open_dataset(out, Fields(id="id")).iter_examples()))
    assert examples.column("id").to_pylist() == [record["id"] for record in KEPT]
    assert examples.schema.field("id").type == pa.int64()
    assert leftover_files(tmp_path) == []


@pytest.mark.parametrize("source", ["jsonl", "parquet", "csv", "hf"])
@pytest.mark.parametrize("target", ["csv", "csv.gz"])
def test_write_subset_to_csv_keeps_values_as_text(tmp_path, source, target):
    path = write_format(tmp_path, FLAT_RECORDS, source)
    out = tmp_path / OUTPUT_NAMES[target]
    assert open_dataset(path).write_subset(KEEP, out) == len(KEPT)
    written = original_records(out)
    assert [float(record.pop("score")) for record in written] == [record["score"] for record in KEPT]
    assert written == [{"text": r["text"], "id": str(r["id"]), "tag": r["tag"]} for r in KEPT]


def test_csv_round_trip_keeps_leading_zeros_and_quotes(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('text,code,note\n"hello, world",007,\nsecond,010,"say ""hi"""\nthird,011,x\n')
    out = tmp_path / "out.csv"
    open_dataset(path).write_subset(np.array([True, True, False]), out)
    assert original_records(out) == [
        {"text": "hello, world", "code": "007", "note": None},
        {"text": "second", "code": "010", "note": 'say "hi"'},
    ]


def test_csv_to_parquet_keeps_strings(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,code\nfirst,007\nsecond,010\n")
    out = tmp_path / "out.parquet"
    open_dataset(path).write_subset(np.array([False, True]), out)
    assert pq.read_table(out).to_pylist() == [{"text": "second", "code": "010"}]


def test_jsonl_to_jsonl_is_byte_for_byte(tmp_path):
    lines = [
        b'{"text":"a",   "z": 1, "a": [1, 2.50]}\n',
        b"\n",
        b'{ "text" : "caf\\u00e9 \xe2\x98\x95", "id": 1e3 }\r\n',
        b'{"text": "b", "nested": {"k": null}}\n',
        b'{"text": "last line without newline"}',
    ]
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"".join(lines))
    out = tmp_path / "out.jsonl"
    assert open_dataset(path).write_subset(np.array([True, True, False, True]), out) == 3
    assert out.read_bytes() == lines[0] + lines[2] + lines[4]


def test_gzip_jsonl_to_gzip_jsonl_keeps_the_lines(tmp_path):
    path = write_format(tmp_path, FLAT_RECORDS, "jsonl.gz")
    out = tmp_path / "out.jsonl.gz"
    open_dataset(path).write_subset(KEEP, out)
    assert gzip.decompress(out.read_bytes()) == b"".join(json.dumps(r).encode() + b"\n" for r in KEPT)


def test_heterogeneous_and_nested_jsonl_to_parquet_unifies_schema(tmp_path):
    records = [
        {"text": "a", "meta": {"source": "web"}},
        {"text": "b", "n": 1, "tags": ["x", "y"]},
        {"text": "c", "n": 2.5, "meta": {"source": "books", "year": 1999}},
    ]
    path = write_format(tmp_path, records, "jsonl")
    out = tmp_path / "out.parquet"
    open_dataset(path).write_subset(np.ones(3, dtype=bool), out)
    table = pq.read_table(out)
    assert table.column_names == ["text", "meta", "n", "tags"]
    assert table.schema.field("n").type == pa.float64()
    assert table.to_pylist() == [
        {"text": "a", "meta": {"source": "web", "year": None}, "n": None, "tags": None},
        {"text": "b", "meta": None, "n": 1.0, "tags": ["x", "y"]},
        {"text": "c", "meta": {"source": "books", "year": 1999}, "n": 2.5, "tags": None},
    ]
    back = tmp_path / "back.jsonl"
    open_dataset(out).write_subset(np.ones(3, dtype=bool), back)
    assert json.loads(back.read_text().splitlines()[2]) == records[2] | {"tags": None}


def test_conflicting_jsonl_types_name_the_line_and_field(tmp_path):
    path = write_format(tmp_path, [{"text": "a", "n": 1}, {"text": "b", "n": "one"}], "jsonl")
    with pytest.raises(InputError, match="different types") as raised:
        open_dataset(path).write_subset(np.ones(2, dtype=bool), tmp_path / "out.parquet")
    assert (raised.value.line, raised.value.field) == (2, "n")
    assert not (tmp_path / "out.parquet").exists()
    assert leftover_files(tmp_path) == []


@pytest.mark.parametrize("source", ["jsonl", "parquet"])
def test_csv_output_refuses_nested_fields(tmp_path, source):
    path = write_format(tmp_path, [{"text": "a", "meta": {"k": 1}}], source)
    with pytest.raises(OptionError, match="CSV cannot hold nested field 'meta'"):
        open_dataset(path).write_subset(np.ones(1, dtype=bool), tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    assert leftover_files(tmp_path) == []


def test_hf_round_trip_keeps_features(tmp_path):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])})
    source = tmp_path / "source"
    datasets.Dataset.from_dict({"text": ["x", "y", "z"], "label": [0, 1, 1]}, features=features).save_to_disk(
        str(source)
    )
    out = tmp_path / "subset"
    assert open_dataset(source, Fields(label="label")).write_subset(np.array([True, False, True]), out) == 2
    subset = datasets.load_from_disk(str(out))
    assert subset.features == features
    assert subset.to_dict() == {"text": ["x", "z"], "label": [0, 1]}
    # Writing again replaces the saved dataset as a whole.
    open_dataset(source).write_subset(np.array([False, True, False]), out)
    assert datasets.load_from_disk(str(out)).to_dict() == {"text": ["y"], "label": [1]}
    assert leftover_files(tmp_path) == []


def test_hf_output_will_not_replace_an_unrelated_directory(tmp_path):
    path = write_format(tmp_path, FLAT_RECORDS, "hf")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(OptionError, match="not a saved dataset"):
        open_dataset(path).write_subset(KEEP, precious)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_failed_write_leaves_no_partial_output_or_temp_files(tmp_path):
    path = tmp_path / "data.jsonl.gz"
    many = [{"text": f"example {i}"} for i in range(20_000)]
    path.write_bytes(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in many)))
    dataset = open_dataset(path)
    keep = np.ones(dataset.num_rows(), dtype=bool)
    path.write_bytes(path.read_bytes()[:-200])  # truncated after counting: fails in the middle of the write
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputError, match="truncated or corrupt"):
        dataset.write_subset(keep, out)
    assert not out.exists()
    assert leftover_files(tmp_path) == []


def test_failed_arrow_write_removes_temp_file(tmp_path, monkeypatch):
    path = write_format(tmp_path, FLAT_RECORDS, "parquet")

    def failing_batches(self, keep, rows):
        yield from readers._ArrowDataset._filtered(self, keep, rows)
        raise InputError(self.path, "boom", row=1)

    monkeypatch.setattr(readers.ParquetDataset, "_filtered", failing_batches)
    out = tmp_path / "out.parquet"
    out.write_bytes(b"previous output")
    with pytest.raises(InputError, match="boom"):
        open_dataset(path).write_subset(KEEP, out)
    assert out.read_bytes() == b"previous output"
    assert leftover_files(tmp_path) == []


def test_existing_output_is_replaced(tmp_path):
    path = write_format(tmp_path, FLAT_RECORDS, "jsonl")
    out = tmp_path / "out.parquet"
    dataset = open_dataset(path)
    dataset.write_subset(KEEP, out)
    dataset.write_subset(np.zeros(10, dtype=bool), out)
    assert pq.read_table(out).num_rows == 0


def test_keep_must_match_the_number_of_rows(tmp_path):
    dataset = open_dataset(write_format(tmp_path, FLAT_RECORDS, "jsonl"))
    with pytest.raises(ValueError, match="holds 10 examples"):
        dataset.write_subset(np.ones(9, dtype=bool), tmp_path / "out.jsonl")
    with pytest.raises(ValueError, match="boolean"):
        dataset.write_subset(np.ones(10), tmp_path / "out.jsonl")


@pytest.mark.parametrize(
    ("out", "fragment"),
    [("missing/out.jsonl", "does not exist"), ("data.jsonl", "the input itself"), (".", "directory")],
)
def test_bad_output_paths_are_option_errors(tmp_path, out, fragment):
    dataset = open_dataset(write_format(tmp_path, FLAT_RECORDS, "jsonl"))
    target = tmp_path / out
    with pytest.raises(OptionError, match=fragment):
        dataset.write_subset(KEEP, target, "jsonl" if out == "." else None)


def test_output_without_suffix_from_jsonl_is_an_option_error(tmp_path):
    dataset = open_dataset(write_format(tmp_path, FLAT_RECORDS, "jsonl"))
    with pytest.raises(OptionError, match="suffix"):
        dataset.write_subset(KEEP, tmp_path / "subset")


@pytest.mark.parametrize("target", ["parquet", "csv", "jsonl"])
def test_empty_subset_keeps_the_columns(tmp_path, target):
    path = write_format(tmp_path, FLAT_RECORDS, "jsonl")
    out = tmp_path / OUTPUT_NAMES[target]
    assert open_dataset(path).write_subset(np.zeros(10, dtype=bool), out) == 0
    assert open_dataset(out).num_rows() == 0
    if target != "jsonl":
        assert open_dataset(out)._kept_batches(lambda: [], readers.RowRange())[0].names == [
            "text",
            "id",
            "score",
            "tag",
        ]


@pytest.mark.parametrize("source", ["jsonl", "parquet", "csv", "hf"])
@pytest.mark.parametrize("target", ["jsonl", "parquet"])
def test_a_mask_in_chunks_and_a_row_range_write_what_the_whole_mask_does(tmp_path, source, target):
    path = write_format(tmp_path, FLAT_RECORDS, source)
    dataset = open_dataset(path)
    whole, chunked, part = (tmp_path / f"{name}.{target}" for name in ("whole", "chunked", "part"))
    dataset.write_subset(KEEP, whole)
    # Chunks of any size, empty ones included, cover the rows back to back.
    chunks = [KEEP[:3], KEEP[3:3], KEEP[3:4], KEEP[4:]]
    assert dataset.write_selected(lambda: iter(chunks), chunked) == int(KEEP.sum())
    assert original_records(chunked) == original_records(whole)
    # A row range writes only its rows; the mask then covers just them.
    assert dataset.write_selected(lambda: [KEEP[2:7]], part, rows=(2, 7)) == int(KEEP[2:7].sum())
    in_range = KEEP & (np.arange(10) >= 2) & (np.arange(10) < 7)
    dataset.write_subset(in_range, tmp_path / f"reference.{target}")
    assert original_records(part) == original_records(tmp_path / f"reference.{target}")
    assert [record["text"] for record in original_records(part)] == [
        "example 2",
        "example 3",
        "example 5",
        "example 6",
    ]


def test_a_mask_that_does_not_cover_the_rows_is_an_error_and_writes_nothing(tmp_path):
    path = write_format(tmp_path, FLAT_RECORDS, "jsonl")
    out = tmp_path / "out.jsonl"
    with pytest.raises(ValueError, match="ends after 9 rows"):
        open_dataset(path).write_selected(lambda: [KEEP[:9]], out)
    with pytest.raises(ValueError, match="1 entries past the 10 rows"):
        open_dataset(path).write_selected(lambda: [np.append(KEEP, True)], out)
    with pytest.raises(ValueError, match="1-D boolean"):
        open_dataset(path).write_selected(lambda: [KEEP.astype(int)], out)
    assert not out.exists() and leftover_files(tmp_path) == []
