"""WordNet glosses labelled by lexicographer file: a real 45-class text corpus from Debian's `wordnet-base`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thresher.errors import InputError, OptionError

WORDNET_DIR = Path("/usr/share/wordnet")
PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")

# The 45 lexicographer files, by number (WordNet's lexnames(5)).
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
    "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
    "verb.weather", "adj.ppl",
)  # fmt: skip


def parse_data_line(line: str) -> dict[str, str] | None:
    """One synset record from a `data.POS` line: id, words, gloss text and lexicographer class.

    Returns None for the licence header (lines that start with two spaces).
    """
    if line.startswith("  ") or " | " not in line:
        return None
    fields, gloss = line.split(" | ", 1)
    parts = fields.split()
    offset, lex_number, pos, word_count = parts[0], int(parts[1]), parts[2], int(parts[3], 16)
    words = [parts[4 + 2 * i].replace("_", " ") for i in range(word_count)]
    return {
        "id": f"{pos}{offset}",
        "words": ", ".join(words),
        "text": gloss.strip(),
        "label": LEXNAMES[lex_number],
    }


def iter_wordnet_glosses(root: Path = WORDNET_DIR) -> Iterator[dict[str, str]]:
    """Every synset of WordNet with its gloss as `text` and its lexicographer file as `label`."""
    missing = [pos for pos in PARTS_OF_SPEECH if not (root / f"data.{pos}").is_file()]
    if missing:
        raise InputError(root, "WordNet data files not found; install them with `apt-get install wordnet-base`")
    for pos in PARTS_OF_SPEECH:
        with open(root / f"data.{pos}", encoding="utf-8") as lines:
            for line in lines:
                record = parse_data_line(line)
                if record is not None:
                    yield record


def stratified_sample(records: Sequence[dict[str, Any]], rows: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """About `rows` records, each class kept in proportion to its size (at least one per class), shuffled.

    A plain random sample of a few thousand glosses can miss WordNet's rarest lexicographer files entirely;
    a class absent from training but present in a held-out split would make accuracy meaningless.
    """
    if rows < 1:
        raise OptionError(f"--limit must be at least 1, got {rows}")
    by_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_class[record["label"]].append(record)
    fraction = min(1.0, rows / max(len(records), 1))
    sample: list[dict[str, Any]] = []
    for label in sorted(by_class):
        members = by_class[label]
        take = max(1, round(fraction * len(members)))
        sample.extend(members[i] for i in sorted(rng.choice(len(members), size=take, replace=False)))
    return [sample[i] for i in rng.permutation(len(sample))]
