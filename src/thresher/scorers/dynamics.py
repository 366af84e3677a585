"""Training-dynamics scorers for labelled data: EL2N, GraNd, forgetting, VoG, AUM, data maps and proxy loss.

Each scorer trains proxy models in `fit()` (see `thresher.models.proxy`), or loads an identical training from the
run's cache directory, so `--scorer el2n,aum,forgetting` trains once. `score_batch` looks the scores up by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from thresher.data.fields import ID_COLUMN, LABEL_COLUMN, TEXT_COLUMN
from thresher.errors import OptionError
from thresher.models import proxy
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.ops import dynamics
from thresher.scorers.base import Direction, ExampleSource, RunContext, ScoreColumn, Scorer


class DynamicsScorer(Scorer):
    """Base of the training-dynamics scorers: train (or load) the proxies in `fit`, then look scores up by id.

    Parameters
    ----------
    proxy:
        `head` (an MLP on sentence embeddings) or `finetune` (a Hugging Face encoder fine-tuned end to end).
    embedder:
        sentence-transformers Hub id or directory for the `head` proxy.
    proxy_model:
        Hugging Face id or directory of an encoder for the `finetune` proxy.
    seeds:
        Independent trainings whose scores are averaged.
    epochs:
        Passes over the data per training.
    score_epoch:
        Epoch at which EL2N, GraNd and loss are read (0 = at initialisation). Part of the shared training
        (GraNd is computed there), so every dynamics scorer takes it.
    seed:
        Base random seed.
    device:
        auto | cpu | cuda.
    """

    needs_labels: ClassVar[bool] = True
    requires_fit: ClassVar[bool] = True

    def __init__(
        self,
        *,
        proxy: str = "head",
        embedder: str = DEFAULT_EMBEDDER,
        proxy_model: str | None = None,
        seeds: int = 3,
        epochs: int = 10,
        score_epoch: int = 2,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        self.proxy = proxy
        self.embedder = embedder
        self.proxy_model = proxy_model
        self.seeds = seeds
        self.epochs = epochs
        self.score_epoch = score_epoch
        self.seed = seed
        self.device = device

    _cache_dir = None
    _training: proxy.ProxyTraining | None = None
    _scores: dict[str, np.ndarray] | None = None
    _row_of: dict[Any, int] | None = None

    def config(self) -> proxy.ProxyConfig:
        """The proxy training this scorer asks for."""
        return proxy.ProxyConfig(
            backend=self.proxy,
            embedder=self.embedder,
            proxy_model=self.proxy_model,
            seeds=self.seeds,
            epochs=self.epochs,
            score_epoch=self.score_epoch,
            seed=self.seed,
        )

    def setup(self, context: RunContext) -> None:
        self._cache_dir = context.cache_dir

    def fit(self, examples: ExampleSource) -> None:
        ids, texts, labels = _collect(examples())
        report = self.progress_reporter("proxy training", unit="epoch")

        def progress(done: int, total: int) -> None:
            running_seed = min(done // self.epochs + 1, self.seeds)
            report(done, total, f"seed {running_seed}/{self.seeds}")

        self._training = proxy.load_or_train(
            ids, texts, labels, self.config(), cache_dir=self._cache_dir, device=self.device, progress=progress
        )
        self._row_of = {example_id: row for row, example_id in enumerate(ids)}
        self._scores = self.compute(self._training.record)

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        """One array of shape (n,) per declared column, from the training record."""
        raise NotImplementedError

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        if self._scores is None or self._row_of is None:
            raise RuntimeError(f"scorer {self.name}: call fit() before score_batch()")
        try:
            rows = np.array([self._row_of[value] for value in batch.column(ID_COLUMN).to_pylist()], dtype=np.int64)
        except KeyError as error:
            raise OptionError(f"scorer {self.name}: id {error.args[0]!r} was not in the examples it fit on") from None
        return {name: values[rows] for name, values in self._scores.items()}

    def provenance(self) -> dict[str, Any]:
        if self._training is None:
            return {}
        record = self._training.record
        return {
            "proxy": self.proxy,
            "proxy_source": self.embedder if self.proxy == "head" else self.proxy_model,
            "training_key": self._training.key,
            "training_reused": self._training.from_cache,
            "classes": len(record.classes),
            "final_train_accuracy": float(record.correct[:, -1].mean()),
        }

    def teardown(self) -> None:
        self._training = None
        self._scores = None
        self._row_of = None


class _AtEpochScorer(DynamicsScorer):
    """A dynamics score read at one epoch (`score_epoch`; 0 = at initialisation), averaged over seeds."""

    def at_epoch(self, values: np.ndarray) -> np.ndarray:
        """Seed-averaged values at `score_epoch` from an array shaped (seed, evaluation point, example)."""
        return values[:, self.score_epoch].astype(np.float64).mean(axis=0)


class EL2NScorer(_AtEpochScorer):
    """EL2N (Paul et al. 2021): the proxy's error ||softmax − onehot(label)||₂ at `score_epoch`, mean over seeds."""

    name = "el2n"
    columns = (
        ScoreColumn(
            "el2n",
            Direction.HIGHER,
            "||softmax − onehot(label)||₂ of the proxy at --score-epoch, mean over seeds; high = hard",
        ),
    )

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        return {"el2n": self.at_epoch(record.el2n)}


class GraNdScorer(_AtEpochScorer):
    """GraNd (Paul et al. 2021): the norm of the loss gradient over the proxy's parameters at `score_epoch`."""

    name = "grand"
    columns = (
        ScoreColumn(
            "grand",
            Direction.HIGHER,
            "||∇_θ loss||₂ over the proxy's parameters at --score-epoch (0 = init), mean over seeds; high = hard",
        ),
    )

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        # The record keeps GraNd at init (point 0) and at score_epoch (point 1).
        return {"grand": record.grand[:, 1].astype(np.float64).mean(axis=0)}


class LossScorer(_AtEpochScorer):
    """The proxy's cross-entropy on the example's label at `score_epoch`, mean over seeds."""

    name = "loss"
    columns = (
        ScoreColumn(
            "loss", Direction.HIGHER, "cross-entropy of the label under the proxy at --score-epoch, mean over seeds"
        ),
    )

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        return {"loss": self.at_epoch(record.loss)}


class ForgettingScorer(DynamicsScorer):
    """Forgetting events (Toneva et al. 2019): how often the proxy unlearns an example it had learned."""

    name = "forgetting"
    columns = (
        ScoreColumn(
            "forgetting",
            Direction.HIGHER,
            "learned→forgotten transitions during training, mean over seeds; never learned = number of checks",
        ),
    )

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        events = [dynamics.forgetting_events(history) for history in record.correct_fine]
        return {"forgetting": np.mean(events, axis=0)}


class VoGScorer(DynamicsScorer):
    """Variance of gradients (Agarwal et al. 2022): how much the gold logit's input gradient varies over epochs."""

    name = "vog"
    columns = (
        ScoreColumn(
            "vog",
            Direction.HIGHER,
            "variance over epoch checkpoints of ∂(gold logit)/∂(input representation), class-normalised",
        ),
    )

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        return {"vog": dynamics.normalise_within_class(record.vog_raw.mean(axis=0), record.labels)}


class AUMScorer(DynamicsScorer):
    """Area under the margin (Pleiss et al. 2020): mean gold-logit margin over epochs (low = likely mislabelled)."""

    name = "aum"
    columns = (
        ScoreColumn(
            "aum",
            Direction.LOWER,
            "area under the margin (gold logit − largest other) over epochs; low = likely mislabelled",
        ),
    )

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        return {"aum": np.mean([dynamics.aum(margins[1:]) for margins in record.margin], axis=0)}


class DataMapScorer(DynamicsScorer):
    """Data maps (Swayamdipta et al. 2020): confidence, variability and correctness of the proxy over epochs."""

    name = "datamap"
    columns = (
        ScoreColumn("confidence", Direction.LOWER, "mean gold-class probability over epochs; low = hard"),
        ScoreColumn(
            "variability", Direction.HIGHER, "std over epochs of the gold-class probability; high = ambiguous"
        ),
        ScoreColumn("correctness", Direction.LOWER, "fraction of epochs classified correctly; low = hard"),
    )

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        maps = [
            dynamics.data_map(true_probs[1:], correct[1:])
            for true_probs, correct in zip(record.true_prob, record.correct, strict=True)
        ]
        return {name: np.mean([stats[name] for stats in maps], axis=0) for name in maps[0]}


def _collect(batches: Iterable[pa.RecordBatch]) -> tuple[list[Any], list[str], list[Any]]:
    ids: list[Any] = []
    texts: list[str] = []
    labels: list[Any] = []
    for batch in batches:
        if LABEL_COLUMN not in batch.schema.names:
            raise OptionError("training-dynamics scorers need labels; give --label-field")
        ids.extend(batch.column(ID_COLUMN).to_pylist())
        texts.extend(batch.column(TEXT_COLUMN).to_pylist())
        labels.extend(batch.column(LABEL_COLUMN).to_pylist())
    return ids, texts, labels
