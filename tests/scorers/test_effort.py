"""The effort scorer: LoRA gradient norms equal a per-example autograd loop; prompts are masked out of the loss."""

import json

import numpy as np
import pyarrow as pa
import pytest
import torch

import thresher
from tests.conftest import SENTENCES, write_jsonl
from thresher.errors import InputError, OptionError
from thresher.models import lora
from thresher.models.loading import load_causal_lm
from thresher.scorers.effort import EffortScorer
from thresher.store import ScoreStore
from thresher.types import RunContext

# Tiny models: one torch thread avoids OpenMP fork/join overhead (see models/surrogate.single_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def tiny_lora(tiny_lm_dir):
    loaded = load_causal_lm(str(tiny_lm_dir), dtype=torch.float32, device=torch.device("cpu"))
    model = lora.attach_lora(loaded.model, targets=["c_attn"], rank=4, seed=0).eval()
    return model, loaded.tokenizer


def test_batched_norms_equal_a_per_example_autograd_loop(tiny_lora):
    model, tokenizer = tiny_lora
    with torch.no_grad():  # B ≠ 0, so A's gradients count too
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1)
    examples = [lora.encode_example(tokenizer, text, max_length=32) for text in SENTENCES]
    examples += [lora.encode_example(tokenizer, "the mat", prompt=SENTENCES[0], max_length=32)]
    batched = lora.lora_grad_norms(model, lora.collate(examples, pad_id=0))
    looped = lora.lora_grad_norms_loop(model, examples, pad_id=0)
    torch.testing.assert_close(batched, looped, rtol=1e-5, atol=1e-7)
    assert (batched > 0).all()


def test_fresh_adapter_has_zero_a_gradient_and_nonzero_b_gradient(tiny_lora):
    model, tokenizer = tiny_lora
    loss = lora.mean_losses(model, lora.collate([lora.encode_example(tokenizer, SENTENCES[2])], 0))[0]
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [p for _, p in model.named_parameters() if p.requires_grad])
    for name, grad in zip(names, grads, strict=True):
        assert (grad.abs().sum() == 0) == ("lora_A" in name), name


def test_prompt_tokens_are_masked(tiny_lora):
    model, tokenizer = tiny_lora
    encoded = lora.encode_example(tokenizer, "the mat", prompt="the cat sat on", max_length=64)
    prompt_ids = tokenizer("the cat sat on", add_special_tokens=False)["input_ids"]
    response_ids = tokenizer("the mat", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert encoded.input_ids == prompt_ids + response_ids
    assert encoded.labels == [lora.IGNORE_INDEX] * len(prompt_ids) + response_ids
    # The loss is the mean over response tokens only: changing the prompt's last token changes the loss, but
    # the prompt's own tokens never enter it.
    nll, mask = lora.token_losses(model, lora.collate([encoded], 0))
    assert int(mask.sum()) == len(response_ids)
    plain = lora.encode_example(tokenizer, "the cat sat on the mat")
    assert plain.labels[0] == lora.IGNORE_INDEX and plain.labels[1:] == plain.input_ids[1:]
    # Too long: the prompt loses its start, the response is kept.
    cut = lora.encode_example(tokenizer, "the mat", prompt="the cat sat on " * 10, max_length=8)
    assert len(cut.input_ids) == 8 and cut.labels[-len(response_ids) :] == response_ids


def test_effort_through_score_with_prompt_field(tiny_lm_dir, tmp_path):
    records = [{"prompt": s, "answer": s.split()[-1], "text": s} for s in SENTENCES]
    data = write_jsonl(tmp_path / "pairs.jsonl", records)
    options = {"model": str(tiny_lm_dir), "device": "cpu"}
    params = {"lora_target": "c_attn", "lora_rank": 4}
    thresher.score(
        data,
        scorers=["effort"],
        out=tmp_path / "pairs",
        prompt_field="prompt",
        response_field="answer",
        params=params,
        **options,
    )
    thresher.score(data, scorers=["effort"], out=tmp_path / "plain", params={**params, "lora_layers": 0}, **options)
    pairs = ScoreStore.open(tmp_path / "pairs").read_columns(["effort"]).column("effort").to_numpy()
    plain = ScoreStore.open(tmp_path / "plain").read_columns(["effort"]).column("effort").to_numpy()
    assert pairs.shape == plain.shape == (8,) and (pairs > 0).all() and not np.allclose(pairs, plain)

    # The scorer's value is the direct per-example gradient norm of the response loss.
    loaded = load_causal_lm(str(tiny_lm_dir), dtype=torch.float32, device=torch.device("cpu"))
    model = lora.attach_lora(loaded.model, targets=["c_attn"], rank=4, last_layers=1, seed=0).eval()
    encoded = [lora.encode_example(loaded.tokenizer, r["answer"], prompt=r["prompt"]) for r in records]
    expected = lora.lora_grad_norms_loop(model, encoded, pad_id=0).numpy()
    np.testing.assert_allclose(pairs, expected, rtol=1e-5)
    manifest = json.loads((tmp_path / "pairs" / "manifest.json").read_text())
    assert "model_fingerprint" in json.dumps(manifest)


def test_bad_effort_options(tiny_lm_dir, tmp_path):
    scorer = EffortScorer(model=str(tiny_lm_dir), lora_target="no_such_module", device="cpu")
    with pytest.raises(OptionError, match="no_such_module"):
        scorer.setup(RunContext())
    scorer = EffortScorer(model=str(tiny_lm_dir), device="cpu", lora_layers=5)
    with pytest.raises(OptionError, match="lora-layers"):
        scorer.setup(RunContext())
    scorer = EffortScorer(model=str(tiny_lm_dir), device="cpu", prompt_field="prompt")
    scorer.setup(RunContext())
    # The prompt comes in the batch, from the reader: a batch without the column is refused, not guessed at.
    with pytest.raises(OptionError, match="--prompt-field prompt was not read into the batch"):
        scorer.score_batch(pa.record_batch({"row": [0], "id": ["a"], "text": ["x"]}))


def test_the_prompt_and_response_fields_reach_effort_through_the_reader(tiny_lm_dir, tmp_path):
    records = [{"prompt": s, "answer": s.split()[-1], "text": s} for s in SENTENCES[:3]]
    records[2].pop("answer")
    data = write_jsonl(tmp_path / "pairs.jsonl", records)
    options = {"model": str(tiny_lm_dir), "device": "cpu", "params": {"lora_target": "c_attn"}}
    with pytest.raises(InputError, match=r"pairs.jsonl:3: field 'answer': the response field is missing"):
        thresher.score(
            data, scorers=["effort"], out=tmp_path / "s", prompt_field="prompt", response_field="answer", **options
        )
