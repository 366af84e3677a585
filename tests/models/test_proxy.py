import numpy as np
import pytest
import torch

from tests.conftest import SENTENCES
from thresher.embeddings import list_embedding_caches
from thresher.errors import OptionError
from thresher.models import proxy
from thresher.ops import dynamics


def blobs(n: int = 60, classes: int = 3, dimension: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    centres = rng.normal(size=(classes, dimension)) * 2
    return (centres[labels] + rng.normal(size=(n, dimension))).astype(np.float32), labels


def test_grand_by_vmap_equals_a_per_example_backward_loop():
    torch.manual_seed(0)
    model = proxy.HeadProxy(8, 3, hidden=16).eval()
    features, labels = blobs(20)
    inputs, gold = (torch.from_numpy(features),), torch.from_numpy(labels)
    vectorised = proxy.per_example_grad_norms(model, inputs, gold, chunk=7)
    looped = proxy.per_example_grad_norms_loop(model, inputs, gold)
    torch.testing.assert_close(vectorised, looped, rtol=1e-5, atol=1e-6)


def test_record_el2n_at_init_is_softmax_minus_onehot_of_the_initial_model():
    features, labels = blobs()
    config = proxy.ProxyConfig(seeds=1, epochs=2, hidden=16, batch_size=16, seed=3)
    record = proxy.train_proxy(features, labels, config, device="cpu")
    torch.manual_seed(3 * 1000)  # the first run's seed
    model = proxy.HeadProxy(8, 3, hidden=16).eval()
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(features)).double(), dim=1).numpy()
    expected = np.linalg.norm(probs - np.eye(3)[labels], axis=1)
    np.testing.assert_allclose(record.el2n[0, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(record.loss[0, 0], -np.log(probs[np.arange(60), labels]), rtol=1e-5)
    np.testing.assert_allclose(record.margin[0, 0], dynamics.margins(np.log(probs), labels), rtol=1e-4, atol=1e-5)


def test_training_learns_records_every_epoch_and_is_deterministic_under_a_seed():
    features, labels = blobs()
    config = proxy.ProxyConfig(
        seeds=2, epochs=4, hidden=16, batch_size=16, learning_rate=1e-2, checks_per_epoch=2, score_epoch=3
    )
    record = proxy.train_proxy(features, labels, config, device="cpu")
    assert record.loss.shape == (2, 5, 60) and record.grand.shape == (2, 2, 60)
    assert record.correct_fine.shape == (2, 8, 60) and record.vog_raw.shape == (2, 60)
    np.testing.assert_array_equal(record.correct_fine[:, 1::2], record.correct[:, 1:])  # epoch ends
    assert record.correct[:, -1].mean() > 0.9 and record.loss[:, -1].mean() < record.loss[:, 0].mean()
    again = proxy.train_proxy(features, labels, config, device="cpu")
    for name in proxy.TrainingRecord._ARRAYS:
        np.testing.assert_array_equal(getattr(record, name), getattr(again, name))
    other = proxy.train_proxy(features, labels, proxy.ProxyConfig(**{**config.__dict__, "seed": 1}), device="cpu")
    assert not np.array_equal(record.loss, other.loss)


def test_head_input_gradient_of_a_linear_proxy_is_the_gold_row_of_its_weights():
    features, labels = blobs(10)
    config = proxy.ProxyConfig(hidden=0)
    backend = proxy._HeadBackend(features, 3, config, torch.device("cpu"))
    model = backend.new_model().eval()
    grads = backend.representation_grads(model, torch.arange(10), torch.from_numpy(labels))
    weights = model.layers[0].weight.detach().numpy()
    np.testing.assert_allclose(grads.numpy(), weights[labels], rtol=1e-6)


def test_load_or_train_caches_by_parameters_and_input(tmp_path, tiny_embedder_dir, monkeypatch):
    calls = []
    real_train = proxy.train_proxy
    monkeypatch.setattr(proxy, "train_proxy", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    texts = SENTENCES * 2
    labels = ["a", "b"] * 8
    ids = list(range(16))
    config = proxy.ProxyConfig(embedder=str(tiny_embedder_dir), seeds=1, epochs=2, batch_size=4)
    first = proxy.load_or_train(ids, texts, labels, config, cache_dir=tmp_path, device="cpu")
    second = proxy.load_or_train(ids, texts, labels, config, cache_dir=tmp_path, device="cpu")
    assert not first.from_cache and second.from_cache and len(calls) == 1
    assert second.record.classes == ["a", "b"] and second.key == first.key
    np.testing.assert_array_equal(first.record.el2n, second.record.el2n)
    flipped = proxy.load_or_train(ids, texts, labels[::-1], config, cache_dir=tmp_path, device="cpu")
    assert not flipped.from_cache and flipped.key != first.key
    assert len(list_embedding_caches(tmp_path)) == 1  # same texts, one embedding


def test_config_is_checked():
    with pytest.raises(OptionError, match="--proxy"):
        proxy.ProxyConfig(backend="svm")
    with pytest.raises(OptionError, match="--proxy-model"):
        proxy.ProxyConfig(backend="finetune")
    with pytest.raises(OptionError, match="--score-epoch"):
        proxy.ProxyConfig(epochs=2, score_epoch=3)


def test_finetune_backend_trains_a_tiny_bert_and_vmaps_its_gradients(tiny_embedder_dir):
    bert_dir = tiny_embedder_dir.parent  # a BertModel built from a small BertConfig, and its tokenizer
    texts = SENTENCES * 2
    labels = np.arange(16) % 2
    config = proxy.ProxyConfig(backend="finetune", proxy_model=str(bert_dir), seeds=1, epochs=2, batch_size=8)
    record = proxy.train_proxy(texts, labels, config, device="cpu")
    assert record.loss.shape == (1, 3, 16) and np.isfinite(record.grand).all() and (record.vog_raw > 0).all()
    backend = proxy._FinetuneBackend(texts, 2, config, torch.device("cpu"))
    model = backend.new_model().eval()
    index, gold = torch.arange(6), torch.from_numpy(labels[:6])
    vectorised = proxy.per_example_grad_norms(model, backend.inputs(index), gold, chunk=4)
    looped = proxy.per_example_grad_norms_loop(model, backend.inputs(index), gold)
    torch.testing.assert_close(vectorised, looped, rtol=1e-4, atol=1e-5)
