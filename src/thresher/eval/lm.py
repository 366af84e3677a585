"""The `lm` eval target: a small GPT-2 trained from scratch on each subset, scored on the held-out texts.

The byte-level BPE tokenizer is trained once on the training part and shared by every run; each run trains with
the reference-model recipe (`thresher.models.reference.train_lm`, the loop `thresher train-ref` uses). Metrics:
`nll_per_token` (nats) and `bits_per_byte` on the held-out texts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from thresher.errors import OptionError
from thresher.eval.order import checkpoint_steps
from thresher.eval.target import BUDGETS, DEFAULT_CHECKPOINTS, TOKENS, Checkpoint, EvalTarget, Metric, RunOutcome

if TYPE_CHECKING:
    from thresher.eval.data import EvalData
    from thresher.models.reference import LmTrainingLog, ReferenceConfig


class LmTarget(EvalTarget):
    """A small GPT-2 trained from scratch on CPU; held-out NLL per token and bits per byte.

    With `--budget epochs` every run trains `epochs` epochs over its own subset; with `tokens` every run trains
    as many steps as the full-data run (so smaller subsets are repeated more often).

    Parameters
    ----------
    vocab_size:
        Byte-level BPE vocabulary size, trained once on the training part.
    min_frequency:
        BPE merge threshold: pairs seen fewer times are not merged.
    n_layer:
        Transformer blocks.
    n_head:
        Attention heads per block (must divide n_embd).
    n_embd:
        Model width.
    context_length:
        Tokens per training block and per held-out window.
    batch_size:
        Blocks per optimiser step.
    epochs:
        Passes over each run's subset (with --budget tokens: over the full training part); none: max_steps only.
    max_steps:
        Cap on optimiser steps per run (none: no cap).
    learning_rate:
        Peak learning rate, after the linear warmup.
    min_learning_rate:
        Where the cosine decay ends.
    warmup_fraction:
        Share of the steps spent warming the learning rate up.
    weight_decay:
        AdamW weight decay on weight matrices and embeddings (not on biases or norms).
    beta1:
        AdamW first-moment decay.
    beta2:
        AdamW second-moment decay.
    grad_clip:
        Gradient-norm clipping threshold.
    dropout:
        Dropout in the embeddings, attention and residuals.
    device:
        Where runs train: cpu (fastest for models this small), cuda or auto.
    checkpoints:
        Held-out evaluations per run, evenly spaced in steps, the last at the final step (the compute axis).
    """

    name = "lm"
    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("nll_per_token", False, "held-out NLL per token (nats)"),
        Metric("bits_per_byte", False, "held-out NLL per UTF-8 byte (bits)"),
    )
    primary_metric = "nll_per_token"
    budgets = BUDGETS
    compute_axis = TOKENS

    def __init__(
        self,
        *,
        vocab_size: int = 1024,
        min_frequency: int = 2,
        n_layer: int = 2,
        n_head: int = 2,
        n_embd: int = 64,
        context_length: int = 64,
        batch_size: int = 16,
        epochs: float | None = 2.0,
        max_steps: int | None = None,
        learning_rate: float = 3e-3,
        min_learning_rate: float = 3e-4,
        warmup_fraction: float = 0.05,
        weight_decay: float = 0.1,
        beta1: float = 0.9,
        beta2: float = 0.95,
        grad_clip: float = 1.0,
        dropout: float = 0.0,
        device: str = "cpu",
        checkpoints: int = DEFAULT_CHECKPOINTS,
    ) -> None:
        self.vocab_size = vocab_size
        self.min_frequency = min_frequency
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.context_length = context_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.min_learning_rate = min_learning_rate
        self.warmup_fraction = warmup_fraction
        self.weight_decay = weight_decay
        self.beta1 = beta1
        self.beta2 = beta2
        self.grad_clip = grad_clip
        self.dropout = dropout
        self.device = device
        self.checkpoints = checkpoints

    def reference_config(self) -> ReferenceConfig:
        """The parameters as the reference-model trainer's config."""
        from thresher.models.reference import ReferenceConfig

        params = self.get_params()
        params.pop("checkpoints")
        return ReferenceConfig(**params)

    def validate(self) -> None:
        self.reference_config().validate()
        if self.checkpoints < 1:
            raise OptionError(f"lm: checkpoints must be at least 1, got {self.checkpoints}")

    def prepare(self, data: EvalData, *, budget: str, cache_dir: Path | None) -> PreparedLm:
        return PreparedLm(
            data.train.texts, data.held_out.texts, self.reference_config(), budget=budget, checkpoints=self.checkpoints
        )


class PreparedLm:
    """The tokenizer, the tokenised training documents and the held-out stream; one fresh GPT-2 per run."""

    primary_metric = LmTarget.primary_metric

    def __init__(
        self,
        train_texts: Sequence[str],
        eval_texts: Sequence[str],
        config: ReferenceConfig,
        budget: str = "epochs",
        checkpoints: int = DEFAULT_CHECKPOINTS,
    ) -> None:
        from thresher.models.reference import block_starts, count_steps, pack_documents
        from thresher.models.tokenizer import train_bpe_tokenizer

        if budget not in LmTarget.budgets:
            raise OptionError(f"unknown --budget {budget!r}; choose one of {', '.join(LmTarget.budgets)}")
        if not train_texts or not eval_texts:
            raise OptionError("the lm task needs at least one training and one held-out text")
        self.config, self.budget, self.checkpoints = config, budget, checkpoints
        self.tokenizer = train_bpe_tokenizer(iter(train_texts), config.vocab_size, config.min_frequency)
        # Documents tokenised once; a run's stream is the concatenation of its documents (eos + tokens each).
        self.documents = [pack_documents([text], self.tokenizer) for text in train_texts]
        self.eval_stream = pack_documents(list(eval_texts), self.tokenizer)
        self.eval_bytes = sum(len(text.encode("utf-8")) for text in eval_texts)
        full_stream_length = sum(len(document) for document in self.documents)
        full_blocks = len(block_starts(full_stream_length, min(config.context_length, full_stream_length - 1)))
        self.full_steps = count_steps(full_blocks, config)

    def describe(self) -> dict[str, Any]:
        return {
            "model": "gpt2-from-scratch",
            "tokenizer_vocab": len(self.tokenizer),
            "full_data_steps": self.full_steps,
        }

    def evaluate_at_init(self, seed: int) -> dict[str, float]:
        """The held-out metrics of an untrained model: the level that training must beat."""
        from thresher.models.reference import seeded_gpt2

        return self._evaluate(seeded_gpt2(self.config, self.tokenizer, seed))

    def train(
        self, rows: np.ndarray, seed: int, after_step: Callable[[Any, LmTrainingLog], None] | None = None
    ) -> tuple[Any, int]:
        """A GPT-2 trained on the training texts `rows` under `seed`, and its number of optimiser steps.

        The model is initialised from `seed` alone and its batches are drawn by a generator seeded with `seed`;
        the documents are packed in input order, so that the stream of the whole training part is the one
        `thresher train-ref` trains on. `after_step(model, log)` is called after every optimiser step.
        """
        from thresher.models.reference import seeded_gpt2, train_lm

        stream = np.concatenate([self.documents[row] for row in rows])
        if len(stream) < 2:
            raise OptionError("a selected subset has fewer than two tokens; keep more examples")
        # "tokens": every run trains as many steps (of equal size) as the full-data run.
        steps = self.full_steps if self.budget == "tokens" else None
        model = seeded_gpt2(self.config, self.tokenizer, seed)
        hook = (lambda log: after_step(model, log)) if after_step is not None else None
        log = train_lm(model, stream, self.config, seed=seed, steps=steps, after_step=hook)
        return model, log.steps

    def train_and_evaluate(self, rows: np.ndarray, seed: int) -> RunOutcome:
        """Held-out NLL per token and bits per byte of a model trained on the training texts `rows`, also at
        `checkpoints` points along the way (steps and tokens seen)."""
        curve: list[Checkpoint] = []
        wanted: set[int] = set()

        def record(model: Any, log: LmTrainingLog) -> None:
            if not wanted:
                wanted.update(checkpoint_steps(log.steps, self.checkpoints))
            step = len(log.losses)
            if step in wanted:
                curve.append(Checkpoint(step, self._evaluate(model), tokens=log.n_train_tokens))

        _, steps = self.train(rows, seed, after_step=record)
        metrics = {**curve[-1].metrics, "train_steps": float(steps)}
        return RunOutcome(metrics, curve)

    def _evaluate(self, model: Any) -> dict[str, float]:
        """NLL of every held-out token after the first, each predicted once, in context windows of the model's size."""
        import torch
        import torch.nn.functional as F

        model.eval()
        device = next(model.parameters()).device
        stream = torch.from_numpy(self.eval_stream.astype(np.int64))
        length = self.config.context_length
        total_nll, total_tokens = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(stream) - 1, length):
                window = stream[start : start + length + 1][None, :].to(device)
                logits = model(input_ids=window[:, :-1]).logits.float()
                total_nll += float(
                    F.cross_entropy(logits.reshape(-1, logits.size(-1)), window[:, 1:].reshape(-1), reduction="sum")
                )
                total_tokens += window.shape[1] - 1
        return {
            "nll_per_token": total_nll / max(total_tokens, 1),
            "bits_per_byte": total_nll / (math.log(2) * max(self.eval_bytes, 1)),
        }
