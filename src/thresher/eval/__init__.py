"""Evaluation harness: train a target model on the subsets each method selects and report held-out quality."""

from thresher.eval.harness import EvalResult, Method, RunResult, evaluate, parse_keeps, parse_methods, split_by_id

__all__ = ["EvalResult", "Method", "RunResult", "evaluate", "parse_keeps", "parse_methods", "split_by_id"]
