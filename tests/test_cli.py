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


def test_strategy_parameters_come_from_p(tmp_path, corpus_jsonl):
    import numpy as np

    from thresher.selection.strategies import select_stratified
    from thresher.store import ScoreStore

    invoke("score", corpus_jsonl, "--scorer", "compression", "--out", tmp_path / "s", "--quiet")
    ratios = np.asarray(ScoreStore.open(tmp_path / "s").read_columns(["zlib_ratio"]).column("zlib_ratio"))
    low, high = (float(value) for value in np.quantile(ratios, [0.2, 0.7]))
    records = [json.loads(line) for line in corpus_jsonl.read_text().splitlines()]
    common = ["select", corpus_jsonl, "--scores", tmp_path / "s", "--by", "zlib_ratio"]

    bounds = ["-p", f"minimum={low}", "--param", f"maximum={high}"]
    result = invoke(*common, "--strategy", "threshold", *bounds, "--out", tmp_path / "t.jsonl")
    assert result.exit_code == 0, result.output
    kept = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert kept == [records[row] for row in np.flatnonzero((ratios >= low) & (ratios <= high))]

    ccs = ["--strategy", "ccs", "--keep", "6", "--seed", "4", "-p", "strata=3", "-p", "ccs.drop_hardest=0.25"]
    result = invoke(*common, *ccs, "--out", tmp_path / "c.jsonl")
    assert result.exit_code == 0, result.output
    expected = select_stratified(ratios, 6, 4, strata=3, drop_hardest=0.25)
    kept = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert kept == [records[row] for row in expected]


def test_strategy_specific_flags_are_gone(tmp_path, corpus_jsonl):
    invoke("score", corpus_jsonl, "--scorer", "compression", "--out", tmp_path / "s", "--quiet")
    for flag, value in (("--min", "0.5"), ("--strata", "20"), ("--target", "wiki.jsonl"), ("--k1", "5")):
        args = ["--by", "zlib_ratio", flag, value, "--out", tmp_path / "o.jsonl"]
        result = invoke("select", corpus_jsonl, "--scores", tmp_path / "s", *args)
        assert result.exit_code == 2 and "No such option" in result.output, result.output


def test_select_streams_by_default_and_in_memory_keeps_the_same_lines(tmp_path, corpus_jsonl):
    invoke("score", corpus_jsonl, "--scorer", "compression", "--out", tmp_path / "s", "--quiet")
    common = ["select", corpus_jsonl, "--scores", tmp_path / "s", "--keep", "0.4"]
    for strategy in ("top", "bottom", "random", "stratified"):
        chosen = [*common, "--strategy", strategy, *([] if strategy == "random" else ["--by", "zlib_ratio"])]
        streamed = invoke(*chosen, "--out", tmp_path / f"{strategy}.jsonl")
        in_memory = invoke(*chosen, "--in-memory", "--out", tmp_path / f"{strategy}-m.jsonl")
        assert streamed.exit_code == in_memory.exit_code == 0, streamed.output + in_memory.output
        kept = (tmp_path / f"{strategy}.jsonl").read_bytes()
        assert kept == (tmp_path / f"{strategy}-m.jsonl").read_bytes() and len(kept.splitlines()) == 10
    local_only = invoke(*common, "--by", "zlib_ratio", "--workers", "2", "--out", tmp_path / "w.jsonl")
    assert local_only.exit_code == 2 and "--workers only apply with --engine ray" in local_only.output
