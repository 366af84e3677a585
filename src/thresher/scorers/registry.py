"""Name → scorer class. Adding a scorer means one new module and one line in `_BUILTIN` (the `SCORERS` registry)."""

from __future__ import annotations

from thresher.components import Registry
from thresher.scorers.base import Scorer

# name -> "module:Class"; imported lazily so `import thresher` stays light.
_BUILTIN: dict[str, str] = {
    "likelihood": "thresher.scorers.likelihood:LikelihoodScorer",
    "ifd": "thresher.scorers.ifd:IfdScorer",
    "compression": "thresher.scorers.compression:CompressionScorer",
    "ask-llm": "thresher.scorers.ask_llm:AskLlmScorer",
    "density": "thresher.scorers.density:DensityScorer",
    "semdedup": "thresher.scorers.dedup:SemDedupScorer",
    "prototypes": "thresher.scorers.prototypes:PrototypesScorer",
    "minhash": "thresher.scorers.dedup:MinHashScorer",
    "el2n": "thresher.scorers.dynamics:EL2NScorer",
    "grand": "thresher.scorers.dynamics:GraNdScorer",
    "forgetting": "thresher.scorers.dynamics:ForgettingScorer",
    "vog": "thresher.scorers.dynamics:VoGScorer",
    "aum": "thresher.scorers.dynamics:AUMScorer",
    "datamap": "thresher.scorers.dynamics:DataMapScorer",
    "loss": "thresher.scorers.dynamics:LossScorer",
    "oof": "thresher.scorers.oof:OOFScorer",
    "influence": "thresher.scorers.influence:InfluenceScorer",
    "tracin": "thresher.scorers.influence:TracInScorer",
    "effort": "thresher.scorers.effort:EffortScorer",
    "dealrec": "thresher.scorers.dealrec:DealRecScorer",
    "fasttext": "thresher.scorers.student:FastTextScorer",
    "student-head": "thresher.scorers.student:StudentHeadScorer",
}


SCORERS: Registry[Scorer] = Registry("scorer", _BUILTIN)
