"""Name -> eval target. Adding a target means one new module and one line in `_BUILTIN` (the `TARGETS` registry)."""

from __future__ import annotations

from thresher.components import Registry
from thresher.eval.target import EvalTarget

# name -> "module:Class"; imported lazily so that listing the targets loads no torch.
_BUILTIN: dict[str, str] = {
    "classify": "thresher.eval.classify:ClassifyTarget",
    "lm": "thresher.eval.lm:LmTarget",
    "sft": "thresher.eval.sft:SftTarget",
}

TARGETS: Registry[EvalTarget] = Registry("target", _BUILTIN)
