"""How far apart do runs of one cell land? The lm target's seed spread on GCIDE with long entries and junk.

The test case of issue 15: GCIDE entries of 80–2,000 characters (3,300 sampled) plus 15 % injected junk (5 % each
of exact duplicates, word-shuffled entries and random characters) — the file
`python scripts/build_corpus.py gcide --out F --limit 3300 --min-chars 80 --max-chars 2000
--inject dup=0.05,shuffled=0.05,random=0.05` writes. `thresher eval --task lm --budget tokens` holds out 10 % by id
(junk included, as a user's held-out part would be) and trains `full` and `random` at keep 0.5 over several seeds.
The seed spread of a cell is max − min and the standard deviation (n − 1) of its held-out NLL per token; the goal is
at most 0.05 nats/token for both cells.

Each *recipe* is a set of lm-target parameters (`-p lm.NAME=VALUE`): `before` is the target's defaults before
issue 15, `after` today's defaults (no parameters), and the others change one thing at a time from `before`, to
find what made runs split.

    python benchmarks/lm_stability.py [--recipes before,after] [--seeds 3] [--threads 1]

Writes benchmarks/results/lm_stability/ (results.json, summary.md, and each recipe's eval report under
recipes/NAME/) and prints the time taken.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import thresher
from thresher.data.corpora.build import build_corpus, write_jsonl

RESULTS = Path(__file__).parent / "results" / "lm_stability"
CORPUS = {"limit": 3300, "min_chars": 80, "max_chars": 2000, "inject": {"dup": 0.05, "shuffled": 0.05, "random": 0.05}}
GOAL = 0.05  # nats/token: the largest seed spread (max − min) of full data and of random at keep 0.5

# The lm target's defaults before issue 15, spelled out so that the comparison survives a change of defaults.
BEFORE = {
    "context_length": 64,
    "batch_size": 16,
    "epochs": 2.0,
    "learning_rate": 3e-3,
    "min_learning_rate": 3e-4,
    "warmup_fraction": 0.05,
    "grad_clip": 1.0,
}
RECIPES: dict[str, dict[str, Any]] = {
    "before": BEFORE,
    "after": {},  # today's defaults
    # One change at a time from `before`, each a suspect of the issue:
    "no_warmup": {**BEFORE, "warmup_fraction": 0.0},
    "no_clip": {**BEFORE, "grad_clip": 1e9},
    "lr_1e-2": {**BEFORE, "learning_rate": 1e-2, "min_learning_rate": 1e-3},
    "lr_1e-3": {**BEFORE, "learning_rate": 1e-3, "min_learning_rate": 1e-4},
    "epochs_1": {**BEFORE, "epochs": 1.0},
    "epochs_4": {**BEFORE, "epochs": 4.0},
    "context_256": {**BEFORE, "context_length": 256, "batch_size": 4},
}


def spread(values: list[float]) -> dict[str, float]:
    """max − min, standard deviation (n − 1) and mean of one cell's values over seeds."""
    array = np.asarray(values, dtype=np.float64)
    return {
        "range": float(array.max() - array.min()),
        "std": float(array.std(ddof=1)) if array.size > 1 else 0.0,
        "mean": float(array.mean()),
        "n": int(array.size),
    }


def run_recipe(name: str, params: dict[str, Any], data: Path, out: Path, seeds: int) -> dict[str, Any]:
    """Run `full` and `random` at keep 0.5 with one recipe; give each cell's values and spread."""
    started = time.perf_counter()
    result = thresher.evaluate(
        data, task="lm", out=out, methods=["random", "full"], keep=[0.5], seeds=seeds, id_field="id",
        budget="tokens", params={f"lm.{key}": value for key, value in params.items()},
    )  # fmt: skip
    cells: dict[str, dict[str, Any]] = {}
    for cell in ("full", "random"):
        values = [run.metrics["nll_per_token"] for run in result.runs if run.method == cell]
        cells[cell] = {"values": values, **spread(values)}
    return {
        "params": result.params["lm"],
        "cells": cells,
        "steps": result.config["target"]["full_data_steps"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def summary_lines(recipes: dict[str, dict[str, Any]], seeds: int) -> list[str]:
    lines = [
        f"Held-out NLL per token (nats) over {seeds} seeds; spread = max − min (goal ≤ {GOAL}).",
        "",
        "| recipe | changes | steps | full mean | full spread | full std | random 0.5 mean | random spread "
        "| random std | minutes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, recipe in recipes.items():
        changes = ", ".join(f"{k}={v:g}" for k, v in RECIPES.get(name, {}).items() if BEFORE.get(k) != v) or (
            "defaults before issue 15" if name == "before" else "today's defaults" if name == "after" else ""
        )
        full, random = recipe["cells"]["full"], recipe["cells"]["random"]
        lines.append(
            f"| {name} | {changes} | {recipe['steps']} | {full['mean']:.4f} | {full['range']:.4f} | {full['std']:.4f} "
            f"| {random['mean']:.4f} | {random['range']:.4f} | {random['std']:.4f} | {recipe['seconds'] / 60:.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="before,after", help=f"comma-separated, of {', '.join(RECIPES)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thresher-lm-stability"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = [name.strip() for name in args.recipes.split(",") if name.strip()]
    unknown = [name for name in names if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    started = time.perf_counter()
    # One intra-op thread: tiny models on a CPU shared with other jobs run far slower with two spinning threads.
    torch.set_num_threads(args.threads)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    data = args.workdir / "gcide_long.jsonl"
    count = write_jsonl(build_corpus("gcide", seed=0, **CORPUS), data)
    print(f"{count} documents → {data}", flush=True)

    results_path = args.results / "results.json"
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}
    recipes: dict[str, dict[str, Any]] = dict(previous.get("recipes", {}))
    for name in names:
        recipes[name] = run_recipe(name, RECIPES[name], data, args.results / "recipes" / name, args.seeds)
        cells = recipes[name]["cells"]
        print(
            f"{name}: full {cells['full']['mean']:.4f} (spread {cells['full']['range']:.4f}), "
            f"random 0.5 {cells['random']['mean']:.4f} (spread {cells['random']['range']:.4f}), "
            f"{recipes[name]['seconds']:.0f} s",
            flush=True,
        )
        record = {
            "corpus": {**CORPUS, "documents": count},
            "seeds": args.seeds,
            "goal": GOAL,
            "recipes": recipes,
            "machine": {"cpus": os.cpu_count(), "threads": args.threads, "platform": platform.platform()},
        }
        args.results.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(record, indent=2) + "\n")
        (args.results / "summary.md").write_text("\n".join(summary_lines(recipes, args.seeds)) + "\n")
    print(f"total {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
