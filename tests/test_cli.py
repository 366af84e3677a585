import json

from typer.testing import CliRunner

from thresher.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def test_score_info_select_round_trip(tmp_path, corpus_jsonl):
    scores = tmp_path / "scores"
    result = invoke("score", corpus_jsonl, "--scorer", "compression", "--out", scores, "--quiet")
    assert result.exit_code == 0, result.output
    assert "24 examples scored" in result.output
    result = invoke("info", scores)
    assert result.exit_code == 0, result.output
    for column in ("zlib_ratio", "zstd_ratio", "lzma_ratio"):
        assert column in result.output
    out = tmp_path / "kept.parquet"
    result = invoke(
        "select",
        corpus_jsonl,
        "--scores",
        scores,
        "--by",
        "zstd_ratio",
        "--keep",
        "10",
        "--strategy",
        "bottom",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "kept 10 of 24" in result.output
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 10


def test_user_mistakes_exit_2_with_one_line_and_no_output(tmp_path, corpus_jsonl):
    missing = invoke("score", tmp_path / "nope.jsonl", "--scorer", "compression", "--out", tmp_path / "s")
    assert missing.exit_code == 2 and "nope.jsonl" in missing.output
    assert "Traceback" not in missing.output
    unknown = invoke("score", corpus_jsonl, "--scorer", "magic[x]", "--out", tmp_path / "s")
    assert unknown.exit_code == 2 and "unknown scorer 'magic[x]'" in unknown.output  # brackets are not markup
    unused = invoke("score", corpus_jsonl, "--scorer", "compression", "--model", "x", "--out", tmp_path / "s1")
    assert unused.exit_code == 2
    assert "--model: none of the chosen components (compression) takes 'model'" in unused.output
    no_model = invoke("score", corpus_jsonl, "--scorer", "likelihood", "--out", tmp_path / "s2")
    assert no_model.exit_code == 2 and "--model" in no_model.output

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": broken\n')
    malformed = invoke("score", bad, "--scorer", "compression", "--out", tmp_path / "s3")
    assert malformed.exit_code == 2 and "bad.jsonl:2" in malformed.output

    invoke("score", corpus_jsonl, "--scorer", "compression", "--out", tmp_path / "s4", "--quiet")
    out = tmp_path / "o.jsonl"
    keep = invoke(
        "select", corpus_jsonl, "--scores", tmp_path / "s4", "--by", "zlib_ratio", "--keep", "0", "--out", out
    )
    assert keep.exit_code == 2 and "--keep" in keep.output and not out.exists()


def test_select_writes_pruned_complement(tmp_path, corpus_jsonl):
    invoke("score", corpus_jsonl, "--scorer", "compression", "--out", tmp_path / "s", "--quiet")
    result = invoke(
        "select",
        corpus_jsonl,
        "--scores",
        tmp_path / "s",
        "--strategy",
        "random",
        "--keep",
        "0.5",
        "--seed",
        "3",
        "--out",
        tmp_path / "k.jsonl",
        "--write-pruned",
        tmp_path / "p.jsonl",
    )
    assert result.exit_code == 0, result.output
    kept = (tmp_path / "k.jsonl").read_text().splitlines()
    pruned = (tmp_path / "p.jsonl").read_text().splitlines()
    assert len(kept) == len(pruned) == 12
    assert sorted(kept + pruned) == sorted(corpus_jsonl.read_text().splitlines())
    assert all(json.loads(line)["extra"] for line in kept)
