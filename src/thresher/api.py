"""Python API: `score` and `select`, the same operations as the `thresher score` and `thresher select` commands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thresher.data.fields import Fields
from thresher.data.readers import open_dataset
from thresher.engine.local import DEFAULT_SHARD_ROWS, ScoringSummary, run_scorers
from thresher.errors import OptionError
from thresher.scorers.base import RunContext, Scorer
from thresher.scorers.registry import build_scorer
from thresher.selection import strategies
from thresher.selection.keep import parse_keep
from thresher.store import ScoreStore

STRATEGIES = ("top", "bottom", "random", "threshold", "stratified")


def score(
    input: str | Path,
    *,
    scorers: Sequence[str | Scorer],
    out: str | Path,
    text_field: str = "text",
    id_field: str | None = None,
    label_field: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    show_progress: bool = False,
    **scorer_options: Any,
) -> ScoringSummary:
    """Score every example of `input` with each scorer and write the scores to the directory `out`.

    Args:
        input: JSONL (.gz/.zst), Parquet or CSV file, or a Hugging Face dataset saved with `save_to_disk`.
        scorers: registered scorer names (e.g. "likelihood", "compression") or scorer objects.
        out: score directory; created if missing; several scorers may share it.
        scorer_options: parameters passed to the scorers that take them (model, dtype, device, batch_tokens, ...).

    Returns:
        A summary of rows scored and shards computed or reused from an earlier, interrupted run.
    """
    if not scorers:
        raise OptionError("no scorer given; use --scorer NAME[,NAME...]")
    options = {**scorer_options, "seed": seed}
    built = [item if isinstance(item, Scorer) else build_scorer(item, options) for item in scorers]
    names = [scorer.name for scorer in built]
    if len(set(names)) != len(names):
        raise OptionError(f"scorer listed twice: {', '.join(names)}")
    fields = Fields(text=text_field, id=id_field, label=label_field)
    needs_labels = [scorer.name for scorer in built if scorer.needs_labels]
    if needs_labels and label_field is None:
        raise OptionError(f"scorer(s) {', '.join(needs_labels)} need labels; give --label-field")
    dataset = open_dataset(input, fields)
    store = ScoreStore(out)
    store.bind_input(dataset.fingerprint(), overwrite=overwrite)
    return run_scorers(
        dataset.iter_examples(),
        built,
        store,
        total_rows=dataset.num_rows() if show_progress else None,
        shard_rows=shard_rows,
        context=RunContext(seed=seed, input_path=str(input)),
        overwrite=overwrite,
        show_progress=show_progress,
    )


@dataclass(frozen=True)
class SelectionResult:
    """What `select` kept and where it wrote it."""

    input_rows: int
    kept: int
    by: str
    strategy: str
    out: Path
    pruned_out: Path | None
    kept_rows: np.ndarray  # 0-based input rows kept, ascending
    kept_tokens: int | None = None

    @property
    def pruned(self) -> int:
        return self.input_rows - self.kept


def select(
    input: str | Path,
    *,
    scores: str | Path,
    by: str | None,
    out: str | Path,
    strategy: str = "top",
    keep: str | float | int | None = None,
    budget_tokens: int | None = None,
    seed: int = 0,
    write_pruned: str | Path | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    strata: int = 50,
    drop_hardest: float = 0.0,
    text_field: str | None = None,
    id_field: str | None = None,
    label_field: str | None = None,
) -> SelectionResult:
    """Select a subset of `input` by a score column and write it in the input's format (or `out`'s suffix).

    `top` keeps the most important examples by the column's recorded direction (for likelihood: the most
    informative, highest NLL), `bottom` the least, `random` a uniform sample, `threshold` the rows whose value
    lies in [minimum, maximum], `stratified` an equal share of the budget per score stratum (CCS).
    Field names default to those the scores were computed with.
    """
    if strategy not in STRATEGIES:
        raise OptionError(f"unknown --strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if keep is None and budget_tokens is None and strategy != "threshold":
        raise OptionError("give --keep K (a fraction such as 0.3 or a count such as 5000) or --budget-tokens N")
    if keep is not None and budget_tokens is not None:
        raise OptionError("give either --keep or --budget-tokens, not both")
    if budget_tokens is not None and budget_tokens < 1:
        raise OptionError(f"--budget-tokens must be a positive number of tokens, got {budget_tokens}")
    if by is None and strategy != "random":
        raise OptionError(f"--strategy {strategy} needs --by COLUMN")

    store = ScoreStore.open(scores)
    recorded_fields = store.manifest.get("input", {}).get("fields", {})
    fields = Fields(
        text=text_field or recorded_fields.get("text", "text"),
        id=id_field if id_field is not None else recorded_fields.get("id"),
        label=label_field if label_field is not None else recorded_fields.get("label"),
    )
    dataset = open_dataset(input, fields)
    store.check_input(dataset.fingerprint())

    wanted = [by] if by is not None else []
    if budget_tokens is not None:
        wanted.append("n_tokens")
    if not wanted:
        # Random selection needs no score, but the row count comes from any completed column.
        wanted = list(store.column_infos())[:1]
    table = store.read_columns(list(dict.fromkeys(wanted)))
    n_rows = table.num_rows
    rng = np.random.default_rng(seed)
    importance = None
    if by is not None:
        values = table.column(by).to_numpy(zero_copy_only=False).astype(np.float64)
        importance = strategies.importance(values, store.column_infos()[by].direction)
    costs = table.column("n_tokens").to_numpy(zero_copy_only=False) if budget_tokens is not None else None

    chosen = _choose_rows(
        strategy,
        n_rows,
        importance,
        table.column(by).to_numpy(zero_copy_only=False) if by else None,
        keep=keep,
        budget_tokens=budget_tokens,
        costs=costs,
        rng=rng,
        seed=seed,
        minimum=minimum,
        maximum=maximum,
        strata=strata,
        drop_hardest=drop_hardest,
    )
    mask = np.zeros(n_rows, dtype=bool)
    mask[chosen] = True

    out_path = Path(out)
    dataset.write_subset(mask, out_path)
    pruned_path = Path(write_pruned) if write_pruned is not None else None
    if pruned_path is not None:
        dataset.write_subset(~mask, pruned_path)
    kept_tokens = int(costs[mask].sum()) if costs is not None else None
    return SelectionResult(
        input_rows=n_rows,
        kept=int(mask.sum()),
        by=by or "",
        strategy=strategy,
        out=out_path,
        pruned_out=pruned_path,
        kept_rows=np.flatnonzero(mask),
        kept_tokens=kept_tokens,
    )


def _choose_rows(
    strategy: str,
    n_rows: int,
    importance: np.ndarray | None,
    values: np.ndarray | None,
    *,
    keep: str | float | int | None,
    budget_tokens: int | None,
    costs: np.ndarray | None,
    rng: np.random.Generator,
    seed: int,
    minimum: float | None,
    maximum: float | None,
    strata: int,
    drop_hardest: float,
) -> np.ndarray:
    """Indices of the rows a strategy keeps, by count (`keep`) or by token budget."""
    if strategy == "threshold":
        assert values is not None and importance is not None
        in_range = strategies.select_threshold(values.astype(np.float64), minimum, maximum)
        if keep is None and budget_tokens is None:
            return in_range
        # Within the range, prefer the most important rows up to the count or budget.
        order = in_range[np.argsort(-importance[in_range], kind="stable")]
        if budget_tokens is not None:
            assert costs is not None
            return np.sort(strategies.prefix_within_budget(order, costs, budget_tokens))
        k = min(parse_keep(str(keep)).resolve(n_rows), len(order))
        return np.sort(order[:k])
    if strategy == "stratified":
        assert importance is not None
        if budget_tokens is not None:
            assert costs is not None
            return strategies.select_stratified_within_budget(
                importance, costs, budget_tokens, seed, strata=strata, drop_hardest=drop_hardest
            )
        k = parse_keep(str(keep)).resolve(n_rows)
        return strategies.select_stratified(importance, k, rng, strata=strata, drop_hardest=drop_hardest)
    if budget_tokens is not None:
        assert costs is not None
        scores = importance if importance is not None else np.zeros(n_rows)
        order = strategies.preference_order(strategy, scores, rng)
        return np.sort(strategies.prefix_within_budget(order, costs, budget_tokens))
    k = parse_keep(str(keep)).resolve(n_rows)
    if strategy == "random":
        return strategies.select_random(n_rows, k, rng)
    assert importance is not None
    if strategy == "top":
        return strategies.select_top(importance, k)
    return strategies.select_bottom(importance, k)
