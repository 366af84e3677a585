import numpy as np
import pytest
from typer.testing import CliRunner

import thresher
from thresher.cache import cache_dir
from thresher.cli import app
from thresher.errors import OptionError
from thresher.models import proxy
from thresher.ops import dynamics
from thresher.scorers.registry import SCORERS
from thresher.store import ScoreStore
from thresher.types import Direction

DYNAMICS = ["el2n", "grand", "forgetting", "vog", "aum", "datamap", "loss"]


@pytest.fixture
def count_trainings(monkeypatch):
    calls = []
    real_train = proxy.train_proxy
    monkeypatch.setattr(proxy, "train_proxy", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    return calls


def options(embedder, **params) -> dict:
    return {
        "embedder": str(embedder),
        "device": "cpu",
        "params": {"seeds": 2, "epochs": 3, "score_epoch": 1, **params},
    }


def test_all_dynamics_scores_from_one_training_match_the_record(
    corpus_jsonl, tmp_path, tiny_embedder_dir, count_trainings
):
    out = tmp_path / "scores"
    thresher.score(corpus_jsonl, scorers=DYNAMICS, out=out, label_field="label", **options(tiny_embedder_dir))
    # One training shared by every scorer, and AUM's two threshold-sample runs.
    assert len(count_trainings) == 1 + 2
    store = ScoreStore.open(out)
    table = store.read_columns(["el2n", "grand", "forgetting", "vog", "aum", "confidence", "variability", "loss"])
    assert table.num_rows == 24
    records = [proxy.TrainingRecord.load(path) for path in (cache_dir(out) / proxy.CACHE_SUBDIR).glob("*.npz")]
    (record,) = [record for record in records if len(record.classes) == 3]
    assert record.classes == ["class-0", "class-1", "class-2"]
    column = {name: table.column(name).to_numpy() for name in table.column_names}
    np.testing.assert_allclose(column["el2n"], record.el2n[:, 1].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(column["loss"], record.loss[:, 1].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(column["grand"], record.grand[:, 1].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(column["aum"], record.margin[:, 1:].mean(axis=(0, 1)), rtol=1e-5)
    forgetting = np.mean([dynamics.forgetting_events(history) for history in record.correct_fine], axis=0)
    np.testing.assert_allclose(column["forgetting"], forgetting)
    np.testing.assert_allclose(column["confidence"], record.true_prob[:, 1:].mean(axis=(0, 1)), rtol=1e-5)
    vog = dynamics.normalise_within_class(record.vog_raw.mean(axis=0), record.labels)
    np.testing.assert_allclose(column["vog"], vog, rtol=1e-6)
    infos = store.column_infos()
    assert infos["aum"].direction == Direction.LOWER and infos["el2n"].direction == Direction.HIGHER
    assert infos["forgetting"].direction == Direction.HIGHER and infos["confidence"].direction == Direction.LOWER


def test_a_later_call_reuses_the_cached_training(corpus_jsonl, tmp_path, tiny_embedder_dir, count_trainings):
    out = tmp_path / "scores"
    thresher.score(corpus_jsonl, scorers=["el2n"], out=out, label_field="label", **options(tiny_embedder_dir))
    thresher.score(corpus_jsonl, scorers=["aum"], out=out, label_field="label", **options(tiny_embedder_dir))
    assert len(count_trainings) == 1 + 2  # AUM's threshold-sample runs are its own
    assert ScoreStore.open(out).manifest["scorers"]["aum"]["provenance"]["training_reused"] is True
    # Other training parameters make another training.
    more = options(tiny_embedder_dir, epochs=4)
    thresher.score(corpus_jsonl, scorers=["forgetting"], out=out, label_field="label", **more)
    assert len(count_trainings) == 4


def test_dynamics_scorers_need_labels(corpus_jsonl, tmp_path, tiny_embedder_dir):
    with pytest.raises(OptionError, match="label"):
        thresher.score(corpus_jsonl, scorers=["aum"], out=tmp_path / "s", **options(tiny_embedder_dir))
    assert all(SCORERS.get(name).needs_labels and SCORERS.get(name).fit_rounds == 1 for name in DYNAMICS)


def test_cli_scores_and_selects_balanced_by_class(corpus_jsonl, tmp_path, tiny_embedder_dir):
    out = tmp_path / "scores"
    flags = ["--embedder", str(tiny_embedder_dir), "-p", "seeds=1", "-p", "epochs=2", "-p", "score_epoch=1"]
    result = CliRunner().invoke(
        app,
        ["score", str(corpus_jsonl), "--scorer", "aum,el2n", "--label-field", "label", "--out", str(out), "--quiet"]
        + flags
        + ["--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    kept = tmp_path / "kept.jsonl"
    result = CliRunner().invoke(
        app,
        ["select", str(corpus_jsonl), "--scores", str(out), "--by", "aum", "--keep", "0.5", "--out", str(kept)]
        + ["--balance-classes"],
    )
    assert result.exit_code == 0, result.output
    import json

    labels = [json.loads(line)["label"] for line in kept.read_text().splitlines()]
    assert sorted(labels) == sorted(["class-0"] * 4 + ["class-1"] * 4 + ["class-2"] * 4)


def test_a_finetuned_proxy_trains_on_the_shards_tokens_as_on_the_texts(corpus_jsonl, tmp_path, tiny_embedder_dir):
    # Tokenized shard by shard on the workers (padded to max_length), gathered on the driver: the same training as
    # the proxy trained here straight on the texts (padded to the longest), since batches are cut to their longest.
    bert_dir = tiny_embedder_dir.parent
    params = {"proxy": "finetune", "proxy_model": str(bert_dir), "seeds": 1, "epochs": 2, "score_epoch": 1}
    out = tmp_path / "scores"
    thresher.score(
        corpus_jsonl, scorers=["el2n"], out=out, label_field="label", shard_rows=10, device="cpu", params=params
    )
    import json

    records = [json.loads(line) for line in corpus_jsonl.read_text().splitlines()]
    from thresher.labels import class_index

    index = class_index(record["label"] for record in records)
    config = proxy.ProxyConfig(backend="finetune", proxy_model=str(bert_dir), seeds=1, epochs=2, score_epoch=1)
    record = proxy.train_proxy(
        [r["text"] for r in records], np.array([index[r["label"]] for r in records]), config, device="cpu"
    )
    el2n = ScoreStore.open(out).read_columns(["el2n"]).column("el2n").to_numpy()
    np.testing.assert_allclose(el2n, record.el2n[:, 1].mean(axis=0), rtol=1e-5, atol=1e-6)


def test_el2n_is_read_at_a_fraction_of_the_run_unless_an_epoch_is_given(corpus_jsonl, tmp_path, tiny_embedder_dir):
    common = {"label_field": "label", "embedder": str(tiny_embedder_dir), "device": "cpu"}
    out = tmp_path / "scores"
    # 0.4 of 5 epochs: epoch 2.
    thresher.score(
        corpus_jsonl, scorers=["el2n"], out=out, params={"seeds": 1, "epochs": 5, "score_fraction": 0.4}, **common
    )
    (path,) = (cache_dir(out) / proxy.CACHE_SUBDIR).glob("training-*.npz")
    record = proxy.TrainingRecord.load(path)
    el2n = ScoreStore.open(out).read_columns(["el2n"]).column("el2n").to_numpy()
    np.testing.assert_allclose(el2n, record.el2n[0, 2], rtol=1e-6)
    assert not np.allclose(el2n, record.el2n[0, 1]) and not np.allclose(el2n, record.el2n[0, 3])
    # An explicit epoch wins over the fraction; the same training serves both (epoch 2 either way for GraNd).
    explicit = tmp_path / "explicit"
    params = {"seeds": 1, "epochs": 5, "score_fraction": 0.9, "score_epoch": 2}
    thresher.score(corpus_jsonl, scorers=["el2n"], out=explicit, params=params, **common)
    np.testing.assert_allclose(ScoreStore.open(explicit).read_columns(["el2n"]).column("el2n").to_numpy(), el2n)
    # The default fraction of the default run.
    scorer = SCORERS.get("el2n")()
    assert scorer.read_epoch() == dynamics.epoch_at_fraction(scorer.score_fraction, scorer.epochs)
    with pytest.raises(OptionError, match="score-fraction"):
        SCORERS.get("el2n")(score_fraction=1.5).config()


def separable_problem(n: int = 300, flips: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three well-separated Gaussian classes in 8 dimensions, with `flips` labels moved to another class."""
    rng = np.random.default_rng(seed)
    clean = np.arange(n) % 3
    centres = np.eye(3, 8) * 6.0
    features = (centres[clean] + rng.normal(size=(n, 8))).astype(np.float32)
    flipped = rng.choice(n, size=flips, replace=False)
    labels = clean.copy()
    labels[flipped] = (labels[flipped] + rng.integers(1, 3, size=flips)) % 3
    return features, labels, np.isin(np.arange(n), flipped)


def test_threshold_sample_aum_flags_planted_flips(tmp_path):
    from thresher.scorers.dynamics import AUMScorer
    from thresher.types import RunContext

    features, labels, is_flip = separable_problem()
    scorer = AUMScorer(seeds=1, epochs=10, device="cpu")
    config = scorer.config()  # the default head proxy, one seed
    context = RunContext(cache_dir=tmp_path, input_digest="toy")
    columns, provenance = scorer.compute_more(lambda: features, labels, ["a", "b", "c"], config, context)
    flags = columns["aum_mislabeled"].astype(bool)
    assert provenance["aum_threshold_samples"] == 300 // 4
    # Almost every planted flip is caught, and few clean examples are.
    recall = flags[is_flip].mean()
    precision = is_flip[flags].mean()
    assert recall >= 0.9 and precision >= 0.8, (recall, precision)
    # The cut is the 99th percentile of the threshold samples' AUM, from runs with the fake class.
    sets = dynamics.threshold_sample_sets(300, 3, config.seed)
    for run, members in enumerate(sets):
        relabelled = labels.copy()
        relabelled[members] = 3
        record = proxy.train_proxy(features, relabelled, config, device="cpu")
        aum = record.margin[:, 1:].mean(axis=(0, 1))
        assert provenance["aum_thresholds"][run] == pytest.approx(np.percentile(aum[members], 99), abs=1e-5)
