"""Does the distilled student select as well as its teacher? `thresher eval --task lm` on the distill benchmark's data.

Reads the work directory `benchmarks/distill.py` leaves (GCIDE entries with 15 % injected junk, a clean held-out
file of other entries, and a score directory with the teacher's `nll_mean` and the chosen-labelling fastText
student's `fasttext_score`), adds MinHash near-duplicate flags to that score directory (for the pipeline), and trains
the lm target (`--budget tokens`, the distill benchmark's model shape) on what each method keeps:

- `random`, `full`;
- the teacher's selection, `nll_mean:bottom` (keep the lowest NLL: junk has a high NLL);
- the student's selection, `fasttext_score` (keep the highest P(positive));
- one pipeline, `pipeline:examples/pipelines/dclm_fineweb.yaml`: MinHash dedup → drop the 5 % highest `nll_mean`
  → softmax sampling on `fasttext_score` (τ = 0.5) down to the keep ratio;

at keep 0.3 / 0.5 / 0.7, 3 seeds, runs paired by seed; the harness's paired t-test decides "beats random" and
"beats full". Held-out NLL per token is measured on the clean held-out entries, so a method that keeps junk pays.

    python benchmarks/distill.py                 # once: builds the work directory (about 30 min)
    python benchmarks/distill_eval.py [--workdir /tmp/thresher-distill] [--seeds 3] [--jobs 1]

Writes benchmarks/results/distill/eval/ (the harness's results.json, curves.png, compute.png, report.html) and
summary.md there, and prints the time taken.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from distill import EVAL_KEEPS, MODEL_SHAPE, load_average  # this benchmark's sibling: the same lm shape and keeps

import thresher
from thresher.store import ScoreStore

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "distill" / "eval"
PIPELINE = ROOT / "examples" / "pipelines" / "dclm_fineweb.yaml"


def summary_lines(results: dict[str, Any], seconds: float, load: tuple[str, str]) -> list[str]:
    """summary.md: per cell, the mean held-out NLL with its interval and the paired verdicts."""
    lines = [
        "# Teacher vs distilled student vs a pipeline: lm target on GCIDE with junk",
        "",
        f"{results['config']['train_examples']} training documents (GCIDE + 15 % injected junk), "
        f"{results['config']['eval_examples']} clean held-out entries; `thresher eval --task lm --budget tokens`, "
        f"{results['config']['seeds']} seeds paired by seed. Held-out NLL per token (nats, lower is better). "
        f"Evaluation {seconds / 60:.1f} min on 2 shared cores; `uptime` before: `{load[0]}`, after: `{load[1]}`.",
        "",
        "Verdicts: paired t-test on the per-seed differences at α = 0.05 (`thresher.eval.stats`); *undecided* "
        "gives the seeds that would reach 80 % power at the observed effect.",
        "",
        "| method | keep | nll_per_token [95 % interval] | vs random | vs full |",
        "|---|---:|---|---|---|",
    ]

    def verdict(comparison: dict[str, Any] | None) -> str:
        if not comparison or comparison.get("p_value") is None:
            return ""
        shown = f"{comparison['mean_difference']:+.4f}, p {comparison['p_value']:.2g}"
        if comparison["verdict"] in ("better", "worse"):
            return f"**{comparison['verdict']}** ({shown})"
        needed = comparison.get("seeds_needed")
        return f"undecided ({shown}{f'; ~{needed} seeds' if needed else ''})"

    for cell in results["summary"]["cells"]:
        metric = cell["metrics"]["nll_per_token"]
        span = f" [{metric['low']:.4f}, {metric['high']:.4f}]" if metric.get("low") is not None else ""
        lines.append(
            f"| {cell['method']} | {cell['keep']:g} | {metric['mean']:.4f}{span} | "
            f"{verdict(cell.get('vs_random'))} | {verdict(cell.get('vs_full'))} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thresher-distill"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data, eval_file = args.workdir / "gcide_junk.jsonl", args.workdir / "gcide_heldout.jsonl"
    scores = args.workdir / "scores"
    if not (scores / "manifest.json").exists():
        raise SystemExit(f"{scores}: no score directory; run benchmarks/distill.py first")
    columns = ScoreStore.open(scores).column_infos()
    missing = [name for name in ("nll_mean", "fasttext_score") if name not in columns]
    if missing:
        raise SystemExit(f"{scores}: missing {', '.join(missing)}; run benchmarks/distill.py first")
    if "minhash_keep" not in columns:
        thresher.score(data, scorers=["minhash"], out=scores, id_field="id")

    load_before = load_average()["uptime"]
    started = time.perf_counter()
    methods = ["random", "full", "nll_mean:bottom", "fasttext_score", f"pipeline:{PIPELINE}"]
    thresher.evaluate(
        data, task="lm", out=RESULTS, methods=methods, keep=EVAL_KEEPS, seeds=args.seeds, scores=scores,
        eval_file=eval_file, id_field="id", budget="tokens", seed=0, device="cpu", jobs=args.jobs,
        params={"epochs": 1.5, **MODEL_SHAPE}, show_progress=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    results = json.loads((RESULTS / "results.json").read_text())
    text = "\n".join(summary_lines(results, seconds, (load_before, load_average()["uptime"])))
    (RESULTS / "summary.md").write_text(text)
    print(text)
    print(f"total {seconds:.0f} s ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
