"""The evaluation harness: splits, method parsing, and end-to-end runs of both target tasks on tiny data."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest import SENTENCES, write_jsonl
from thresher.api import evaluate
from thresher.components import assignments_from_mapping
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.eval import Method, parse_keeps, parse_methods, split_by_id
from thresher.scorers.base import Direction, ScoreColumn
from thresher.store import ScoreStore
from thresher.types import ColumnKind

WORDS_A = sorted({word for sentence in SENTENCES[:4] for word in sentence.split()})
WORDS_B = sorted({word for sentence in SENTENCES[4:] for word in sentence.split()} - set(WORDS_A))


@pytest.fixture
def labelled(tmp_path) -> Path:
    """120 texts in three classes by length: short (a), medium (b) and long (c).

    Length is the only signal (every class draws from the same words); the tiny embedder's mean-pooled vectors
    carry it through the position embeddings and the weight of [CLS] and [SEP] in the mean.
    """
    rng = random.Random(0)
    records = []
    for i in range(120):
        label = "abc"[i % 3]
        length = {"a": rng.randint(2, 4), "b": rng.randint(8, 10), "c": rng.randint(16, 18)}[label]
        records.append({"text": " ".join(rng.choices(WORDS_A + WORDS_B, k=length)), "label": label})
    return write_jsonl(tmp_path / "labelled.jsonl", records)


def write_label_column(data: Path, scores: Path) -> None:
    """A score column `is_b` that is 1 for class `b` and 0 otherwise (`top` at a small ratio keeps only class `b`),
    and the same values as a flag column `b_keep` (what `dedup` reads)."""
    dataset = open_dataset(data, Fields(label="label"))
    batch = next(dataset.iter_examples())
    store = ScoreStore(scores)
    store.bind_input(dataset.fingerprint())
    columns = [
        ScoreColumn("is_b", Direction.HIGHER, "1 for class b"),
        ScoreColumn("b_keep", None, "1 for class b", kind=ColumnKind.FLAG),
    ]
    run = store.start_run("oracle", {}, columns, shard_rows=10_000)
    values = np.array([1.0 if label == "b" else 0.0 for label in batch.column("label").to_pylist()])
    ids = pa.array([str(value) for value in batch.column("id").to_pylist()])
    run.write_shard(0, 0, ids, {"is_b": values, "b_keep": values})
    run.finish(batch.num_rows, {})


def mean_metric(result, method: str, keep: float, metric: str) -> float:
    return float(np.mean([run.metrics[metric] for run in result.runs if run.method == method and run.keep == keep]))


def test_split_by_id_is_stable_and_seeded():
    ids = [f"doc-{i}" for i in range(1000)]
    train, held_out = split_by_id(ids, 0.2, seed=0)
    assert len(train) + len(held_out) == 1000 and 150 < len(held_out) < 250
    assert set(train).isdisjoint(held_out)
    # The side of an example depends on its id only, not on the other examples.
    _, held_out_of_half = split_by_id(ids[:500], 0.2, seed=0)
    assert set(held_out_of_half) == {row for row in held_out if row < 500}
    _, other_seed = split_by_id(ids, 0.2, seed=1)
    assert set(other_seed) != set(held_out)


def test_parse_methods_and_keeps():
    methods = parse_methods("random,full,nll_mean,ppl:bottom", ["nll_mean", "ppl"])
    assert [(m.name, m.column, m.strategy) for m in methods] == [
        ("random", None, "random"),
        ("full", None, "full"),
        ("nll_mean", "nll_mean", "top"),
        ("ppl:bottom", "ppl", "bottom"),
    ]
    assert parse_keeps("0.5,0.1,0.3") == [0.1, 0.3, 0.5]
    with pytest.raises(OptionError, match="no score column 'missing'"):
        parse_methods("random,missing", ["nll_mean"])
    with pytest.raises(OptionError, match="zip chooses without a score column"):
        parse_methods("nll_mean:zip", ["nll_mean"])
    for bad in ("0", "1.5", "-0.1", "abc"):
        with pytest.raises(OptionError, match="--keep"):
            parse_keeps(bad)


def test_classify_needs_a_label_field(labelled, tmp_path, tiny_embedder_dir):
    with pytest.raises(OptionError, match="--label-field"):
        evaluate(labelled, task="classify", out=tmp_path / "r", embedder=str(tiny_embedder_dir))


def test_unknown_column_and_bad_keep_are_option_errors(labelled, tmp_path, tiny_embedder_dir):
    common = {"task": "classify", "out": tmp_path / "r", "label_field": "label", "embedder": str(tiny_embedder_dir)}
    with pytest.raises(OptionError, match="no score column"):
        evaluate(labelled, methods="random,nll_mean", **common)
    with pytest.raises(OptionError, match="--keep"):
        evaluate(labelled, methods="random", keep="0.2,1.2", **common)
    assert not (tmp_path / "r").exists()


def test_a_one_class_selection_scores_worse_than_random_and_seeds_fix_results(labelled, tmp_path, tiny_embedder_dir):
    write_label_column(labelled, tmp_path / "scores")
    options = {
        "task": "classify",
        "methods": "random,full,is_b",
        "keep": "0.2,0.3",
        "seeds": 2,
        "scores": tmp_path / "scores",
        "eval_split": 0.25,
        "label_field": "label",
        "embedder": str(tiny_embedder_dir),
    }
    result = evaluate(labelled, out=tmp_path / "report", **options)
    assert len(result.runs) == 2 * 2 + 2 + 2 * 2  # random and is_b at two ratios, full once, each over two seeds
    for keep in (0.2, 0.3):
        # Trained on class b alone, the head predicts b everywhere: about a third right on the held-out part.
        one_class = mean_metric(result, "is_b", keep, "accuracy")
        assert one_class < 0.6
        assert mean_metric(result, "random", keep, "accuracy") > one_class + 0.3
        assert mean_metric(result, "is_b", keep, "macro_f1") < mean_metric(result, "random", keep, "macro_f1")
        assert {run.kept for run in result.runs if run.method == "is_b" and run.keep == keep} == {
            round(keep * result.config["train_examples"])
        }
    assert mean_metric(result, "full", 1.0, "accuracy") > 0.9
    kept_rows = {run.kept for run in result.runs if run.method == "full"}
    assert kept_rows == {result.config["train_examples"]}

    again = evaluate(labelled, out=tmp_path / "again", **options)
    first = json.loads((tmp_path / "report" / "results.json").read_text())
    second = json.loads((tmp_path / "again" / "results.json").read_text())
    assert [(r["method"], r["keep"], r["seed"], r["kept"], r["metrics"]) for r in first["runs"]] == [
        (r["method"], r["keep"], r["seed"], r["kept"], r["metrics"]) for r in second["runs"]
    ]
    assert len(again.runs) == len(result.runs)


def test_eval_file_holds_out_a_separate_file(labelled, tmp_path, tiny_embedder_dir):
    held_out = write_jsonl(
        tmp_path / "held_out.jsonl",
        [{"text": "the cat", "label": "a"}, {"text": " ".join(WORDS_B[:17]), "label": "c"}],
    )
    result = evaluate(
        labelled,
        task="classify",
        out=tmp_path / "r",
        methods="random",
        keep="0.5",
        seeds=1,
        eval_file=held_out,
        label_field="label",
        embedder=str(tiny_embedder_dir),
    )
    assert result.config["train_examples"] == 120 and result.config["eval_examples"] == 2


def test_eval_file_needs_no_id_field(labelled, tmp_path, tiny_embedder_dir):
    with_ids = [{**json.loads(line), "rid": f"r{i}"} for i, line in enumerate(labelled.read_text().splitlines())]
    data = write_jsonl(tmp_path / "with_ids.jsonl", with_ids)
    held_out = write_jsonl(
        tmp_path / "held_out.jsonl",
        [{"text": "the cat", "label": "a"}, {"text": " ".join(WORDS_B[:17]), "label": "c"}],
    )
    options = {"task": "classify", "methods": "random", "keep": "0.5", "seeds": 1, "label_field": "label"}
    result = evaluate(
        data,
        out=tmp_path / "r",
        id_field="rid",
        eval_file=held_out,
        embedder=str(tiny_embedder_dir),
        params={"epochs": 2},
        **options,
    )
    assert result.config["train_examples"] == 120 and result.config["eval_examples"] == 2
    assert math.isfinite(result.runs[0].metrics["accuracy"])


@pytest.mark.parametrize("budget", ["epochs", "tokens"])
def test_lm_task_runs_end_to_end(tmp_path, budget):
    rng = random.Random(1)
    words = " ".join(SENTENCES).split()
    data = write_jsonl(tmp_path / "lm.jsonl", [{"text": " ".join(rng.choices(words, k=12))} for _ in range(80)])
    lm_options = {
        "vocab_size": 300,
        "min_frequency": 1,
        "n_layer": 1,
        "n_head": 2,
        "n_embd": 32,
        "context_length": 32,
        "batch_size": 8,
        "epochs": 3.0,
    }
    result = evaluate(
        data,
        task="lm",
        out=tmp_path / "r",
        methods="random,full",
        keep="0.5",
        seeds=1,
        eval_split=0.2,
        budget=budget,
        params=lm_options,
    )
    full = next(run for run in result.runs if run.method == "full")
    half = next(run for run in result.runs if run.method == "random")
    assert math.isfinite(full.metrics["nll_per_token"]) and math.isfinite(full.metrics["bits_per_byte"])
    assert full.metrics["nll_per_token"] < result.reference["nll_per_token"] - 0.5  # learnt something
    # Checkpoints: tokens seen grow by the blocks trained, and the last one holds the final metrics.
    steps = int(full.metrics["train_steps"])
    assert full.curve[-1]["step"] == steps and full.curve[-1]["metrics"] == {
        name: full.metrics[name] for name in ("nll_per_token", "bits_per_byte")
    }
    assert len(full.curve) == min(steps, 10) and all(
        a["tokens"] < b["tokens"] for a, b in zip(full.curve, full.curve[1:], strict=False)
    )
    assert full.curve[-1]["tokens"] <= steps * 8 * 32
    if budget == "tokens":
        assert half.metrics["train_steps"] == full.metrics["train_steps"]
    else:
        assert half.metrics["train_steps"] < full.metrics["train_steps"]
    assert (tmp_path / "r" / "report.html").is_file()


def test_cli_eval_writes_the_report_and_turns_bad_options_into_exit_code_2(labelled, tmp_path, tiny_embedder_dir):
    from typer.testing import CliRunner

    from thresher.cli import app

    common = ["eval", str(labelled), "--task", "classify", "--embedder", str(tiny_embedder_dir), "--quiet"]
    result = CliRunner().invoke(
        app,
        [
            *common,
            "--label-field",
            "label",
            "--methods",
            "random,full",
            "--keep",
            "0.5",
            "--seeds",
            "1",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    written = {path.name for path in (tmp_path / "r").iterdir()}
    assert written == {"results.json", "curves.png", "compute.png", "report.html"}
    missing_label = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "bad")])
    assert missing_label.exit_code == 2 and "--label-field" in missing_label.output
    bad_keep = CliRunner().invoke(
        app, [*common, "--label-field", "label", "--keep", "2", "--out", str(tmp_path / "b")]
    )
    assert bad_keep.exit_code == 2 and "--keep" in bad_keep.output


def test_every_selection_is_checked_before_any_training(labelled, tmp_path, tiny_embedder_dir, monkeypatch):
    from thresher.eval.classify import PreparedClassify

    write_label_column(labelled, tmp_path / "scores")
    trained = []
    monkeypatch.setattr(PreparedClassify, "train_and_evaluate", lambda self, rows, seed: trained.append(seed) or {})
    with pytest.raises(OptionError, match="after dropping the hardest"):
        # Dropping the hardest half leaves too few rows to keep 0.9 of the training part.
        evaluate(
            labelled,
            task="classify",
            out=tmp_path / "report",
            methods="random,is_b:stratified",
            keep="0.1,0.9",
            seeds=1,
            scores=tmp_path / "scores",
            label_field="label",
            embedder=str(tiny_embedder_dir),
            params={"drop_hardest": 0.5},
        )
    assert trained == [] and not (tmp_path / "report").exists()


def test_runs_in_worker_processes_give_the_same_report(labelled, tmp_path, tiny_embedder_dir):
    options = {
        "task": "classify",
        "methods": "random,full",
        "keep": "0.3",
        "seeds": 2,
        "eval_split": 0.25,
        "label_field": "label",
        "embedder": str(tiny_embedder_dir),
        "params": {"epochs": 5},
    }
    serial = evaluate(labelled, out=tmp_path / "serial", **options)
    parallel = evaluate(labelled, out=tmp_path / "parallel", jobs=2, **options)
    assert parallel.config["jobs"] == 2
    assert [(run.method, run.keep, run.seed, run.kept) for run in parallel.runs] == [
        (run.method, run.keep, run.seed, run.kept) for run in serial.runs
    ]
    for mine, theirs in zip(parallel.runs, serial.runs, strict=True):
        # Worker processes may use another thread count, so sums can round differently.
        assert mine.metrics["accuracy"] == pytest.approx(theirs.metrics["accuracy"], abs=0.05)


def test_set_level_methods_choose_from_the_training_texts(labelled, tmp_path, tiny_embedder_dir):
    from thresher.eval.choose import build_strategies, choose_rows
    from thresher.eval.plan import Method
    from thresher.selection.base import StrategyInputs, TextList
    from thresher.selection.zip import zip_select

    texts = [f"{word} " * (i % 7 + 1) + f"tail {i}" for i, word in enumerate(WORDS_A * 3)]
    inputs = StrategyInputs(len(texts), texts=TextList(texts))
    method = Method("zip", None, "zip")
    zip_strategy = build_strategies([method], {})["zip"]
    zip_rows = choose_rows(method, 0.3, 0, inputs, zip_strategy)
    assert zip_rows.tolist() == sorted(zip_select(texts, round(0.3 * len(texts))))
    with pytest.raises(OptionError, match="needs the example texts"):
        choose_rows(method, 0.3, 0, StrategyInputs(len(texts)), zip_strategy)

    write_label_column(labelled, tmp_path / "scores")
    target = write_jsonl(tmp_path / "target.jsonl", [{"text": sentence} for sentence in SENTENCES[4:]])
    result = evaluate(
        labelled,
        task="classify",
        out=tmp_path / "report",
        methods="zip,dsir,b_keep:dedup",
        keep="0.2",
        seeds=1,
        scores=tmp_path / "scores",
        eval_split=0.25,
        label_field="label",
        embedder=str(tiny_embedder_dir),
        params={"epochs": 2, "target": str(target)},
    )
    n_train = result.config["train_examples"]
    assert {run.method: run.kept for run in result.runs} == {
        "zip": round(0.2 * n_train),
        "dsir": round(0.2 * n_train),
        "b_keep:dedup": round(0.2 * n_train),  # a sample of the flagged (class b) rows, a third of the data
    }


def test_methods_are_strategies_from_the_registry():
    from thresher.store import ColumnInfo

    infos = {
        "nll_mean": ColumnInfo("nll_mean", "likelihood", Direction.HIGHER, "nll", ColumnKind.SCORE),
        "minhash_keep": ColumnInfo("minhash_keep", "minhash", None, "kept", ColumnKind.FLAG),
        "minhash_duplicate_of": ColumnInfo("minhash_duplicate_of", "minhash", None, "ids", ColumnKind.ID),
    }
    methods = parse_methods("zip,dsir,dedup,nll_mean:ccs,minhash_keep:dedup", infos)
    assert [(m.name, m.column, m.strategy) for m in methods] == [
        ("zip", None, "zip"),
        ("dsir", None, "dsir"),
        ("dedup", "minhash_keep", "dedup"),  # dedup's default column
        ("nll_mean:ccs", "nll_mean", "ccs"),
        ("minhash_keep:dedup", "minhash_keep", "dedup"),
    ]
    with pytest.raises(OptionError, match="minhash_keep is a flag column and --strategy top ranks by a score"):
        parse_methods("minhash_keep", infos)
    with pytest.raises(OptionError, match="nll_mean is a score column and --strategy dedup takes flag columns"):
        parse_methods("nll_mean:dedup", infos)
    with pytest.raises(OptionError, match="holds ids"):
        parse_methods("minhash_duplicate_of:dedup", infos)
    with pytest.raises(OptionError, match="random chooses without a score column"):
        parse_methods("nll_mean:random", infos)
    with pytest.raises(OptionError, match="--methods dedup: no semdedup_keep or minhash_keep column"):
        parse_methods("dedup", ["nll_mean"])


def test_strategy_options_are_resolved_against_the_methods_strategies():
    from thresher.eval.choose import build_strategies, choose_rows, training_inputs
    from thresher.eval.data import TrainingColumn
    from thresher.eval.params import resolve_eval_params
    from thresher.selection.base import StrategyInputs
    from thresher.selection.strategies import select_random, select_stratified

    names = ["random", "full", "score:ccs"]
    methods = parse_methods(",".join(names), ["score"])
    _, params = resolve_eval_params(
        "lm", names, [assignments_from_mapping({"drop_hardest": 0.2, "ccs.strata": 5}, "p")], {}
    )
    assert params["ccs"] == {"strata": 5, "drop_hardest": 0.2}
    with pytest.raises(OptionError, match=r"takes 'temperature' \(it applies to strategy ips, strategy softmax\)"):
        resolve_eval_params("lm", names, [assignments_from_mapping({"temperature": 2.0}, "p")], {})
    with pytest.raises(OptionError, match="drop_hardest: expected a number"):
        resolve_eval_params("lm", names, [assignments_from_mapping({"drop_hardest": "most"}, "p")], {})

    strategies = build_strategies(methods, params)
    values = np.random.default_rng(0).normal(size=50)
    column = TrainingColumn(values, Direction.LOWER)
    ccs = methods[2]
    rows = choose_rows(ccs, 0.3, 7, training_inputs(type(strategies["ccs"]), column, None), strategies["ccs"])
    expected = select_stratified(-values, 15, 7, strata=5, drop_hardest=0.2)
    assert rows.tolist() == expected.tolist()
    random_rows = choose_rows(methods[0], 0.3, 7, StrategyInputs(50), strategies["random"])
    assert random_rows.tolist() == select_random(50, 15, 7).tolist()  # the 15 rows with the smallest seeded draws


def test_balanced_methods_keep_every_class_and_the_report_shows_classes(labelled, tmp_path, tiny_embedder_dir):
    write_label_column(labelled, tmp_path / "scores")
    result = evaluate(
        labelled,
        task="classify",
        out=tmp_path / "report",
        methods="random,full,is_b,is_b:balanced",
        keep="0.3",
        seeds=2,
        scores=tmp_path / "scores",
        eval_split=0.25,
        label_field="label",
        embedder=str(tiny_embedder_dir),
        params={"epochs": 5, "checkpoints": 4},
    )
    by_method = {method: [run for run in result.runs if run.method == method] for method in ("is_b", "is_b:balanced")}
    # `top` by is_b at 0.3 keeps class b alone; balanced, it keeps 30 % of every class (ties to the first rows).
    assert all(run.class_kept["a"] == 0 and run.class_kept["c"] == 0 for run in by_method["is_b"])
    for run in by_method["is_b:balanced"]:
        assert all(abs(share - 0.3) < 0.05 for share in run.class_kept.values()), run.class_kept
        assert set(run.class_recall) == {"a", "b", "c"} and len(run.curve) == 4
        assert [point["examples"] for point in run.curve][-1] == 5 * run.kept  # five epochs of the kept rows
    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    cells = {(cell["method"], cell["keep"]): cell for cell in saved["summary"]["cells"]}
    assert saved["config"]["compute_axis"] == "examples" and saved["summary"]["compute_axis"] == "examples"
    one_class = cells[("is_b", 0.3)]
    assert one_class["classes"]["least_kept"][1] == 0 and set(one_class["classes"]["left_behind"]) >= {"a", "c"}
    assert one_class["vs_random"]["seeds"] == 2 and one_class["vs_random"]["mean_difference"] < 0
    assert cells[("is_b:balanced", 0.3)]["classes"]["least_kept"][1] > 0.25
    page = (tmp_path / "report" / "report.html").read_text()
    assert '<table id="classes">' in page and '<table id="compute">' in page and "sign-flip" in page
    assert (tmp_path / "report" / "compute.png").read_bytes().startswith(b"\x89PNG")


def test_balanced_needs_labels_and_a_strategy(tmp_path, labelled):
    from thresher.eval.plan import parse_method

    assert parse_method("el2n:bottom:balanced") == Method("el2n:bottom:balanced", "el2n", "bottom", balanced=True)
    assert parse_method("random:balanced") == Method("random:balanced", None, "random", balanced=True)
    assert parse_method("el2n:balanced").strategy == "top"
    with pytest.raises(OptionError, match="only a strategy can be balanced"):
        parse_method("full:balanced")
    with pytest.raises(OptionError, match="reads no class labels"):
        evaluate(labelled, task="lm", out=tmp_path / "r", methods="random:balanced,full", keep="0.5")
