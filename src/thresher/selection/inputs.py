"""`StrategyInputs` for `thresher select`: the columns and texts a strategy declares, read from a score store and
the input dataset, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from thresher.data.fields import LABEL_COLUMN, TEXT_COLUMN
from thresher.data.readers import DEFAULT_BATCH_ROWS
from thresher.errors import OptionError, StoreError
from thresher.selection.base import IMPORTANCE, LABELS, TEXTS, VALUES, Strategy, StrategyInputs
from thresher.selection.fusion import Fusion, fuse
from thresher.selection.strategies import importance
from thresher.types import ColumnKind, Direction

if TYPE_CHECKING:
    from thresher.data.readers import Dataset
    from thresher.store import ScoreStore

TOKEN_COLUMN = "n_tokens"  # the likelihood scorer's tokens per example: the cost of a row under --budget-tokens
_EMBEDDING_NAMES = ("embedding", "embeddings")


class DatasetTexts:
    """The texts of a dataset's rows (all, or the ascending `rows`), read from the input again on every pass.

    A million texts held as Python strings cost gigabytes; a pass over the file costs seconds, and the
    strategies that read texts (DSIR: two passes; ZIP: one) read them a few times at most.
    """

    def __init__(
        self, dataset: Dataset, rows: np.ndarray | None = None, *, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> None:
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if rows.ndim != 1 or (np.diff(rows) <= 0).any():
                raise ValueError("DatasetTexts: rows must be ascending and distinct")
        self.dataset = dataset
        self.rows = rows
        self.batch_rows = batch_rows

    def __len__(self) -> int:
        return self.dataset.num_rows() if self.rows is None else int(self.rows.size)

    def __iter__(self) -> Iterator[str]:
        first_row = 0
        for batch in self.dataset.iter_examples(self.batch_rows):
            texts = batch.column(TEXT_COLUMN)
            if self.rows is None:
                yield from texts.to_pylist()
            else:
                start, stop = np.searchsorted(self.rows, [first_row, first_row + batch.num_rows])
                if stop > start:
                    yield from texts.take(self.rows[start:stop] - first_row).to_pylist()
                elif start == self.rows.size:
                    return  # past the last row wanted: the rest of the file need not be read
            first_row += batch.num_rows

    def subset(self, rows: np.ndarray) -> DatasetTexts:
        """The texts of `rows` (ascending positions in these texts)."""
        rows = np.asarray(rows, dtype=np.int64)
        return DatasetTexts(self.dataset, rows if self.rows is None else self.rows[rows], batch_rows=self.batch_rows)


def choose_column(name: str, strategy: type[Strategy], store: ScoreStore, by: str | None) -> str | None:
    """The score column `strategy` selects by: `by`, else its first default column present, else None.

    Parameters
    ----------
    name:
        The strategy's name as the user gave it, for messages.
    strategy:
        The strategy class; its `needs`, `column_kinds` and `default_columns` decide.
    store:
        The score directory.
    by:
        The `--by` column, or None.

    Raises
    ------
    OptionError
        A column the strategy does not read or cannot use (an id column, a flag for a ranking strategy), or none
        where it needs one.
    """
    infos = store.column_infos()
    if not strategy.reads_column():
        if by is not None:
            raise OptionError(f"--strategy {name} chooses without a score column; drop --by {by}")
        return None
    if by is None:
        present = [column for column in strategy.default_columns if column in infos]
        if len(present) > 1:
            raise OptionError(f"--strategy {name}: choose the column with --by ({' or '.join(present)})")
        if not present:
            if strategy.default_columns:
                wanted = " or ".join(strategy.default_columns)
                raise OptionError(
                    f"--strategy {name} needs --by COLUMN, or a {wanted} column in {store.root} "
                    "(run `thresher score` with the scorer that writes it)"
                )
            raise OptionError(f"--strategy {name} needs --by COLUMN")
        by = present[0]
    if by in _EMBEDDING_NAMES and by not in infos:
        raise OptionError(
            f"--by {by}: embeddings are vectors, not a score to select by; score them first "
            "(`thresher score --scorer density`, then `select --by density --strategy ips`)"
        )
    if by not in infos:
        available = ", ".join(sorted(infos)) or "none"
        raise StoreError(f"{store.root}: no score column {by!r}; available: {available}")
    check_column_kind(name, strategy, by, infos[by].kind)
    return by


def check_column_kind(name: str, strategy: type[Strategy], column: str, kind: ColumnKind) -> None:
    """`OptionError` unless `strategy` takes a column of `kind`, naming the strategies that do."""
    if kind is ColumnKind.ID:
        raise OptionError(f"--by {column} holds ids of other examples, not something to select by")
    if kind in strategy.column_kinds:
        return
    from thresher.selection.registry import strategies_taking

    takers = ", ".join(strategies_taking(kind)) or "none"
    does = "ranks by a score" if IMPORTANCE in strategy.needs else f"takes {_kinds(strategy.column_kinds)} columns"
    raise OptionError(
        f"--by {column} is a {kind} column and --strategy {name} {does}; strategies that take {kind} columns: {takers}"
    )


def _kinds(kinds: frozenset[ColumnKind]) -> str:
    return " or ".join(sorted(str(kind) for kind in kinds))


def inputs_from_store(
    strategy: type[Strategy],
    store: ScoreStore,
    dataset: Dataset,
    *,
    column: str | None,
    with_costs: bool = False,
) -> StrategyInputs:
    """The inputs `strategy` declares it needs, for every input row: the `column`'s values and importance, texts
    streamed from `dataset` (`DatasetTexts`), labels, and with `with_costs` the `n_tokens` of each row.

    Only the columns asked for are read; `column` is the one `choose_column` gave.
    """
    by = column if column is not None and strategy.reads_column() else None
    if with_costs:
        check_token_column(store)
    wanted = list(dict.fromkeys([*([by] if by else []), *([TOKEN_COLUMN] if with_costs else [])]))
    table = store.read_columns(wanted, with_id=False) if wanted else None
    n_rows = table.num_rows if table is not None else row_count(store)
    values = importance_values = costs = None
    if table is not None and by is not None:
        values = table.column(by).to_numpy(zero_copy_only=False).astype(np.float64)
        if IMPORTANCE in strategy.needs:
            importance_values = importance(values, column_direction(store, by))
        if VALUES not in strategy.needs:
            values = None
    if table is not None and with_costs:
        costs = table.column(TOKEN_COLUMN).to_numpy(zero_copy_only=False).astype(np.float64)
    return StrategyInputs(
        n_rows=n_rows,
        importance=importance_values,
        values=values,
        texts=DatasetTexts(dataset) if TEXTS in strategy.needs else None,
        labels=dataset_labels(dataset, f"--strategy {strategy.name}") if LABELS in strategy.needs else None,
        costs=costs,
    )


def fused_inputs_from_store(
    name: str,
    strategy: type[Strategy],
    store: ScoreStore,
    dataset: Dataset,
    columns: Sequence[str],
    fusion: Fusion,
    *,
    with_costs: bool = False,
) -> StrategyInputs:
    """The inputs of `strategy` with the fused score of `columns` (`thresher.selection.fusion`) as its importance
    (and values), read into memory with the texts, labels and costs it needs, as `inputs_from_store` reads them.

    Raises
    ------
    OptionError
        A strategy that does not choose by a score, a column absent or not a score, a NaN value.
    """
    if not strategy.reads_column() or ColumnKind.SCORE not in strategy.column_kinds:
        raise OptionError(f"--strategy {name} does not choose by a score, so it cannot take a --fuse score")
    infos = store.column_infos()
    for column in columns:
        if column not in infos:
            available = ", ".join(sorted(infos)) or "none"
            raise StoreError(f"{store.root}: no score column {column!r}; available: {available}")
        check_column_kind(name, strategy, column, infos[column].kind)
    wanted = list(dict.fromkeys([*columns, *([TOKEN_COLUMN] if with_costs else [])]))
    table = store.read_columns(wanted, with_id=False)
    values = {column: table.column(column).to_numpy(zero_copy_only=False).astype(np.float64) for column in columns}
    fused = fuse(values, {column: infos[column].direction for column in columns}, fusion)
    costs = table.column(TOKEN_COLUMN).to_numpy(zero_copy_only=False).astype(np.float64) if with_costs else None
    return StrategyInputs(
        n_rows=table.num_rows,
        importance=fused if IMPORTANCE in strategy.needs else None,
        values=fused if VALUES in strategy.needs else None,
        texts=DatasetTexts(dataset) if TEXTS in strategy.needs else None,
        labels=dataset_labels(dataset, f"--strategy {name}") if LABELS in strategy.needs else None,
        costs=costs,
    )


def check_token_column(store: ScoreStore) -> None:
    """`OptionError` unless the score directory has the token counts a token budget costs rows by."""
    if TOKEN_COLUMN not in store.column_infos():
        raise OptionError(f"--budget-tokens needs the {TOKEN_COLUMN} column: run `thresher score --scorer likelihood`")


def column_direction(store: ScoreStore, column: str) -> Direction:
    """The direction of a score column, which ranking needs; `OptionError` for a column without one."""
    direction = store.column_infos()[column].direction
    if direction is None:
        raise OptionError(f"--by {column} has no direction (it is not a score), so it cannot be ranked")
    return direction


def dataset_labels(dataset: Dataset, needed_by: str = "--balance-classes") -> np.ndarray:
    """The label of every row of `dataset`, in input order; `OptionError` naming `needed_by` when there are none."""
    if dataset.fields.label is None:
        raise OptionError(f"{needed_by} needs labels: give --label-field (or score with one)")
    labels: list[object] = []
    for batch in dataset.iter_examples():
        labels.extend(batch.column(LABEL_COLUMN).to_pylist())
    return np.asarray(labels)


def row_count(store: ScoreStore) -> int:
    """The number of scored rows; `StoreError` when no scorer has finished."""
    count = store.row_count()
    if count is None:
        raise StoreError(f"{store.root}: no scorer has finished; run `thresher score` first")
    return count
