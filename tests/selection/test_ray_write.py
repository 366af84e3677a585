"""`select --engine ray` writes the local selection as a directory of parts, one per input range, in parallel."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import thresher
from thresher.errors import OptionError

from .test_streaming import write_scored_input

ray = pytest.importorskip("ray", reason="select --engine ray needs `pip install 'thresher[ray]'`")


@pytest.fixture(scope="module")
def ray_cluster():
    """One two-CPU local Ray cluster for the module's tests."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_scored_input(tmp_path_factory.mktemp("ray-select"), 5000, 300, 700, seed=3)


def parts_bytes(directory) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.iterdir()))


@pytest.mark.parametrize(
    ("strategy", "by", "options"),
    [
        ("top", "score", {"budget_tokens": 20_000}),  # a cut inside a tie group: later parts need the ties taken
        ("stratified", "loss", {"keep": 0.3, "seed": 2, "params": {"strata": 5, "drop_hardest": 0.1}}),
        ("random", None, {"keep": 1234, "seed": 9}),
        ("top", "score", {"keep": 0.2, "in_memory": True}),
        ("top", "score", {"keep": 600, "balance_classes": True}),
        ("band", "loss", {"params": {"low": 0.2, "high": 0.7}}),  # two cuts inside tie groups
        ("softmax", "score", {"keep": 0.3, "seed": 1, "params": {"temperature": 2.0}}),
    ],
)
def test_parts_on_ray_are_the_local_selection_in_order(tmp_path, ray_cluster, data, strategy, by, options):
    common = {"scores": data["scores"], "by": by, "strategy": strategy, **options}
    local = thresher.select(data["input"], out=tmp_path / "local.jsonl", write_pruned=tmp_path / "lp.jsonl", **common)
    on_ray = thresher.select(
        data["input"],
        out=tmp_path / "kept.jsonl",
        write_pruned=tmp_path / "pruned.jsonl",
        engine="ray",
        workers=2,
        **common,
    )
    assert sorted(path.name for path in (tmp_path / "kept.jsonl").iterdir()) == [
        "part-00000.jsonl",
        "part-00001.jsonl",
    ]
    assert parts_bytes(tmp_path / "kept.jsonl") == (tmp_path / "local.jsonl").read_bytes()
    assert parts_bytes(tmp_path / "pruned.jsonl") == (tmp_path / "lp.jsonl").read_bytes()
    assert (on_ray.kept, on_ray.kept_tokens) == (local.kept, local.kept_tokens)
    assert on_ray.kept_rows.tolist() == local.kept_rows.tolist()


def test_parquet_parts_read_as_the_local_table_and_a_file_is_not_replaced(tmp_path, ray_cluster, data):
    common = {"scores": data["scores"], "by": "loss", "keep": 0.4}
    thresher.select(data["input"], out=tmp_path / "local.parquet", **common)
    thresher.select(data["input"], out=tmp_path / "kept.parquet", engine="ray", workers=2, **common)
    assert pq.read_table(tmp_path / "kept.parquet").equals(pq.read_table(tmp_path / "local.parquet"))
    # Rerunning replaces its own parts; a file or a directory of other things is refused.
    thresher.select(data["input"], out=tmp_path / "kept.parquet", engine="ray", workers=2, **common)
    (tmp_path / "file.jsonl").write_text("keep me\n")
    with pytest.raises(OptionError, match="directory of parts; it is a file"):
        thresher.select(data["input"], out=tmp_path / "file.jsonl", engine="ray", **common)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(OptionError, match="holds more than the parts"):
        thresher.select(data["input"], out=tmp_path / "other", engine="ray", **common)
    assert (tmp_path / "file.jsonl").read_text() == "keep me\n"
