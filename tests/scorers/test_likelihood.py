from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from thresher.errors import OptionError
from thresher.models.folds import fold_of
from thresher.scorers.likelihood import LikelihoodScorer
from thresher.types import Direction

CORPUS = [
    "the cat sat on the mat and looked at the dog",
    "a quick brown fox jumps over the lazy dog",
    "language models assign probabilities to sequences of tokens",
    "information content is the negative log likelihood",
]
TEXTS = [
    "the cat sat",
    "a quick brown fox jumps over the lazy dog while the cat sat on the mat and looked at it",
    "tokens",
    "language models assign probabilities to sequences of tokens; ünïcödé bytes count too",
    "dog",
]


def _tokenizer(*, llama_style: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<s>", "</s>"]
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(CORPUS, trainer)
    if llama_style:
        # Adds <s> itself, as Llama tokenizers do: the scorer must not add a second one.
        backend.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", backend.token_to_id("<s>"))]
        )
        return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>")
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")


def _save_gpt2(directory: Path, seed: int) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = _tokenizer(llama_style=False)
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=128, vocab_size=len(tokenizer))
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _save_llama(directory: Path, seed: int) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tokenizer(llama_style=True)
    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    return {"gpt2": _save_gpt2(root / "gpt2", 0), "llama": _save_llama(root / "llama", 0)}


def _batch(texts: list[str], ids: list[object] | None = None) -> pa.RecordBatch:
    ids = list(range(len(texts))) if ids is None else ids
    return pa.RecordBatch.from_pydict({"id": ids, "text": texts})


def _scorer(model: Path | str, **params) -> LikelihoodScorer:
    scorer = LikelihoodScorer(model=str(model), dtype="float32", device="cpu", **params)
    scorer.setup()
    return scorer


def _sequence(scorer: LikelihoodScorer, text: str) -> list[int]:
    reference = scorer._references[0]
    tokenizer = reference.loaded.tokenizer
    return [reference.context_token_id, *tokenizer(text, add_special_tokens=False).input_ids]


def _nll_by_hand(model, ids: list[int], start: int = 0) -> list[float]:
    """-log p(ids[p] | ids[start:p]) for every p > start, from the model's logits, in float64."""
    with torch.no_grad():
        logits = model(torch.tensor([ids[start:]])).logits[0].double()
    log_probs = torch.log_softmax(logits, dim=-1)
    return [-float(log_probs[p - start - 1, ids[p]]) for p in range(start + 1, len(ids))]


@pytest.mark.parametrize("architecture", ["gpt2", "llama"])
def test_nll_sum_matches_hand_computation(model_dirs, architecture):
    scorer = _scorer(model_dirs[architecture])
    model = scorer._references[0].loaded.model

    scores = scorer.score_batch(_batch(TEXTS))

    for row, text in enumerate(TEXTS):
        ids = _sequence(scorer, text)
        expected = _nll_by_hand(model, ids)
        assert scores["n_tokens"][row] == len(ids) - 1
        assert scores["nll_sum"][row] == pytest.approx(sum(expected), abs=1e-4)
    assert scores["n_tokens"].dtype == np.int64
    np.testing.assert_allclose(scores["nll_mean"], scores["nll_sum"] / scores["n_tokens"])
    np.testing.assert_allclose(scores["ppl"], np.exp(scores["nll_mean"]))
    n_bytes = np.array([len(text.encode()) for text in TEXTS])
    np.testing.assert_allclose(scores["bits_per_byte"], scores["nll_sum"] / (math.log(2) * n_bytes))


def test_context_token_is_bos_or_eos_and_never_doubled(model_dirs):
    gpt2 = _scorer(model_dirs["gpt2"])
    llama = _scorer(model_dirs["llama"])

    assert gpt2.provenance()["context_token"] == "<|endoftext|>"  # no BOS: EOS, as GPT-2 does
    assert llama.provenance()["context_token"] == "<s>"
    llama_tokenizer = llama._references[0].loaded.tokenizer
    with_specials = llama_tokenizer("the cat sat").input_ids
    assert with_specials[0] == llama_tokenizer.bos_token_id  # the tokenizer adds <s> itself ...
    scores = llama.score_batch(_batch(["the cat sat"]))
    assert scores["n_tokens"][0] == len(with_specials) - 1  # ... and the scorer predicts every text token once


@pytest.mark.parametrize("batch_tokens", [1, 16, 40, 100, 4096])
def test_scores_do_not_depend_on_batching(model_dirs, batch_tokens):
    baseline = _scorer(model_dirs["gpt2"], batch_tokens=4096).score_batch(_batch(TEXTS))
    scores = _scorer(model_dirs["gpt2"], batch_tokens=batch_tokens).score_batch(_batch(TEXTS))
    for column in ("nll_sum", "nll_mean", "ppl", "bits_per_byte"):
        np.testing.assert_allclose(scores[column], baseline[column], atol=1e-5, rtol=1e-6)
    np.testing.assert_array_equal(scores["n_tokens"], baseline["n_tokens"])


def test_hidden_state_head_equals_full_logits_path(model_dirs):
    fast = _scorer(model_dirs["llama"])
    slow = _scorer(model_dirs["llama"])
    assert fast._references[0].uses_hidden_head
    slow._references[0].uses_hidden_head = False
    np.testing.assert_allclose(
        fast.score_batch(_batch(TEXTS))["nll_sum"], slow.score_batch(_batch(TEXTS))["nll_sum"], atol=1e-5
    )


def test_long_max_length_equals_full_context(model_dirs):
    full = _scorer(model_dirs["gpt2"]).score_batch(_batch(TEXTS))
    longest = max(len(_sequence(_scorer(model_dirs["gpt2"]), text)) for text in TEXTS)
    windowed = _scorer(model_dirs["gpt2"], max_length=longest, stride=1).score_batch(_batch(TEXTS))
    np.testing.assert_allclose(windowed["nll_sum"], full["nll_sum"], atol=1e-5)


@pytest.mark.parametrize(("max_length", "stride"), [(6, 2), (8, None), (5, 4)])
def test_sliding_windows_equal_the_windowed_definition(model_dirs, max_length, stride):
    scorer = _scorer(model_dirs["gpt2"], max_length=max_length, stride=stride, batch_tokens=24)
    model = scorer._references[0].loaded.model
    step = max_length // 2 if stride is None else stride

    scores = scorer.score_batch(_batch(TEXTS))

    for row, text in enumerate(TEXTS):
        ids = _sequence(scorer, text)
        # Window k ends at e_k = min(max_length + k * step, N) and holds the last max_length tokens before it;
        # target p is predicted in the first window that reaches it, from that window's tokens before p.
        # (A causal LM's prediction at p depends only on tokens before p, so targets sharing a context start
        # share one forward pass.)
        targets_by_start: dict[int, list[int]] = {}
        for position in range(1, len(ids)):
            k = 0
            while min(max_length + k * step, len(ids)) <= position:
                k += 1
            window_end = min(max_length + k * step, len(ids))
            targets_by_start.setdefault(max(0, window_end - max_length), []).append(position)
        expected = 0.0
        for start, positions in targets_by_start.items():
            token_nll = _nll_by_hand(model, ids[: max(positions) + 1], start)
            expected += sum(token_nll[p - start - 1] for p in positions)
        assert scores["n_tokens"][row] == len(ids) - 1
        assert scores["nll_sum"][row] == pytest.approx(expected, abs=1e-4)
    assert max(len(_sequence(scorer, text)) for text in TEXTS) > max_length  # windows were really used


def test_kfold_routes_each_example_to_the_model_that_did_not_train_on_it(tmp_path):
    for fold in range(2):
        _save_gpt2(tmp_path / f"fold-{fold}", seed=10 + fold)
    (tmp_path / "folds.json").write_text(
        json.dumps({"k": 2, "assignment": "blake2b-mod", "models": ["fold-0", "fold-1"]})
    )
    ids = [f"doc-{i}" for i in range(len(TEXTS))]
    folds = [fold_of(example_id, 2) for example_id in ids]
    assert set(folds) == {0, 1}

    scores = _scorer(tmp_path).score_batch(_batch(TEXTS, ids))

    per_fold = [_scorer(tmp_path / f"fold-{fold}").score_batch(_batch(TEXTS, ids)) for fold in range(2)]
    assert not np.allclose(per_fold[0]["nll_sum"], per_fold[1]["nll_sum"])
    for row, fold in enumerate(folds):
        assert scores["nll_sum"][row] == pytest.approx(per_fold[fold]["nll_sum"][row], abs=1e-6)
    provenance = _scorer(tmp_path).provenance()
    assert provenance["folds"]["k"] == 2 and len(provenance["folds"]["fingerprints"]) == 2


def test_progress_covers_every_example_and_token(model_dirs):
    scorer = _scorer(model_dirs["gpt2"], batch_tokens=32, max_length=8)
    reports: list[tuple[int, int]] = []
    scorer.set_progress_callback(lambda examples, tokens: reports.append((examples, tokens)))

    scores = scorer.score_batch(_batch(TEXTS))

    assert len(reports) > 1
    assert sum(examples for examples, _ in reports) == len(TEXTS)
    assert sum(tokens for _, tokens in reports) == scores["n_tokens"].sum()


def test_empty_text_predicts_nothing(model_dirs):
    scores = _scorer(model_dirs["gpt2"]).score_batch(_batch(["", "the cat"]))
    assert scores["n_tokens"][0] == 0 and scores["nll_sum"][0] == 0.0
    assert math.isnan(scores["nll_mean"][0])
    assert scores["n_tokens"][1] > 0


def test_provenance_and_contract(model_dirs):
    scorer = _scorer(model_dirs["gpt2"], max_length=16)
    scorer.score_batch(_batch(TEXTS))
    provenance = scorer.provenance()

    assert provenance["model"] == str(model_dirs["gpt2"])
    assert len(provenance["fingerprint"]) == 32
    assert provenance["dtype"] == "float32" and provenance["device"] == "cpu"
    assert provenance["max_length"] == 16 and provenance["stride"] == 8
    assert 0.0 <= provenance["padding_fraction"] < 1.0
    assert provenance["vocab_size"] == len(scorer._references[0].loaded.tokenizer)
    assert {column.name for column in LikelihoodScorer.columns} == {
        "nll_sum", "nll_mean", "ppl", "bits_per_byte", "n_tokens"
    }  # fmt: skip
    assert all(column.direction is Direction.HIGHER for column in LikelihoodScorer.columns)
    assert LikelihoodScorer.param_names() == ["model", "dtype", "device", "batch_tokens", "max_length", "stride"]


def test_bad_options(model_dirs):
    with pytest.raises(OptionError, match="exceeds"):
        _scorer(model_dirs["gpt2"], max_length=1000)
    with pytest.raises(OptionError, match="stride"):
        _scorer(model_dirs["gpt2"], max_length=8, stride=8)
    with pytest.raises(OptionError, match="dtype"):
        LikelihoodScorer(model=str(model_dirs["gpt2"]), dtype="fp8").setup()


def test_bfloat16_is_close_to_float32(model_dirs):
    fp32 = _scorer(model_dirs["gpt2"]).score_batch(_batch(TEXTS))
    bf16 = LikelihoodScorer(model=str(model_dirs["gpt2"]), dtype="bfloat16", device="cpu")
    bf16.setup()
    np.testing.assert_allclose(bf16.score_batch(_batch(TEXTS))["nll_mean"], fp32["nll_mean"], rtol=0.02)


def test_out_of_memory_halves_the_batch_and_keeps_the_scores(model_dirs, monkeypatch):
    import torch

    texts = [f"the cat number {i} sat on the mat" for i in range(8)]  # similar lengths: one batch
    reference = _scorer(model_dirs["gpt2"])
    expected = reference.score_batch(_batch(texts))["nll_sum"]
    scorer = _scorer(model_dirs["gpt2"])
    original = LikelihoodScorer._forward

    def forward_with_small_memory(ref, input_ids, scored):
        if input_ids.shape[0] > 2:  # pretend more than two rows do not fit on the device
            raise torch.OutOfMemoryError("simulated")
        return original(ref, input_ids, scored)

    monkeypatch.setattr(LikelihoodScorer, "_forward", staticmethod(forward_with_small_memory))
    np.testing.assert_allclose(scorer.score_batch(_batch(texts))["nll_sum"], expected, rtol=1e-6)
    assert scorer.oom_halvings > 0 and scorer.provenance()["oom_halvings"] == scorer.oom_halvings
    assert scorer.get_params()["batch_tokens"] == reference.get_params()["batch_tokens"]
