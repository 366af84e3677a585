"""The component parameters of an evaluation: the target's and its methods' strategies', resolved from layers of
`-p NAME=VALUE` assignments and the shared flags (`--embedder`, `--model`, `--device`).

A bare `NAME` goes to every chosen component that takes it (`-p epochs=5` with `--task lm` is `lm.epochs`); one
that none takes is an error naming the components it would apply to, and so is a shared flag no chosen component
takes (`--model` with `--task lm`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from thresher.components import Assignment, Chosen, ParamsLike, as_layers, resolve_params
from thresher.eval.choose import known_strategies, strategies_of, strategy_class
from thresher.eval.plan import parse_method
from thresher.eval.registry import TARGETS

# Parameter name -> the command-line flag that sets it, in every component that takes it.
FLAGS = {"embedder": "--embedder", "model": "--model", "device": "--device"}


def param_layers(params: ParamsLike, source: str = "params") -> list[list[Assignment]]:
    """`params` as layers of assignments, lowest precedence first; no params is one empty layer."""
    return as_layers(params, source) or [[]]


def chosen_components(task: str, methods: Sequence[str]) -> list[Chosen]:
    """The target of `task` and the strategy of every method (each once), labelled by their names."""
    strategies = [name for name in strategies_of([parse_method(name) for name in methods]) if name != task]
    return [Chosen(task, TARGETS.get(task)), *(Chosen(name, strategy_class(name)) for name in strategies)]


def known_components() -> list[Chosen]:
    """Every registered target and strategy, to say where a parameter no chosen component takes would apply."""
    return [*(Chosen(name, TARGETS.get(name)) for name in TARGETS.names()), *known_strategies()]


def resolve_eval_params(
    task: str,
    methods: Sequence[str],
    layers: Sequence[Sequence[Assignment]],
    flags: Mapping[str, Any],
    forwarded: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the target's constructor arguments, strategy name -> its constructor arguments).

    `flags` are the shared flags' values (None: not given); a given one counts as a bare assignment of the
    command-line layer (the last), so it conflicts with a `-p` of the same name and another value. `forwarded`
    values reach the components that take a parameter of that name unless set otherwise (DSIR's
    `target_text_field` is the input's text field).
    """
    given = [
        Assignment((name,), value, f"{FLAGS[name]} {value}") for name, value in flags.items() if value is not None
    ]
    all_layers = [list(layer) for layer in layers] or [[]]
    all_layers[-1].extend(given)
    resolved = resolve_params(
        chosen_components(task, methods), all_layers, forwarded=forwarded, known=known_components(), flags=FLAGS
    )
    return resolved.pop(task), resolved
