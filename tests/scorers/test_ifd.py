"""The IFD scorer: its columns are ratios of two response NLLs computed directly with torch on a tiny GPT-2."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import torch
from typer.testing import CliRunner

import thresher
from tests.conftest import SENTENCES, write_jsonl
from tests.scorers.test_likelihood import _save_gpt2
from thresher.cli import app
from thresher.errors import InputError, OptionError
from thresher.models.folds import fold_of
from thresher.scorers.ifd import IfdScorer
from thresher.store import ScoreStore
from thresher.types import RunContext

COLUMNS = ["ifd", "ifd_ppl", "ifd_nll_conditioned", "ifd_nll_response", "ifd_n_tokens", "ifd_keep"]
# Prompts and answers from the tiny tokenizer's vocabulary; some answers continue their prompt, some do not.
PAIRS = [
    {"prompt": "the cat sat on", "answer": "the mat", "text": "pair one"},
    {"prompt": "a dog barked at the", "answer": "mailman", "text": "pair two"},
    {"prompt": "to be or not to be", "answer": "that is the question", "text": "pair three"},
    {"prompt": "all that glitters", "answer": "the quick brown fox jumps over the lazy dog", "text": "pair four"},
    {"prompt": SENTENCES[6], "answer": "is not gold", "text": "pair five"},
]


def direct_response_nll(model, context: list[int], response: list[int]) -> float:
    """Summed NLL (nats) of `response` after `context`, from one unbatched forward pass and log_softmax."""
    ids = torch.tensor([context + response])
    with torch.no_grad():
        log_probs = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    start = len(context)
    return float(-sum(log_probs[start + i - 1, token] for i, token in enumerate(response)))


@pytest.fixture(scope="module")
def tiny_gpt2(tiny_lm_dir):
    from transformers import AutoTokenizer, GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(tiny_lm_dir).eval(), AutoTokenizer.from_pretrained(tiny_lm_dir)


def expected_columns(tiny_gpt2, pairs: list[dict], max_length: int = 64) -> dict[str, np.ndarray]:
    model, tokenizer = tiny_gpt2
    bos = tokenizer.bos_token_id
    conditioned, alone, counts = [], [], []
    for pair in pairs:
        prompt = tokenizer(pair["prompt"], add_special_tokens=False)["input_ids"]
        response = tokenizer(pair["answer"], add_special_tokens=False)["input_ids"]
        # The documented rule: the response keeps its first max_length - 2 tokens, the prompt its last that fit.
        response = response[: max_length - 2]
        prompt = prompt[-(max_length - 1 - len(response)) :]
        assert 1 + len(prompt) + len(response) <= max_length
        conditioned.append(direct_response_nll(model, [bos, *prompt], response) / len(response))
        alone.append(direct_response_nll(model, [bos], response) / len(response))
        counts.append(len(response))
    conditioned, alone = np.array(conditioned), np.array(alone)
    return {
        "ifd": conditioned / alone,
        "ifd_ppl": np.exp(conditioned) / np.exp(alone),
        "ifd_nll_conditioned": conditioned,
        "ifd_nll_response": alone,
        "ifd_n_tokens": np.array(counts),
        "ifd_keep": (conditioned / alone <= 1).astype(float),
    }


def scored(tmp_path, tiny_lm_dir, pairs: list[dict], **options) -> dict[str, np.ndarray]:
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    thresher.score(
        data,
        scorers=["ifd"],
        out=tmp_path / "scores",
        model=str(tiny_lm_dir),
        dtype="float32",
        device="cpu",
        prompt_field="prompt",
        response_field="answer",
        **options,
    )
    table = ScoreStore.open(tmp_path / "scores").read_columns(COLUMNS)
    return {name: table.column(name).to_numpy() for name in COLUMNS}


def test_ifd_and_ifd_ppl_are_ratios_of_two_direct_nll_computations(tiny_lm_dir, tiny_gpt2, tmp_path):
    # A small token budget splits the ten passes over several padded batches.
    got = scored(tmp_path, tiny_lm_dir, PAIRS, batch_tokens=40)
    expected = expected_columns(tiny_gpt2, PAIRS)
    for name in COLUMNS:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, err_msg=name)
    # The prompt moves every response's NLL: no pair's conditioned pass is the response-alone pass in disguise.
    assert np.all(np.abs(got["ifd"] - 1) > 1e-6) and len(set(got["ifd"].round(9))) == len(PAIRS)


def test_long_pairs_are_cut_by_the_documented_rule(tiny_lm_dir, tiny_gpt2, tmp_path):
    long_pairs = [
        {"prompt": " ".join(SENTENCES), "answer": "the mat", "text": "long prompt"},
        {"prompt": "the cat", "answer": " ".join(SENTENCES[:3]), "text": "long answer"},
    ]
    got = scored(tmp_path, tiny_lm_dir, long_pairs, params={"max_length": 10})
    expected = expected_columns(tiny_gpt2, long_pairs, max_length=10)
    assert got["ifd_n_tokens"][1] == 8  # max_length - 2 response tokens
    for name in COLUMNS:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, err_msg=name)


def test_a_missing_prompt_or_response_names_file_line_and_field(tiny_lm_dir, tmp_path):
    pairs = [dict(pair) for pair in PAIRS[:3]]
    pairs[1].pop("prompt")
    (tmp_path / "a").mkdir()
    with pytest.raises(InputError, match=r"pairs.jsonl:2: field 'prompt': the prompt field is missing"):
        scored(tmp_path / "a", tiny_lm_dir, pairs)
    pairs = [dict(pair) for pair in PAIRS[:3]]
    pairs[2].pop("answer")
    (tmp_path / "b").mkdir()
    with pytest.raises(InputError, match=r"pairs.jsonl:3: field 'answer': the response field is missing"):
        scored(tmp_path / "b", tiny_lm_dir, pairs)
    # No score shard of the bad input is left behind.
    assert not list(tmp_path.glob("*/scores/ifd/*.parquet"))


def test_the_cli_needs_a_prompt_field_and_refuses_bad_input_with_exit_2(tiny_lm_dir, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", [PAIRS[0], {"text": "no prompt here"}])
    base = ["score", str(data), "--scorer", "ifd", "--model", str(tiny_lm_dir), "--device", "cpu"]
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "ifd needs prompt_field: give --prompt-field" in result.output
    result = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "b"), "--prompt-field", "prompt"])
    assert result.exit_code == 2 and "pairs.jsonl:2: field 'prompt': the prompt field is missing" in result.output


def test_a_batch_without_the_prompt_column_is_refused(tiny_lm_dir):
    scorer = IfdScorer(model=str(tiny_lm_dir), device="cpu", prompt_field="prompt")
    scorer.setup(RunContext())
    with pytest.raises(OptionError, match="--prompt-field prompt was not read into the batch"):
        scorer.score_batch(pa.record_batch({"row": [0], "id": ["a"], "text": ["x"]}))
    with pytest.raises(OptionError, match="max_length must be >= 3"):
        IfdScorer(model=str(tiny_lm_dir), prompt_field="p", max_length=2).setup(RunContext())


def test_provenance_names_the_model_and_the_truncation_rule(tiny_lm_dir, tmp_path):
    scored(tmp_path, tiny_lm_dir, PAIRS[:2])
    manifest = ScoreStore.open(tmp_path / "scores").manifest
    record = str(manifest)
    assert "fingerprint" in record and "max_length - 2" in record and "stride" not in record


def test_a_folds_directory_scores_each_pair_with_the_model_that_did_not_train_on_it(tmp_path):
    for fold in range(2):
        _save_gpt2(tmp_path / f"fold-{fold}", seed=10 + fold)
    (tmp_path / "folds.json").write_text(
        json.dumps({"k": 2, "assignment": "blake2b-mod", "models": ["fold-0", "fold-1"]})
    )
    ids = [f"pair-{row}" for row in range(6)]
    assert {fold_of(example_id, 2) for example_id in ids} == {0, 1}
    batch = pa.record_batch(
        {
            "row": list(range(6)),
            "id": ids,
            "text": ["the cat sat", "a dog", "the lazy dog", "tokens", "the mat", "a fox"],
            "prompt": ["a quick brown fox", "the cat sat on", "language models", "the dog", "on the", "jumps over"],
        }
    )

    def scores(model) -> dict[str, np.ndarray]:
        scorer = IfdScorer(model=str(model), prompt_field="prompt", dtype="float32", device="cpu")
        scorer.setup(RunContext())
        return scorer.score_batch(batch)

    routed = scores(tmp_path)
    per_fold = [scores(tmp_path / f"fold-{fold}") for fold in range(2)]
    assert not np.allclose(per_fold[0]["ifd"], per_fold[1]["ifd"])
    for row, example_id in enumerate(ids):
        assert routed["ifd"][row] == pytest.approx(per_fold[fold_of(example_id, 2)]["ifd"][row], rel=1e-6)
