"""Proxy-model training for training-dynamics scores: a plain torch loop that records every example's fate.

Two backends share one loop:

- `head`: embed each text once with a sentence-transformers model and train a small MLP on the cached
  embeddings (fast on CPU);
- `finetune`: fine-tune a Hugging Face `AutoModelForSequenceClassification` end to end (meant for GPUs, runs
  on CPU).

`train_proxy` runs `seeds` independent trainings of `epochs` epochs and returns a `TrainingRecord`: per seed,
evaluation point and example the loss, gold-class probability, margin, correctness and EL2N, GraNd at init and at
`score_epoch`, a finer correctness history for forgetting, and the raw VoG. `load_or_train` caches the record
under a run's cache directory, keyed by a hash of the parameters and the input, so several scorers share one
training; the head's embeddings go to the score directory's shared embedding cache (`thresher.embeddings`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from thresher.atomic import staged_file
from thresher.cache import cache_key
from thresher.errors import ModelError, OptionError
from thresher.labels import class_index, class_order
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.ops import dynamics

BACKENDS = ("head", "finetune")
CACHE_SUBDIR = "dynamics"
_RECORD_VERSION = 1


@dataclass(frozen=True)
class ProxyConfig:
    """How to train the proxy; every field enters the cache key."""

    backend: str = "head"
    embedder: str = DEFAULT_EMBEDDER  # head backend
    proxy_model: str | None = None  # finetune backend: Hub id or local dir
    seeds: int = 3
    epochs: int = 10
    score_epoch: int = 2  # where GraNd is computed (besides init); EL2N and loss are kept at every epoch
    seed: int = 0
    batch_size: int | None = None  # default: 128 (head), 16 (finetune)
    learning_rate: float | None = None  # default: 1e-3 (head), 5e-5 (finetune)
    hidden: int = 128  # head: width of the hidden layer; 0 = a linear head
    dropout: float = 0.1
    checks_per_epoch: int = 4  # correctness checks per epoch for forgetting
    max_length: int = 128  # finetune: tokens per text
    grad_chunk: int = 256  # examples per vmap call for GraNd

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise OptionError(f"unknown --proxy {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.backend == "finetune" and not self.proxy_model:
            raise OptionError("--proxy finetune needs --proxy-model ID_OR_PATH")
        if self.seeds < 1 or self.epochs < 1:
            raise OptionError(f"--seeds and --epochs must be at least 1 (got {self.seeds}, {self.epochs})")
        if not 0 <= self.score_epoch <= self.epochs:
            raise OptionError(f"--score-epoch must be between 0 and --epochs {self.epochs} (got {self.score_epoch})")

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size or (128 if self.backend == "head" else 16)

    @property
    def effective_learning_rate(self) -> float:
        return self.learning_rate or (1e-3 if self.backend == "head" else 5e-5)


@dataclass
class TrainingRecord:
    """What the proxy trainings saw. Arrays are indexed (seed, evaluation point, example).

    Evaluation point 0 is the model at initialisation and point e the model after epoch e, so arrays of
    per-epoch records have `epochs + 1` points. `correct_fine` holds `epochs * checks_per_epoch` correctness
    checks during training (the last of each epoch is the epoch end), for forgetting.
    """

    labels: np.ndarray  # (n,) int64 class index
    classes: list[Any]
    loss: np.ndarray  # (S, E+1, n) cross-entropy
    true_prob: np.ndarray  # (S, E+1, n) probability of the gold class
    margin: np.ndarray  # (S, E+1, n) gold logit − largest other logit
    correct: np.ndarray  # (S, E+1, n) bool
    el2n: np.ndarray  # (S, E+1, n) ||softmax − onehot||₂
    grand: np.ndarray  # (S, 2, n) ||∇_θ loss||₂ over the proxy's parameters, at init and at score_epoch
    correct_fine: np.ndarray  # (S, E·checks, n) bool
    vog_raw: np.ndarray  # (S, n) unnormalised VoG over the epoch-end checkpoints 1..E

    _ARRAYS = ("labels", "loss", "true_prob", "margin", "correct", "el2n", "grand", "correct_fine", "vog_raw")

    @property
    def num_epochs(self) -> int:
        return self.loss.shape[1] - 1

    def save(self, path: Path) -> None:
        """Write the record as one .npz file, atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        with staged_file(path, suffix=".npz") as staging:
            np.savez(staging, classes=np.array(json.dumps(self.classes)), version=np.array(_RECORD_VERSION), **arrays)

    @classmethod
    def load(cls, path: Path) -> TrainingRecord:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in cls._ARRAYS}
            classes = json.loads(str(stored["classes"]))
        return cls(classes=classes, **arrays)


# ----------------------------------------------------------------------------------------------------------------
# Per-example gradients


def per_example_grad_norms(
    model: nn.Module, inputs: Sequence[torch.Tensor], labels: torch.Tensor, *, chunk: int = 256
) -> torch.Tensor:
    """||∇_θ CE(model(x_i), y_i)||₂ for every example, vectorised with `torch.func` (vmap of grad).

    `model(*inputs)` must return logits; `inputs` are batched along dim 0. The model is used as it is (call
    `.eval()` first for a dropout-free gradient).
    """
    from torch.func import functional_call, grad, vmap

    params = {name: value.detach() for name, value in model.named_parameters() if value.requires_grad}
    buffers = {name: value.detach() for name, value in model.named_buffers()}

    def example_loss(params: dict[str, torch.Tensor], *example: torch.Tensor) -> torch.Tensor:
        *features, label = example
        logits = functional_call(model, (params, buffers), tuple(f.unsqueeze(0) for f in features))
        return F.cross_entropy(logits, label.unsqueeze(0))

    per_example_grads = vmap(grad(example_loss), in_dims=(None, *([0] * (len(inputs) + 1))))
    norms = []
    for start in range(0, labels.shape[0], chunk):
        stop = start + chunk
        grads = per_example_grads(params, *(x[start:stop] for x in inputs), labels[start:stop])
        squared = sum(g.reshape(g.shape[0], -1).pow(2).sum(dim=1) for g in grads.values())
        norms.append(torch.sqrt(squared))
    return torch.cat(norms) if norms else torch.zeros(0)


def per_example_grad_norms_loop(
    model: nn.Module, inputs: Sequence[torch.Tensor], labels: torch.Tensor
) -> torch.Tensor:
    """The same norms as `per_example_grad_norms`, one backward pass per example (the reference)."""
    params = [value for value in model.parameters() if value.requires_grad]
    norms = []
    for i in range(labels.shape[0]):
        loss = F.cross_entropy(model(*(x[i : i + 1] for x in inputs)), labels[i : i + 1])
        grads = torch.autograd.grad(loss, params)
        norms.append(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
    return torch.stack(norms) if norms else torch.zeros(0)


# ----------------------------------------------------------------------------------------------------------------
# Backends: what the shared loop needs from a proxy


class HeadProxy(nn.Module):
    """An MLP (or linear, `hidden=0`) classifier over fixed text embeddings."""

    def __init__(self, dimension: int, num_classes: int, *, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        if hidden > 0:
            self.layers = nn.Sequential(
                nn.Linear(dimension, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
            )
        else:
            self.layers = nn.Sequential(nn.Linear(dimension, num_classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


def train_head_epoch(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    features: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> None:
    """One epoch of minibatch cross-entropy over `features`, in an order drawn from `generator`."""
    n = labels.shape[0]
    order = torch.randperm(n, generator=generator)
    model.train()
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        loss = F.cross_entropy(model(features[index]), labels[index])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()


class _HeadBackend:
    def __init__(self, features: np.ndarray, num_classes: int, config: ProxyConfig, device: torch.device) -> None:
        self.features = torch.as_tensor(features, dtype=torch.float32, device=device)
        self.num_classes, self.config, self.device = num_classes, config, device

    def new_model(self) -> nn.Module:
        model = HeadProxy(self.features.shape[1], self.num_classes, hidden=self.config.hidden)
        return model.to(self.device)

    def inputs(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (self.features[index],)

    def representation_grads(self, model: nn.Module, index: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """∂(gold logit)/∂(embedding) per example, shape (b, dimension)."""
        features = self.features[index].clone().requires_grad_(True)
        gold = model(features).gather(1, labels.unsqueeze(1)).sum()
        # Examples do not interact in eval mode, so the gradient of the sum is each example's own gradient.
        (grads,) = torch.autograd.grad(gold, features)
        return grads


class _SequenceClassifier(nn.Module):
    """A Hugging Face sequence classifier that returns bare logits, as `per_example_grad_norms` expects."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # A ready 4-D additive mask: transformers' own 2-D mask handling branches on its values, which vmap forbids.
        dtype = next(self.model.parameters()).dtype
        additive = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        return self.model(input_ids=input_ids, attention_mask=additive).logits


_HEAD_NAMES = ("classifier", "score", "classification_head")


@dataclass
class Tokenized:
    """Texts tokenized for the finetune proxy: (n, max_length) token ids and attention mask, padded on the right."""

    input_ids: np.ndarray
    attention_mask: np.ndarray


def load_proxy_tokenizer(config: ProxyConfig) -> Any:
    """The finetune proxy's tokenizer (with a pad token)."""
    from transformers import AutoTokenizer

    assert config.proxy_model is not None
    try:
        tokenizer = AutoTokenizer.from_pretrained(config.proxy_model)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot load --proxy-model {config.proxy_model!r}: {error}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def tokenize_for_proxy(tokenizer: Any, texts: list[str], config: ProxyConfig) -> Tokenized:
    """Token ids and mask of texts for the finetune proxy, padded to `max_length` (so shards line up).

    Batches are cut back to their longest example before the model sees them, so padding every shard to
    `max_length` changes nothing in the training.
    """
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=config.max_length)
    return Tokenized(
        np.asarray(encoded["input_ids"], dtype=np.int64), np.asarray(encoded["attention_mask"], dtype=np.int64)
    )


class _FinetuneBackend:
    def __init__(
        self, texts: list[str] | Tokenized, num_classes: int, config: ProxyConfig, device: torch.device
    ) -> None:
        self.tokenizer = load_proxy_tokenizer(config)
        tokens = texts if isinstance(texts, Tokenized) else tokenize_for_proxy(self.tokenizer, list(texts), config)
        self.input_ids = torch.as_tensor(np.asarray(tokens.input_ids), device=device)
        self.attention_mask = torch.as_tensor(np.asarray(tokens.attention_mask), device=device)
        self.num_classes, self.config, self.device = num_classes, config, device

    def new_model(self) -> nn.Module:
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            self.config.proxy_model,
            num_labels=self.num_classes,
            ignore_mismatched_sizes=True,
            attn_implementation="eager",  # vmap (GraNd) needs plain attention
        )
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.tokenizer.pad_token_id
        return _SequenceClassifier(model).to(self.device)

    def inputs(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mask = self.attention_mask[index]
        length = max(int(mask.sum(dim=1).max()), 1) if mask.numel() else 1
        return self.input_ids[index, :length], mask[:, :length]

    def representation_grads(self, model: nn.Module, index: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """∂(gold logit)/∂(input of the classification head) per example, shape (b, hidden)."""
        head = next((getattr(model.model, name) for name in _HEAD_NAMES if hasattr(model.model, name)), None)
        if head is None:
            raise ModelError(f"VoG: {self.config.proxy_model} has no classification head named {_HEAD_NAMES}")
        captured: list[torch.Tensor] = []
        hook = head.register_forward_pre_hook(lambda _module, args: captured.append(args[0]))
        try:
            gold = model(*self.inputs(index)).gather(1, labels.unsqueeze(1)).sum()
        finally:
            hook.remove()
        (grads,) = torch.autograd.grad(gold, captured[0])
        # Heads that read a sequence (RoBERTa) look only at its first position.
        return grads[:, 0] if grads.ndim == 3 else grads


# ----------------------------------------------------------------------------------------------------------------
# The training loop


def train_proxy(
    features_or_texts: np.ndarray | list[str] | Tokenized,
    labels: np.ndarray,
    config: ProxyConfig,
    *,
    device: str = "auto",
    on_epoch: Callable[[int, int], None] | None = None,
) -> TrainingRecord:
    """Train `config.seeds` proxies and record every example at every epoch end (and finer, for forgetting).

    Args:
        features_or_texts: embeddings (n, dimension) for the `head` backend, texts (or `Tokenized` texts) for
            `finetune`.
        labels: integer class indices, shape (n,).
        on_epoch: called with (seed index, epoch) after each epoch, for progress.
    """
    from thresher.models.device import resolve_device

    torch_device = resolve_device(device)
    label_array = np.asarray(labels, dtype=np.int64)
    num_classes = int(label_array.max()) + 1 if label_array.size else 1
    backend: _HeadBackend | _FinetuneBackend
    if config.backend == "head":
        backend = _HeadBackend(np.asarray(features_or_texts), num_classes, config, torch_device)
    else:
        texts = features_or_texts if isinstance(features_or_texts, Tokenized) else list(features_or_texts)
        backend = _FinetuneBackend(texts, num_classes, config, torch_device)
    gold = torch.as_tensor(label_array, device=torch_device)
    runs = [_train_one_seed(backend, gold, config, index, on_epoch) for index in range(config.seeds)]
    stacked = {name: np.stack([run[name] for run in runs]) for name in runs[0]}
    return TrainingRecord(labels=label_array, classes=list(range(num_classes)), **stacked)


def _train_one_seed(
    backend: _HeadBackend | _FinetuneBackend,
    labels: torch.Tensor,
    config: ProxyConfig,
    seed_index: int,
    on_epoch: Callable[[int, int], None] | None,
) -> dict[str, np.ndarray]:
    run_seed = config.seed * 1000 + seed_index
    torch.manual_seed(run_seed)
    model = backend.new_model()
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.effective_learning_rate, weight_decay=0.0)
    order_generator = torch.Generator().manual_seed(run_seed)
    n, batch_size = labels.shape[0], config.effective_batch_size
    steps_per_epoch = max(1, math.ceil(n / batch_size))
    checks = max(1, min(config.checks_per_epoch, steps_per_epoch))
    check_steps = {round(steps_per_epoch * (j + 1) / checks) - 1 for j in range(checks)}

    records = [_evaluate(backend, model, labels, config, with_vog=False, with_grand=True)]
    fine_correct: list[np.ndarray] = []
    vog_sum = vog_sum_squares = None
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(n, generator=order_generator).to(labels.device)
        for step in range(steps_per_epoch):
            index = order[step * batch_size : (step + 1) * batch_size]
            model.train()
            loss = F.cross_entropy(model(*backend.inputs(index)), labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if step in check_steps and step != steps_per_epoch - 1:
                fine_correct.append(_correctness(backend, model, labels, config))
        record = _evaluate(backend, model, labels, config, with_vog=True, with_grand=epoch == config.score_epoch)
        grads = record.pop("representation_grads").astype(np.float64)
        if vog_sum is None:
            vog_sum, vog_sum_squares = np.zeros_like(grads), np.zeros_like(grads)
        vog_sum += grads
        vog_sum_squares += grads * grads
        records.append(record)
        fine_correct.append(record["correct"])
        if on_epoch is not None:
            on_epoch(seed_index, epoch)
    assert vog_sum is not None and vog_sum_squares is not None
    mean = vog_sum / config.epochs
    vog_raw = np.maximum(vog_sum_squares / config.epochs - mean * mean, 0.0).mean(axis=1)
    grand = [r.pop("grand") for r in records if "grand" in r]
    result = {name: np.stack([r[name] for r in records]) for name in records[0]}
    # Per-example gradients cost several epochs of training, so GraNd is kept at init and at score_epoch only.
    result["grand"] = np.stack([grand[0], grand[-1]])
    result["correct_fine"] = np.stack(fine_correct)
    result["vog_raw"] = vog_raw
    return result


def _eval_chunks(n: int, config: ProxyConfig, device: torch.device) -> list[torch.Tensor]:
    size = 4096 if config.backend == "head" else 2 * config.effective_batch_size
    return [torch.arange(start, min(start + size, n), device=device) for start in range(0, n, size)]


def _correctness(
    backend: _HeadBackend | _FinetuneBackend, model: nn.Module, labels: torch.Tensor, config: ProxyConfig
) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        correct = [
            (model(*backend.inputs(index)).argmax(dim=1) == labels[index]).cpu()
            for index in _eval_chunks(labels.shape[0], config, labels.device)
        ]
    return torch.cat(correct).numpy()


def _evaluate(
    backend: _HeadBackend | _FinetuneBackend,
    model: nn.Module,
    labels: torch.Tensor,
    config: ProxyConfig,
    *,
    with_vog: bool,
    with_grand: bool,
) -> dict[str, np.ndarray]:
    """Loss, probabilities, margins, correctness, EL2N, GraNd (and VoG input gradients) of every example."""
    model.eval()
    logits_parts, grand_parts, vog_parts = [], [], []
    for index in _eval_chunks(labels.shape[0], config, labels.device):
        with torch.no_grad():
            logits_parts.append(model(*backend.inputs(index)).double().cpu())
        if with_grand:
            norms = per_example_grad_norms(model, backend.inputs(index), labels[index], chunk=config.grad_chunk)
            grand_parts.append(norms.cpu())
        if with_vog:
            vog_parts.append(backend.representation_grads(model, index, labels[index]).detach().cpu())
    logits = torch.cat(logits_parts).numpy()
    gold = labels.cpu().numpy()
    probs = dynamics.softmax(logits)
    rows = np.arange(gold.size)
    record = {
        "loss": (-np.log(np.maximum(probs[rows, gold], 1e-300))).astype(np.float32),
        "true_prob": probs[rows, gold].astype(np.float32),
        "margin": dynamics.margins(logits, gold).astype(np.float32),
        "correct": logits.argmax(axis=1) == gold,
        "el2n": dynamics.el2n(probs, gold).astype(np.float32),
    }
    if with_grand:
        record["grand"] = torch.cat(grand_parts).numpy().astype(np.float32)
    if with_vog:
        record["representation_grads"] = torch.cat(vog_parts).numpy()
    return record


# ----------------------------------------------------------------------------------------------------------------
# Caching


def content_digest(ids: Sequence[Any], texts: Sequence[str], labels: Sequence[Any]) -> str:
    """A hash of the examples a proxy is trained on (ids, texts and labels, in order)."""
    digest = hashlib.blake2b(digest_size=16)
    for values in (ids, texts, labels):
        digest.update(json.dumps(list(values), ensure_ascii=False, default=str).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def training_key(config: ProxyConfig, digest: str) -> str:
    """The cache key of a training (`thresher.cache.cache_key`): the proxy parameters, the input's content digest
    and the record's format version."""
    params = asdict(config)
    if config.backend == "head":
        params["embedder"] = embedder_identity(config.embedder)
        params.pop("proxy_model")
    else:
        params.pop("embedder")
    return cache_key(CACHE_SUBDIR, {"format": _RECORD_VERSION, "params": params, "input": digest})


def embedder_identity(spec: str) -> str:
    """How an embedder enters a cache key: a local directory by its absolute path, a Hub id as given."""
    path = Path(spec)
    return str(path.resolve()) if path.exists() else spec


def cached_embeddings(
    ids: Sequence[Any], texts: Sequence[str], embedder: str, *, cache_dir: Path | None, device: str = "auto"
) -> np.ndarray:
    """Embeddings of `texts`, shared through the score directory's embedding cache (`thresher.embeddings`).

    The same cache serves `thresher embed` and the embedding scorers (density, semdedup), so an input embedded
    once with an embedder is never embedded again by the head proxy.
    """
    import pyarrow as pa

    from thresher.embeddings import cached_embeddings as shared_cached_embeddings

    def examples() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"id": [str(value) for value in ids], "text": list(texts)})

    _, vectors = shared_cached_embeddings(cache_dir, embedder, examples, device=device)
    return np.array(vectors, dtype=np.float32)  # a writable copy of the read-only memory map


@dataclass
class ProxyTraining:
    """A training record and how it was obtained."""

    record: TrainingRecord
    key: str
    from_cache: bool


def load_or_train(
    ids: Sequence[Any],
    texts: Sequence[str],
    raw_labels: Sequence[Any],
    config: ProxyConfig,
    *,
    cache_dir: Path | None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> ProxyTraining:
    """The proxy training for these in-memory examples: from `cache_dir` when an identical one was done, else now.

    Keyed by the examples' content digest (`content_digest`); scorers go through `train_cached`, keyed by the
    input's digest, with features gathered shard by shard.
    """
    if not texts:
        raise OptionError("training dynamics need at least one example")
    classes = class_order(raw_labels)
    index = class_index(classes)
    labels = np.array([index[label] for label in raw_labels], dtype=np.int64)
    digest = content_digest(ids, texts, raw_labels)

    def inputs() -> np.ndarray | list[str]:
        if config.backend == "head":
            return cached_embeddings(ids, texts, config.embedder, cache_dir=cache_dir, device=device)
        return list(texts)

    return train_cached(
        inputs, labels, classes, config, cache_dir=cache_dir, input_digest=digest, device=device, progress=progress
    )


def train_cached(
    inputs: Callable[[], np.ndarray | list[str] | Tokenized],
    labels: np.ndarray,
    classes: Sequence[Any],
    config: ProxyConfig,
    *,
    cache_dir: Path | None,
    input_digest: str,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> ProxyTraining:
    """The proxy training of one input: from `cache_dir` when an identical one was done, else trained now.

    Args:
        inputs: gives the training inputs (embeddings for `head`, tokens or texts for `finetune`), called only
            when the training is not cached.
        labels: class indices (n,), in `classes`' order.
        input_digest: what identifies the examples (with `config`, the cache key).
        progress: called with (epochs done over all seeds, seeds × epochs) as the training starts and after every
            epoch; never when the training comes from the cache.
    """
    if len(labels) == 0:
        raise OptionError("training dynamics need at least one example")
    key = training_key(config, input_digest)
    path = cache_dir / CACHE_SUBDIR / f"training-{key}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        return ProxyTraining(TrainingRecord.load(path), key, from_cache=True)
    on_epoch = None
    if progress is not None:
        total_epochs = config.seeds * config.epochs
        progress(0, total_epochs)

        def on_epoch(seed_index: int, epoch: int) -> None:
            progress(seed_index * config.epochs + epoch, total_epochs)

    record = train_proxy(inputs(), np.asarray(labels, dtype=np.int64), config, device=device, on_epoch=on_epoch)
    record.classes = list(classes)
    if path is not None:
        record.save(path)
    return ProxyTraining(record, key, from_cache=False)


def config_from(**options: Any) -> ProxyConfig:
    """A `ProxyConfig` from keyword options, ignoring those that are None (unset) or not config fields."""
    names = {field.name for field in fields(ProxyConfig)}
    return ProxyConfig(**{key: value for key, value in options.items() if key in names and value is not None})
