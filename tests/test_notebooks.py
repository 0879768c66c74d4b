"""Every notebook converts with jupytext, keeps its parameters tag, declares the common
parameters papermill can read, and asserts something. (Execution is nbval's job in `make test`.)"""
from __future__ import annotations

import logging
from pathlib import Path

import jupytext
import pytest
from papermill.translators import PythonTranslator

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.md"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_tagged_parameters_after_conversion(path, tmp_path):
    out = tmp_path / f"{path.stem}.ipynb"
    jupytext.write(jupytext.read(path), out, fmt="ipynb")
    nb = jupytext.read(out)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), code[0].metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_readable_by_papermill(path, caplog):
    nb = jupytext.read(path)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    with caplog.at_level(logging.WARNING, logger="papermill"):
        names = {p.name for p in PythonTranslator.inspect(cell)}
    assert not [r for r in caplog.records if "Unable to parse" in r.getMessage()], caplog.text
    assert {"profile", "seed", "results_dir"} <= names
    assert 'profile = "book"' in cell.source  # the site executes the book profile


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_asserts_and_writes_results(path):
    nb = jupytext.read(path)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "assert " in source
    assert "write_notebook_results(" in source and "check_findings(" in source


# ---- helpers live once; parameters are declared once ------------------------------------------------

import ast  # noqa: E402
import re  # noqa: E402

SHARED_HELPERS = ("plain_log", "reading", "interval", "READ", "gmean")


def _defined(path) -> set[str]:
    """Top-level functions and constants a notebook defines in its code cells."""
    names = set()
    for cell in jupytext.read(path).cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.parse(source).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_no_notebook_defines_a_helper_another_notebook_also_defines():
    defined = {p.stem: _defined(p) for p in NOTEBOOKS}
    shared = {n for a in defined for b in defined if a < b for n in defined[a] & defined[b]}
    assert shared == set(), shared


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_page_helpers_live_once_in_ddlib_not_in_a_notebook(path):
    source = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code")
    for name in SHARED_HELPERS:
        assert not re.search(rf"^(def {name}\(|{name} = )", source, re.M), name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_parameters_cell_declares_only_the_common_names_the_rest_is_declared_once(path):
    nb = jupytext.read(path)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert {p.name for p in PythonTranslator.inspect(cell)} == {"profile", "seed", "results_dir"}
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "given(globals(), PROFILES)" in source and "explicit = dict(" not in source
