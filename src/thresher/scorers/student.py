"""Distilled students as scorers: a model directory from `thresher distill` applied to a corpus, shard by shard.

`fasttext` scores each text with a fastText student (P(positive), the text normalised as in training);
`student-head` with a logistic-regression head on sentence embeddings, read from the score directory's embedding
cache when `thresher embed` wrote it with the same embedder, computed batch by batch otherwise. Both score each
example on its own, so they run on the local engine and, one model per actor, on Ray (`--engine ray`). The model is
loaded in `setup()`, never in the constructor, so a scorer pickles before it.

Cost class: fastText is CPU only and cheap (a hash and an average of n-gram vectors per word); the head costs one
embedder forward pass per example unless the embeddings are cached.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from thresher.data.fields import ID_COLUMN, TEXT_COLUMN
from thresher.errors import ModelError
from thresher.scorers.base import Direction, RunContext, ScoreColumn, Scorer


def _loaded(model: str, student: str, other_scorer: str) -> Any:
    from thresher.distillation.model_dir import load_student

    loaded = load_student(model)
    if loaded.student != student:
        raise ModelError(
            f"{model}: a --student {loaded.student} model directory; score with --scorer {other_scorer} instead"
        )
    return loaded


def _provenance(model: str, loaded: Any) -> dict[str, Any]:
    record = loaded.record
    teacher = record.get("teacher", {})
    return {
        "model": model,
        "fingerprint": loaded.fingerprint(),
        "student": loaded.student,
        "student_params": record.get("params"),
        "text": record.get("text"),
        "teacher": {key: teacher.get(key) for key in ("form", "column", "scorer", "positive_end", "manifest_blake2b")},
        "distill_metrics": record.get("metrics"),
        "device": "cpu",
    }


class FastTextScorer(Scorer):
    """P(positive) under a fastText student from `thresher distill` (higher = more like the teacher's positives).

    Parameters
    ----------
    model:
        A model directory written by `thresher distill` (`--student fasttext`, the default).
    """

    name = "fasttext"
    columns = (
        ScoreColumn(
            "fasttext_score",
            Direction.HIGHER,
            "P(positive) under the distilled fastText student, the text normalised as in training",
        ),
    )

    def __init__(self, *, model: str) -> None:
        self.model = model

    def setup(self, context: RunContext | None = None) -> None:
        """Load the student once per worker."""
        self._student = _loaded(self.model, "fasttext", "student-head")

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        if getattr(self, "_student", None) is None:
            raise RuntimeError("FastTextScorer.setup() must run before score_batch()")
        texts = batch.column(TEXT_COLUMN).to_pylist()
        scores = self._student.model.predict(texts)
        self.report_progress(len(texts))
        return {"fasttext_score": scores}

    def provenance(self) -> dict[str, Any]:
        student = getattr(self, "_student", None)
        return {"model": self.model} if student is None else _provenance(self.model, student)

    def teardown(self) -> None:
        self._student = None


class StudentHeadScorer(Scorer):
    """P(positive) under a logistic-regression head from `thresher distill --student head`, on sentence embeddings.

    Parameters
    ----------
    model:
        A model directory written by `thresher distill --student head`.
    embedder:
        The embedder to run (default: the one the head was trained on); it must have the same weights.
    device:
        Where to run the embedder: auto | cpu | cuda.
    batch_size:
        Texts per embedder forward pass.
    """

    name = "student-head"
    columns = (ScoreColumn("head_score", Direction.HIGHER, "P(positive) under the distilled embedding head"),)

    def __init__(self, *, model: str, embedder: str | None = None, device: str = "auto", batch_size: int = 64) -> None:
        self.model = model
        self.embedder = embedder
        self.device = device
        self.batch_size = batch_size

    def setup(self, context: RunContext | None = None) -> None:
        """Load the head, check the embedder against the one it was trained on, and find cached embeddings."""
        from thresher.embeddings import EmbeddingCache, embedder_identity, embeddings_root

        self._student = _loaded(self.model, "head", "fasttext")
        recorded = self._student.record.get("embedder", {})
        spec = self.embedder or recorded.get("embedder")
        if not spec:
            raise ModelError(f"{self.model}: the model directory records no embedder; give --embedder")
        identity = embedder_identity(spec)
        if (
            recorded.get("fingerprint")
            and identity["fingerprint"]
            and identity["fingerprint"] != recorded["fingerprint"]
        ):
            raise ModelError(
                f"{self.model}: the head was trained on embeddings of {recorded.get('embedder')} (weights "
                f"{recorded['fingerprint']}), not of {spec} (weights {identity['fingerprint']})"
            )
        self._spec = spec
        self._embedder: Any = None
        self._cached_rows: dict[str, int] = {}
        self._cached_vectors: np.ndarray | None = None
        root = embeddings_root(context)
        if root is not None and (root / identity["key"] / "meta.json").is_file():
            import json

            cache = EmbeddingCache(
                root / identity["key"], json.loads((root / identity["key"] / "meta.json").read_text())
            )
            ids, vectors = cache.load()
            self._cached_rows = {str(value): row for row, value in enumerate(ids)}
            self._cached_vectors = vectors

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        if getattr(self, "_student", None) is None:
            raise RuntimeError("StudentHeadScorer.setup() must run before score_batch()")
        ids = [str(value) for value in batch.column(ID_COLUMN).to_pylist()]
        rows = [self._cached_rows.get(example_id) for example_id in ids]
        missing = [index for index, row in enumerate(rows) if row is None]
        vectors = np.zeros((len(ids), self._student.model.coef.shape[0]), dtype=np.float32)
        found = [index for index, row in enumerate(rows) if row is not None]
        if found:
            assert self._cached_vectors is not None
            vectors[found] = self._cached_vectors[[rows[index] for index in found]]
        if missing:
            from thresher.models.embedder import embed_texts, load_embedder

            if self._embedder is None:
                self._embedder = load_embedder(self._spec, device=self.device)
            texts = batch.column(TEXT_COLUMN).to_pylist()
            vectors[missing] = embed_texts(
                self._embedder, [texts[index] for index in missing], batch_size=self.batch_size
            )
        self.report_progress(len(ids))
        return {"head_score": self._student.model.predict_vectors(vectors)}

    def provenance(self) -> dict[str, Any]:
        student = getattr(self, "_student", None)
        if student is None:
            return {"model": self.model}
        record = _provenance(self.model, student)
        record.update(embedder=self._spec, device=self.device, cached_examples=len(self._cached_rows))
        return record

    def teardown(self) -> None:
        self._student = None
        self._embedder = None
        self._cached_vectors = None
