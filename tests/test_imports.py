"""The package's import graph: no module imports itself back, and the low layers stay below the scorers.

Every module of `thresher` is read (not imported) with `ast`; each `import thresher...` / `from thresher... import`
statement becomes an edge, marked module-level (runs when the module is imported) or function-level (a lazy
import inside a function or method). Imports under `if TYPE_CHECKING:` never run and are left out.
"""

from __future__ import annotations

import ast
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import thresher

PACKAGE = "thresher"


@dataclass(frozen=True)
class Edge:
    """`source` imports `target` at line `line`; `module_level` unless the import is inside a function."""

    source: str
    target: str
    line: int
    module_level: bool


def package_modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the package: dotted name -> (file, is a package), found without importing any of them."""
    modules: dict[str, tuple[Path, bool]] = {PACKAGE: (Path(thresher.__file__), True)}

    def walk(directory: Path, prefix: str) -> None:
        for info in pkgutil.iter_modules([str(directory)]):
            name = f"{prefix}.{info.name}"
            if info.ispkg:
                modules[name] = (directory / info.name / "__init__.py", True)
                walk(directory / info.name, name)
            else:
                modules[name] = (directory / f"{info.name}.py", False)

    walk(Path(thresher.__file__).parent, PACKAGE)
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(body: list[ast.stmt], module_level: bool) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """The import statements in `body` and every block below it, each with whether it runs at import time."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append((node, module_level))
            continue
        if isinstance(node, ast.If) and _is_type_checking(node):
            found.extend(_import_nodes(node.orelse, module_level))
            continue
        # A class body runs at import time; a function body only when the function is called.
        inner = module_level and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                statements = [item for item in block if isinstance(item, ast.stmt)]
                for item in block:  # except handlers and match cases hold their statements one level down
                    if isinstance(item, ast.excepthandler | ast.match_case):
                        statements.extend(item.body)
                found.extend(_import_nodes(statements, inner))
    return found


def import_edges(modules: dict[str, tuple[Path, bool]]) -> list[Edge]:
    """Every import of one package module by another."""
    edges: list[Edge] = []
    for name, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, module_level in _import_nodes(tree.body, True):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    imported_from = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    imported_from = node.module or ""
                # `from thresher.models import surrogate` imports the submodule; `from thresher.x import f`, x.
                targets = [
                    f"{imported_from}.{alias.name}" if f"{imported_from}.{alias.name}" in modules else imported_from
                    for alias in node.names
                ]
            for target in dict.fromkeys(targets):
                if target in modules and target != name:
                    edges.append(Edge(name, target, node.lineno, module_level))
    return edges


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of a directed graph, at least one through every strongly connected component that has any.

    Each cycle is a list of nodes whose last imports its first; found by depth-first search, one per back edge.
    """
    cycles: list[list[str]] = []
    state: dict[str, str] = {}  # "open" while on the DFS path, "done" after
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                cycles.append(path[path.index(successor) :])
            elif successor not in state:
                visit(successor)
        path.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def graph_of(edges: list[Edge], *, module_level_only: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.module_level or not module_level_only:
            graph.setdefault(edge.source, set()).add(edge.target)
    return graph


def describe(cycle: list[str], edges: list[Edge]) -> str:
    """`a (line 3) -> b (line 9) -> a`: each step with the line of its import statement."""
    lines = {(edge.source, edge.target): edge for edge in edges}
    steps = []
    for source, target in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        edge = lines[(source, target)]
        where = "" if edge.module_level else ", in a function"
        steps.append(f"{source} (line {edge.line}{where})")
    return " -> ".join([*steps, cycle[0]])


MODULES = package_modules()
EDGES = import_edges(MODULES)


def test_the_walk_sees_every_module_and_both_kinds_of_import():
    # A walk that missed modules or lazy imports would make the cycle tests below pass vacuously.
    assert {"thresher.store", "thresher.scorers.dealrec", "thresher.models.vllm_backend"} <= set(MODULES)
    files = {path.resolve() for path, _ in MODULES.values()}
    assert files == {path.resolve() for path in Path(thresher.__file__).parent.rglob("*.py")}
    pairs = {(edge.source, edge.target, edge.module_level) for edge in EDGES}
    assert ("thresher.scorers.dealrec", "thresher.scorers.influence", True) in pairs
    assert ("thresher.scorers.ask_llm", "thresher.models.vllm_backend", False) in pairs  # lazy: vLLM is optional
    assert ("thresher.api", "thresher.eval.harness", False) in pairs


def test_find_cycles_names_each_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d2"}, "d2": {"d"}, "e": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"], ["d", "d2"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "e": {"a", "c"}}) == []


def test_no_import_cycle_at_module_level():
    cycles = find_cycles(graph_of(EDGES, module_level_only=True))
    assert not cycles, "import cycles: " + "; ".join(describe(cycle, EDGES) for cycle in cycles)


def test_no_import_cycle_through_lazy_imports_either():
    # A function-level import that closes a cycle (vllm_backend <-> ask_llm, once) still ties two modules into
    # one: what both need belongs in a third module that imports neither.
    cycles = find_cycles(graph_of(EDGES, module_level_only=False))
    assert not cycles, "import cycles: " + "; ".join(describe(cycle, EDGES) for cycle in cycles)


def test_the_store_embeddings_and_selection_do_not_import_the_scorer_layer():
    # They take their shared types from thresher.types, so none of them loads a scorer module when imported.
    for low in ("thresher.store", "thresher.embeddings", "thresher.selection.base", "thresher.types"):
        upward = [
            edge
            for edge in EDGES
            if edge.source == low and edge.module_level and edge.target.startswith("thresher.scorers")
        ]
        assert not upward, f"{low} imports {upward[0].target} at line {upward[0].line}"
