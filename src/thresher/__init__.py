"""thresher: measure how much each training example matters, and prune or select training data.

Python API (mirrors the CLI)::

    import thresher
    thresher.score("data.jsonl", scorers=["likelihood"], model="HuggingFaceTB/SmolLM2-135M", out="scores/")
    thresher.select("data.jsonl", scores="scores/", by="nll_mean", keep=0.5, strategy="top", out="kept.jsonl")
    thresher.distill("data.jsonl", scores="scores/", by="nll_mean", positive_end="bottom", out="student/")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["ThresherError", "distill", "embed", "evaluate", "list_scorers", "score", "select", "__version__"]

if TYPE_CHECKING:
    from thresher.api import embed, evaluate, score, select
    from thresher.distillation.run import distill
    from thresher.errors import ThresherError
    from thresher.scorers.registry import SCORERS

    list_scorers = SCORERS.names


def __getattr__(name: str) -> Any:
    # Lazy, so `import thresher` does not pull torch or pyarrow in before they are needed.
    if name in {"score", "select", "embed", "evaluate"}:
        from thresher import api

        return getattr(api, name)
    if name == "distill":
        from thresher.distillation.run import distill

        return distill
    if name == "ThresherError":
        from thresher.errors import ThresherError

        return ThresherError
    if name == "list_scorers":
        from thresher.scorers.registry import SCORERS

        return SCORERS.names
    raise AttributeError(f"module 'thresher' has no attribute {name!r}")
