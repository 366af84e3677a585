"""GCIDE parsing on a hand-written dictd snippet: base-64 offsets, shared entries read once, errors name the line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from thresher.data.corpora.gcide import decode_b64_number, iter_gcide_entries, parse_index_line
from thresher.errors import InputError

_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

ENTRIES = [
    "\n00-database-short\n   A tiny test dictionary\n",
    'Abacus \\Ab"a*cus\\, n.\n   A calculating frame.\n   [1913 Webster]\n',
    'Zebra \\Ze"bra\\, n.\n   A striped horse.\n   [1913 Webster]\n',
]


def _b64(value: int) -> str:
    digits = ""
    while True:
        digits = _DIGITS[value % 64] + digits
        value //= 64
        if value == 0:
            return digits


def write_dictionary(directory: Path, *, compress: bool) -> tuple[Path, Path]:
    """A .dict(.dz) holding ENTRIES and an index where two headwords share the Abacus entry."""
    content = "".join(ENTRIES).encode()
    ranges, offset = [], 0
    for entry in ENTRIES:
        ranges.append((offset, len(entry.encode())))
        offset += len(entry.encode())
    index_lines = [
        ("00-database-short", *ranges[0]),
        ("Abacus", *ranges[1]),
        ("Abaci", *ranges[1]),
        ("Zebra", *ranges[2]),
    ]
    index = directory / "test.index"
    index.write_text("".join(f"{word}\t{_b64(start)}\t{_b64(length)}\n" for word, start, length in index_lines))
    if compress:
        dictionary = directory / "test.dict.dz"
        dictionary.write_bytes(gzip.compress(content))
    else:
        dictionary = directory / "test.dict"
        dictionary.write_bytes(content)
    return dictionary, index


def test_decode_b64_number_matches_dictd_digits():
    assert decode_b64_number("A") == 0
    assert decode_b64_number("Rm") == 17 * 64 + 38
    assert decode_b64_number("IBT") == 8 * 64 * 64 + 1 * 64 + 19
    with pytest.raises(ValueError):
        decode_b64_number("a-b")


@pytest.mark.parametrize("compress", [False, True])
def test_entries_are_read_once_each_without_the_database_header(tmp_path, compress):
    dictionary, index = write_dictionary(tmp_path, compress=compress)
    entries = list(iter_gcide_entries(dictionary, index))
    assert [entry["headword"] for entry in entries] == ["Abacus", "Zebra"]
    assert entries[0]["text"] == ENTRIES[1].strip()
    assert entries[1]["text"].endswith("[1913 Webster]")
    assert entries[0]["id"] == f"gcide-{len(ENTRIES[0])}"


def test_malformed_index_line_names_the_line(tmp_path):
    dictionary, index = write_dictionary(tmp_path, compress=False)
    index.write_text(index.read_text() + "broken line without tabs\n")
    with pytest.raises(InputError, match=r"test\.index:5"):
        list(iter_gcide_entries(dictionary, index))
    with pytest.raises(InputError, match="bad offset"):
        parse_index_line("word\tA-\tB\n", path="x.index", line_number=3)


def test_entry_past_the_end_and_missing_files_are_input_errors(tmp_path):
    dictionary, index = write_dictionary(tmp_path, compress=False)
    index.write_text(index.read_text() + f"Ghost\t{_b64(10_000)}\tB\n")
    with pytest.raises(InputError, match="past the dictionary's end"):
        list(iter_gcide_entries(dictionary, index))
    with pytest.raises(InputError, match="dict-gcide"):
        list(iter_gcide_entries(tmp_path / "missing.dict.dz", index))
