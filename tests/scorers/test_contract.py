"""Every registered scorer honours the same contract (scikit-learn's `parametrize_with_checks`, in small)."""

import pickle

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import SENTENCES
from thresher.components import Chosen, build, resolve_params
from thresher.scorers.base import RunContext, Scorer
from thresher.scorers.registry import SCORERS
from thresher.types import ColumnKind, Direction


@pytest.fixture(params=SCORERS.names())
def scorer(request, tiny_lm_dir, tiny_embedder_dir, tmp_path) -> Scorer:
    options = {"model": str(tiny_lm_dir), "dtype": "float32", "device": "cpu", "embedder": str(tiny_embedder_dir)}
    # ask-llm: the tiny LM's 64-token context needs a short prompt.
    (tmp_path / "prompt.txt").write_text("{text} ok?")
    options.update(prompt_file=str(tmp_path / "prompt.txt"), max_tokens=24)
    # Training dynamics: a short proxy training on the labelled batch.
    options.update(seeds=2, epochs=2, score_epoch=1)
    scorer_class = SCORERS.get(request.param)
    return build(
        scorer_class, resolve_params([Chosen(request.param, scorer_class)], [], forwarded=options)[request.param]
    )


def batch_of(texts: list[str], first: int = 0) -> pa.RecordBatch:
    """A batch whose ids follow the rows, so a slice of the input keeps its examples' ids."""
    ids = [f"id-{first + i}" for i in range(len(texts))]
    # Every batch carries labels, as when the run has a --label-field; scorers that need none ignore them.
    labels = [f"class-{(first + i) % 2}" for i in range(len(texts))]
    return pa.record_batch({"id": ids, "text": texts, "label": labels})


def test_columns_and_directions_are_declared(scorer):
    names = [column.name for column in scorer.columns]
    assert names and len(names) == len(set(names))
    assert all(column.description for column in scorer.columns)
    # Scores have a direction; flags and id columns have none.
    assert all(
        isinstance(column.direction, Direction) == (column.kind is ColumnKind.SCORE) for column in scorer.columns
    )


def test_params_round_trip_and_pickle_before_setup(scorer):
    params = scorer.get_params()
    assert set(params) == set(type(scorer).param_names())
    rebuilt = SCORERS.get(scorer.name)(**params)
    assert rebuilt.get_params() == params
    # Nested components (dealrec's parts) come back as equal copies, not the same objects: compare their records.
    assert pickle.loads(pickle.dumps(scorer)).params_record() == scorer.params_record()


def test_one_value_per_example_deterministic_and_independent_of_batch(scorer):
    texts = SENTENCES + [sentence.upper() for sentence in SENTENCES]
    scorer.setup(RunContext(seed=0))
    if scorer.requires_fit:
        scorer.fit(lambda: iter([batch_of(texts[:5]), batch_of(texts[5:], first=5)]))
    whole = scorer.score_batch(batch_of(texts))
    again = scorer.score_batch(batch_of(texts))
    part = scorer.score_batch(batch_of(texts[3:9], first=3))
    assert set(whole) == {column.name for column in scorer.columns}
    dtypes = {column.name: column.dtype for column in scorer.columns}
    for name, values in whole.items():
        assert len(values) == len(texts)
        np.testing.assert_array_equal(values, again[name])
        if dtypes[name] == "string":  # ids such as dedup's duplicate_of
            assert all(isinstance(value, str) for value in values)
            np.testing.assert_array_equal(values[3:9], part[name])
            continue
        assert np.all(np.isfinite(values.astype(np.float64)))
        np.testing.assert_allclose(values[3:9], part[name], rtol=1e-5, atol=1e-5)
    scorer.teardown()
