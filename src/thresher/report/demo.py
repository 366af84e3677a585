"""`thresher demo`: the whole loop on a bundled sample — train a reference model, score, select, report."""

from __future__ import annotations

import shutil
import time
from importlib import resources
from pathlib import Path

from rich.console import Console

from thresher.api import score, select
from thresher.report.selection_report import write_selection_report
from thresher.train_ref import train_reference

SAMPLE_NAME = "wordnet_glosses.jsonl.gz"
KEEP_FRACTION = 0.5
SELECT_BY = "nll_mean"


def bundled_sample() -> Path:
    """Path of the demo sample inside the installed package (4000 WordNet glosses with their class)."""
    return Path(str(resources.files("thresher.data.samples") / SAMPLE_NAME))


def run_demo(out: str | Path, *, console: Console | None = None, epochs: float = 6.0) -> Path:
    """Run the demo into `out` (replacing an earlier demo there) and return the path of its report."""
    console = console or Console(stderr=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / SAMPLE_NAME
    shutil.copyfile(bundled_sample(), data)
    model_dir, score_dir = out / "reference-model", out / "scores"
    selected, pruned = out / "selected.jsonl", out / "pruned.jsonl"
    timings: dict[str, float] = {}

    def step(title: str, command: str) -> float:
        console.print(f"\n[bold cyan]▶ {title}[/]\n  [dim]$ {command}[/]")
        return time.perf_counter()

    started = step(
        "Train a small GPT-style reference model on the data itself (Kim & Baek 2024)",
        f"thresher train-ref {data} --out {model_dir} --epochs {epochs:g}",
    )
    (summary,) = train_reference(data, out=model_dir, overwrite=True, epochs=epochs, show_progress=True)
    timings["train-ref"] = time.perf_counter() - started
    console.print(
        f"  {summary.n_params:,} parameters, {summary.n_train_tokens:,} tokens trained, "
        f"loss {summary.initial_train_loss:.2f} → {summary.final_train_loss:.2f} nats/token"
    )

    started = step(
        "Score every example: likelihood under the reference model, and compression ratios",
        f"thresher score {data} --scorer likelihood,compression --model {model_dir} --out {score_dir}",
    )
    score(
        data,
        scorers=["likelihood", "compression"],
        out=score_dir,
        model=str(model_dir),
        label_field="label",
        overwrite=True,
        show_progress=True,
    )
    timings["score"] = time.perf_counter() - started

    started = step(
        f"Keep the {KEEP_FRACTION:.0%} most informative examples (prune the most predictable first)",
        f"thresher select {data} --scores {score_dir} --by {SELECT_BY} --keep {KEEP_FRACTION} --strategy top "
        f"--out {selected} --write-pruned {pruned}",
    )
    result = select(
        data, scores=score_dir, by=SELECT_BY, keep=KEEP_FRACTION, strategy="top", out=selected, write_pruned=pruned
    )
    timings["select"] = time.perf_counter() - started
    console.print(f"  kept {result.kept} of {result.input_rows} → {selected}")

    started = step(
        "Write the report (inspect the scores any time with the command below)", f"thresher info {score_dir}"
    )
    report = write_selection_report(
        out / "report.md",
        data=data,
        score_dir=score_dir,
        selection=result,
        reference_summary=summary,
        timings=timings,
    )
    timings["report"] = time.perf_counter() - started
    return report
