"""Peak memory and wall time of the sampling strategies, fusion and a pipeline, against streamed `top` of the same run.

`softmax`, `pareto` and `band` stream (passes over the score shards, as `top` does), so their peak RSS should stay
flat from 10⁵ to 10⁶ rows and near `top`'s; `--fuse` and `--pipeline` choose in memory, so theirs grows with the
rows (the columns they read, plus the in-memory selection), like `top --in-memory`.

Input and scores: `benchmarks/scale.py`'s synthetic JSON Lines and synthetic compression score directory (seeded
random ratios in the columns `zlib_ratio`, `zstd_ratio`, `lzma_ratio`), made once per size in the work directory and
reused. Each command runs in a fresh process under `/usr/bin/time` (`scale.measure`).

Results go to benchmarks/results/sampling.json and sampling.md, with ratios against `select top` (streamed) at the
same size and between sizes.

Usage:
    python benchmarks/sampling.py [--sizes 100000,1000000] [--workdir /tmp/thresher-sampling]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from scale import THRESHER, measure, uptime, write_input, write_synthetic_scores  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PIPELINE = """steps:
  - {by: zlib_ratio, strategy: bottom, drop: 0.1}
  - {by: zstd_ratio, strategy: softmax, params: {temperature: 0.05}}
"""
BASELINE = "select top"


def variants(pipeline: Path) -> list[tuple[str, list[str]]]:
    return [
        (BASELINE, ["--by", "zlib_ratio", "--strategy", "top", "--keep", "0.5"]),
        ("select softmax", ["--by", "zlib_ratio", "--strategy", "softmax", "-p", "temperature=0.05", "--keep", "0.5"]),
        ("select pareto", ["--by", "zlib_ratio", "--strategy", "pareto"]),
        ("select band", ["--by", "zlib_ratio", "--strategy", "band", "-p", "low=0.25", "-p", "high=0.75"]),
        ("select top --in-memory", ["--by", "zlib_ratio", "--strategy", "top", "--keep", "0.5", "--in-memory"]),
        ("select --fuse rank-mean", ["--by", "zlib_ratio,zstd_ratio", "--fuse", "rank-mean", "--keep", "0.5"]),
        ("select --pipeline (2 steps)", ["--pipeline", str(pipeline), "--keep", "0.5"]),
    ]


def ratios(runs: list[dict]) -> list[str]:
    by_command: dict[str, dict[int, dict]] = {}
    for run in runs:
        by_command.setdefault(run["command"], {})[run["rows"]] = run
    lines = []
    baseline = by_command.get(BASELINE, {})
    for command, sizes in by_command.items():
        if len(sizes) > 1:
            low, high = min(sizes), max(sizes)
            growth = sizes[high]["peak_rss_mib"] / sizes[low]["peak_rss_mib"]
            lines.append(f"`{command}`: peak RSS at {high:,} rows ÷ at {low:,} = {growth:.3f}")
        if command == BASELINE:
            continue
        for rows, run in sorted(sizes.items()):
            if rows in baseline:
                rss = run["peak_rss_mib"] / baseline[rows]["peak_rss_mib"]
                seconds = run["seconds"] / baseline[rows]["seconds"]
                lines.append(f"`{command}` ÷ `{BASELINE}` at {rows:,} rows: peak RSS {rss:.3f}, time {seconds:.3f}")
    return lines


def markdown(data: dict) -> str:
    lines = [
        "# Sampling strategies, fusion and pipelines: peak memory and wall time",
        "",
        "Written by `benchmarks/sampling.py` on `benchmarks/scale.py`'s synthetic input and scores. Each command runs",
        f"in a fresh process; peak RSS from `/usr/bin/time`. Machine: {data['machine']['cores']} cores, shared with",
        f"other work; `uptime` at the start: `{data['uptime_start']}`, at the end: `{data.get('uptime_end', '')}`.",
        "",
        "| command | rows | peak RSS MiB | seconds | load before → after |",
        "|---|---:|---:|---:|---|",
    ]
    for run in data["runs"]:
        lines.append(
            f"| {run['command']} | {run['rows']:,} | {run['peak_rss_mib']} | {run['seconds']} "
            f"| {run['load_before']} → {run['load_after']} |"
        )
    lines += ["", "## Ratios (same run)", "", *[f"- {line}" for line in ratios(data["runs"])]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thresher-sampling"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    pipeline = args.workdir / "sampling-pipeline.yaml"
    pipeline.write_text(PIPELINE)
    data = {
        "benchmark": "sampling",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "uptime_start": uptime(),
        "runs": [],
    }
    for rows in (int(size) for size in args.sizes.split(",") if size):
        source, scores = args.workdir / f"input-{rows}.jsonl", args.workdir / f"scores-{rows}"
        if not source.exists():
            write_input(source, rows)
        if not (scores / "manifest.json").exists():
            write_synthetic_scores(source, scores, rows)
        common = [*THRESHER, "select", str(source), "--scores", str(scores), "--out", str(args.workdir / "kept.jsonl")]
        for name, options in variants(pipeline):
            run = {"command": name, "rows": rows, **measure([*common, *options])}
            data["runs"].append(run)
            print(json.dumps(run), flush=True)
    data["uptime_end"] = uptime()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sampling.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / "sampling.md").write_text(markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
