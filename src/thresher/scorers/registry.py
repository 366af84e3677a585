"""Name → scorer class. Adding a scorer means one new module and one line in `_BUILTIN` (the `SCORERS` registry)."""

from __future__ import annotations

import inspect
from typing import Any

from thresher.components import Registry
from thresher.errors import OptionError
from thresher.scorers.base import Scorer

# name -> "module:Class"; imported lazily so `import thresher` stays light.
_BUILTIN: dict[str, str] = {
    "likelihood": "thresher.scorers.likelihood:LikelihoodScorer",
    "compression": "thresher.scorers.compression:CompressionScorer",
    "ask-llm": "thresher.scorers.ask_llm:AskLlmScorer",
    "density": "thresher.scorers.density:DensityScorer",
    "semdedup": "thresher.scorers.dedup:SemDedupScorer",
    "minhash": "thresher.scorers.dedup:MinHashScorer",
    "el2n": "thresher.scorers.dynamics:EL2NScorer",
    "grand": "thresher.scorers.dynamics:GraNdScorer",
    "forgetting": "thresher.scorers.dynamics:ForgettingScorer",
    "vog": "thresher.scorers.dynamics:VoGScorer",
    "aum": "thresher.scorers.dynamics:AUMScorer",
    "datamap": "thresher.scorers.dynamics:DataMapScorer",
    "loss": "thresher.scorers.dynamics:LossScorer",
    "influence": "thresher.scorers.influence:InfluenceScorer",
    "tracin": "thresher.scorers.influence:TracInScorer",
    "effort": "thresher.scorers.effort:EffortScorer",
    "dealrec": "thresher.scorers.dealrec:DealRecScorer",
}


SCORERS: Registry[Scorer] = Registry("scorer", _BUILTIN)


def list_scorers() -> list[str]:
    """Names of every registered scorer."""
    return SCORERS.names()


def get_scorer_class(name: str) -> type[Scorer]:
    """The scorer class registered under `name`."""
    return SCORERS.get(name)


def scorer_param_names(name: str) -> set[str]:
    """Keyword parameters that scorer `name` takes."""
    signature = inspect.signature(get_scorer_class(name).__init__)
    return {param.name for param in signature.parameters.values() if param.kind == param.KEYWORD_ONLY}


def build_scorer(name: str, options: dict[str, Any]) -> Scorer:
    """Build scorer `name` from the options that apply to it; options it does not take are ignored.

    Raises `OptionError` when a parameter the scorer requires (no default) is missing.
    """
    scorer_class = get_scorer_class(name)
    signature = inspect.signature(scorer_class.__init__)
    kwargs: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind != param.KEYWORD_ONLY:
            continue
        value = options.get(param.name)
        if value is not None:
            kwargs[param.name] = value
        elif param.default is param.empty:
            raise OptionError(f"scorer '{name}' needs --{param.name.replace('_', '-')}")
    return scorer_class(**kwargs)
