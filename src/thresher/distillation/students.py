"""Students: cheap classifiers trained to reproduce an expensive teacher's split of the data.

A student is a registry component (`STUDENTS`): its keyword-only constructor is its parameter list, set with
`thresher distill -p NAME=VALUE`. `fit` trains it on labelled examples and gives a fitted model, which predicts
P(positive), saves itself into a model directory and is loaded back from one by `thresher.distillation.model_dir`.

- `fasttext`: a fastText classifier over word n-grams (bigrams by default, as DCLM's), on normalised texts.
- `head`: a logistic-regression head (scikit-learn) on sentence embeddings, FineWeb-Edu's recipe in small.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from thresher.components import Component
from thresher.distillation.text import normalise_text
from thresher.errors import OptionError

POSITIVE_LABEL = "__label__positive"
NEGATIVE_LABEL = "__label__negative"
FASTTEXT_FILE = "model.bin"
HEAD_FILE = "head.npz"


class Student(Component):
    """Base of the students: a classifier `thresher distill` trains on a teacher's positives and negatives."""

    kind: ClassVar[str] = "student"
    name: ClassVar[str]
    reads: ClassVar[str]  # "texts" or "embeddings": what `fit` takes

    def check(self) -> None:
        """`OptionError` for a parameter value the student's library would reject (before anything is read)."""


class FastTextStudent(Student):
    """A fastText classifier over word n-grams of the normalised text (DCLM's recipe: word bigrams).

    The defaults (5 epochs, lr 0.5, dim 16, min_count 2, 200,000 buckets) were chosen on benchmarks/distill.py (a
    reference model's NLL on GCIDE with junk): lr 0.5 and min_count 2 mattered, dim and more epochs did not.

    fastText trains with several threads by default, and multithreaded training is not bit-reproducible (threads
    update shared weights in whatever order they run); `threads=1` makes training deterministic under `seed`.
    Predicting is deterministic either way.

    Parameters
    ----------
    epochs:
        Passes over the training examples.
    lr:
        Learning rate (fastText decays it linearly to 0).
    dim:
        Width of the word and n-gram vectors.
    word_ngrams:
        Longest word n-gram used as a feature (2 = words and word bigrams, as DCLM's classifier).
    min_count:
        Words seen fewer times than this in training are dropped.
    bucket:
        Hash buckets for the n-grams (the model holds bucket × dim floats); fastText's own default is 2,000,000.
    loss:
        softmax (P over the two labels) | hs (hierarchical softmax) | ova (one-vs-all sigmoids).
    threads:
        Training threads; 1 for bit-reproducible training (see above).
    seed:
        Seed of fastText's initialisation and of the order the training examples are shuffled into.
    lowercase:
        Lowercase every text before training and scoring (recorded, so the scorer does the same).
    """

    name = "fasttext"
    reads = "texts"

    def __init__(
        self,
        *,
        epochs: int = 5,
        lr: float = 0.5,
        dim: int = 16,
        word_ngrams: int = 2,
        min_count: int = 2,
        bucket: int = 200_000,
        loss: Literal["softmax", "hs", "ova"] = "softmax",
        threads: int = 1,
        seed: int = 0,
        lowercase: bool = False,
    ) -> None:
        self.epochs = epochs
        self.lr = lr
        self.dim = dim
        self.word_ngrams = word_ngrams
        self.min_count = min_count
        self.bucket = bucket
        self.loss = loss
        self.threads = threads
        self.seed = seed
        self.lowercase = lowercase

    def check(self) -> None:
        """`OptionError` for a parameter fastText would reject or misread."""
        for name in ("epochs", "dim", "word_ngrams", "min_count", "bucket", "threads"):
            if getattr(self, name) < 1:
                raise OptionError(f"student fasttext: {name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise OptionError(f"student fasttext: lr must be positive, got {self.lr}")

    def fit(self, texts: list[str], positive: np.ndarray) -> FastTextModel:
        """A fastText model trained on `texts` labelled `positive` (bool per text), in a seeded shuffled order."""
        import fasttext

        self.check()
        positive = np.asarray(positive, dtype=bool)
        order = np.random.default_rng(self.seed).permutation(len(texts))
        with tempfile.TemporaryDirectory(prefix="thresher-fasttext-") as workdir:
            training_file = Path(workdir) / "train.txt"
            with training_file.open("w", encoding="utf-8") as handle:
                for row in order:
                    label = POSITIVE_LABEL if positive[row] else NEGATIVE_LABEL
                    handle.write(f"{label} {normalise_text(texts[row], lowercase=self.lowercase)}\n")
            try:
                with zeroed_allocations():
                    model = fasttext.train_supervised(
                        input=str(training_file),
                        epoch=self.epochs,
                        lr=self.lr,
                        dim=self.dim,
                        wordNgrams=self.word_ngrams,
                        minCount=self.min_count,
                        bucket=self.bucket,
                        loss=self.loss,
                        thread=self.threads,
                        seed=self.seed,
                        verbose=0,
                    )
            except (ValueError, RuntimeError) as error:  # e.g. an empty vocabulary under a high min_count
                raise OptionError(f"student fasttext: fastText could not train ({error})") from None
        return FastTextModel(model, lowercase=self.lowercase, loss=self.loss)


# glibc's mallopt(M_PERTURB, byte): every block malloc returns is filled with ~byte (0xFF → zeros), every freed one
# with byte; 0 turns it off.
_M_PERTURB = -6


@contextmanager
def zeroed_allocations() -> Iterator[None]:
    """Within the block, memory from malloc (and posix_memalign) comes zero-filled, as calloc's would (glibc only).

    Why: fastText initialises only `thread` tenths of its input matrix at random (`DenseMatrix::uniform` splits the
    matrix into 10 blocks and starts one thread per block, so `thread=1` fills the first block only) and relies on
    the rest being zero. Upstream allocates it with a zero-filling `std::vector`; the `fasttext-numpy2` wheel uses
    `posix_memalign`, which does not zero, so the other rows start as whatever the heap held before: garbage that
    makes training depend on earlier allocations (irreproducible, and often "Encountered NaN"). Zero-filled
    allocations restore upstream fastText's start, rows beyond the first `thread` tenths at zero. Elsewhere than
    glibc (no `mallopt`) this does nothing.
    """
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not mallopt(_M_PERTURB, 0xFF):
        yield
        return
    try:
        yield
    finally:
        mallopt(_M_PERTURB, 0)


@dataclass
class FastTextModel:
    """A trained (or loaded) fastText student: P(positive) of texts, normalised as in training."""

    model: Any  # fasttext.FastText._FastText
    lowercase: bool
    loss: str

    def predict(self, texts: list[str]) -> np.ndarray:
        """P(positive) of each text, float64 (n,).

        With softmax or hs loss, the positive label's probability over the two labels' (fastText adds 1e-5 to
        each before reporting it, so they are renormalised); with ova, the positive label's own sigmoid.
        """
        if not texts:
            return np.zeros(0, dtype=np.float64)
        lines = [normalise_text(text, lowercase=self.lowercase) for text in texts]
        labels, probabilities = self.model.predict(lines, k=-1)
        first_is_positive = np.fromiter((row[0] == POSITIVE_LABEL for row in labels), dtype=bool, count=len(lines))
        pairs = np.stack(probabilities).astype(np.float64)  # (n, 2): the more probable label first
        positive = np.where(first_is_positive, pairs[:, 0], pairs[:, 1])
        if self.loss == "ova":
            return np.clip(positive, 0.0, 1.0)
        return positive / (pairs[:, 0] + pairs[:, 1])

    def save(self, directory: Path) -> list[str]:
        """Write the model into `directory`; the names of the files written."""
        self.model.save_model(str(directory / FASTTEXT_FILE))
        return [FASTTEXT_FILE]

    @classmethod
    def load(cls, directory: Path, training: dict[str, Any]) -> FastTextModel:
        """The model saved in `directory`, with the text settings recorded at training (`training`)."""
        import fasttext

        model = fasttext.load_model(str(directory / FASTTEXT_FILE))
        return cls(model, lowercase=bool(training.get("lowercase", False)), loss=str(training.get("loss", "softmax")))


class HeadStudent(Student):
    """A logistic-regression head (scikit-learn) on cached sentence embeddings, FineWeb-Edu's recipe in small.

    The embeddings come from the score directory's cache (`thresher embed INPUT --out SCORE_DIR`) when the same
    embedder made them, and are computed (and cached there) otherwise.

    Parameters
    ----------
    embedder:
        Sentence-transformers Hub id or local directory (as `--embedder`); recorded, and used again by the scorer.
    device:
        Where to run the embedder when embeddings must be computed: auto | cpu | cuda.
    c:
        Inverse regularisation strength (scikit-learn's C): smaller = simpler head.
    max_iter:
        Most iterations of the L-BFGS solver.
    class_weight:
        none (every example counts once) | balanced (each class weighs as much in total).
    batch_size:
        Texts per embedder forward pass.
    """

    name = "head"
    reads = "embeddings"

    def __init__(
        self,
        *,
        embedder: str = "all-MiniLM-L6-v2",
        device: str = "auto",
        c: float = 1.0,
        max_iter: int = 1000,
        class_weight: Literal["none", "balanced"] = "none",
        batch_size: int = 64,
    ) -> None:
        self.embedder = embedder
        self.device = device
        self.c = c
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.batch_size = batch_size

    def check(self) -> None:
        """`OptionError` for a parameter scikit-learn would reject."""
        if not self.c > 0:
            raise OptionError(f"student head: c must be positive, got {self.c}")
        if self.max_iter < 1 or self.batch_size < 1:
            raise OptionError("student head: max_iter and batch_size must be at least 1")

    def fit(self, vectors: np.ndarray, positive: np.ndarray, *, embedder: dict[str, Any]) -> HeadModel:
        """A logistic regression of `positive` on `vectors` (n, d); `embedder` is the identity of their embedder."""
        from sklearn.linear_model import LogisticRegression

        self.check()
        classifier = LogisticRegression(
            C=self.c, max_iter=self.max_iter, class_weight=None if self.class_weight == "none" else "balanced"
        )
        classifier.fit(np.asarray(vectors, dtype=np.float64), np.asarray(positive, dtype=bool))
        return HeadModel(
            coef=np.asarray(classifier.coef_[0], dtype=np.float64),
            intercept=float(classifier.intercept_[0]),
            embedder=dict(embedder),
        )


@dataclass
class HeadModel:
    """A trained (or loaded) head: P(positive) = sigmoid(vector · coef + intercept)."""

    coef: np.ndarray  # (d,) float64
    intercept: float
    embedder: dict[str, Any]  # spec, path, fingerprint of the embedder the vectors come from

    def predict_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """P(positive) of each embedding, float64 (n,)."""
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[1] != self.coef.shape[0]:
            raise ValueError(f"expected vectors of shape (n, {self.coef.shape[0]}), got {vectors.shape}")
        logits = vectors @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def save(self, directory: Path) -> list[str]:
        """Write the head into `directory`; the names of the files written."""
        np.savez(directory / HEAD_FILE, coef=self.coef, intercept=np.float64(self.intercept))
        return [HEAD_FILE]

    @classmethod
    def load(cls, directory: Path, embedder: dict[str, Any]) -> HeadModel:
        """The head saved in `directory`; `embedder` as the model directory records it."""
        with np.load(directory / HEAD_FILE) as saved:
            return cls(coef=np.asarray(saved["coef"]), intercept=float(saved["intercept"]), embedder=dict(embedder))
