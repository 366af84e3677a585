"""The sweep that chose the `oof` proxies' settings and EL2N's reading point, on a sample the benchmark never sees.

Same corpus, conditions and embeddings as `noise_vs_cleanlab.py`, but the sample and the flips of `--seed 1` (the
benchmark reports seed 0). ROC-AUC of the out-of-fold self-confidence, on the same 5 folds, for logistic regression
on the raw and on the standardised embeddings at several C, and for the head MLP at several epochs and learning
rates; and EL2N, AUM and data-map confidence of the dynamics proxy trained for 10 and for 30 epochs.

    python benchmarks/noise_vs_cleanlab_tuning.py [--seed 1] [--workdir DIR]

Writes benchmarks/results/noise_vs_cleanlab_tuning.json: per condition, {setting: [ROC-AUC, seconds]}, and the
EL2N curves by epoch.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

RESULTS = Path(__file__).parent / "results"


def benchmark_module():
    spec = importlib.util.spec_from_file_location("noise_vs_cleanlab", Path(__file__).parent / "noise_vs_cleanlab.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sweep_condition(records, features, noise: float, mode: str, seed: int) -> dict[str, object]:
    """Every setting's out-of-fold ROC-AUC and seconds, and the dynamics readings, under one noise condition."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from thresher.data.corpora.noise import add_label_noise
    from thresher.labels import class_index, class_order
    from thresher.models import crossfit, proxy
    from thresher.ops.label_quality import cross_fit_folds, self_confidence

    rng = np.random.default_rng([seed, int(noise * 100), int(mode == "class-dependent")])
    noisy = add_label_noise(records, noise, rng, mode=mode)
    classes = class_order(record["label"] for record in noisy)
    index = class_index(classes)
    labels = np.array([index[record["label"]] for record in noisy])
    flipped = np.array([record["noisy"] for record in noisy])
    folds = cross_fit_folds(labels, 5, seed)

    def out_of_fold_auc(fit_predict) -> list[float]:
        started = time.perf_counter()
        probs = np.zeros((labels.size, len(classes)))
        for fold in range(5):
            held = folds == fold
            probs[held] = fit_predict(features[~held], labels[~held], features[held])
        auc = roc_auc_score(flipped, -self_confidence(probs, labels))
        return [auc, time.perf_counter() - started]

    def raw_logreg(train, train_labels, test, c):
        model = LogisticRegression(C=c, max_iter=1000).fit(train, train_labels)
        probs = np.zeros((len(test), len(classes)))
        probs[:, model.classes_] = model.predict_proba(test)
        return probs

    rows: dict[str, object] = {}
    for c in (0.3, 1, 3, 10, 30):
        rows[f"raw C={c}"] = out_of_fold_auc(lambda a, t, b, c=c: raw_logreg(a, t, b, c))
    for c in (0.003, 0.01, 0.03, 0.1):
        config = crossfit.CrossFitConfig(proxy="logreg", inverse_regularisation=c)
        rows[f"std C={c}"] = out_of_fold_auc(
            lambda a, t, b, config=config: crossfit.fit_predict(a, t, b, len(classes), config, 0)
        )
    for epochs, rate in ((10, 1e-3), (20, 1e-3), (40, 1e-3), (10, 3e-3)):
        config = crossfit.CrossFitConfig(proxy="head", epochs=epochs, learning_rate=rate)
        rows[f"head ep={epochs} lr={rate}"] = out_of_fold_auc(
            lambda a, t, b, config=config: crossfit.fit_predict(a, t, b, len(classes), config, 0, "cpu")
        )
    for epochs in (10, 30):
        record = proxy.train_proxy(
            features, labels, proxy.ProxyConfig(seeds=3, epochs=epochs, score_epoch=1), device="cpu"
        )
        rows[f"el2n curve E={epochs}"] = [
            roc_auc_score(flipped, record.el2n[:, epoch].mean(axis=0)) for epoch in range(epochs + 1)
        ]
        rows[f"aum E={epochs}"] = roc_auc_score(flipped, -record.margin[:, 1:].mean(axis=(0, 1)))
        rows[f"confidence E={epochs}"] = roc_auc_score(flipped, -record.true_prob[:, 1:].mean(axis=(0, 1)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None)
    cli = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    bench = benchmark_module()
    args = SimpleNamespace(smoke=False, rows=4000, seed=cli.seed, embedder="all-MiniLM-L6-v2")
    records = bench.load_records(args)
    workdir = cli.workdir or Path(tempfile.mkdtemp(prefix="noise-tuning-"))
    features, _ = bench.embed(records, args, workdir)
    out = {}
    with threadpool_limits(1):
        for name, noise, mode in bench.CONDITIONS:
            rows = sweep_condition(records, features, noise, mode, cli.seed)
            out[name] = rows
            print(name, json.dumps(rows, default=float), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "noise_vs_cleanlab_tuning.json").write_text(json.dumps(out, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
