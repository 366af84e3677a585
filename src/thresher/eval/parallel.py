"""Run the harness's training runs in worker processes.

Every run of an evaluation is independent given (rows, seed), so `run_all` farms them out to `jobs` spawned
processes, each holding one copy of the target (its cached features or tokenised documents are sent once, when
the worker starts, not with every run). Results come back in plan order whatever order they finish in.

Workers are spawned rather than forked: forking a process whose PyTorch thread pool is already running can
deadlock the child. Each worker gets an even share of the CPU threads so that `jobs` runs do not oversubscribe
the cores. Results equal the in-process ones up to floating-point summation order (different thread counts).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Protocol

import numpy as np

from thresher.errors import OptionError
from thresher.eval.target import RunOutcome, as_outcome


class Target(Protocol):
    def train_and_evaluate(self, rows: np.ndarray, seed: int) -> RunOutcome | Mapping[str, float]: ...


# One planned run: the training rows and the seed.
Run = tuple[np.ndarray, int]
# Called as each run starts: its index in the plan.
OnStart = Callable[[int], None]
# Called as each run finishes: (its index in the plan, its final metrics, seconds).
OnDone = Callable[[int, dict[str, float], float], None]

_worker_target: Target | None = None


def run_all(
    target: Target,
    runs: Sequence[Run],
    *,
    jobs: int = 1,
    on_start: OnStart | None = None,
    on_done: OnDone | None = None,
    threads: int | None = None,
) -> list[tuple[RunOutcome, float]]:
    """(outcome, seconds) of every run in `runs`, in order; with `jobs` > 1, in that many worker processes.

    `on_start` and `on_done` are called in this process as each run starts and finishes. `threads` sets each
    worker's PyTorch threads (default: the cores shared evenly, `worker_threads`).
    """
    if jobs < 1:
        raise OptionError(f"--jobs must be at least 1, got {jobs}")
    if jobs == 1 or len(runs) <= 1:
        results = []
        for index, (rows, seed) in enumerate(runs):
            if on_start is not None:
                on_start(index)
            outcome, seconds = _timed(target, rows, seed)
            results.append((outcome, seconds))
            if on_done is not None:
                on_done(index, outcome.metrics, seconds)
        return results
    jobs = min(jobs, len(runs))
    return _run_in_processes(target, runs, jobs, threads or worker_threads(jobs), on_start, on_done)


def worker_threads(jobs: int, cores: int | None = None) -> int:
    """PyTorch threads per worker: the machine's cores shared evenly, at least one."""
    available = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, available // jobs)


def _run_in_processes(
    target: Target,
    runs: Sequence[Run],
    jobs: int,
    threads: int,
    on_start: OnStart | None,
    on_done: OnDone | None,
) -> list[tuple[RunOutcome, float]]:
    try:
        payload = pickle.dumps(target)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        message = f"--jobs {jobs}: this task's target model cannot be sent to worker processes ({error})"
        raise OptionError(message) from error
    results: list[tuple[RunOutcome, float] | None] = [None] * len(runs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(payload, threads)
    ) as pool:
        # At most `jobs` runs are submitted at a time, so the runs submitted are the runs running.
        queued = iter(enumerate(runs))
        pending: dict[Future[tuple[RunOutcome, float]], int] = {}

        def submit_next() -> None:
            item = next(queued, None)
            if item is None:
                return
            index, (rows, seed) = item
            pending[pool.submit(_worker_run, rows, seed)] = index
            if on_start is not None:
                on_start(index)

        for _ in range(jobs):
            submit_next()
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    outcome, seconds = future.result()
                    results[index] = (outcome, seconds)
                    if on_done is not None:
                        on_done(index, outcome.metrics, seconds)
                    submit_next()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return [result for result in results if result is not None]


def _start_worker(payload: bytes, threads: int) -> None:
    import torch

    global _worker_target
    torch.set_num_threads(threads)
    _worker_target = pickle.loads(payload)


def _worker_run(rows: np.ndarray, seed: int) -> tuple[RunOutcome, float]:
    assert _worker_target is not None, "worker started without a target"
    return _timed(_worker_target, rows, seed)


def _timed(target: Target, rows: np.ndarray, seed: int) -> tuple[RunOutcome, float]:
    started = time.perf_counter()
    outcome = as_outcome(target.train_and_evaluate(rows, seed))
    return outcome, time.perf_counter() - started
