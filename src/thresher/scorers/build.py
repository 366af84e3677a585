"""Build the scorers a `thresher score` run chose, from shared options, `-p` parameters and settings files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from thresher.components import (
    Chosen,
    ParamsLike,
    as_layers,
    build,
    registered,
    resolve_params,
    shared_layer,
)
from thresher.errors import OptionError
from thresher.scorers.base import Scorer
from thresher.scorers.registry import SCORERS

# Options that are flags of `thresher score` but belong to scorers: each is a parameter of the scorers that take
# it, and an error when none of the chosen scorers does.
SHARED_OPTIONS = ("model", "embedder", "dtype", "device", "batch_tokens", "prompt_field", "response_field")
# Options of the run that scorers taking a parameter of the same name also receive (no error when none does).
FORWARDED_OPTIONS = ("seed", "text_field", "label_field")
FLAGS = {name: "--" + name.replace("_", "-") for name in (*SHARED_OPTIONS, *FORWARDED_OPTIONS)}


def parse_names(spec: str | Sequence[str]) -> list[str]:
    """Scorer names from `likelihood,compression` or a list; refused when empty or repeated."""
    names = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else [str(part) for part in spec]
    names = [name for name in names if name]
    if not names:
        raise OptionError("no scorer given; use --scorer NAME[,NAME...] (see `thresher scorers`)")
    if len(set(names)) != len(names):
        raise OptionError(f"scorer listed twice: {', '.join(names)}")
    return names


def build_scorers(
    scorers: Sequence[str | Scorer],
    *,
    params: ParamsLike = None,
    shared: Mapping[str, Any] | None = None,
    forwarded: Mapping[str, Any] | None = None,
) -> list[Scorer]:
    """The scorer objects of a run: registered names built from their parameters, scorer objects kept as given.

    `shared` holds the shared options (`model`, `dtype`, ...) given as arguments; they override `params`' layers.
    """
    unknown = set(shared or {}) - set(SHARED_OPTIONS)
    if unknown:
        raise TypeError(f"not shared scorer options: {sorted(unknown)}")
    names = [item for item in scorers if isinstance(item, str)]
    chosen = [Chosen(name, SCORERS.get(name)) for name in names]
    layers = [*as_layers(params), shared_layer(shared or {}, FLAGS)]
    if not names and any(layers):
        raise OptionError("scorer options and -p parameters apply to scorers given by name")
    resolved = resolve_params(chosen, layers, forwarded=forwarded, known=registered(SCORERS), flags=FLAGS)
    built = {item.label: build(item.cls, resolved[item.label]) for item in chosen}
    result = [built[item] if isinstance(item, str) else item for item in scorers]
    run_names = [scorer.name for scorer in result]
    if len(set(run_names)) != len(run_names):
        raise OptionError(f"scorer listed twice: {', '.join(run_names)}")
    return result
