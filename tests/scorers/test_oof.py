import json

import numpy as np
import pyarrow as pa
import pytest

import thresher
from thresher.embeddings import cached_embeddings
from thresher.errors import OptionError
from thresher.labels import class_index, class_order
from thresher.models import crossfit
from thresher.ops import label_quality
from thresher.scorers.registry import SCORERS
from thresher.store import ScoreStore
from thresher.types import Direction


def read_corpus(path):
    records = [json.loads(line) for line in path.read_text().splitlines()]
    index = class_index(class_order(record["label"] for record in records))
    return records, np.array([index[record["label"]] for record in records])


@pytest.mark.parametrize("proxy", ["logreg", "head"])
def test_oof_columns_are_the_cross_fit_of_the_shared_embeddings(proxy, corpus_jsonl, tmp_path, tiny_embedder_dir):
    out = tmp_path / "scores"
    params = {"proxy": proxy, "cross_fit": 3, "epochs": 2, "seed": 4}
    thresher.score(
        corpus_jsonl, scorers=["oof"], out=out, label_field="label", embedder=str(tiny_embedder_dir),
        device="cpu", shard_rows=10, params=params,
    )  # fmt: skip
    records, labels = read_corpus(corpus_jsonl)
    # The embeddings, computed here in one batch (the scorer embedded them shard by shard).
    batch = pa.record_batch({"id": [str(i) for i in range(len(records))], "text": [r["text"] for r in records]})
    _, vectors = cached_embeddings(None, str(tiny_embedder_dir), lambda: iter([batch]), device="cpu")
    config = crossfit.CrossFitConfig(proxy=proxy, folds=3, seed=4, epochs=2)
    folds = label_quality.cross_fit_folds(labels, 3, seed=4)
    expected = np.zeros((labels.size, 3))
    for fold in range(3):
        held_out = folds == fold
        expected[held_out] = crossfit.fit_predict(
            np.asarray(vectors)[~held_out], labels[~held_out], np.asarray(vectors)[held_out], 3, config, fold, "cpu"
        )
    store = ScoreStore.open(out)
    table = store.read_columns(["oof_confidence", "oof_margin", "oof_entropy"])
    rows = np.arange(labels.size)
    np.testing.assert_allclose(table.column("oof_confidence").to_numpy(), expected[rows, labels], atol=1e-4)
    others = expected.copy()
    others[rows, labels] = -1
    margin = (expected[rows, labels] - others.max(axis=1) + 1) / 2
    np.testing.assert_allclose(table.column("oof_margin").to_numpy(), margin, atol=1e-4)
    entropy = -(expected * np.log(np.clip(expected, 1e-300, None))).sum(axis=1) / np.log(3)
    np.testing.assert_allclose(table.column("oof_entropy").to_numpy(), entropy, atol=1e-4)
    infos = store.column_infos()
    assert infos["oof_confidence"].direction == Direction.LOWER == infos["oof_margin"].direction
    assert infos["oof_entropy"].direction == Direction.HIGHER
    provenance = store.manifest["scorers"]["oof"]["provenance"]
    assert provenance["folds"] == 3 and provenance["cross_fit_reused"] is False


def test_a_later_call_reuses_the_cross_fit(corpus_jsonl, tmp_path, tiny_embedder_dir, monkeypatch):
    out = tmp_path / "scores"
    common = {"label_field": "label", "embedder": str(tiny_embedder_dir), "device": "cpu"}
    params = {"seeds": 1, "epochs": 2}
    thresher.score(corpus_jsonl, scorers=["oof", "el2n"], out=out, params=params, **common)
    fits = []
    real = crossfit.out_of_fold_probs
    monkeypatch.setattr(crossfit, "out_of_fold_probs", lambda *a, **k: fits.append(1) or real(*a, **k))
    # Scored again in other shards (a fitting pass of its own): the score directory's cache holds the cross-fit.
    again = {"params": {"epochs": 2}, "overwrite": True, "shard_rows": 7}
    thresher.score(corpus_jsonl, scorers=["oof"], out=out, **again, **common)
    assert fits == []
    assert ScoreStore.open(out).manifest["scorers"]["oof"]["provenance"]["cross_fit_reused"] is True
    thresher.score(corpus_jsonl, scorers=["oof"], out=out, **{**again, "params": {"cross_fit": 4}}, **common)
    assert fits == [1]


def test_oof_needs_labels_and_a_known_proxy(corpus_jsonl, tmp_path, tiny_embedder_dir):
    assert SCORERS.get("oof").needs_labels and SCORERS.get("oof").fit_rounds == 1
    with pytest.raises(OptionError, match="label"):
        thresher.score(corpus_jsonl, scorers=["oof"], out=tmp_path / "a", embedder=str(tiny_embedder_dir))
    with pytest.raises(OptionError, match="proxy"):
        thresher.score(
            corpus_jsonl, scorers=["oof"], out=tmp_path / "b", label_field="label",
            embedder=str(tiny_embedder_dir), params={"proxy": "forest"},
        )  # fmt: skip
