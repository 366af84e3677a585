"""k-fold reference models: which fold an example belongs to, and the `folds.json` that lists the models.

`thresher train-ref --folds K` trains model `fold-i` on every example whose fold is not `i`, so scoring an
example with the model of its own fold gives a likelihood from a model that never saw it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thresher.errors import ModelError

FOLDS_FILE = "folds.json"
FOLD_ASSIGNMENT = "blake2b-mod"


@dataclass(frozen=True)
class FoldsSpec:
    """A directory of k fold models: `models[i]` (relative to `root`) did not train on fold `i`."""

    root: Path
    k: int
    models: tuple[str, ...]
    assignment: str = FOLD_ASSIGNMENT

    def model_path(self, fold: int) -> Path:
        """The directory of the model that must score examples of `fold`."""
        return self.root / self.models[fold]


def fold_of(example_id: Any, k: int) -> int:
    """The fold (0..k-1) of an example, from a blake2b hash of `str(example_id)`.

    Stable across processes and machines (unlike `hash()`), so training and scoring agree.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    digest = hashlib.blake2b(str(example_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % k


def read_folds(path: str | Path) -> FoldsSpec | None:
    """The fold spec of a directory holding `folds.json`, or None when `path` is not such a directory.

    Raises:
        ModelError: `folds.json` exists but is malformed, uses an unknown assignment or names a missing model.
    """
    root = Path(path)
    spec_path = root / FOLDS_FILE
    if not spec_path.is_file():
        return None
    try:
        raw = json.loads(spec_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"{spec_path}: cannot read fold spec: {error}") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{spec_path}: expected a JSON object")
    k = raw.get("k")
    models = raw.get("models")
    assignment = raw.get("assignment", FOLD_ASSIGNMENT)
    if not isinstance(k, int) or k < 1:
        raise ModelError(f"{spec_path}: field 'k' must be a positive integer, got {k!r}")
    if not isinstance(models, list) or len(models) != k or not all(isinstance(m, str) for m in models):
        raise ModelError(f"{spec_path}: field 'models' must list {k} model directories, got {models!r}")
    if assignment != FOLD_ASSIGNMENT:
        raise ModelError(f"{spec_path}: field 'assignment' must be '{FOLD_ASSIGNMENT}', got {assignment!r}")
    spec = FoldsSpec(root=root, k=k, models=tuple(models), assignment=assignment)
    for fold in range(k):
        if not spec.model_path(fold).exists():
            raise ModelError(f"{spec_path}: field 'models': fold {fold} model {spec.model_path(fold)} does not exist")
    return spec
