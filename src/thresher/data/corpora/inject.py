"""Known junk for LM corpora: exact duplicates, word-shuffled text and random characters, each marked.

Pruning methods claim to drop redundant or meaningless text; injecting it ourselves (seeded, marked with
`injected` = kind) gives the answer they can be checked against: how much of each kind survives a selection.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from thresher.errors import OptionError

JUNK_KINDS = ("dup", "shuffled", "random")
# Characters of the random-text junk: what a broken scrape or binary-as-text tends to look like.
_RANDOM_ALPHABET = string.ascii_letters + string.digits + string.punctuation + "      "


def parse_inject_spec(spec: str) -> dict[str, float]:
    """The rates of `dup=0.05,shuffled=0.05,random=0.05`: kind → fraction of the original corpus size."""
    rates: dict[str, float] = {}
    for part in (piece.strip() for piece in spec.split(",")):
        if not part:
            continue
        kind, sep, value = part.partition("=")
        kind = kind.strip()
        if not sep or kind not in JUNK_KINDS:
            raise OptionError(f"--inject {part!r}: give KIND=FRACTION with KIND one of {', '.join(JUNK_KINDS)}")
        if kind in rates:
            raise OptionError(f"--inject lists {kind} twice")
        try:
            rate = float(value)
        except ValueError:
            raise OptionError(f"--inject {part!r}: {value!r} is not a number") from None
        if not 0.0 <= rate <= 1.0:
            raise OptionError(f"--inject {part!r}: the fraction must be between 0 and 1")
        rates[kind] = rate
    if not rates:
        raise OptionError("--inject is empty; give e.g. dup=0.05,shuffled=0.05,random=0.05")
    return rates


def shuffled_words(text: str, rng: np.random.Generator) -> str:
    """The words of `text` in a random order, joined by single spaces: same vocabulary, no syntax."""
    words = text.split()
    return " ".join(words[i] for i in rng.permutation(len(words)))


def random_characters(length: int, rng: np.random.Generator) -> str:
    """`length` characters drawn uniformly from letters, digits, punctuation and spaces."""
    alphabet = np.array(list(_RANDOM_ALPHABET))
    return "".join(alphabet[rng.integers(len(alphabet), size=max(1, length))])


def inject_junk(
    records: Sequence[dict[str, Any]],
    rates: Mapping[str, float],
    rng: np.random.Generator,
    *,
    text_field: str = "text",
    id_field: str = "id",
) -> list[dict[str, Any]]:
    """`records` plus round(rate · n) junk records of each kind, shuffled in; every record gets `injected`.

    Originals get `injected: None`. A `dup` copies a random original exactly (text and fields, new id); a
    `shuffled` one shuffles a random original's words; a `random` one is random characters as long as a random
    original. Junk ids are `<source id>-<kind><k>`, so they are unique and say where the junk came from.
    """
    unknown = sorted(set(rates) - set(JUNK_KINDS))
    if unknown:
        raise OptionError(f"unknown junk kind(s) {', '.join(unknown)}; choose from {', '.join(JUNK_KINDS)}")
    if not records:
        raise OptionError("cannot inject junk into an empty corpus")
    out: list[dict[str, Any]] = [{**record, "injected": None} for record in records]
    for kind in JUNK_KINDS:
        count = round(rates.get(kind, 0.0) * len(records))
        for k, source_row in enumerate(rng.integers(len(records), size=count)):
            source = records[int(source_row)]
            text = source[text_field]
            if kind == "shuffled":
                text = shuffled_words(text, rng)
            elif kind == "random":
                text = random_characters(len(text), rng)
            out.append({**source, id_field: f"{source.get(id_field, source_row)}-{kind}{k}", text_field: text,
                        "injected": kind})  # fmt: skip
    return [out[i] for i in rng.permutation(len(out))]
