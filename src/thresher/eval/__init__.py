"""Evaluation harness: train a target model on the subsets each method selects and report held-out quality.

`thresher.evaluate` (and `thresher eval`) build an `EvalConfig`; `run_evaluation` runs it: plan → choose → run →
report. Targets are registry components (`thresher.eval.registry.TARGETS`).
"""

from thresher.eval.config import EvalConfig
from thresher.eval.data import split_by_id
from thresher.eval.harness import run_evaluation
from thresher.eval.plan import Method, parse_keeps, parse_methods
from thresher.eval.results import EvalResult, RunResult

__all__ = [
    "EvalConfig",
    "EvalResult",
    "Method",
    "RunResult",
    "parse_keeps",
    "parse_methods",
    "run_evaluation",
    "split_by_id",
]
