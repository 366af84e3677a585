"""Cache keys of the proxy training, the surrogate and the embeddings: one scheme (thresher.cache), versioned."""

from __future__ import annotations

import shutil

import pytest

from thresher import embeddings
from thresher.cache import CACHE_DIR_NAME, cache_dir, cache_key
from thresher.models import proxy, surrogate

DIGEST = proxy.content_digest(["a", "b"], ["one text", "another"], ["x", "y"])


def test_cache_key_is_canonical_json_of_kind_and_payload():
    assert cache_key("k", {"a": 1, "b": [2, 3]}) == cache_key("k", {"b": [2, 3], "a": 1})
    assert cache_key("k", {"a": 1}) != cache_key("other", {"a": 1})
    assert len(cache_key("k", {"a": 1})) == 16 and int(cache_key("k", {"a": 1}), 16) >= 0
    assert cache_dir("scores").as_posix() == f"scores/{CACHE_DIR_NAME}"


@pytest.mark.parametrize(
    ("key_of", "version_name", "changed"),
    [
        (lambda config: proxy.training_key(config, DIGEST), "thresher.models.proxy._RECORD_VERSION", {"epochs": 3}),
        (
            lambda config: surrogate.surrogate_key(config, DIGEST),
            "thresher.models.surrogate._VERSION",
            {"epochs": 3},
        ),
    ],
    ids=["proxy", "surrogate"],
)
def test_training_keys_follow_parameters_input_and_format_version(key_of, version_name, changed, monkeypatch):
    config_class = proxy.ProxyConfig if "proxy" in version_name else surrogate.SurrogateConfig
    base = key_of(config_class(embedder="some/hub-id"))
    assert base == key_of(config_class(embedder="some/hub-id"))
    assert base != key_of(config_class(embedder="some/hub-id", **changed))
    assert base != key_of(config_class(embedder="another/hub-id"))
    monkeypatch.setattr(version_name, 2)
    assert key_of(config_class(embedder="some/hub-id")) != base  # a new format never reads old entries


def test_training_keys_depend_on_the_examples():
    config = proxy.ProxyConfig(embedder="some/hub-id")
    flipped = proxy.content_digest(["a", "b"], ["one text", "another"], ["y", "x"])
    assert proxy.training_key(config, DIGEST) != proxy.training_key(config, flipped)
    assert surrogate.surrogate_key(surrogate.SurrogateConfig(), DIGEST) != surrogate.surrogate_key(
        surrogate.SurrogateConfig(), flipped
    )


def test_embedding_keys_follow_the_weights_and_the_format_version(tiny_embedder_dir, tmp_path, monkeypatch):
    copy = tmp_path / "same-weights-elsewhere"
    shutil.copytree(tiny_embedder_dir, copy)
    key = embeddings.embedder_identity(str(tiny_embedder_dir))["key"]
    # Two paths to the same weights share one cache entry; a Hub id without local weights is keyed by its name.
    assert embeddings.embedder_identity(str(copy))["key"] == key
    hub = embeddings.embedder_identity("no-such-org/no-such-model")
    assert hub["fingerprint"] == "" and hub["key"] != key
    monkeypatch.setattr(embeddings, "EMBEDDINGS_FORMAT", embeddings.EMBEDDINGS_FORMAT + 1)
    assert embeddings.embedder_identity(str(tiny_embedder_dir))["key"] != key
