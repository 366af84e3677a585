"""Every kind of bad input gives one clear line on stderr, exit code 2, and no partial output."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from thresher.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def assert_user_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())  # rich may wrap long lines
    for needle in needles:
        assert needle in message, message
    assert message.startswith("error:")


def score(path, out):
    return run("score", path, "--scorer", "compression", "--out", out, "--quiet")


def write_lines(path, lines: list[bytes]):
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


GOOD = b'{"text": "a fine example", "id": 1}'


@pytest.mark.parametrize(
    ("lines", "needles"),
    [
        ([GOOD, b'{"text": "unterminated'], ["bad.jsonl:2"]),
        ([GOOD, b'{"other": "no text here", "id": 2}'], ["bad.jsonl:2", "'text'"]),
        ([GOOD, b'{"text": null, "id": 2}'], ["bad.jsonl:2", "'text'"]),
        ([GOOD, b'{"text": "   ", "id": 2}'], ["bad.jsonl:2", "'text'", "empty"]),
        ([GOOD, b'{"text": "caf\xe9 latin-1", "id": 2}'], ["bad.jsonl:2", "UTF-8"]),
        ([GOOD, b'["a", "list"]'], ["bad.jsonl:2"]),
    ],
    ids=["malformed-json", "missing-text", "null-text", "empty-text", "non-utf8", "not-an-object"],
)
def test_bad_jsonl_records(tmp_path, lines, needles):
    path = write_lines(tmp_path / "bad.jsonl", lines)
    assert_user_error(score(path, tmp_path / "scores"), *needles)
    assert not (tmp_path / "scores").exists() or not list((tmp_path / "scores").rglob("*.parquet"))


def test_duplicate_ids(tmp_path):
    path = write_lines(tmp_path / "dup.jsonl", [GOOD, b'{"text": "another", "id": 1}'])
    result = run("score", path, "--scorer", "compression", "--out", tmp_path / "s", "--id-field", "id", "--quiet")
    assert_user_error(result, "dup.jsonl:2", "'id'", "duplicate")


def test_parquet_without_the_text_column(tmp_path):
    path = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"body": ["x", "y"]}), path)
    assert_user_error(score(path, tmp_path / "s"), "wrong.parquet", "'text'")


def test_parquet_with_a_non_string_text_column(tmp_path):
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), path)
    assert_user_error(score(path, tmp_path / "s"), "ints.parquet", "'text'")


def test_truncated_gzip(tmp_path):
    data = gzip.compress(b"".join(json.dumps({"text": f"line {i}"}).encode() + b"\n" for i in range(5000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    assert_user_error(score(path, tmp_path / "s"), "cut.jsonl.gz")


def test_missing_file_and_directory_for_a_file(tmp_path):
    assert_user_error(score(tmp_path / "absent.jsonl", tmp_path / "s"), "absent.jsonl")
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    assert_user_error(score(folder, tmp_path / "s2"), "folder.jsonl")


def test_huge_single_example_is_scored(tmp_path):
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"text": "word " * 2_000_000}) + "\n" + GOOD.decode() + "\n")  # a 10 MB example
    result = score(path, tmp_path / "s")
    assert result.exit_code == 0, result.output


def test_unwritable_output(tmp_path):
    # /proc refuses new entries even to root, so this holds wherever the tests run.
    path = write_lines(tmp_path / "ok.jsonl", [GOOD])
    assert_user_error(score(path, "/proc/thresher-scores"), "/proc/thresher-scores")
    assert score(path, tmp_path / "s").exit_code == 0
    result = run(
        "select", path, "--scores", tmp_path / "s", "--by", "zlib_ratio", "--keep", "1", "--out", "/proc/kept.jsonl"
    )
    assert_user_error(result, "/proc/kept.jsonl")


def test_output_inside_a_file_is_refused(tmp_path):
    path = write_lines(tmp_path / "ok.jsonl", [GOOD])
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    assert_user_error(score(path, blocker), "blocker")
    assert_user_error(score(path, blocker / "scores"), "blocker/scores", "cannot create")
    assert blocker.read_text() == "not a directory"
    result = run("score", path, "--scorer", "compression", "--out", tmp_path / "s", "--quiet")
    assert result.exit_code == 0
    kept = blocker / "kept.jsonl"
    assert_user_error(
        run("select", path, "--scores", tmp_path / "s", "--by", "zlib_ratio", "--keep", "1", "--out", kept),
        "kept.jsonl",
    )


def test_scores_of_another_input(tmp_path):
    first = write_lines(tmp_path / "first.jsonl", [GOOD])
    second = write_lines(tmp_path / "second.jsonl", [b'{"text": "a different example", "id": 1}'])
    assert score(first, tmp_path / "s").exit_code == 0
    out = tmp_path / "kept.jsonl"
    result = run("select", second, "--scores", tmp_path / "s", "--by", "zlib_ratio", "--keep", "1", "--out", out)
    assert_user_error(result, "first.jsonl", "second.jsonl", "does not match")
    assert not out.exists()
    assert_user_error(score(second, tmp_path / "s"), "use another --out or --overwrite")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--strategy", "ccs", "--keep", "1", "-p", "strata"], ["-p 'strata'", "expected NAME=VALUE"]),
        (["--strategy", "ccs", "--keep", "1", "-p", "strata=many"], ["strata", "expected an integer", "'many'"]),
        (["--keep", "1", "-p", "k1=3"], ["none of the chosen components (top) takes 'k1'", "strategy zip"]),
        (["--keep", "1", "-p", "zip.k1=3"], ["zip is not one of the chosen components (top)"]),
        (["--strategy", "ccs", "--keep", "1", "-p", "ccs.stratta=3"], ["ccs has no parameter 'stratta'", "strata"]),
        (["--strategy", "dsir", "--keep", "1"], ["strategy dsir needs target", "-p dsir.target="]),
        (["--strategy", "top"], ["--strategy top needs a budget", "--keep K"]),
    ],
    ids=["no-equals", "bad-value", "other-strategy", "unchosen", "misspelt", "required", "no-budget"],
)
def test_bad_strategy_parameters(tmp_path, args, needles):
    path = write_lines(tmp_path / "ok.jsonl", [GOOD, b'{"text": "another example", "id": 2}'])
    assert score(path, tmp_path / "s").exit_code == 0
    by = [] if "dsir" in args else ["--by", "zlib_ratio"]
    out = tmp_path / "kept.jsonl"
    result = run("select", path, "--scores", tmp_path / "s", *by, *args, "--out", out)
    assert_user_error(result, *needles)
    assert not out.exists()


def test_select_by_a_column_of_the_wrong_kind(tmp_path):
    path = write_lines(tmp_path / "ok.jsonl", [GOOD, b'{"text": "a fine example", "id": 2}'])
    result = run("score", path, "--scorer", "minhash", "--out", tmp_path / "s", "--quiet")
    assert result.exit_code == 0, result.output
    common = ["select", path, "--scores", tmp_path / "s", "--keep", "1", "--out", tmp_path / "kept.jsonl"]
    assert_user_error(run(*common, "--by", "minhash_duplicate_of", "--strategy", "dedup"), "holds ids")
    flag = run(*common, "--by", "minhash_keep")
    assert_user_error(flag, "minhash_keep is a flag column", "strategies that take flag columns: dedup")
    assert not (tmp_path / "kept.jsonl").exists()
