"""Distilling an expensive score into a cheap classifier: a fastText student of a k-fold reference model's NLL.

On GCIDE dictionary entries with known injected junk (5 % each of exact duplicates, word-shuffled entries and
random characters, as `python scripts/build_corpus.py gcide --inject dup=0.05,shuffled=0.05,random=0.05` makes
them; entries over 2000 characters dropped, as benchmarks/repro_gcide.py does), all through thresher's Python API:

1. teacher: `train_reference(folds=2)` (= `thresher train-ref --folds 2`), then `thresher.score` with `likelihood`:
   every example's `nll_mean` from the fold model that did not train on it. Junk has a high NLL, so the teacher's
   "good" end is the **bottom** of `nll_mean` (whose declared direction is higher = more important): every student
   learns `positive_end="bottom"`;
2. a small sweep of the fastText student's epochs / dim / lr / min_count at `thresher distill`'s default labelling
   (positives the 10 % lowest `nll_mean`, negatives all the rest), chosen by the held-out agreement with the teacher
   (ROC-AUC on its split, mean over held-out seeds 1-3, never the reported split); then a sweep of the labelling
   (positive and negative fractions), chosen by the held-out Spearman with the teacher on the same seeds;
3. the students at the reported split (held-out seed 0), default and chosen labelling: their junk ROC-AUC and
   Spearman with the teacher on the held-out rows, and the scorers' examples/s on those same rows in this same
   process (`score_batch` after `setup`, best of repeats; the teacher at 1 torch thread and at torch's default; the
   head and, for scale, SmolLM2-135M on the first `--slow-rows`), plus `thresher score` end to end;
4. the file form, DCLM's way: `thresher.distill(positive=clean entries, negative=junk)`;
5. the same with `--student head` (logistic regression on all-MiniLM-L6-v2 embeddings), unless `--no-head`.

    python benchmarks/distill.py [--train 3000] [--holdout 0.3] [--workdir /tmp/thresher-distill]

Does selecting with the student train better models? `benchmarks/distill_eval.py` runs `thresher eval --task lm`
on this benchmark's work directory (teacher, student, a pipeline, random and full). Writes benchmarks/results/distill/
(results.json, summary.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

import thresher
from thresher.data.corpora.build import build_corpus, corpus_files, write_jsonl
from thresher.data.corpora.inject import JUNK_KINDS, inject_junk, parse_inject_spec
from thresher.models.loading import smollm2_gguf_path
from thresher.ops.agreement import roc_auc, spearman
from thresher.scorers.likelihood import LikelihoodScorer
from thresher.scorers.student import FastTextScorer, StudentHeadScorer
from thresher.store import ScoreStore
from thresher.train_ref import train_reference

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "distill"
INJECT = "dup=0.05,shuffled=0.05,random=0.05"
MAX_ENTRY_CHARS = 2000
# The reference models' shape: repro_gcide's, small enough to train in minutes on two shared cores.
MODEL_SHAPE = {"vocab_size": 1024, "n_layer": 2, "n_head": 2, "n_embd": 64, "context_length": 64}
# The sweep: fastText's main knobs around its supervised defaults (epoch 5, lr 0.1, dim 100, minCount 1).
SWEEP = {"epochs": (5, 10, 25), "dim": (16, 32, 64), "lr": (0.1, 0.5), "min_count": (1, 2)}
TUNING_SEEDS = (1, 2, 3)  # held-out splits the sweeps choose on; the reported split is seed 0
# Labellings of the teacher column (positive fraction, negative fraction or None = all the rest); the first is
# `thresher distill`'s default (DCLM's keep-the-top-10 %).
LABELLINGS = ((0.1, None), (0.1, 0.1), (0.3, None), (0.5, None), (0.8, None), (0.9, None))
EVAL_KEEPS = (0.3, 0.5, 0.7)  # benchmarks/distill_eval.py's keep ratios


def load_average() -> dict[str, Any]:
    """`uptime`'s line and the 1/5/15-minute load averages: how busy the shared machine was."""
    line = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return {"uptime": line, "load_average": [round(value, 2) for value in os.getloadavg()]}


def build_data(args: argparse.Namespace, workdir: Path) -> tuple[Path, Path, list[dict[str, Any]]]:
    """The training corpus (clean entries + marked junk) and a clean held-out file for benchmarks/distill_eval.py."""
    if not all(path.is_file() for path in corpus_files("gcide")):
        sys.path.insert(0, str(ROOT / "scripts"))
        from build_corpus import ensure_debian_package  # the script's apt-get step

        ensure_debian_package("gcide")
    rng = np.random.default_rng(args.seed)
    pool = build_corpus("gcide", limit=3 * (args.train + args.eval_entries), seed=args.seed)
    pool = [record for record in pool if len(record["text"]) <= MAX_ENTRY_CHARS]
    chosen = [pool[i] for i in rng.permutation(len(pool))[: args.train + args.eval_entries]]
    held_out, clean = chosen[: args.eval_entries], chosen[args.eval_entries :]
    records = inject_junk(clean, parse_inject_spec(INJECT), rng)
    data, eval_file = workdir / "gcide_junk.jsonl", workdir / "gcide_heldout.jsonl"
    write_jsonl(records, data)
    write_jsonl(held_out, eval_file)
    return data, eval_file, records


def junk_aucs(junk_score: np.ndarray, kinds: np.ndarray) -> dict[str, float | None]:
    """ROC-AUC of a junk score (higher = more junk-like): all junk vs originals, and each kind vs originals."""
    original = kinds == "original"
    result = {"all": roc_auc(junk_score, ~original)}
    for kind in JUNK_KINDS:
        rows = original | (kinds == kind)
        result[kind] = roc_auc(junk_score[rows], (kinds == kind)[rows])
    return {key: None if not np.isfinite(value) else round(float(value), 4) for key, value in result.items()}


def best_time(run: Any, *, repeats: int, min_seconds: float = 0.0) -> float:
    """The fastest of `repeats` timed calls of `run()` (and more while their total is under `min_seconds`)."""
    times: list[float] = []
    while len(times) < repeats or sum(times) < min_seconds:
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def throughput(
    batch: pa.RecordBatch, reference: Path, student_dir: Path, head_dir: Path | None, *, slow_rows: int
) -> dict[str, Any]:
    """Examples/s of the teacher (likelihood) and the fastText student on the same rows, measured here and now; on
    the first `slow_rows` of them, of the head student (embedding included) and, for scale, of the likelihood scorer
    with a real small LM (SmolLM2-135M)."""
    rows = batch.num_rows
    result: dict[str, Any] = {"rows": rows}
    default_threads = torch.get_num_threads()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        teacher = LikelihoodScorer(model=str(reference), device="cpu", dtype="float32")
        teacher.setup()
        seconds = best_time(lambda scorer=teacher: scorer.score_batch(batch), repeats=2)
        teacher.teardown()
        result[f"teacher_{threads}_thread"] = {
            "seconds": round(seconds, 4),
            "examples_per_second": round(rows / seconds, 1),
        }
    torch.set_num_threads(default_threads)
    student = FastTextScorer(model=str(student_dir))
    student.setup()
    seconds = best_time(lambda: student.score_batch(batch), repeats=5, min_seconds=1.0)
    result["student_fasttext"] = {"seconds": round(seconds, 6), "examples_per_second": round(rows / seconds, 1)}
    slow = batch.slice(0, min(slow_rows, rows))
    if head_dir is not None:
        head = StudentHeadScorer(model=str(head_dir), device="cpu")
        head.setup()  # no run context: no embedding cache, so every example is embedded (what new text costs)
        seconds = best_time(lambda: head.score_batch(slow), repeats=1)
        result["student_head"] = {
            "rows": slow.num_rows,
            "seconds": round(seconds, 4),
            "examples_per_second": round(slow.num_rows / seconds, 1),
        }
    gguf = smollm2_gguf_path()
    if slow_rows > 0 and gguf is not None:
        lm = LikelihoodScorer(model=str(gguf), device="cpu")  # dtype auto: bf16 where the CPU runs it fast
        lm.setup()
        seconds = best_time(lambda: lm.score_batch(slow), repeats=1)
        result["smollm2_135m"] = {
            "rows": slow.num_rows,
            "dtype": lm.provenance()["dtype"],
            "seconds": round(seconds, 3),
            "examples_per_second": round(slow.num_rows / seconds, 2),
        }
        lm.teardown()
    fastest_teacher = max(value["examples_per_second"] for key, value in result.items() if key.startswith("teacher_"))
    result["speedup_fasttext_over_fastest_teacher"] = round(
        result["student_fasttext"]["examples_per_second"] / fastest_teacher, 1
    )
    if "smollm2_135m" in result:
        result["speedup_fasttext_over_smollm2"] = round(
            result["student_fasttext"]["examples_per_second"] / result["smollm2_135m"]["examples_per_second"], 1
        )
    result["torch_default_threads"] = default_threads
    return result


def sweep(data: Path, scores: Path, workdir: Path, holdout: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every sweep setting's held-out agreement with the teacher, mean over the tuning seeds; and the chosen one."""
    rows = []
    names = list(SWEEP)
    for values in itertools.product(*SWEEP.values()):
        setting = dict(zip(names, values, strict=True))
        aucs, spearmans, seconds = [], [], []
        for seed in TUNING_SEEDS:
            out = workdir / "sweep-student"
            result = thresher.distill(
                data, scores=scores, by="nll_mean", positive_end="bottom", out=out, holdout=holdout, seed=seed,
                params=setting, overwrite=True,
            )  # fmt: skip
            aucs.append(result.metrics["heldout_roc_auc"])
            spearmans.append(result.metrics["heldout_spearman"])
            seconds.append(result.metrics["train_seconds"])
        rows.append({
            **setting,
            "heldout_roc_auc": round(float(np.mean(aucs)), 4),
            "heldout_roc_auc_std": round(float(np.std(aucs)), 4),
            "heldout_spearman": round(float(np.mean(spearmans)), 4),
            "train_seconds": round(float(np.mean(seconds)), 3),
        })  # fmt: skip
        print(f"sweep {setting}: ROC-AUC {rows[-1]['heldout_roc_auc']:.4f}", flush=True)
    shutil.rmtree(workdir / "sweep-student", ignore_errors=True)
    # Best agreement; among settings within 0.002 of it, the cheapest (smaller dim, fewer epochs).
    best = max(row["heldout_roc_auc"] for row in rows)
    near = [row for row in rows if row["heldout_roc_auc"] >= best - 0.002]
    chosen = min(near, key=lambda row: (row["dim"], row["epochs"], -row["heldout_roc_auc"]))
    return rows, {name: chosen[name] for name in names}


def labelling_sweep(
    data: Path, scores: Path, workdir: Path, holdout: float, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], tuple[float, float | None]]:
    """Each labelling's held-out Spearman with the teacher (mean over the tuning seeds), and the best one.

    Spearman over every held-out example compares labellings on one scale (the split ROC-AUC does not: each
    labelling is another split), and needs nothing but the teacher: no junk labels choose anything.
    """
    rows = []
    for positive_fraction, negative_fraction in LABELLINGS:
        spearmans, aucs = [], []
        for seed in TUNING_SEEDS:
            result = thresher.distill(
                data, scores=scores, by="nll_mean", positive_end="bottom", out=workdir / "labelling-student",
                positive_fraction=positive_fraction, negative_fraction=negative_fraction, holdout=holdout, seed=seed,
                params=params, overwrite=True,
            )  # fmt: skip
            spearmans.append(result.metrics["heldout_spearman"])
            aucs.append(result.metrics["heldout_roc_auc"])
        rows.append({
            "positive_fraction": positive_fraction,
            "negative_fraction": negative_fraction,
            "heldout_spearman": round(float(np.mean(spearmans)), 4),
            "heldout_spearman_std": round(float(np.std(spearmans)), 4),
            "heldout_roc_auc": round(float(np.mean(aucs)), 4),
        })  # fmt: skip
        print(
            f"labelling {positive_fraction}/{negative_fraction}: Spearman {rows[-1]['heldout_spearman']:.4f}",
            flush=True,
        )
    shutil.rmtree(workdir / "labelling-student", ignore_errors=True)
    best = max(rows, key=lambda row: row["heldout_spearman"])
    return rows, (best["positive_fraction"], best["negative_fraction"])


def column_student(
    data: Path, scores: Path, out: Path, labelling: tuple[float, float | None], args: argparse.Namespace,
    nll_mean: np.ndarray, kinds: np.ndarray, **options: Any,
) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """A column-form student at the reported split, and its record: metrics, junk ROC-AUC next to the teacher's."""
    result = thresher.distill(
        data, scores=scores, by="nll_mean", positive_end="bottom", out=out, positive_fraction=labelling[0],
        negative_fraction=labelling[1], holdout=args.holdout, seed=args.seed, **options,
    )  # fmt: skip
    held = result.heldout_rows
    return result, {
        "labelling": {"positive_fraction": labelling[0], "negative_fraction": labelling[1], "positive_end": "bottom"},
        "params": result.record["params"],
        "data": result.data,
        "metrics": result.metrics,
        "heldout_junk_roc_auc": {
            "teacher_nll_mean": junk_aucs(nll_mean[held], kinds[held]),
            # Positives are the teacher's good end, so a student's junk score is 1 − P(positive).
            "student": junk_aucs(1.0 - result.heldout_predictions, kinds[held]),
        },
        "heldout_spearman_with_teacher": result.metrics["heldout_spearman"],
        "model_bytes": sum(entry["bytes"] for entry in result.record["files"].values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000, help="clean GCIDE entries (junk is added on top)")
    parser.add_argument(
        "--eval-entries", type=int, default=400, help="clean held-out entries (benchmarks/distill_eval.py)"
    )
    parser.add_argument("--holdout", type=float, default=0.3, help="share of the corpus the students never see")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--ref-epochs", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thresher-distill"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-head", action="store_true", help="skip the embedding-head student")
    parser.add_argument(
        "--slow-rows", type=int, default=100, help="held-out rows to time the head and SmolLM2-135M on (0: no LM)"
    )
    parser.add_argument("--no-sweep", action="store_true", help="use the student's defaults, no sweep")
    args = parser.parse_args()
    started = time.perf_counter()
    record: dict[str, Any] = {
        "load_at_start": load_average(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
    }
    timings: dict[str, float] = {}
    workdir = args.workdir
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)

    data, _heldout_file, records = build_data(args, workdir)
    kinds = np.array([record["injected"] or "original" for record in records])
    record["corpus"] = {
        "examples": len(records),
        **{kind: int((kinds == kind).sum()) for kind in ("original", *JUNK_KINDS)},
        "inject": INJECT,
        "max_entry_chars": MAX_ENTRY_CHARS,
    }

    step = time.perf_counter()
    reference = workdir / "reference"
    summaries = train_reference(
        data, out=reference, folds=args.folds, id_field="id", epochs=args.ref_epochs, device="cpu", seed=args.seed,
        **MODEL_SHAPE,
    )  # fmt: skip
    timings["reference_seconds"] = round(time.perf_counter() - step, 1)
    print(f"reference models in {timings['reference_seconds']:.0f} s", flush=True)

    step = time.perf_counter()
    scores = workdir / "scores"
    thresher.score(data, scorers=["likelihood"], model=str(reference), out=scores, id_field="id", device="cpu",
                   dtype="float32")  # fmt: skip
    timings["teacher_score_seconds"] = round(time.perf_counter() - step, 1)
    store = ScoreStore.open(scores)
    nll_mean = store.read_columns(["nll_mean"], with_id=False).column("nll_mean").to_numpy()

    step = time.perf_counter()
    if args.no_sweep:
        sweep_rows, chosen = [], {}
    else:
        sweep_rows, chosen = sweep(data, scores, workdir, args.holdout)
    timings["sweep_seconds"] = round(time.perf_counter() - step, 1)
    record["sweep"] = {"grid": SWEEP, "tuning_seeds": list(TUNING_SEEDS), "rows": sweep_rows, "chosen": chosen}
    print(f"sweep chose {chosen} in {timings['sweep_seconds']:.0f} s", flush=True)

    step = time.perf_counter()
    labelling_rows, labelling = labelling_sweep(data, scores, workdir, args.holdout, chosen)
    timings["labelling_sweep_seconds"] = round(time.perf_counter() - step, 1)
    record["labelling_sweep"] = {"tuning_seeds": list(TUNING_SEEDS), "rows": labelling_rows, "chosen": labelling}
    print(f"labelling chosen: {labelling}", flush=True)

    # The column form at the reported split (seed 0): the default labelling, and the one the sweep chose.
    step = time.perf_counter()
    default_labelling = LABELLINGS[0]
    column, record["column_form"] = column_student(
        data, scores, workdir / "student", default_labelling, args, nll_mean, kinds, params=chosen
    )
    student_dir = workdir / "student-chosen"
    _, record["column_form_chosen_labelling"] = column_student(
        data, scores, student_dir, labelling, args, nll_mean, kinds, params=chosen
    )
    timings["distill_seconds"] = round(time.perf_counter() - step, 1)
    held = column.heldout_rows

    head_dir: Path | None = None
    if not args.no_head:
        step = time.perf_counter()
        head_dir = workdir / "head"
        thresher.embed(data, out=scores, id_field="id", device="cpu")  # once; the heads read the cache
        _, record["head"] = column_student(
            data, scores, head_dir, default_labelling, args, nll_mean, kinds, student="head", device="cpu"
        )
        _, record["head_chosen_labelling"] = column_student(
            data, scores, workdir / "head-chosen", labelling, args, nll_mean, kinds, student="head", device="cpu"
        )
        timings["head_seconds"] = round(time.perf_counter() - step, 1)

    # Throughput on the held-out rows, teacher and students in this process, one after the other.
    step = time.perf_counter()
    ids = [records[row]["id"] for row in held]
    batch = pa.record_batch({"id": ids, "text": [records[row]["text"] for row in held]})
    record["throughput"] = throughput(batch, reference, student_dir, head_dir, slow_rows=args.slow_rows)
    timings["throughput_seconds"] = round(time.perf_counter() - step, 1)

    # End to end: `thresher score --scorer fasttext` over the whole corpus, next to the teacher's run.
    thresher.score(data, scorers=["fasttext"], model=str(student_dir), out=scores, id_field="id")
    entries = ScoreStore.open(scores).manifest["scorers"]
    record["end_to_end_examples_per_second"] = {
        name: entries[name].get("examples_per_second") for name in ("likelihood", "fasttext") if name in entries
    }

    # The file form: clean entries positive, junk negative (DCLM's way), same held-out fraction.
    positives = workdir / "clean.jsonl"
    negatives = workdir / "junk.jsonl"
    write_jsonl([r for r in records if r["injected"] is None], positives)
    write_jsonl([r for r in records if r["injected"] is not None], negatives)
    files = thresher.distill(
        positive=positives, negative=negatives, out=workdir / "file-student", id_field="id", holdout=args.holdout,
        seed=args.seed, params=chosen,
    )  # fmt: skip
    row_of = {record["id"]: row for row, record in enumerate(records)}
    file_ids = [r["id"] for r in records if r["injected"] is None] + [r["id"] for r in records if r["injected"]]
    file_rows = np.array([row_of[file_ids[index]] for index in files.heldout_rows])
    record["file_form"] = {
        "data": files.data,
        "metrics": files.metrics,
        "heldout_junk_roc_auc": {
            "teacher_nll_mean": junk_aucs(nll_mean[file_rows], kinds[file_rows]),
            "student_fasttext": junk_aucs(1.0 - files.heldout_predictions, kinds[file_rows]),
        },
        "student_spearman_with_teacher": round(spearman(files.heldout_predictions, -nll_mean[file_rows]), 4),
    }

    timings["total_seconds"] = round(time.perf_counter() - started, 1)
    record["timings"] = timings
    record["reference_final_train_loss"] = [round(summary.final_train_loss, 3) for summary in summaries]
    record["load_at_end"] = load_average()
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (args.results / "summary.md").write_text(summary(record, args))
    print(f"total {timings['total_seconds']:.0f} s → {args.results}")


def _labelling_name(labelling: dict[str, Any] | tuple[float, float | None]) -> str:
    positive, negative = (
        (labelling["positive_fraction"], labelling["negative_fraction"]) if isinstance(labelling, dict) else labelling
    )
    rest = "all the rest" if negative is None else f"the top {negative:.0%}"
    return f"positives the bottom {positive:.0%} of `nll_mean`, negatives {rest}"


def summary(record: dict[str, Any], args: argparse.Namespace) -> str:
    """summary.md: the corpus, junk ROC-AUC and agreement, throughput, the sweeps, machine load."""
    default, chosen = record["column_form"], record["column_form_chosen_labelling"]
    files, speed, corpus = record["file_form"], record["throughput"], record["corpus"]
    teacher_auc = default["heldout_junk_roc_auc"]["teacher_nll_mean"]

    def auc_row(name: str, aucs: dict[str, Any]) -> str:
        return f"| {name} | " + " | ".join(f"{aucs[key]:.3f}" for key in ("all", *JUNK_KINDS)) + " |"

    def share(entry: dict[str, Any]) -> str:
        return f"{entry['heldout_junk_roc_auc']['student']['all'] / teacher_auc['all']:.0%}"

    auc_rows = [
        auc_row("teacher: `nll_mean` of the 2-fold reference", teacher_auc),
        auc_row(
            f"fastText, default labelling ({share(default)} of the teacher)",
            default["heldout_junk_roc_auc"]["student"],
        ),
        auc_row(f"fastText, chosen labelling ({share(chosen)})", chosen["heldout_junk_roc_auc"]["student"]),
    ]
    for key, name in (("head", "default"), ("head_chosen_labelling", "chosen")):
        if key in record:
            entry = record[key]
            auc_rows.append(auc_row(f"MiniLM + logistic-regression head, {name} labelling ({share(entry)})",
                                    entry["heldout_junk_roc_auc"]["student"]))  # fmt: skip
    auc_rows += [
        auc_row("teacher, on the file form's held-out rows", files["heldout_junk_roc_auc"]["teacher_nll_mean"]),
        auc_row("fastText, file form (clean entries vs junk)", files["heldout_junk_roc_auc"]["student_fasttext"]),
    ]
    agreement = [
        f"| {_labelling_name(entry['labelling'])} | {entry['metrics']['heldout_roc_auc']:.3f} | "
        f"{entry['heldout_spearman_with_teacher']:.3f} |"
        for entry in (default, chosen)
    ]
    speeds = [
        f"| teacher: likelihood, 2-fold reference, {key.split('_')[1]} torch thread(s) | {speed['rows']} | "
        f"{value['examples_per_second']:,.0f} |"
        for key, value in speed.items()
        if key.startswith("teacher_")
    ]
    speeds.append(
        f"| fastText student, 1 thread | {speed['rows']} | {speed['student_fasttext']['examples_per_second']:,.0f} |"
    )
    if "student_head" in speed:
        head = speed["student_head"]
        speeds.append(
            f"| head student (MiniLM embedding + head) | {head['rows']} | {head['examples_per_second']:,.1f} |"
        )
    if "smollm2_135m" in speed:
        lm = speed["smollm2_135m"]
        speeds.append(
            f"| for scale: likelihood with SmolLM2-135M ({lm['dtype']}) | {lm['rows']} | "
            f"{lm['examples_per_second']:,.1f} |"
        )
    end_to_end = ", ".join(
        f"{name} {value:,.0f} examples/s" for name, value in record["end_to_end_examples_per_second"].items()
    )
    versus_lm = (
        f"; ÷ SmolLM2-135M: {speed['speedup_fasttext_over_smollm2']:,.0f}×"
        if "speedup_fasttext_over_smollm2" in speed
        else ""
    )
    params = default["params"]
    labelling_rows = [
        f"| {row['positive_fraction']:g} | {row['negative_fraction'] or 'all the rest'} "
        f"| {row['heldout_spearman']:.4f} | {row['heldout_spearman_std']:.4f} | {row['heldout_roc_auc']:.4f} |"
        for row in record["labelling_sweep"]["rows"]
    ]
    sweep_rows = [
        f"| {r['epochs']} | {r['dim']} | {r['lr']} | {r['min_count']} | {r['heldout_roc_auc']:.4f} | "
        f"{r['heldout_roc_auc_std']:.4f} | {r['heldout_spearman']:.4f} | {r['train_seconds']:.2f} |"
        for r in record["sweep"]["rows"]
    ]
    lines = [
        "# Distilling a reference model's NLL into a fastText classifier (GCIDE with injected junk)",
        "",
        f"{corpus['examples']} documents: {corpus['original']} GCIDE entries (≤ {corpus['max_entry_chars']} "
        f"characters) plus {corpus['dup']} exact duplicates, {corpus['shuffled']} word-shuffled entries and "
        f"{corpus['random']} random-character texts. Teacher: `nll_mean` of a 2-fold `train-ref` GPT-2 "
        f"({MODEL_SHAPE['n_layer']} layers × {MODEL_SHAPE['n_embd']}), each example scored by the fold model that did "
        "not see it. Junk has a high NLL, so the teacher's good end is the **bottom** of `nll_mean` (a column whose "
        "declared direction is higher = more important): every student here is `thresher distill --by nll_mean "
        f"--positive-end bottom`. {args.holdout:g} of the examples are held out (seeded id hash, seed 0); every "
        "number below is on them, and nothing below was chosen on them.",
        "",
        "## Junk ROC-AUC on the held-out rows",
        "",
        "Teacher: `nll_mean` (higher = junk); students: 1 − P(positive). `all`: every junk kind vs the originals; "
        "then each kind alone vs the originals. In brackets: the student's share of the teacher's `all` (goal: 90 %).",
        "",
        "| scorer | all | dup | shuffled | random |",
        "|---|---:|---:|---:|---:|",
        *auc_rows,
        "",
        f"Default labelling: {_labelling_name(default['labelling'])} (`thresher distill`'s defaults, DCLM's top "
        "10 %). "
        f"Chosen labelling: {_labelling_name(chosen['labelling'])}, the best held-out Spearman with the teacher on "
        "the tuning splits (below). Exact duplicates are the same text as an original: no per-example score can tell "
        "them apart (dedup can). The file form learns from the known answer, so it is the ceiling of this student, "
        "not a distillation.",
        "",
        "Agreement with the teacher (fastText, held out):",
        "",
        "| labelling | ROC-AUC on the teacher's split | Spearman with `nll_mean` |",
        "|---|---:|---:|",
        *agreement,
        "",
        "## Throughput on the same held-out rows, this run, this machine",
        "",
        "`score_batch` after `setup()` (model loading not counted), best of repeated passes, one after the other:",
        "",
        "| scorer | rows | examples/s |",
        "|---|---:|---:|",
        *speeds,
        "",
        f"fastText ÷ fastest teacher: **{speed['speedup_fasttext_over_fastest_teacher']:,.0f}×** (goal ≥ 1000×)"
        f"{versus_lm}. End to end (`thresher score`, reading and writing included): {end_to_end}. fastText model: "
        f"{default['model_bytes'] / 1e6:.1f} MB.",
        "",
        "## Labelling: positives and negatives from the teacher column",
        "",
        f"Mean over held-out seeds {', '.join(map(str, TUNING_SEEDS))} (not the reported split), fastText at the "
        "chosen settings. Spearman over every held-out example compares labellings on one scale; the split's ROC-AUC "
        "is on each labelling's own split.",
        "",
        "| positive fraction | negatives | Spearman | ± | ROC-AUC (own split) |",
        "|---:|---|---:|---:|---:|",
        *labelling_rows,
        "",
        "## fastText settings: the sweep",
        "",
        f"Default labelling, held-out seeds {', '.join(map(str, TUNING_SEEDS))}: the best mean ROC-AUC on the "
        "teacher's split, and among settings within 0.002 of it the smallest dim, then the fewest epochs. Chosen: "
        f"{record['sweep']['chosen']}. Throughout: word_ngrams {params['word_ngrams']}, bucket {params['bucket']:,}, "
        f"loss {params['loss']}, {params['threads']} thread.",
        "",
        "| epochs | dim | lr | min_count | ROC-AUC (teacher split) | ± | Spearman | train s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *sweep_rows,
        "",
        f"Times (s): {json.dumps(record['timings'])}. Machine: {record['machine']}, shared with other jobs; load at "
        f"start `{record['load_at_start']['uptime']}`, at end `{record['load_at_end']['uptime']}`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
