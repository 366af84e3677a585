"""Benchmark corpora built from Debian packages, with optional label noise or injected junk (`build_corpus.py`).

- `wordnet-supersense`: every WordNet synset's gloss (definition and quoted examples) labelled by its
  lexicographer file (45 classes), from `wordnet-base`.
- `gcide`: every GCIDE dictionary entry as one document for LM pretraining, from `dict-gcide`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from thresher.atomic import staged_file
from thresher.data.corpora.gcide import GCIDE_DICT, GCIDE_INDEX, iter_gcide_entries
from thresher.data.corpora.inject import inject_junk
from thresher.data.corpora.noise import NOISE_MODES, add_label_noise
from thresher.data.corpora.wordnet import WORDNET_DIR, iter_wordnet_glosses, stratified_sample
from thresher.errors import OptionError

CORPORA = ("wordnet-supersense", "gcide")
# The Debian package that provides each corpus's files, for the builder script's install step.
DEBIAN_PACKAGES = {"wordnet-supersense": "wordnet-base", "gcide": "dict-gcide"}
LABELLED = {"wordnet-supersense"}


def corpus_files(name: str) -> list[Path]:
    """The system files a corpus is read from (to check whether its Debian package is installed)."""
    if name == "wordnet-supersense":
        return [WORDNET_DIR / f"data.{pos}" for pos in ("noun", "verb", "adj", "adv")]
    if name == "gcide":
        return [GCIDE_DICT, GCIDE_INDEX]
    raise OptionError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")


def check_options(
    name: str,
    *,
    limit: int | None = None,
    label_noise: float = 0.0,
    noise_mode: str = "uniform",
    min_chars: int | None = None,
    max_chars: int | None = None,
) -> None:
    """Raise OptionError for options that cannot apply to corpus `name`, before anything is read or installed."""
    corpus_files(name)  # rejects an unknown name
    if limit is not None and limit < 1:
        raise OptionError(f"--limit must be at least 1, got {limit}")
    for flag, value in (("--min-chars", min_chars), ("--max-chars", max_chars)):
        if value is not None and value < 1:
            raise OptionError(f"{flag} must be at least 1, got {value}")
    if min_chars is not None and max_chars is not None and min_chars > max_chars:
        raise OptionError(f"--min-chars {min_chars} is more than --max-chars {max_chars}")
    if not 0.0 <= label_noise <= 1.0:
        raise OptionError(f"--label-noise {label_noise}: must be a fraction between 0 and 1")
    if label_noise and name not in LABELLED:
        raise OptionError(f"--label-noise applies to labelled corpora ({', '.join(sorted(LABELLED))}), not {name}")
    if noise_mode not in NOISE_MODES:
        raise OptionError(f"--noise-mode {noise_mode!r}: choose one of {', '.join(NOISE_MODES)}")


def build_corpus(
    name: str,
    *,
    limit: int | None = None,
    seed: int = 0,
    label_noise: float = 0.0,
    noise_mode: str = "uniform",
    inject: Mapping[str, float] | None = None,
    min_chars: int | None = None,
    max_chars: int | None = None,
) -> list[dict[str, Any]]:
    """The records of corpus `name`: those of `min_chars` to `max_chars` characters, sampled to `limit` (seeded),
    labels flipped (`noise_mode`: `uniform` or `class-dependent`, see `thresher.data.corpora.noise`), junk
    injected, in that order.

    `limit` takes a class-stratified sample for labelled corpora and a uniform one (in file order) otherwise.
    """
    check_options(
        name, limit=limit, label_noise=label_noise, noise_mode=noise_mode, min_chars=min_chars, max_chars=max_chars
    )
    rng = np.random.default_rng(seed)
    records: list[dict[str, Any]] = list(
        iter_wordnet_glosses() if name == "wordnet-supersense" else iter_gcide_entries()
    )
    records = [record for record in records if within_length(record["text"], min_chars, max_chars)]
    if limit is not None and limit < len(records):
        if name == "wordnet-supersense":
            records = stratified_sample(records, limit, rng)
        else:
            records = [records[i] for i in sorted(rng.choice(len(records), size=limit, replace=False))]
    if label_noise:
        records = add_label_noise(records, label_noise, rng, mode=noise_mode)
    if inject:
        records = inject_junk(records, inject, rng)
    return records


def within_length(text: str, min_chars: int | None, max_chars: int | None) -> bool:
    """Whether `text` has at least `min_chars` and at most `max_chars` characters (None: no bound)."""
    return (min_chars is None or len(text) >= min_chars) and (max_chars is None or len(text) <= max_chars)


def write_jsonl(records: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write one JSON object per line under a temporary name, then rename: no half-written corpus. Gives the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with staged_file(path) as staging, staging.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
