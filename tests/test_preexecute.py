"""booksite.preexecute: which pages it executes into the cache, in what order, and the reading
order it relies on (the verdicts page is read, hence executed, after the notebooks)."""
from __future__ import annotations

from pathlib import Path

from booksite.pages import toc_pages
from booksite.preexecute import cached_notebooks

ROOT = Path(__file__).resolve().parent.parent


def test_every_claim_notebook_is_pre_executed_slowest_first_and_the_verdicts_page_is_not():
    names = [p.stem for p in cached_notebooks(ROOT, ROOT / "_toc.yml")]
    # every claim notebook, and the "How ddlib is built" page, which draws the import graph at build time
    assert sorted(names) == sorted([p.stem for p in (ROOT / "notebooks").glob("*.md")] + ["design"])
    assert names[0] == "03_memory" and "verdicts" not in names


def test_the_verdicts_page_is_read_after_every_notebook():
    # Sphinx reads documents in sorted order of their names; the verdicts page reads the results
    # files the notebooks write while they are read, so it must sort after all of them.
    pages = toc_pages(ROOT / "_toc.yml")
    assert "summary/verdicts" in pages
    assert sorted(pages)[-1] == "summary/verdicts" or all(
        p < "summary/verdicts" for p in pages if p.startswith("notebooks/"))
    text = (ROOT / "summary" / "verdicts.md").read_text()
    assert "execution_mode: force" in text  # re-executed at every build, never served from the cache
