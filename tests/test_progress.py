"""The progress display (bars on a terminal, lines in a log) and the long commands that report through it."""

from __future__ import annotations

import io
import re

from rich.console import Console
from typer.testing import CliRunner

from thresher.cli import app
from thresher.progress import ProgressDisplay, format_duration

CLOCK = r"\d\d:\d\d:\d\d "


def log_console() -> tuple[Console, io.StringIO]:
    """A console writing to a string, as to a log file: not a terminal."""
    buffer = io.StringIO()
    return Console(file=buffer, width=200), buffer


def test_a_log_gets_a_line_at_the_start_at_milestones_and_at_the_end():
    console, buffer = log_console()
    with ProgressDisplay(console=console) as display:
        assert not display.live
        task = display.task("train", total=4, unit="step")
        task.update(advance=1, detail="loss 2.000")  # within log_every of the last line: no line
        task.update(advance=1, detail="loss 1.500", milestone=True)
        task.update(advance=2, detail="loss 1.000")
        task.update(advance=0)  # after the end: nothing more
    lines = buffer.getvalue().splitlines()
    assert [re.sub(CLOCK, "", line, count=1).split(", took")[0] for line in lines] == [
        "train: step 0/4 (0%)",
        "train: step 2/4 (50%), loss 1.500, 0 s elapsed, ETA 0 s",
        "train: step 4/4 (100%), loss 1.000",
    ]
    assert all(re.match(CLOCK, line) for line in lines)


def test_a_log_gets_a_line_every_log_every_seconds_and_the_last_state_on_exit():
    console, buffer = log_console()
    with ProgressDisplay(console=console, log_every=0.0) as display:
        task = display.task("score", total=10, unit="examples")
        task.update(advance=3)
        task.update(advance=3)
    lines = [re.sub(CLOCK, "", line, count=1) for line in buffer.getvalue().splitlines()]
    assert [line.split(",")[0] for line in lines] == [
        "score: examples 0/10 (0%)",
        "score: examples 3/10 (30%)",
        "score: examples 6/10 (60%)",
        "score: examples 6/10 (60%)",  # closed unfinished: where it stopped
    ]
    assert "took" in lines[-1]


def test_follow_shows_a_task_only_once_the_loop_reports():
    console, buffer = log_console()
    with ProgressDisplay(console=console) as display:
        unused = display.follow("cached training", unit="epoch")
        report = display.follow("training", unit="epoch")
        report(0, 3, "seed 1/1")
        report(3, 3, "seed 1/1")
        assert callable(unused)
    text = buffer.getvalue()
    assert "cached training" not in text
    assert "training: epoch 0/3 (0%), seed 1/1" in text and "training: epoch 3/3 (100%), seed 1/1, took" in text


def test_a_disabled_display_prints_nothing_but_still_counts():
    console, buffer = log_console()
    with ProgressDisplay(enabled=False, console=console) as display:
        task = display.task("quiet", total=2)
        task.update(advance=2)
        display.note("not shown")
        display.follow("also quiet")(1, 2)
    assert buffer.getvalue() == "" and task.completed == 2 and task.finished


def test_a_terminal_gets_bars_and_no_log_lines():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120, color_system=None)
    with ProgressDisplay(console=console) as display:
        assert display.live
        task = display.task("train-ref", total=3, unit="step")
        task.update(advance=3, detail="loss 0.500")
    text = buffer.getvalue()
    assert "train-ref" in text and "step 3/3" in text and "loss 0.500" in text and "━" in text
    assert not re.search(CLOCK + "train-ref:", text)


def test_durations_read_like_a_person_wrote_them():
    assert [format_duration(s) for s in (0.4, 59, 200, 7500)] == ["0 s", "59 s", "3 min 20 s", "2 h 05 min"]


# -- the commands --------------------------------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(app, [str(arg) for arg in args])


def progress_lines(text: str) -> list[str]:
    """thresher's progress lines in a command's stderr (transformers may add a weight-loading bar of its own)."""
    return [line for line in text.splitlines() if re.match(CLOCK, line)]


TINY_REF = ["--epochs", "1", "--vocab-size", "300", "--layers", "1", "--width", "32", "--context-length", "16"]


def test_train_ref_reports_steps_and_loss_on_stderr_unless_quiet(tmp_path, corpus_jsonl):
    result = invoke("train-ref", corpus_jsonl, "--out", tmp_path / "ref", *TINY_REF)
    assert result.exit_code == 0, result.output
    assert "24 texts read" in result.stderr
    final = re.search(r"train-ref: step (\d+)/(\d+) \(100%\), loss \d+\.\d{3}, took", result.stderr)
    assert final is not None and final.group(1) == final.group(2)
    assert "reference model →" in result.stdout and progress_lines(result.stdout) == []

    folds = invoke("train-ref", corpus_jsonl, "--out", tmp_path / "folds", "--folds", "2", *TINY_REF)
    assert folds.exit_code == 0, folds.output
    assert "train-ref fold 1/2: step" in folds.stderr and "train-ref fold 2/2: step" in folds.stderr

    quiet = invoke("train-ref", corpus_jsonl, "--out", tmp_path / "quiet", *TINY_REF, "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert progress_lines(quiet.stderr) == [] and "reference model →" in quiet.stdout


def test_eval_reports_runs_and_the_one_running_on_stderr_unless_quiet(tmp_path, corpus_jsonl, tiny_embedder_dir):
    command = [
        "eval",
        corpus_jsonl,
        "--task",
        "classify",
        "--label-field",
        "label",
        "--embedder",
        tiny_embedder_dir,
        "--methods",
        "random",
        "--keep",
        "0.4,0.8",
        "--seeds",
        "3",
        "--eval-split",
        "0.25",
    ]
    result = invoke(*command, "--out", tmp_path / "report")
    assert result.exit_code == 0, result.output
    lines = progress_lines(result.stderr)
    assert "preparing the classify target" in lines[0]
    # One line as each run starts, naming it and the one before, then the last.
    assert "eval: runs 0/6 (0%), running random keep=0.4 seed=0" in lines[1]
    assert "eval: runs 3/6 (50%), running random keep=0.8 seed=0; last random keep=0.4 seed=2 accuracy" in lines[4]
    assert "eval: runs 6/6 (100%), last random keep=0.8 seed=2 accuracy" in lines[-1] and "took" in lines[-1]
    assert len(lines) == 8

    quiet = invoke(*command, "--out", tmp_path / "quiet", "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert progress_lines(quiet.stderr) == [] and "6 runs" in quiet.stdout


def test_score_shows_the_proxy_and_surrogate_trainings_inside_scorers(tmp_path, corpus_jsonl, tiny_embedder_dir):
    command = ["score", corpus_jsonl, "--scorer", "el2n,influence", "--label-field", "label"]
    options = ["--embedder", tiny_embedder_dir, "-p", "seeds=2", "-p", "epochs=2", "-p", "hvp_steps=5"]
    result = invoke(*command, *options, "--out", tmp_path / "scores")
    assert result.exit_code == 0, result.output
    assert "el2n proxy training: epoch 0/4 (0%), seed 1/2" in result.stderr
    assert "el2n proxy training: epoch 4/4 (100%), seed 2/2, took" in result.stderr
    assert "influence surrogate training: epoch 2/2 (100%), took" in result.stderr
    assert "influence inverse HVP (lissa): step 5/5 (100%), took" in result.stderr
    assert "el2n: examples 24/24 (100%)" in result.stderr

    quiet = invoke(*command, *options, "--out", tmp_path / "quiet", "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert progress_lines(quiet.stderr) == []
