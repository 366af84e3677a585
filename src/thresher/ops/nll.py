"""Per-token negative log-likelihood from logits or from final hidden states, computed in float32 chunks.

Pure tensor math: no model loading, no I/O. The chunking keeps the float32 copy of the logits to
`chunk_tokens × vocab` values at a time, which matters for 50k–250k-token vocabularies.

References:
    Kim & Baek 2024, "Measuring sample importance in data pruning for language models based on information
    entropy" (arXiv 2406.14124); HF perplexity guide (https://huggingface.co/docs/transformers/perplexity).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

DEFAULT_CHUNK_TOKENS = 1024


def token_nll(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    *,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
) -> torch.Tensor:
    """The NLL (nats) of each target token under `logits`, and 0 where `mask` is False.

    `logits[b, t]` must already be the prediction for `targets[b, t]` (shift before calling).

    Shapes:
        logits: (B, T, V) any float dtype; targets: (B, T) int; mask: (B, T) bool; returns (B, T) float32.
    """
    if logits.ndim != 3 or targets.shape != logits.shape[:2] or mask.shape != targets.shape:
        raise ValueError(
            f"expected logits (B, T, V) with targets and mask (B, T); got {tuple(logits.shape)}, "
            f"{tuple(targets.shape)}, {tuple(mask.shape)}"
        )
    flat_logits = logits.reshape(-1, logits.shape[-1])
    positions = mask.reshape(-1).nonzero().squeeze(1)
    selected = projected_nll(
        positions, targets.reshape(-1)[positions], lambda rows: flat_logits[rows], chunk_tokens=chunk_tokens
    )
    nll = torch.zeros(targets.numel(), dtype=torch.float32, device=logits.device)
    nll[positions] = selected
    return nll.view(targets.shape)


def projected_nll(
    inputs: torch.Tensor,
    targets: torch.Tensor,
    project: Callable[[torch.Tensor], torch.Tensor],
    *,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
) -> torch.Tensor:
    """The NLL (nats) of `targets[i]` under the logits `project(inputs[i])`, evaluated `chunk_tokens` rows at a time.

    With `inputs` the final hidden states and `project` the LM head, the logits of positions that are not
    scored (padding, window context) are never computed.

    Shapes:
        inputs: (N, ...) anything `project` maps to (n, V) logits; targets: (N,) int; returns (N,) float32.
    """
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(f"inputs and targets disagree on N: {inputs.shape[0]} vs {targets.shape[0]}")
    pieces = [
        F.cross_entropy(project(inputs[i : i + chunk_tokens]).float(), targets[i : i + chunk_tokens], reduction="none")
        for i in range(0, targets.shape[0], chunk_tokens)
    ]
    if not pieces:
        return torch.zeros(0, dtype=torch.float32, device=targets.device)
    return torch.cat(pieces)


def segment_sum(values: torch.Tensor, segment_ids: torch.Tensor, n_segments: int) -> torch.Tensor:
    """Sum `values` per segment in float64 (so long documents do not lose precision).

    Shapes:
        values: (N,) float; segment_ids: (N,) int in [0, n_segments); returns (n_segments,) float64.
    """
    totals = torch.zeros(n_segments, dtype=torch.float64, device=values.device)
    return totals.index_add_(0, segment_ids, values.double())
