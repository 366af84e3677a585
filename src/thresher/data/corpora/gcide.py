"""GCIDE dictionary entries as documents: a real English LM-pretraining corpus from Debian's `dict-gcide`.

The dictd format is a (dictzip-compressed) text file of entries plus an index whose lines are
`headword TAB offset TAB length`, offsets and lengths written in dictd's base-64 digits. Several headwords
point at the same entry (`Law`, `Law lords`, …), so entries are keyed by their byte range and read once each.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from thresher.errors import InputError

GCIDE_DICT = Path("/usr/share/dictd/gcide.dict.dz")
GCIDE_INDEX = Path("/usr/share/dictd/gcide.index")
INSTALL_HINT = "install it with `apt-get install dict-gcide`"

# dictd's base-64 digits (RFC 4648 order), most significant first.
_B64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {digit: value for value, digit in enumerate(_B64_DIGITS)}
# Headwords that dictd reserves for the database's own description and licence.
_META_PREFIX = "00-"


def decode_b64_number(digits: str) -> int:
    """The integer that dictd writes as `digits` in its base-64 number format ("Rm" → 1126)."""
    if not digits:
        raise ValueError("empty dictd number")
    value = 0
    for digit in digits:
        if digit not in _B64_VALUE:
            raise ValueError(f"{digit!r} is not a dictd base-64 digit")
        value = value * 64 + _B64_VALUE[digit]
    return value


def parse_index_line(
    line: str, *, path: str | Path = "<index>", line_number: int | None = None
) -> tuple[str, int, int]:
    """(headword, byte offset, byte length) of one `.index` line; InputError naming the line if malformed."""
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 3:
        raise InputError(path, f"expected 'headword<TAB>offset<TAB>length', got {line.strip()!r}", line=line_number)
    headword, offset, length = parts
    try:
        return headword, decode_b64_number(offset), decode_b64_number(length)
    except ValueError as error:
        raise InputError(path, f"bad offset or length: {error}", line=line_number) from None


def read_dict_bytes(dict_path: Path) -> bytes:
    """The decompressed dictionary: `.dz` files are gzip-compatible (dictzip), plain `.dict` files are read as is."""
    if dict_path.suffix == ".dz":
        try:
            with gzip.open(dict_path, "rb") as compressed:
                return compressed.read()
        except (OSError, EOFError) as error:
            raise InputError(dict_path, f"not a readable dictzip/gzip file ({error})") from None
    return dict_path.read_bytes()


def iter_gcide_entries(
    dict_path: str | Path = GCIDE_DICT, index_path: str | Path = GCIDE_INDEX
) -> Iterator[dict[str, str]]:
    """Every dictionary entry once, in file order: `id` (gcide-OFFSET), first `headword`, entry `text`.

    The database's self-description (`00-database-*` headwords) is skipped; it is licence text, not entries.
    """
    dict_path, index_path = Path(dict_path), Path(index_path)
    for path in (dict_path, index_path):
        if not path.is_file():
            raise InputError(path, f"GCIDE file not found; {INSTALL_HINT}")
    first_headword: dict[tuple[int, int], str] = {}
    meta_ranges: set[tuple[int, int]] = set()
    with open(index_path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            headword, offset, length = parse_index_line(line, path=index_path, line_number=number)
            if headword.startswith(_META_PREFIX):
                meta_ranges.add((offset, length))
            else:
                first_headword.setdefault((offset, length), headword)
    content = read_dict_bytes(dict_path)
    for offset, length in sorted(first_headword):
        if (offset, length) in meta_ranges:
            continue
        if offset + length > len(content):
            raise InputError(
                index_path, f"entry {first_headword[(offset, length)]!r} points past the dictionary's end"
            )
        text = content[offset : offset + length].decode("utf-8", errors="replace").strip()
        if text:
            yield {"id": f"gcide-{offset}", "headword": first_headword[(offset, length)], "text": text}
