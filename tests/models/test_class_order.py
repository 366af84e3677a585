"""The dynamics proxy and the influence surrogate number the classes the same way (thresher.labels.class_order)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SENTENCES
from thresher.labels import class_index, class_order
from thresher.models import proxy, surrogate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("labels", "expected_classes"),
    [
        ([10, 9, 10, 9], [9, 10]),  # numbers in numeric order, not as text ("10" < "9")
        (["b", "a", "b", "a"], ["a", "b"]),
        ([10, 9, "b", "a"], [10, 9, "a", "b"]),  # not mutually comparable: by their text, then type name
    ],
    ids=["ints", "strings", "mixed"],
)
def test_proxy_and_surrogate_number_the_classes_alike(labels, expected_classes, tiny_embedder_dir):
    raw_labels = labels * 2
    texts = SENTENCES[: len(raw_labels)]
    ids = [f"id-{row}" for row in range(len(texts))]
    expected_indices = [expected_classes.index(label) for label in raw_labels]

    trained_proxy = proxy.load_or_train(
        ids,
        texts,
        raw_labels,
        proxy.ProxyConfig(embedder=str(tiny_embedder_dir), seeds=1, epochs=1, score_epoch=1),
        cache_dir=None,
        device="cpu",
    )
    trained_surrogate = surrogate.load_or_train(
        ids, texts, raw_labels, surrogate.SurrogateConfig(embedder=str(tiny_embedder_dir), epochs=1), cache_dir=None
    )
    assert trained_proxy.record.classes == trained_surrogate.classes == expected_classes
    np.testing.assert_array_equal(trained_proxy.record.labels, expected_indices)
    np.testing.assert_array_equal(trained_surrogate.labels.numpy(), expected_indices)
    assert class_order(raw_labels) == expected_classes
    assert class_index(raw_labels) == {label: expected_classes.index(label) for label in expected_classes}
