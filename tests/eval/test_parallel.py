import numpy as np
import pytest
import torch

from thresher.errors import OptionError
from thresher.eval.classify import ClassifyTarget, PreparedClassify
from thresher.eval.parallel import run_all, worker_threads
from thresher.eval.target import RunOutcome


def small_target() -> PreparedClassify:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 2
    labels = rng.integers(0, 3, size=90)
    features = centres[labels] + rng.normal(size=(90, 8))
    return PreparedClassify(
        features[:60], labels[:60], features[60:], labels[60:], num_classes=3, settings=ClassifyTarget(epochs=3)
    )


def test_runs_in_worker_processes_equal_the_in_process_runs_in_plan_order():
    target = small_target()
    runs = [(np.arange(0, 60, step), seed) for step, seed in ((1, 0), (2, 1), (3, 2), (1, 3))]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = run_all(target, runs, jobs=1)
    finally:
        torch.set_num_threads(threads)
    events = []
    parallel = run_all(
        target,
        runs,
        jobs=2,
        threads=1,
        on_start=lambda index: events.append(("start", index)),
        on_done=lambda index, metrics, seconds: events.append(("done", index)),
    )
    assert [outcome for outcome, _ in parallel] == [outcome for outcome, _ in serial]
    assert all(len(outcome.curve) == 3 for outcome, _ in parallel)  # one checkpoint per epoch at most
    assert sorted(index for event, index in events if event == "done") == [0, 1, 2, 3]
    # Runs start in plan order, each before it finishes, never more than `jobs` at once.
    assert [index for event, index in events if event == "start"] == [0, 1, 2, 3]
    running: set[int] = set()
    for event, index in events:
        if event == "start":
            running.add(index)
            assert len(running) <= 2
        else:
            running.remove(index)
    assert all(seconds > 0 for _, seconds in parallel)


class Unpicklable:
    def __init__(self) -> None:
        self.train = lambda rows, seed: {"accuracy": 1.0}

    def train_and_evaluate(self, rows, seed):
        return self.train(rows, seed)


def test_a_target_that_cannot_reach_workers_is_an_option_error_and_jobs_is_checked():
    runs = [(np.arange(3), 0), (np.arange(3), 1)]
    assert run_all(Unpicklable(), runs, jobs=1)[0][0] == RunOutcome({"accuracy": 1.0})  # a plain dict: no curve
    with pytest.raises(OptionError, match="cannot be sent to worker processes"):
        run_all(Unpicklable(), runs, jobs=2)
    with pytest.raises(OptionError, match="at least 1"):
        run_all(Unpicklable(), runs, jobs=0)


def test_worker_threads_share_the_cores():
    assert worker_threads(2, cores=16) == 8 and worker_threads(4, cores=2) == 1
