"""The score directory's cache: where scorers, `thresher embed` and the eval harness keep expensive intermediates.

One directory name and one keying scheme for every cached thing (embeddings, proxy and surrogate trainings,
sketches): a key is a short hash of what the cached thing was computed from, so a changed input, parameter or code
version gets a new entry instead of a stale one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CACHE_DIR_NAME = "cache"


def cache_dir(score_dir: str | Path) -> Path:
    """The cache directory of a score directory."""
    return Path(score_dir) / CACHE_DIR_NAME


def cache_key(kind: str, payload: dict[str, Any], *, digest_size: int = 8) -> str:
    """A short hex key for a cached `kind` ("embeddings", "dynamics", ...) computed from `payload`.

    `payload` holds everything the cached result depends on (parameters, an input digest, a format version); it is
    hashed as canonical JSON, so key order does not matter.
    """
    canonical = json.dumps({"kind": kind, **payload}, sort_keys=True, default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=digest_size).hexdigest()
