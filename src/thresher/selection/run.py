"""The one way to run a strategy: `thresher select`, `--balance-classes` and the eval harness all come here.

`run_strategy` checks what a strategy declares (`needs`, `budget_optional`, `supports_tokens`) against the
inputs and the budget, prepares it once, and runs it on the whole input or, with `balance_labels`, on each
class's slice of the inputs with a budget proportional to the class's size.
"""

from __future__ import annotations

import numpy as np

from thresher.errors import OptionError
from thresher.selection.balance import class_rows, select_balanced
from thresher.selection.base import Budget, Strategy, StrategyInputs


def run_strategy(
    strategy: Strategy,
    inputs: StrategyInputs,
    budget: Budget | None,
    seed: int,
    *,
    balance_labels: np.ndarray | None = None,
    name: str | None = None,
) -> np.ndarray:
    """The rows `strategy` keeps from `inputs`, ascending int64 indices into them.

    Parameters
    ----------
    strategy:
        A built strategy (see `thresher.selection.registry.STRATEGIES`).
    inputs:
        The arrays the strategy needs, for every row it may choose from.
    budget:
        How much to keep; None keeps every row the strategy chooses (only where `budget_optional`).
    seed:
        The only source of randomness; each class of a balanced run gets the same seed, so a class's rows
        are those the strategy keeps from that class alone.
    balance_labels:
        The class of every row: run the strategy within each class, the budget split over the classes in
        proportion to their sizes (`--balance-classes`).
    name:
        How messages name the strategy (the name the user chose, such as `ccs`); default its own name.

    Raises
    ------
    OptionError
        When the inputs lack what the strategy needs, or the budget does not suit it.
    """
    label = name or strategy.name
    check_runnable(strategy, inputs, budget, label)
    strategy.prepare()
    if balance_labels is None:
        return _checked(strategy.select(inputs, budget, seed), inputs.n_rows, label)

    labels = np.asarray(balance_labels)
    if labels.shape != (inputs.n_rows,):
        raise OptionError(f"--balance-classes: the input has {labels.size} labels but {inputs.n_rows} rows to select")
    if budget is not None and budget.tokens is not None:
        raise OptionError("--balance-classes works with --keep, not --budget-tokens")

    def within(rows: np.ndarray, class_budget: Budget | None) -> np.ndarray:
        return _checked(strategy.select(inputs.subset(rows), class_budget, seed), rows.size, label)

    if budget is None:
        # No budget to share out: each class keeps what the strategy chooses from it alone.
        chosen = [rows[within(rows, None)] for rows in class_rows(labels)]
        return np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)
    assert budget.count is not None
    return select_balanced(labels, budget.count, lambda rows, count: within(rows, Budget(count=count)))


def check_runnable(strategy: Strategy, inputs: StrategyInputs, budget: Budget | None, name: str) -> None:
    """`OptionError` unless `inputs` hold what `strategy` needs and `budget` is one it can honour."""
    for need in sorted(strategy.needs):
        inputs.require(need, name)
    if budget is not None and budget.tokens is not None and strategy.supports_tokens:
        inputs.require("costs", name)
    check_budget(strategy, budget, inputs.n_rows, name)


def check_budget(strategy: Strategy, budget: Budget | None, n_rows: int, name: str) -> None:
    """`OptionError` unless `budget` is one `strategy` can honour over `n_rows` rows."""
    if budget is None:
        if not strategy.budget_optional:
            raise OptionError(
                f"--strategy {name} needs a budget: give --keep K (a fraction such as 0.3 or a count such as 5000)"
                + (" or --budget-tokens N" if strategy.supports_tokens else "")
            )
        return
    if budget.tokens is not None:
        if not strategy.supports_tokens:
            raise OptionError(f"--strategy {name} takes --keep, not --budget-tokens")
        return
    assert budget.count is not None
    if budget.count > n_rows:
        raise OptionError(f"cannot keep {budget.count} of {n_rows} examples")


def _checked(rows: np.ndarray, n_rows: int, name: str) -> np.ndarray:
    """`rows` as int64, after checking the contract of `Strategy.select` (a plug-in's mistake, not the user's)."""
    chosen = np.asarray(rows, dtype=np.int64)
    in_order = chosen.ndim == 1 and bool((np.diff(chosen) > 0).all())
    if not in_order or (chosen.size and (chosen[0] < 0 or chosen[-1] >= n_rows)):
        raise RuntimeError(f"strategy {name}: select must give ascending, distinct rows below {n_rows}")
    return chosen
