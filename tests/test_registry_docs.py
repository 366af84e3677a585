"""Every registered component documents itself: a one-line summary and a help line for each of its parameters.

`thresher scorers NAME` (and the strategy and target listings), `-p` error messages and the docs are built from the
class docstring's first line and its numpydoc ``Parameters`` section (`thresher.components`), so a component
without them shows blanks. To cover another registry, add it to `REGISTRIES`.
"""

from __future__ import annotations

import inspect

import pytest

from thresher.components import Component, Registry, docstring_params
from thresher.distillation.registry import STUDENTS
from thresher.eval.registry import TARGETS
from thresher.scorers.registry import SCORERS
from thresher.selection.registry import STRATEGIES

REGISTRIES: list[Registry] = [SCORERS, STRATEGIES, TARGETS, STUDENTS]

# Help of one parameter, joined from its lines: one or two lines of the docstring (8 columns of indentation).
MAX_HELP_CHARS = 2 * (119 - 8)

REGISTERED = [(registry, name) for registry in REGISTRIES for name in registry.names()]
IDS = [f"{registry.kind}-{name}" for registry, name in REGISTERED]


def own_docstring(cls: type) -> str:
    """The class's own docstring (not one inherited from its base), as `inspect.cleandoc` leaves it."""
    return inspect.cleandoc(cls.__dict__.get("__doc__") or "")


def undocumented(cls: type[Component], prefix: str = "") -> list[str]:
    """Parameters of `cls` (nested components' included, as `inner.param`) with no help or too long a help."""
    problems = []
    for spec in cls.params():
        name = f"{prefix}{spec.name}"
        if not spec.help:
            problems.append(f"{name}: no entry in the Parameters section")
        elif len(spec.help) > MAX_HELP_CHARS:
            problems.append(f"{name}: {len(spec.help)} characters of help; keep it to one or two lines")
        if spec.nested is not None:
            problems.extend(undocumented(spec.nested, f"{name}."))
    return problems


@pytest.mark.parametrize(("registry", "name"), REGISTERED, ids=IDS)
def test_every_component_has_its_own_one_line_summary(registry, name):
    cls = registry.get(name)
    lines = own_docstring(cls).splitlines()
    assert lines and lines[0].strip(), f"{registry.kind} {name} ({cls.__qualname__}) has no docstring of its own"
    assert len(lines) == 1 or not lines[1].strip(), f"{registry.kind} {name}: the summary must be one line"
    assert lines[0].endswith("."), f"{registry.kind} {name}: the summary is a sentence: {lines[0]!r}"
    assert cls.summary() == lines[0]


@pytest.mark.parametrize(("registry", "name"), REGISTERED, ids=IDS)
def test_every_parameter_is_documented(registry, name):
    cls = registry.get(name)
    problems = undocumented(cls)
    assert not problems, f"{registry.kind} {name} ({cls.__qualname__}): " + "; ".join(problems)
    # An entry for a parameter the constructor does not take is a stale or misspelt one.
    stale = sorted(set(docstring_params(cls)) - set(cls.param_names()))
    assert not stale, f"{registry.kind} {name}: Parameters section names {stale}, which it does not take"


class _HalfDocumented(Component):
    """Does one thing.

    Parameters
    ----------
    size:
        How many.
    """

    def __init__(self, *, size: int = 1, other: int = 2) -> None:
        self.size, self.other = size, other


class _Holder(Component):
    """Holds a part."""

    def __init__(self, *, part: _HalfDocumented) -> None:
        self.part = part


def test_the_checks_catch_what_they_are_for():
    assert undocumented(_HalfDocumented) == ["other: no entry in the Parameters section"]
    assert undocumented(_Holder) == [
        "part: no entry in the Parameters section",
        "part.other: no entry in the Parameters section",
    ]
    assert own_docstring(type("Bare", (_HalfDocumented,), {})) == ""  # an inherited docstring is not its own
