"""Command line: `thresher score | select | eval | embed | info | train-ref | demo`.

Each command is a thin layer over the Python API; user mistakes (`ThresherError`) become one line on
stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from thresher.errors import ThresherError

app = typer.Typer(
    name="thresher",
    help="Measure how much each training example matters, and prune or select training data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stdout = Console()
stderr = Console(stderr=True)

USER_ERROR_EXIT = 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a `ThresherError` into one line on stderr and exit code 2; Ctrl-C into exit code 130."""
    try:
        yield
    except ThresherError as error:
        stderr.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(USER_ERROR_EXIT) from None
    except KeyboardInterrupt:
        stderr.print("interrupted; rerun the same command to resume", highlight=False)
        raise typer.Exit(130) from None


InputArg = Annotated[Path, typer.Argument(help="JSONL (.gz/.zst), Parquet, CSV, or a saved Hugging Face dataset dir.")]
TextField = Annotated[str, typer.Option("--text-field", help="Field holding the text.")]
IdField = Annotated[
    str | None,
    typer.Option("--id-field", help="Field holding a unique id (default: stable content hash + occurrence)."),
]
LabelField = Annotated[str | None, typer.Option("--label-field", help="Field holding a class label.")]


@app.command()
def score(
    input: InputArg,
    scorer: Annotated[str, typer.Option("--scorer", help="Scorer name(s), comma-separated.")],
    out: Annotated[Path, typer.Option("--out", help="Score directory to write (shared by several scorers).")],
    model: Annotated[str | None, typer.Option("--model", help="Hugging Face id, local dir or .gguf file.")] = None,
    text_field: TextField = "text",
    id_field: IdField = None,
    label_field: LabelField = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="auto (default) | float32 | bfloat16")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto (default) | cpu | cuda")] = None,
    batch_tokens: Annotated[
        int | None,
        typer.Option(
            "--batch-tokens",
            "--max-batch-tokens",
            help="Token budget per forward batch, padding included; halved automatically on out-of-memory.",
        ),
    ] = None,
    max_length: Annotated[
        int | None, typer.Option("--max-length", help="Context window for long examples (default: the model's).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace scores made with other settings.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    engine: Annotated[
        str,
        typer.Option("--engine", help="local (this process) | ray (Ray Data actors; pip install 'thresher\\[ray]')"),
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="ray: cluster to join, e.g. auto or ray://HOST:10001.")
    ] = None,
    num_gpus_per_worker: Annotated[
        float, typer.Option("--num-gpus-per-worker", help="ray: GPUs per actor (one model per actor).")
    ] = 0.0,
    workers: Annotated[
        int | None, typer.Option("--workers", help="ray: actors per scorer (default: what the cluster fits).")
    ] = None,
    shard_rows: Annotated[
        int, typer.Option("--shard-rows", help="Examples per shard: the unit of writing and of resuming.")
    ] = 8192,
    embedder: Annotated[
        str | None, typer.Option("--embedder", help="Sentence-transformers id or dir (default all-MiniLM-L6-v2).")
    ] = None,
    clusters: Annotated[
        int | None, typer.Option("--clusters", help="semdedup: k-means clusters (default: n / 1000).")
    ] = None,
    eps: Annotated[
        float | None, typer.Option("--eps", help="semdedup: duplicate when cosine similarity > 1 - eps (0.05).")
    ] = None,
    num_perm: Annotated[int | None, typer.Option("--num-perm", help="minhash: permutations (128).")] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="minhash: Jaccard similarity of duplicates (0.8).")
    ] = None,
    shingle: Annotated[int | None, typer.Option("--shingle", help="minhash: words per shingle (5).")] = None,
    prompt_file: Annotated[
        str | None, typer.Option("--prompt-file", help="ask-llm: custom prompt with one {text} slot.")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens", help="ask-llm: most tokens of each example in the prompt (512).")
    ] = None,
    truncate_side: Annotated[
        str | None, typer.Option("--truncate-side", help="ask-llm: right (keep the start, default) | left.")
    ] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="ask-llm: transformers (default) | vllm.")] = None,
    few_shot: Annotated[
        bool | None,
        typer.Option(
            "--few-shot/--zero-shot",
            help="ask-llm: ask the prompt first about 4 built-in worked examples (2 good texts → yes, 2 junk → no).",
        ),
    ] = None,
    kernel: Annotated[str | None, typer.Option("--kernel", help="density: angular (default) | l2.")] = None,
    rows: Annotated[
        int | None, typer.Option("--rows", help="density: RACE sketch rows / hash functions (1000).")
    ] = None,
    hash_bits: Annotated[
        int | None, typer.Option("--hash-bits", help="density: angular hash bits per row (8).")
    ] = None,
    buckets: Annotated[
        int | None, typer.Option("--buckets", help="density: counters per row (2^hash-bits; l2: 4096).")
    ] = None,
    bandwidth: Annotated[
        float | None, typer.Option("--bandwidth", help="density: l2 hash bucket width (1.0).")
    ] = None,
    exact: Annotated[
        bool | None, typer.Option("--exact", help="density: exact kernel sums instead of the sketch (small data).")
    ] = None,
    proxy: Annotated[
        str | None, typer.Option("--proxy", help="dynamics: head (MLP on embeddings, default) | finetune.")
    ] = None,
    proxy_model: Annotated[
        str | None, typer.Option("--proxy-model", help="dynamics: encoder id or dir for --proxy finetune.")
    ] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", help="dynamics: proxy trainings averaged (3).")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="dynamics: epochs per proxy training (10).")] = None,
    score_epoch: Annotated[
        int | None, typer.Option("--score-epoch", help="dynamics: epoch for el2n, grand, loss (2; 0 = init).")
    ] = None,
    ihvp: Annotated[
        str | None, typer.Option("--ihvp", help="influence, dealrec: inverse-HVP solver, lissa (default) | cg.")
    ] = None,
    hvp_steps: Annotated[
        int | None, typer.Option("--hvp-steps", help="influence: LiSSA steps, or CG iterations at most (5000).")
    ] = None,
    damp: Annotated[float | None, typer.Option("--damp", help="influence: LiSSA damping (0.01).")] = None,
    scale: Annotated[
        float | None, typer.Option("--scale", help="influence: LiSSA scale (25); damping λ = damp·scale.")
    ] = None,
    hvp_batch_size: Annotated[
        int | None, typer.Option("--hvp-batch-size", help="influence: examples per LiSSA HVP (128).")
    ] = None,
    validation: Annotated[
        str | None,
        typer.Option("--validation", help="influence, tracin: influence on this labelled file's loss instead."),
    ] = None,
    lora_target: Annotated[
        str | None, typer.Option("--lora-target", help="effort: LoRA modules (default v_proj / c_attn).")
    ] = None,
    lora_rank: Annotated[int | None, typer.Option("--lora-rank", help="effort: LoRA rank (8).")] = None,
    lora_layers: Annotated[
        int | None, typer.Option("--lora-layers", help="effort: LoRA on the last K blocks (1; 0 = all).")
    ] = None,
    prompt_field: Annotated[
        str | None, typer.Option("--prompt-field", help="effort: field with a prompt; loss on the response only.")
    ] = None,
    response_field: Annotated[
        str | None, typer.Option("--response-field", help="effort: field with the response (default: the text).")
    ] = None,
    lam: Annotated[float | None, typer.Option("--lam", help="dealrec: weight λ of the effort score (0.3).")] = None,
) -> None:
    """Score every example and write the scores to a score directory.

    Interrupted runs (Ctrl-C, a crash, a killed job) resume when the same command is run again: shards already
    written are kept. The first Ctrl-C stops after the current shard; a second one stops at once.
    """
    with user_errors():
        from thresher.api import score as run_score

        names = [name.strip() for name in scorer.split(",") if name.strip()]
        summary = run_score(
            input,
            scorers=names,
            out=out,
            text_field=text_field,
            id_field=id_field,
            label_field=label_field,
            seed=seed,
            overwrite=overwrite,
            show_progress=not quiet,
            shard_rows=shard_rows,
            engine=engine,
            address=address,
            num_gpus_per_worker=num_gpus_per_worker,
            workers=workers,
            model=model,
            dtype=dtype,
            device=device,
            batch_tokens=batch_tokens,
            max_length=max_length,
            embedder=embedder,
            proxy=proxy,
            proxy_model=proxy_model,
            seeds=seeds,
            epochs=epochs,
            score_epoch=score_epoch,
            ihvp=ihvp,
            hvp_steps=hvp_steps,
            damp=damp,
            scale=scale,
            hvp_batch_size=hvp_batch_size,
            validation=validation,
            lora_target=lora_target,
            lora_rank=lora_rank,
            lora_layers=lora_layers,
            prompt_field=prompt_field,
            response_field=response_field,
            lam=lam,
            clusters=clusters,
            eps=eps,
            num_perm=num_perm,
            threshold=threshold,
            shingle=shingle,
            prompt_file=prompt_file,
            max_tokens=max_tokens,
            truncate_side=truncate_side,
            backend=backend,
            few_shot=few_shot,
            kernel=kernel,
            rows=rows,
            hash_bits=hash_bits,
            buckets=buckets,
            bandwidth=bandwidth,
            exact=exact,
        )
        for name in names:
            computed, reused = summary.shards_computed.get(name, 0), summary.shards_reused.get(name, 0)
            note = f" ({reused} shard(s) reused)" if reused else ""
            stdout.print(f"{name}: {summary.row_count} examples scored, {computed} shard(s) computed{note} → {out}")


@app.command()
def select(
    input: InputArg,
    scores: Annotated[Path, typer.Option("--scores", help="Score directory made by `thresher score`.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the kept examples (format from suffix).")],
    by: Annotated[str | None, typer.Option("--by", help="Score column to select by.")] = None,
    keep: Annotated[
        str | None, typer.Option("--keep", help="Fraction (0.3) or count (5000) of examples to keep.")
    ] = None,
    budget_tokens: Annotated[
        int | None, typer.Option("--budget-tokens", help="Keep examples up to this many tokens (needs n_tokens).")
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="top | bottom | random | threshold | stratified (ccs) | dedup | zip | dsir | ips (see README)",
        ),
    ] = "top",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    write_pruned: Annotated[
        Path | None, typer.Option("--write-pruned", help="Also write the examples that were dropped.")
    ] = None,
    minimum: Annotated[float | None, typer.Option("--min", help="threshold: lowest value kept.")] = None,
    maximum: Annotated[float | None, typer.Option("--max", help="threshold: highest value kept.")] = None,
    strata: Annotated[int, typer.Option("--strata", help="stratified: number of score strata.")] = 50,
    drop_hardest: Annotated[
        float, typer.Option("--drop-hardest", help="stratified: first drop this fraction of the most important.")
    ] = 0.0,
    text_field: Annotated[str | None, typer.Option("--text-field")] = None,
    id_field: IdField = None,
    label_field: LabelField = None,
    balance_classes: Annotated[
        bool, typer.Option("--balance-classes", help="Apply the strategy within each class, keeping class shares.")
    ] = False,
    k1: Annotated[int | None, typer.Option("--k1", help="zip: stage-1 candidates per round (10000).")] = None,
    k2: Annotated[int | None, typer.Option("--k2", help="zip: stage-2 candidates per round (200).")] = None,
    k3: Annotated[int | None, typer.Option("--k3", help="zip: examples picked per round (100).")] = None,
    target: Annotated[
        Path | None, typer.Option("--target", help="dsir: file of target-like examples (any input format).")
    ] = None,
    target_text_field: Annotated[
        str | None, typer.Option("--target-text-field", help="dsir: text field of --target (default: --text-field).")
    ] = None,
    buckets: Annotated[int | None, typer.Option("--buckets", help="dsir: hashed n-gram buckets (10000).")] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", help="ips: sample ∝ density^(-1/T) (1.0; larger → uniform).")
    ] = None,
) -> None:
    """Keep a subset of the input chosen by a score column, written in the input's format."""
    with user_errors():
        from thresher.api import select as run_select

        result = run_select(
            input,
            scores=scores,
            by=by,
            out=out,
            strategy=strategy,
            keep=keep,
            budget_tokens=budget_tokens,
            seed=seed,
            write_pruned=write_pruned,
            minimum=minimum,
            maximum=maximum,
            strata=strata,
            drop_hardest=drop_hardest,
            text_field=text_field,
            id_field=id_field,
            label_field=label_field,
            balance_classes=balance_classes,
            k1=k1,
            k2=k2,
            k3=k3,
            target=target,
            target_text_field=target_text_field,
            buckets=buckets,
            temperature=temperature,
        )
        tokens = f", {result.kept_tokens:,} tokens" if result.kept_tokens is not None else ""
        pruned = f"; pruned {result.pruned} → {result.pruned_out}" if result.pruned_out else ""
        stdout.print(
            f"kept {result.kept} of {result.input_rows} examples{tokens} "
            f"({result.strategy}{' by ' + result.by if result.by else ''}) → {result.out}{pruned}"
        )


@app.command()
def embed(
    input: InputArg,
    out: Annotated[Path, typer.Option("--out", help="Score directory to keep the embeddings in.")],
    embedder: Annotated[str, typer.Option("--embedder", help="Sentence-transformers id or dir.")] = "all-MiniLM-L6-v2",
    text_field: TextField = "text",
    id_field: IdField = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts per embedder forward pass.")] = 64,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a directory made from another input.")
    ] = False,
) -> None:
    """Embed every example once into a score directory, for the embedding scorers (density, semdedup) to reuse."""
    with user_errors():
        from thresher.api import embed as run_embed

        result = run_embed(
            input,
            embedder=embedder,
            out=out,
            text_field=text_field,
            id_field=id_field,
            device=device,
            batch_size=batch_size,
            overwrite=overwrite,
        )
        note = "reused" if result.reused else f"computed in {result.seconds:.1f} s"
        stdout.print(f"{result.rows} embeddings of dimension {result.dimension} ({note}) → {result.path}")


@app.command("eval")
def eval_command(
    input: InputArg,
    task: Annotated[
        str, typer.Option("--task", help="classify (MLP head on embeddings) | lm (small GPT) | sft (LoRA on an LM).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Report directory: results.json, curves.png, report.html.")],
    methods: Annotated[
        str,
        typer.Option(
            "--methods",
            help="random, full, zip, dsir, COLUMN[:strategy] (strategy top by default), comma-separated.",
        ),
    ] = "random,full",
    keep: Annotated[str, typer.Option("--keep", help="Keep ratios in (0, 1], comma-separated.")] = "0.1,0.3,0.5",
    seeds: Annotated[
        int, typer.Option("--seeds", help="Runs per method and ratio (seeds --seed, --seed+1, ...).")
    ] = 3,
    full_seeds: Annotated[
        int | None, typer.Option("--full-seeds", help="Runs of the full method (default --seeds).")
    ] = None,
    scores: Annotated[
        Path | None, typer.Option("--scores", help="Score directory of INPUT (for COLUMN methods).")
    ] = None,
    eval_split: Annotated[
        float, typer.Option("--eval-split", help="Fraction held out, by a seeded hash of each id.")
    ] = 0.1,
    eval_file: Annotated[
        Path | None, typer.Option("--eval-file", help="A separate held-out file (replaces --eval-split).")
    ] = None,
    budget: Annotated[
        str, typer.Option("--budget", help="epochs (same epochs per run) | tokens (lm: same tokens as full data).")
    ] = "epochs",
    jobs: Annotated[
        int, typer.Option("--jobs", help="Training runs at once, in worker processes sharing the CPU cores.")
    ] = 1,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "-p",
            "--param",
            help="NAME=VALUE for the target or a method's strategy (lm.n_layer=1, epochs=5, strata=20); repeatable.",
        ),
    ] = None,
    text_field: TextField = "text",
    id_field: IdField = None,
    label_field: Annotated[
        str | None, typer.Option("--label-field", help="classify: field holding each example's class.")
    ] = None,
    response_field: Annotated[
        str | None, typer.Option("--response-field", help="sft: field with the response to the --text-field prompt.")
    ] = None,
    embedder: Annotated[
        str | None, typer.Option("--embedder", help="classify: sentence-transformers id or dir.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="sft: causal LM id, dir or .gguf (default: bundled SmolLM2).")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="Where the target runs: auto | cpu | cuda.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train a target model on the subsets each method keeps and compare them on held-out data."""
    with user_errors():
        from thresher.api import evaluate
        from thresher.components import parse_assignment

        result = evaluate(
            input,
            task=task,
            out=out,
            methods=methods,
            keep=keep,
            seeds=seeds,
            full_seeds=full_seeds,
            scores=scores,
            eval_split=eval_split,
            eval_file=eval_file,
            text_field=text_field,
            id_field=id_field,
            label_field=label_field,
            response_field=response_field,
            budget=budget,
            seed=seed,
            jobs=jobs,
            params=[[parse_assignment(text) for text in param or []]],
            embedder=embedder,
            model=model,
            device=device,
            show_progress=not quiet,
        )
        stdout.print(f"{len(result.runs)} runs, {result.config['seconds']:.0f} s → {out / 'report.html'}")


@app.command()
def info(score_dir: Annotated[Path, typer.Argument(help="Score directory.")]) -> None:
    """Summarise a score directory: scorers, provenance, and per column count, min/median/max and a histogram."""
    with user_errors():
        from thresher.report.info import print_store_summary

        print_store_summary(score_dir, stdout)


@app.command("train-ref")
def train_ref(
    input: InputArg,
    out: Annotated[Path, typer.Option("--out", help="Model directory to write (a normal Hugging Face model).")],
    folds: Annotated[
        int, typer.Option("--folds", help="Train K models, each scoring the fold it did not see (K ≥ 2).")
    ] = 1,
    text_field: TextField = "text",
    id_field: IdField = None,
    epochs: Annotated[float, typer.Option("--epochs", help="Passes over the data.")] = 6.0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Blocks of --context-length tokens per step.")] = 16,
    vocab_size: Annotated[int, typer.Option("--vocab-size")] = 4096,
    n_layer: Annotated[int, typer.Option("--layers")] = 4,
    n_embd: Annotated[int, typer.Option("--width")] = 128,
    context_length: Annotated[int, typer.Option("--context-length")] = 128,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
) -> None:
    """Train a small GPT-style reference model (and byte-level BPE tokenizer) on the input texts."""
    with user_errors():
        from thresher.train_ref import train_reference

        summaries = train_reference(
            input,
            out=out,
            folds=folds,
            text_field=text_field,
            id_field=id_field,
            epochs=epochs,
            batch_size=batch_size,
            vocab_size=vocab_size,
            n_layer=n_layer,
            n_embd=n_embd,
            context_length=context_length,
            seed=seed,
            overwrite=overwrite,
            show_progress=not quiet,
        )
        for index, summary in enumerate(summaries):
            label = f"fold {index}: " if len(summaries) > 1 else ""
            stdout.print(
                f"{label}{summary.n_params:,} parameters, {summary.n_train_tokens:,} training tokens, "
                f"final loss {summary.final_train_loss:.3f}, {summary.seconds:.0f} s"
            )
        stdout.print(f"reference model → {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Directory for the demo's outputs.")] = Path("thresher-demo"),
) -> None:
    """Score, select and report on a bundled sample of WordNet glosses, end to end."""
    with user_errors():
        from thresher.report.demo import run_demo

        report = run_demo(out, console=stdout)
        stdout.print(f"report → {report}")


def main() -> None:
    """Entry point of the `thresher` console script."""
    # thresher draws its own progress bars; Hugging Face's per-file bars would interleave with them.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    app()


if __name__ == "__main__":
    sys.exit(main())
