"""Instruction-Following Difficulty (Li et al. 2023) from two summed response NLLs: pure arithmetic, no model.

References:
    Li et al. 2023, "From Quantity to Quality", arXiv 2308.12032 (IFD = s(A|Q) / s(A), mean token cross-entropies);
    Li et al. 2024, "Superfiltering", arXiv 2402.00530 (the perplexity form PPL(A|Q) / PPL(A)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def truncate_pair(prompt: Sequence[int], response: Sequence[int], max_length: int) -> tuple[list[int], list[int]]:
    """(prompt, response) token ids cut so that a context token + prompt + response fit in `max_length` tokens.

    The response keeps its first `max_length - 2` tokens (room for the context token and one prompt token); the
    prompt then keeps its last `max_length - 1 - len(response)` tokens, the ones next to the response.
    """
    if max_length < 3:
        raise ValueError(f"max_length must be >= 3, got {max_length}")
    kept_response = list(response[: max_length - 2])
    room = max_length - 1 - len(kept_response)
    kept_prompt = list(prompt[len(prompt) - room :]) if len(prompt) > room else list(prompt)
    return kept_prompt, kept_response


def ifd_columns(nll_conditioned: np.ndarray, nll_alone: np.ndarray, n_tokens: np.ndarray) -> dict[str, np.ndarray]:
    """The IFD scorer's columns from summed response NLLs (nats) with and without the prompt and the token counts.

    `ifd` = mean NLL given the prompt ÷ mean NLL alone; `ifd_ppl` = exp(their difference); `ifd_keep` = 1 where
    IFD ≤ 1. A pair with no response token has NaN scores and `ifd_keep` 0.
    """
    n_tokens = np.asarray(n_tokens, dtype=np.int64)
    scored = n_tokens > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        conditioned = np.where(scored, np.asarray(nll_conditioned, dtype=np.float64) / np.maximum(n_tokens, 1), np.nan)
        alone = np.where(scored, np.asarray(nll_alone, dtype=np.float64) / np.maximum(n_tokens, 1), np.nan)
        ifd = conditioned / alone
    return {
        "ifd": ifd,
        "ifd_ppl": np.exp(conditioned - alone),
        "ifd_nll_conditioned": conditioned,
        "ifd_nll_response": alone,
        "ifd_n_tokens": n_tokens,
        "ifd_keep": (conditioned <= alone).astype(np.float64),
    }
