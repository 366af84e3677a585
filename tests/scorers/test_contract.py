"""Every registered scorer honours the same contract (scikit-learn's `parametrize_with_checks`, in small)."""

import pickle

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import SENTENCES
from thresher.scorers.base import Direction, RunContext, Scorer
from thresher.scorers.registry import build_scorer, get_scorer_class, list_scorers


@pytest.fixture(params=list_scorers())
def scorer(request, tiny_lm_dir) -> Scorer:
    return build_scorer(request.param, {"model": str(tiny_lm_dir), "dtype": "float32", "device": "cpu"})


def batch_of(texts: list[str]) -> pa.RecordBatch:
    return pa.record_batch({"id": [f"id-{i}" for i in range(len(texts))], "text": texts})


def test_columns_and_directions_are_declared(scorer):
    names = [column.name for column in scorer.columns]
    assert names and len(names) == len(set(names))
    assert all(isinstance(column.direction, Direction) and column.description for column in scorer.columns)


def test_params_round_trip_and_pickle_before_setup(scorer):
    params = scorer.get_params()
    assert set(params) == set(type(scorer).param_names())
    rebuilt = get_scorer_class(scorer.name)(**params)
    assert rebuilt.get_params() == params
    assert pickle.loads(pickle.dumps(scorer)).get_params() == params


def test_one_value_per_example_deterministic_and_independent_of_batch(scorer):
    texts = SENTENCES + [sentence.upper() for sentence in SENTENCES]
    scorer.setup(RunContext(seed=0))
    whole = scorer.score_batch(batch_of(texts))
    again = scorer.score_batch(batch_of(texts))
    part = scorer.score_batch(batch_of(texts[3:9]))
    assert set(whole) == {column.name for column in scorer.columns}
    for name, values in whole.items():
        assert len(values) == len(texts) and np.all(np.isfinite(values.astype(np.float64)))
        np.testing.assert_array_equal(values, again[name])
        np.testing.assert_allclose(values[3:9], part[name], rtol=1e-5, atol=1e-5)
    scorer.teardown()
