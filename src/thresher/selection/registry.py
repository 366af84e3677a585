"""Name → selection strategy. Adding a strategy means one module and one line here."""

from __future__ import annotations

from thresher.components import Chosen, Registry
from thresher.selection.base import Strategy
from thresher.types import ColumnKind

STRATEGIES: Registry[Strategy] = Registry(
    "strategy",
    {
        "top": "thresher.selection.builtin.ranking:Top",
        "bottom": "thresher.selection.builtin.ranking:Bottom",
        "random": "thresher.selection.builtin.sample:Random",
        "threshold": "thresher.selection.builtin.threshold:Threshold",
        "stratified": "thresher.selection.builtin.stratified:Stratified",
        "ccs": "thresher.selection.builtin.stratified:Stratified",  # DEALRec's name for the same selection
        "ips": "thresher.selection.builtin.ips:InversePropensity",
        "dedup": "thresher.selection.builtin.dedup:Dedup",
        "zip": "thresher.selection.builtin.zip:Zip",
        "dsir": "thresher.selection.builtin.dsir:Dsir",
        "softmax": "thresher.selection.builtin.softmax:Softmax",
        "pareto": "thresher.selection.builtin.pareto:Pareto",
        "band": "thresher.selection.builtin.band:Band",
    },
)


def every_strategy() -> list[Chosen]:
    """Every registered strategy under each of its names: what `resolve_params` names in its messages."""
    return [Chosen(name, STRATEGIES.get(name)) for name in STRATEGIES.names()]


def strategies_taking(kind: ColumnKind) -> list[str]:
    """Names of the strategies that choose by a column of `kind` (`dedup` for flags)."""
    return [
        name
        for name in STRATEGIES.names()
        if STRATEGIES.get(name).reads_column() and kind in STRATEGIES.get(name).column_kinds
    ]
