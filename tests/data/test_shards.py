"""Shards read on their own (byte ranges, row groups, Arrow files) give the sequential reader's rows and ids."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.data.shards import census_counts, load_counts, occurrence_offsets, save_counts
from thresher.engine.sources import plan_sources, read_source
from thresher.errors import InputError

LAYOUTS = [(1, 1 << 20), (7, 50), (7, 333), (33, 90), (1000, 64)]  # (shard rows, piece bytes)


def texts_with_repeats(rows: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [f"text {int(rng.integers(0, rows // 4))}" for _ in range(rows)]


def read_in_shards(dataset, shard_rows: int, piece_bytes: int, work) -> pa.Table:
    sources = plan_sources(dataset, shard_rows, work, piece_bytes=piece_bytes)
    assert sources is not None
    assert [source.rows for source in sources[:-1]] == [shard_rows] * (len(sources) - 1)
    return pa.Table.from_batches([read_source(dataset, source) for source in sources])


@pytest.mark.parametrize(("shard_rows", "piece_bytes"), LAYOUTS)
def test_jsonl_shards_equal_one_sequential_pass(tmp_path, shard_rows, piece_bytes):
    texts = texts_with_repeats(80)
    lines = []
    for row, text in enumerate(texts):
        lines.append(json.dumps({"text": text, "label": row % 3, "q": f"question {row}"}))
        if row % 9 == 0:
            lines.append("   ")  # blank lines are not examples, but count as lines
    path = tmp_path / "in.jsonl"
    path.write_bytes(("\ufeff" + "\r\n".join(lines)).encode())  # a BOM, CRLF, no final newline
    dataset = open_dataset(path, Fields(label="label", prompt="q"))
    expected = pa.Table.from_batches(list(dataset.iter_examples(batch_rows=5)))
    assert read_in_shards(dataset, shard_rows, piece_bytes, tmp_path / "work").equals(expected)
    assert set(expected.column_names) == {"row", "id", "text", "label", "prompt"}


@pytest.mark.parametrize(("shard_rows", "piece_bytes"), LAYOUTS)
def test_parquet_and_hf_shards_equal_one_sequential_pass(tmp_path, shard_rows, piece_bytes):
    import datasets

    texts = texts_with_repeats(70)
    table = pa.table({"text": texts, "key": list(range(70))})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=9)
    datasets.Dataset.from_dict(table.to_pydict()).save_to_disk(str(tmp_path / "hf"), max_shard_size="1KB")
    for path, fields in ((tmp_path / "in.parquet", Fields()), (tmp_path / "hf", Fields(id="key"))):
        dataset = open_dataset(path, fields)
        expected = pa.Table.from_batches(list(dataset.iter_examples(batch_rows=4)))
        got = read_in_shards(dataset, shard_rows, piece_bytes, tmp_path / f"work-{path.name}")
        assert got.equals(expected), path.name


def test_a_memory_url_is_read_through_fsspec(tmp_path):
    import fsspec

    texts = texts_with_repeats(40)
    with fsspec.open("memory://bucket/in.jsonl", "w") as handle:
        handle.write("".join(json.dumps({"text": text}) + "\n" for text in texts))
    dataset = open_dataset("memory://bucket/in.jsonl")
    local = tmp_path / "in.jsonl"
    local.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    expected = pa.Table.from_batches(list(open_dataset(local).iter_examples()))
    assert pa.Table.from_batches(list(dataset.iter_examples())).equals(expected)
    assert read_in_shards(dataset, 6, 100, tmp_path / "work").equals(expected)
    assert dataset.fingerprint()["blake2b"].startswith("stat:")


def test_compressed_and_csv_inputs_have_no_pieces(tmp_path):
    import gzip

    (tmp_path / "in.jsonl.gz").write_bytes(gzip.compress(b'{"text": "a"}\n'))
    (tmp_path / "in.csv").write_text('text\n"a\nb"\n')
    assert open_dataset(tmp_path / "in.jsonl.gz").pieces() is None
    assert open_dataset(tmp_path / "in.csv").pieces() is None


def test_occurrence_offsets_are_the_exclusive_prefix_over_shards(tmp_path):
    rng = np.random.default_rng(3)
    shards = [rng.integers(0, 2**64 - 1, size=20, dtype=np.uint64) % np.uint64(2**63) for _ in range(6)]
    shards = [np.concatenate([digests, shards[0][:5]]) for digests in shards]  # a few digests in every shard
    shards[4] = np.concatenate([shards[4], np.array([2**64 - 1, 0], dtype=np.uint64)])  # the range's two ends
    paths = []
    for index, digests in enumerate(shards):
        path = tmp_path / f"census-{index}.npz"
        save_counts(path, *census_counts(digests))
        paths.append(path)
    # Buckets of 8 entries: the digest range is cut in many pieces, and the answer must not change.
    for bucket_entries in (8, 1 << 20):
        out = tmp_path / f"offsets-{bucket_entries}"
        out.mkdir()
        offsets = occurrence_offsets(paths, out, bucket_entries=bucket_entries)
        for index, digests in enumerate(shards):
            earlier = np.concatenate(shards[:index]) if index else np.zeros(0, dtype=np.uint64)
            expected = {int(d): int((earlier == d).sum()) for d in np.unique(digests) if (earlier == d).any()}
            got = {}
            if offsets[index] is not None:
                digests_found, counts_found = load_counts(offsets[index])
                got = dict(zip(digests_found.tolist(), counts_found.tolist(), strict=True))
            assert got == expected, (bucket_entries, index)
    assert offsets[0] is None


def test_errors_surface_at_the_first_bad_line_in_file_order(tmp_path):
    good = [json.dumps({"text": f"t{row}", "key": row}) for row in range(40)]
    path = tmp_path / "in.jsonl"
    # An empty text in the last shard, a bad line earlier: the earlier one is what a sequential pass reports.
    path.write_text("\n".join([*good[:12], json.dumps({"txt": "x"}), *good[12:35], json.dumps({"text": ""})]))
    dataset = open_dataset(path, Fields(id="key"))
    with pytest.raises(InputError) as sequential:
        list(dataset.iter_examples())
    with pytest.raises(InputError) as parallel:
        plan_sources(dataset, 5, tmp_path / "work", piece_bytes=64)
    assert str(parallel.value) == str(sequential.value) and parallel.value.line == 13


def test_a_subset_of_a_url_input_is_written_like_the_local_files(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"text": text, "n": row}) + "\n" for row, text in enumerate("abcdef")))
    keep = np.array([True, False, True, True, False, False])
    open_dataset(path).write_subset(keep, tmp_path / "local.jsonl")
    open_dataset(path.as_uri()).write_subset(keep, tmp_path / "url.jsonl")
    assert (tmp_path / "url.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert len((tmp_path / "url.jsonl").read_text().splitlines()) == 3
