"""Shared fixtures: small corpora written in every input format, and a tiny causal LM built from a config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SENTENCES = [
    "the cat sat on the mat",
    "a dog barked at the mailman",
    "the quick brown fox jumps over the lazy dog",
    "colorless green ideas sleep furiously",
    "to be or not to be that is the question",
    "an apple a day keeps the doctor away",
    "the rain in spain falls mainly on the plain",
    "all that glitters is not gold",
]


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer GPT-2 with a byte-level BPE tokenizer, saved as a Hugging Face dir."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from thresher.models.tokenizer import train_bpe_tokenizer

    directory = tmp_path_factory.mktemp("tiny-lm")
    tokenizer = train_bpe_tokenizer(SENTENCES * 4, vocab_size=300, min_frequency=1)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture
def corpus_jsonl(tmp_path) -> Path:
    """24 labelled examples (three repeats of eight sentences, so some texts are duplicates)."""
    records = [
        {"text": sentence, "label": f"class-{i % 3}", "extra": {"n": i}} for i, sentence in enumerate(SENTENCES * 3)
    ]
    return write_jsonl(tmp_path / "corpus.jsonl", records)


def save_tiny_sentence_transformer(directory: Path, vocab_size: int) -> Path:
    """Put a random 1-layer BERT with mean pooling over the tokenizer already saved in `directory`; return the
    sentence-transformers directory."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(directory)
    transformer = models.Transformer(str(directory), max_seq_length=64)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(directory / "st"))
    return directory / "st"


@pytest.fixture(scope="session")
def tiny_embedder_dir(tmp_path_factory) -> Path:
    """A randomly initialised 1-layer BERT with mean pooling, saved as a sentence-transformers directory."""
    from transformers import BertTokenizerFast

    directory = tmp_path_factory.mktemp("tiny-embedder")
    words = sorted({word for sentence in SENTENCES for word in sentence.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *"abcdefghijklmnopqrstuvwxyz"]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    return save_tiny_sentence_transformer(directory, len(vocab))


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread, then restore the count."""
    from thresher.models.surrogate import single_thread

    with single_thread():
        yield
