"""Strategy handlers: turn a selection request into the rows to keep.

Each handler reads what it needs from a `SelectionRequest` (score values, importance, token costs, and for
set-level strategies the dataset or other score columns) and calls the pure functions of
`thresher.selection.strategies`. Adding a strategy means one handler and one line in `HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher.errors import OptionError
from thresher.selection import strategies
from thresher.selection.keep import KeepSpec

if TYPE_CHECKING:
    from thresher.data.readers import Dataset
    from thresher.store import ScoreStore


@dataclass
class SelectionRequest:
    """Everything a strategy may use to choose rows."""

    n_rows: int
    by: str | None
    values: np.ndarray | None  # raw values of the --by column, float64
    importance: np.ndarray | None  # values turned so that higher = more important
    keep: KeepSpec | None
    budget_tokens: int | None
    costs: np.ndarray | None  # n_tokens per row when --budget-tokens is given
    seed: int
    dataset: Dataset
    store: ScoreStore
    options: dict[str, Any] = field(default_factory=dict)  # strategy options: minimum, maximum, strata, ...

    @property
    def rng(self) -> np.random.Generator:
        """A fresh generator from the seed, so a handler's choices depend only on the seed."""
        return np.random.default_rng(self.seed)

    def keep_count(self) -> int:
        if self.keep is None:
            raise OptionError("give --keep K (a fraction such as 0.3 or a count such as 5000)")
        return self.keep.resolve(self.n_rows)

    def need_importance(self, strategy: str) -> np.ndarray:
        if self.importance is None:
            raise OptionError(f"--strategy {strategy} needs --by COLUMN")
        return self.importance

    def prefix_of(self, order: np.ndarray) -> np.ndarray:
        """The rows of a preference order kept by --keep or by --budget-tokens, ascending."""
        if self.budget_tokens is not None:
            assert self.costs is not None
            return np.sort(strategies.prefix_within_budget(order, self.costs, self.budget_tokens))
        return np.sort(order[: min(self.keep_count(), len(order))])


Handler = Callable[[SelectionRequest], np.ndarray]


def _top(request: SelectionRequest) -> np.ndarray:
    return request.prefix_of(strategies.preference_order("top", request.need_importance("top")))


def _bottom(request: SelectionRequest) -> np.ndarray:
    return request.prefix_of(strategies.preference_order("bottom", request.need_importance("bottom")))


def _random(request: SelectionRequest) -> np.ndarray:
    if request.budget_tokens is None:
        return strategies.select_random(request.n_rows, request.keep_count(), request.rng)
    return request.prefix_of(strategies.preference_order("random", np.zeros(request.n_rows), request.rng))


def _threshold(request: SelectionRequest) -> np.ndarray:
    if request.values is None:
        raise OptionError("--strategy threshold needs --by COLUMN")
    in_range = strategies.select_threshold(
        request.values, request.options.get("minimum"), request.options.get("maximum")
    )
    if request.keep is None and request.budget_tokens is None:
        return in_range
    # Within the range, prefer the most important rows up to the count or budget.
    importance = request.need_importance("threshold")
    return request.prefix_of(in_range[np.argsort(-importance[in_range], kind="stable")])


def _stratified(request: SelectionRequest) -> np.ndarray:
    importance = request.need_importance("stratified")
    strata = int(request.options.get("strata", 50))
    drop_hardest = float(request.options.get("drop_hardest", 0.0))
    if request.budget_tokens is not None:
        assert request.costs is not None
        return strategies.select_stratified_within_budget(
            importance, request.costs, request.budget_tokens, request.seed, strata=strata, drop_hardest=drop_hardest
        )
    return strategies.select_stratified(
        importance, request.keep_count(), request.rng, strata=strata, drop_hardest=drop_hardest
    )


DEDUP_KEEP_COLUMNS = ("semdedup_keep", "minhash_keep")


def _dedup(request: SelectionRequest) -> np.ndarray:
    """Keep one example per duplicate group (the one the dedup scorer kept), then optionally --keep of those."""
    if request.values is not None:
        kept_flags = request.values
    else:
        available = [name for name in DEDUP_KEEP_COLUMNS if name in request.store.column_infos()]
        if not available:
            raise OptionError("--strategy dedup needs a dedup score: run `thresher score --scorer semdedup|minhash`")
        if len(available) > 1:
            raise OptionError(f"--strategy dedup: choose the column with --by ({' or '.join(available)})")
        table = request.store.read_columns([available[0]], with_id=False)
        kept_flags = table.column(available[0]).to_numpy(zero_copy_only=False).astype(np.float64)
    survivors = np.flatnonzero(kept_flags > 0.5)
    if request.keep is None and request.budget_tokens is None:
        return survivors
    # Among the survivors, a seeded random sample by count or token budget.
    return request.prefix_of(survivors[request.rng.permutation(len(survivors))])


def _zip(request: SelectionRequest) -> np.ndarray:
    from thresher.selection.zip import ZipParams, zip_select

    if request.budget_tokens is not None:
        raise OptionError("--strategy zip takes --keep, not --budget-tokens")
    defaults = ZipParams()
    params = ZipParams(
        k1=int(request.options.get("k1") or defaults.k1),
        k2=int(request.options.get("k2") or defaults.k2),
        k3=int(request.options.get("k3") or defaults.k3),
    )
    return np.sort(zip_select(list(_iter_texts(request)), request.keep_count(), params))


def _dsir(request: SelectionRequest) -> np.ndarray:
    from thresher.data.fields import Fields
    from thresher.data.readers import open_dataset
    from thresher.selection import dsir

    target_path = request.options.get("target")
    if target_path is None:
        raise OptionError("--strategy dsir needs --target FILE (examples of the data you want more of)")
    target_field = request.options.get("target_text_field") or request.dataset.fields.text
    target = open_dataset(target_path, Fields(text=target_field))
    hasher = dsir.NgramHasher(int(request.options.get("buckets") or dsir.DEFAULT_BUCKETS))
    target_texts = (text for batch in target.iter_examples() for text in batch.column("text").to_pylist())
    p_target = dsir.bucket_distribution(hasher.counts(target_texts))
    # Two streaming passes over the input: fit p_raw, then weigh each example.
    p_raw = dsir.bucket_distribution(hasher.counts(_iter_texts(request)))
    log_weights = dsir.log_importance_weights(_iter_texts(request), hasher, dsir.log_ratio(p_target, p_raw))
    order = dsir.gumbel_top_k(log_weights, len(log_weights), request.rng)
    return request.prefix_of(order)


def _iter_texts(request: SelectionRequest) -> Iterator[str]:
    for batch in request.dataset.iter_examples():
        yield from batch.column("text").to_pylist()


def _ips(request: SelectionRequest) -> np.ndarray:
    """Inverse-propensity sampling by a density column: rare examples are drawn more often than dense ones."""
    if request.values is None:
        raise OptionError("--strategy ips needs --by COLUMN holding a density (run `thresher score --scorer density`)")
    temperature = request.options.get("temperature")
    order = strategies.ips_order(request.values, request.rng, temperature=1.0 if temperature is None else temperature)
    return request.prefix_of(order)


HANDLERS: dict[str, Handler] = {
    "top": _top,
    "bottom": _bottom,
    "random": _random,
    "threshold": _threshold,
    "stratified": _stratified,
    "ccs": _stratified,  # DEALRec's name for the same coverage-enhanced selection
    "ips": _ips,
    "dedup": _dedup,
    "zip": _zip,
    "dsir": _dsir,
}

# Strategies that need no score column.
WITHOUT_SCORES = {"random", "dedup", "zip", "dsir"}
# Strategies that may keep every row they choose, without --keep or --budget-tokens.
WITHOUT_BUDGET = {"threshold", "dedup"}
