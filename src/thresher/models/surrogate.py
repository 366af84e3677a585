"""The surrogate model of the influence scorers: the training-dynamics proxy head, trained once, with checkpoints.

DEALRec estimates influence on a small surrogate (SASRec for recommendation); for labelled text thresher uses the
same MLP head on cached sentence embeddings as the training-dynamics proxy (`thresher.models.proxy.HeadProxy`),
trained by a plain AdamW loop. Unlike the dynamics proxy it keeps its weights: the final parameters θ̂ (where the
Hessian is taken) and one checkpoint per epoch with its learning rate (for TracIn). The training is cached under
the score directory's cache, keyed by the options and the input, so `--scorer influence,tracin` trains once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from thresher.atomic import staged_file
from thresher.cache import cache_key
from thresher.errors import OptionError
from thresher.labels import class_index, class_order
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.models.proxy import HeadProxy, cached_embeddings, content_digest, embedder_identity, train_head_epoch

CACHE_SUBDIR = "influence"
_VERSION = 1


@dataclass(frozen=True)
class SurrogateConfig:
    """How the surrogate head is trained; every field enters the cache key."""

    embedder: str = DEFAULT_EMBEDDER
    hidden: int = 128
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise OptionError("surrogate: --epochs, batch size and learning rate must be positive")


@dataclass
class Surrogate:
    """A trained surrogate: final weights, per-epoch checkpoints with their learning rates, and its data."""

    features: torch.Tensor  # (n, dimension) float32
    labels: torch.Tensor  # (n,) int64 class index
    classes: list[Any]
    hidden: int
    state: dict[str, torch.Tensor]
    checkpoints: list[tuple[dict[str, torch.Tensor], float]]
    key: str = ""
    from_cache: bool = False

    def model(self, state: dict[str, torch.Tensor] | None = None) -> HeadProxy:
        """The head with `state` (default: the final weights), in eval mode (no dropout)."""
        head = HeadProxy(self.features.shape[1], len(self.classes), hidden=self.hidden)
        head.load_state_dict(state if state is not None else self.state)
        return head.eval()

    def checkpoint_models(self) -> list[tuple[HeadProxy, float]]:
        return [(self.model(state), learning_rate) for state, learning_rate in self.checkpoints]

    def class_indices(self, raw_labels: Sequence[Any], where: str) -> torch.Tensor:
        """Class indices of `raw_labels` in this surrogate's classes; a label it never saw is an error."""
        index = class_index(self.classes)
        unseen = sorted({str(label) for label in raw_labels if label not in index})
        if unseen:
            raise OptionError(f"{where}: labels not in the training data: {', '.join(unseen[:5])}")
        return torch.tensor([index[label] for label in raw_labels], dtype=torch.long)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the block, then restore the thread count.

    The surrogate is tiny (tens of thousands of parameters): its thousands of small HVPs and steps are dominated
    by OpenMP's fork/join, which on a busy machine makes two threads many times slower than one.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_head(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    config: SurrogateConfig,
    on_epoch: Callable[[int], None] | None = None,
) -> tuple[dict[str, torch.Tensor], list[tuple[dict[str, torch.Tensor], float]]]:
    """Train the head; (final state, [(state after epoch e, learning rate of epoch e)]).

    `on_epoch` is called with the number of epochs done after each one.
    """
    torch.manual_seed(config.seed)
    model = HeadProxy(features.shape[1], num_classes, hidden=config.hidden)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed)
    checkpoints = []
    for epoch in range(1, config.epochs + 1):
        train_head_epoch(model, optimiser, features, labels, config.batch_size, generator)
        checkpoints.append(({k: v.detach().clone() for k, v in model.state_dict().items()}, config.learning_rate))
        if on_epoch is not None:
            on_epoch(epoch)
    return checkpoints[-1][0], checkpoints


def load_or_train(
    ids: Sequence[Any],
    texts: Sequence[str],
    raw_labels: Sequence[Any],
    config: SurrogateConfig,
    *,
    cache_dir: Path | None,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> Surrogate:
    """The surrogate for these in-memory examples: from `cache_dir` when the same one was trained, else now.

    Keyed by the examples' content digest; scorers go through `train_cached`, keyed by the input's digest.
    """
    if not texts:
        raise OptionError("the influence scorers need at least one example")
    classes = class_order(raw_labels)
    features = cached_embeddings(ids, texts, config.embedder, cache_dir=cache_dir, device=device)
    index = class_index(classes)
    labels = np.array([index[label] for label in raw_labels], dtype=np.int64)
    digest = content_digest(ids, texts, raw_labels)
    return train_cached(features, labels, classes, config, cache_dir=cache_dir, input_digest=digest, progress=progress)


def train_cached(
    features: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[Any],
    config: SurrogateConfig,
    *,
    cache_dir: Path | None,
    input_digest: str,
    progress: Callable[[int, int], None] | None = None,
) -> Surrogate:
    """The surrogate of one input: from `cache_dir` when the same one was trained, else trained now.

    `features` (n, dimension) are the examples' embeddings, `labels` their class indices in `classes`' order;
    with `config`, `input_digest` keys the cache. `progress` is called with (epochs done, epochs) as the training
    starts and after every epoch; never when the surrogate comes from the cache.
    """
    if len(labels) == 0:
        raise OptionError("the influence scorers need at least one example")
    if len(classes) < 2:
        raise OptionError("the influence scorers need at least two classes in --label-field")
    features_tensor = torch.as_tensor(np.asarray(features, dtype=np.float32))
    labels_tensor = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    classes = list(classes)
    key = surrogate_key(config, input_digest)
    path = cache_dir / CACHE_SUBDIR / f"surrogate-{key}.pt" if cache_dir is not None else None
    if path is not None and path.is_file():
        stored = torch.load(path, weights_only=True)
        checkpoints = list(zip(stored["checkpoints"], stored["learning_rates"], strict=True))
        return Surrogate(
            features_tensor, labels_tensor, classes, config.hidden, stored["state"], checkpoints, key, True
        )
    on_epoch = None
    if progress is not None:
        progress(0, config.epochs)

        def on_epoch(epoch: int) -> None:
            progress(epoch, config.epochs)

    with single_thread():
        state, checkpoints = train_head(features_tensor, labels_tensor, len(classes), config, on_epoch)
    if path is not None:
        _save(path, state, checkpoints)
    return Surrogate(features_tensor, labels_tensor, classes, config.hidden, state, checkpoints, key, False)


def surrogate_key(config: SurrogateConfig, digest: str) -> str:
    """The cache key of a surrogate training (`thresher.cache.cache_key`): its options, the input's content digest
    and the stored format's version."""
    params = {**asdict(config), "embedder": embedder_identity(config.embedder)}
    return cache_key(CACHE_SUBDIR, {"format": _VERSION, "params": params, "input": digest})


def _save(
    path: Path, state: dict[str, torch.Tensor], checkpoints: list[tuple[dict[str, torch.Tensor], float]]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "state": state,
        "checkpoints": [checkpoint for checkpoint, _ in checkpoints],
        "learning_rates": [rate for _, rate in checkpoints],
    }
    with staged_file(path, suffix=".pt") as staging:
        torch.save(payload, staging)


def validation_set(
    path: str, surrogate: Surrogate, config: SurrogateConfig, *, text_field: str, label_field: str, device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class indices) of a labelled validation file, embedded like the training data."""
    from thresher.data.fields import ID_COLUMN, LABEL_COLUMN, TEXT_COLUMN, Fields
    from thresher.data.readers import open_dataset

    dataset = open_dataset(path, Fields(text=text_field, label=label_field))
    ids: list[Any] = []
    texts: list[str] = []
    labels: list[Any] = []
    for batch in dataset.iter_examples():
        ids.extend(batch.column(ID_COLUMN).to_pylist())
        texts.extend(batch.column(TEXT_COLUMN).to_pylist())
        labels.extend(batch.column(LABEL_COLUMN).to_pylist())
    if not texts:
        raise OptionError(f"--validation {path}: no examples")
    features = np.asarray(cached_embeddings(ids, texts, config.embedder, cache_dir=None, device=device))
    return torch.as_tensor(features), surrogate.class_indices(labels, f"--validation {path}")
