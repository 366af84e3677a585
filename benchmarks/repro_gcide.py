"""Does likelihood or compression pruning help LM pretraining on real text with known junk? GCIDE entries.

Builds `gcide` (dictionary entries as documents) with the package's corpus builder, holds out clean entries for
evaluation, and injects known junk into the training part (5% each of exact duplicates, word-shuffled entries
and random characters, marked `injected`). Then, all through thresher's Python API:

1. `train_reference(..., folds=2)` (= `thresher train-ref --folds 2`): two small GPT-2 reference models, each
   trained on one half, so every example is scored by the model that did not see it (Kim & Baek 2024);
2. `thresher.score` with `likelihood` (that k-fold model directory) and `compression`;
3. `thresher.evaluate(task="lm", budget="tokens")`: a tiny GPT-2 trained from scratch on what each method keeps,
   for as many tokens as the full-data run (so a method is judged by what it keeps, not by how much compute
   it gets), held-out NLL per token:
   `random`, `full`, `nll_mean` (keep the highest NLL: prune the most predictable first), `nll_mean:bottom`
   (the opposite), `zlib_ratio` (keep the least compressible), `zlib_ratio:bottom`.

It also reports, per method and keep, how much of each junk kind survived: the known answer.

    python benchmarks/repro_gcide.py [--train 1600] [--eval 400] [--seeds 3] [--workdir /tmp/...]
    python benchmarks/repro_gcide.py --methods random,full,zip,minhash_keep:dedup,density:ips \
        --results benchmarks/results/repro_gcide_setlevel
    python benchmarks/repro_gcide.py --inject none --results benchmarks/results/repro_gcide_clean   # no junk

Writes benchmarks/results/repro_gcide/ (results.json, curves.png, report.html, summary.md) and prints the
total time. `--methods` takes any `thresher eval` methods; the scorers their columns need (minhash, density,
semdedup) are run as well.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

import thresher
from thresher.data.corpora.build import build_corpus, write_jsonl
from thresher.data.corpora.inject import JUNK_KINDS, inject_junk, parse_inject_spec
from thresher.eval.choose import build_strategies, choose_all
from thresher.eval.data import training_columns
from thresher.eval.plan import PlannedRun, parse_methods
from thresher.store import ScoreStore
from thresher.train_ref import train_reference

sys.path.insert(0, str(Path(__file__).parent))
from repro_wordnet import summary_table  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)

RESULTS = Path(__file__).parent / "results" / "repro_gcide"
KEEPS = (0.3, 0.5, 0.7, 0.9)
METHODS = ["random", "full", "nll_mean", "nll_mean:bottom", "zlib_ratio", "zlib_ratio:bottom"]
INJECT = "dup=0.05,shuffled=0.05,random=0.05"
# Small enough that a dozen-odd runs take minutes on two shared CPU cores; the same shape for the reference
# models and the eval target (the harness's default tiny GPT-2).
MODEL_SHAPE = {"vocab_size": 1024, "n_layer": 2, "n_head": 2, "n_embd": 64, "context_length": 64}
MAX_ENTRY_CHARS = 2000  # the few very long entries (`Law`: 17k characters) would dominate the token count


# Scorers to run for the columns a method may name, beyond likelihood and compression.
EXTRA_SCORERS = {"minhash_keep": "minhash", "semdedup_keep": "semdedup", "density": "density"}


def junk_survival(
    result: Any, store: ScoreStore, injected: list[str | None], texts: list[str]
) -> dict[tuple[str, float], dict[str, float]]:
    """Per method and keep: the share of each junk kind (and of the originals) that the selection kept,
    mean over seeds, recomputed with the harness's own choose step."""
    kinds = np.array([kind or "original" for kind in injected])
    survived: dict[tuple[str, float], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    methods = {method.name: method for method in parse_methods(result.config["methods"], store.column_infos())}
    runs = [PlannedRun(methods[run.method], run.keep, run.seed) for run in result.runs]
    wanted = [run.method.column for run in runs if run.method.column is not None]
    columns = training_columns(store, wanted, np.arange(len(texts)))  # --eval-file: every row is a training row
    strategies = build_strategies([run.method for run in runs], result.params)
    for run, rows in zip(result.runs, choose_all(runs, columns, texts, strategies), strict=True):
        kept = np.zeros(len(kinds), dtype=bool)
        kept[rows] = True
        for kind in ("original", *JUNK_KINDS):
            if (kinds == kind).any():
                survived[(run.method, run.keep)][kind].append(float(kept[kinds == kind].mean()))
    return {key: {kind: float(np.mean(v)) for kind, v in by_kind.items()} for key, by_kind in survived.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1600, help="clean training entries (junk is added on top)")
    parser.add_argument("--eval", type=int, default=400, help="clean held-out entries")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--ref-epochs", type=float, default=3.0)
    parser.add_argument("--eval-epochs", type=float, default=1.5, help="epochs of the full-data eval run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thresher-repro-gcide"))
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--methods", default=",".join(METHODS), help="thresher eval methods, comma-separated")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where results and summary.md go")
    parser.add_argument("--inject", default=INJECT, help="junk added to the training part, or 'none'")
    args = parser.parse_args()
    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    extra_scorers = sorted({EXTRA_SCORERS[c] for c in (m.partition(":")[0] for m in methods) if c in EXTRA_SCORERS})
    started = time.perf_counter()
    # One intra-op thread: tiny models on a CPU shared with other jobs run far slower with two spinning threads.
    torch.set_num_threads(args.threads)
    timings: dict[str, float] = {}

    rng = np.random.default_rng(args.seed)
    # Oversample, drop the longest entries, then take the clean held-out and training parts.
    pool = build_corpus("gcide", limit=3 * (args.train + args.eval), seed=args.seed)
    pool = [record for record in pool if len(record["text"]) <= MAX_ENTRY_CHARS]
    chosen = [pool[i] for i in rng.permutation(len(pool))[: args.train + args.eval]]
    held_out, clean_train = chosen[: args.eval], chosen[args.eval :]
    train = inject_junk(clean_train, {} if args.inject == "none" else parse_inject_spec(args.inject), rng)
    workdir = args.workdir
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    data, eval_path = workdir / "gcide_train.jsonl", workdir / "gcide_heldout.jsonl"
    write_jsonl(train, data)
    write_jsonl(held_out, eval_path)

    step = time.perf_counter()
    reference = workdir / "reference"
    summaries = train_reference(
        data, out=reference, folds=args.folds, id_field="id", epochs=args.ref_epochs, device="cpu", seed=args.seed,
        **MODEL_SHAPE,
    )  # fmt: skip
    timings["reference_seconds"] = round(time.perf_counter() - step, 1)
    print(f"reference models ({args.folds} folds) in {timings['reference_seconds']:.0f} s", flush=True)

    step = time.perf_counter()
    scores = workdir / "scores"
    thresher.score(
        data, scorers=["likelihood", "compression", *extra_scorers], model=str(reference), out=scores,
        id_field="id", device="cpu", dtype="float32",
    )  # fmt: skip
    timings["score_seconds"] = round(time.perf_counter() - step, 1)
    print(f"scored in {timings['score_seconds']:.0f} s", flush=True)

    step = time.perf_counter()
    result = thresher.evaluate(
        data, task="lm", out=args.results, methods=methods, keep=KEEPS, seeds=args.seeds, scores=scores,
        eval_file=eval_path, id_field="id", budget="tokens", seed=args.seed, device="cpu",
        params={"epochs": args.eval_epochs, **MODEL_SHAPE}, show_progress=args.progress,
    )  # fmt: skip
    timings["eval_seconds"] = round(time.perf_counter() - step, 1)
    print(f"evaluated {len(result.runs)} runs in {timings['eval_seconds']:.0f} s", flush=True)

    injected = [record["injected"] for record in train]
    survival = junk_survival(result, ScoreStore.open(scores), injected, [record["text"] for record in train])
    timings["total_seconds"] = round(time.perf_counter() - started, 1)
    write_summary(result, survival, summaries, timings, args, injected)
    (args.results / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"total time: {timings['total_seconds']:.0f} s ({timings['total_seconds'] / 60:.1f} min)")


def write_summary(
    result: Any,
    survival: dict[tuple[str, float], dict[str, float]],
    summaries: list[Any],
    timings: dict[str, float],
    args: argparse.Namespace,
    injected: list[str | None],
) -> None:
    """summary.md: setup, the held-out NLL table with junk survival, and the reference models' training."""
    runs = [{"method": r.method, "keep": r.keep, "seed": r.seed, "metrics": r.metrics} for r in result.runs]
    counts = {kind: sum(1 for value in injected if value == kind) for kind in JUNK_KINDS}
    config = result.config
    extra = {
        key: " / ".join(f"{by_kind[kind]:.0%}" if kind in by_kind else "–" for kind in ("original", *JUNK_KINDS))
        for key, by_kind in survival.items()
    }
    ref_losses = ", ".join(f"{summary.final_train_loss:.2f}" for summary in summaries)
    lines = [
        "# GCIDE LM pretraining " + ("without injected junk" if args.inject == "none" else "with injected junk"),
        "",
        f"{config['train_examples']} training documents: {args.train} GCIDE entries (≤ {MAX_ENTRY_CHARS} "
        f"characters) plus {counts['dup']} exact duplicates, {counts['shuffled']} word-shuffled entries and "
        f"{counts['random']} random-character texts; {config['eval_examples']} clean held-out entries. "
        f"Reference: `train_reference(folds={args.folds})`, GPT-2 {MODEL_SHAPE['n_layer']} layers × "
        f"{MODEL_SHAPE['n_embd']}, {args.ref_epochs:g} epochs per fold (final train loss {ref_losses}), each example "
        "scored by the fold model that did not see it. Target: the harness's tiny GPT-2 trained from scratch "
        f"with `budget=tokens` (every run as many steps as the full-data run, {config['target']['full_data_steps']} "
        f"steps = {args.eval_epochs:g} epochs of full data); {config['seeds']} seeds per cell. "
        f"Untrained model: {result.reference.get('nll_per_token', float('nan')):.3f} nats/token.",
        "",
        f"Times: reference {timings['reference_seconds']:.0f} s, scoring {timings['score_seconds']:.0f} s, "
        f"evaluation {timings['eval_seconds']:.0f} s, total {timings['total_seconds']:.0f} s "
        f"({platform.machine()}, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end).",
        "",
        "Held-out NLL per token (nats, lower is better). *vs random* / *vs full* — the paired t-test on the "
        "per-seed differences (runs paired by seed) at α = 0.05: **better** or worse when p < 0.05, otherwise "
        "undecided with the seeds that would give the test 80 % power at the observed difference and spread. Last "
        "column: share kept of originals / dup / shuffled / random junk (mean over seeds).",
        "",
        *summary_table(runs, "nll_per_token", extra, "kept: orig / dup / shuffled / random"),
        "",
    ]
    (args.results / "summary.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
