"""`EvalConfig`: checked settings, recorded in results.json, and rebuilt from that record to repeat a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from thresher.components import parse_assignment
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.errors import OptionError
from thresher.eval import EvalConfig, run_evaluation
from thresher.eval.classify import ClassifyTarget
from thresher.store import ScoreStore
from thresher.types import Direction, ScoreColumn


def write_length_column(data: Path, scores: Path) -> None:
    """A score column `length`: the number of words of each text."""
    dataset = open_dataset(data, Fields(label="label"))
    batch = next(dataset.iter_examples())
    store = ScoreStore(scores)
    store.bind_input(dataset.fingerprint())
    run = store.start_run("length", {}, [ScoreColumn("length", Direction.HIGHER, "words")], shard_rows=10_000)
    values = np.array([len(text.split()) for text in batch.column("text").to_pylist()], dtype=np.float64)
    run.write_shard(0, 0, pa.array([str(value) for value in batch.column("id").to_pylist()]), {"length": values})
    run.finish(batch.num_rows, {})


def test_a_run_is_repeated_from_its_own_record(tmp_path, corpus_jsonl, tiny_embedder_dir):
    write_length_column(corpus_jsonl, tmp_path / "scores")
    config = EvalConfig(
        input=corpus_jsonl,
        task="classify",
        methods=("random", "full", "length:stratified"),
        keep=(0.5,),
        seeds=2,
        full_seeds=1,
        scores=tmp_path / "scores",
        eval_split=0.25,
        label_field="label",
        seed=3,
    ).with_params([[parse_assignment("epochs=3"), parse_assignment("strata=4")]], {"embedder": str(tiny_embedder_dir)})
    assert config.target_params == {"epochs": 3, "embedder": str(tiny_embedder_dir)}
    assert config.strategy_params == {"random": {}, "stratified": {"strata": 4}}
    first = run_evaluation(config, out=tmp_path / "first")
    record = json.loads((tmp_path / "first" / "results.json").read_text())
    # Every parameter is recorded, those left at their defaults too.
    assert record["params"] == {
        "classify": {**ClassifyTarget().params_record(), "epochs": 3, "embedder": str(tiny_embedder_dir)},
        "random": {},
        "stratified": {"strata": 4, "drop_hardest": 0.0},
    }
    assert record["config"]["methods"] == ["random", "full", "length:stratified"] and record["config"]["seed"] == 3

    rebuilt = EvalConfig.from_record(record)
    assert rebuilt.to_record() == config.to_record()
    assert rebuilt.target_params == record["params"]["classify"]
    again = run_evaluation(rebuilt, out=tmp_path / "again")
    assert [(run.method, run.keep, run.seed, run.kept, run.metrics) for run in again.runs] == [
        (run.method, run.keep, run.seed, run.kept, run.metrics) for run in first.runs
    ]
    assert json.loads((tmp_path / "again" / "results.json").read_text())["params"] == record["params"]


def test_settings_a_target_does_not_use_or_lacks_are_option_errors(corpus_jsonl):
    base = {"input": corpus_jsonl, "task": "classify", "label_field": "label"}
    EvalConfig(**base).validate()
    for changes, message in [
        ({"label_field": None}, "--task classify needs --label-field"),
        ({"response_field": "r"}, "--response-field r: target classify does not read responses"),
        ({"budget": "tokens"}, "--budget tokens: target classify does not support"),
        ({"budget": "steps"}, "--budget steps: unknown"),
        ({"seeds": 0}, "--seeds must be at least 1"),
        ({"full_seeds": 0}, "--full-seeds must be at least 1"),
        ({"jobs": 0}, "--jobs must be at least 1"),
        ({"keep": (0.5, 1.5)}, "--keep 1.5"),
        ({"methods": ("random", "x:magic")}, "strategy 'magic'"),
        ({"eval_split": None}, "--eval-split FRACTION or --eval-file FILE"),
        ({"task": "sft", "label_field": None}, "--task sft needs --response-field"),
    ]:
        with pytest.raises(OptionError, match=message):
            EvalConfig(**{**base, **changes}).validate()
