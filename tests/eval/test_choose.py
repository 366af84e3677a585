"""The choose step: each run's rows come from its method's strategy, built once with the resolved parameters."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.errors import OptionError
from thresher.eval.choose import build_strategies, choose_all, strategies_of
from thresher.eval.data import TrainingColumn
from thresher.eval.plan import PlannedRun, parse_method
from thresher.selection.strategies import select_stratified
from thresher.types import Direction

VALUES = np.arange(40.0)  # higher is more important: row 39 is the hardest
TEXTS = [f"text {i}" for i in range(40)]


def choose(names: list[str], keep: float, seed: int, params: dict) -> list[np.ndarray]:
    runs = [PlannedRun(parse_method(name), keep, seed) for name in names]
    strategies = build_strategies([run.method for run in runs], params)
    return choose_all(runs, {"v": TrainingColumn(VALUES, Direction.HIGHER)}, TEXTS, strategies)


def test_strategy_parameters_reach_the_strategy():
    stratified, top, full = choose(["v:stratified", "v", "full"], 0.25, 7, {"stratified": {"drop_hardest": 0.25}})
    expected = select_stratified(VALUES, 10, 7, strata=50, drop_hardest=0.25)
    assert stratified.tolist() == sorted(expected.tolist()) and len(stratified) == 10
    assert stratified.max() < 30  # the hardest quarter (rows 30..39) was dropped first
    assert top.tolist() == list(range(30, 40)) and full.tolist() == list(range(40))
    (few_strata,) = choose(["v:ccs"], 0.25, 7, {"ccs": {"strata": 2}})
    assert few_strata.tolist() == sorted(select_stratified(VALUES, 10, 7, strata=2).tolist())
    (in_range,) = choose(["v:threshold"], 1.0, 0, {"threshold": {"minimum": 5.0, "maximum": 8.0}})
    assert in_range.tolist() == [5, 6, 7, 8]


def test_strategies_are_built_once_per_name_and_a_missing_required_parameter_is_an_option_error():
    methods = [parse_method(name) for name in ("random", "full", "v:stratified", "w:stratified", "v:top")]
    assert strategies_of(methods) == ["random", "stratified", "top"]
    built = build_strategies(methods, {"stratified": {"strata": 3}})
    assert built["stratified"].get_params() == {"strata": 3, "drop_hardest": 0.0} and built["top"].get_params() == {}
    with pytest.raises(OptionError, match="strategy dsir: .*target"):
        build_strategies([parse_method("dsir")], {})
    with pytest.raises(OptionError, match="after dropping the hardest"):
        choose(["v:stratified"], 0.9, 0, {"stratified": {"drop_hardest": 0.5}})
