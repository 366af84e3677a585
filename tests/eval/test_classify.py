"""The classify target numbers classes in `thresher.labels.class_order`, like every labelled component."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SENTENCES
from thresher.errors import OptionError
from thresher.eval.classify import ClassifyTarget
from thresher.eval.data import EvalData, Examples


def eval_data(labels: list, held_out_labels: list) -> EvalData:
    texts = [SENTENCES[i % len(SENTENCES)] for i in range(len(labels) + len(held_out_labels))]
    examples = Examples([f"id-{i}" for i in range(len(texts))], texts, [*labels, *held_out_labels])
    train_rows = np.arange(len(labels))
    eval_rows = np.arange(len(labels), len(texts))
    return EvalData(examples, train_rows, examples.subset(train_rows), examples.subset(eval_rows), eval_rows)


def test_integer_labels_are_numbered_in_their_natural_order(tiny_embedder_dir):
    labels = [10, 2, 1, 2, 10, 1]
    target = ClassifyTarget(embedder=str(tiny_embedder_dir), device="cpu", epochs=1)
    prepared = target.prepare(eval_data(labels, [2, 10]), budget="epochs", cache_dir=None)
    # 1 < 2 < 10 as numbers; ordering them as text ("1" < "10" < "2") would give 10 and 2 each other's index.
    assert prepared.classes == ["1", "2", "10"]
    assert prepared.train_labels.tolist() == [2, 1, 0, 1, 2, 0]
    assert prepared.eval_labels.tolist() == [1, 2]
    assert prepared.describe() == {"model": "mlp-head-on-embeddings", "num_classes": 3, "classes": ["1", "2", "10"]}
    outcome = prepared.train_and_evaluate(np.arange(len(labels)), seed=0)
    assert set(outcome.metrics) == {"accuracy", "macro_f1"} and 0.0 <= outcome.metrics["accuracy"] <= 1.0
    # One step of six rows: one checkpoint, at the final step, having seen the six rows.
    assert [(point.step, point.examples, point.metrics) for point in outcome.curve] == [(1, 6, outcome.metrics)]
    assert outcome.class_recall is not None and set(outcome.class_recall) == {"2", "10"}  # the held-out classes


def test_held_out_labels_must_be_seen_in_training(tiny_embedder_dir):
    target = ClassifyTarget(embedder=str(tiny_embedder_dir), device="cpu")
    with pytest.raises(OptionError, match="never seen in training: c"):
        target.prepare(eval_data(["a", "b", "a"], ["c"]), budget="epochs", cache_dir=None)
    with pytest.raises(OptionError, match="at least two classes"):
        target.prepare(eval_data(["a", "a"], ["a"]), budget="epochs", cache_dir=None)
