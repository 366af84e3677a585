"""The likelihood scorer: a reference LM's negative log-likelihood of each example, i.e. its information content.

Kim & Baek (2024) keep the examples a reference LM finds most informative (highest NLL): the total NLL in nats
is the example's description length under the model.

Cost class: forward-only. Examples are tokenised, split into sliding windows when longer than the context,
and all windows of a batch are grouped longest-first into token-budget batches, so padding stays small;
the LM head is applied only to scored positions, and the loss is computed in float32 chunks.

References:
    Kim & Baek 2024, "Measuring Sample Importance in Data Pruning for Language Models based on Information
    Entropy", arXiv 2406.14124.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.data.fields import ID_COLUMN, TEXT_COLUMN
from thresher.errors import ModelError, OptionError
from thresher.scorers.base import Direction, RunContext, ScoreColumn, Scorer

# A window joins a batch only if padding it adds at most this share of the batch's longest window: small
# batches cost little extra per token, padding costs fully (and with many examples per call batches stay full).
MAX_ROW_PADDING = 0.25

# Config attributes of models whose logits are not a plain linear map of the last hidden state.
_NONLINEAR_HEAD_ATTRIBUTES = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")


@dataclass
class _Reference:
    """One loaded reference model and how to feed it."""

    loaded: Any  # thresher.models.loading.LoadedModel
    context_token_id: int  # prepended to every text so that its first token is predicted too
    max_length: int
    stride: int
    uses_hidden_head: bool  # apply the LM head ourselves to scored positions only


class CausalLmScorer(Scorer):
    """Base of the scorers that read NLLs off a causal LM (likelihood, ifd): loading, batching, provenance.

    A subclass takes `model`, `dtype`, `device`, `batch_tokens` and `max_length` (and `stride` if it scores in
    sliding windows), and scores windows of token sequences with `_window_nlls`.
    """

    stride: int | None = None

    # ------------------------------------------------------------------ lifecycle

    def setup(self, context: RunContext | None = None) -> None:
        """Load the reference model (or every fold model) once per worker."""
        from thresher.models.device import resolve_device, resolve_dtype
        from thresher.models.folds import read_folds
        from thresher.models.loading import load_causal_lm

        if self.batch_tokens < 1:
            raise OptionError(f"batch_tokens must be >= 1, got {self.batch_tokens}")
        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        self._folds = read_folds(self.model)
        sources = [str(self._folds.model_path(fold)) for fold in range(self._folds.k)] if self._folds else [self.model]
        self._references = [self._prepare(load_causal_lm(source, dtype=dtype, device=device)) for source in sources]
        self._real_tokens = 0
        self._padded_tokens = 0
        self.oom_halvings = 0
        self._effective_batch_tokens = self.batch_tokens

    def teardown(self) -> None:
        """Drop the models."""
        self._references = []

    @property
    def loaded_models(self) -> list[Any]:
        """The `LoadedModel`s that `setup()` loaded (one, or one per fold); empty before `setup()`."""
        return [reference.loaded for reference in getattr(self, "_references", [])]

    def provenance(self) -> dict[str, Any]:
        """Model source, weights fingerprint(s), tokenizer, dtype, device, windowing and the run's padding share."""
        references = getattr(self, "_references", [])
        if not references:
            return {"model": self.model}
        first = references[0]
        tokenizer = first.loaded.tokenizer
        context_token = tokenizer.convert_ids_to_tokens(first.context_token_id)
        record: dict[str, Any] = {
            "model": self.model,
            "fingerprint": first.loaded.fingerprint,
            "tokenizer": first.loaded.tokenizer_name,
            "vocab_size": len(tokenizer),
            "dtype": str(first.loaded.dtype).removeprefix("torch."),
            "device": str(first.loaded.device),
            "max_length": first.max_length,
            "stride": first.stride,
            "context_token": context_token,
            "head": "hidden-states" if first.uses_hidden_head else "logits",
            "padding_fraction": self._padded_fraction(),
            "oom_halvings": getattr(self, "oom_halvings", 0),
        }
        if self._folds is not None:
            record["folds"] = {
                "k": self._folds.k,
                "assignment": self._folds.assignment,
                "fingerprints": [reference.loaded.fingerprint for reference in references],
            }
            # One digest for the whole set, so the manifest changes when any fold changes.
            record["fingerprint"] = _combine_digests([reference.loaded.fingerprint for reference in references])
        return record

    def _window_nlls(
        self, reference: _Reference, sequences: list[list[int]], window_sequence: list[int], windows: list[Any]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(window indices, their summed NLL) for each token-budget batch of `windows`, longest first.

        Window `w` feeds tokens `[start, end)` of `sequences[window_sequence[w]]` and scores its last `n_scored`
        tokens (a `thresher.ops.windows.Window`).
        """
        from thresher.batching import token_budget_batches

        lengths = np.asarray([window.end - window.start for window in windows], dtype=np.int64)
        for rows in token_budget_batches(lengths, self._effective_batch_tokens, max_row_padding=MAX_ROW_PADDING):
            width = int(lengths[rows].max())
            input_ids = np.zeros((len(rows), width), dtype=np.int64)
            scored = np.zeros((len(rows), width), dtype=bool)  # position j predicts token j + 1
            for slot, row in enumerate(rows):
                start, end, n_scored = windows[row]
                length = end - start
                input_ids[slot, :length] = sequences[window_sequence[row]][start:end]
                scored[slot, length - n_scored - 1 : length - 1] = True
            row_nll = self._forward_halving_on_oom(reference, input_ids, scored)
            self._real_tokens += int(lengths[rows].sum())
            self._padded_tokens += len(rows) * width
            yield rows, row_nll

    def _forward_halving_on_oom(self, reference: _Reference, input_ids: np.ndarray, scored: np.ndarray) -> np.ndarray:
        """Row NLLs of one batch; when the device runs out of memory, score each half separately instead.

        The halved budget is kept for the rest of the run, so later batches do not hit the same wall.
        """
        import torch

        try:
            with torch.inference_mode():
                device = reference.loaded.device
                row_nll = self._forward(
                    reference, torch.from_numpy(input_ids).to(device), torch.from_numpy(scored).to(device)
                )
                return row_nll.cpu().numpy()
        except torch.OutOfMemoryError:
            if reference.loaded.device.type == "cuda":
                torch.cuda.empty_cache()
            rows = len(input_ids)
            if rows == 1:
                raise ModelError(
                    f"out of memory scoring a single window of {input_ids.shape[1]} tokens on "
                    f"{reference.loaded.device}; lower --max-length"
                ) from None
            self._effective_batch_tokens = max(1, min(self._effective_batch_tokens, rows * input_ids.shape[1]) // 2)
            self.oom_halvings += 1
            half = rows // 2
            return np.concatenate(
                [
                    self._forward_halving_on_oom(reference, input_ids[:half], scored[:half]),
                    self._forward_halving_on_oom(reference, input_ids[half:], scored[half:]),
                ]
            )

    @staticmethod
    def _forward(reference: _Reference, input_ids: Any, scored: Any) -> Any:
        """The summed NLL (float64) of each row's scored positions. Shapes: (R, T) in, (R,) out.

        Rows are right-padded and attention is causal, so no real token can attend to padding: passing no
        attention mask gives the same outputs at every real position and lets SDPA take its faster causal path.
        """
        import torch

        from thresher.ops.nll import projected_nll, segment_sum, token_nll

        model = reference.loaded.model
        next_ids = torch.roll(input_ids, shifts=-1, dims=1)  # the last column is never scored
        if reference.uses_hidden_head:
            hidden = model.base_model(input_ids=input_ids, use_cache=False)[0]
            positions = scored.nonzero()
            token_losses = projected_nll(
                hidden[positions[:, 0], positions[:, 1]],
                next_ids[positions[:, 0], positions[:, 1]],
                model.get_output_embeddings(),
            )
            return segment_sum(token_losses, positions[:, 0], input_ids.shape[0])
        logits = model(input_ids=input_ids, use_cache=False).logits
        return token_nll(logits, next_ids, scored).double().sum(dim=1)

    # ------------------------------------------------------------------ helpers

    def _fold_groups(self, batch: pa.RecordBatch) -> dict[int, np.ndarray]:
        """Rows of `batch` per reference model: all rows for one model, else by the fold that did not train on them."""
        if self._folds is None:
            return {0: np.arange(batch.num_rows)}
        from thresher.models.folds import fold_of

        example_ids = batch.column(ID_COLUMN).to_pylist()
        folds = np.array([fold_of(example_id, self._folds.k) for example_id in example_ids], dtype=np.int64)
        return {fold: np.flatnonzero(folds == fold) for fold in range(self._folds.k)}

    def _prepare(self, loaded: Any) -> _Reference:
        """Check the windowing options against the model and decide how to feed it."""
        import torch

        from thresher.models.loading import context_length

        model_context = context_length(loaded.model.config)
        max_length = self.max_length if self.max_length is not None else model_context
        if max_length is None:
            raise OptionError(f"{loaded.source}: the model declares no context length; pass max_length")
        if max_length < 2:
            raise OptionError(f"max_length must be >= 2, got {max_length}")
        if model_context is not None and max_length > model_context:
            raise OptionError(f"max_length {max_length} exceeds the context length {model_context} of {loaded.source}")
        stride = self.stride if self.stride is not None else max_length // 2
        if not 1 <= stride <= max_length - 1:
            raise OptionError(f"stride must be in 1..{max_length - 1} for max_length {max_length}, got {stride}")

        tokenizer = loaded.tokenizer
        context_token_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if context_token_id is None:
            raise ModelError(
                f"{loaded.source}: the tokenizer has neither a BOS nor an EOS token to use as context for the "
                "first token"
            )
        model = loaded.model
        head = model.get_output_embeddings()
        uses_hidden_head = (
            isinstance(head, torch.nn.Linear)
            and model.base_model is not model
            and not any(getattr(model.config, name, None) for name in _NONLINEAR_HEAD_ATTRIBUTES)
        )
        return _Reference(
            loaded=loaded,
            context_token_id=int(context_token_id),
            max_length=int(max_length),
            stride=int(stride),
            uses_hidden_head=uses_hidden_head,
        )

    def _padded_fraction(self) -> float:
        padded = getattr(self, "_padded_tokens", 0)
        return 0.0 if padded == 0 else 1.0 - self._real_tokens / padded


class LikelihoodScorer(CausalLmScorer):
    """A reference causal LM's NLL of each example (higher = more informative = more important).

    Parameters
    ----------
    model:
        Hugging Face id, local directory or `.gguf` file of a causal LM, or a `thresher train-ref --folds K`
        directory (each example is then scored by the fold model that did not train on it).
    dtype:
        auto (bf16 where the hardware runs it fast) | float32 | bfloat16.
    device:
        auto | cpu | cuda.
    batch_tokens:
        Token budget of one forward pass, padding included (rows × longest row); halved on out-of-memory.
    max_length:
        Most tokens per forward pass (default: the model's context); longer examples are scored in sliding windows.
    stride:
        How far sliding windows move (default max_length // 2); a later window keeps max_length − stride tokens of
        left context.
    """

    name = "likelihood"
    columns = (
        ScoreColumn("nll_sum", Direction.HIGHER, "total NLL of the text in nats (its description length)"),
        ScoreColumn("nll_mean", Direction.HIGHER, "mean NLL per predicted token, nats"),
        ScoreColumn("ppl", Direction.HIGHER, "perplexity, exp(nll_mean)"),
        ScoreColumn("bits_per_byte", Direction.HIGHER, "NLL in bits per UTF-8 byte of the text"),
        ScoreColumn("n_tokens", Direction.HIGHER, "number of predicted tokens", dtype="int64"),
    )

    def __init__(
        self,
        *,
        model: str,
        dtype: str = "auto",
        device: str = "auto",
        batch_tokens: int = 4096,
        max_length: int | None = None,
        stride: int | None = None,
    ) -> None:
        self.model = model
        self.dtype = dtype
        self.device = device
        self.batch_tokens = batch_tokens
        self.max_length = max_length
        self.stride = stride

    # ------------------------------------------------------------------ scoring

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """Score every text of `batch`; see the class docstring for the columns."""
        if not getattr(self, "_references", None):
            raise RuntimeError("LikelihoodScorer.setup() must run before score_batch()")
        texts: list[str] = batch.column(TEXT_COLUMN).to_pylist()
        nll_sum = np.zeros(len(texts), dtype=np.float64)
        n_tokens = np.zeros(len(texts), dtype=np.int64)
        for fold, rows in self._fold_groups(batch).items():
            if len(rows):
                self._score_texts(self._references[fold], [texts[i] for i in rows], rows, nll_sum, n_tokens)

        n_bytes = np.array([len(text.encode("utf-8")) for text in texts], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            nll_mean = np.where(n_tokens > 0, nll_sum / np.maximum(n_tokens, 1), np.nan)
            bits_per_byte = np.where(n_bytes > 0, nll_sum / (math.log(2) * np.maximum(n_bytes, 1)), np.nan)
        return {
            "nll_sum": nll_sum,
            "nll_mean": nll_mean,
            "ppl": np.exp(nll_mean),
            "bits_per_byte": bits_per_byte,
            "n_tokens": n_tokens,
        }

    def _score_texts(
        self,
        reference: _Reference,
        texts: list[str],
        example_rows: np.ndarray,
        nll_sum: np.ndarray,
        n_tokens: np.ndarray,
    ) -> None:
        """Add the NLL of `texts` (rows `example_rows` of the output) into `nll_sum` / `n_tokens`."""
        from thresher.ops.windows import sliding_windows

        tokenizer = reference.loaded.tokenizer
        # Special tokens are never added by the tokenizer: we add the context token ourselves, exactly once.
        encoded = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        sequences = [[reference.context_token_id, *ids] for ids in encoded]

        window_example: list[int] = []
        windows = []
        for example, sequence in enumerate(sequences):
            for window in sliding_windows(len(sequence), reference.max_length, reference.stride):
                window_example.append(example)
                windows.append(window)
        windows_left = np.bincount(np.asarray(window_example, dtype=np.int64), minlength=len(texts))
        # Empty texts have nothing to predict: they are done from the start.
        already_done = int((windows_left == 0).sum())
        if already_done:
            self.report_progress(already_done, 0)

        window_scored = np.asarray([window.n_scored for window in windows], dtype=np.int64)
        for rows, row_nll in self._window_nlls(reference, sequences, window_example, windows):
            examples = np.asarray([window_example[row] for row in rows], dtype=np.int64)
            np.add.at(nll_sum, example_rows[examples], row_nll)
            np.add.at(n_tokens, example_rows[examples], window_scored[rows])
            np.subtract.at(windows_left, examples, 1)
            finished = int(np.count_nonzero(windows_left[np.unique(examples)] == 0))
            self.report_progress(finished, int(window_scored[rows].sum()))


def _combine_digests(digests: list[str]) -> str:
    import hashlib

    return hashlib.blake2b("\n".join(digests).encode(), digest_size=16).hexdigest()
