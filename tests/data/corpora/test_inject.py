"""Junk injection: round(rate·n) records of each kind, each marked, originals untouched and marked null."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from thresher.data.corpora.inject import inject_junk, parse_inject_spec
from thresher.errors import OptionError

RECORDS = [{"id": f"doc{i}", "text": f"word{i} alpha beta gamma delta {i}"} for i in range(40)]


def test_counts_and_marks_per_kind():
    out = inject_junk(RECORDS, {"dup": 0.1, "shuffled": 0.05, "random": 0.025}, np.random.default_rng(0))
    assert Counter(record["injected"] for record in out) == {None: 40, "dup": 4, "shuffled": 2, "random": 1}
    assert len({record["id"] for record in out}) == len(out)
    originals = {record["id"]: record["text"] for record in RECORDS}
    assert {record["id"]: record["text"] for record in out if record["injected"] is None} == originals
    for record in out:
        source = originals[record["id"].rsplit("-", 1)[0]] if record["injected"] else None
        if record["injected"] == "dup":
            assert record["text"] == source
        elif record["injected"] == "shuffled":
            assert sorted(record["text"].split()) == sorted(source.split())
        elif record["injected"] == "random":
            assert len(record["text"]) == len(source)


def test_seeded_and_shuffled_in():
    first = inject_junk(RECORDS, {"dup": 0.1}, np.random.default_rng(3))
    again = inject_junk(RECORDS, {"dup": 0.1}, np.random.default_rng(3))
    assert first == again
    positions = [i for i, record in enumerate(first) if record["injected"]]
    assert positions != list(range(40, 44))  # not simply appended


def test_parse_inject_spec_and_its_errors():
    assert parse_inject_spec("dup=0.05, shuffled=0.1,random=0") == {"dup": 0.05, "shuffled": 0.1, "random": 0.0}
    for bad, message in [("dup", "KIND=FRACTION"), ("noise=0.1", "KIND=FRACTION"), ("dup=x", "not a number"),
                         ("dup=2", "between 0 and 1"), ("dup=0.1,dup=0.2", "twice"), ("", "empty")]:  # fmt: skip
        with pytest.raises(OptionError, match=message):
            parse_inject_spec(bad)
    with pytest.raises(OptionError, match="empty corpus"):
        inject_junk([], {"dup": 0.1}, np.random.default_rng(0))
