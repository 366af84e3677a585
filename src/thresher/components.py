"""Registry components: scorers, selection strategies and eval targets, all configured the same way.

A component is a class whose keyword-only constructor is its parameter list (type hints, defaults) and whose
docstring's ``Parameters`` section gives each parameter's help. From that alone thresher builds the
``-p NAME=VALUE`` options of every command, ``--config`` files, the ``thresher scorers|strategies|targets NAME``
listings and the record of settings in manifests and results. Adding a component is one module and one registry
line; nothing in the CLI changes.

A parameter whose type is itself a component class is *nested* (DEALRec is an influence scorer plus an effort
scorer): it is built from its own parameters, reached as ``dealrec.influence.damp``, and recorded as a dict.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from thresher.errors import OptionError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""The default of a parameter that has none: it must be given."""


class Component:
    """Base of scorers, strategies and targets: parameters introspected from the keyword-only constructor.

    Constructors store their arguments verbatim (scikit-learn style), so `get_params` can read them back and a
    component can be rebuilt, pickled or recorded before any expensive set-up.
    """

    name: ClassVar[str]
    kind: ClassVar[str] = "component"  # "scorer", "strategy", "target": how listings and messages name it

    @classmethod
    def params(cls) -> tuple[ParamSpec, ...]:
        """Every parameter: name, type, default, help."""
        return component_params(cls)

    @classmethod
    def param_names(cls) -> list[str]:
        return [spec.name for spec in cls.params()]

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring: what the component does, in one line."""
        doc = inspect.getdoc(cls) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def get_params(self) -> dict[str, Any]:
        """The parameters this component was built with (nested components as objects)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def params_record(self) -> dict[str, Any]:
        """The parameters as plain data (nested components as dicts): what manifests and results record."""
        return {name: _record(value) for name, value in self.get_params().items()}


C = TypeVar("C", bound=Component)


def _record(value: Any) -> Any:
    if isinstance(value, Component):
        return value.params_record()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


# -- parameters --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    """One constructor parameter of a component."""

    name: str
    annotation: Any
    default: Any
    help: str

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def nested(self) -> type[Component] | None:
        """The component class of a nested parameter, else None."""
        for option in _union_members(self.annotation):
            if inspect.isclass(option) and issubclass(option, Component):
                return option
        return None

    def type_label(self) -> str:
        """The type as a user reads it: `int`, `float | None`, `lissa|cg`, `list[str]`."""
        return _type_label(self.annotation)

    def default_label(self) -> str:
        if self.required:
            return "required"
        if self.nested is not None:
            return "(component)"
        return "none" if self.default is None else _value_label(self.default)

    def coerce(self, raw: Any, where: str) -> Any:
        """`raw` (a command-line string or a config-file value) as this parameter's type; `OptionError` if not."""
        return _coerce(self.annotation, raw, f"{where}: {self.name}")


def component_params(cls: type) -> tuple[ParamSpec, ...]:
    """The keyword-only constructor parameters of `cls`, typed from its hints, helped from its docstring."""
    signature = inspect.signature(cls.__init__)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception as error:  # a hint that does not resolve is a programming error worth naming
        raise TypeError(f"{cls.__qualname__}: unresolvable type hints ({error})") from error
    helps = docstring_params(cls)
    specs = []
    for parameter in signature.parameters.values():
        if parameter.kind is not parameter.KEYWORD_ONLY:
            continue
        default = REQUIRED if parameter.default is parameter.empty else parameter.default
        specs.append(ParamSpec(parameter.name, hints.get(parameter.name, Any), default, helps.get(parameter.name, "")))
    return tuple(specs)


def docstring_params(cls: type) -> dict[str, str]:
    """Parameter name -> help, from the ``Parameters`` section of the docstrings of `cls` and its bases.

    The section is numpydoc's: a ``Parameters`` line, a line of dashes, then ``name`` (optionally ``name : type``)
    at the section's indentation, with its help indented below it. A subclass's entry wins over its base's.
    """
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        helps.update(_parse_parameters_section(inspect.cleandoc(klass.__dict__.get("__doc__") or "")))
    return helps


def _parse_parameters_section(doc: str) -> dict[str, str]:
    lines = doc.splitlines()
    helps: dict[str, str] = {}
    for index in range(len(lines) - 1):
        if lines[index].strip() == "Parameters" and set(lines[index + 1].strip()) == {"-"}:
            break
    else:
        return helps
    current: str | None = None
    for line in lines[index + 2 :]:
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            if line.strip() and set(line.strip()) == {"-"}:
                # The underline of the next section: the previous line was its title, not a parameter.
                if current is not None:
                    helps.pop(current, None)
                break
            current = line.split(":")[0].strip()
            helps[current] = ""
        elif current is not None:
            helps[current] = (helps[current] + " " + line.strip()).strip()
    return helps


def _union_members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _type_label(annotation: Any) -> str:
    members = _union_members(annotation)
    if len(members) > 1:
        return " | ".join("none" if member is type(None) else _type_label(member) for member in members)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "|".join(str(choice) for choice in typing.get_args(annotation))
    if origin in (list, tuple, Sequence):
        return f"list[{_type_label(typing.get_args(annotation)[0])}]"
    if inspect.isclass(annotation) and issubclass(annotation, Component):
        return annotation.kind
    return getattr(annotation, "__name__", str(annotation))


def _value_label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null", ""}


def _coerce(annotation: Any, raw: Any, where: str) -> Any:
    members = _union_members(annotation)
    if len(members) > 1:
        if type(None) in members and (raw is None or (isinstance(raw, str) and raw.strip().lower() in _NONE)):
            return None
        errors = []
        for member in members:
            if member is type(None):
                continue
            try:
                return _coerce(member, raw, where)
            except OptionError as error:
                errors.append(error)
        raise OptionError(f"{where}: expected {_type_label(annotation)}, got {raw!r}")
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return raw
    if origin is Literal:
        choices = typing.get_args(annotation)
        for choice in choices:
            if raw == choice or str(raw) == str(choice):
                return choice
        raise OptionError(f"{where}: expected one of {', '.join(map(str, choices))}, got {raw!r}")
    if origin in (list, tuple, Sequence):
        (item,) = typing.get_args(annotation)[:1] or (Any,)
        parts = raw.split(",") if isinstance(raw, str) else list(raw) if isinstance(raw, Iterable) else [raw]
        values = [_coerce(item, part.strip() if isinstance(part, str) else part, where) for part in parts]
        return tuple(values) if origin is tuple else values
    if annotation is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise OptionError(f"{where}: expected true or false, got {raw!r}")
    if annotation is int:
        if isinstance(raw, bool):
            raise OptionError(f"{where}: expected an integer, got {raw!r}")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        try:
            return int(str(raw).strip())
        except ValueError:
            raise OptionError(f"{where}: expected an integer, got {raw!r}") from None
    if annotation is float:
        if isinstance(raw, bool):
            raise OptionError(f"{where}: expected a number, got {raw!r}")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise OptionError(f"{where}: expected a number, got {raw!r}") from None
    if annotation is str:
        if isinstance(raw, (dict, list)):
            raise OptionError(f"{where}: expected a string, got {raw!r}")
        return str(raw)
    if annotation is Path:
        return Path(str(raw))
    if inspect.isclass(annotation) and isinstance(raw, annotation):
        return raw
    raise OptionError(f"{where}: cannot read a value of type {_type_label(annotation)} from {raw!r}")


# -- registries --------------------------------------------------------------------------------------------------


class Registry(Generic[C]):
    """Name -> component class, imported lazily (`"module:Class"`) so that `import thresher` stays light."""

    def __init__(self, kind: str, builtin: Mapping[str, str | type[C]]) -> None:
        self.kind = kind
        self._entries: dict[str, str | type[C]] = dict(builtin)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> type[C]:
        """The class registered as `name`; `OptionError` listing the available names when there is none."""
        try:
            entry = self._entries[name]
        except KeyError:
            raise OptionError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}") from None
        if isinstance(entry, str):
            module_name, class_name = entry.split(":")
            entry = getattr(importlib.import_module(module_name), class_name)
            self._entries[name] = entry
        return entry

    def register(self, name: str, component: str | type[C]) -> None:
        """Add a component (a class, or `"module:Class"`), e.g. a plug-in's or a test's."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._entries[name] = component

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def aliases(self, name: str) -> list[str]:
        """Other names registered for the same class as `name`."""
        target = self.get(name)
        return [other for other in self.names() if other != name and self.get(other) is target]


# -- assignments: -p NAME=VALUE, flags and config-file entries ---------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """One parameter setting: `path` is (`component`, `param`, ...) or a bare (`param`,); `source` names it."""

    path: tuple[str, ...]
    value: Any
    source: str

    @property
    def name(self) -> str:
        return ".".join(self.path)


def parse_assignment(text: str, source: str = "-p") -> Assignment:
    """`NAME=VALUE` (NAME is `param`, `component.param` or deeper) as an `Assignment`."""
    name, separator, value = text.partition("=")
    path = tuple(part.strip() for part in name.strip().split("."))
    if not separator or not all(path):
        raise OptionError(f"{source} {text!r}: expected NAME=VALUE, e.g. -p likelihood.stride=256 or -p strata=20")
    return Assignment(path, value, f"{source} {text}")


def assignments_from_mapping(values: Mapping[str, Any], source: str) -> list[Assignment]:
    """Assignments from a config file's `params:` mapping (`{"likelihood.stride": 256}` or nested mappings)."""
    flat: list[Assignment] = []

    def walk(prefix: tuple[str, ...], mapping: Mapping[str, Any]) -> None:
        for key, value in mapping.items():
            path = (*prefix, *str(key).split("."))
            if isinstance(value, Mapping):
                walk(path, value)
            else:
                flat.append(Assignment(path, value, f"{source}: {'.'.join(path)}"))

    walk((), values)
    return flat


@dataclass(frozen=True)
class Chosen:
    """A component a command will build: its label (the registry name the user chose) and its class."""

    label: str
    cls: type[Component]


def resolve_params(
    chosen: Sequence[Chosen],
    layers: Sequence[Sequence[Assignment]],
    *,
    forwarded: Mapping[str, Any] | None = None,
    known: Sequence[Chosen] | Callable[[], Sequence[Chosen]] = (),
    flags: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Constructor keyword arguments for each chosen component, from assignments and forwarded command options.

    Args:
        chosen: the components the command builds.
        layers: assignments from lowest to highest precedence (config file, then command line). Within a layer a
            parameter set twice is an error; a later layer overrides an earlier one. A bare `param` applies to
            every chosen component (nested ones included) that takes it; at least one must. A `label.param`
            applies to that component only; a targeted setting beats a bare one of the same layer.
        forwarded: command-level values (seed, field names) that components taking a parameter of that name
            receive, with no error when none does; any assignment overrides them.
        known: every registered component of the command's kinds (or a function giving them, called only for an
            error message: listing them imports every component's module), to say where a parameter would apply.
        flags: parameter name -> the command-line flag that sets it (`model` -> `--model`), for messages.

    Returns:
        label -> {param: value}, nested components as nested dicts; values coerced from the type hints.

    Raises:
        OptionError: a parameter no chosen component takes, a bad value, or a required parameter left unset.
    """
    flags = dict(flags or {})
    forwarded = {name: value for name, value in (forwarded or {}).items() if value is not None}
    labels = {item.label: item for item in chosen}
    # (label, path inside the component) -> (precedence, value, source); precedence = (layer, targeted).
    settled: dict[tuple[str, tuple[str, ...]], tuple[tuple[int, int], Any, str]] = {}

    def settle(label: str, path: tuple[str, ...], rank: tuple[int, int], value: Any, source: str) -> None:
        key = (label, path)
        previous = settled.get(key)
        if previous is not None and previous[0] == rank and previous[1] != value:
            raise OptionError(f"{previous[2]} and {source} both set {label}.{'.'.join(path)}")
        if previous is None or previous[0] <= rank:
            settled[key] = (rank, value, source)

    for item in chosen:
        for path in _param_paths(item.cls):
            if path[-1] in forwarded:
                flag = flags.get(path[-1], "--" + path[-1].replace("_", "-"))
                settled[(item.label, path)] = ((-1, 0), forwarded[path[-1]], flag)

    for layer_index, layer in enumerate(layers):
        for assignment in layer:
            head, rest = assignment.path[0], assignment.path[1:]
            if rest and head in labels:
                path = rest
                if path not in _param_paths(labels[head].cls):
                    raise OptionError(
                        f"{assignment.source}: {labels[head].cls.kind} {head} has no parameter "
                        f"{'.'.join(path)!r}; its parameters: {', '.join(_path_names(labels[head].cls))}"
                    )
                settle(head, path, (layer_index, 1), assignment.value, assignment.source)
                continue
            if rest:
                raise OptionError(_unchosen_message(assignment, _listed(known), labels))
            targets = [(item.label, path) for item in chosen for path in _param_paths(item.cls) if path[-1] == head]
            if not targets:
                raise OptionError(_unused_message(assignment, _listed(known), labels))
            for label, path in targets:
                settle(label, path, (layer_index, 0), assignment.value, assignment.source)

    result: dict[str, dict[str, Any]] = {}
    for item in chosen:
        result[item.label] = _kwargs_for(item, item.cls, (), settled, flags)
    return result


def _listed(known: Sequence[Chosen] | Callable[[], Sequence[Chosen]]) -> Sequence[Chosen]:
    return known() if callable(known) else known


def _kwargs_for(
    item: Chosen,
    cls: type[Component],
    prefix: tuple[str, ...],
    settled: Mapping[tuple[str, tuple[str, ...]], tuple[tuple[int, int], Any, str]],
    flags: Mapping[str, str],
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for spec in cls.params():
        path = (*prefix, spec.name)
        if spec.nested is not None:
            kwargs[spec.name] = _kwargs_for(item, spec.nested, path, settled, flags)
            continue
        entry = settled.get((item.label, path))
        if entry is not None:
            kwargs[spec.name] = spec.coerce(entry[1], entry[2])
        elif spec.required:
            dotted = ".".join((item.label, *path))
            flag = flags.get(spec.name)
            hint = f"{flag} or -p {dotted}=..." if flag else f"-p {dotted}=..."
            raise OptionError(f"{item.cls.kind} {item.label} needs {spec.name}: give {hint}")
    return kwargs


def build(cls: type[C], kwargs: Mapping[str, Any]) -> C:
    """An instance of `cls` from resolved keyword arguments, nested components built first."""
    values = dict(kwargs)
    for spec in cls.params():
        if spec.nested is not None and isinstance(values.get(spec.name), Mapping):
            values[spec.name] = build(spec.nested, values[spec.name])
    try:
        return cls(**values)
    except OptionError:
        raise
    except (TypeError, ValueError) as error:
        raise OptionError(f"{cls.kind} {getattr(cls, 'name', cls.__name__)}: {error}") from None


def _param_paths(cls: type[Component], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every settable parameter path of `cls`, nested components' parameters included."""
    paths: list[tuple[str, ...]] = []
    for spec in cls.params():
        if spec.nested is not None:
            paths.extend(_param_paths(spec.nested, (*prefix, spec.name)))
        else:
            paths.append((*prefix, spec.name))
    return paths


def _path_names(cls: type[Component]) -> list[str]:
    return [".".join(path) for path in _param_paths(cls)]


def _unused_message(assignment: Assignment, known: Sequence[Chosen], labels: Mapping[str, Chosen]) -> str:
    name = assignment.path[0]
    takers = [f"{item.cls.kind} {item.label}" for item in known if any(p[-1] == name for p in _param_paths(item.cls))]
    where = f"it applies to {', '.join(dict.fromkeys(takers))}" if takers else "no component has such a parameter"
    return f"{assignment.source}: none of the chosen components ({', '.join(labels)}) takes {name!r} ({where})"


def _unchosen_message(assignment: Assignment, known: Sequence[Chosen], labels: Mapping[str, Chosen]) -> str:
    head = assignment.path[0]
    if any(item.label == head for item in known):
        chosen = ", ".join(labels) or "none"
        return f"{assignment.source}: {head} is not one of the chosen components ({chosen})"
    return f"{assignment.source}: no component called {head!r}; chosen: {', '.join(labels) or 'none'}"


ParamsLike = Mapping[str, Any] | Sequence[Assignment] | Sequence[Sequence[Assignment]] | None
"""Component parameters as the Python API takes them: a mapping (`{"strata": 20, "lm.n_layer": 4}`, one layer),
assignments (one layer), or layers of assignments from lowest to highest precedence (what the CLI passes: settings
file, then command line)."""


def as_layers(params: ParamsLike, source: str = "params") -> list[list[Assignment]]:
    """`params` as layers of assignments, lowest precedence first."""
    if params is None:
        return []
    if isinstance(params, Mapping):
        return [assignments_from_mapping(params, source)]
    items = list(params)
    if all(isinstance(item, Assignment) for item in items):
        return [list(items)]  # type: ignore[arg-type]
    return [list(layer) for layer in items]  # type: ignore[arg-type]


def shared_layer(values: Mapping[str, Any], flags: Mapping[str, str]) -> list[Assignment]:
    """Shared options given as arguments (`model="gpt2"`) as bare assignments named after their flags."""
    return [
        Assignment((name,), value, flags.get(name, "--" + name.replace("_", "-")))
        for name, value in values.items()
        if value is not None
    ]


def registered(*registries: Registry[Any]) -> Callable[[], list[Chosen]]:
    """Every component of `registries`, listed on demand (for `resolve_params`'s `known`)."""
    return lambda: [Chosen(name, registry.get(name)) for registry in registries for name in registry.names()]


# -- describing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamRow:
    """One line of a component's parameter listing."""

    name: str
    type: str
    default: str
    help: str


def describe_params(cls: type[Component], prefix: str = "") -> list[ParamRow]:
    """Every parameter of `cls` (nested ones as `inner.param`) for `thresher scorers NAME` and the like."""
    rows: list[ParamRow] = []
    for spec in cls.params():
        name = f"{prefix}{spec.name}"
        if spec.nested is not None:
            rows.extend(describe_params(spec.nested, f"{name}."))
            continue
        rows.append(ParamRow(name, spec.type_label(), spec.default_label(), spec.help))
    return rows
