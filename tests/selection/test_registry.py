"""Every registered strategy follows the component contract; a plug-in strategy is one class and one line."""

from __future__ import annotations

import inspect
import json
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

import thresher
from thresher.cli import app
from thresher.components import REQUIRED, describe_params
from thresher.selection.base import INPUTS, VALUES, Budget, Strategy, StrategyInputs
from thresher.selection.registry import STRATEGIES, strategies_taking
from thresher.store import ScoreStore
from thresher.types import ColumnKind

EXPECTED_PARAMS = {
    "top": {},
    "bottom": {},
    "random": {},
    "threshold": {"minimum": None, "maximum": None},
    "stratified": {"strata": 50, "drop_hardest": 0.0},
    "ccs": {"strata": 50, "drop_hardest": 0.0},
    "ips": {"temperature": 1.0},
    "dedup": {},
    "zip": {"k1": 10_000, "k2": 200, "k3": 100, "exclude_unpicked": False},
    "dsir": {"target": REQUIRED, "target_text_field": None, "buckets": 10_000},
    "softmax": {"temperature": 1.0},
    "pareto": {"alpha": 3.0},
    "band": {"low": 0.25, "high": 0.75},
}


def test_the_registry_holds_every_strategy_with_its_parameters_and_defaults():
    assert STRATEGIES.names() == sorted(EXPECTED_PARAMS)
    for name, expected in EXPECTED_PARAMS.items():
        assert {spec.name: spec.default for spec in STRATEGIES.get(name).params()} == expected, name
    assert STRATEGIES.get("ccs") is STRATEGIES.get("stratified")
    assert STRATEGIES.aliases("ccs") == ["stratified"]


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_every_strategy_follows_the_contract(name):
    cls = STRATEGIES.get(name)
    assert issubclass(cls, Strategy) and cls.kind == "strategy"
    assert cls.summary() and not cls.summary().startswith(" ")  # the docstring's first line says what it does
    assert cls.needs <= INPUTS and cls.column_kinds
    # Parameters are keyword-only and each has a one-line help in the docstring's Parameters section.
    signature = inspect.signature(cls.__init__)
    positional = [p for p in signature.parameters.values() if p.name != "self" and p.kind is not p.KEYWORD_ONLY]
    assert positional == [] or all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in positional)
    for row in describe_params(cls):
        assert row.help, f"{name}.{row.name} has no help"
    # Built from its defaults (and a target for dsir), it records the parameters it was built with.
    given = {"target": "wiki.jsonl"} if name == "dsir" else {}
    strategy = cls(**given)
    assert set(strategy.params_record()) == set(EXPECTED_PARAMS[name])
    assert cls.default_columns == (("semdedup_keep", "minhash_keep") if name == "dedup" else ())


def test_only_dedup_takes_flag_columns():
    assert strategies_taking(ColumnKind.FLAG) == ["dedup"]
    assert "dedup" not in strategies_taking(ColumnKind.SCORE) and "top" in strategies_taking(ColumnKind.SCORE)
    assert strategies_taking(ColumnKind.ID) == []


class EveryNth(Strategy):
    """Keep every n-th row whose --by value is at least a floor, up to the budget.

    Parameters
    ----------
    step:
        Keep rows 0, step, 2·step, ...
    floor:
        Lowest --by value a kept row may have.
    """

    name = "every-nth"
    needs: ClassVar[frozenset[str]] = frozenset({VALUES})

    def __init__(self, *, step: int = 2, floor: float = float("-inf")) -> None:
        self.step = step
        self.floor = floor

    def select(self, inputs: StrategyInputs, budget: Budget | None, seed: int) -> np.ndarray:
        assert budget is not None
        values = inputs.need(VALUES, self.name)
        candidates = np.arange(0, inputs.n_rows, self.step)
        return budget.prefix_of(candidates[values[candidates] >= self.floor], inputs.costs)


@pytest.fixture
def every_nth():
    STRATEGIES.register("every-nth", EveryNth)
    yield EveryNth
    STRATEGIES.unregister("every-nth")


def test_a_registered_strategy_runs_through_thresher_select_with_its_parameters(tmp_path, corpus_jsonl, every_nth):
    thresher.score(corpus_jsonl, scorers=["compression"], out=tmp_path / "s")
    ratios = np.asarray(ScoreStore.open(tmp_path / "s").read_columns(["zlib_ratio"]).column("zlib_ratio"))
    floor = float(np.median(ratios))
    args = ["select", str(corpus_jsonl), "--scores", str(tmp_path / "s"), "--by", "zlib_ratio", "--keep", "4"]
    args += ["--strategy", "every-nth", "--out", str(tmp_path / "kept.jsonl")]
    result = CliRunner().invoke(app, [*args, "-p", "step=3", "-p", f"every-nth.floor={floor}"])
    assert result.exit_code == 0, result.output
    expected = [row for row in range(0, 24, 3) if ratios[row] >= floor][:4]
    records = [json.loads(line) for line in corpus_jsonl.read_text().splitlines()]
    kept = [json.loads(line) for line in (tmp_path / "kept.jsonl").read_text().splitlines()]
    assert kept == [records[row] for row in expected]
    assert f"kept {len(expected)} of 24 examples (every-nth by zlib_ratio)" in " ".join(result.output.split())

    unused = CliRunner().invoke(app, [*args, "-p", "strata=3"])
    assert unused.exit_code == 2 and "Traceback" not in unused.output
    message = " ".join(unused.output.split())
    assert message.startswith("error:") and "'strata'" in message and "strategy stratified" in message
