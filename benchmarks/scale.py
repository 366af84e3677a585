"""Peak memory and wall time of `thresher score` and `thresher select` at 10⁵, 10⁶ and 10⁷ rows, and Ray throughput.

The goal (issue 13): peak RSS flat within 10 % from 10⁵ to 10⁷ rows for `select` and for the sketch-based scorers.
Every command runs in a fresh process under `/usr/bin/time`, which gives its peak resident set size (the kernel's
`wait4` figure, "Maximum resident set size"); its wall time comes from the clock, and the machine's load average is
read before and after it.

Input: synthetic JSON Lines, made once per size in the work directory and reused by every later run. A vocabulary
of 4096 pseudo-words (2-4 random syllables each, seed 0) and, per row, 4-24 words drawn from it with Zipf-like
weights (exponent 1.1) by `numpy.random.default_rng(0)`, streamed in blocks; each line is
`{"text": ..., "source": "scale-benchmark", "n": row}` (about 140 bytes).

Measured, per size:
- `score --scorer compression` (`--score-sizes`), and the set-level scorers `density` (with a tiny random
  sentence embedder built in the work directory, so no download) and `minhash` (`--setlevel-sizes`);
- `select --by zlib_ratio` with `top` (keep 0.5), `random` (keep 0.5) and `stratified` (keep 0.3), streamed (the
  default), and `top` with `--in-memory` as the baseline of the same run. Sizes whose compression scores were not
  measured (`--score-sizes` leaves them out) get a synthetic score directory instead: seeded random ratios written
  through the score store, the same columns as the compression scorer's (the report says which);
- Ray: `score --scorer compression --engine ray --workers 1|2` at `--ray-score-rows` and `select --engine ray
  --workers 1|2` at `--ray-select-rows`, as rows per second (peak RSS is the driver's; Ray's workers are not its
  children).

Results go to benchmarks/results/scale.json and scale.md (written after every command, so a long run that is
stopped keeps what it measured), with ratios against baselines of the same run.

Usage:
    python benchmarks/scale.py [--sizes 100000,1000000,10000000] [--score-sizes SIZES] [--setlevel-sizes SIZES]
        [--ray-score-rows 100000] [--ray-select-rows 1000000] [--workdir /tmp/thresher-scale] [--only score,select,...]
        [--append]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
THRESHER = [sys.executable, "-m", "thresher.cli"]
BLOCK_ROWS = 100_000
SYLLABLES = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "ai", "ou")]


def vocabulary(size: int = 4096, seed: int = 0) -> list[str]:
    """`size` distinct pseudo-words of 2-4 random syllables."""
    rng = np.random.default_rng(seed)
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = rng.choice(SYLLABLES, size=int(rng.integers(2, 5)))
        words["".join(syllables)] = None
    return list(words)


def write_input(path: Path, rows: int, seed: int = 0) -> None:
    """Seeded random word sequences, one JSON object a line; written under a temporary name, then renamed."""
    words = np.array(vocabulary(seed=seed))
    weights = 1.0 / np.arange(1, words.size + 1) ** 1.1
    weights /= weights.sum()
    rng = np.random.default_rng(seed)
    staging = path.with_name(path.name + ".partial")
    with staging.open("w") as out:
        for start in range(0, rows, BLOCK_ROWS):
            count = min(BLOCK_ROWS, rows - start)
            lengths = rng.integers(4, 25, size=count)
            drawn = words[rng.choice(words.size, size=int(lengths.sum()), p=weights)]
            ends = np.cumsum(lengths)
            lines = []
            for offset, (stop, length) in enumerate(zip(ends, lengths, strict=True)):
                text = " ".join(drawn[stop - length : stop])
                lines.append(json.dumps({"text": text, "source": "scale-benchmark", "n": start + offset}) + "\n")
            out.write("".join(lines))
    staging.replace(path)


def write_synthetic_scores(data: Path, scores: Path, rows: int, seed: int = 0) -> None:
    """A score directory of `data` with the compression scorer's columns filled with seeded random ratios."""
    import pyarrow as pa

    from thresher.data.readers import open_dataset
    from thresher.scorers.compression import CompressionScorer
    from thresher.store import ScoreStore

    shutil.rmtree(scores, ignore_errors=True)
    dataset = open_dataset(data)
    store = ScoreStore(scores)
    store.bind_input(dataset.fingerprint())
    columns = CompressionScorer().columns
    run = store.start_run("compression", {"synthetic": True}, columns, shard_rows=8192)
    rng = np.random.default_rng(seed)
    for index, batch in enumerate(dataset.iter_examples(8192)):
        values = {column.name: np.round(rng.uniform(0.3, 0.9, batch.num_rows), 4) for column in columns}
        run.write_shard(index, index * 8192, pa.array(batch.column("id")), values)
    run.finish(rows, {"synthetic": True})


def tiny_embedder(workdir: Path) -> Path:
    """A random 1-layer BERT sentence embedder over the benchmark's vocabulary (tests/conftest.py builds it)."""
    target = workdir / "tiny-embedder" / "st"
    if not target.exists():
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.conftest import save_tiny_sentence_transformer

        (workdir / "tiny-embedder").mkdir(parents=True, exist_ok=True)
        save_tiny_sentence_transformer(workdir / "tiny-embedder", [" ".join(vocabulary())])
    return target


def measure(command: list[str]) -> dict:
    """Run `command` in a fresh process: peak RSS (MiB), wall seconds and the load average around it.

    The peak comes from `/usr/bin/time` (its `wait4` of the command), not from this script's own `wait4`: Linux
    carries the RSS of the forking process's image into the child's peak at exec, so a parent that has grown (it
    writes the inputs) would inflate every figure.
    """
    load_before = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as record:
        started = time.perf_counter()
        completed = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", record.name, *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        seconds = time.perf_counter() - started
        if completed.returncode != 0:
            raise SystemExit(f"{' '.join(map(str, command))} failed:\n{completed.stderr.decode()}")
        peak_kib = int(record.read().split()[-1])
    return {
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "seconds": round(seconds, 2),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


class Report:
    """Measurements so far, saved after each one."""

    def __init__(self, args: argparse.Namespace) -> None:
        earlier = json.loads((RESULTS / "scale.json").read_text()) if args.append else None
        self.data: dict = earlier or {
            "benchmark": "scale",
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
            "uptime_start": uptime(),
            "arguments": {key: str(value) for key, value in vars(args).items()},
            "inputs": {},
            "runs": [],
        }
        if earlier:
            arguments = {key: str(value) for key, value in vars(args).items()}
            self.data.setdefault("appended", []).append({"uptime_start": uptime(), "arguments": arguments})

    def add(self, **run: object) -> None:
        # A command measured again at the same size replaces the earlier figure (--append).
        same = [old for old in self.data["runs"] if (old["command"], old["rows"]) == (run["command"], run["rows"])]
        for old in same:
            self.data["runs"].remove(old)
        self.data["runs"].append(run)
        print(json.dumps(run), flush=True)
        self.save()

    def save(self) -> None:
        RESULTS.mkdir(exist_ok=True)
        self.data["uptime_end"] = uptime()
        (RESULTS / "scale.json").write_text(json.dumps(self.data, indent=2) + "\n")
        (RESULTS / "scale.md").write_text(markdown(self.data))


def markdown(data: dict) -> str:
    runs = data["runs"]
    lines = [
        "# Scale: peak memory and wall time against rows",
        "",
        "Written by `benchmarks/scale.py`. Each command runs in a fresh process; peak RSS from `/usr/bin/time`.",
        f"Machine: {data['machine']['cores']} cores, shared with other work; `uptime` at the start: "
        f"`{data['uptime_start']}`, at the end: `{data.get('uptime_end', '')}`. Load columns: the 1-minute load "
        "average before and after each command.",
        *[
            f"Runs added later (`--append`, `--only {run['arguments']['only']}`): `uptime` `{run['uptime_start']}`."
            for run in data.get("appended", [])
        ],
        "",
        "Input: seeded random word sequences (4-24 words from a 4096-word pseudo-vocabulary, Zipf-like weights), "
        "one JSON object a line, made once per size and reused.",
        "",
        "| command | rows | scores | peak RSS MiB | seconds | rows/s | load before → after |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for run in runs:
        rate = f"{run['rows'] / run['seconds']:,.0f}" if run["seconds"] else ""
        lines.append(
            f"| {run['command']} | {run['rows']:,} | {run.get('scores', '')} | {run['peak_rss_mib']} "
            f"| {run['seconds']} | {rate} | {run['load_before']} → {run['load_after']} |"
        )
    lines += ["", "## Ratios (same run)", ""]
    lines += [f"- {line}" for line in ratios(runs)] or ["- (not enough runs yet)"]
    return "\n".join(lines) + "\n"


def ratios(runs: list[dict]) -> list[str]:
    """Peak RSS at the largest size ÷ at the smallest, per command; streamed ÷ in-memory select; Ray 2 ÷ 1 worker."""
    lines = []
    by_command: dict[str, dict[int, dict]] = {}
    for run in runs:
        by_command.setdefault(run["command"], {})[run["rows"]] = run
    for command, sizes in by_command.items():
        if len(sizes) > 1 and "ray" not in command:
            low, high = min(sizes), max(sizes)
            ratio = sizes[high]["peak_rss_mib"] / sizes[low]["peak_rss_mib"]
            verdict = "flat within 10 %" if ratio <= 1.10 else "grows"
            lines.append(f"`{command}`: peak RSS at {high:,} rows ÷ at {low:,} = {ratio:.3f} ({verdict})")
    streamed, in_memory = by_command.get("select top"), by_command.get("select top --in-memory")
    if streamed and in_memory:
        for rows in sorted(set(streamed) & set(in_memory)):
            rss = streamed[rows]["peak_rss_mib"] / in_memory[rows]["peak_rss_mib"]
            seconds = streamed[rows]["seconds"] / in_memory[rows]["seconds"]
            lines.append(f"streamed ÷ in-memory `select top` at {rows:,} rows: peak RSS {rss:.3f}, time {seconds:.3f}")
    for kind in ("score compression --engine ray", "select top --engine ray"):
        one, two = by_command.get(f"{kind} --workers 1"), by_command.get(f"{kind} --workers 2")
        for rows in sorted(set(one or {}) & set(two or {})):
            speedup = one[rows]["seconds"] / two[rows]["seconds"]  # type: ignore[index]
            lines.append(f"`{kind}` at {rows:,} rows: 2 workers ÷ 1 worker throughput = {speedup:.2f}")
    return lines


def score_origin(scores: Path) -> str:
    """`compression` for scores the scorer measured, `synthetic` for `write_synthetic_scores`'."""
    manifest = json.loads((scores / "manifest.json").read_text())
    return "synthetic" if manifest["scorers"]["compression"]["params"].get("synthetic") else "compression"


def sizes_of(text: str) -> list[int]:
    return [int(size) for size in text.split(",") if size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="rows of the select runs")
    parser.add_argument("--score-sizes", default=None, help="rows of the compression score runs (default: --sizes)")
    parser.add_argument("--setlevel-sizes", default="100000,1000000", help="rows of the density and minhash runs")
    parser.add_argument("--ray-score-rows", type=int, default=100_000)
    parser.add_argument("--ray-select-rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thresher-scale"))
    parser.add_argument("--only", default="score,setlevel,select,ray", help="which groups to run")
    parser.add_argument("--append", action="store_true", help="add to (or replace in) the last run's results")
    args = parser.parse_args()
    sizes = sizes_of(args.sizes)
    score_sizes = sizes_of(args.score_sizes) if args.score_sizes is not None else sizes
    setlevel_sizes = sizes_of(args.setlevel_sizes)
    groups = set(args.only.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    report = Report(args)

    def data_of(rows: int) -> Path:
        path = args.workdir / f"input-{rows}.jsonl"
        if not path.exists():
            started = time.perf_counter()
            write_input(path, rows)
            print(f"wrote {path} in {time.perf_counter() - started:.0f} s", flush=True)
        report.data["inputs"][str(rows)] = {"path": str(path), "mib": round(path.stat().st_size / 2**20, 1)}
        return path

    scored_by: dict[int, str] = {}
    if "score" in groups:
        for rows in score_sizes:
            data, scores = data_of(rows), args.workdir / f"scores-{rows}"
            shutil.rmtree(scores, ignore_errors=True)
            run = measure([*THRESHER, "score", str(data), "--scorer", "compression", "--out", str(scores), "--quiet"])
            report.add(command="score compression", rows=rows, scores="measured", **run)
            scored_by[rows] = "compression"
    if "setlevel" in groups:
        embedder = tiny_embedder(args.workdir)
        for rows in setlevel_sizes:
            data = data_of(rows)
            for scorer, extra in (("density", ["--embedder", str(embedder)]), ("minhash", [])):
                scores = args.workdir / f"scores-{scorer}-{rows}"
                shutil.rmtree(scores, ignore_errors=True)
                command = [*THRESHER, "score", str(data), "--scorer", scorer, "--out", str(scores), "--quiet", *extra]
                report.add(command=f"score {scorer}", rows=rows, scores="measured", **measure(command))
    if "select" in groups:
        for rows in sizes:
            data, scores = data_of(rows), args.workdir / f"scores-{rows}"
            if rows not in scored_by and not (scores / "manifest.json").exists():
                write_synthetic_scores(data, scores, rows)
            origin = score_origin(scores)
            common = [*THRESHER, "select", str(data), "--scores", str(scores)]
            out = str(args.workdir / f"kept-{rows}.jsonl")
            variants = (
                ("select top", ["--by", "zlib_ratio", "--strategy", "top", "--keep", "0.5"]),
                ("select random", ["--strategy", "random", "--keep", "0.5", "--seed", "1"]),
                ("select stratified", ["--by", "zlib_ratio", "--strategy", "stratified", "--keep", "0.3"]),
                (
                    "select top --in-memory",
                    ["--by", "zlib_ratio", "--strategy", "top", "--keep", "0.5", "--in-memory"],
                ),
            )
            for name, options in variants:
                report.add(command=name, rows=rows, scores=origin, **measure([*common, *options, "--out", out]))
    if "ray" in groups:
        rows = args.ray_score_rows
        data = data_of(rows)
        for workers in (1, 2):
            scores = args.workdir / f"scores-ray-{rows}"
            shutil.rmtree(scores, ignore_errors=True)
            command = [*THRESHER, "score", str(data), "--scorer", "compression", "--out", str(scores), "--quiet"]
            run = measure([*command, "--engine", "ray", "--workers", str(workers)])
            report.add(
                command=f"score compression --engine ray --workers {workers}", rows=rows, scores="measured", **run
            )
        rows = args.ray_select_rows
        data, scores = data_of(rows), args.workdir / f"scores-{rows}"
        if not (scores / "manifest.json").exists():
            write_synthetic_scores(data, scores, rows)
        for workers in (1, 2):
            out = args.workdir / f"kept-ray-{rows}.jsonl"
            command = [*THRESHER, "select", str(data), "--scores", str(scores), "--by", "zlib_ratio", "--keep", "0.5"]
            run = measure([*command, "--out", str(out), "--engine", "ray", "--workers", str(workers)])
            name = f"select top --engine ray --workers {workers}"
            report.add(command=name, rows=rows, scores=score_origin(scores), **run)
    report.save()
    print((RESULTS / "scale.md").read_text())


if __name__ == "__main__":
    main()
