"""Ask-LLM prompts and answers: the prompt in token space, the yes/no answer tokens, and P(yes) from log-probabilities.

Both Ask-LLM backends use this module (the transformers path in `thresher.scorers.ask_llm` and the vLLM path in
`thresher.models.vllm_backend`), so both see identical prompts and compute the score the same way; it imports
neither of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thresher.errors import ModelError, OptionError

TEXT_SLOT = "{text}"
# Fig. 3 of Sachdeva et al. 2024, verbatim.
DEFAULT_PROMPT = """###
{text}
###

Does the previous paragraph demarcated within ### and ###
contain informative signal for pre-training a large-language model?
An informative datapoint should be well-formatted, contain some
usable knowledge of the world, and strictly NOT have any harmful,
racist, sexist, etc. content.

OPTIONS:
- yes
- no"""
# Models without a chat template continue plain text: cue the answer, as the community decoder ports do.
PLAIN_ANSWER_CUE = "\n\nANSWER:"
# `few_shot=True`: worked examples asked with the same prompt before the real one (prior chat turns, or prompt
# blocks with their answer for a plain LM). General junk, not tied to any corpus: two plain encyclopedic or news
# sentences ("yes"), a keyboard mash and a word salad ("no").
FEW_SHOT_EXAMPLES = (
    (
        "Photosynthesis is the process by which green plants use sunlight to turn carbon dioxide and water into "
        "sugar.",
        "yes",
    ),
    ("qz7 hf!dk ,wpe9 x@lr mvn3 &ty bq; zo0k", "no"),
    ("The city council voted on Tuesday to keep the public library open until nine in the evening.", "yes"),
    ("evening the library until on council nine voted open Tuesday public keep in the city", "no"),
)
ANSWER_WORDS = {"yes": ("yes", "Yes", "YES"), "no": ("no", "No", "NO")}
_SENTINEL = "\u2063THRESHER_TEXT\u2063"


# ---------------------------------------------------------------------------------------------- pure math


def answer_token_ids(tokenizer: Any) -> tuple[list[int], list[int], str]:
    """Token ids of the yes and no spellings, and how they were found ("single-token" or "first-subtoken").

    Every spelling in `ANSWER_WORDS`, with and without a leading space, that the tokenizer encodes as one token
    counts. A tokenizer with no single-token spelling of a word falls back to the first token of each spelling
    (less the tokens both words start with, such as a lone space).

    Raises:
        ModelError: no token is specific to yes or to no.
    """

    def variant_ids(words: tuple[str, ...], single_only: bool) -> list[int]:
        found: list[int] = []
        for word in words:
            for spelling in (word, " " + word):
                ids = tokenizer(spelling, add_special_tokens=False)["input_ids"]
                if ids and (len(ids) == 1 or not single_only) and ids[0] not in found:
                    found.append(int(ids[0]))
        return found

    method = "single-token"
    yes_ids, no_ids = variant_ids(ANSWER_WORDS["yes"], True), variant_ids(ANSWER_WORDS["no"], True)
    if not yes_ids or not no_ids:
        method = "first-subtoken"
        yes_ids, no_ids = variant_ids(ANSWER_WORDS["yes"], False), variant_ids(ANSWER_WORDS["no"], False)
        # A leading space may be its own first token: it says nothing about the answer.
        shared = set(yes_ids) & set(no_ids)
        yes_ids = [token for token in yes_ids if token not in shared]
        no_ids = [token for token in no_ids if token not in shared]
    if set(yes_ids) & set(no_ids) or not yes_ids or not no_ids:
        raise ModelError("the tokenizer cannot tell yes from no: no answer token is specific to either")
    return yes_ids, no_ids, method


def answer_probabilities(log_probs: np.ndarray, yes_ids: list[int], no_ids: list[int]) -> tuple[np.ndarray, ...]:
    """(p_yes, p_no, ask_llm) from next-token log-probabilities (n, V): summed over the spellings of each answer.

    `ask_llm` = p_yes / (p_yes + p_no), computed in log space so that it stays exact when both are tiny.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    log_yes = _logsumexp(log_probs[:, yes_ids])
    log_no = _logsumexp(log_probs[:, no_ids])
    return np.exp(log_yes), np.exp(log_no), normalised_yes(log_yes, log_no)


def normalised_yes(log_yes: np.ndarray, log_no: np.ndarray) -> np.ndarray:
    """P(yes) / (P(yes) + P(no)) from the two log-probabilities (a logistic of their difference); 0.5 if both are 0."""
    log_yes, log_no = np.asarray(log_yes, np.float64), np.asarray(log_no, np.float64)
    both_missing = np.isneginf(log_yes) & np.isneginf(log_no)
    with np.errstate(invalid="ignore", over="ignore"):
        value = 1.0 / (1.0 + np.exp(log_no - log_yes))
    return np.where(both_missing, 0.5, value)


def _logsumexp(values: np.ndarray) -> np.ndarray:
    peak = np.max(values, axis=1)
    safe_peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return safe_peak + np.log(np.exp(values - safe_peak[:, None]).sum(axis=1))


def truncate_ids(ids: list[int], max_tokens: int, side: str) -> list[int]:
    """At most `max_tokens` ids: the first ones (side "right" cuts the end) or the last ones (side "left")."""
    if len(ids) <= max_tokens:
        return ids
    return ids[:max_tokens] if side == "right" else ids[len(ids) - max_tokens :]


# ---------------------------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt in token space: prefix ids + example ids + suffix ids, and the answer tokens to read."""

    prefix_ids: list[int]
    suffix_ids: list[int]
    yes_ids: list[int]
    no_ids: list[int]
    answer_tokens: str  # "single-token" or "first-subtoken"
    chat_template: bool

    def build(self, text_ids: list[int]) -> list[int]:
        return [*self.prefix_ids, *text_ids, *self.suffix_ids]


def build_prompt_template(tokenizer: Any, prompt: str, examples: tuple[tuple[str, str], ...] = ()) -> PromptTemplate:
    """Split `prompt` (with one `{text}` slot) into token prefix and suffix, inside the chat template if any.

    `examples` are (text, answer) pairs asked with the same prompt first: earlier user and assistant turns of the
    chat, or, for a plain LM, earlier prompt blocks each followed by the answer cue and its answer.
    """
    if prompt.count(TEXT_SLOT) != 1:
        raise OptionError(f"the Ask-LLM prompt must contain {TEXT_SLOT} exactly once")
    marked = prompt.replace(TEXT_SLOT, _SENTINEL)
    chat = bool(getattr(tokenizer, "chat_template", None))
    if chat:
        messages = []
        for text, answer in examples:
            messages.append({"role": "user", "content": prompt.replace(TEXT_SLOT, text)})
            messages.append({"role": "assistant", "content": answer})
        messages.append({"role": "user", "content": marked})
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        asked = [f"{prompt.replace(TEXT_SLOT, text)}{PLAIN_ANSWER_CUE} {answer}\n\n" for text, answer in examples]
        rendered = "".join(asked) + marked + PLAIN_ANSWER_CUE
    prefix, suffix = rendered.split(_SENTINEL)
    prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    if not chat and tokenizer.bos_token_id is not None and prefix_ids[:1] != [tokenizer.bos_token_id]:
        prefix_ids = [tokenizer.bos_token_id, *prefix_ids]
    suffix_ids = tokenizer(suffix, add_special_tokens=False)["input_ids"]
    yes_ids, no_ids, method = answer_token_ids(tokenizer)
    return PromptTemplate(list(prefix_ids), list(suffix_ids), yes_ids, no_ids, method, chat)


def read_prompt(prompt_file: str | None) -> str:
    """The prompt text: the paper's by default, else the file's (which must hold one `{text}` slot)."""
    if prompt_file is None:
        return DEFAULT_PROMPT
    path = Path(prompt_file)
    try:
        text = path.read_text(encoding="utf-8").rstrip("\n")
    except OSError as error:
        raise OptionError(f"{prompt_file}: cannot read the prompt file ({error.strerror})") from None
    if text.count(TEXT_SLOT) != 1:
        raise OptionError(f"{prompt_file}: the prompt must contain {TEXT_SLOT} exactly once")
    return text
