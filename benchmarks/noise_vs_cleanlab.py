"""Flipped-label detection: every thresher noise score against cleanlab, on the same embeddings in the same run.

WordNet glosses labelled by lexicographer file (`scripts/build_corpus.py wordnet-supersense`, a seeded stratified
sample of `--rows`), under three kinds of label noise: 20 % and 40 % uniform flips (to any other class) and 20 %
class-dependent flips (each class to one fixed class, the next in sorted order). The texts are embedded once with
all-MiniLM-L6-v2 (`thresher.embeddings`, cached under the work directory) and every method sees the same vectors:

- thresher: the training-dynamics scorers (EL2N, GraNd, loss, forgetting, VoG, AUM and its threshold-sample flag,
  data maps) from one shared proxy training (the scorers' own `compute`, with their registry defaults), and `oof`
  with the `logreg` and the `head` (MLP) proxy, 5-fold cross-fitted;
- cleanlab 2.x: `cleanlab.filter.find_label_issues` and `cleanlab.rank.get_label_quality_scores` (defaults:
  prune-by-noise-rate, self-confidence) on 5-fold out-of-fold probabilities from
  `cleanlab.count.estimate_cv_predicted_probabilities` of scikit-learn's LogisticRegression (raw embeddings, as
  users call it; and standardised, as thresher's logreg proxy sees them) and of an MLPClassifier (defaults).

For each method: ROC-AUC at ranking flipped examples first, precision and recall of its own flagged set, and its
seconds (the dynamics scores share one training, so they share its seconds). Flagged sets: cleanlab's
`find_label_issues`; `aum_mislabeled` itself; `oof_*`: the examples whose out-of-fold predicted class is not their
label; every other score (no flag of its own): its k most suspicious examples, k = the number cleanlab (logistic
regression) flagged in the same condition, so those rows compare ranking at cleanlab's set size. `p@flips` is the
precision of the n_flipped most suspicious (= recall at that size), a rank measure free of any flagging rule.

The dynamics scores come from two shared trainings: the scorers' defaults (10 epochs) and a longer run
(`--long-epochs`, 30), rows of the latter marked "(30 epochs)". EL2N is kept at every epoch end of both; the
fraction of the run (0.1 … 1.0, rounded to an epoch end as `score_fraction` is) with the best ROC-AUC, averaged over
the conditions and both run lengths, is what `score_fraction`'s default is set to (see the report).

    python benchmarks/noise_vs_cleanlab.py [--rows 4000] [--seed 0] [--workdir DIR]
    python benchmarks/noise_vs_cleanlab.py --smoke --embedder DIR --results-dir DIR   # tiny, bundled glosses

Writes benchmarks/results/noise_vs_cleanlab.{json,md} (or under --results-dir).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
CONDITIONS = [
    ("uniform 20 %", 0.2, "uniform"),
    ("uniform 40 %", 0.4, "uniform"),
    ("class-dep. 20 %", 0.2, "class-dependent"),
]
DYNAMICS = ["el2n", "grand", "loss", "forgetting", "vog", "aum", "datamap"]


def roc_auc(importance: np.ndarray, positive: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, importance))


def flag_metrics(flagged: np.ndarray, flipped: np.ndarray) -> dict[str, float]:
    """Precision and recall of a flagged set against the flipped examples."""
    hits = int((flagged & flipped).sum())
    return {
        "flagged": int(flagged.sum()),
        "precision": hits / max(int(flagged.sum()), 1),
        "recall": hits / max(int(flipped.sum()), 1),
    }


def top_k(importance: np.ndarray, k: int) -> np.ndarray:
    """The k most important examples as a mask (stable order: earlier rows win ties)."""
    mask = np.zeros(importance.size, dtype=bool)
    mask[np.argsort(-importance, kind="stable")[:k]] = True
    return mask


def load_records(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The clean sample: WordNet from wordnet-base (or, with --smoke, the bundled 4,000 glosses), seeded."""
    from thresher.data.corpora.build import build_corpus
    from thresher.data.corpora.wordnet import stratified_sample

    if not args.smoke:
        return build_corpus("wordnet-supersense", limit=args.rows, seed=args.seed)
    bundled = resources.files("thresher.data.samples") / "wordnet_glosses.jsonl.gz"
    with gzip.open(bundled.open("rb"), "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    return stratified_sample(records, args.rows, np.random.default_rng(args.seed))


def embed(records: list[dict[str, Any]], args: argparse.Namespace, workdir: Path) -> tuple[np.ndarray, float]:
    """The texts' embeddings through thresher's shared embedding cache (reused by a rerun), and the seconds."""
    import pyarrow as pa

    from thresher.embeddings import cached_embeddings

    batch = pa.record_batch({"id": [str(r["id"]) for r in records], "text": [r["text"] for r in records]})
    started = time.perf_counter()
    _, vectors = cached_embeddings(workdir / "cache", args.embedder, lambda: iter([batch]), device="cpu")
    return np.array(vectors, dtype=np.float32), time.perf_counter() - started


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = function()
    return value, time.perf_counter() - started


def dynamics_methods(record, scorers: dict, seconds: float, suffix: str = "") -> dict[str, dict[str, Any]]:
    """Every dynamics score column from one training record, by the scorers' own `compute`."""
    from thresher.selection.strategies import importance

    methods = {}
    for scorer in scorers.values():
        for column_name, values in scorer.compute(record).items():
            direction = next(c.direction for c in scorer.columns if c.name == column_name)
            methods[column_name + suffix] = {
                "importance": importance(np.asarray(values, dtype=np.float64), direction),
                "flag": None,
                "seconds": seconds,
            }
    return methods


def thresher_methods(features: np.ndarray, labels: np.ndarray, classes: list[str], args: argparse.Namespace) -> dict:
    """Every thresher noise score: {method: {"importance", "flag" (or None), "seconds"}}, and the EL2N readings.

    The dynamics scores come from the default training (the scorers' defaults) and, suffixed "(N epochs)", from a
    longer one (`--long-epochs`); EL2N is kept at every epoch end of both.
    """
    from thresher.models import crossfit, proxy
    from thresher.ops.label_quality import predicted_other
    from thresher.scorers.oof import oof_columns
    from thresher.scorers.registry import SCORERS
    from thresher.selection.strategies import importance
    from thresher.types import RunContext

    common = {"device": "cpu", "seed": args.seed, **({"epochs": args.epochs} if args.epochs else {})}
    scorers = {name: SCORERS.get(name)(**common) for name in DYNAMICS}
    config = scorers["el2n"].config()
    record, training_seconds = timed(lambda: proxy.train_proxy(features, labels, config, device="cpu"))
    methods = dynamics_methods(record, scorers, training_seconds)
    long_scorers = {name: SCORERS.get(name)(**{**common, "epochs": args.long_epochs}) for name in DYNAMICS}
    long_config = long_scorers["el2n"].config()
    long_record, long_seconds = timed(lambda: proxy.train_proxy(features, labels, long_config, device="cpu"))
    methods.update(dynamics_methods(long_record, long_scorers, long_seconds, f" ({args.long_epochs} epochs)"))
    context = RunContext(cache_dir=None, input_digest="benchmark")
    (flags, provenance), threshold_seconds = timed(
        lambda: scorers["aum"].compute_more(lambda: features, labels, classes, config, context)
    )
    flag = flags["aum_mislabeled"].astype(bool)
    methods["aum_mislabeled"] = {
        "importance": flag.astype(np.float64),
        "flag": flag,
        "seconds": training_seconds + threshold_seconds,
    }
    for proxy_name, label in (("logreg", "logreg"), ("head", "mlp")):
        oof = SCORERS.get("oof")(proxy=proxy_name, **common)
        (probs, _), seconds = timed(
            lambda oof=oof: crossfit.out_of_fold_probs(features, labels, len(classes), oof.config(), device="cpu")
        )
        for column_name, values in oof_columns(probs, labels).items():
            direction = next(c.direction for c in oof.columns if c.name == column_name)
            methods[f"{column_name} ({label})"] = {
                "importance": importance(values, direction),
                "flag": predicted_other(probs, labels),
                "seconds": seconds,
            }
    el2n_by_epoch = {
        str(run.num_epochs): [
            run.el2n[:, epoch].astype(np.float64).mean(axis=0) for epoch in range(run.num_epochs + 1)
        ]
        for run in (record, long_record)
    }
    extra = {
        "training_seconds": training_seconds,
        "long_training_seconds": long_seconds,
        "threshold_runs_seconds": threshold_seconds,
        "aum_thresholds": provenance["aum_thresholds"],
        "final_train_accuracy": float(record.correct[:, -1].mean()),
        "final_train_accuracy_long": float(long_record.correct[:, -1].mean()),
        "epochs": config.epochs,
        "seeds": config.seeds,
        "read_epoch": config.score_epoch,
    }
    return {"methods": methods, "el2n_by_epoch": el2n_by_epoch, **extra}


def cleanlab_methods(features: np.ndarray, labels: np.ndarray, args: argparse.Namespace) -> dict[str, dict]:
    """cleanlab on 5-fold out-of-fold probabilities of three scikit-learn classifiers."""
    from cleanlab.count import estimate_cv_predicted_probabilities
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifiers = {
        "cleanlab (logreg)": LogisticRegression(max_iter=1000),
        "cleanlab (logreg, standardised)": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "cleanlab (mlp)": MLPClassifier(random_state=args.seed, **({"max_iter": 20} if args.smoke else {})),
    }
    methods = {}
    for name, classifier in classifiers.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence and small-class warnings of the default settings
            probs = estimate_cv_predicted_probabilities(features, labels, clf=classifier, cv_n_folds=5, seed=args.seed)
            issues = find_label_issues(labels, probs)
            quality = get_label_quality_scores(labels, probs)
        methods[name] = {"importance": -quality, "flag": issues, "seconds": time.perf_counter() - started}
    return methods


def evaluate(methods: dict[str, dict], flipped: np.ndarray, reference_count: int) -> dict[str, dict]:
    """ROC-AUC, precision and recall of the flagged set, p@flips and seconds of every method."""
    rows = {}
    for name, method in methods.items():
        flag = method["flag"] if method["flag"] is not None else top_k(method["importance"], reference_count)
        rows[name] = {
            "roc_auc": roc_auc(method["importance"], flipped),
            **flag_metrics(np.asarray(flag, dtype=bool), flipped),
            "flag_rule": "own" if method["flag"] is not None else f"top {reference_count}",
            "p_at_flips": float(flipped[top_k(method["importance"], int(flipped.sum()))].mean()),
            "seconds": method["seconds"],
        }
    return dict(sorted(rows.items(), key=lambda item: -item[1]["roc_auc"]))


def run_condition(records, features, noise, mode, args) -> dict[str, Any]:
    from thresher.data.corpora.noise import add_label_noise
    from thresher.labels import class_index, class_order

    rng = np.random.default_rng([args.seed, int(noise * 100), int(mode == "class-dependent")])
    noisy = add_label_noise(records, noise, rng, mode=mode)
    classes = class_order(record["label"] for record in noisy)
    index = class_index(classes)
    labels = np.array([index[record["label"]] for record in noisy], dtype=np.int64)
    flipped = np.array([record["noisy"] for record in noisy], dtype=bool)
    ours = thresher_methods(features, labels, classes, args)
    theirs = cleanlab_methods(features, labels, args)
    reference_count = int(np.asarray(theirs["cleanlab (logreg)"]["flag"]).sum())
    table = evaluate({**ours["methods"], **theirs}, flipped, reference_count)
    el2n_auc = {
        length: [roc_auc(values, flipped) for values in readings] for length, readings in ours["el2n_by_epoch"].items()
    }
    best = {
        side: max((row for name, row in table.items() if name.startswith("cleanlab") == (side == "cleanlab")),
                  key=lambda row: row["roc_auc"])["roc_auc"]
        for side in ("thresher", "cleanlab")
    }  # fmt: skip
    return {
        "noise": noise,
        "mode": mode,
        "classes": len(classes),
        "flipped": int(flipped.sum()),
        "methods": table,
        "el2n_roc_auc_by_epoch": el2n_auc,
        "best_roc_auc": best,
        **{key: value for key, value in ours.items() if key not in ("methods", "el2n_by_epoch")},
    }


def load_average() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"


def report_lines(result: dict) -> list[str]:
    lines = [
        "# Flipped-label detection: thresher vs cleanlab",
        "",
        f"{result['rows']} WordNet glosses ({result['corpus']}), embedded once with {result['embedder']} "
        f"({result['embedding_seconds']:.0f} s, not counted below); every method on the same vectors. Dynamics: "
        f"{result['seeds']} seeds × {result['epochs']} epochs of the head proxy (the default), one training shared "
        f"by the dynamics scores, and the same for {result['long_epochs']} epochs (rows marked so). Load before / "
        "after: "
        f"`{result['load_before']}` / `{result['load_after']}` (2 shared cores).",
        "",
        "Flag rule: cleanlab = `find_label_issues`; `aum_mislabeled` = itself; `oof_*` = out-of-fold prediction ≠ "
        "label; other scores = their top k, k = cleanlab (logreg)'s count. p@flips = precision of the n_flipped "
        "most suspicious.",
        "",
        "| condition | thresher best | cleanlab best | ratio |",
        "|---|---|---|---|",
    ]
    for name, condition in result["conditions"].items():
        ours = max(((m, r) for m, r in condition["methods"].items() if not m.startswith("cleanlab")),
                   key=lambda item: item[1]["roc_auc"])  # fmt: skip
        theirs = max(((m, r) for m, r in condition["methods"].items() if m.startswith("cleanlab")),
                     key=lambda item: item[1]["roc_auc"])  # fmt: skip
        lines.append(
            f"| {name} | {ours[1]['roc_auc']:.3f} `{ours[0]}` | {theirs[1]['roc_auc']:.3f} `{theirs[0]}` | "
            f"{ours[1]['roc_auc'] / theirs[1]['roc_auc']:.3f} |"
        )
    for name, condition in result["conditions"].items():
        lines += [
            "",
            f"## {name}: {condition['flipped']} of {result['rows']} labels flipped, {condition['classes']} classes",
            "",
            "| method | ROC-AUC | flagged | precision | recall | p@flips | seconds |",
            "|---|---|---|---|---|---|---|",
        ]
        for method, row in condition["methods"].items():
            flagged = f"{row['flagged']}" + ("" if row["flag_rule"] == "own" else " (top k)")
            lines.append(
                f"| {method} | {row['roc_auc']:.3f} | {flagged} | {row['precision']:.3f} | {row['recall']:.3f} | "
                f"{row['p_at_flips']:.3f} | {row['seconds']:.1f} |"
            )
    lines += [
        "",
        "## EL2N by reading point",
        "",
        "ROC-AUC of EL2N read at a fraction of the run (rounded to an epoch end, as `score_fraction` is), for runs",
        f"of {' and '.join(result['el2n_run_lengths'])} epochs; mean over conditions and run lengths last:",
        "",
        "| fraction | "
        + " | ".join(f"{c} ({n} ep.)" for c in result["conditions"] for n in result["el2n_run_lengths"])
        + " | mean |",
        "|---|" + "---|" * (len(result["conditions"]) * len(result["el2n_run_lengths"]) + 1),
    ]
    for fraction, row in result["el2n_by_fraction"].items():
        cells = " | ".join(f"{value:.3f}" for value in row["cells"])
        lines.append(f"| {float(fraction):.1f} | {cells} | {row['mean']:.3f} |")
    lines += ["", f"Best reading point: fraction {result['el2n_best_fraction']:.1f} of the run.", ""]
    return lines


def el2n_by_fraction(conditions: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """For each fraction 0.1 … 1.0: EL2N's ROC-AUC per (condition, run length) at that point, and their mean."""
    from thresher.ops.dynamics import epoch_at_fraction

    table = {}
    for step in range(1, 11):
        fraction = step / 10
        cells = [
            curve[epoch_at_fraction(fraction, int(length))]
            for condition in conditions.values()
            for length, curve in condition["el2n_roc_auc_by_epoch"].items()
        ]
        table[f"{fraction:.1f}"] = {"cells": cells, "mean": float(np.mean(cells))}
    return table


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="examples per condition (default 4000; smoke 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embedder", default="all-MiniLM-L6-v2")
    parser.add_argument("--epochs", type=int, default=None, help="proxy epochs (default: the scorers'; smoke 3)")
    parser.add_argument("--long-epochs", type=int, default=None, help="the longer dynamics run (30; smoke 6)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the embedding cache is kept")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--smoke", action="store_true", help="tiny: bundled glosses, one condition, few epochs")
    args = parser.parse_args(argv)
    args.rows = args.rows or (300 if args.smoke else 4000)
    args.epochs = args.epochs or (3 if args.smoke else None)
    args.long_epochs = args.long_epochs or (6 if args.smoke else 30)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    load_before = load_average()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="noise-vs-cleanlab-"))
    records = load_records(args)
    features, embedding_seconds = embed(records, args, workdir)
    conditions = CONDITIONS[:1] if args.smoke else CONDITIONS
    results = {}
    with threadpool_limits(1):  # scikit-learn's BLAS on one thread, as torch: seconds compare like for like
        for name, noise, mode in conditions:
            results[name] = run_condition(records, features, noise, mode, args)
            print(f"{name}: best thresher {results[name]['best_roc_auc']}", flush=True)
    first = next(iter(results.values()))
    by_fraction = el2n_by_fraction(results)
    best_fraction = max(by_fraction, key=lambda fraction: by_fraction[fraction]["mean"])
    result = {
        "corpus": "bundled sample" if args.smoke else "wordnet-base, stratified sample",
        "rows": len(records),
        "embedder": args.embedder if args.smoke else "all-MiniLM-L6-v2",
        "embedding_seconds": embedding_seconds,
        "seeds": first["seeds"],
        "epochs": first["epochs"],
        "long_epochs": args.long_epochs,
        "seed": args.seed,
        "conditions": results,
        "el2n_run_lengths": list(first["el2n_roc_auc_by_epoch"]),
        "el2n_by_fraction": by_fraction,
        "el2n_best_fraction": float(best_fraction),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, CPU only",
        "load_before": load_before,
        "load_after": load_average(),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "noise_vs_cleanlab.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    lines = report_lines(result)
    (args.results_dir / "noise_vs_cleanlab.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return result


if __name__ == "__main__":
    main()
