"""Target models of the evaluation harness: train on a subset of the training rows, score on the held-out part.

- `ClassifyTarget`: an MLP head (`HeadProxy`) over sentence embeddings computed once for every example;
  metrics `accuracy` and `macro_f1`.
- `LmTarget`: a small GPT-2 trained from scratch with the reference-model recipe (`models/reference.py`); the
  byte-level BPE tokenizer is trained once on the training part and shared by every run; metrics
  `nll_per_token` (nats) and `bits_per_byte` on the held-out texts.

Each target's `train_and_evaluate(rows, seed)` is deterministic given `rows` and `seed` on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from thresher.errors import OptionError

if TYPE_CHECKING:
    from thresher.models.reference import ReferenceConfig

# Which way each metric improves: the report's "best method" and the plot's labels read this.
HIGHER_IS_BETTER = {"accuracy": True, "macro_f1": True, "nll_per_token": False, "bits_per_byte": False}
# sft reports accuracy too when its responses are class labels (see `thresher.eval.sft`), NLL always.
PRIMARY_METRIC = {"classify": "accuracy", "lm": "nll_per_token", "sft": "nll_per_token"}
TASKS = tuple(PRIMARY_METRIC)
BUDGETS = ("epochs", "tokens")


@dataclass(frozen=True)
class ClassifyConfig:
    """How the classification head is trained."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    hidden: int = 128
    dropout: float = 0.1


class ClassifyTarget:
    """An MLP head over fixed embeddings, trained on a subset of the training rows and scored on the eval rows."""

    def __init__(
        self,
        train_features: np.ndarray,
        train_labels: np.ndarray,
        eval_features: np.ndarray,
        eval_labels: np.ndarray,
        num_classes: int,
        config: ClassifyConfig | None = None,
    ) -> None:
        # Standardised with the whole training part's statistics (no labels used, the same for every method):
        # unit-length sentence embeddings differ in small offsets that an MLP trained briefly would not pick up.
        train_array = np.asarray(train_features, dtype=np.float32)
        mean, scale = train_array.mean(axis=0), train_array.std(axis=0) + 1e-6
        self.train_features = torch.as_tensor((train_array - mean) / scale)
        self.train_labels = torch.as_tensor(np.asarray(train_labels, dtype=np.int64))
        self.eval_features = torch.as_tensor((np.asarray(eval_features, dtype=np.float32) - mean) / scale)
        self.eval_labels = np.asarray(eval_labels, dtype=np.int64)
        self.num_classes = num_classes
        self.config = config or ClassifyConfig()

    def train_and_evaluate(self, rows: np.ndarray, seed: int) -> dict[str, float]:
        """Accuracy and macro-F1 on the eval rows of a head trained on the training rows `rows`."""
        from sklearn.metrics import accuracy_score, f1_score

        from thresher.models.proxy import HeadProxy, train_head_epoch

        config = self.config
        torch.manual_seed(seed)
        model = HeadProxy(self.train_features.shape[1], self.num_classes, hidden=config.hidden, dropout=config.dropout)
        optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
        order_generator = torch.Generator().manual_seed(seed)
        features = self.train_features[torch.as_tensor(rows, dtype=torch.long)]
        labels = self.train_labels[torch.as_tensor(rows, dtype=torch.long)]
        for _ in range(config.epochs):
            train_head_epoch(model, optimiser, features, labels, config.batch_size, order_generator)
        model.eval()
        with torch.no_grad():
            predicted = model(self.eval_features).argmax(dim=1).numpy()
        return {
            "accuracy": float(accuracy_score(self.eval_labels, predicted)),
            "macro_f1": float(
                f1_score(
                    self.eval_labels, predicted, labels=list(range(self.num_classes)), average="macro", zero_division=0
                )
            ),
        }


def tiny_lm_config(**overrides: object) -> ReferenceConfig:
    """The default eval LM: small enough that a dozen runs on a few thousand texts take minutes on a CPU."""
    from thresher.models.reference import ReferenceConfig

    defaults: dict[str, object] = {
        "vocab_size": 1024,
        "n_layer": 2,
        "n_head": 2,
        "n_embd": 64,
        "context_length": 64,
        "batch_size": 16,
        "epochs": 2.0,
        "device": "cpu",
    }
    config = ReferenceConfig(**{**defaults, **overrides})  # type: ignore[arg-type]
    config.validate()
    return config


class LmTarget:
    """A small GPT-2 trained from scratch on a subset of the training texts, scored on the held-out texts.

    With `budget="epochs"` every run trains `config.epochs` epochs over its own subset; with `"tokens"` every
    run trains on as many tokens as the full-data run does (so smaller subsets are repeated more often).
    """

    def __init__(
        self, train_texts: Sequence[str], eval_texts: Sequence[str], config: ReferenceConfig, budget: str = "epochs"
    ) -> None:
        from thresher.models.reference import block_starts, count_steps, pack_documents
        from thresher.models.tokenizer import train_bpe_tokenizer

        if budget not in BUDGETS:
            raise OptionError(f"unknown --budget {budget!r}; choose one of {', '.join(BUDGETS)}")
        if not train_texts or not eval_texts:
            raise OptionError("the lm task needs at least one training and one held-out text")
        self.config, self.budget = config, budget
        self.tokenizer = train_bpe_tokenizer(iter(train_texts), config.vocab_size, config.min_frequency)
        # Documents tokenised once; a run's stream is the concatenation of its documents (eos + tokens each).
        self.documents = [pack_documents([text], self.tokenizer) for text in train_texts]
        self.eval_stream = pack_documents(list(eval_texts), self.tokenizer)
        self.eval_bytes = sum(len(text.encode("utf-8")) for text in eval_texts)
        full_stream_length = sum(len(document) for document in self.documents)
        full_blocks = len(block_starts(full_stream_length, min(config.context_length, full_stream_length - 1)))
        self.full_steps = count_steps(full_blocks, config)

    def _model(self, seed: int):
        from thresher.models.reference import build_gpt2

        torch.manual_seed(seed)
        return build_gpt2(self.config, self.tokenizer)

    def evaluate_at_init(self, seed: int) -> dict[str, float]:
        """The held-out metrics of an untrained model: the level that training must beat."""
        return self._evaluate(self._model(seed))

    def train_and_evaluate(self, rows: np.ndarray, seed: int) -> dict[str, float]:
        """Held-out NLL per token and bits per byte of a model trained on the training texts `rows`."""
        from thresher.models.reference import block_starts, count_steps, iterate_batches, learning_rate_at

        config = self.config
        stream = np.concatenate([self.documents[row] for row in rows])
        if len(stream) < 2:
            raise OptionError("a selected subset has fewer than two tokens; keep more examples")
        block_len = min(config.context_length, len(stream) - 1)
        starts = block_starts(len(stream), block_len)
        # "tokens": every run trains as many steps (of equal size) as the full-data run.
        total_steps = self.full_steps if self.budget == "tokens" else count_steps(len(starts), config)
        model = self._model(seed)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        optimiser = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.learning_rate,
            betas=(config.beta1, config.beta2),
        )
        stream_tensor = torch.from_numpy(stream.astype(np.int64))
        offsets = torch.arange(block_len + 1)
        batches = iterate_batches(starts, config.batch_size, np.random.default_rng(seed))
        model.train()
        for step in range(total_steps):
            blocks = stream_tensor[torch.from_numpy(next(batches))[:, None] + offsets]
            for group in optimiser.param_groups:
                group["lr"] = learning_rate_at(step, total_steps, config)
            logits = model(input_ids=blocks[:, :-1]).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), blocks[:, 1:].reshape(-1))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimiser.step()
        metrics = self._evaluate(model)
        metrics["train_steps"] = float(total_steps)
        return metrics

    def _evaluate(self, model) -> dict[str, float]:
        """NLL of every held-out token after the first, each predicted once, in context windows of the model's size."""
        model.eval()
        stream = torch.from_numpy(self.eval_stream.astype(np.int64))
        length = self.config.context_length
        total_nll, total_tokens = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(stream) - 1, length):
                window = stream[start : start + length + 1][None, :]
                logits = model(input_ids=window[:, :-1]).logits
                total_nll += float(
                    F.cross_entropy(logits.reshape(-1, logits.size(-1)), window[:, 1:].reshape(-1), reduction="sum")
                )
                total_tokens += window.shape[1] - 1
        return {
            "nll_per_token": total_nll / max(total_tokens, 1),
            "bits_per_byte": total_nll / (math.log(2) * max(self.eval_bytes, 1)),
        }
