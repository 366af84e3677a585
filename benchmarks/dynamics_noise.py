"""Do training-dynamics scores find flipped labels? WordNet glosses → lexicographer class, 20% labels flipped.

Takes a stratified sample of WordNet glosses (label = one of 45 lexicographer files), flips 20% of the labels to
another class at random (seeded), runs every dynamics scorer through `thresher.score` with the default head proxy
(all-MiniLM-L6-v2 embeddings + MLP), and reports the ROC-AUC of each score, turned by its declared direction so that
higher = more important, at ranking flipped examples above clean ones.

    python benchmarks/dynamics_noise.py [--rows 20000] [--noise 0.2] [--seeds 3] [--epochs 10]

Writes benchmarks/results/dynamics_noise.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import thresher
from thresher.data.corpora.wordnet import iter_wordnet_glosses
from thresher.selection.strategies import importance
from thresher.store import ScoreStore

RESULTS = Path(__file__).parent / "results"
SCORERS = ["aum", "forgetting", "el2n", "loss", "grand", "vog", "datamap"]


def stratified_sample(records: list[dict], rows: int, rng: np.random.Generator) -> list[dict]:
    """About `rows` records with each class kept in proportion to its size (at least one per class)."""
    by_class: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_class[record["label"]].append(record)
    fraction = min(1.0, rows / len(records))
    sample = []
    for label in sorted(by_class):
        members = by_class[label]
        take = max(1, round(fraction * len(members)))
        sample.extend(members[i] for i in rng.choice(len(members), size=take, replace=False))
    return [sample[i] for i in rng.permutation(len(sample))]


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a random positive > score of a random negative), ties counting half (Mann–Whitney U)."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(scores.size, dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [scores.size]])
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def flip_labels(records: list[dict], noise: float, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Flip a `noise` fraction of the labels to another class, keeping each true one; (classes, flipped mask)."""
    classes = sorted({record["label"] for record in records})
    flipped = rng.random(len(records)) < noise
    for record, flip in zip(records, flipped, strict=True):
        record["true_label"] = record["label"]
        if flip:
            others = [label for label in classes if label != record["label"]]
            record["label"] = others[rng.integers(len(others))]
    return classes, flipped


def score_all(data: Path, out: Path, args: argparse.Namespace) -> float:
    """Run every dynamics scorer on `data` in one `thresher.score` call (one shared training); its seconds."""
    started = time.perf_counter()
    thresher.score(
        data,
        scorers=SCORERS,
        out=out,
        id_field="id",
        label_field="label",
        seed=args.seed,
        params={"seeds": args.seeds, "epochs": args.epochs, "score_epoch": args.score_epoch},
        device="cpu",
    )
    return time.perf_counter() - started


def flipped_label_aucs(out: Path, flipped: np.ndarray) -> dict[str, float]:
    """ROC-AUC of each dynamics column, turned by its direction, at ranking flipped examples as more important."""
    store = ScoreStore.open(out)
    infos = store.column_infos()
    columns = [name for name in infos if name in {c for s in SCORERS for c in _columns_of(s)}]
    table = store.read_columns(columns)
    return {
        name: roc_auc(importance(table.column(name).to_numpy().astype(np.float64), infos[name].direction), flipped)
        for name in columns
    }


def report_lines(result: dict, args: argparse.Namespace, seconds: float) -> list[str]:
    """The Markdown summary of a run."""
    return [
        "# Training dynamics on noisy WordNet",
        "",
        f"{result['rows']} WordNet glosses, {result['classes']} classes, {result['flipped']} labels "
        f"({args.noise:.0%}) flipped at random. Proxy: {result['proxy']}, {args.seeds} seeds × {args.epochs} "
        f"epochs (EL2N, GraNd, loss at epoch {args.score_epoch}). All seven scorers in one `thresher.score` call: "
        f"{seconds:.0f} s on 2 CPU cores (one training shared).",
        "",
        "ROC-AUC at ranking flipped examples as more important than clean ones (1.0 = perfect, 0.5 = chance):",
        "",
        "| score | ROC-AUC |",
        "|---|---|",
        *[f"| {name} | {value:.3f} |" for name, value in result["roc_auc"].items()],
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--score-epoch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    records = stratified_sample(list(iter_wordnet_glosses()), args.rows, rng)
    classes, flipped = flip_labels(records, args.noise, rng)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dynamics-noise-"))
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "wordnet_noisy.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in records))
    out = workdir / "scores"
    seconds = score_all(data, out, args)
    auc = flipped_label_aucs(out, flipped)

    manifest = ScoreStore.open(out).manifest
    provenance = manifest["scorers"]["aum"].get("provenance", {}) if "scorers" in manifest else {}
    result = {
        "dataset": "WordNet 3.0 glosses (Debian wordnet-base), label = lexicographer file",
        "rows": len(records),
        "classes": len(classes),
        "noise": args.noise,
        "flipped": int(flipped.sum()),
        "proxy": "head: all-MiniLM-L6-v2 embeddings + MLP(128)",
        "seeds": args.seeds,
        "epochs": args.epochs,
        "score_epoch": args.score_epoch,
        "seconds_all_scorers": round(seconds, 1),
        "final_train_accuracy": provenance.get("final_train_accuracy"),
        "roc_auc": {name: round(value, 4) for name, value in sorted(auc.items(), key=lambda item: -item[1])},
        "machine": f"{platform.processor() or platform.machine()}, CPU only",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dynamics_noise.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = report_lines(result, args, seconds)
    (RESULTS / "dynamics_noise.md").write_text("\n".join(lines))
    print("\n".join(lines))


def _columns_of(scorer: str) -> list[str]:
    from thresher.scorers import registry  # its SCORERS is the registry; this module's, the scorer names

    return [column.name for column in registry.SCORERS.get(scorer).columns]


if __name__ == "__main__":
    main()
