"""Peak memory (RSS) of `thresher score` and `thresher select` against input size: it must not grow with it.

Writes JSONL inputs of short examples (10k, 100k, 1M by default), then runs, each in a fresh process,
`thresher score INPUT --scorer compression` and `thresher select ... --by zlib_ratio --keep 0.5`, and reads
each process's peak resident set size from the kernel (`wait4`). Results go to benchmarks/results/memory.*.

Usage:
    python benchmarks/memory.py [--sizes 10000,100000,1000000] [--workdir /tmp/thresher-memory] [--select-only]

`--select-only` re-measures selection over the score directories an earlier run left in the workdir and keeps
that run's scoring figures (scoring 1M rows takes ~20 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def write_input(path: Path, rows: int) -> None:
    """Short, mostly distinct texts (with some exact repeats) and an extra field, like a real JSONL corpus."""
    with path.open("w") as out:
        for i in range(rows):
            text = f"sample {i % (rows // 2 + 1)} says {i * 2654435761 % 1_000_003} things"
            out.write(json.dumps({"text": text, "source": "memory-benchmark", "n": i}) + "\n")


def run_measured(command: list[str]) -> tuple[float, float]:
    """Run `command`; return (peak RSS in MiB, wall seconds). Raises if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thresher-memory"))
    parser.add_argument("--select-only", action="store_true", help="reuse the last run's scores and score figures")
    args = parser.parse_args()
    previous = {}
    if args.select_only:
        previous = {run["rows"]: run for run in json.loads((RESULTS / "memory.json").read_text())["runs"]}
    args.workdir.mkdir(parents=True, exist_ok=True)
    thresher = [sys.executable, "-m", "thresher.cli"]
    rows_out = []
    for rows in (int(size) for size in args.sizes.split(",")):
        data = args.workdir / f"input-{rows}.jsonl"
        if not data.exists():
            write_input(data, rows)
        scores = args.workdir / f"scores-{rows}"
        if args.select_only:
            if rows not in previous or not (scores / "manifest.json").exists():
                raise SystemExit(f"--select-only: no earlier run for {rows} rows in {RESULTS} and {args.workdir}")
            score_rss, score_seconds = previous[rows]["score_peak_rss_mib"], previous[rows]["score_seconds"]
        else:
            shutil.rmtree(scores, ignore_errors=True)  # a fresh run each time: nothing reused from an earlier one
            score_rss, score_seconds = run_measured(
                [*thresher, "score", str(data), "--scorer", "compression", "--out", str(scores), "--quiet"]
            )
        select_rss, select_seconds = run_measured(
            [
                *thresher,
                "select",
                str(data),
                "--scores",
                str(scores),
                "--by",
                "zlib_ratio",
                "--keep",
                "0.5",
                "--strategy",
                "top",
                "--out",
                str(args.workdir / f"kept-{rows}.jsonl"),
            ]
        )
        row = {
            "rows": rows,
            "input_mib": round(data.stat().st_size / 2**20, 1),
            "score_peak_rss_mib": round(score_rss, 1),
            "score_seconds": round(score_seconds, 1),
            "select_peak_rss_mib": round(select_rss, 1),
            "select_seconds": round(select_seconds, 1),
        }
        print(json.dumps(row), flush=True)
        rows_out.append(row)
    report = {
        "benchmark": "memory",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "scorer": "compression",
        "select_only": args.select_only,
        "runs": rows_out,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Peak memory against input size",
        "",
        "Each command runs in a fresh process; peak RSS from the kernel (`wait4`). Scorer: compression.",
        "",
        *(
            ["Select re-measured with `--select-only`; score figures from the earlier full run.", ""]
            if args.select_only
            else []
        ),
        "| rows | input MiB | score peak RSS MiB | score s | select peak RSS MiB | select s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows_out:
        lines.append(
            f"| {row['rows']:,} | {row['input_mib']} | {row['score_peak_rss_mib']} | {row['score_seconds']} "
            f"| {row['select_peak_rss_mib']} | {row['select_seconds']} |"
        )
    (RESULTS / "memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
