"""The dealrec scorer: min-max normalised influence + λ·effort, with the raw parts as columns."""

import numpy as np
import pytest

import thresher
from thresher.errors import OptionError
from thresher.scorers.dealrec import min_max
from thresher.store import ScoreStore

# Tiny models: one torch thread avoids OpenMP fork/join overhead (see models/surrogate.single_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_min_max():
    np.testing.assert_allclose(min_max(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(min_max(np.array([5.0, 5.0])), [0.0, 0.0])


def test_dealrec_combines_the_influence_and_effort_scorers(corpus_jsonl, tiny_lm_dir, tiny_embedder_dir, tmp_path):
    out = tmp_path / "scores"
    options = {
        "model": str(tiny_lm_dir),
        "embedder": str(tiny_embedder_dir),
        "device": "cpu",
    }
    params = {"epochs": 2, "ihvp": "cg", "hvp_steps": 30, "lora_rank": 4, "lam": 0.5}
    thresher.score(
        corpus_jsonl,
        scorers=["influence", "effort", "dealrec"],
        out=out,
        label_field="label",
        params=params,
        **options,
    )
    table = ScoreStore.open(out).read_columns(
        ["influence", "effort", "dealrec", "dealrec_influence", "dealrec_effort"]
    )
    columns = {name: table.column(name).to_numpy() for name in table.column_names if name != "id"}
    np.testing.assert_allclose(columns["dealrec_influence"], columns["influence"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(columns["dealrec_effort"], columns["effort"], rtol=1e-5)
    expected = min_max(columns["influence"]) + 0.5 * min_max(columns["effort"])
    np.testing.assert_allclose(columns["dealrec"], expected, rtol=1e-5, atol=1e-6)
    # Selection by the combined score with coverage-enhanced sampling.
    kept = thresher.select(
        corpus_jsonl, scores=out, by="dealrec", keep=0.5, strategy="stratified", out=tmp_path / "k.jsonl"
    )
    assert kept.kept == 12


def test_negative_lambda_is_refused(corpus_jsonl, tiny_lm_dir, tiny_embedder_dir, tmp_path):
    with pytest.raises(OptionError, match="lam"):
        thresher.score(
            corpus_jsonl,
            scorers=["dealrec"],
            out=tmp_path / "s",
            label_field="label",
            model=str(tiny_lm_dir),
            embedder=str(tiny_embedder_dir),
            params={"lam": -1.0},
        )
