"""A Markdown report of scores and a selection: statistics, histograms (PNG), examples, class balance, and (from
`thresher eval`) whether selections beat random and full data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher.data.fields import LABEL_COLUMN, TEXT_COLUMN, Fields
from thresher.data.readers import open_dataset
from thresher.report.info import column_summary
from thresher.store import ScoreStore
from thresher.types import Direction

if TYPE_CHECKING:
    from thresher.api import SelectionResult
    from thresher.eval.results import EvalResult
    from thresher.models.reference import TrainSummary

HISTOGRAM_NAME = "score_histograms.png"
_EXAMPLES_SHOWN = 6


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two score columns (ties broken by position; fine for continuous scores)."""
    rank_a = np.argsort(np.argsort(a, kind="stable"), kind="stable")
    rank_b = np.argsort(np.argsort(b, kind="stable"), kind="stable")
    return float(np.corrcoef(rank_a, rank_b)[0, 1])


def _escape(text: str, limit: int = 160) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


def _plot_histograms(path: Path, columns: dict[str, np.ndarray], kept: np.ndarray, by: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(columns)
    figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        values = columns[name]
        bins = np.histogram_bin_edges(values[np.isfinite(values)], bins=40)
        axis.hist(
            [values[kept], values[~kept]],
            bins=bins,
            stacked=True,
            color=["#2a9d8f", "#e76f51"],
            label=["kept", "pruned"],
        )
        axis.set_title(name + ("  (selected by)" if name == by else ""), fontsize=10)
        axis.set_xlabel(name)
        axis.set_ylabel("examples")
    axes[0][0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_selection_report(
    path: str | Path,
    *,
    data: Path,
    score_dir: Path,
    selection: SelectionResult,
    reference_summary: TrainSummary | None = None,
    timings: dict[str, float] | None = None,
    evaluation: EvalResult | None = None,
) -> Path:
    """Write `path` (Markdown) and a histogram PNG beside it; return the report's path.

    `evaluation` (a `thresher eval` result whose report directory sits beside `path`) adds its curves, a table of
    intervals and paired verdicts, and a link to its report.html.
    """
    path = Path(path)
    store = ScoreStore.open(score_dir)
    recorded = store.manifest["input"]["fields"]
    fields = Fields(text=recorded["text"], id=recorded.get("id"), label=recorded.get("label"))
    texts: list[str] = []
    labels: list[object] = []
    for batch in open_dataset(data, fields).iter_examples():
        texts.extend(batch.column(TEXT_COLUMN).to_pylist())
        if fields.label is not None:
            labels.extend(batch.column(LABEL_COLUMN).to_pylist())

    infos = store.column_infos()
    table = store.read_columns(list(infos))
    values = {name: table.column(name).to_numpy(zero_copy_only=False).astype(np.float64) for name in infos}
    by = selection.by
    kept = np.zeros(selection.input_rows, dtype=bool)
    kept[selection.kept_rows] = True

    shown = [name for name in ("nll_mean", "bits_per_byte", "zlib_ratio", "n_tokens") if name in values]
    _plot_histograms(path.with_name(HISTOGRAM_NAME), {name: values[name] for name in shown}, kept, by)

    lines = [
        "# thresher report",
        "",
        f"Input: `{data}` — {selection.input_rows:,} examples"
        + (f", {len(set(labels))} classes" if labels else "")
        + ".",
        "",
    ]
    if reference_summary is not None:
        s = reference_summary
        lines += [
            "## Reference model (trained on the data itself, as in Kim & Baek 2024)",
            "",
            f"{s.n_params:,} parameters, vocabulary {s.vocab_size:,}, {s.steps} steps over {s.n_train_tokens:,} "
            f"tokens ({s.tokens_per_second:,.0f} tokens/s on {s.device}); training loss {s.initial_train_loss:.3f} "
            f"→ {s.final_train_loss:.3f} nats/token.",
            "",
        ]
    lines += _scores_section(infos, values)
    lines += _selection_section(selection, values, kept)
    lines += _examples_section(by, infos[by].direction, values[by], texts, labels)
    if labels:
        lines += _class_section(labels, kept)
    if evaluation is not None:
        lines += evaluation_section(evaluation, path.parent)
    if timings:
        lines += ["## Timings", "", "| step | seconds |", "|---|---:|"]
        lines += [f"| {name} | {seconds:.1f} |" for name, seconds in timings.items()] + [""]
    path.write_text("\n".join(lines) + "\n")
    return path


def _scores_section(infos: dict[str, Any], values: dict[str, np.ndarray]) -> list[str]:
    """Each score column's range and centre, the histograms, and the rank correlations of the usual pairs."""
    lines = [
        "## Scores",
        "",
        "| column | scorer | more important | min | median | max | mean |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, info in infos.items():
        stats = column_summary(values[name])
        direction = str(info.kind) if info.direction is None else info.direction.value.split("_")[0]
        lines.append(
            f"| `{name}` | {info.scorer} | {direction} "
            f"| {stats['min']:.4g} | {stats['median']:.4g} | {stats['max']:.4g} | {stats['mean']:.4g} |"
        )
    lines += ["", f"![score histograms, kept vs pruned]({HISTOGRAM_NAME})", ""]
    candidates = (
        ("nll_mean", "zlib_ratio"),
        ("nll_mean", "n_tokens"),
        ("nll_sum", "n_tokens"),
        ("bits_per_byte", "zlib_ratio"),
    )
    pairs = [(a, b) for a, b in candidates if a in values and b in values]
    if pairs:
        correlations = ", ".join(f"`{a}`–`{b}` {spearman(values[a], values[b]):+.2f}" for a, b in pairs)
        lines += [f"Spearman rank correlations: {correlations}.", ""]
    return lines


def _examples_section(
    by: str, direction: Direction | None, scores: np.ndarray, texts: list[str], labels: list[object]
) -> list[str]:
    """The most and least important examples by the selection column."""
    order = np.argsort(scores, kind="stable")
    important_first = order[::-1] if direction is Direction.HIGHER else order
    lines: list[str] = []
    for title, rows in (
        ("Most informative examples", important_first[:_EXAMPLES_SHOWN]),
        ("Least informative examples", important_first[::-1][:_EXAMPLES_SHOWN]),
    ):
        lines += [f"### {title} (by `{by}`)", "", f"| `{by}` | label | text |", "|---:|---|---|"]
        for row in rows:
            label = labels[row] if labels else ""
            lines.append(f"| {scores[row]:.3f} | {label} | {_escape(texts[row])} |")
        lines.append("")
    return lines


def _selection_section(selection: SelectionResult, values: dict[str, np.ndarray], kept: np.ndarray) -> list[str]:
    by = selection.by
    lines = [
        "## Selection",
        "",
        f"Strategy `{selection.strategy}` by `{by}`: kept **{selection.kept:,}** of {selection.input_rows:,} "
        f"examples ({selection.kept / max(selection.input_rows, 1):.0%}) → `{selection.out}`"
        + (f"; pruned → `{selection.pruned_out}`" if selection.pruned_out else "")
        + ".",
        "",
        "| column | mean of kept | mean of pruned |",
        "|---|---:|---:|",
    ]
    for name, column in values.items():
        pruned_mean = column[~kept].mean() if (~kept).any() else float("nan")
        lines.append(f"| `{name}` | {column[kept].mean():.4g} | {pruned_mean:.4g} |")
    if "n_tokens" in values:
        share = values["n_tokens"][kept].sum() / max(values["n_tokens"].sum(), 1)
        lines += ["", f"The kept examples hold {share:.0%} of the tokens."]
    return [*lines, ""]


def _class_section(labels: list[object], kept: np.ndarray) -> list[str]:
    total = Counter(labels)
    kept_counts = Counter(label for label, keep in zip(labels, kept, strict=True) if keep)
    shares = sorted(
        ((kept_counts[label] / count, label, count) for label, count in total.items() if count >= 20), reverse=True
    )
    lines = [
        "## Class balance",
        "",
        "Share of each class kept (classes with at least 20 examples):",
        "",
        "| class | examples | kept |",
        "|---|---:|---:|",
    ]
    for share, label, count in shares[:5] + shares[-5:]:
        lines.append(f"| {label} | {count} | {share:.0%} |")
    return [*lines, ""]


def _verdict_cell(comparison: dict[str, Any] | None) -> str:
    if not comparison:
        return ""
    if comparison["verdict"] == "untested":
        return "untested"
    shown = f"{comparison['mean_difference']:+.3f}, p {comparison['p_value']:.2g}"
    if comparison["verdict"] == "undecided":
        needed = comparison["seeds_needed"]
        return f"undecided ({shown}" + (f"; ~{needed} seeds would decide)" if needed is not None else ")")
    return f"**{comparison['verdict']}** ({shown})"


def _compute_cell(record: dict[str, Any] | None) -> str:
    if not record:
        return ""
    if record["reached"] == 0:
        return "not reached"
    share = f"{record['fraction_of_full']:.0%} of full" if record["fraction_of_full"] is not None else ""
    partial = f" ({record['reached']} of {record['seeds']} seeds)" if record["reached"] < record["seeds"] else ""
    return share + partial


def verdict_sentences(summary: dict[str, Any]) -> list[str]:
    """One line per method: the keep ratios where it beat or lost to random (paired t-test, p < α), and the rest."""
    lines = []
    methods = dict.fromkeys(cell["method"] for cell in summary["cells"] if cell["method"] != "full")
    for method in methods:
        cells = [cell for cell in summary["cells"] if cell["method"] == method]
        against = "full data" if method == "random" else "random"
        key = "vs_full" if method == "random" else "vs_random"
        groups: dict[str, list[str]] = {}
        for cell in cells:
            comparison = cell.get(key) or {"verdict": "untested"}
            groups.setdefault(comparison["verdict"], []).append(f"{cell['keep']:g}")
        words = {"better": "better than", "worse": "worse than"}
        parts = [
            f"{words.get(verdict, verdict + ' against')} {against} at keep {', '.join(keeps)}"
            for verdict, keeps in groups.items()
        ]
        lines.append(f"- `{method}`: {'; '.join(parts)}.")
    return lines


def evaluation_section(evaluation: EvalResult, report_dir: Path) -> list[str]:
    """The evaluation's curves, one row per method and keep ratio (mean, 95 % interval, paired verdicts, compute
    to full data's metric), the verdicts in words, and a link to its report.html."""
    summary = evaluation.summary()
    metric = summary["metric"]
    try:
        where = Path(evaluation.out).resolve().relative_to(report_dir.resolve())
    except ValueError:
        where = Path(evaluation.out)
    config = evaluation.config
    target = evaluation.params.get(str(config.get("task")), {})
    lines = [
        "## Does the selection help? (`thresher eval`)",
        "",
        f"A classifier (an MLP head on sentence embeddings, {target.get('epochs', '?')} epochs) trained on what each "
        f"method keeps of {config.get('train_examples')} training glosses, scored on {config.get('eval_examples')} "
        f"held-out ones; {config.get('seeds')} seeds per cell, paired by seed. `aum` keeps the hardest glosses by "
        "the area under the margin (low margin first), `aum:bottom` the easiest.",
        "",
        f"![{metric} vs keep ratio]({where / 'curves.png'})",
        "",
        f"| method | keep | {metric} [95 % interval] | vs random | vs full data | compute to full data's {metric} |",
        "|---|---:|---|---|---|---:|",
    ]
    for cell in summary["cells"]:
        interval = cell["metrics"][metric]
        span = f" [{interval['low']:.3f}, {interval['high']:.3f}]" if interval["low"] is not None else ""
        lines.append(
            f"| {cell['method']} | {cell['keep']:g} | {interval['mean']:.3f}{span} | "
            f"{_verdict_cell(cell.get('vs_random'))} | {_verdict_cell(cell.get('vs_full'))} | "
            f"{_compute_cell(cell.get('compute_to_full'))} |"
        )
    lines += [
        "",
        "Verdicts: the paired t-test on the per-seed differences at α = 0.05; undecided cells give the seeds that "
        "would decide at the observed difference and spread (80 % power). Compute: the examples seen until a run "
        f"first reaches full data's final {metric}, as a share of full data's.",
        "",
        *verdict_sentences(summary),
        "",
        f"Metric against compute: [compute.png]({where / 'compute.png'}); every run, interval and parameter: "
        f"[report.html]({where / 'report.html'}).",
        "",
    ]
    return lines
