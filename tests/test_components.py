"""Components: parameters from constructors and docstrings, -p assignments, coercion, nesting, messages."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from thresher.components import (
    REQUIRED,
    Assignment,
    Chosen,
    Component,
    Registry,
    assignments_from_mapping,
    build,
    describe_params,
    parse_assignment,
    resolve_params,
)
from thresher.errors import OptionError


class Inner(Component):
    """An inner part.

    Parameters
    ----------
    damp:
        Damping added to the Hessian,
        so it is invertible.
    model:
        The model to load.
    """

    kind = "scorer"
    name = "inner"

    def __init__(self, *, damp: float = 0.01, model: str) -> None:
        self.damp = damp
        self.model = model


class Outer(Component):
    """Combines an inner part with a weight.

    Parameters
    ----------
    inner : scorer
        The inner part.
    lam:
        Weight of the inner part.
    mode:
        How to combine.
    sizes:
        Sizes to try.
    out:
        Where to write.
    flag:
        Whether to.

    Returns
    -------
    nothing
        This section is not a parameter.
    """

    kind = "scorer"
    name = "outer"

    def __init__(
        self,
        *,
        inner: Inner,
        lam: float = 0.3,
        mode: Literal["sum", "max"] = "sum",
        sizes: list[int] | None = None,
        out: Path | None = None,
        flag: bool = False,
        seed: int = 0,
    ) -> None:
        self.inner = inner
        self.lam = lam
        self.mode = mode
        self.sizes = sizes
        self.out = out
        self.flag = flag
        self.seed = seed


class Plain(Component):
    """A plain one.

    Parameters
    ----------
    lam:
        Another weight.
    """

    kind = "strategy"
    name = "plain"

    def __init__(self, *, lam: float = 1.0, seed: int = 0) -> None:
        self.lam = lam
        self.seed = seed


OUTER, PLAIN = Chosen("outer", Outer), Chosen("plain", Plain)


def cli(*texts: str) -> list[Assignment]:
    return [parse_assignment(text) for text in texts]


def test_params_come_from_the_constructor_hints_and_the_numpydoc_section():
    specs = {spec.name: spec for spec in Outer.params()}
    assert list(specs) == ["inner", "lam", "mode", "sizes", "out", "flag", "seed"]
    assert specs["lam"].default == 0.3 and specs["lam"].help == "Weight of the inner part."
    assert specs["inner"].nested is Inner and specs["lam"].nested is None
    assert specs["mode"].type_label() == "sum|max"
    assert specs["sizes"].type_label() == "list[int] | none"
    assert "nothing" not in specs and specs["seed"].help == ""
    inner = {spec.name: spec for spec in Inner.params()}
    assert inner["model"].default is REQUIRED and inner["model"].required
    assert inner["damp"].help == "Damping added to the Hessian, so it is invertible."
    assert Outer.summary() == "Combines an inner part with a weight."


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("lam", "0.5", 0.5),
        ("lam", 2, 2.0),
        ("mode", "max", "max"),
        ("sizes", "1, 2,3", [1, 2, 3]),
        ("sizes", [4, 5], [4, 5]),
        ("sizes", "none", None),
        ("out", "a/b", Path("a/b")),
        ("flag", "yes", True),
        ("flag", "False", False),
        ("flag", True, True),
        ("seed", "7", 7),
        ("seed", 3.0, 3),
    ],
)
def test_values_are_coerced_from_the_type_hints(name, raw, expected):
    spec = {spec.name: spec for spec in Outer.params()}[name]
    assert spec.coerce(raw, "-p") == expected


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("lam", "fast", "expected a number"),
        ("mode", "min", "expected one of sum, max"),
        ("sizes", "1,x", "expected list[int] | none"),
        ("flag", "maybe", "expected true or false"),
        ("seed", "1.5", "expected an integer"),
        ("seed", True, "expected an integer"),
    ],
)
def test_bad_values_are_refused_with_the_parameter_and_source(name, raw, message):
    spec = {spec.name: spec for spec in Outer.params()}[name]
    with pytest.raises(OptionError, match=message) as caught:
        spec.coerce(raw, "-p outer.x")
    assert str(caught.value).startswith(f"-p outer.x: {name}")


def test_bare_params_reach_every_chosen_component_that_takes_them_nested_ones_included():
    resolved = resolve_params([OUTER, PLAIN], [cli("lam=0.7", "model=m", "damp=0.5")])
    assert resolved["outer"]["lam"] == 0.7 and resolved["plain"]["lam"] == 0.7
    assert resolved["outer"]["inner"] == {"damp": 0.5, "model": "m"}


def test_a_targeted_param_beats_a_bare_one_and_a_later_layer_beats_an_earlier():
    config = assignments_from_mapping({"lam": 0.1, "outer": {"lam": 0.2}, "outer.inner.model": "from-config"}, "cfg")
    resolved = resolve_params([OUTER, PLAIN], [config, cli("lam=0.9", "outer.inner.damp=3")])
    assert resolved["plain"]["lam"] == 0.9  # the command line overrides the file
    assert resolved["outer"]["lam"] == 0.9  # a later layer's bare value beats an earlier layer's targeted one
    assert resolved["outer"]["inner"] == {"damp": 3.0, "model": "from-config"}
    same_layer = resolve_params([OUTER, PLAIN], [cli("lam=0.9", "outer.lam=0.2", "model=m")])
    assert same_layer["outer"]["lam"] == 0.2 and same_layer["plain"]["lam"] == 0.9


def test_forwarded_command_options_fill_only_what_is_not_set():
    resolved = resolve_params([OUTER, PLAIN], [cli("plain.seed=5", "model=m")], forwarded={"seed": 1, "absent": 2})
    assert resolved["outer"]["seed"] == 1 and resolved["plain"]["seed"] == 5
    assert "absent" not in resolved["outer"]


def test_an_unused_param_names_where_it_would_apply():
    with pytest.raises(OptionError) as caught:
        resolve_params([PLAIN], [cli("damp=1")], known=[OUTER, PLAIN])
    assert str(caught.value) == (
        "-p damp=1: none of the chosen components (plain) takes 'damp' (it applies to scorer outer)"
    )
    with pytest.raises(OptionError, match="no component has such a parameter"):
        resolve_params([PLAIN], [cli("nonsense=1")], known=[OUTER, PLAIN])
    with pytest.raises(OptionError, match="outer is not one of the chosen components"):
        resolve_params([PLAIN], [cli("outer.lam=1")], known=[OUTER, PLAIN])
    with pytest.raises(OptionError, match="scorer outer has no parameter 'inner.nope'"):
        resolve_params([OUTER], [cli("outer.inner.nope=1", "model=m")])


def test_the_same_param_twice_in_one_layer_is_refused_unless_equal():
    with pytest.raises(OptionError, match="both set plain.lam"):
        resolve_params([PLAIN], [cli("lam=1", "lam=2")])
    assert resolve_params([PLAIN], [cli("lam=1", "lam=1")])["plain"]["lam"] == 1.0


def test_a_missing_required_param_says_how_to_give_it():
    with pytest.raises(OptionError) as caught:
        resolve_params([OUTER], [[]], flags={"model": "--model"})
    assert str(caught.value) == "scorer outer needs model: give --model or -p outer.inner.model=..."


def test_build_makes_nested_components_and_records_them_as_plain_data():
    resolved = resolve_params([OUTER], [cli("model=m", "out=x/y", "sizes=1,2")])
    outer = build(Outer, resolved["outer"])
    assert isinstance(outer.inner, Inner) and outer.inner.model == "m"
    assert outer.params_record() == {
        "inner": {"damp": 0.01, "model": "m"},
        "lam": 0.3,
        "mode": "sum",
        "sizes": [1, 2],
        "out": "x/y",
        "flag": False,
        "seed": 0,
    }


def test_parse_assignment_refuses_what_is_not_name_equals_value():
    assert parse_assignment("a.b=c=d").path == ("a", "b") and parse_assignment("a.b=c=d").value == "c=d"
    for text in ("novalue", "=3", "a..b=1"):
        with pytest.raises(OptionError, match="expected NAME=VALUE"):
            parse_assignment(text)


def test_describe_lists_nested_params_with_types_and_defaults():
    rows = {row.name: row for row in describe_params(Outer)}
    assert rows["inner.model"].default == "required" and rows["inner.damp"].type == "float"
    assert rows["flag"].default == "false" and rows["sizes"].default == "none"


def test_registry_imports_lazily_lists_aliases_and_refuses_unknown_names():
    registry: Registry[Component] = Registry("scorer", {"outer": Outer, "o": Outer, "lazy": "pathlib:Path"})
    assert registry.names() == ["lazy", "o", "outer"]
    assert registry.get("lazy") is Path and registry.aliases("outer") == ["o"]
    with pytest.raises(OptionError, match="unknown scorer 'nope'; available: lazy, o, outer"):
        registry.get("nope")
    registry.register("plain", Plain)
    assert registry.get("plain") is Plain
    with pytest.raises(ValueError, match="registered already"):
        registry.register("plain", Plain)
    registry.unregister("plain")
    assert "plain" not in registry
