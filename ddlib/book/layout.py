"""How ddlib is built: its parts and its import graph, read from the source (nothing is imported).

ddlib has three parts and one piece of infrastructure beside them, with imports one way:

- **core**: the paper's mathematics and what a researcher imports -- tasks, networks, learners,
  distillers, baselines, selection, spectral sets, tuning, metrics, theory, statistics, the
  optimiser, validation, io, values, registries;
- **sweep**: resumable grids of point functions known by name (``ddlib.sweep``); it imports the core;
- **book**: what turns the core into the book's pages -- claims and verdicts, page helpers,
  results, the list of notebooks, and the experiments behind them (``ddlib.book``,
  ``ddlib.experiments``); it imports the core and the sweep;
- **command line**: ``ddlib run``, ``ddlib sweep``, ``ddlib evaluate`` (``ddlib.cli``); the only part
  that imports all the others.

``tests/test_layout.py`` fails on an import against that order, on a circle, and on an import of
ddlib placed inside a function (the way a circle hides); the "How ddlib is built" page draws the
graph at build time, so the picture cannot drift from the code.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

__all__ = ["PARTS", "ALLOWED", "Import", "modules", "imports", "part_of", "module_graph", "module_graph_of", "part_graph",
           "wrong_way", "circles", "inner_imports"]

PACKAGE = Path(__file__).resolve().parents[1]  # .../ddlib
# The parts, each a list of module-name prefixes (the longest prefix decides; "core" is the rest).
PARTS: dict[str, tuple[str, ...]] = {
    "core": ("ddlib",),
    "sweep": ("ddlib.sweep",),
    "book": ("ddlib.book", "ddlib.experiments"),
    "command line": ("ddlib.cli",),
}
# Which parts each part may import (itself included).
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "sweep": frozenset({"core", "sweep"}),
    "book": frozenset({"core", "sweep", "book"}),
    "command line": frozenset(PARTS),
}


@dataclass(frozen=True)
class Import:
    """One import of a ddlib module by another."""

    source: str
    target: str
    line: int
    in_function: bool


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package: dotted name -> source file (a package is its ``__init__``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _targets(name: str, path: Path, node: ast.AST, known: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
    elif node.module and node.module.split(".")[0] == "ddlib":
        base = node.module
    else:
        return []
    sub = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
    # `from . import x` imports module x; `from .m import f` imports module m
    return sub if sub and len(sub) == len(node.names) else ([base] + sub if base in known else sub)


def imports(root: Path = PACKAGE) -> list[Import]:
    """Every import of a ddlib module anywhere in ddlib's source, with where it stands."""
    known = modules(root)
    found = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf8"), str(path))
        inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(name, path, node, known):
                    if target != name:
                        found.append(Import(name, target, node.lineno, id(node) in inner))
    return found


def part_of(module: str) -> str:
    """The part a module belongs to (the longest matching prefix of ``PARTS``)."""
    best, length = "core", 0
    for part, prefixes in PARTS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = part, len(prefix)
    return best


def module_graph(found: Iterable[Import] | None = None) -> dict[str, set[str]]:
    """Module -> the ddlib modules it imports (ddlib's own source)."""
    return module_graph_of(found if found is not None else imports(), PACKAGE)


def module_graph_of(found: Iterable[Import], root: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports, for the package at ``root``."""
    graph: dict[str, set[str]] = {name: set() for name in modules(root)}
    for imp in found:
        graph.setdefault(imp.source, set()).add(imp.target)
    return graph


def part_graph(found: Iterable[Import] | None = None) -> dict[tuple[str, str], int]:
    """(importing part, imported part) -> the number of module-to-module imports between them."""
    counts: dict[tuple[str, str], int] = {}
    for source, targets in module_graph(found).items():
        for target in targets:
            key = (part_of(source), part_of(target))
            counts[key] = counts.get(key, 0) + 1
    return counts


def wrong_way(found: Iterable[Import] | None = None) -> list[Import]:
    """Every import from a part into one it may not import (``ALLOWED``)."""
    return [imp for imp in (found if found is not None else imports())
            if part_of(imp.target) not in ALLOWED[part_of(imp.source)]]


def circles(graph: dict[str, set[str]] | None = None) -> list[list[str]]:
    """The import circles: every strongly connected set of two or more modules (Tarjan)."""
    graph = graph if graph is not None else module_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth is bounded by the number of modules (about 70)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def inner_imports(found: Iterable[Import] | None = None) -> list[Import]:
    """Imports of ddlib placed inside a function (how an import circle is held open)."""
    return [imp for imp in (found if found is not None else imports()) if imp.in_function]
