"""The sft eval target: LoRA fine-tuning of a tiny GPT-2 on prompt/response pairs; a seed fixes the results."""

import json

import numpy as np
import pytest
import torch

import thresher
from tests.conftest import SENTENCES, write_jsonl
from thresher.errors import OptionError
from thresher.eval.sft import PreparedSft, SftTarget

# Tiny models: one torch thread avoids OpenMP fork/join overhead (see models/surrogate.single_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pairs(n: int) -> tuple[list[str], list[str]]:
    prompts = [SENTENCES[i % len(SENTENCES)] + " ?" for i in range(n)]
    responses = ["yes" if i % 2 else "no" for i in range(n)]
    return prompts, responses


def test_sft_trains_is_seeded_and_ranks_labels(tiny_lm_dir):
    prompts, responses = pairs(24)
    config = SftTarget(model=str(tiny_lm_dir), lora_target="c_attn", lora_rank=4, epochs=2, batch_size=4)
    target = PreparedSft(prompts[:16], responses[:16], prompts[16:], responses[16:], config)
    assert target.classes == ["no", "yes"]
    rows = np.arange(16)
    first_run = target.train_and_evaluate(rows, seed=1)
    assert first_run == target.train_and_evaluate(rows, seed=1)
    assert first_run.metrics != target.train_and_evaluate(rows, seed=2).metrics
    first = first_run.metrics
    assert 0.0 <= first["accuracy"] <= 1.0 and first["nll_per_token"] > 0 and first["train_steps"] == 8
    # 8 steps, 10 checkpoints asked for: one after every step, 4 pairs each; the last holds the final metrics.
    assert [point.step for point in first_run.curve] == list(range(1, 9))
    assert [point.examples for point in first_run.curve] == [4 * step for step in range(1, 9)]
    assert first_run.curve[-1].metrics == {name: first[name] for name in ("accuracy", "nll_per_token")}
    at_init = target.evaluate_at_init(seed=0)
    assert first["nll_per_token"] < at_init["nll_per_token"]  # training on the responses lowers their NLL
    # min_steps repeats a small subset.
    small = PreparedSft(
        prompts[:16],
        responses[:16],
        prompts[16:],
        responses[16:],
        SftTarget(model=str(tiny_lm_dir), lora_rank=4, batch_size=4, min_steps=5),
    )
    assert small.train_and_evaluate(np.arange(2), seed=0).metrics["train_steps"] == 5


def test_candidate_ranking_matches_full_sequences(tiny_lm_dir):
    """The shared, left-padded prompt cache gives the same label likelihoods as scoring each prompt+label alone."""
    from thresher.eval.sft import candidate_nll
    from thresher.models import lora

    prompts, responses = pairs(4)
    prompts[1] = "a much longer prompt than the others " + prompts[1]
    target = PreparedSft(prompts, responses, prompts, responses, SftTarget(model=str(tiny_lm_dir)))
    candidates = lora.collate([lora.Encoded(ids, ids) for ids in target.class_ids], 0)
    with torch.no_grad():
        cached = candidate_nll(
            target.base_model, target.eval_prompt_ids, candidates["input_ids"], candidates["attention_mask"], 0
        )
        full = [
            [
                lora.sequence_log_likelihoods(
                    target.base_model,
                    lora.collate([lora.encode_example(target.tokenizer, label, prompt=prompt)], 0),
                )[0][0]
                for label in target.classes
            ]
            for prompt in prompts
        ]
    torch.testing.assert_close(cached, torch.tensor(full), rtol=1e-4, atol=1e-4)


def test_free_text_responses_give_nll_only(tiny_lm_dir):
    prompts = SENTENCES[:6]
    responses = [s[::-1] for s in SENTENCES[:6]]
    target = PreparedSft(prompts[:4], responses[:4], prompts[4:], responses[4:], SftTarget(model=str(tiny_lm_dir)))
    assert target.classes is None
    assert set(target.train_and_evaluate(np.arange(4), seed=0).metrics) == {"nll_per_token", "train_steps"}


def test_eval_task_sft_end_to_end(tiny_lm_dir, tmp_path):
    prompts, responses = pairs(40)
    data = write_jsonl(
        tmp_path / "pairs.jsonl",
        [{"prompt": p, "response": r, "label": r} for p, r in zip(prompts, responses, strict=True)],
    )
    result = thresher.evaluate(
        data,
        task="sft",
        text_field="prompt",
        response_field="response",
        out=tmp_path / "report",
        methods="random,full",
        keep="0.5",
        seeds=2,
        full_seeds=1,
        eval_split=0.25,
        model=str(tiny_lm_dir),
        params={"lora_rank": 2, "batch_size": 8},
    )
    assert [(run.method, run.keep) for run in result.runs] == [("random", 0.5), ("random", 0.5), ("full", 1.0)]
    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    assert saved["config"]["primary_metric"] == "accuracy"
    assert "accuracy" in saved["reference"]
    with pytest.raises(OptionError, match="response-field"):
        thresher.evaluate(data, task="sft", text_field="prompt", out=tmp_path / "r2")


def test_cli_eval_sft(tiny_lm_dir, tmp_path):
    from typer.testing import CliRunner

    from thresher.cli import app

    prompts, responses = pairs(30)
    data = write_jsonl(
        tmp_path / "pairs.jsonl", [{"prompt": p, "answer": r} for p, r in zip(prompts, responses, strict=True)]
    )
    args = ["eval", str(data), "--task", "sft", "--text-field", "prompt", "--out", str(tmp_path / "r"), "--quiet"]
    model = ["--model", str(tiny_lm_dir), "-p", "lora_rank=2", "--eval-split", "0.3"]
    result = CliRunner().invoke(
        app,
        [
            *args,
            *model,
            "--response-field",
            "answer",
            "--methods",
            "random,full",
            "--keep",
            "0.5",
            "--seeds",
            "1",
            "-p",
            "min_steps=2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "results.json").is_file()
    result = CliRunner().invoke(app, [*args, *model])
    assert result.exit_code == 2 and "--response-field" in result.output
