"""Ask-LLM on vLLM: the answer distribution from the top logprobs of one generated token.

vLLM is imported only when this backend is asked for (it is an optional, GPU-only dependency). Each prompt is
sent as token ids (built by `thresher.models.askllm_prompt`, so both backends see identical prompts), one token
is generated, and the probabilities of the yes and no spellings are read from that token's top-k logprobs. k
covers every spelling; a spelling outside the top k has a probability below the k-th and is counted as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thresher.errors import ModelError, OptionError
from thresher.models.askllm_prompt import normalised_yes

# vLLM refuses more logprobs than the engine's `max_logprobs`; we start it with this many.
MAX_LOGPROBS = 64
MIN_LOGPROBS = 20


def logprobs_needed(yes_ids: list[int], no_ids: list[int]) -> int:
    """Top-k logprobs to ask for: enough to hold every yes/no spelling at once."""
    return min(MAX_LOGPROBS, max(MIN_LOGPROBS, len(yes_ids) + len(no_ids)))


def answer_probabilities_from_top_logprobs(
    top_logprobs: Iterable[Mapping[int, Any]], yes_ids: list[int], no_ids: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p_yes, p_no, ask_llm) from one {token id: logprob} mapping per prompt (vLLM's first-token logprobs).

    A value may be a float or an object with a `.logprob` attribute (vLLM's `Logprob`).
    """
    log_yes, log_no = [], []
    for mapping in top_logprobs:
        logprob = {int(token): float(getattr(value, "logprob", value)) for token, value in mapping.items()}
        log_yes.append(_log_total([logprob[token] for token in yes_ids if token in logprob]))
        log_no.append(_log_total([logprob[token] for token in no_ids if token in logprob]))
    log_yes_array, log_no_array = np.asarray(log_yes, np.float64), np.asarray(log_no, np.float64)
    return np.exp(log_yes_array), np.exp(log_no_array), normalised_yes(log_yes_array, log_no_array)


def first_token_logprobs(outputs: Iterable[Any]) -> list[Mapping[int, Any]]:
    """The logprobs of the first generated token of each vLLM `RequestOutput`."""
    mappings = []
    for output in outputs:
        completion = output.outputs[0]
        if not completion.logprobs:
            raise ModelError("vLLM returned no logprobs; is SamplingParams.logprobs set?")
        mappings.append(completion.logprobs[0])
    return mappings


def _log_total(logprobs: list[float]) -> float:
    if not logprobs:
        return -math.inf
    peak = max(logprobs)
    return peak + math.log(sum(math.exp(value - peak) for value in logprobs))


@dataclass
class VllmAnswerModel:
    """A vLLM engine for one model, and its tokenizer."""

    llm: Any
    tokenizer: Any
    max_model_len: int | None
    fingerprint: str
    dtype: str

    @classmethod
    def load(cls, model: str, *, dtype: str = "auto") -> VllmAnswerModel:
        """Start vLLM on `model` (Hub id, directory or .gguf file); `OptionError` when vLLM is not installed."""
        try:
            from vllm import LLM
        except ImportError:
            raise OptionError("--backend vllm needs vLLM: pip install vllm (Linux + CUDA)") from None
        from thresher.models.loading import fingerprint_files

        vllm_dtype = {"auto": "auto", "float32": "float32", "bfloat16": "bfloat16"}.get(dtype)
        if vllm_dtype is None:
            raise OptionError(f"dtype must be auto, float32 or bfloat16, got {dtype!r}")
        llm = LLM(model=model, dtype=vllm_dtype, max_logprobs=MAX_LOGPROBS)
        path = Path(model)
        weights = (
            [path] if path.is_file() else sorted(p for p in path.glob("*") if p.suffix in {".safetensors", ".bin"})
        )
        return cls(
            llm=llm,
            tokenizer=llm.get_tokenizer(),
            max_model_len=int(llm.llm_engine.model_config.max_model_len),
            fingerprint=fingerprint_files(weights) if weights else "",
            dtype=vllm_dtype,
        )

    def answer_probabilities(
        self, prompts: list[list[int]], yes_ids: list[int], no_ids: list[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p_yes, p_no, ask_llm) of each prompt (token ids), from one greedy step's top logprobs."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=logprobs_needed(yes_ids, no_ids))
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in prompts], params, use_tqdm=False)
        return answer_probabilities_from_top_logprobs(first_token_logprobs(outputs), yes_ids, no_ids)
