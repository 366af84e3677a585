import gzip
import json

from thresher.report.demo import bundled_sample, run_demo
from thresher.store import ScoreStore


def test_bundled_sample_is_real_labelled_wordnet_data():
    with gzip.open(bundled_sample(), "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    assert len(records) == 4000
    assert all(record["text"].strip() and record["label"].count(".") >= 1 for record in records)
    assert len({record["label"] for record in records}) >= 40
    assert len({record["id"] for record in records}) == 4000


def test_demo_scores_selects_and_reports(tmp_path):
    report = run_demo(tmp_path, epochs=0.3)
    text = report.read_text()
    for section in ("## Reference model", "## Scores", "## Selection", "Most informative", "Least informative"):
        assert section in text
    assert (tmp_path / "score_histograms.png").stat().st_size > 10_000
    kept = (tmp_path / "selected.jsonl").read_text().splitlines()
    pruned = (tmp_path / "pruned.jsonl").read_text().splitlines()
    assert len(kept) == len(pruned) == 2000
    store = ScoreStore.open(tmp_path / "scores")
    assert sorted(store.scorer_names) == ["compression", "likelihood"]
    nll = store.read_columns(["nll_mean"]).column("nll_mean").to_pylist()
    kept_nll = sorted(nll)[2000:]
    assert min(kept_nll) >= max(sorted(nll)[:2000])  # top = the most informative half
