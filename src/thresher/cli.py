"""Command line: `thresher score | select | eval | distill | embed | info | train-ref | demo`.

Each command is a thin layer over the Python API; user mistakes (`ThresherError`) become one line on
stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from thresher.cli_options import (
    ConfigOption,
    ParamOption,
    PrintConfigOption,
    param_layers,
    print_settings,
    stdout,
    user_errors,
)
from thresher.errors import OptionError

app = typer.Typer(
    name="thresher",
    help="Measure how much each training example matters, and prune or select training data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

InputArg = Annotated[
    Path | None,
    typer.Argument(help="JSONL (.gz/.zst), Parquet, CSV, or a saved Hugging Face dataset dir.", show_default=False),
]
# score and embed also read inputs from object storage, so their input stays a string (a Path would fold s3://).
_LOCATION_HELP = (
    "JSONL (.gz/.zst), Parquet, CSV, or a saved Hugging Face dataset dir; a path or a URL (s3://, gs://, hdfs://, "
    "file://)."
)
LocationArg = Annotated[str | None, typer.Argument(help=_LOCATION_HELP, show_default=False)]
RequiredLocationArg = Annotated[str, typer.Argument(help=_LOCATION_HELP, show_default=False)]
TextField = Annotated[str, typer.Option("--text-field", help="Field holding the text.")]
IdField = Annotated[str | None, typer.Option("--id-field", help="Field holding a unique id (default: content hash).")]
LabelField = Annotated[str | None, typer.Option("--label-field", help="Field holding a class label.")]
PromptField = Annotated[str | None, typer.Option("--prompt-field", help="Field holding a prompt.")]
ResponseField = Annotated[str | None, typer.Option("--response-field", help="Field holding a response.")]
ModelOption = Annotated[str | None, typer.Option("--model", help="Causal LM: Hugging Face id, dir or .gguf file.")]
EmbedderOption = Annotated[str | None, typer.Option("--embedder", help="Sentence-transformers id or dir.")]
DeviceOption = Annotated[str | None, typer.Option("--device", help="auto (default) | cpu | cuda")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of every random choice.")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")]


@app.command(context_settings={"max_content_width": 100})
def score(
    ctx: typer.Context,
    input: LocationArg = None,
    scorer: Annotated[
        str | None, typer.Option("--scorer", help="Scorer name(s), comma-separated (see `thresher scorers`).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Score directory (shared by several scorers).")] = None,
    model: ModelOption = None,
    embedder: EmbedderOption = None,
    text_field: TextField = "text",
    id_field: IdField = None,
    label_field: LabelField = None,
    prompt_field: PromptField = None,
    response_field: ResponseField = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="auto (default) | float32 | bfloat16")] = None,
    device: DeviceOption = None,
    batch_tokens: Annotated[
        int | None, typer.Option("--batch-tokens", help="Tokens per forward batch, padding included.")
    ] = None,
    seed: SeedOption = 0,
    param: ParamOption = None,
    config: ConfigOption = None,
    print_config: PrintConfigOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace scores made with other settings.")] = False,
    quiet: QuietOption = False,
    shard_rows: Annotated[int, typer.Option("--shard-rows", help="Examples per shard (unit of resume).")] = 8192,
    engine: Annotated[str, typer.Option("--engine", help="local | ray (pip install 'thresher\\[ray]')")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="ray: cluster, e.g. auto.")] = None,
    num_gpus_per_worker: Annotated[float, typer.Option("--num-gpus-per-worker", help="ray: GPUs/actor.")] = 0.0,
    workers: Annotated[int | None, typer.Option("--workers", help="ray: actors per scorer.")] = None,
) -> None:
    """Score every example and write the scores to a score directory.

    Scorer parameters: -p NAME=VALUE (`thresher scorers NAME` lists them). Rerunning an interrupted run resumes it.
    """
    with user_errors():
        from thresher.api import score as run_score
        from thresher.scorers.build import FLAGS

        input, scorer, out = require(ctx, input=input, scorer=scorer, out=out)
        shared = {
            "model": model,
            "embedder": embedder,
            "dtype": dtype,
            "device": device,
            "batch_tokens": batch_tokens,
            "prompt_field": prompt_field,
            "response_field": response_field,
        }
        summary = run_score(
            input,
            scorers=scorer,
            out=out,
            text_field=text_field,
            id_field=id_field,
            label_field=label_field,
            seed=seed,
            params=param_layers(ctx, param, shared, FLAGS),
            overwrite=overwrite,
            show_progress=not quiet,
            shard_rows=shard_rows,
            engine=engine,
            address=address,
            num_gpus_per_worker=num_gpus_per_worker,
            workers=workers,
            dry_run=print_config,
        )
        if print_config:
            print_settings("score", summary.settings)
            return
        for name in summary.settings["scorer"]:
            computed, reused = summary.shards_computed.get(name, 0), summary.shards_reused.get(name, 0)
            note = f" ({reused} shard(s) reused)" if reused else ""
            stdout.print(f"{name}: {summary.row_count} examples scored, {computed} shard(s) computed{note} → {out}")


def require(ctx: typer.Context, **values: Any) -> tuple[Any, ...]:
    """The values of options a command needs, given as flags or in --config; `OptionError` naming a missing one."""
    missing = [name for name, value in values.items() if value is None]
    if missing:
        flags = {param.name: (param.opts[0] if param.opts else param.name) for param in ctx.command.params}
        names = ", ".join("INPUT" if name == "input" else flags.get(name, name) for name in missing)
        raise OptionError(f"`thresher {ctx.info_name}` needs {names} (on the command line or in --config)")
    return tuple(values.values())


@app.command()
def select(
    ctx: typer.Context,
    input: InputArg = None,
    scores: Annotated[Path | None, typer.Option("--scores", help="Score directory made by `thresher score`.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the kept examples (format from suffix).")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Score column to select by; several, comma-separated, with --fuse.")
    ] = None,
    keep: Annotated[str | None, typer.Option("--keep", help="Fraction (0.3) or count (5000) to keep.")] = None,
    budget_tokens: Annotated[
        int | None, typer.Option("--budget-tokens", help="Keep examples up to this many tokens (needs n_tokens).")
    ] = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="A strategy (`thresher strategies` lists them); default top.")
    ] = None,
    fuse: Annotated[
        str | None,
        typer.Option("--fuse", help="Fuse the --by columns into one score: rank-mean | z-mean | weights=W1,W2,..."),
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option("--pipeline", help="YAML file of selection steps, instead of --by/--strategy (see README)."),
    ] = None,
    seed: SeedOption = 0,
    write_pruned: Annotated[
        Path | None, typer.Option("--write-pruned", help="Also write the examples that were dropped.")
    ] = None,
    text_field: Annotated[str | None, typer.Option("--text-field", help="Default: the scores' text field.")] = None,
    id_field: IdField = None,
    label_field: LabelField = None,
    balance_classes: Annotated[
        bool, typer.Option("--balance-classes", help="Apply the strategy within each class, keeping class shares.")
    ] = False,
    in_memory: Annotated[
        bool, typer.Option("--in-memory", help="Choose in memory even where the strategy streams (same rows).")
    ] = False,
    engine: Annotated[
        str, typer.Option("--engine", help="local | ray: write --out as a directory of parts, in parallel.")
    ] = "local",
    address: Annotated[str | None, typer.Option("--address", help="ray: cluster, e.g. auto.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="ray: parts written at once.")] = None,
    param: ParamOption = None,
    config: ConfigOption = None,
    print_config: PrintConfigOption = False,
) -> None:
    """Keep a subset of the input chosen by a strategy (most by a score column), written in the input's format.

    Strategy parameters: -p NAME=VALUE, e.g. -p minimum=0.5, -p strata=20 (`thresher strategies NAME`).
    --pipeline FILE runs ordered steps instead, each choosing among the rows the steps before it kept.
    """
    with user_errors():
        from thresher.api import select as run_select

        input, scores, out = require(ctx, input=input, scores=scores, out=out)
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
            text_field=text_field,
            id_field=id_field,
            label_field=label_field,
            balance_classes=balance_classes,
            params=param_layers(ctx, param),
            in_memory=in_memory,
            engine=engine,
            address=address,
            workers=workers,
            fuse=fuse,
            pipeline=pipeline,
            dry_run=print_config,
        )
        if print_config:
            print_settings("select", result.settings)
            return
        for step in result.steps:
            by_column = f" by {step['by']}" if step["by"] else ""
            stdout.print(
                f"step {step['step']} {step['strategy']}{by_column}: kept {step['kept']} of {step['received']}, "
                f"dropped {step['dropped']}"
            )
        tokens = f", {result.kept_tokens:,} tokens" if result.kept_tokens is not None else ""
        pruned = f"; pruned {result.pruned} → {result.pruned_out}" if result.pruned_out else ""
        how = f"pipeline {pipeline}" if pipeline is not None else result.strategy
        stdout.print(
            f"kept {result.kept} of {result.input_rows} examples{tokens} "
            f"({how}{' by ' + result.by if result.by else ''}) → {result.out}{pruned}"
        )


@app.command()
def embed(
    input: RequiredLocationArg,
    out: Annotated[Path, typer.Option("--out", help="Score directory to keep the embeddings in.")],
    embedder: Annotated[str, typer.Option("--embedder", help="Sentence-transformers id or dir.")] = "all-MiniLM-L6-v2",
    text_field: TextField = "text",
    id_field: IdField = None,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts per embedder forward pass.")] = 64,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a directory made from another input.")
    ] = False,
    quiet: QuietOption = False,
    shard_rows: Annotated[int, typer.Option("--shard-rows", help="Examples per shard (unit of resume).")] = 8192,
    engine: Annotated[str, typer.Option("--engine", help="local | ray (pip install 'thresher\\[ray]')")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="ray: cluster, e.g. auto.")] = None,
    num_gpus_per_worker: Annotated[float, typer.Option("--num-gpus-per-worker", help="ray: GPUs/actor.")] = 0.0,
    workers: Annotated[int | None, typer.Option("--workers", help="ray: actors.")] = None,
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
            shard_rows=shard_rows,
            engine=engine,
            address=address,
            num_gpus_per_worker=num_gpus_per_worker,
            workers=workers,
            show_progress=not quiet,
        )
        note = "reused" if result.reused else f"computed in {result.seconds:.1f} s"
        stdout.print(f"{result.rows} embeddings of dimension {result.dimension} ({note}) → {result.path}")


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    input: InputArg = None,
    task: Annotated[
        str | None, typer.Option("--task", help="An eval target: classify | lm | sft (`thresher targets`).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Report dir: results.json, curves.png, report.html.")
    ] = None,
    methods: Annotated[
        str, typer.Option("--methods", help="full, random, zip, dsir, dedup, COLUMN[:strategy], comma-separated.")
    ] = "random,full",
    keep: Annotated[str, typer.Option("--keep", help="Keep ratios in (0, 1], comma-separated.")] = "0.1,0.3,0.5",
    seeds: Annotated[
        int, typer.Option("--seeds", help="Runs per method and ratio (seeds --seed, --seed+1, ...).")
    ] = 3,
    full_seeds: Annotated[int | None, typer.Option("--full-seeds", help="Runs of full (default --seeds).")] = None,
    scores: Annotated[Path | None, typer.Option("--scores", help="Score directory of INPUT (COLUMN methods).")] = None,
    eval_split: Annotated[float, typer.Option("--eval-split", help="Fraction held out by id hash.")] = 0.1,
    eval_file: Annotated[Path | None, typer.Option("--eval-file", help="A held-out file instead.")] = None,
    budget: Annotated[
        str, typer.Option("--budget", help="epochs (same epochs per run) | tokens (lm: same tokens as full data).")
    ] = "epochs",
    jobs: Annotated[int, typer.Option("--jobs", help="Training runs at once, in worker processes.")] = 1,
    text_field: TextField = "text",
    id_field: IdField = None,
    label_field: LabelField = None,
    response_field: ResponseField = None,
    embedder: EmbedderOption = None,
    model: ModelOption = None,
    device: DeviceOption = None,
    seed: SeedOption = 0,
    param: ParamOption = None,
    config: ConfigOption = None,
    print_config: PrintConfigOption = False,
    quiet: QuietOption = False,
) -> None:
    """Train a target model on the subsets each method keeps and compare them on held-out data.

    Target and strategy parameters: -p NAME=VALUE, e.g. -p lm.n_layer=4, -p strata=20 (`thresher targets NAME`).
    """
    with user_errors():
        from thresher.api import evaluate
        from thresher.eval.params import FLAGS

        input, task, out = require(ctx, input=input, task=task, out=out)
        shared = {"embedder": embedder, "model": model, "device": device}
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
            params=param_layers(ctx, param, shared, FLAGS),
            show_progress=not quiet,
            dry_run=print_config,
        )
        if print_config:
            print_settings("eval", result.settings)
            return
        stdout.print(f"{len(result.runs)} runs, {result.config['seconds']:.0f} s → {out / 'report.html'}")


@app.command()
def distill(
    ctx: typer.Context,
    input: InputArg = None,
    out: Annotated[Path | None, typer.Option("--out", help="Model directory to write (student.json + model).")] = None,
    scores: Annotated[
        Path | None, typer.Option("--scores", help="Score directory holding the teacher column.")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Teacher score column whose split the student learns.")
    ] = None,
    positive: Annotated[Path | None, typer.Option("--positive", help="File of positive examples (instead).")] = None,
    negative: Annotated[Path | None, typer.Option("--negative", help="File of negative examples (instead).")] = None,
    student: Annotated[str, typer.Option("--student", help="fasttext | head (logistic regression on embeddings).")] = (
        "fasttext"
    ),
    positive_fraction: Annotated[
        float, typer.Option("--positive-fraction", help="Share of the examples labelled positive.")
    ] = 0.1,
    negative_fraction: Annotated[
        float | None, typer.Option("--negative-fraction", help="Share labelled negative (default: all the rest).")
    ] = None,
    positive_end: Annotated[
        str, typer.Option("--positive-end", help="top (the column's more important end) | bottom.")
    ] = "top",
    holdout: Annotated[float, typer.Option("--holdout", help="Share held out (by id hash) to measure on.")] = 0.1,
    text_field: Annotated[str | None, typer.Option("--text-field", help="Default: the scores' (or text).")] = None,
    id_field: IdField = None,
    embedder: EmbedderOption = None,
    device: DeviceOption = None,
    seed: SeedOption = 0,
    param: ParamOption = None,
    config: ConfigOption = None,
    print_config: PrintConfigOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model directory.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Distil a score into a cheap classifier: train a student on the split a teacher column (or two files) makes.

    Student parameters: -p NAME=VALUE, e.g. -p epochs=10 -p dim=64 (fastText), -p c=0.5 (head). Score a corpus with
    the result: `thresher score IN --scorer fasttext --model MODEL_DIR` (or `--scorer student-head`).
    """
    with user_errors():
        from thresher.distillation.run import FLAGS
        from thresher.distillation.run import distill as run_distill

        (out,) = require(ctx, out=out)
        result = run_distill(
            input,
            out=out,
            scores=scores,
            by=by,
            positive=positive,
            negative=negative,
            student=student,
            positive_fraction=positive_fraction,
            negative_fraction=negative_fraction,
            positive_end=positive_end,  # type: ignore[arg-type]
            holdout=holdout,
            text_field=text_field,
            id_field=id_field,
            seed=seed,
            params=param_layers(ctx, param, {"embedder": embedder, "device": device}, FLAGS),
            overwrite=overwrite,
            show_progress=not quiet,
            dry_run=print_config,
        )
        if print_config:
            print_settings("distill", result.settings)
            return
        stdout.print(distill_summary(result), highlight=False)


def distill_summary(result: Any) -> str:
    """One line: what the student learnt from, and how it did on the held-out part."""
    data, metrics = result.data, result.metrics
    column = result.record.get("teacher", {}).get("column")

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    against = f", Spearman {number(metrics.get('heldout_spearman'))} with {column}" if column else ""
    speed = metrics.get("examples_per_second")
    return (
        f"{result.student} student: {data['examples']:,} examples ({data['positives']:,} positive, "
        f"{data['negatives']:,} negative); {data['heldout']['examples']:,} held out: ROC-AUC "
        f"{number(metrics.get('heldout_roc_auc'))}{against}; "
        f"{'n/a' if speed is None else f'{speed:,.0f}'} examples/s → {result.out}"
    )


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


ComponentName = Annotated[str | None, typer.Argument(help="One to describe.", show_default=False)]


@app.command()
def scorers(name: ComponentName = None) -> None:
    """List the scorers, or show one scorer's columns, needs and parameters."""
    _show_components("scorers", name)


@app.command()
def strategies(name: ComponentName = None) -> None:
    """List the selection strategies, or show one strategy's needs and parameters."""
    _show_components("strategies", name)


@app.command()
def targets(name: ComponentName = None) -> None:
    """List the eval targets, or show one target's needs and parameters."""
    _show_components("targets", name)


@app.command()
def students(name: ComponentName = None) -> None:
    """List the students `thresher distill` trains, or show one student's needs and parameters."""
    _show_components("students", name)


def _show_components(kind: str, name: str | None) -> None:
    with user_errors():
        from thresher.report.components import print_component, print_listing

        if name is None:
            print_listing(kind, stdout)
        else:
            print_component(kind, name, stdout)


def main() -> None:
    """Entry point of the `thresher` console script."""
    # thresher draws its own progress bars; Hugging Face's per-file bars would interleave with them.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    app()


if __name__ == "__main__":
    sys.exit(main())
