import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from thresher.errors import ModelError, OptionError
from thresher.models.folds import fold_of, read_folds
from thresher.models.folds_training import train_kfold_reference
from thresher.models.reference import (
    METADATA_FILE,
    ReferenceConfig,
    block_starts,
    count_steps,
    learning_rate_at,
    load_reference_summary,
    train_reference_model,
)

# Small enough to train in a few seconds on 2 cores, big enough to memorise a few hundred short sentences.
TINY = ReferenceConfig(
    vocab_size=512,
    n_layer=2,
    n_head=2,
    n_embd=64,
    context_length=32,
    batch_size=16,
    learning_rate=1e-2,
    min_learning_rate=1e-3,
    epochs=20,
    device="cpu",
)


def make_corpus(n: int, seed: int = 0) -> list[str]:
    """Template sentences, each with a random made-up name: the names can only be predicted if memorised."""
    rng = np.random.default_rng(seed)
    consonants, vowels = list("bcdfghklmnprstvz"), list("aeiou")
    adjectives = ["small", "large", "red", "quiet", "old", "young", "bright", "dark"]
    nouns = ["cat", "dog", "bird", "fish", "horse", "mouse", "fox", "owl"]
    verbs = ["sleeps", "runs", "sings", "waits", "hides", "eats"]
    places = ["river", "house", "garden", "forest", "hill", "barn"]
    texts = []
    for _ in range(n):
        name = "".join([*rng.choice(consonants, 2), rng.choice(vowels), *rng.choice(consonants, 2)])
        texts.append(
            f"{name} is a {rng.choice(adjectives)} {rng.choice(nouns)} that {rng.choice(verbs)} "
            f"near the {rng.choice(places)}."
        )
    return texts


def mean_nll(model_dir, texts: list[str]) -> float:
    """Mean per-token NLL (nats) of texts, each scored as eos + tokens as in training."""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    per_text = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([[tokenizer.eos_token_id, *tokenizer(text)["input_ids"]]])
            per_text.append(F.cross_entropy(model(input_ids=ids).logits[0, :-1], ids[0, 1:]).item())
    return float(np.mean(per_text))


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # Tiny models train ~30x slower with 2 OpenMP threads when other processes share the 2 cores (spin-waits).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return make_corpus(300)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ref") / "model"
    losses = []
    summary = train_reference_model(
        corpus[:200],
        TINY,
        out_dir,
        progress=lambda step, total, loss: losses.append(loss),
        data_fingerprint="sha256:test",
    )
    return out_dir, summary, losses


def test_saved_dir_loads_with_auto_classes_and_records_metadata(trained):
    out_dir, summary, losses = trained
    model = AutoModelForCausalLM.from_pretrained(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    assert model.config.model_type == "gpt2"
    assert model.config.n_layer == 2 and model.config.n_embd == 64 and model.config.n_positions == 32
    assert model.config.vocab_size == len(tokenizer) == summary.vocab_size <= 512
    assert tokenizer.eos_token == tokenizer.bos_token == tokenizer.pad_token == "<|endoftext|>"
    assert tokenizer.model_max_length == 32
    assert sum(p.numel() for p in model.parameters()) == summary.n_params

    metadata = json.loads((out_dir / METADATA_FILE).read_text())
    assert metadata["data_fingerprint"] == "sha256:test"
    assert metadata["config"]["n_embd"] == 64
    assert metadata["document_prefix"] == "<|endoftext|>"
    assert load_reference_summary(out_dir) == summary
    assert summary.steps == len(losses) == count_steps(len(block_starts(summary.n_data_tokens, 32)), TINY)
    assert summary.n_texts == 200
    assert summary.n_train_tokens > summary.n_data_tokens * 19  # 20 epochs, minus the overlap of the tail block
    # Nothing but the model dir is left next to it: the staging dir was renamed, not copied.
    assert [path.name for path in out_dir.parent.iterdir()] == ["model"]


def test_training_reduces_loss(trained):
    _, summary, losses = trained
    # An untrained model predicts roughly uniformly over the vocabulary.
    assert summary.initial_train_loss == pytest.approx(math.log(summary.vocab_size), abs=0.5)
    assert summary.final_train_loss < 0.5 * summary.initial_train_loss
    assert summary.final_train_loss == pytest.approx(np.mean(losses[-20:]))


def test_model_prefers_training_like_text_over_random_characters(trained, corpus):
    out_dir, _, _ = trained
    training_like = mean_nll(out_dir, ["zorbi is a quiet owl that hides near the barn."])
    random_chars = mean_nll(out_dir, ["xq!#vz 9@k ;;p qq 7&w ^^z"])
    assert training_like < 4.0
    assert random_chars > training_like + 3.0


def test_seed_makes_training_deterministic(corpus, tmp_path):
    quick = ReferenceConfig(**{**vars(TINY), "epochs": None, "max_steps": 15})
    runs = []
    for name, seed in [("first", 0), ("again", 0), ("other_seed", 1)]:
        losses = []
        config = ReferenceConfig(**{**vars(quick), "seed": seed})
        summary = train_reference_model(
            corpus, config, tmp_path / name, progress=lambda step, total, loss, losses=losses: losses.append(loss)
        )
        runs.append((summary.final_train_loss, losses))
    assert runs[0] == runs[1]
    assert runs[0][1] != runs[2][1]


def test_existing_non_empty_dir_is_refused_and_overwrite_replaces_it(corpus, tmp_path):
    out_dir = tmp_path / "model"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("user data")
    quick = ReferenceConfig(**{**vars(TINY), "epochs": None, "max_steps": 2})
    with pytest.raises(OptionError, match="not empty"):
        train_reference_model(corpus, quick, out_dir)
    assert (out_dir / "keep.txt").read_text() == "user data"

    summary = train_reference_model(corpus, quick, out_dir, overwrite=True)
    assert summary.steps == 2
    assert not (out_dir / "keep.txt").exists()
    assert (out_dir / METADATA_FILE).is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]

    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    train_reference_model(corpus, quick, empty_dir)  # an empty dir is fine without overwrite
    assert (empty_dir / "config.json").is_file()


def test_failed_training_leaves_nothing_behind(corpus, tmp_path):
    def interrupt(step, total, loss):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_reference_model(corpus, TINY, tmp_path / "model", progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_raise_user_errors(tmp_path):
    with pytest.raises(OptionError, match="non-empty text"):
        train_reference_model(["", "  "], TINY, tmp_path / "a")
    with pytest.raises(OptionError, match="n_embd"):
        train_reference_model(["text"], ReferenceConfig(n_embd=10, n_head=4), tmp_path / "b")
    with pytest.raises(OptionError, match="epochs, max_steps, max_tokens"):
        train_reference_model(["text"], ReferenceConfig(epochs=None), tmp_path / "c")
    with pytest.raises(OptionError, match="device"):
        train_reference_model(["text"], ReferenceConfig(device="tpu"), tmp_path / "d")
    with pytest.raises(ModelError):
        load_reference_summary(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_schedule_and_blocks():
    config = ReferenceConfig(learning_rate=1e-2, min_learning_rate=1e-3, warmup_fraction=0.1)
    assert learning_rate_at(0, 100, config) == pytest.approx(1e-3)  # warmup: 1/10 of peak on the first step
    assert learning_rate_at(9, 100, config) == pytest.approx(1e-2)
    assert learning_rate_at(10, 100, config) == pytest.approx(1e-2)
    assert learning_rate_at(99, 100, config) == pytest.approx(1e-3, rel=0.01)
    # Blocks of 4 inputs (+1 target) over 11 tokens: stride 4, then one block flush with the end.
    assert block_starts(11, 4).tolist() == [0, 4, 6]
    assert block_starts(5, 4).tolist() == [0]
    assert count_steps(10, ReferenceConfig(batch_size=4, epochs=3)) == 9
    assert count_steps(10, ReferenceConfig(batch_size=4, epochs=3, max_steps=5)) == 5
    assert count_steps(10, ReferenceConfig(batch_size=4, context_length=8, epochs=3, max_tokens=64)) == 2


def test_kfold_models_never_see_their_held_out_fold(corpus, tmp_path):
    ids = [f"doc-{i}" for i in range(len(corpus))]
    out_dir = tmp_path / "folds"
    fold_losses = {0: [], 1: []}
    summaries = train_kfold_reference(
        ids,
        corpus,
        2,
        TINY,
        out_dir,
        progress=lambda fold, step, total, loss: fold_losses[fold].append(loss),
    )
    folds = np.array([fold_of(example_id, 2) for example_id in ids])
    manifest = json.loads((out_dir / "folds.json").read_text())
    assert manifest["k"] == 2 and manifest["assignment"] == "blake2b-mod"
    assert manifest["models"] == ["fold-0", "fold-1"]
    assert manifest["fold_sizes"] == [int((folds == 0).sum()), int((folds == 1).sum())]
    assert sum(manifest["fold_sizes"]) == len(corpus)
    assert sorted(path.name for path in out_dir.iterdir()) == ["fold-0", "fold-1", "folds.json"]
    assert [path.name for path in tmp_path.iterdir()] == ["folds"]
    assert read_folds(out_dir).model_path(1) == out_dir / "fold-1"

    for held_out, summary in enumerate(summaries):
        model_dir = out_dir / f"fold-{held_out}"
        assert load_reference_summary(model_dir) == summary
        assert json.loads((model_dir / METADATA_FILE).read_text())["fold"] == held_out
        assert summary.n_texts == len(corpus) - manifest["fold_sizes"][held_out]
        assert len(fold_losses[held_out]) == summary.steps
        held_out_texts = [text for text, fold in zip(corpus, folds, strict=True) if fold == held_out]
        train_texts = [text for text, fold in zip(corpus, folds, strict=True) if fold != held_out]
        # The made-up names are only predictable when memorised, so unseen texts score clearly worse.
        assert mean_nll(model_dir, held_out_texts[:60]) > mean_nll(model_dir, train_texts[:60]) + 0.15


def test_kfold_rejects_bad_arguments(tmp_path):
    with pytest.raises(OptionError, match="at least 2"):
        train_kfold_reference(["a", "b"], ["x", "y"], 1, TINY, tmp_path / "f")
    with pytest.raises(OptionError, match="differ in length"):
        train_kfold_reference(["a"], ["x", "y"], 2, TINY, tmp_path / "f")
    assert list(tmp_path.iterdir()) == []
