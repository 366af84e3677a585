"""Does pruning by training dynamics beat random on real data? WordNet supersense classification, clean and noisy.

Builds `wordnet-supersense` (WordNet glosses → one of 45 lexicographer files) with the package's corpus builder,
holds out a clean, class-stratified evaluation set, and makes two training sets from the rest: `clean`, and
`noise20` with 20% of the training labels flipped (the held-out labels stay clean, so accuracy measures what
was learnt, not how well the noise was copied). For each, every training-dynamics score is computed with
`thresher.score` (MiniLM head proxy, 3 seeds × 10 epochs) and `thresher.evaluate` trains the classify target
(MLP on MiniLM embeddings) on what each method keeps:

- `random`, `full`;
- `COLUMN` (= `COLUMN:top`): keep the most important = hardest examples by the column's declared direction, as
  the papers prune (EL2N, GraNd, forgetting, VoG, AUM, data-map confidence / variability / correctness, loss);
- `COLUMN:bottom`: keep the easiest, the direction that drops suspected label noise first;
- `el2n:stratified`: CCS (coverage-centric), dropping the hardest 10% first.

    python benchmarks/repro_wordnet.py [--train 8000] [--eval 2000] [--seeds 3] [--workdir /tmp/...]

Writes benchmarks/results/repro_wordnet/{clean,noise20}/ (results.json, curves.png, report.html from the
harness, summary.md) and prints the total time.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import thresher
from thresher.cache import cache_dir
from thresher.data.corpora.build import build_corpus, write_jsonl
from thresher.data.corpora.noise import add_label_noise
from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.embeddings import EMBEDDINGS_DIR_NAME
from thresher.eval.choose import build_strategies, choose_all
from thresher.eval.data import training_columns
from thresher.eval.plan import PlannedRun, parse_methods
from thresher.eval.registry import TARGETS
from thresher.labels import class_index
from thresher.store import ScoreStore

RESULTS = Path(__file__).parent / "results" / "repro_wordnet"
SCORERS = ["el2n", "grand", "forgetting", "vog", "aum", "datamap", "loss"]
COLUMNS = ["el2n", "grand", "forgetting", "vog", "aum", "confidence", "variability", "correctness", "loss"]
KEEPS = (0.1, 0.3, 0.5, 0.7, 0.9)
# Class balance (Influence Scores at Scale warns that pruning by difficulty empties some classes): the same
# strategies run within each class with a budget proportional to its size (`METHOD:balanced`).
BALANCED = ["random:balanced", "el2n:balanced", "el2n:bottom:balanced", "aum:bottom:balanced", "forgetting:balanced"]
ALL_METHODS = ["random", "full", *COLUMNS, *(f"{column}:bottom" for column in COLUMNS), "el2n:stratified", *BALANCED]
NOISE = 0.2
# Batches of 256 instead of the harness's 64: a 64-row step of this small MLP costs nearly as much as a 256-row
# one on a loaded CPU, so this is ~3x faster for the same epochs; 30 epochs still fit the head.
CLASSIFY_OPTIONS = {"batch_size": 256, "epochs": 30}


def split_held_out(
    records: Sequence[dict[str, Any]], eval_size: int, rng: np.random.Generator
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training, held-out): each class gives the same share to the held-out part, but never its last member,
    so every held-out class is also seen in training."""
    by_class: dict[str, list[int]] = defaultdict(list)
    for row, record in enumerate(records):
        by_class[record["label"]].append(row)
    share = eval_size / len(records)
    held_out: set[int] = set()
    for rows in by_class.values():
        take = min(len(rows) - 1, round(share * len(rows)))
        held_out.update(int(row) for row in rng.choice(rows, size=take, replace=False))
    train = [record for row, record in enumerate(records) if row not in held_out]
    evaluation = [record for row, record in enumerate(records) if row in held_out]
    return train, evaluation


def summary_table(
    runs: Sequence[dict[str, Any]],
    metric: str,
    extra: dict[tuple[str, float], str] | None = None,
    extra_name: str = "",
) -> list[str]:
    """Markdown rows: per method and keep, the mean of `metric` over seeds with its 95 % t-interval, and the paired
    verdicts against random at the same keep and against full data (paired t-test on the per-seed differences at
    α = 0.05, `thresher.eval.stats`): the mean difference, p, and when undecided the seeds that would decide."""
    from thresher.eval.stats import compare_paired, mean_interval

    values: dict[tuple[str, float], dict[int, float]] = defaultdict(dict)
    for run in runs:
        values[(run["method"], run["keep"])][run["seed"]] = run["metrics"][metric]
    higher_is_better = {
        name: up for task in ("classify", "lm") for name, up in TARGETS.get(task).higher_is_better().items()
    }
    higher = higher_is_better[metric]

    def cell(key: tuple[str, float]) -> str:
        interval = mean_interval(list(values[key].values()))
        span = f" [{interval.low:.4f}, {interval.high:.4f}]" if interval.low is not None else ""
        return f"{interval.mean:.4f}{span}"

    def verdict(key: tuple[str, float], baseline: tuple[str, float]) -> str:
        if baseline not in values or key == baseline:
            return ""
        comparison = compare_paired(values[key], values[baseline], higher_is_better=higher, baseline_name="")
        if comparison.mean_difference is None or comparison.p_value is None:
            return "untested"
        shown = f"{comparison.mean_difference:+.4f}, p {comparison.p_value:.2g}"
        if comparison.verdict in ("better", "worse"):
            return f"**{comparison.verdict}** ({shown})" if comparison.verdict == "better" else f"worse ({shown})"
        needed = f"; ~{comparison.seeds_needed} seeds" if comparison.seeds_needed is not None else ""
        return f"undecided ({shown}{needed})"

    header = f"| method | keep | {metric} mean [95 % interval] | vs random | vs full |"
    rule = "|---|---:|---|---|---|"
    if extra is not None:
        header += f" {extra_name} |"
        rule += "---:|"
    lines = [header, rule]
    if ("full", 1.0) in values:
        lines.append(f"| full | 1.0 | {cell(('full', 1.0))} | | |" + (" |" if extra is not None else ""))
    methods = list(dict.fromkeys(run["method"] for run in runs if run["method"] != "full"))
    for method in methods:
        for keep in sorted({k for (m, k) in values if m == method}):
            key = (method, keep)
            against = f"{verdict(key, ('random', keep))} | {verdict(key, ('full', 1.0))}"
            row = f"| {method} | {keep:g} | {cell(key)} | {against} |"
            if extra is not None:
                row += f" {extra.get(key, '')} |"
            lines.append(row)
    return lines


def class_table(results_path: Path) -> list[str]:
    """Markdown: per cell, the least kept class, the worst held-out class, and against random at the same keep the
    mean per-class recall difference and the classes whose recall falls more than 0.1 below random's."""
    cells = json.loads(results_path.read_text())["summary"]["cells"]
    lines = [
        "## Classes: what pruning does to each of the 45 classes",
        "",
        "Per cell (means over seeds): the class with the smallest share of its training examples kept, the class "
        "with the lowest held-out recall, and against random at the same keep the mean per-class recall "
        "difference and how many classes lose more than 0.1 recall (*left behind*).",
        "",
        "| method | keep | least kept class (share) | worst recall class (recall) | recall − random | left behind |",
        "|---|---:|---|---|---:|---:|",
    ]
    for cell in cells:
        brief = cell.get("classes")
        if not brief or cell["method"] == "full":
            continue
        least = brief.get("least_kept")
        worst = brief.get("worst_recall")
        gap = brief.get("recall_vs_random")
        lines.append(
            f"| {cell['method']} | {cell['keep']:g} | "
            + (f"{least[0]} ({least[1]:.2f})" if least else "")
            + " | "
            + (f"{worst[0]} ({worst[1]:.2f})" if worst else "")
            + f" | {'' if gap is None or cell['method'] == 'random' else f'{gap:+.3f}'} | "
            + f"{'' if cell['method'] == 'random' else len(brief.get('left_behind', []))} |"
        )
    return [*lines, ""]


def plot_by_direction(results_path: Path, out_path: Path) -> None:
    """Accuracy vs keep in two panels (hardest kept | easiest kept, with CCS), random and full in both.

    The harness's curves.png draws all 20 methods in one panel with a 10-colour cycle and a legend over the
    plot; this split keeps every line tellable apart.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = json.loads(results_path.read_text())["runs"]
    values: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        values[run["method"]][run["keep"]].append(run["metrics"]["accuracy"])
    full = float(np.mean(values["full"][1.0]))
    panels = {
        "keep the hardest (COLUMN = COLUMN:top)": COLUMNS,
        "keep the easiest (COLUMN:bottom), and CCS": [*(f"{c}:bottom" for c in COLUMNS), "el2n:stratified"],
        "within each class (METHOD:balanced)": BALANCED,
    }
    panels = {title: [m for m in methods if m in values] for title, methods in panels.items()}
    panels = {title: methods for title, methods in panels.items() if methods}
    colours = plt.get_cmap("tab10")
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), sharey=True, squeeze=False)
    for axis, (title, methods) in zip(axes[0], panels.items(), strict=True):
        for index, method in enumerate(["random", *methods]):
            keeps = sorted(values[method])
            means = np.array([np.mean(values[method][k]) for k in keeps])
            stds = np.array([np.std(values[method][k]) for k in keeps])
            style = {"color": "black", "linewidth": 2.5} if method == "random" else {"color": colours(index % 10)}
            axis.plot(keeps, means, marker="o", label=method, linestyle="-" if index <= 10 else "--", **style)
            axis.fill_between(keeps, means - stds, means + stds, alpha=0.15, color=style["color"])
        axis.axhline(full, color="grey", linestyle=":", label="full data")
        axis.set_title(title)
        axis.set_xlabel("keep ratio")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    axes[0][0].set_ylabel("held-out accuracy")
    figure.suptitle(f"WordNet supersense, {results_path.parent.name}: mean ± std over seeds")
    figure.tight_layout()
    figure.savefig(out_path, dpi=110)
    plt.close(figure)


def noisy_kept_fraction(
    result: Any, store: ScoreStore, noisy: np.ndarray, labels: Sequence[str]
) -> dict[tuple[str, float], str]:
    """Per method and keep: the share of flipped labels among the kept rows, mean over seeds (the known answer);
    the rows are chosen again by the harness's choose step, with the strategy parameters the results record."""
    methods = {method.name: method for method in parse_methods(result.config["methods"], store.column_infos())}
    runs = [PlannedRun(methods[run.method], run.keep, run.seed) for run in result.runs]
    wanted = [run.method.column for run in runs if run.method.column is not None]
    columns = training_columns(store, wanted, np.arange(len(noisy)))  # --eval-file: every row is a training row
    texts = [""] * len(noisy)  # the methods here read score columns only
    shares: dict[tuple[str, float], list[float]] = defaultdict(list)
    strategies = build_strategies([run.method for run in runs], result.params)
    index = class_index(list(labels))  # the training labels (flipped ones included), as the harness reads them
    classes = np.array([index[label] for label in labels], dtype=np.int64)
    for run, rows in zip(result.runs, choose_all(runs, columns, texts, strategies, classes), strict=True):
        shares[(run.method, run.keep)].append(float(noisy[rows].mean()))
    return {key: f"{np.mean(v):.1%}" for key, v in shares.items()}


def run_condition(
    name: str,
    train: list[dict[str, Any]],
    eval_path: Path,
    workdir: Path,
    args: argparse.Namespace,
    embedding_cache_from: Path | None,
) -> tuple[Path, dict[str, float]]:
    """Score one training set, evaluate every method on it, write its report and summary; give its score dir."""
    timings: dict[str, float] = {}
    data = workdir / f"{name}.jsonl"
    write_jsonl(train, data)
    scores = workdir / f"scores-{name}"
    if embedding_cache_from is not None and not (cache_dir(scores) / EMBEDDINGS_DIR_NAME).exists():
        # Same ids and texts as the clean set (only labels differ): reuse its MiniLM embeddings. The store is
        # bound to the input first, since a score directory must not hold anything before its manifest.
        ScoreStore(scores).bind_input(open_dataset(data, Fields(text="text", id="id", label="label")).fingerprint())
        shutil.copytree(cache_dir(embedding_cache_from) / EMBEDDINGS_DIR_NAME, cache_dir(scores) / EMBEDDINGS_DIR_NAME)
    started = time.perf_counter()
    thresher.score(
        data, scorers=SCORERS, out=scores, id_field="id", label_field="label", seed=args.seed,
        params={"seeds": args.seeds, "epochs": args.proxy_epochs, "score_epoch": 2}, device="cpu",
    )  # fmt: skip
    timings["score_seconds"] = round(time.perf_counter() - started, 1)
    print(f"[{name}] scored in {timings['score_seconds']:.0f} s", flush=True)

    # CCS drops the hardest β first; β = 0.1 in both conditions, since with β = 0.2 `--keep 0.9` is infeasible
    # (the harness stops the whole evaluation on an infeasible cell).
    drop_hardest = 0.1
    methods = args.methods.split(",")
    ccs = {"drop_hardest": drop_hardest} if any(method.endswith(":stratified") for method in methods) else {}
    out = RESULTS / name
    started = time.perf_counter()
    result = thresher.evaluate(
        data, task="classify", out=out, methods=methods, keep=args.keeps, seeds=args.seeds, scores=scores,
        eval_file=eval_path, id_field="id", label_field="label", seed=args.seed, device="cpu",
        params={**CLASSIFY_OPTIONS, **ccs}, show_progress=args.progress,
    )  # fmt: skip
    timings["eval_seconds"] = round(time.perf_counter() - started, 1)
    print(f"[{name}] evaluated {len(result.runs)} runs in {timings['eval_seconds']:.0f} s", flush=True)

    plot_by_direction(out / "results.json", out / "curves_by_direction.png")
    runs = [{"method": r.method, "keep": r.keep, "seed": r.seed, "metrics": r.metrics} for r in result.runs]
    noisy = np.array([record.get("noisy", False) for record in train], dtype=bool)
    extra = (
        noisy_kept_fraction(result, ScoreStore.open(scores), noisy, [r["label"] for r in train])
        if noisy.any()
        else None
    )
    write_summary(name, runs, result.config, timings, extra, drop_hardest, int(noisy.sum()))
    return scores, timings


def write_summary(
    name: str,
    runs: list[dict[str, Any]],
    config: dict[str, Any],
    timings: dict[str, float],
    noisy_share: dict[tuple[str, float], str] | None,
    drop_hardest: float,
    n_noisy: int,
) -> None:
    """summary.md: what was run, and the accuracy table (with the share of flipped labels kept, when noisy)."""
    condition = (
        f"{n_noisy} of {config['train_examples']} training labels ({NOISE:.0%}) flipped to another class; "
        "held-out labels clean"
        if n_noisy
        else "clean labels"
    )
    lines = [
        f"# WordNet supersense classification, {name}",
        "",
        f"{config['train_examples']} training glosses ({condition}), {config['eval_examples']} held-out glosses, "
        "45 classes. Target: MLP head on standardised all-MiniLM-L6-v2 embeddings "
        f"({CLASSIFY_OPTIONS['epochs']} epochs). Scores: thresher dynamics scorers, head proxy, "
        f"{config['seeds']} seeds. `COLUMN` keeps the hardest by the column's declared direction, `COLUMN:bottom` "
        f"the easiest, `el2n:stratified` is CCS dropping the hardest {drop_hardest:.0%} first. {config['seeds']} "
        f"seeds per cell. Scoring {timings['score_seconds']:.0f} s, evaluation {timings['eval_seconds']:.0f} s "
        f"({platform.machine()}, 2 shared CPU cores).",
        "",
        "*vs random* / *vs full* — the paired t-test on the per-seed differences (runs paired by seed) at "
        "α = 0.05: **better** or worse when p < 0.05, otherwise undecided with the seeds that would give the test "
        "80 % power at the observed difference and spread (`thresher.eval.stats`).",
        "",
        "Figures: [curves_by_direction.png](curves_by_direction.png) (hardest-kept and easiest-kept methods in "
        "separate panels) and the harness's [curves.png](curves.png) / [report.html](report.html) (all methods).",
        "",
        *summary_table(runs, "accuracy", noisy_share, "flipped labels kept"),
        "",
        *class_table(RESULTS / name / "results.json"),
    ]
    (RESULTS / name / "summary.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=8000, help="about this many training glosses")
    parser.add_argument("--eval", type=int, default=2000, help="about this many held-out glosses")
    parser.add_argument("--seeds", type=int, default=3, help="proxy seeds and eval seeds")
    parser.add_argument("--proxy-epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--conditions", default="clean,noise20")
    parser.add_argument("--methods", default=",".join(ALL_METHODS), help="eval methods (default: all)")
    parser.add_argument("--keeps", default=",".join(f"{keep:g}" for keep in KEEPS))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/thresher-repro-wordnet"))
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    started = time.perf_counter()
    # One intra-op thread: on a CPU shared with other jobs, two threads spin-wait on each other's tiny matrix
    # products; the harness's MLP trained 14x slower with torch's default of 2 threads at load 5 on 2 cores.
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(args.seed)
    records = build_corpus("wordnet-supersense", limit=args.train + args.eval, seed=args.seed)
    train, evaluation = split_held_out(records, args.eval, rng)
    args.workdir.mkdir(parents=True, exist_ok=True)
    eval_path = args.workdir / "heldout.jsonl"
    write_jsonl(evaluation, eval_path)
    training_sets = {
        "clean": [{**record, "clean_label": record["label"], "noisy": False} for record in train],
        "noise20": add_label_noise(train, NOISE, rng),
    }
    timings: dict[str, Any] = {}
    clean_scores: Path | None = None
    for name in args.conditions.split(","):
        scores, timings[name] = run_condition(name, training_sets[name], eval_path, args.workdir, args, clean_scores)
        clean_scores = clean_scores or scores
    total = time.perf_counter() - started
    timings["total_seconds"] = round(total, 1)
    (RESULTS / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"total time: {total:.0f} s ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
