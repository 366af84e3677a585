"""The shared test fixtures measure what the tests say: the tiny embedder sees every word the tests embed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import EMBEDDER_TEXTS, HARBOUR, MARKETS, SENTENCES

# Upper-cased copies (the scorer contract), light edits (semdedup) and short pieces (influence's validation file).
EMBEDDED_VARIANTS = [
    *(sentence.upper() for sentence in SENTENCES),
    "the cat sat on a mat",
    "the quick brown fox jumps over a lazy dog",
    "the cat sat",
    "a dog",
]


@pytest.mark.parametrize("where", ["st", "bert"])
def test_tiny_embedder_tokenizes_every_test_text_to_known_words(tiny_embedder_dir, where):
    from transformers import AutoTokenizer

    # The sentence-transformers dir is what --embedder gets; its parent is the BERT dir the finetune proxy loads.
    tokenizer = AutoTokenizer.from_pretrained(tiny_embedder_dir if where == "st" else tiny_embedder_dir.parent)
    for text in [*EMBEDDER_TEXTS, *EMBEDDED_VARIANTS]:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.unk_token_id not in ids, f"{text!r} → {tokenizer.convert_ids_to_tokens(ids)}"
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        assert len(ids) == len(text.split()) + 2  # one token per word


def test_tiny_embedder_gives_distinct_texts_distinct_embeddings_and_paraphrases_close_ones(tiny_embedder_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_embedder_dir), device="cpu")
    texts = sorted(set(EMBEDDER_TEXTS))
    vectors = model.encode(texts, convert_to_numpy=True, normalize_embeddings=True).astype(np.float64)
    distances = np.linalg.norm(vectors[:, None, :] - vectors[None, :, :], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() > 1e-3, "two distinct texts embed (almost) identically"
    # Each paraphrase's nearest neighbour is a paraphrase of the same sentence.
    for cluster in (HARBOUR, MARKETS):
        for text in cluster:
            nearest = texts[int(np.argmin(distances[texts.index(text)]))]
            assert nearest in cluster, f"{text!r} is nearest to {nearest!r}"
    upper = model.encode([SENTENCES[0].upper()], convert_to_numpy=True, normalize_embeddings=True)
    np.testing.assert_allclose(upper[0], vectors[texts.index(SENTENCES[0])], atol=1e-5)  # the tokenizer lowercases
