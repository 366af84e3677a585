"""The Ask-LLM scorer: ask an instruction-tuned LM whether each example is worth training on; score = P(yes).

Sachdeva et al. (2024) wrap every example in a fixed prompt ("Does the previous paragraph … contain informative
signal for pre-training a large-language model? … OPTIONS: - yes - no") and keep the examples whose answer
"yes" is most probable. For decoder-only chat models we apply the model's chat template (the prompt is the user
turn; the answer is the assistant's first token) and read the next-token distribution at the answer position,
summing the probability of the tokenizer's single-token spellings of yes ("yes", " yes", "Yes", "YES", …) and
of no. `ask_llm` = P(yes) / (P(yes) + P(no)) (higher = more important); `p_yes` is the raw sum. The paper's
method is zero-shot; `few_shot=True` first asks the same prompt about four built-in worked examples (earlier chat
turns answered yes or no). Neither made SmolLM2-135M-Instruct rank junk below real text
(benchmarks/results/askllm_junk.md): check a model with an unrelated question before trusting its answers.

Prompts are built in token space: the prompt around the example is tokenised once (prefix and suffix), the
example is tokenised alone and truncated to `max_tokens` tokens from `truncate_side`, so truncation never cuts
the question. Batches are sorted by length and LEFT-padded, with position ids that skip the padding, so a text
scores the same alone or in any batch. `backend="vllm"` computes the same score from the first generated
token's top logprobs (`thresher.models.vllm_backend`). The prompt and answer arithmetic both backends share lives
in `thresher.models.askllm_prompt`.

References:
    Sachdeva et al. 2024, "How to Train Data-Efficient LLMs", arXiv 2402.09668 (Fig. 3 prompt).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.data.fields import TEXT_COLUMN
from thresher.errors import ModelError, OptionError
from thresher.models.askllm_prompt import (
    FEW_SHOT_EXAMPLES,
    PLAIN_ANSWER_CUE,
    answer_probabilities,
    build_prompt_template,
    read_prompt,
    truncate_ids,
)
from thresher.scorers.base import Direction, RunContext, ScoreColumn, Scorer

BACKENDS = ("transformers", "vllm")
TRUNCATE_SIDES = ("right", "left")
MAX_ROW_PADDING = 0.25


# ---------------------------------------------------------------------------------------------- scorer


class AskLlmScorer(Scorer):
    """P(yes) of an instruction-tuned LM asked whether the example is informative (higher = more important).

    Parameters
    ----------
    model:
        Hugging Face id, local directory or `.gguf` file of a (chat) causal LM.
    prompt_file:
        A file with a custom prompt holding one {text} slot (default: the paper's prompt).
    max_tokens:
        Most tokens of the example in the prompt; longer examples are truncated.
    truncate_side:
        right (keep the start of a long example) | left (keep its end).
    backend:
        transformers (batched forward passes) | vllm.
    dtype:
        auto (bf16 where the hardware runs it fast) | float32 | bfloat16.
    device:
        auto | cpu | cuda (transformers backend).
    batch_tokens:
        Token budget of one forward pass, padding included.
    few_shot:
        Ask the prompt first about 4 built-in worked examples (2 good texts → yes, 2 junk → no) as earlier chat
        turns; the paper's method is zero-shot (the default).
    """

    name = "ask-llm"
    columns = (
        ScoreColumn(
            "ask_llm", Direction.HIGHER, "P(yes) / (P(yes) + P(no)) of the LM asked if the text is informative"
        ),
        ScoreColumn("p_yes", Direction.HIGHER, "raw next-token probability of the yes spellings"),
    )

    def __init__(
        self,
        *,
        model: str,
        prompt_file: str | None = None,
        max_tokens: int = 512,
        truncate_side: str = "right",
        backend: str = "transformers",
        dtype: str = "auto",
        device: str = "auto",
        batch_tokens: int = 8192,
        few_shot: bool = False,
    ) -> None:
        self.model = model
        self.prompt_file = prompt_file
        self.max_tokens = max_tokens
        self.truncate_side = truncate_side
        self.backend = backend
        self.dtype = dtype
        self.device = device
        self.batch_tokens = batch_tokens
        self.few_shot = few_shot

    def setup(self, context: RunContext | None = None) -> None:
        """Load the model (or start vLLM) and tokenise the prompt around the text slot."""
        if self.backend not in BACKENDS:
            raise OptionError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.truncate_side not in TRUNCATE_SIDES:
            raise OptionError(
                f"--truncate-side must be one of {', '.join(TRUNCATE_SIDES)}, got {self.truncate_side!r}"
            )
        if self.max_tokens < 1 or self.batch_tokens < 1:
            raise OptionError("--max-tokens and --batch-tokens must be >= 1")
        prompt = read_prompt(self.prompt_file)
        examples = FEW_SHOT_EXAMPLES if self.few_shot else ()
        shown = "".join(f"\0{text}\0{answer}" for text, answer in examples)
        self._prompt_digest = hashlib.blake2b((prompt + shown).encode(), digest_size=8).hexdigest()
        self._truncated = 0
        self._real_tokens = 0
        self._padded_tokens = 0
        if self.backend == "vllm":
            from thresher.models.vllm_backend import VllmAnswerModel

            self._vllm = VllmAnswerModel.load(self.model, dtype=self.dtype)
            self._loaded = None
            tokenizer = self._vllm.tokenizer
            context_limit = self._vllm.max_model_len
        else:
            from thresher.models.device import resolve_device, resolve_dtype
            from thresher.models.loading import load_causal_lm

            device = resolve_device(self.device)
            self._loaded = load_causal_lm(self.model, dtype=resolve_dtype(self.dtype, device), device=device)
            self._vllm = None
            tokenizer = self._loaded.tokenizer
            context_limit = self._loaded.max_length
        self._tokenizer = tokenizer
        self._template = build_prompt_template(tokenizer, prompt, examples)
        fixed = len(self._template.prefix_ids) + len(self._template.suffix_ids)
        self._text_budget = self.max_tokens
        if context_limit is not None:
            if fixed >= context_limit:
                raise ModelError(
                    f"{self.model}: the prompt alone takes {fixed} tokens, the model's context is {context_limit}"
                )
            self._text_budget = min(self.max_tokens, context_limit - fixed)

    def teardown(self) -> None:
        """Drop the model."""
        self._loaded = None
        self._vllm = None

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """Ask the model about every text of `batch`."""
        if getattr(self, "_template", None) is None:
            raise RuntimeError("AskLlmScorer.setup() must run before score_batch()")
        texts: list[str] = batch.column(TEXT_COLUMN).to_pylist()
        prompts = self.prompt_ids(texts)
        if self._vllm is not None:
            p_yes, _, ask_llm = self._vllm.answer_probabilities(prompts, self._template.yes_ids, self._template.no_ids)
            self.report_progress(len(prompts), sum(map(len, prompts)))
        else:
            p_yes, ask_llm = self._score_transformers(prompts)
        return {"ask_llm": ask_llm, "p_yes": p_yes}

    def prompt_ids(self, texts: list[str]) -> list[list[int]]:
        """The full prompt token ids of each text, its text truncated to the budget."""
        encoded = self._tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"] if texts else []
        prompts = []
        for ids in encoded:
            if len(ids) > self._text_budget:
                self._truncated += 1
            prompts.append(self._template.build(truncate_ids(list(ids), self._text_budget, self.truncate_side)))
        return prompts

    def _score_transformers(self, prompts: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from thresher.batching import token_budget_batches

        assert self._loaded is not None
        model, device = self._loaded.model, self._loaded.device
        pad_id = self._tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self._tokenizer.eos_token_id if self._tokenizer.eos_token_id is not None else 0
        lengths = np.asarray([len(prompt) for prompt in prompts], dtype=np.int64)
        p_yes = np.zeros(len(prompts), dtype=np.float64)
        ask_llm = np.zeros(len(prompts), dtype=np.float64)
        if not prompts:
            return p_yes, ask_llm
        for rows in token_budget_batches(lengths, self.batch_tokens, max_row_padding=MAX_ROW_PADDING):
            width = int(lengths[rows].max())
            input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for slot, row in enumerate(rows):
                input_ids[slot, width - lengths[row] :] = prompts[row]  # left padding: answers line up at the end
                mask[slot, width - lengths[row] :] = 1
            # Real tokens get positions 0..len-1 whatever the padding, so a batch changes no score.
            positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
            with torch.inference_mode():
                logits = model(
                    input_ids=torch.from_numpy(input_ids).to(device),
                    attention_mask=torch.from_numpy(mask).to(device),
                    position_ids=torch.from_numpy(positions).to(device),
                    use_cache=False,
                    logits_to_keep=1,
                ).logits[:, -1, :]
                log_probs = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
            batch_yes, _, batch_ask = answer_probabilities(log_probs, self._template.yes_ids, self._template.no_ids)
            p_yes[rows], ask_llm[rows] = batch_yes, batch_ask
            self._real_tokens += int(lengths[rows].sum())
            self._padded_tokens += len(rows) * width
            self.report_progress(len(rows), int(lengths[rows].sum()))
        return p_yes, ask_llm

    def provenance(self) -> dict[str, Any]:
        """Model, weights fingerprint, prompt digest, answer tokens, truncation and padding."""
        record: dict[str, Any] = {"model": self.model, "backend": self.backend}
        template = getattr(self, "_template", None)
        if template is None:
            return record
        tokenizer = self._tokenizer
        record.update(
            prompt="paper (Sachdeva et al. 2024, Fig. 3)" if self.prompt_file is None else self.prompt_file,
            prompt_digest=self._prompt_digest,
            few_shot_examples=len(FEW_SHOT_EXAMPLES) if self.few_shot else 0,
            chat_template=template.chat_template,
            answer_cue=None if template.chat_template else PLAIN_ANSWER_CUE,
            yes_tokens=tokenizer.convert_ids_to_tokens(template.yes_ids),
            no_tokens=tokenizer.convert_ids_to_tokens(template.no_ids),
            answer_tokens=template.answer_tokens,
            prompt_tokens=len(template.prefix_ids) + len(template.suffix_ids),
            text_token_budget=self._text_budget,
            truncated_examples=self._truncated,
        )
        if self._loaded is not None:
            record.update(
                fingerprint=self._loaded.fingerprint,
                dtype=str(self._loaded.dtype).removeprefix("torch."),
                device=str(self._loaded.device),
                padding_fraction=0.0 if not self._padded_tokens else 1 - self._real_tokens / self._padded_tokens,
            )
        elif self._vllm is not None:
            record.update(fingerprint=self._vllm.fingerprint, dtype=self._vllm.dtype)
        return record
