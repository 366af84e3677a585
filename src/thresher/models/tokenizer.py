"""A GPT-2-style byte-level BPE tokenizer trained on the user's own texts."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from thresher.errors import OptionError

ENDOFTEXT = "<|endoftext|>"


def train_bpe_tokenizer(
    texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2
) -> PreTrainedTokenizerFast:
    """Give a byte-level BPE tokenizer trained on `texts`, with `<|endoftext|>` as bos, eos, pad and unk.

    Parameters
    ----------
    texts:
        Any iterable of strings; it is consumed once and streamed into the trainer, never copied.
    vocab_size:
        Target vocabulary size including the 256 byte symbols and the special token. The result can be
        smaller when the texts hold too few pairs that reach `min_frequency`.
    min_frequency:
        A pair must occur at least this often to be merged.

    Returns
    -------
    A `transformers.PreTrainedTokenizerFast` that `save_pretrained` writes and `AutoTokenizer` loads back.
    Like GPT-2 it adds no special tokens when encoding; callers prepend the eos token themselves.
    """
    # Byte-level BPE starts from 256 byte symbols plus the special token; anything less cannot encode all text.
    if vocab_size < 257:
        raise OptionError(f"vocab_size must be at least 257 (256 bytes + {ENDOFTEXT}), got {vocab_size}")
    if min_frequency < 1:
        raise OptionError(f"min_frequency must be at least 1, got {min_frequency}")

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[ENDOFTEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=ENDOFTEXT,
        eos_token=ENDOFTEXT,
        pad_token=ENDOFTEXT,
        unk_token=ENDOFTEXT,
    )
