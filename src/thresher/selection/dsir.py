"""DSIR (Xie et al. 2023): data selection by importance resampling with hashed n-gram features.

Each text becomes hashed unigram and bigram counts (lowercased, word-punct tokens, blake2b mod `buckets`).
p_raw and p_target are normalised bucket counts of the raw input and of the target corpus; an example's log
importance weight is Σ_j count_j(x) · (log p_target,j − log p_raw,j), and a Gumbel top-k draws a sample without
replacement with probabilities proportional to the weights. As in the reference `HashedNgramDSIR`, 1e-8 is
added inside the logs and the target may get Laplace smoothing. Unlike the reference, short examples are not
dropped (it drops those under 100 words); blake2b replaces sha256 (any stable hash will do).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

DEFAULT_BUCKETS = 10_000
_LOG_FLOOR = 1e-8
# nltk's WordPunctTokenizer pattern: runs of word characters, or runs of other non-space characters.
_WORD_PUNCT = re.compile(r"\w+|[^\w\s]+")


class NgramHasher:
    """Maps a text to the hashed buckets of its unigrams and bigrams (one entry per occurrence)."""

    def __init__(self, buckets: int = DEFAULT_BUCKETS) -> None:
        if buckets < 1:
            raise ValueError(f"buckets must be at least 1, got {buckets}")
        self.buckets = buckets
        self._memo: dict[str, int] = {}  # n-gram -> bucket; n-grams repeat a lot across a corpus

    def _bucket(self, ngram: str) -> int:
        bucket = self._memo.get(ngram)
        if bucket is None:
            digest = hashlib.blake2b(ngram.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest, "little") % self.buckets
            if len(self._memo) < 2_000_000:
                self._memo[ngram] = bucket
        return bucket

    def features(self, text: str) -> np.ndarray:
        """Bucket ids of every unigram and bigram of `text` (int64, with repeats)."""
        tokens = _WORD_PUNCT.findall(text.lower())
        ngrams = tokens + [f"{first} {second}" for first, second in zip(tokens, tokens[1:], strict=False)]
        return np.fromiter((self._bucket(ngram) for ngram in ngrams), dtype=np.int64, count=len(ngrams))

    def counts(self, texts: Iterable[str]) -> np.ndarray:
        """Total bucket counts over `texts` (float64, length `buckets`)."""
        total = np.zeros(self.buckets, dtype=np.float64)
        for text in texts:
            total += np.bincount(self.features(text), minlength=self.buckets)
        return total


def bucket_distribution(counts: np.ndarray, laplace: float = 0.0) -> np.ndarray:
    """Normalised bucket probabilities from counts, with an optional Laplace pseudo-count per bucket."""
    smoothed = counts + laplace
    total = smoothed.sum()
    return smoothed / total if total > 0 else np.full(len(counts), 1.0 / len(counts))


def log_ratio(p_target: np.ndarray, p_raw: np.ndarray) -> np.ndarray:
    """Per-bucket log p_target − log p_raw (with DSIR's 1e-8 floor inside the logs)."""
    return np.log(p_target + _LOG_FLOOR) - np.log(p_raw + _LOG_FLOOR)


def log_importance_weights(texts: Iterable[str], hasher: NgramHasher, bucket_log_ratio: np.ndarray) -> np.ndarray:
    """Σ_j count_j(x) · log-ratio_j for each text (an example with no tokens gets 0)."""
    return np.array([float(bucket_log_ratio[hasher.features(text)].sum()) for text in texts], dtype=np.float64)


def gumbel_top_k(log_weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of a sample without replacement, probability ∝ exp(log weight), in order of preference.

    Adding Gumbel noise and sorting is sampling sequentially without replacement; the whole order is returned
    so a caller can cut it by count (`k`) or by a token budget (`k = len`).
    """
    keys = log_weights + rng.gumbel(size=len(log_weights))
    order = np.argsort(-keys, kind="stable")
    return order[: max(0, min(k, len(order)))].astype(np.int64)
