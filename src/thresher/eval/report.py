"""The evaluation report: `results.json` (every run), `curves.png` (metric vs keep ratio) and `report.html`.

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

if TYPE_CHECKING:
    from thresher.eval.results import EvalResult, RunResult

RESULTS_FILE = "results.json"
CURVES_FILE = "curves.png"
REPORT_FILE = "report.html"


def write_report(result: EvalResult) -> dict[str, Path]:
    """Write results.json, curves.png and report.html into `result.out`; give their paths."""
    out = Path(result.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(result.to_json(), indent=2, default=str) + "\n"
    results_path = _write_atomic(out / RESULTS_FILE, lambda path: path.write_text(payload))
    png = curves_png(result)
    curves_path = _write_atomic(out / CURVES_FILE, lambda path: path.write_bytes(png))
    page = report_html(result, png)
    report_path = _write_atomic(out / REPORT_FILE, lambda path: path.write_text(page, encoding="utf-8"))
    return {"results": results_path, "curves": curves_path, "report": report_path}


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


def curves_png(result: EvalResult) -> bytes:
    """A PNG with one panel per metric: mean vs keep ratio per method, a band for the seed spread (±1 sd), and
    the full-data level as a horizontal line."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = metric_names(result.runs, result.higher_is_better)
    methods = list(dict.fromkeys(run.method for run in result.runs if run.method not in ("full", "random")))
    # Up to 10 methods get the default colours; more get tab20's, and line styles tell the two tens apart.
    palette = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    styles = {
        method: {"color": palette(index % palette.N), "linestyle": "-" if index < palette.N else ":"}
        for index, method in enumerate(methods)
    }
    styles["random"] = {"color": "black", "linestyle": "-", "linewidth": 2.5, "zorder": 5}  # the bar to clear
    many = len(methods) > 5
    figure, axes = plt.subplots(
        1, max(len(metrics), 1), figsize=(5.5 * max(len(metrics), 1) + (2.5 if many else 0), 4), squeeze=False
    )
    for axis, metric in zip(axes[0], metrics, strict=False):
        for method, by_keep in summarize(result.runs, metric).items():
            keeps = np.array(list(by_keep))
            means = np.array([value[0] for value in by_keep.values()])
            spreads = np.array([value[1] for value in by_keep.values()])
            if method == "full":
                line = axis.axhline(means[0], color="black", linestyle="--", label="full data")
                axis.axhspan(means[0] - spreads[0], means[0] + spreads[0], color=line.get_color(), alpha=0.08)
                continue
            (line,) = axis.plot(keeps, means, marker="o", label=method, **styles[method])
            axis.fill_between(keeps, means - spreads, means + spreads, color=line.get_color(), alpha=0.2)
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
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f3f3f3; }
td.name, th.name { text-align: left; }
td.best { font-weight: bold; background: #eaf6ea; }
img { max-width: 100%; }
"""


def report_html(result: EvalResult, png: bytes) -> str:
    """A self-contained page: the curves as an embedded PNG, a table of every method and ratio, the best method at
    each ratio, and the configuration with every component's parameters."""
    metrics = metric_names(result.runs, result.higher_is_better)
    primary = str(result.config.get("primary_metric") or (metrics[0] if metrics else ""))
    best = best_methods(result.runs, primary, result.higher_is_better[primary]) if primary in metrics else {}
    header = "".join(f"<th>{html.escape(metric)} (mean ± sd)</th>" for metric in metrics)
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
    direction = "higher" if result.higher_is_better.get(primary, True) else "lower"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>thresher eval report</title><style>{_STYLE}</style></head>
<body>
<h1>thresher eval: {html.escape(str(result.config.get("task")))}</h1>
<p>{len(result.runs)} training runs on {result.config.get("train_examples")} training examples, scored on
{result.config.get("eval_examples")} held-out examples. Bands and ± are one standard deviation over seeds.</p>
<img alt="metric vs keep ratio" src="data:image/png;base64,{image}">
<h2>Results</h2>
<table id="results"><tr><th class="name">method</th><th>keep</th><th>examples</th><th>seeds</th>{header}</tr>
{_result_rows(result, metrics, primary, best)}
</table>
<h2>Best method at each keep ratio</h2>
<p>By mean {html.escape(primary)} ({direction} is better), full data excluded.</p>
<table id="best"><tr><th>keep</th><th class="name">method</th><th>{html.escape(primary)}</th></tr>{best_rows}</table>
{reference_block}
<h2>Configuration</h2>
<table id="config">{_setting_rows(result.config)}</table>
<h2>Parameters</h2>
<table id="params">{_setting_rows(params)}</table>
</body></html>
"""


def _result_rows(result: EvalResult, metrics: list[str], primary: str, best: dict[float, tuple[str, float]]) -> str:
    """One table row per method and keep ratio: examples kept, seeds, and each metric's mean ± sd."""
    summaries = {metric: summarize(result.runs, metric) for metric in metrics}
    rows = []
    for method in dict.fromkeys(run.method for run in result.runs):
        for keep in sorted({run.keep for run in result.runs if run.method == method}):
            kept = [run.kept for run in result.runs if run.method == method and run.keep == keep]
            cells = []
            for metric in metrics:
                mean, spread, _ = summaries[metric][method][keep]
                is_best = metric == primary and best.get(keep, ("", 0.0))[0] == method
                css = ' class="best"' if is_best else ""
                cells.append(f"<td{css}>{mean:.4f} ± {spread:.4f}</td>")
            rows.append(
                f'<tr><td class="name">{html.escape(method)}</td><td>{keep:g}</td><td>{int(np.mean(kept))}</td>'
                f"<td>{len(kept)}</td>{''.join(cells)}</tr>"
            )
    return "".join(rows)


def _setting_rows(settings: Mapping[str, Any]) -> str:
    return "".join(
        f'<tr><td class="name">{html.escape(str(key))}</td><td class="name">{html.escape(_show(value))}</td></tr>'
        for key, value in settings.items()
    )


def _show(value: Any) -> str:
    return json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
