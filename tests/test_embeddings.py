"""`thresher embed`: embeddings cached in the score directory, reused by density, shown by info, refused by select."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import OUTLIER, SENTENCES, write_jsonl
from thresher import api
from thresher.cli import app
from thresher.embeddings import cached_embeddings, list_embedding_caches
from thresher.errors import OptionError
from thresher.store import ScoreStore


@pytest.fixture
def corpus(tmp_path):
    return write_jsonl(tmp_path / "corpus.jsonl", [{"text": text} for text in SENTENCES * 2 + [OUTLIER]])


def test_embed_round_trip_and_reuse_by_density(corpus, tmp_path, tiny_embedder_dir, monkeypatch):
    out = tmp_path / "scores"
    result = CliRunner().invoke(app, ["embed", str(corpus), "--embedder", str(tiny_embedder_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "17 embeddings of dimension 32" in result.output
    (cache,) = list_embedding_caches(ScoreStore.open(out))
    ids, vectors = cache.load()
    assert vectors.shape == (17, 32) and vectors.dtype == np.float32 and len(ids) == 17
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)

    # A second embed and the density scorer read the cache: the embedder must not be loaded again.
    def no_loading(*args, **kwargs):
        raise AssertionError("the embedder was loaded although the embeddings are cached")

    monkeypatch.setattr("thresher.models.embedder.load_embedder", no_loading)
    assert api.embed(corpus, embedder=str(tiny_embedder_dir), out=out).reused
    api.score(
        corpus, scorers=["density"], out=out, embedder=str(tiny_embedder_dir), params={"rows": 500, "hash_bits": 4}
    )
    density = ScoreStore.open(out).read_columns(["density"]).column("density").to_numpy()
    assert np.argmin(density) == 16  # the one text unlike the others

    result = CliRunner().invoke(app, ["info", str(out)])
    assert result.exit_code == 0, result.output
    assert "embeddings" in result.output and "17 × 32" in result.output

    with pytest.raises(OptionError, match="embeddings are vectors"):
        api.select(corpus, scores=out, by="embedding", out=tmp_path / "kept.jsonl", keep="5")
    kept = api.select(
        corpus,
        scores=out,
        by="density",
        strategy="ips",
        out=tmp_path / "kept.jsonl",
        keep="5",
        params={"temperature": 0.5},
    )
    assert kept.kept == 5
    result = CliRunner().invoke(
        app,
        [
            "select",
            str(corpus),
            "--scores",
            str(out),
            "--by",
            "density",
            "--strategy",
            "ips",
            "--keep",
            "4",
            "-p",
            "temperature=2",
            "--out",
            str(tmp_path / "kept2.jsonl"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "kept2.jsonl").read_text().splitlines()) == 4


def test_cache_of_another_input_is_recomputed(tmp_path, tiny_embedder_dir):
    import pyarrow as pa

    def source(texts):
        return lambda: iter([pa.record_batch({"id": [f"id-{t}" for t in texts], "text": texts})])

    first_ids, first = cached_embeddings(tmp_path, str(tiny_embedder_dir), source(SENTENCES[:3]))
    second_ids, second = cached_embeddings(tmp_path, str(tiny_embedder_dir), source(SENTENCES[3:7]))
    assert len(first) == 3 and len(second) == 4 and list(second_ids) == [f"id-{t}" for t in SENTENCES[3:7]]
    (cache,) = list_embedding_caches(tmp_path)
    assert json.loads((cache.path / "meta.json").read_text())["rows"] == 4
    # No cache location: computed and returned, nothing written.
    ids, vectors = cached_embeddings(None, str(tiny_embedder_dir), source(SENTENCES[:2]))
    np.testing.assert_allclose(vectors, first[:2], rtol=1e-5, atol=1e-6)


def test_an_interrupted_cache_write_leaves_no_cache_and_keeps_the_previous_one(
    tmp_path, tiny_embedder_dir, monkeypatch
):
    import pyarrow as pa

    import thresher.embeddings as embeddings

    def source(texts):
        return lambda: iter([pa.record_batch({"id": [f"id-{t}" for t in texts], "text": texts})])

    _, first = cached_embeddings(tmp_path, str(tiny_embedder_dir), source(SENTENCES[:3]))
    (previous,) = list_embedding_caches(tmp_path)
    real_save = embeddings._save

    def save_then_fail(path, array):
        if path.name.startswith("vectors-"):
            raise OSError(28, "No space left on device")
        real_save(path, array)

    monkeypatch.setattr(embeddings, "_save", save_then_fail)
    with pytest.raises(OSError, match="No space"):
        cached_embeddings(tmp_path, str(tiny_embedder_dir), source(SENTENCES[3:7]))
    # The new matrix never became a cache; the previous one still serves its own examples, and nothing
    # half-written (a staging file) is left behind.
    (still,) = list_embedding_caches(tmp_path)
    assert still.meta == previous.meta
    assert not [path for path in (tmp_path / "embeddings").rglob("*") if path.name.startswith(".")]
    monkeypatch.undo()
    ids, vectors = cached_embeddings(tmp_path, str(tiny_embedder_dir), source(SENTENCES[:3]))
    np.testing.assert_allclose(vectors, first, rtol=1e-5, atol=1e-6)
    ids, vectors = cached_embeddings(tmp_path, str(tiny_embedder_dir), source(SENTENCES[3:7]))
    (rebuilt,) = list_embedding_caches(tmp_path)
    assert rebuilt.path == previous.path and rebuilt.rows == 4 and list(ids) == [f"id-{t}" for t in SENTENCES[3:7]]
