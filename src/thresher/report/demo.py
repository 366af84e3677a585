"""`thresher demo`: the whole loop on a bundled sample — train a reference model, score, select, and evaluate a
selection by training a classifier on it — with a Markdown report."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rich.console import Console

from thresher.api import evaluate, score, select
from thresher.eval.results import EvalResult
from thresher.models.embedder import DEFAULT_EMBEDDER
from thresher.report.selection_report import write_selection_report
from thresher.train_ref import train_reference

SAMPLE_NAME = "wordnet_glosses.jsonl.gz"
KEEP_FRACTION = 0.5
SELECT_BY = "nll_mean"
EVAL_DIR = "eval"


@dataclass(frozen=True)
class DemoEvaluation:
    """The demo's closing evaluation: which methods, keep ratios and seeds, and how long each model trains.

    AUM (Pleiss et al. 2020) of a proxy classifier on sentence embeddings ranks the glosses by how hard their
    label is to learn; `aum` keeps the hardest, `aum:bottom` the easiest, against `random` and `full`. The target
    is `thresher eval --task classify` (an MLP head on the same embeddings), `epochs` passes per run.
    """

    methods: tuple[str, ...] = ("random", "full", "aum", "aum:bottom")
    keeps: tuple[float, ...] = (0.5, 0.7, 0.9)
    seeds: int = 3
    epochs: int = 10
    proxy_epochs: int = 10
    proxy_seeds: int = 3
    embedder: str = DEFAULT_EMBEDDER


def bundled_sample() -> Path:
    """Path of the demo sample inside the installed package (4000 WordNet glosses with their class)."""
    return Path(str(resources.files("thresher.data.samples") / SAMPLE_NAME))


def run_demo(
    out: str | Path,
    *,
    console: Console | None = None,
    epochs: float = 6.0,
    evaluation: DemoEvaluation | None = DemoEvaluation(),  # noqa: B008 - frozen, so a shared default is safe
) -> Path:
    """Run the demo into `out` (replacing an earlier demo there) and return the path of its report.

    `epochs` are the reference model's; `evaluation` sets the closing evaluation (None: skip it).
    """
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

    evaluated = None
    if evaluation is not None:
        evaluated = _evaluate_selections(data, score_dir, out / EVAL_DIR, evaluation, step, timings)
        console.print(f"  {len(evaluated.runs)} training runs → {out / EVAL_DIR / 'report.html'}")

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
        evaluation=evaluated,
    )
    timings["report"] = time.perf_counter() - started
    return report


def _evaluate_selections(
    data: Path,
    score_dir: Path,
    eval_dir: Path,
    settings: DemoEvaluation,
    step: Callable[[str, str], float],
    timings: dict[str, float],
) -> EvalResult:
    """Score the glosses' training dynamics (AUM), then train a classifier on what each method keeps."""
    started = step(
        "Score training dynamics: the area under the margin of a proxy classifier (low = hard or mislabelled)",
        f"thresher score {data} --scorer aum --label-field label --embedder {settings.embedder} "
        f"-p epochs={settings.proxy_epochs} -p seeds={settings.proxy_seeds} --out {score_dir}",
    )
    score(
        data,
        scorers=["aum"],
        out=score_dir,
        label_field="label",
        embedder=settings.embedder,
        params={"epochs": settings.proxy_epochs, "seeds": settings.proxy_seeds},
        show_progress=True,
    )
    timings["score dynamics"] = time.perf_counter() - started
    methods, keeps = ",".join(settings.methods), ",".join(f"{keep:g}" for keep in settings.keeps)
    started = step(
        "Does the selection help? Train a classifier on each method's subset and compare them held out",
        f"thresher eval {data} --task classify --label-field label --scores {score_dir} --methods {methods} "
        f"--keep {keeps} --seeds {settings.seeds} -p epochs={settings.epochs} --embedder {settings.embedder} "
        f"--out {eval_dir}",
    )
    result = evaluate(
        data,
        task="classify",
        out=eval_dir,
        methods=settings.methods,
        keep=settings.keeps,
        seeds=settings.seeds,
        scores=score_dir,
        label_field="label",
        embedder=settings.embedder,
        params={"epochs": settings.epochs},
        show_progress=True,
    )
    timings["evaluate"] = time.perf_counter() - started
    return result
