"""`thresher scorers | strategies | targets | students [NAME]`: what each registered component does, needs, writes
and takes."""

from __future__ import annotations

import importlib
from typing import Any

from rich.console import Console
from rich.table import Table

from thresher.components import Component, Registry, describe_params

# The registries a listing command shows, as "module:attribute" (imported on demand).
REGISTRIES = {
    "scorers": "thresher.scorers.registry:SCORERS",
    "strategies": "thresher.selection.registry:STRATEGIES",
    "targets": "thresher.eval.registry:TARGETS",
    "students": "thresher.distillation.registry:STUDENTS",
}


def registry(kind: str) -> Registry[Any]:
    """The registry behind `thresher KIND` (scorers, strategies, targets, students)."""
    module_name, attribute = REGISTRIES[kind].split(":")
    found: Registry[Any] = getattr(importlib.import_module(module_name), attribute)
    return found


def print_listing(kind: str, console: Console) -> None:
    """One line per registered component: name, what it writes or reads, and its summary."""
    components = registry(kind)
    table = Table(title=f"{kind} (`thresher {kind} NAME` for parameters)", title_justify="left", show_lines=False)
    table.add_column("name", no_wrap=True)
    table.add_column("columns" if kind == "scorers" else "needs")
    table.add_column("what it does")
    for name in components.names():
        cls = components.get(name)
        aliases = components.aliases(name)
        label = name if not aliases or name < aliases[0] else f"{name} (= {aliases[0]})"
        table.add_row(label, ", ".join(_produces_or_needs(cls)), cls.summary())
    console.print(table)


def print_component(kind: str, name: str, console: Console) -> None:
    """A component's summary, needs, columns (scorers) and parameters with types, defaults and help."""
    cls = registry(kind).get(name)
    console.print(f"[bold]{name}[/] ({cls.kind}): {cls.summary()}", highlight=False)
    needs = needs_of(cls)
    console.print(f"needs: {', '.join(needs) if needs else 'nothing beyond the text'}", highlight=False)
    columns = getattr(cls, "columns", ())
    if columns:
        table = Table(title="columns", title_justify="left")
        for heading in ("column", "kind", "more important", "description"):
            table.add_column(heading)
        for column in columns:
            direction = "-" if column.direction is None else column.direction.value.split("_")[0]
            table.add_row(column.name, str(column.kind), direction, column.description)
        console.print(table)
    params = Table(title=f"parameters (-p {name}.NAME=VALUE, or -p NAME=VALUE)", title_justify="left")
    for heading in ("parameter", "type", "default"):
        params.add_column(heading, no_wrap=True)
    params.add_column("help", overflow="fold")
    for row in describe_params(cls):
        params.add_row(row.name, row.type, row.default, row.help)
    console.print(params)


def needs_of(cls: type[Component]) -> list[str]:
    """What a component needs from the user: labels, a model, an embedder, score columns, texts."""
    needs: list[str] = []
    if getattr(cls, "needs_labels", False):
        needs.append("labels (--label-field)")
    specs = {spec.name: spec for spec in _flat_params(cls)}
    if "model" in specs:
        needs.append("a model (--model)" if specs["model"].required else "a model (--model, optional)")
    if "embedder" in specs:
        needs.append("an embedder (--embedder, default all-MiniLM-L6-v2)")
    for need in sorted(getattr(cls, "needs", ())):
        needs.append({"importance": "a score column (--by)", "values": "a column (--by)"}.get(need, need))
    reads = getattr(cls, "reads", None)
    if reads:
        hints = {"labels": "labels (--label-field)", "responses": "responses (--response-field)"}
        needs.append(hints.get(reads, reads))
    return needs


def _produces_or_needs(cls: type[Component]) -> list[str]:
    columns = getattr(cls, "columns", None)
    if columns is not None:
        return [column.name for column in columns]
    return needs_of(cls)


def _flat_params(cls: type[Component]) -> list[Any]:
    specs = []
    for spec in cls.params():
        specs.extend(_flat_params(spec.nested) if spec.nested is not None else [spec])
    return specs
