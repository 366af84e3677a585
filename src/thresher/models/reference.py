"""Train a small GPT-2-style reference LM on the user's own texts (Kim & Baek 2024) and save it as a HF model dir.

The saved directory is an ordinary Hugging Face model: `AutoModelForCausalLM.from_pretrained(dir)` and
`AutoTokenizer.from_pretrained(dir)` load it, so the likelihood scorer takes it with `--model DIR`.
During training every document is fed as `<|endoftext|>` + its tokens, so scoring a text the same way
(eos/bos token first) matches what the model saw.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from thresher.atomic import staged_dir
from thresher.errors import ModelError, OptionError
from thresher.models.device import resolve_device
from thresher.models.tokenizer import train_bpe_tokenizer

METADATA_FILE = "thresher_reference.json"
METADATA_FORMAT = "thresher-reference/1"
_ENCODE_CHUNK = 1024  # texts per encode_batch call: bounds peak memory of the token lists


@dataclass
class ReferenceConfig:
    """What to train: model shape, optimiser and budget.

    The run length is the smallest of `epochs`, `max_steps` and `max_tokens` that are set (at least one must be).
    """

    vocab_size: int = 4096
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    context_length: int = 128
    batch_size: int = 16
    learning_rate: float = 3e-3
    min_learning_rate: float = 3e-4  # where the cosine decay ends
    warmup_fraction: float = 0.05  # share of the steps spent warming the learning rate up linearly
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    epochs: float | None = 6.0
    max_steps: int | None = None
    max_tokens: int | None = None  # budget in trained tokens (steps x batch_size x context_length)
    min_frequency: int = 2  # BPE merge threshold
    seed: int = 0
    dropout: float = 0.0
    device: str = "auto"  # "auto", "cpu" or "cuda"; "auto" picks cuda when available

    def validate(self) -> None:
        """Raise `OptionError` naming the first field that is out of range."""
        positive_ints = ("vocab_size", "n_layer", "n_head", "n_embd", "context_length", "batch_size")
        for name in positive_ints:
            if getattr(self, name) < 1:
                raise OptionError(f"ReferenceConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise OptionError(f"ReferenceConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.epochs is None and self.max_steps is None and self.max_tokens is None:
            raise OptionError("ReferenceConfig needs at least one of epochs, max_steps, max_tokens")
        for name in ("epochs", "max_steps", "max_tokens"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise OptionError(f"ReferenceConfig.{name} must be > 0, got {value}")
        if not 0 < self.min_learning_rate <= self.learning_rate:
            raise OptionError("ReferenceConfig.min_learning_rate must be in (0, learning_rate]")
        if not 0 <= self.warmup_fraction < 1:
            raise OptionError(f"ReferenceConfig.warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if not 0 <= self.dropout < 1:
            raise OptionError(f"ReferenceConfig.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class TrainSummary:
    """What one training run did and how fast.

    `n_train_tokens` counts target tokens the optimiser saw (repeats included); `n_data_tokens` is the size
    of the packed corpus. `final_train_loss` is the mean loss of the last (up to 20) steps, in nats/token.
    `seconds` is the whole call (tokenizer, packing, training, saving); `tokens_per_second` is over the
    training loop only.
    """

    n_params: int
    n_train_tokens: int
    steps: int
    final_train_loss: float
    seconds: float
    tokens_per_second: float
    initial_train_loss: float = float("nan")
    n_data_tokens: int = 0
    n_texts: int = 0
    vocab_size: int = 0
    device: str = "cpu"


def learning_rate_at(step: int, total_steps: int, config: ReferenceConfig) -> float:
    """Give the learning rate for `step` (0-based): linear warmup, then cosine decay to min_learning_rate."""
    warmup_steps = int(config.warmup_fraction * total_steps)
    if step < warmup_steps:
        return config.learning_rate * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.min_learning_rate + cosine * (config.learning_rate - config.min_learning_rate)


def pack_documents(texts: Sequence[str], tokenizer) -> np.ndarray:
    """Give one token stream of `<|endoftext|>` + tokens for every text, in order."""
    eos = tokenizer.eos_token_id
    backend = tokenizer.backend_tokenizer  # the raw `tokenizers` object: fast batch encode, no python per-token work
    pieces: list[np.ndarray] = []
    for start in range(0, len(texts), _ENCODE_CHUNK):
        for encoding in backend.encode_batch(list(texts[start : start + _ENCODE_CHUNK]), add_special_tokens=False):
            pieces.append(np.asarray([eos, *encoding.ids], dtype=np.int32))
    return np.concatenate(pieces)


def block_starts(n_tokens: int, block_len: int) -> np.ndarray:
    """Give start offsets of input blocks that cover every target token once: stride `block_len`, plus one
    final block flush with the end of the stream so the tail is not dropped."""
    last_start = n_tokens - block_len - 1
    starts = np.arange(0, last_start + 1, block_len)
    if starts[-1] != last_start:
        starts = np.append(starts, last_start)
    return starts


def iterate_batches(starts: np.ndarray, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield batches of block starts forever, one shuffled pass over all blocks per epoch."""
    while True:
        order = rng.permutation(starts)
        for i in range(0, len(order), batch_size):
            yield order[i : i + batch_size]


def count_steps(n_blocks: int, config: ReferenceConfig) -> int:
    """Give the number of optimiser steps: the smallest budget among epochs, max_steps and max_tokens."""
    steps_per_epoch = math.ceil(n_blocks / config.batch_size)
    limits = []
    if config.epochs is not None:
        limits.append(math.ceil(config.epochs * steps_per_epoch))
    if config.max_steps is not None:
        limits.append(config.max_steps)
    if config.max_tokens is not None:
        limits.append(config.max_tokens // (config.batch_size * config.context_length))
    return max(1, min(limits))


def build_gpt2(config: ReferenceConfig, tokenizer: Any) -> Any:
    """A randomly initialised GPT-2 of `config`'s shape over `tokenizer` (seed torch before calling)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    model_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.context_length,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        # No pad_token_id, like GPT-2: the packed blocks hold no padding, and eos (== pad) inside them would
        # make transformers warn about a missing attention mask. The tokenizer still carries the pad token.
    )
    return GPT2LMHeadModel(model_config)


def seeded_gpt2(config: ReferenceConfig, tokenizer: Any, seed: int) -> Any:
    """A GPT-2 of `config`'s shape over `tokenizer`, initialised from `seed` (torch's global generator)."""
    torch.manual_seed(seed)
    return build_gpt2(config, tokenizer)


@dataclass
class LmTrainingLog:
    """What `train_lm` did: the loss of every step (nats/token), target tokens seen, and the loop's seconds."""

    steps: int
    losses: list[float]
    n_train_tokens: int
    seconds: float


def train_lm(
    model: Any,
    stream: np.ndarray,
    config: ReferenceConfig,
    *,
    seed: int,
    steps: int | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    after_step: Callable[[LmTrainingLog], None] | None = None,
) -> LmTrainingLog:
    """Train `model` in place on the token stream `stream` with the reference recipe, and give the log.

    The recipe: AdamW with weight decay on matrices only (nanoGPT's split), linear warmup then cosine decay
    (`learning_rate_at`), gradient clipping, and batches of context-length blocks drawn by a generator seeded with
    `seed`, one shuffled pass over the blocks per epoch. `steps` defaults to `count_steps` over the stream's
    blocks; `progress(step, total_steps, loss)` is called after every optimiser step, and so is `after_step(log)`
    with the log so far (the eval harness's checkpoints: it may evaluate the model, which is back in training mode
    when it returns). `thresher train-ref` and the eval harness's lm target both train through this function.
    """
    device = resolve_device(config.device)
    model.to(device)
    # A corpus shorter than one context still trains, on shorter blocks.
    block_len = min(config.context_length, len(stream) - 1)
    starts = block_starts(len(stream), block_len)
    total_steps = steps if steps is not None else count_steps(len(starts), config)
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
        betas=(config.beta1, config.beta2),
    )
    # bf16 autocast only on cuda; cpu stays fp32 so a seed reproduces the same losses on any cpu.
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    stream_tensor = torch.from_numpy(stream.astype(np.int64))
    offsets = torch.arange(block_len + 1)
    batches = iterate_batches(starts, config.batch_size, np.random.default_rng(seed))
    log = LmTrainingLog(steps=total_steps, losses=[], n_train_tokens=0, seconds=0.0)
    model.train()
    started = time.perf_counter()
    for step in range(total_steps):
        blocks = stream_tensor[torch.from_numpy(next(batches))[:, None] + offsets].to(device)
        inputs, targets = blocks[:, :-1], blocks[:, 1:]
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, total_steps, config)
        with autocast:
            logits = model(input_ids=inputs).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        log.losses.append(loss.item())
        log.n_train_tokens += targets.numel()
        if progress is not None:
            progress(step + 1, total_steps, log.losses[-1])
        if after_step is not None:
            after_step(log)
            model.train()
    log.seconds = time.perf_counter() - started
    return log


def train_into_dir(
    texts: Sequence[str],
    config: ReferenceConfig,
    model_dir: Path,
    progress: Callable[[int, int, float], None] | None,
    extra_metadata: dict,
) -> TrainSummary:
    """Train tokenizer and model on `texts`, save both plus `thresher_reference.json` into the existing empty
    dir `model_dir`, and give the summary. Not atomic: callers stage `model_dir` with `thresher.atomic.staged_dir`."""

    started = time.perf_counter()
    if not any(text.strip() for text in texts):
        raise OptionError("train-ref needs at least one non-empty text")
    device = resolve_device(config.device)

    # Tokenizer and packed stream. The generator streams texts into the trainer without a second copy.
    tokenizer = train_bpe_tokenizer((text for text in texts), config.vocab_size, config.min_frequency)
    tokenizer.model_max_length = config.context_length
    stream = pack_documents(texts, tokenizer)
    model = seeded_gpt2(config, tokenizer, config.seed)
    n_params = sum(p.numel() for p in model.parameters())
    log = train_lm(model, stream, config, seed=config.seed, progress=progress)

    model.eval()
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    summary = TrainSummary(
        n_params=n_params,
        n_train_tokens=log.n_train_tokens,
        steps=log.steps,
        final_train_loss=float(np.mean(log.losses[-20:])),
        seconds=time.perf_counter() - started,
        tokens_per_second=log.n_train_tokens / max(log.seconds, 1e-9),
        initial_train_loss=log.losses[0],
        n_data_tokens=int(len(stream)),
        n_texts=len(texts),
        vocab_size=len(tokenizer),
        device=str(device),
    )
    metadata = {
        "format": METADATA_FORMAT,
        "method": "Kim & Baek 2024 reference model: a small LM trained on the data it scores",
        "document_prefix": tokenizer.eos_token,  # each document was trained as eos + tokens
        "config": asdict(config),
        "summary": asdict(summary),
        "thresher_version": _thresher_version(),
        "torch_version": torch.__version__,
        **extra_metadata,
    }
    (model_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return summary


def train_reference_model(
    texts: Sequence[str],
    config: ReferenceConfig,
    out_dir: str | Path,
    progress: Callable[[int, int, float], None] | None = None,
    *,
    overwrite: bool = False,
    data_fingerprint: str | None = None,
) -> TrainSummary:
    """Train a tokenizer and a GPT-2-style LM on `texts` and save them as a Hugging Face model dir at `out_dir`.

    Parameters
    ----------
    texts:
        The documents; read twice (tokenizer training, then packing).
    config:
        Model shape, optimiser and budget.
    out_dir:
        Destination. Written atomically: everything goes to a temporary sibling that is renamed at the end,
        so an interrupted run leaves no half-written model. An existing non-empty dir raises `OptionError`
        unless `overwrite`.
    progress:
        Called after every optimiser step as `progress(step, total_steps, loss)`.
    data_fingerprint:
        The caller's fingerprint of the input, stored in `thresher_reference.json`.

    Returns
    -------
    The `TrainSummary`, also stored in `out_dir/thresher_reference.json`.
    """
    config.validate()
    with staged_dir(out_dir, overwrite=overwrite) as staging_dir:
        return train_into_dir(texts, config, staging_dir, progress, {"data_fingerprint": data_fingerprint})


def load_reference_summary(model_dir: str | Path) -> TrainSummary:
    """Give the `TrainSummary` stored in a reference model dir written by `train_reference_model`."""
    path = Path(model_dir) / METADATA_FILE
    try:
        metadata = json.loads(path.read_text())
        known = {field.name for field in fields(TrainSummary)}
        return TrainSummary(**{key: value for key, value in metadata["summary"].items() if key in known})
    except FileNotFoundError:
        raise ModelError(f"{path}: not found; is {model_dir} a dir written by `thresher train-ref`?") from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ModelError(f"{path}: field 'summary' is missing or malformed ({error})") from None


def _thresher_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("thresher")
    except PackageNotFoundError:
        return None
