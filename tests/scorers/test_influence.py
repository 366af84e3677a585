"""The influence and tracin scorers end to end through `thresher.score` on a tiny labelled corpus."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import thresher
from thresher.cache import cache_dir
from thresher.errors import OptionError
from thresher.models import surrogate
from thresher.ops import influence
from thresher.store import ScoreStore

# Tiny models: one torch thread avoids OpenMP fork/join overhead (see models/surrogate.single_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def column(out, name):
    return ScoreStore.open(out).read_columns([name]).column(name).to_numpy()


def test_influence_and_tracin_end_to_end(corpus_jsonl, tiny_embedder_dir, tmp_path):
    out = tmp_path / "scores"
    options = {"embedder": str(tiny_embedder_dir), "device": "cpu"}
    thresher.score(
        corpus_jsonl,
        scorers=["influence", "tracin"],
        out=out,
        label_field="label",
        params={"ihvp": "cg", "hvp_steps": 50, "epochs": 3},
        **options,
    )
    cg = column(out, "influence")
    tracin = column(out, "tracin")
    assert cg.shape == tracin.shape == (24,) and np.isfinite(cg).all() and np.isfinite(tracin).all()
    # One surrogate training shared by both scorers, cached for later runs.
    assert len(list((cache_dir(out) / surrogate.CACHE_SUBDIR).glob("surrogate-*.pt"))) == 1

    # LiSSA with full-batch HVPs converges to the same (H + damp·scale·I)⁻¹ as CG.
    thresher.score(
        corpus_jsonl,
        scorers=["influence"],
        out=out,
        label_field="label",
        params={"ihvp": "lissa", "hvp_steps": 1500, "hvp_batch_size": 1000, "epochs": 3},
        overwrite=True,
        **options,
    )
    np.testing.assert_allclose(column(out, "influence"), cg, rtol=1e-3, atol=1e-4 * np.abs(cg).max())
    manifest = json.loads((out / "manifest.json").read_text())
    assert "influence" in json.dumps(manifest)


def test_influence_matches_the_ops_on_the_cached_surrogate(corpus_jsonl, tiny_embedder_dir, tmp_path):
    out = tmp_path / "scores"
    thresher.score(
        corpus_jsonl,
        scorers=["influence"],
        out=out,
        label_field="label",
        params={"ihvp": "cg", "hvp_steps": 50, "epochs": 2},
        embedder=str(tiny_embedder_dir),
        device="cpu",
        shard_rows=7,  # the features and labels are gathered from four shards
    )
    # The surrogate the scorer trained, applied to embeddings and class indices made here from the file itself.
    from sentence_transformers import SentenceTransformer

    from thresher.labels import class_index
    from thresher.models.proxy import HeadProxy

    records = [json.loads(line) for line in corpus_jsonl.read_text().splitlines()]
    encoder = SentenceTransformer(str(tiny_embedder_dir), device="cpu")
    features = encoder.encode([r["text"] for r in records], convert_to_numpy=True, normalize_embeddings=True)
    index = class_index(r["label"] for r in records)
    labels = torch.tensor([index[r["label"]] for r in records])
    (stored_path,) = (cache_dir(out) / surrogate.CACHE_SUBDIR).glob("surrogate-*.pt")
    stored = torch.load(stored_path, weights_only=True)
    model = HeadProxy(features.shape[1], len(index), hidden=surrogate.SurrogateConfig().hidden)
    model.load_state_dict(stored["state"])
    expected = influence.influence_scores(
        model.eval(), F.cross_entropy, torch.as_tensor(features), labels, solver="cg", steps=50
    )
    np.testing.assert_allclose(column(out, "influence"), expected.double().numpy(), rtol=1e-4, atol=1e-7)


def test_validation_file_changes_the_target(corpus_jsonl, tiny_embedder_dir, tmp_path):
    validation = tmp_path / "val.jsonl"
    validation.write_text('{"text": "the cat sat", "label": "class-0"}\n{"text": "a dog", "label": "class-1"}\n')
    options = {"embedder": str(tiny_embedder_dir), "device": "cpu"}
    params = {"epochs": 2, "ihvp": "cg", "hvp_steps": 30}
    thresher.score(
        corpus_jsonl, scorers=["influence"], out=tmp_path / "a", label_field="label", params=params, **options
    )
    thresher.score(
        corpus_jsonl,
        scorers=["influence"],
        out=tmp_path / "b",
        label_field="label",
        params={**params, "validation": str(validation)},
        **options,
    )
    assert not np.allclose(column(tmp_path / "a", "influence"), column(tmp_path / "b", "influence"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "no-such-class"}\n')
    with pytest.raises(OptionError, match="no-such-class"):
        thresher.score(
            corpus_jsonl,
            scorers=["influence"],
            out=tmp_path / "c",
            label_field="label",
            params={**params, "validation": str(bad)},
            **options,
        )


def test_bad_options_are_user_errors(corpus_jsonl, tiny_embedder_dir, tmp_path):
    with pytest.raises(OptionError, match="ihvp"):
        thresher.score(
            corpus_jsonl,
            scorers=["influence"],
            out=tmp_path / "s",
            label_field="label",
            params={"ihvp": "newton"},
            embedder=str(tiny_embedder_dir),
        )
    with pytest.raises(OptionError, match="label"):
        thresher.score(corpus_jsonl, scorers=["tracin"], out=tmp_path / "t", embedder=str(tiny_embedder_dir))


def test_cli_influence_options_and_errors(corpus_jsonl, tiny_embedder_dir, tmp_path):
    from typer.testing import CliRunner

    from thresher.cli import app

    runner = CliRunner()
    common = ["score", str(corpus_jsonl), "--label-field", "label", "--embedder", str(tiny_embedder_dir), "--quiet"]
    result = runner.invoke(
        app,
        [
            *common,
            "--scorer",
            "influence,tracin",
            "--out",
            str(tmp_path / "s"),
            "-p",
            "ihvp=cg",
            "-p",
            "hvp_steps=20",
            "-p",
            "epochs=2",
            "-p",
            "damp=0.02",
            "-p",
            "influence.scale=10",
        ],
    )
    assert result.exit_code == 0, result.output
    params = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert '"damp": 0.02' in json.dumps(params)
    result = runner.invoke(app, [*common, "--scorer", "influence", "--out", str(tmp_path / "t"), "-p", "ihvp=x"])
    assert result.exit_code == 2 and "ihvp" in result.output
    result = runner.invoke(app, [*common, "--scorer", "tracin", "--out", str(tmp_path / "u"), "-p", "lam=0.5"])
    assert result.exit_code == 2 and "-p lam=0.5: none of the chosen components (tracin) takes 'lam'" in result.output
