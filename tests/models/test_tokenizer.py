import pytest
from transformers import AutoTokenizer

from thresher.errors import OptionError
from thresher.models.tokenizer import ENDOFTEXT, train_bpe_tokenizer

TEXTS = [f"the {animal} sat on the {thing} number {i}." for i in range(200) for animal, thing in [("cat", "mat")]] + [
    "a dog chased the ball across the field",
    "Grüße aus Köln — naïve café, 東京",
]


def test_roundtrip_and_special_tokens():
    tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=400)
    assert tokenizer.bos_token == tokenizer.eos_token == tokenizer.pad_token == ENDOFTEXT
    assert tokenizer.convert_tokens_to_ids(ENDOFTEXT) == tokenizer.eos_token_id == 0
    # Byte-level: text never seen in training (other scripts, emoji) still round-trips exactly.
    for text in [*TEXTS[-2:], "unseen ✓ text 🙂 with  double  spaces\n"]:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.eos_token_id not in ids  # like GPT-2, nothing is added implicitly
        assert tokenizer.decode(ids) == text
    # Merges were learned: a frequent phrase takes fewer tokens than bytes.
    assert len(tokenizer("the cat sat on the mat")["input_ids"]) < len("the cat sat on the mat") / 2


def test_vocab_size_is_an_upper_bound_and_training_is_deterministic():
    first = train_bpe_tokenizer(iter(TEXTS), vocab_size=280)
    second = train_bpe_tokenizer((text for text in TEXTS), vocab_size=280)
    assert len(first) == 280
    assert first.get_vocab() == second.get_vocab()
    # Too little text to reach the target: the vocabulary stops short instead of failing.
    assert 257 <= len(train_bpe_tokenizer(["ab ab ab"], vocab_size=4096)) < 280


def test_save_and_load_with_auto_tokenizer(tmp_path):
    tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=400)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "the dog sat on the mat number 7."
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded.eos_token == loaded.pad_token == ENDOFTEXT


@pytest.mark.parametrize("kwargs", [{"vocab_size": 256}, {"min_frequency": 0}])
def test_bad_options_raise_option_error(kwargs):
    with pytest.raises(OptionError):
        train_bpe_tokenizer(TEXTS, **kwargs)
