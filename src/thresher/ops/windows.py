"""Strided sliding windows that score every token of a long sequence exactly once with bounded context.

Pure integer arithmetic. Follows the Hugging Face perplexity guide (strided windows of `max_length` moving by
`stride`), except that the last window is right-aligned to the sequence end so it keeps a full `max_length`
of context instead of being truncated.

References:
    https://huggingface.co/docs/transformers/perplexity
"""

from __future__ import annotations

from typing import NamedTuple


class Window(NamedTuple):
    """Tokens `[start, end)` go through the model; the last `n_scored` of them are the targets it scores."""

    start: int
    end: int
    n_scored: int


def sliding_windows(n_tokens: int, max_length: int, stride: int | None = None) -> list[Window]:
    """The windows that score positions 1..n_tokens-1 of a sequence (position 0 is context only).

    Each target position is scored exactly once, in the first window that reaches it; windows after the first
    move by `stride`, so every scored token has at least `max_length - stride` tokens of left context (or
    all of its left context when the sequence is shorter).

    Args:
        n_tokens: sequence length, including the leading context token.
        max_length: most tokens one forward pass may take (>= 2).
        stride: how far consecutive windows move, 1..max_length-1; default `max_length // 2`.

    Returns:
        Windows in order; empty when there is nothing to predict (n_tokens < 2).
    """
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    if stride is None:
        stride = max_length // 2
    if not 1 <= stride <= max_length - 1:
        raise ValueError(f"stride must be in 1..{max_length - 1} for max_length {max_length}, got {stride}")
    if n_tokens < 2:
        return []
    windows: list[Window] = []
    scored_until = 1  # every position before this one is already scored (position 0 never is)
    end = min(max_length, n_tokens)
    while True:
        windows.append(Window(start=max(0, end - max_length), end=end, n_scored=end - scored_until))
        if end == n_tokens:
            return windows
        scored_until = end
        end = min(end + stride, n_tokens)
