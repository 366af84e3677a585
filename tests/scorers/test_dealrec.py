"""The dealrec scorer: min-max normalised influence + λ·effort, with the raw parts as columns."""

import json
import pickle

import numpy as np
import pytest

import thresher
from thresher.components import Chosen, build, describe_params, parse_assignment, resolve_params
from thresher.errors import OptionError, StoreError
from thresher.scorers.dealrec import DealRecScorer, min_max
from thresher.scorers.effort import EffortScorer
from thresher.scorers.influence import InfluenceScorer
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
    # The manifest records the parts' parameters nested under their names, as the user sets them.
    recorded = json.loads((out / "manifest.json").read_text())["scorers"]["dealrec"]["params"]
    assert (
        recorded["lam"] == 0.5 and recorded["influence"]["ihvp"] == "cg" and recorded["influence"]["hvp_steps"] == 30
    )
    assert recorded["effort"]["lora_rank"] == 4 and recorded["effort"]["model"] == str(tiny_lm_dir)
    assert recorded["influence"]["label_field"] == "label" and recorded["effort"]["device"] == "cpu"
    # Another setting of a part is another fingerprint: refused before any training, unless --overwrite.
    with pytest.raises(StoreError, match="scorer 'dealrec' was run with other parameters"):
        thresher.score(
            corpus_jsonl,
            scorers=["dealrec"],
            out=out,
            label_field="label",
            params={**params, "dealrec.influence.damp": 0.02},
            **options,
        )
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


def resolved_dealrec(*assignments: str) -> DealRecScorer:
    layer = [parse_assignment(text) for text in assignments]
    kwargs = resolve_params([Chosen("dealrec", DealRecScorer)], [layer], forwarded={"seed": 7})["dealrec"]
    return build(DealRecScorer, kwargs)


def test_dealrec_parts_are_nested_components_set_by_their_dotted_names():
    scorer = resolved_dealrec("dealrec.influence.damp=0.02", "dealrec.effort.lora_rank=4", "model=m", "lam=0.5")
    assert isinstance(scorer.influence, InfluenceScorer) and isinstance(scorer.effort, EffortScorer)
    assert scorer.influence.damp == 0.02 and scorer.effort.lora_rank == 4 and scorer.lam == 0.5
    assert scorer.effort.model == "m"  # a bare `model` reaches the only part that takes one
    assert scorer.influence.seed == scorer.effort.seed == 7  # a forwarded option reaches both parts
    assert scorer.params_record() == {
        "influence": InfluenceScorer(damp=0.02, seed=7).params_record(),
        "effort": EffortScorer(model="m", lora_rank=4, seed=7).params_record(),
        "lam": 0.5,
    }
    names = [row.name for row in describe_params(DealRecScorer)]
    assert names == [
        *(f"influence.{name}" for name in InfluenceScorer.param_names()),
        *(f"effort.{name}" for name in EffortScorer.param_names()),
        "lam",
    ]
    with pytest.raises(OptionError, match="scorer dealrec needs model: give -p dealrec.effort.model"):
        resolved_dealrec("dealrec.influence.damp=0.02")
    with pytest.raises(OptionError, match="has no parameter 'influence.lora_rank'"):
        resolved_dealrec("dealrec.influence.lora_rank=4", "model=m")


def test_dealrec_pickles_before_setup_with_its_parts():
    scorer = resolved_dealrec("dealrec.influence.ihvp=cg", "dealrec.effort.max_length=32", "model=m")
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy.params_record() == scorer.params_record()
    assert copy.influence is not scorer.influence and copy.influence.ihvp == "cg" and copy.effort.max_length == 32
