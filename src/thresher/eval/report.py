"""The evaluation report: `results.json` (every run and the summary), `curves.png` (metric vs keep ratio),
`compute.png` (metric vs compute, when the runs recorded checkpoints) and `report.html`.

Every file is written under a temporary name in the report directory and renamed into place, so a reader never
sees half a file.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher.atomic import staged_file
from thresher.eval.stats import mean_interval

if TYPE_CHECKING:
    from thresher.eval.results import EvalResult, RunResult

RESULTS_FILE = "results.json"
CURVES_FILE = "curves.png"
COMPUTE_FILE = "compute.png"
REPORT_FILE = "report.html"


def write_report(result: EvalResult) -> dict[str, Path]:
    """Write results.json, curves.png, compute.png (when the runs have curves) and report.html into `result.out`;
    give their paths."""
    out = Path(result.out)
    out.mkdir(parents=True, exist_ok=True)
    record = result.to_json()
    payload = json.dumps(record, indent=2, default=str) + "\n"
    paths = {"results": _write_atomic(out / RESULTS_FILE, lambda path: path.write_text(payload))}
    png = curves_png(result)
    paths["curves"] = _write_atomic(out / CURVES_FILE, lambda path: path.write_bytes(png))
    compute = compute_png(result, record["summary"]) if any(run.curve for run in result.runs) else None
    if compute is not None:
        paths["compute"] = _write_atomic(out / COMPUTE_FILE, lambda path: path.write_bytes(compute))
    page = report_html(result, png, compute, record["summary"])
    paths["report"] = _write_atomic(out / REPORT_FILE, lambda path: path.write_text(page, encoding="utf-8"))
    return paths


def _write_atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    with staged_file(path) as staging:
        write(staging)
    return path


def metric_names(runs: list[RunResult], higher_is_better: Mapping[str, bool]) -> list[str]:
    """The metrics the runs report that have a known direction, in a stable order."""
    names = [name for run in runs for name in run.metrics if name in higher_is_better]
    return list(dict.fromkeys(names))


def summarize(runs: list[RunResult], metric: str) -> dict[str, dict[float, tuple[float, float, int]]]:
    """Per method and keep ratio: (mean, standard deviation over seeds, number of seeds) of `metric`."""
    grouped: dict[str, dict[float, list[float]]] = {}
    for run in runs:
        grouped.setdefault(run.method, {}).setdefault(run.keep, []).append(run.metrics[metric])
    return {
        method: {keep: (float(np.mean(v)), float(np.std(v)), len(v)) for keep, v in sorted(by_keep.items())}
        for method, by_keep in grouped.items()
    }


def best_methods(runs: list[RunResult], metric: str, higher: bool) -> dict[float, tuple[str, float]]:
    """Per keep ratio (full data excluded): the method with the best mean `metric` (`higher`: higher is better), and
    that mean."""
    summary = summarize(runs, metric)
    best: dict[float, tuple[str, float]] = {}
    for method, by_keep in summary.items():
        if method == "full":
            continue
        for keep, (mean, _, _) in by_keep.items():
            if keep not in best or (mean > best[keep][1] if higher else mean < best[keep][1]):
                best[keep] = (method, mean)
    return dict(sorted(best.items()))


def _interval_band(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high) of a cell's 95 % t-interval; the mean itself for both ends with one seed."""
    interval = mean_interval(values)
    low = interval.low if interval.low is not None else interval.mean
    high = interval.high if interval.high is not None else interval.mean
    return interval.mean, low, high


def _cell_values(runs: list[RunResult], metric: str) -> dict[str, dict[float, list[float]]]:
    grouped: dict[str, dict[float, list[float]]] = {}
    for run in runs:
        grouped.setdefault(run.method, {}).setdefault(run.keep, []).append(run.metrics[metric])
    return {method: dict(sorted(by_keep.items())) for method, by_keep in grouped.items()}


def _line_styles(methods: list[str], plt: Any) -> dict[str, dict[str, Any]]:
    """Up to 10 methods get the default colours; more get tab20's, and line styles tell the two tens apart."""
    palette = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    styles = {
        method: {"color": palette(index % palette.N), "linestyle": "-" if index < palette.N else ":"}
        for index, method in enumerate(methods)
    }
    styles["random"] = {"color": "black", "linestyle": "-", "linewidth": 2.5, "zorder": 5}  # the bar to clear
    return styles


def _png(figure: Any, plt: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves_png(result: EvalResult) -> bytes:
    """A PNG with one panel per metric: mean vs keep ratio per method, a band for its 95 % interval over seeds,
    and the full-data level as a horizontal line (with its band)."""
    plt = _pyplot()
    metrics = metric_names(result.runs, result.higher_is_better)
    methods = list(dict.fromkeys(run.method for run in result.runs if run.method not in ("full", "random")))
    styles = _line_styles(methods, plt)
    many = len(methods) > 5
    figure, axes = plt.subplots(
        1, max(len(metrics), 1), figsize=(5.5 * max(len(metrics), 1) + (2.5 if many else 0), 4), squeeze=False
    )
    for axis, metric in zip(axes[0], metrics, strict=False):
        for method, by_keep in _cell_values(result.runs, metric).items():
            keeps = np.array(list(by_keep))
            bands = np.array([_interval_band(values) for values in by_keep.values()])
            if method == "full":
                line = axis.axhline(bands[0, 0], color="black", linestyle="--", label="full data")
                axis.axhspan(bands[0, 1], bands[0, 2], color=line.get_color(), alpha=0.08)
                continue
            (line,) = axis.plot(keeps, bands[:, 0], marker="o", label=method, **styles[method])
            axis.fill_between(keeps, bands[:, 1], bands[:, 2], color=line.get_color(), alpha=0.2)
        arrow = "higher is better" if result.higher_is_better[metric] else "lower is better"
        axis.set_xlabel("keep ratio")
        axis.set_ylabel(metric)
        axis.set_title(f"{metric} ({arrow})")
        axis.grid(alpha=0.3)
        if not many:
            axis.legend(fontsize="small")
    if many:  # one legend for all panels, outside them, so it covers no curve
        handles, labels = axes[0][0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="center right", fontsize="small")
    figure.suptitle(f"thresher eval: {result.config.get('task')} on {Path(str(result.config.get('input'))).name}")
    figure.tight_layout(rect=(0, 0, 1 - 2.5 / figure.get_figwidth(), 1) if many else None)
    return _png(figure, plt)


def mean_curve(runs: list[RunResult], metric: str, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """(compute, metric) averaged over the runs checkpoint by checkpoint (runs of one cell share their number of
    checkpoints; a run with fewer is cut to the shortest)."""
    curves = [run.curve for run in runs if run.curve]
    length = min(len(curve) for curve in curves)
    compute = np.array([[point[axis] for point in curve[:length]] for curve in curves], dtype=np.float64)
    values = np.array([[point["metrics"][metric] for point in curve[:length]] for curve in curves], dtype=np.float64)
    return compute.mean(axis=0), values.mean(axis=0)


def compute_png(result: EvalResult, summary: Mapping[str, Any]) -> bytes:
    """A PNG with one panel per keep ratio: the primary metric against compute (the summary's axis: tokens or
    examples seen, else optimiser steps), the mean over seeds per method, full data's curve dashed and its final
    level (the compute-to-target line) dotted."""
    plt = _pyplot()
    metric, axis_name = summary["metric"], summary["compute_axis"]
    keeps = sorted({run.keep for run in result.runs if run.method != "full"}) or [1.0]
    methods = list(dict.fromkeys(run.method for run in result.runs if run.method not in ("full", "random")))
    styles = _line_styles(methods, plt)
    figure, axes = plt.subplots(1, len(keeps), figsize=(4.6 * len(keeps) + 2.5, 4), squeeze=False, sharey=True)
    full_runs = [run for run in result.runs if run.method == "full" and run.curve]
    for axis, keep in zip(axes[0], keeps, strict=True):
        if full_runs:
            compute, values = mean_curve(full_runs, metric, axis_name)
            axis.plot(compute, values, color="black", linestyle="--", label="full data")
            target = float(np.mean([run.metrics[metric] for run in full_runs]))
            axis.axhline(target, color="grey", linestyle=":", linewidth=1)
        for method in ["random", *methods]:
            members = [run for run in result.runs if run.method == method and run.keep == keep and run.curve]
            if members:
                compute, values = mean_curve(members, metric, axis_name)
                axis.plot(compute, values, marker=".", label=method, **styles[method])
        axis.set_title(f"keep {keep:g}")
        axis.set_xlabel(f"{axis_name} seen" if axis_name != "step" else "optimiser steps")
        axis.grid(alpha=0.3)
    arrow = "higher is better" if result.higher_is_better.get(metric, True) else "lower is better"
    axes[0][0].set_ylabel(f"{metric} ({arrow})")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="center right", fontsize="small")
    figure.suptitle(f"{metric} against compute; dotted: full data's final level")
    figure.tight_layout(rect=(0, 0, 1 - 2.5 / figure.get_figwidth(), 1))
    return _png(figure, plt)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f3f3f3; }
td.name, th.name { text-align: left; }
td.best { font-weight: bold; background: #eaf6ea; }
td.better { background: #eaf6ea; }
td.worse { background: #fbeaea; }
img { max-width: 100%; }
"""

STATISTICS_NOTE = (
    "Runs are paired by seed: seed i of every method starts from the same initialisation and visits the rows it "
    "shares with another method in the same order. Intervals are 95 % t-intervals over seeds (none with one seed). "
    "A verdict against random (same keep ratio) or full data comes from the paired t-test on the per-seed "
    "differences at α = 0.05, which decides; the exact sign-flip permutation p-value is shown beside it (it cannot go "
    "below 2/2ⁿ with n seeds, 0.25 with 3). When the test does not decide, the seeds that would give it 80 % power "
    "if the observed mean difference and spread held are shown (noncentral t)."
)


def verdict_text(comparison: Mapping[str, Any] | None, digits: int = 4) -> str:
    """One cell of the verdict columns: the difference with its interval, the p-values and the verdict."""
    if not comparison:
        return ""
    if comparison["verdict"] == "untested":
        return f"untested ({comparison['seeds']} paired seed{'s' if comparison['seeds'] != 1 else ''})"
    low, high = comparison["low"], comparison["high"]
    difference = f"{comparison['mean_difference']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"
    sign_flip = f", sign-flip {comparison['p_sign_flip']:.3g}" if comparison["p_sign_flip"] is not None else ""
    verdict = comparison["verdict"]
    if verdict == "undecided":
        needed = comparison["seeds_needed"]
        verdict += f"; ~{needed} seeds would decide" if needed is not None else "; no difference to detect"
    return f"{verdict}: {difference}, p {comparison['p_value']:.3g}{sign_flip}"


def compute_text(record: Mapping[str, Any] | None) -> str:
    """The compute a cell needs to reach full data's final metric, as a share of full data's compute."""
    if not record:
        return ""
    if record["reached"] == 0:
        return "not reached"
    share = record["fraction_of_full"]
    seeds = f" ({record['reached']} of {record['seeds']} seeds)" if record["reached"] < record["seeds"] else ""
    shown = f"{share:.2f}× full" if share is not None else f"{record['mean']:.4g}"
    return f"{shown}{seeds}"


def report_html(
    result: EvalResult, png: bytes, compute_png: bytes | None = None, summary: Mapping[str, Any] | None = None
) -> str:
    """A self-contained page: the curves as embedded PNGs, a table of every method and ratio with intervals and
    paired verdicts, the best method at each ratio, compute to full data's metric, classes (with labels), and the
    configuration with every component's parameters."""
    summary = summary if summary is not None else result.summary()
    metrics = metric_names(result.runs, result.higher_is_better)
    primary = str(summary.get("metric") or (metrics[0] if metrics else ""))
    best = best_methods(result.runs, primary, result.higher_is_better[primary]) if primary in metrics else {}
    best_rows = "".join(
        f'<tr><td>{keep:g}</td><td class="name">{html.escape(method)}</td><td>{value:.4f}</td></tr>'
        for keep, (method, value) in best.items()
    )
    reference = "".join(
        f'<tr><td class="name">{html.escape(name)}</td><td>{value:.4f}</td></tr>'
        for name, value in result.reference.items()
    )
    reference_block = (
        f"<h2>Untrained model</h2><table><tr><th class='name'>metric</th><th>value</th></tr>{reference}</table>"
        if reference
        else ""
    )
    params = {
        f"{component}.{name}": value for component, values in result.params.items() for name, value in values.items()
    }
    image = base64.b64encode(png).decode("ascii")
    compute_block = ""
    if compute_png is not None:
        encoded = base64.b64encode(compute_png).decode("ascii")
        compute_block = (
            f"<h2>Metric against compute</h2>"
            f'<img alt="metric vs compute" src="data:image/png;base64,{encoded}">'
            f"{_compute_table(summary)}"
        )
    direction = "higher" if result.higher_is_better.get(primary, True) else "lower"
    header = "".join(f"<th>{html.escape(metric)} (mean [95 % interval])</th>" for metric in metrics)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>thresher eval report</title><style>{_STYLE}</style></head>
<body>
<h1>thresher eval: {html.escape(str(result.config.get("task")))}</h1>
<p>{len(result.runs)} training runs on {result.config.get("train_examples")} training examples, scored on
{result.config.get("eval_examples")} held-out examples. Bands and intervals are 95 % t-intervals over seeds.</p>
<img alt="metric vs keep ratio" src="data:image/png;base64,{image}">
<h2>Results</h2>
<p>{html.escape(STATISTICS_NOTE)} Verdicts are on {html.escape(primary)} ({direction} is better); differences are
method − baseline.</p>
<table id="results"><tr><th class="name">method</th><th>keep</th><th>examples</th><th>seeds</th>{header}
<th class="name">vs random</th><th class="name">vs full data</th>
<th>compute to full data's {html.escape(primary)}</th></tr>
{_result_rows(summary, metrics, primary, best)}
</table>
<h2>Best method at each keep ratio</h2>
<p>By mean {html.escape(primary)} ({direction} is better), full data excluded.</p>
<table id="best"><tr><th>keep</th><th class="name">method</th><th>{html.escape(primary)}</th></tr>{best_rows}</table>
{compute_block}
{_class_block(summary)}
{reference_block}
<h2>Configuration</h2>
<table id="config">{_setting_rows(result.config)}</table>
<h2>Parameters</h2>
<table id="params">{_setting_rows(params)}</table>
</body></html>
"""


def _result_rows(
    summary: Mapping[str, Any], metrics: list[str], primary: str, best: dict[float, tuple[str, float]]
) -> str:
    """One table row per method and keep ratio: examples kept, seeds, each metric's mean with its interval, the
    verdicts against random and full data, and the compute to reach full data's final metric."""
    rows = []
    for cell in summary["cells"]:
        method, keep = cell["method"], cell["keep"]
        cells = []
        for metric in metrics:
            interval = cell["metrics"].get(metric)
            if interval is None:
                cells.append("<td></td>")
                continue
            span = f" [{interval['low']:.4f}, {interval['high']:.4f}]" if interval["low"] is not None else ""
            is_best = metric == primary and best.get(keep, ("", 0.0))[0] == method
            css = ' class="best"' if is_best else ""
            cells.append(f"<td{css}>{interval['mean']:.4f}{span}</td>")
        for name in ("vs_random", "vs_full"):
            comparison = cell.get(name)
            css = comparison["verdict"] if comparison and comparison["verdict"] in ("better", "worse") else "name"
            cells.append(f'<td class="{css}">{html.escape(verdict_text(comparison))}</td>')
        cells.append(f"<td>{html.escape(compute_text(cell.get('compute_to_full')))}</td>")
        rows.append(
            f'<tr><td class="name">{html.escape(method)}</td><td>{keep:g}</td><td>{int(round(cell["kept"]))}</td>'
            f"<td>{len(cell['seeds'])}</td>{''.join(cells)}</tr>"
        )
    return "".join(rows)


def _compute_table(summary: Mapping[str, Any]) -> str:
    """Per method (rows) and keep ratio (columns): the compute to first reach full data's final metric."""
    records = [cell for cell in summary["cells"] if cell.get("compute_to_full") and cell["method"] != "full"]
    if not records:
        return ""
    keeps = sorted({cell["keep"] for cell in records})
    methods = list(dict.fromkeys(cell["method"] for cell in records))
    lookup = {(cell["method"], cell["keep"]): cell["compute_to_full"] for cell in records}
    first = records[0]["compute_to_full"]
    axis = first["axis"] if first["axis"] != "step" else "optimiser steps"
    head = "".join(f"<th>keep {keep:g}</th>" for keep in keeps)
    body = "".join(
        f'<tr><td class="name">{html.escape(method)}</td>'
        + "".join(f"<td>{html.escape(compute_text(lookup.get((method, keep))))}</td>" for keep in keeps)
        + "</tr>"
        for method in methods
    )
    return (
        f"<p>The {html.escape(axis)} each method needs to first reach full data's final "
        f"{html.escape(summary['metric'])} ({first['target']:.4f}, the mean over its seeds), read from each run's "
        "checkpoints (linear between them) and averaged over the seeds that reach it, as a share of full data's "
        f"{first['full_compute']:.4g}.</p>"
        f'<table id="compute"><tr><th class="name">method</th>{head}</tr>{body}</table>'
    )


def _class_block(summary: Mapping[str, Any]) -> str:
    """Per method and keep ratio: the least kept class, the worst held-out class, and the classes left behind
    against random at the same ratio (held-out recall lower by more than 0.1)."""
    records = [cell for cell in summary["cells"] if cell.get("classes")]
    if not records:
        return ""
    rows = []
    for cell in records:
        brief = cell["classes"]
        least = brief.get("least_kept")
        worst = brief.get("worst_recall")
        gap = brief.get("recall_vs_random")
        behind = brief.get("left_behind")
        shown_behind = (
            ""
            if behind is None
            else f"{len(behind)} of {brief['classes']}"
            + (f": {', '.join(behind[:5])}{' …' if len(behind) > 5 else ''}" if behind else "")
        )
        rows.append(
            f'<tr><td class="name">{html.escape(cell["method"])}</td><td>{cell["keep"]:g}</td>'
            f'<td class="name">{html.escape(f"{least[0]} ({least[1]:.0%})") if least else ""}</td>'
            f'<td class="name">{html.escape(f"{worst[0]} ({worst[1]:.2f})") if worst else ""}</td>'
            f"<td>{'' if gap is None else f'{gap:+.3f}'}</td>"
            f'<td class="name">{html.escape(shown_behind)}</td></tr>'
        )
    return (
        "<h2>Classes</h2><p>Share of each class's training examples a run kept, and each class's held-out recall, "
        "both means over seeds; against random at the same keep ratio, the mean per-class recall difference and "
        "the classes whose recall is lower by more than 0.1. Full per-class values are in results.json "
        "(<code>summary.cells[].class_kept</code>, <code>class_recall</code>).</p>"
        '<table id="classes"><tr><th class="name">method</th><th>keep</th><th class="name">least kept class</th>'
        '<th class="name">worst held-out recall</th><th>recall − random\'s</th>'
        f'<th class="name">classes left behind</th></tr>{"".join(rows)}</table>'
    )


def _setting_rows(settings: Mapping[str, Any]) -> str:
    return "".join(
        f'<tr><td class="name">{html.escape(str(key))}</td><td class="name">{html.escape(_show(value))}</td></tr>'
        for key, value in settings.items()
    )


def _show(value: Any) -> str:
    return json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
