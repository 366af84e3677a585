"""Facts recorded next to every score so that a result can be traced to what produced it."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from typing import Any

_PACKAGES = ("thresher", "torch", "transformers", "tokenizers", "numpy", "pyarrow", "datasets")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change a score, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def params_fingerprint(
    scorer_name: str, params: dict[str, Any], *, class_path: str | None = None, version: int | None = None
) -> str:
    """A short hash of a scorer's name, code (class and version, when given) and parameters: the key that says
    two runs computed the same thing."""
    identity: dict[str, Any] = {"scorer": scorer_name, "params": params}
    if class_path is not None or version is not None:
        identity.update({"class": class_path, "version": version})
    canonical = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.blake2b(canonical.encode(), digest_size=8).hexdigest()
