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

from thresher.errors import OptionError
from thresher.models import proxy
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.ops import dynamics
from thresher.scorers import labelled, state
from thresher.scorers.base import ColumnKind, Direction, RunContext, ScoreColumn, Scorer

# Where EL2N, GraNd and loss are read by default, as a fraction of the run (see `score_fraction`): the end of the
# run detected flipped labels best on benchmarks/noise_vs_cleanlab.py (the 10-epoch head proxy is still learning
# then; with 30 epochs 0.8-1.0 tie), and Data Diet's early 0.1 worst after initialisation.
SCORE_FRACTION = 1.0


class DynamicsScorer(labelled.LabelledPass, Scorer):
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
    score_fraction:
        Point of the run (fraction of `epochs`, rounded to an epoch end) where EL2N, GraNd and loss are read; 0 =
        at initialisation. The default is the best point for flipped labels on benchmarks/noise_vs_cleanlab.py.
    score_epoch:
        An explicit epoch at which EL2N, GraNd and loss are read instead (0 = at initialisation), when given.
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
        score_fraction: float = SCORE_FRACTION,
        score_epoch: int | None = None,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        self.proxy = proxy
        self.embedder = embedder
        self.proxy_model = proxy_model
        self.seeds = seeds
        self.epochs = epochs
        self.score_fraction = score_fraction
        self.score_epoch = score_epoch
        self.seed = seed
        self.device = device

    _tokenizer: Any = None

    def config(self) -> proxy.ProxyConfig:
        """The proxy training this scorer asks for."""
        return proxy.ProxyConfig(
            backend=self.proxy,
            embedder=self.embedder,
            proxy_model=self.proxy_model,
            seeds=self.seeds,
            epochs=self.epochs,
            score_epoch=self.read_epoch(),
            seed=self.seed,
        )

    def read_epoch(self) -> int:
        """The epoch at which EL2N, GraNd and loss are read: `score_epoch` when given, else `score_fraction`'s."""
        if self.score_epoch is not None:
            return self.score_epoch
        if not 0.0 <= self.score_fraction <= 1.0:
            raise OptionError(f"--score-fraction must be between 0 and 1 (got {self.score_fraction})")
        return dynamics.epoch_at_fraction(self.score_fraction, max(self.epochs, 1))

    def fit_key(self) -> dict[str, Any]:
        """The proxy training (not the scorer): every dynamics scorer of a run shares one fitting pass."""
        return {"family": "dynamics", "training": proxy.training_key(self.config(), "")}

    def setup(self, context: RunContext) -> None:
        self.config()  # checks the options
        self._context = context

    def update(self, batch: pa.RecordBatch, round: int) -> frozenset[Any]:
        """Embed (head) or tokenize (finetune) the shard, and save its labels."""
        if self.proxy == "head":
            return super().update(batch, round)
        labels = labelled.update_labels(self._context, batch, self.name)
        if self._tokenizer is None:
            self._tokenizer = proxy.load_proxy_tokenizer(self.config())
        tokens = proxy.tokenize_for_proxy(self._tokenizer, labelled.texts_of(batch), self.config())
        directory = state.state_dir(self._context, self.name)
        state.save_shard_array(directory, "input_ids", batch, tokens.input_ids)
        state.save_shard_array(directory, "attention_mask", batch, tokens.attention_mask)
        return labels

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
        columns = self.compute(training.record)
        record = training.record
        provenance = {
            "proxy": self.proxy,
            "proxy_source": self.embedder if self.proxy == "head" else self.proxy_model,
            "training_key": training.key,
            "training_reused": training.from_cache,
            "classes": len(record.classes),
            "final_train_accuracy": float(record.correct[:, -1].mean()),
        }
        extra_columns, extra_provenance = self.compute_more(
            inputs, labels, classes, config, context, progress=progress
        )
        labelled.save_columns(context, self.name, {**columns, **extra_columns})
        return {**provenance, **extra_provenance}

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        """One array of shape (n,) per declared column, from the training record."""
        raise NotImplementedError

    def compute_more(
        self,
        inputs: Any,
        labels: np.ndarray,
        classes: list[Any],
        config: proxy.ProxyConfig,
        context: RunContext,
        *,
        progress: Any = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Columns that need trainings of their own (AUM's threshold-sample runs), and what to record about them."""
        return {}, {}

    def teardown(self) -> None:
        super().teardown()
        self._tokenizer = None


class _AtEpochScorer(DynamicsScorer):
    """A dynamics score read at one epoch (`read_epoch`: `score_fraction` of the run, or `score_epoch`), averaged
    over seeds."""

    # 3: read at `score_fraction` of the run (default: its end), not at epoch 2.
    version: ClassVar[int] = 3

    def at_epoch(self, values: np.ndarray) -> np.ndarray:
        """Seed-averaged values at the reading epoch from an array shaped (seed, evaluation point, example)."""
        return values[:, self.read_epoch()].astype(np.float64).mean(axis=0)


class EL2NScorer(_AtEpochScorer):
    """EL2N (Paul et al. 2021): the proxy's error ||softmax − onehot(label)||₂ at a point of the run, mean over seeds.

    Read at `score_fraction` of the run (or at `score_epoch`). Data Diet reads EL2N early, at about 10 % of training,
    where it already ranks examples for pruning at a fraction of a run's cost. For flipped labels the end of the
    default run reads best (benchmarks/noise_vs_cleanlab.py: mean ROC-AUC over three noise conditions and runs of
    10 and 30 epochs, highest at fraction 1.0, lowest at 0.1), so the default is 1.0; `-p score_fraction=0.1`
    reads as Data Diet does.
    """

    name = "el2n"
    columns = (
        ScoreColumn(
            "el2n",
            Direction.HIGHER,
            "||softmax − onehot(label)||₂ of the proxy at score_fraction of the run, mean over seeds; high = hard",
        ),
    )

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        return {"el2n": self.at_epoch(record.el2n)}


class GraNdScorer(_AtEpochScorer):
    """GraNd (Paul et al. 2021): the norm of the loss gradient over the proxy's parameters at the reading epoch."""

    name = "grand"
    columns = (
        ScoreColumn(
            "grand",
            Direction.HIGHER,
            "||∇_θ loss||₂ over the proxy's parameters at score_fraction of the run, mean over seeds; high = hard",
        ),
    )

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        # The record keeps GraNd at init (point 0) and at score_epoch (point 1).
        return {"grand": record.grand[:, 1].astype(np.float64).mean(axis=0)}


class LossScorer(_AtEpochScorer):
    """The proxy's cross-entropy on the example's label at the reading epoch, mean over seeds."""

    name = "loss"
    columns = (
        ScoreColumn(
            "loss",
            Direction.HIGHER,
            "cross-entropy of the label under the proxy at score_fraction of the run, mean over seeds",
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
    """Area under the margin (Pleiss et al. 2020): mean gold-logit margin over epochs (low = likely mislabelled).

    `aum_mislabeled` sets the cut without a validation set, with threshold samples as in the paper: two more
    trainings (each of `seeds` seeds), in each of which a different, disjoint random N/(c+1) of the examples is
    relabelled to a fake extra class; the cut of a run is the 99th percentile of its threshold samples' AUM, and
    an example is flagged when its AUM falls below the cut in every run where it kept its own label. The three
    trainings cost about three times `aum` alone; they are cached like the main one.
    """

    name = "aum"
    columns = (
        ScoreColumn(
            "aum",
            Direction.LOWER,
            "area under the margin (gold logit − largest other) over epochs; low = likely mislabelled",
        ),
        ScoreColumn(
            "aum_mislabeled",
            None,
            "1 if the AUM is below the 99th percentile of fake-class threshold samples' AUM (Pleiss et al. 2020)",
            kind=ColumnKind.FLAG,
        ),
    )
    # 3: the threshold-sample flag aum_mislabeled.
    version: ClassVar[int] = 3

    def compute(self, record: proxy.TrainingRecord) -> dict[str, np.ndarray]:
        return {"aum": record_aum(record)}

    def compute_more(
        self,
        inputs: Any,
        labels: np.ndarray,
        classes: list[Any],
        config: proxy.ProxyConfig,
        context: RunContext,
        *,
        progress: Any = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        assert context.input_digest is not None
        sets = dynamics.threshold_sample_sets(labels.size, len(classes), config.seed, runs=THRESHOLD_RUNS)
        run_aums, cuts = [], []
        for run, members in enumerate(sets):
            relabelled = labels.copy()
            relabelled[members] = len(classes)
            training = proxy.train_cached(
                inputs,
                relabelled,
                [*classes, THRESHOLD_CLASS],
                config,
                cache_dir=context.cache_dir,
                input_digest=f"{context.input_digest}:aum-threshold-{run}-of-{THRESHOLD_RUNS}",
                device=self.device,
                progress=progress,
            )
            run_aums.append(record_aum(training.record))
            cuts.append(dynamics.aum_threshold(run_aums[-1][members], THRESHOLD_PERCENTILE))
        flags = dynamics.aum_mislabeled(run_aums, sets, THRESHOLD_PERCENTILE)
        return {"aum_mislabeled": flags.astype(np.float64)}, {
            "aum_threshold_samples": int(sets[0].size),
            "aum_thresholds": cuts,
            "aum_flagged": int(flags.sum()),
        }


# AUM's threshold samples: two runs with disjoint sets, the cut at the 99th percentile (Pleiss et al. 2020).
THRESHOLD_RUNS = 2
THRESHOLD_PERCENTILE = 99.0
THRESHOLD_CLASS = "<threshold samples>"


def record_aum(record: proxy.TrainingRecord) -> np.ndarray:
    """Every example's AUM over the epochs of a training record (its label in that training), mean over seeds."""
    return np.mean([dynamics.aum(margins[1:]) for margins in record.margin], axis=0)


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
