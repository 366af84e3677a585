"""The class-stratified sample behind `--limit` for wordnet-supersense: every class kept, in proportion."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from thresher.data.corpora.wordnet import parse_data_line, stratified_sample
from thresher.errors import OptionError


def test_every_class_kept_in_proportion_and_seeded():
    records = [{"id": str(i), "label": "big" if i < 90 else ("mid" if i < 99 else "tiny")} for i in range(100)]
    sample = stratified_sample(records, 20, np.random.default_rng(0))
    assert Counter(record["label"] for record in sample) == {"big": 18, "mid": 2, "tiny": 1}
    assert sample == stratified_sample(records, 20, np.random.default_rng(0))
    with pytest.raises(OptionError, match="at least 1"):
        stratified_sample(records, 0, np.random.default_rng(0))


def test_gloss_with_examples_is_one_labelled_record():
    line = '00001740 03 n 01 entity 0 000 | that which is perceived; "an entity of interest"  \n'
    assert parse_data_line(line) == {
        "id": "n00001740",
        "words": "entity",
        "text": 'that which is perceived; "an entity of interest"',
        "label": "noun.Tops",
    }
