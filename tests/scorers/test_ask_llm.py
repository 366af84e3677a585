"""Ask-LLM: the score is P(yes)/(P(yes)+P(no)) at the answer position, whatever the batch or the padding."""

from __future__ import annotations

import types

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import SENTENCES
from thresher.errors import OptionError
from thresher.models.askllm_prompt import (
    DEFAULT_PROMPT,
    FEW_SHOT_EXAMPLES,
    PLAIN_ANSWER_CUE,
    answer_probabilities,
    build_prompt_template,
    truncate_ids,
)
from thresher.models.vllm_backend import answer_probabilities_from_top_logprobs, first_token_logprobs, logprobs_needed
from thresher.scorers.ask_llm import AskLlmScorer

CHAT_TEMPLATE = (
    "{% for message in messages %}USER : {{ message['content'] }} END{% endfor %}"
    "{% if add_generation_prompt %} ASSISTANT :{% endif %}"
)


@pytest.fixture(scope="module")
def chat_lm_dir(tmp_path_factory):
    """A tiny Llama with a word-level tokenizer (one token per word, so yes/no spellings are single tokens)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory = tmp_path_factory.mktemp("chat-lm")
    splitter = pre_tokenizers.Whitespace()
    shots = [text for text, _ in FEW_SHOT_EXAMPLES]
    corpus = " ".join([DEFAULT_PROMPT, *SENTENCES, *shots, "USER : END ASSISTANT : yes Yes YES no No NO"])
    pieces = sorted({piece for piece, _ in splitter.pre_tokenize_str(corpus)})
    vocab = {token: index for index, token in enumerate(["[PAD]", "[UNK]", "[BOS]", *pieces])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = splitter
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", bos_token="[BOS]"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def batch_of(texts: list[str]) -> pa.RecordBatch:
    return pa.record_batch({"id": [f"id-{i}" for i in range(len(texts))], "text": texts})


def make_scorer(model_dir, **options) -> AskLlmScorer:
    scorer = AskLlmScorer(model=str(model_dir), dtype="float32", device="cpu", **options)
    scorer.setup()
    return scorer


def hand_score(tokenizer, model, text: str, shots: tuple[tuple[str, str], ...] = ()) -> tuple[float, float]:
    """P(yes)/(P(yes)+P(no)) and P(yes), from the logits at the last position of the rendered chat prompt."""
    import torch

    messages = []
    for shot_text, answer in shots:
        messages.append({"role": "user", "content": DEFAULT_PROMPT.replace("{text}", shot_text)})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": DEFAULT_PROMPT.replace("{text}", text)})
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert rendered.endswith("ASSISTANT :") and "Does the previous paragraph" in rendered
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor([ids])).logits[0, -1].double(), dim=-1)
    yes = sum(probs[tokenizer.convert_tokens_to_ids(word)].item() for word in ("yes", "Yes", "YES"))
    no = sum(probs[tokenizer.convert_tokens_to_ids(word)].item() for word in ("no", "No", "NO"))
    return yes / (yes + no), yes


def test_score_equals_hand_computation_from_last_position_logits(chat_lm_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(chat_lm_dir)
    model = AutoModelForCausalLM.from_pretrained(chat_lm_dir, dtype=torch.float32).eval()
    scorer = make_scorer(chat_lm_dir)
    scores = scorer.score_batch(batch_of(SENTENCES[:3]))
    for row, text in enumerate(SENTENCES[:3]):
        expected_ask, expected_yes = hand_score(tokenizer, model, text)
        assert scores["ask_llm"][row] == pytest.approx(expected_ask, rel=1e-5)
        assert scores["p_yes"][row] == pytest.approx(expected_yes, rel=1e-4)
    provenance = scorer.provenance()
    assert provenance["chat_template"] is True
    assert sorted(provenance["yes_tokens"]) == ["YES", "Yes", "yes"]
    assert sorted(provenance["no_tokens"]) == ["NO", "No", "no"]


def test_few_shot_examples_are_earlier_chat_turns(chat_lm_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(chat_lm_dir)
    model = AutoModelForCausalLM.from_pretrained(chat_lm_dir, dtype=torch.float32).eval()
    zero_shot = make_scorer(chat_lm_dir)
    few_shot = make_scorer(chat_lm_dir, few_shot=True, batch_tokens=100_000)
    scores = few_shot.score_batch(batch_of(SENTENCES[:3]))
    for row, text in enumerate(SENTENCES[:3]):
        expected_ask, expected_yes = hand_score(tokenizer, model, text, FEW_SHOT_EXAMPLES)
        assert scores["ask_llm"][row] == pytest.approx(expected_ask, rel=1e-5)
        assert scores["p_yes"][row] == pytest.approx(expected_yes, rel=1e-4)
        assert expected_ask != pytest.approx(hand_score(tokenizer, model, text)[0], rel=1e-6)
    assert [answer for _, answer in FEW_SHOT_EXAMPLES].count("yes") == 2
    assert few_shot.provenance()["few_shot_examples"] == len(FEW_SHOT_EXAMPLES)
    assert zero_shot.provenance()["few_shot_examples"] == 0
    assert few_shot.provenance()["prompt_digest"] != zero_shot.provenance()["prompt_digest"]


def test_plain_lm_few_shot_blocks_carry_their_answer(tiny_lm_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm_dir)
    tokenizer.chat_template = None
    template = build_prompt_template(tokenizer, "judge: {text}", (("the cat", "yes"), ("cat the", "no")))
    assert not template.chat_template
    prefix = tokenizer.decode(template.prefix_ids, skip_special_tokens=True)
    assert prefix == f"judge: the cat{PLAIN_ANSWER_CUE} yes\n\njudge: cat the{PLAIN_ANSWER_CUE} no\n\njudge: "
    assert tokenizer.decode(template.suffix_ids) == PLAIN_ANSWER_CUE


def test_left_padding_does_not_change_scores(chat_lm_dir):
    scorer = make_scorer(chat_lm_dir, batch_tokens=100_000)
    texts = [SENTENCES[0], " ".join(SENTENCES), SENTENCES[3], SENTENCES[2] + " " + SENTENCES[5]]
    together = scorer.score_batch(batch_of(texts))
    for row, text in enumerate(texts):
        alone = scorer.score_batch(batch_of([text]))
        np.testing.assert_allclose(together["ask_llm"][row], alone["ask_llm"][0], rtol=1e-5)
        np.testing.assert_allclose(together["p_yes"][row], alone["p_yes"][0], rtol=1e-4)


def test_truncation_keeps_the_recorded_side(chat_lm_dir):
    assert truncate_ids([1, 2, 3, 4], 2, "right") == [1, 2]
    assert truncate_ids([1, 2, 3, 4], 2, "left") == [3, 4]
    text = "the cat sat on the mat"
    right = make_scorer(chat_lm_dir, max_tokens=3, truncate_side="right")
    left = make_scorer(chat_lm_dir, max_tokens=3, truncate_side="left")
    np.testing.assert_allclose(
        right.score_batch(batch_of([text]))["ask_llm"], right.score_batch(batch_of(["the cat sat"]))["ask_llm"]
    )
    np.testing.assert_allclose(
        left.score_batch(batch_of([text]))["ask_llm"], left.score_batch(batch_of(["on the mat"]))["ask_llm"]
    )
    assert left.provenance()["truncated_examples"] == 1


def test_custom_prompt_needs_one_text_slot(chat_lm_dir, tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("is this good : {text}")
    scorer = make_scorer(chat_lm_dir, prompt_file=str(prompt))
    assert np.all(scorer.score_batch(batch_of(SENTENCES))["ask_llm"] > 0)
    prompt.write_text("no slot here")
    with pytest.raises(OptionError, match="exactly once"):
        make_scorer(chat_lm_dir, prompt_file=str(prompt))
    with pytest.raises(OptionError, match="truncate-side"):
        make_scorer(chat_lm_dir, truncate_side="middle")


def test_answer_probabilities_sum_the_spellings():
    with np.errstate(divide="ignore"):
        log_probs = np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.0, 0.0, 0.5]]))
    p_yes, p_no, ask = answer_probabilities(log_probs, [0, 1], [2])
    np.testing.assert_allclose(p_yes, [0.3, 0.5])
    np.testing.assert_allclose(p_no, [0.3, 0.0])
    np.testing.assert_allclose(ask, [0.5, 1.0])


def test_vllm_score_math_from_fake_outputs():
    logprob = lambda value: types.SimpleNamespace(logprob=float(np.log(value)))  # noqa: E731 - vLLM's Logprob
    outputs = [
        types.SimpleNamespace(
            outputs=[types.SimpleNamespace(logprobs=[{5: logprob(0.6), 7: logprob(0.1), 9: logprob(0.2)}])]
        ),
        # A spelling outside the top k counts as 0; a prompt with neither answer in its top k scores 0.5.
        types.SimpleNamespace(outputs=[types.SimpleNamespace(logprobs=[{9: logprob(0.3)}])]),
        types.SimpleNamespace(outputs=[types.SimpleNamespace(logprobs=[{1: logprob(0.9)}])]),
    ]
    p_yes, p_no, ask = answer_probabilities_from_top_logprobs(first_token_logprobs(outputs), [5, 7], [9, 11])
    np.testing.assert_allclose(p_yes, [0.7, 0.0, 0.0])
    np.testing.assert_allclose(p_no, [0.2, 0.3, 0.0])
    np.testing.assert_allclose(ask, [0.7 / 0.9, 0.0, 0.5])
    assert logprobs_needed([1, 2, 3], [4, 5, 6]) == 20 and logprobs_needed(list(range(30)), list(range(30, 60))) == 60


def test_vllm_backend_is_imported_only_when_asked(chat_lm_dir):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed")
    with pytest.raises(OptionError, match="vllm"):
        make_scorer(chat_lm_dir, backend="vllm")
