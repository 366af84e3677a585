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


# Two clusters of near-paraphrases (six and four) and one outlier: distinct texts whose geometry a density or
# dedup test can check, rather than copies that tie.
HARBOUR = [
    "the old fisherman mended his nets on the quiet harbour wall",
    "the old fisherman mended his torn nets on the quiet harbour wall",
    "an old fisherman mended his nets on the quiet harbour wall",
    "the old fisherman repaired his nets on the quiet harbour wall",
    "the old fisherman mended the nets by the quiet harbour wall",
    "on the quiet harbour wall the old fisherman mended his nets",
]
MARKETS = [
    "stock markets fell sharply after the central bank raised interest rates",
    "stock markets fell sharply when the central bank raised interest rates",
    "share markets fell sharply after the central bank raised its interest rates",
    "stock markets dropped sharply after the central bank raised interest rates",
]
OUTLIER = "zebra quantum lattice"

# Every text the tests embed with the tiny embedder is made of these texts' words (tests/test_fixtures.py checks
# that none of them tokenizes to [UNK]).
EMBEDDER_TEXTS = [*SENTENCES, *HARBOUR, *MARKETS, OUTLIER]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def save_word_tokenizer(directory: Path, texts: list[str]) -> int:
    """Save a lowercasing whole-word BERT-style tokenizer whose vocabulary is the words of `texts`; give its size.

    Built with the `tokenizers` library and wrapped as a fast tokenizer, so it loads the same way whatever the
    transformers version (a `BertTokenizerFast(vocab_file=...)` maps every word to [UNK] with transformers 5).
    """
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = sorted({word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(text.lower())})
    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *words])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    ).save_pretrained(directory)
    return len(vocab)


def save_tiny_sentence_transformer(directory: Path, texts: list[str]) -> Path:
    """Save a random 1-layer BERT over a whole-word tokenizer of `texts` in `directory` (a Hugging Face model dir),
    and a sentence-transformers model of it with mean pooling in `directory / "st"`; return the latter."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    vocab_size = save_word_tokenizer(directory, texts)
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
    """A randomly initialised 1-layer BERT with mean pooling over whole words of `EMBEDDER_TEXTS`, saved as a
    sentence-transformers directory (its parent holds the plain BERT and its tokenizer)."""
    return save_tiny_sentence_transformer(tmp_path_factory.mktemp("tiny-embedder"), EMBEDDER_TEXTS)


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread, then restore the count."""
    from thresher.models.surrogate import single_thread

    with single_thread():
        yield


# Two sides a student can tell apart by their words: animals and proverbs, from SENTENCES' vocabulary.
STUDENT_POSITIVES = [SENTENCES[i] for i in (0, 1, 2)] * 3
STUDENT_NEGATIVES = [SENTENCES[i] for i in (4, 5, 7)] * 3


def make_student_dir(directory: Path, student: str, **params) -> Path:
    """A model directory from `thresher distill --positive --negative` over `STUDENT_POSITIVES` / `_NEGATIVES`,
    nothing held out; a small fastText (1 thread, few buckets) or a head with the parameters given."""
    import thresher

    positive = write_jsonl(directory / "positive.jsonl", [{"text": text} for text in STUDENT_POSITIVES])
    negative = write_jsonl(directory / "negative.jsonl", [{"text": text} for text in STUDENT_NEGATIVES])
    defaults = {"bucket": 1000, "epochs": 20, "threads": 1} if student == "fasttext" else {}
    out = directory / f"{student}-student"
    thresher.distill(
        positive=positive, negative=negative, out=out, student=student, holdout=0.0, params={**defaults, **params}
    )
    return out


@pytest.fixture(scope="session")
def tiny_fasttext_student_dir(tmp_path_factory) -> Path:
    """A fastText student model directory (`thresher distill --student fasttext`) of animals vs proverbs."""
    return make_student_dir(tmp_path_factory.mktemp("fasttext-student"), "fasttext")


@pytest.fixture(scope="session")
def tiny_head_student_dir(tmp_path_factory, tiny_embedder_dir) -> Path:
    """A head student model directory (`thresher distill --student head`) on the tiny embedder."""
    return make_student_dir(
        tmp_path_factory.mktemp("head-student"), "head", embedder=str(tiny_embedder_dir), device="cpu"
    )
