"""The `classify` eval target: an MLP head on sentence embeddings, trained on each subset, scored held out.

The whole input is embedded once, through the score directory's cache (shared with `thresher embed` and the
density scorers, which key it to the input's ids), and standardised with the training part's statistics.
Metrics: `accuracy` and `macro_f1` on the held-out part. Class indices follow `thresher.labels.class_order`,
the numbering every labelled component uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from thresher.errors import OptionError
from thresher.eval.order import checkpoint_steps, seeded_order
from thresher.eval.target import DEFAULT_CHECKPOINTS, LABELS, Checkpoint, EvalTarget, Metric, RunOutcome
from thresher.labels import class_index, class_order
from thresher.models.embedder import DEFAULT_EMBEDDER

if TYPE_CHECKING:
    from thresher.eval.data import EvalData


class ClassifyTarget(EvalTarget):
    """An MLP head on sentence embeddings; held-out accuracy and macro-F1.

    Parameters
    ----------
    embedder:
        Sentence-transformers id or directory that embeds the input (once, through the score directory's cache).
    device:
        Where the embedder runs: auto, cpu or cuda.
    epochs:
        Passes over each run's subset.
    batch_size:
        Examples per optimiser step.
    learning_rate:
        AdamW learning rate.
    hidden:
        Width of the head's hidden layer (0: a linear head).
    dropout:
        Dropout after the hidden layer.
    checkpoints:
        Held-out evaluations per run, evenly spaced in steps, the last at the final step (the compute axis).
    """

    name = "classify"
    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("accuracy", True, "share of held-out examples classified right"),
        Metric("macro_f1", True, "F1 averaged over the classes"),
    )
    primary_metric = "accuracy"
    reads = LABELS

    def __init__(
        self,
        *,
        embedder: str = DEFAULT_EMBEDDER,
        device: str = "auto",
        epochs: int = 30,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        hidden: int = 128,
        dropout: float = 0.1,
        checkpoints: int = DEFAULT_CHECKPOINTS,
    ) -> None:
        self.embedder = embedder
        self.device = device
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.hidden = hidden
        self.dropout = dropout
        self.checkpoints = checkpoints

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0 or self.hidden < 0:
            raise OptionError("classify: epochs, batch_size and learning_rate must be positive, hidden not negative")
        if self.checkpoints < 1:
            raise OptionError(f"classify: checkpoints must be at least 1, got {self.checkpoints}")

    def prepare(self, data: EvalData, *, budget: str, cache_dir: Path | None) -> PreparedClassify:
        from thresher.models.proxy import cached_embeddings

        train, held_out = data.train, data.held_out
        assert train.labels is not None and held_out.labels is not None, "the harness reads labels for classify"
        classes = class_order(train.labels)
        if len(classes) < 2:
            raise OptionError("--task classify needs at least two classes in the training part")
        index = class_index(train.labels)
        unseen = sorted({str(label) for label in held_out.labels if label not in index})
        if unseen:
            raise OptionError(f"held-out labels never seen in training: {', '.join(unseen[:5])}")
        examples = data.examples
        features = cached_embeddings(
            [str(value) for value in examples.ids],
            examples.texts,
            self.embedder,
            cache_dir=cache_dir,
            device=self.device,
        )
        if data.eval_rows is not None:
            eval_features = features[data.eval_rows]
        else:  # a separate --eval-file is embedded without a cache: its ids are not the input's
            held_out_ids = [str(value) for value in held_out.ids]
            eval_features = cached_embeddings(
                held_out_ids, held_out.texts, self.embedder, cache_dir=None, device=self.device
            )
        return PreparedClassify(
            features[data.train_rows],
            np.array([index[label] for label in train.labels]),
            eval_features,
            np.array([index[label] for label in held_out.labels]),
            num_classes=len(classes),
            settings=self,
            classes=[str(label) for label in classes],
        )


class PreparedClassify:
    """Standardised embeddings of the training and held-out parts; one fresh head per run."""

    primary_metric = ClassifyTarget.primary_metric

    def __init__(
        self,
        train_features: np.ndarray,
        train_labels: np.ndarray,
        eval_features: np.ndarray,
        eval_labels: np.ndarray,
        num_classes: int,
        settings: ClassifyTarget | None = None,
        classes: list[str] | None = None,
    ) -> None:
        import torch

        # Standardised with the whole training part's statistics (no labels used, the same for every method):
        # unit-length sentence embeddings differ in small offsets that an MLP trained briefly would not pick up.
        train_array = np.asarray(train_features, dtype=np.float32)
        mean, scale = train_array.mean(axis=0), train_array.std(axis=0) + 1e-6
        self.train_features = torch.as_tensor((train_array - mean) / scale)
        self.train_labels = torch.as_tensor(np.asarray(train_labels, dtype=np.int64))
        self.eval_features = torch.as_tensor((np.asarray(eval_features, dtype=np.float32) - mean) / scale)
        self.eval_labels = np.asarray(eval_labels, dtype=np.int64)
        self.num_classes = num_classes
        self.settings = settings or ClassifyTarget()
        self.classes = classes

    def describe(self) -> dict[str, Any]:
        return {"model": "mlp-head-on-embeddings", "num_classes": self.num_classes, "classes": self.classes}

    def evaluate_at_init(self, seed: int) -> dict[str, float]:
        return {}  # an untrained head's level is chance, which the report does not need a run to state

    def new_model(self, seed: int) -> Any:
        """A fresh head, initialised from `seed` alone (the same for every subset a run of that seed trains on)."""
        import torch

        from thresher.models.proxy import HeadProxy

        torch.manual_seed(seed)
        settings = self.settings
        return HeadProxy(
            self.train_features.shape[1], self.num_classes, hidden=settings.hidden, dropout=settings.dropout
        )

    def train_and_evaluate(self, rows: np.ndarray, seed: int) -> RunOutcome:
        """Accuracy and macro-F1 on the eval rows of a head trained on the training rows `rows`, also at
        `checkpoints` points along the way (steps and examples seen), and each class's held-out recall.

        Epoch e visits `rows` in `seeded_order(rows, n_train, seed, e)`, so runs of one seed meet the rows they
        share in the same order; dropout draws from torch's generator, seeded with `seed` before the head is built.
        The head trains on one CPU thread: its matrices are small enough that a second thread only adds OpenMP's
        fork/join, many times slower on a busy machine.
        """
        from thresher.models.surrogate import single_thread

        with single_thread():
            return self._train_and_evaluate(rows, seed)

    def _train_and_evaluate(self, rows: np.ndarray, seed: int) -> RunOutcome:
        import torch
        import torch.nn.functional as F

        settings = self.settings
        rows = np.asarray(rows, dtype=np.int64)
        model = self.new_model(seed)
        optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.0)
        steps_per_epoch = -(-rows.size // settings.batch_size)
        wanted = set(checkpoint_steps(settings.epochs * steps_per_epoch, settings.checkpoints))
        curve: list[Checkpoint] = []
        step = seen = 0
        for epoch in range(settings.epochs):
            order = torch.as_tensor(seeded_order(rows, len(self.train_labels), seed, epoch))
            for start in range(0, order.numel(), settings.batch_size):
                model.train()
                index = order[start : start + settings.batch_size]
                loss = F.cross_entropy(model(self.train_features[index]), self.train_labels[index])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                step, seen = step + 1, seen + index.numel()
                if step in wanted:
                    curve.append(Checkpoint(step, self._evaluate(model)[0], examples=seen))
        predicted = self._evaluate(model)[1]
        recall = {
            name: float((predicted[self.eval_labels == index] == index).mean())
            for index, name in enumerate(self.classes or [str(index) for index in range(self.num_classes)])
            if (self.eval_labels == index).any()
        }
        return RunOutcome(curve[-1].metrics, curve, class_recall=recall)

    def _evaluate(self, model: Any) -> tuple[dict[str, float], np.ndarray]:
        """(accuracy and macro-F1 on the eval rows, the predicted classes)."""
        import torch
        from sklearn.metrics import accuracy_score, f1_score

        model.eval()
        with torch.no_grad():
            predicted = model(self.eval_features).argmax(dim=1).numpy()
        labels_range = list(range(self.num_classes))
        metrics = {
            "accuracy": float(accuracy_score(self.eval_labels, predicted)),
            "macro_f1": float(
                f1_score(self.eval_labels, predicted, labels=labels_range, average="macro", zero_division=0)
            ),
        }
        return metrics, predicted
