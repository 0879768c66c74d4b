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
    assert "write_notebook_results(" in source and "enforce(" in source
