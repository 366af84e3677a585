"""Training-dynamics scorers for labelled data: EL2N, GraNd, forgetting, VoG, AUM, data maps and proxy loss.

Set-level scorers (`thresher.scorers.base`) in one round: the workers embed each shard into the shared embedding
cache (or tokenize it, for a fine-tuned proxy) and save its labels (`thresher.scorers.labelled`); the driver trains
the proxies (see `thresher.models.proxy`) from the whole input's features, or loads an identical training from the
score directory's cache, so `--scorer el2n,aum,forgetting` trains once (they share one fitting pass as well), and
writes each scorer's columns in input order; the workers then score each shard by row position.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from thresher.models import proxy
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.ops import dynamics
from thresher.scorers import labelled, state
from thresher.scorers.base import Direction, RunContext, ScoreColumn, Scorer


class DynamicsScorer(Scorer):
    """Base of the training-dynamics scorers: the proxies trained (or loaded) in `finalize`, scores by position.

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
    fit_rounds: ClassVar[int] = 1
    # 2: the proxy trains on embeddings computed shard by shard (float-level differences), keyed by the input digest.
    version: ClassVar[int] = 2

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

    _context: RunContext | None = None
    _tokenizer: Any = None
    _columns: dict[str, np.ndarray] | None = None

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

    def fit_key(self) -> dict[str, Any]:
        """The proxy training (not the scorer): every dynamics scorer of a run shares one fitting pass."""
        return {"family": "dynamics", "training": proxy.training_key(self.config(), "")}

    def setup(self, context: RunContext) -> None:
        self.config()  # checks the options
        self._context = context

    def update(self, batch: pa.RecordBatch, round: int) -> frozenset[Any]:
        """Embed (head) or tokenize (finetune) the shard, and save its labels."""
        labels = labelled.update_labels(self._context, batch, self.name)
        if self.proxy == "head":
            labelled.shard_features(self._context, batch, self.embedder, self.device, self.name)
        else:
            if self._tokenizer is None:
                self._tokenizer = proxy.load_proxy_tokenizer(self.config())
            tokens = proxy.tokenize_for_proxy(self._tokenizer, labelled.texts_of(batch), self.config())
            directory = state.state_dir(self._context, self.name)
            state.save_shard_array(directory, "input_ids", batch, tokens.input_ids)
            state.save_shard_array(directory, "attention_mask", batch, tokens.attention_mask)
        return labels

    def merge(self, partial: frozenset[Any], other: frozenset[Any]) -> frozenset[Any]:
        return labelled.merge_labels(partial, other)

    def finalize(self, merged: frozenset[Any], round: int, context: RunContext) -> dict[str, Any]:
        """Train (or load) the proxies on the whole input and write this scorer's columns."""
        labels, classes = labelled.class_labels(context, merged, self.name)
        config = self.config()
        report = self.progress_reporter("proxy training", unit="epoch")

        def progress(done: int, total: int) -> None:
            running_seed = min(done // self.epochs + 1, self.seeds)
            report(done, total, f"seed {running_seed}/{self.seeds}")

        def inputs() -> np.ndarray | proxy.Tokenized:
            if self.proxy == "head":
                return labelled.all_features(context, self.embedder, self.device, self.name)
            rows, shard_rows = state.input_rows(context, self.name)
            directory = state.state_dir(context, self.name)
            return proxy.Tokenized(
                state.gather_shard_arrays(directory, "input_ids", rows, shard_rows),
                state.gather_shard_arrays(directory, "attention_mask", rows, shard_rows),
            )

        assert context.input_digest is not None
        training = proxy.train_cached(
            inputs,
            labels,
            classes,
            config,
            cache_dir=context.cache_dir,
            input_digest=context.input_digest,
            device=self.device,
            progress=progress,
        )
        labelled.save_columns(context, self.name, self.compute(training.record))
        record = training.record
        return {
            "proxy": self.proxy,
            "proxy_source": self.embedder if self.proxy == "head" else self.proxy_model,
            "training_key": training.key,
            "training_reused": training.from_cache,
            "classes": len(record.classes),
            "final_train_accuracy": float(record.correct[:, -1].mean()),
        }

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        """One array of shape (n,) per declared column, from the training record."""
        raise NotImplementedError

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        if self._columns is None:
            self._columns = labelled.load_columns(self._context, self.name, [c.name for c in self.columns])
        rows = state.rows_of(batch)
        return {name: np.asarray(values[rows]) for name, values in self._columns.items()}

    def teardown(self) -> None:
        self._columns = None
        self._tokenizer = None


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
