"""Score fusion on hand-made columns: rank-mean with ties, z-mean, weights, directions, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

import thresher
from thresher.errors import OptionError, ThresherError
from thresher.selection.fusion import Fusion, fuse, parse_fuse, rank_scores, z_scores
from thresher.types import Direction

from .test_streaming import write_scored_input

HIGHER, LOWER = Direction.HIGHER, Direction.LOWER


def test_rank_mean_averages_tied_ranks_scaled_to_zero_one():
    quality = np.array([3.0, 1.0, 3.0, 2.0, 0.0])  # higher is better; rows 0 and 2 tie
    loss = np.array([0.5, 0.1, 0.9, 0.2, 0.4])  # lower is better
    fused = fuse({"quality": quality, "loss": loss}, {"quality": HIGHER, "loss": LOWER}, parse_fuse("rank-mean"))
    # quality ranks (ascending, ties averaged): 0.0→1, 1.0→2, 2.0→3, the two 3.0s→4.5; scaled: (r - 1) / 4.
    quality_scaled = np.array([3.5, 1, 3.5, 2, 0]) / 4
    # loss is lower-better: the smallest loss ranks highest: 0.1→5, 0.2→4, 0.4→3, 0.5→2, 0.9→1.
    loss_scaled = np.array([1, 4, 0, 3, 2]) / 4
    assert fused.tolist() == pytest.approx(((quality_scaled + loss_scaled) / 2).tolist())
    assert rank_scores(np.array([7.0])).tolist() == [0.5]


def test_z_mean_and_weights_standardise_each_column_in_its_direction():
    first = np.array([1.0, 2.0, 3.0, 6.0])
    second = np.array([10.0, 0.0, 5.0, 5.0])
    directions = {"first": HIGHER, "second": LOWER}

    def standard(values):
        return (values - values.mean()) / values.std()

    expected_z = (standard(first) + standard(-second)) / 2
    fused = fuse({"first": first, "second": second}, directions, parse_fuse("z-mean"))
    assert fused.tolist() == pytest.approx(expected_z.tolist())
    weighted = fuse({"first": first, "second": second}, directions, parse_fuse("weights=3,1"))
    assert weighted.tolist() == pytest.approx(((3 * standard(first) + standard(-second)) / 4).tolist())
    # A constant column ranks nothing: its z-scores are 0.
    assert z_scores(np.full(4, 2.5)).tolist() == [0.0] * 4


def test_fusion_refuses_nan_flags_and_mismatched_weights():
    values = {"a": np.array([1.0, np.nan, 2.0]), "b": np.array([0.0, 1.0, 2.0])}
    with pytest.raises(OptionError, match="1 of 3 values of a are NaN"):
        fuse(values, {"a": HIGHER, "b": HIGHER}, Fusion("rank-mean"))
    with pytest.raises(OptionError, match="b is not a score column"):
        fuse({"a": np.zeros(3), "b": np.ones(3)}, {"a": HIGHER, "b": None}, Fusion("z-mean"))
    with pytest.raises(OptionError, match="gives 3 weights for the 2 columns"):
        fuse({"a": np.zeros(3), "b": np.ones(3)}, {"a": HIGHER, "b": HIGHER}, parse_fuse("weights=1,2,3"))
    for bad in ("rank_mean", "weights=", "weights=1,x", "weights=-1,2", "weights=0,0"):
        with pytest.raises(OptionError, match="--fuse"):
            parse_fuse(bad)


def test_select_fuses_the_by_columns_and_any_ranking_strategy_uses_them(tmp_path):
    data = write_scored_input(tmp_path, 200, 32, 50, seed=3)
    common = {"scores": data["scores"], "by": "score,loss", "out": tmp_path / "k.jsonl"}
    result = thresher.select(data["input"], fuse="rank-mean", keep=40, **common)
    directions = {"score": HIGHER, "loss": LOWER}
    fused = fuse({"score": data["score"], "loss": data["loss"]}, directions, Fusion("rank-mean"))
    assert result.kept_rows.tolist() == sorted(np.argsort(-fused, kind="stable")[:40].tolist())
    assert result.by == "rank-mean(score,loss)" and not result.streamed
    band = thresher.select(data["input"], fuse="z-mean", strategy="band", **common)
    z_fused = fuse({"score": data["score"], "loss": data["loss"]}, directions, Fusion("z-mean"))
    ranks = np.argsort(z_fused, kind="stable")
    assert band.kept_rows.tolist() == sorted(ranks[50:150].tolist())


def test_select_refuses_several_columns_without_fuse_and_a_strategy_without_a_score(tmp_path):
    data = write_scored_input(tmp_path, 20, 8, 8)
    common = {"scores": data["scores"], "out": tmp_path / "k.jsonl", "keep": 5}
    with pytest.raises(OptionError, match="several columns need --fuse"):
        thresher.select(data["input"], by="score,loss", **common)
    with pytest.raises(OptionError, match="needs at least two columns"):
        thresher.select(data["input"], by="score", fuse="rank-mean", **common)
    with pytest.raises(OptionError, match="random does not choose by a score"):
        thresher.select(data["input"], by="score,loss", fuse="rank-mean", strategy="random", **common)
    with pytest.raises(ThresherError, match="no score column 'nope'"):
        thresher.select(data["input"], by="score,nope", fuse="rank-mean", **common)
    assert not (tmp_path / "k.jsonl").exists()
