"""ddlib.book.layout: the three parts import one way, no circle, no ddlib import hidden inside a
function -- checked on ddlib itself, and shown to fail on small packages that break each rule."""
from __future__ import annotations

from pathlib import Path

import pytest

from ddlib.book import layout


def test_no_part_imports_against_the_order():
    bad = layout.wrong_way()
    assert not bad, [f"{i.source} ({layout.part_of(i.source)}) imports {i.target} ({layout.part_of(i.target)}), "
                     f"line {i.line}" for i in bad]


def test_there_is_no_import_circle():
    assert layout.circles() == []


def test_no_ddlib_import_hides_inside_a_function():
    assert [f"{i.source}:{i.line} -> {i.target}" for i in layout.inner_imports()] == []


def test_the_core_imports_neither_the_book_nor_the_command_line_and_only_the_command_line_imports_all():
    edges = layout.part_graph()
    assert not any(src == "core" and dst != "core" for src, dst in edges)
    assert {dst for src, dst in edges if src == "command line"} == set(layout.PARTS)
    assert ("book", "command line") not in edges and ("sweep", "book") not in edges


@pytest.mark.parametrize("module,part", [("ddlib", "core"), ("ddlib.tasks", "core"), ("ddlib.distillers.pipeline", "core"),
                                         ("ddlib.sweep.run", "sweep"), ("ddlib.book.claims", "book"),
                                         ("ddlib.experiments.memory_law", "book"), ("ddlib.cli.run", "command line"),
                                         ("ddlib.bookish", "core")])
def test_every_module_has_one_part(module, part):
    assert layout.part_of(module) == part


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "ddlib"
    for rel, text in {"__init__.py": "", "book/__init__.py": "", "cli/__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_core_module_importing_the_book_is_caught(tmp_path):
    root = _package(tmp_path, {"tasks.py": "from .book import claims\n", "book/claims.py": "x = 1\n"})
    bad = layout.wrong_way(layout.imports(root))
    assert [(i.source, i.target) for i in bad] == [("ddlib.tasks", "ddlib.book.claims")]


def test_a_circle_is_caught_even_when_one_side_imports_inside_a_function(tmp_path):
    root = _package(tmp_path, {"a.py": "from .b import f\n", "b.py": "def f():\n    from .a import g\n    return g\n"})
    found = layout.imports(root)
    assert layout.circles(layout.module_graph_of(found, root)) == [["ddlib.a", "ddlib.b"]]
    assert [(i.source, i.target) for i in layout.inner_imports(found)] == [("ddlib.b", "ddlib.a")]


# ---- no long function bodies ------------------------------------------------------------------------

import ast  # noqa: E402

MAX_BODY = 60  # lines of a function body, docstring excluded
LONG_ON_PURPOSE = "# long on purpose:"  # a comment above the def saying why (at most three in ddlib)


def _long_functions() -> list[tuple[str, str, int, bool]]:
    out = []
    for name, path in layout.modules().items():
        lines = path.read_text(encoding="utf8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                doc = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                start = body[1].lineno if doc and len(body) > 1 else body[0].lineno
                length = node.end_lineno - start + 1
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                documented = first >= 2 and lines[first - 2].strip().startswith(LONG_ON_PURPOSE)
                if length > MAX_BODY:
                    out.append((name, node.name, length, documented))
    return out


def test_no_function_body_is_longer_than_60_lines_but_for_at_most_three_documented_ones():
    long = _long_functions()
    assert [f for f in long if not f[3]] == []
    assert len(long) <= 3
