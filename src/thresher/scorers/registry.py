"""Name → scorer class. Adding a scorer means one new module and one line in `_BUILTIN` (the `SCORERS` registry)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from thresher.components import Chosen, Registry, build, describe_params, resolve_params
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


# -- for api.score until it resolves -p assignments itself (components.resolve_params); not for new callers ----------


def scorer_param_names(name: str) -> set[str]:
    """The parameter names scorer `name` takes, those of its nested components included (`damp` for dealrec)."""
    return {row.name.rsplit(".", 1)[-1] for row in describe_params(SCORERS.get(name))}


def build_scorer(name: str, options: Mapping[str, Any]) -> Scorer:
    """Scorer `name` built from the options that apply to it (nested components too); others are ignored.

    Raises `OptionError` when a parameter the scorer requires (no default) is missing.
    """
    scorer_class = SCORERS.get(name)
    resolved = resolve_params([Chosen(name, scorer_class)], [], forwarded=options, flags=_FLAGS)
    return build(scorer_class, resolved[name])


# Parameters that `thresher score` sets with a flag of their own, for "needs model: give --model" messages.
_FLAGS = {"model": "--model"}
