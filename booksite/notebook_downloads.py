"""Sphinx extension: publish the executed notebook of each notebook page next to the site.

The download button of sphinx-book-theme offers only a page's source (the MyST ``.md``). This
extension writes the page's executed notebook, with every output the page shows, to
``<html>/_notebooks/<name>.ipynb`` and adds it to the page's download dropdown as ".ipynb
(executed)". It starts from the notebook myst-nb wrote to ``_build/jupyter_execute/<docname>.ipynb``;
in ``cache`` execution mode myst-nb writes it *without* outputs (it saves the notebook it read, not
the one it merged with the cache), so the outputs are merged in from the execution cache, exactly as
myst-nb does for the page itself. A notebook page links to its own executed notebook
with the relative URL ``../_notebooks/<name>.ipynb`` (:data:`URL_PATTERN`, for pages in
``notebooks/``), also as a plain Markdown link ``[...](../_notebooks/<name>.ipynb)`` in the page or
in a Markdown output: MyST would take such a link for a missing cross-reference, so
:class:`ExecutedNotebookLinks` turns it into a plain link first. Names must be unique across the
book: the folder is flat, so the URL stays short.

Enabled in ``_config.yml`` (``sphinx.local_extensions``); a missing executed notebook is a Sphinx
warning, which the strict book build (``-W``) turns into an error.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import nbformat
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

FOLDER = "_notebooks"
URL_PATTERN = "../_notebooks/{name}.ipynb"  # relative to a page in notebooks/
BUTTON_LABEL = "download-executed-notebook-button"
LINK = re.compile(r"(\.\./)*" + FOLDER + r"/[^/]+\.ipynb")

logger = logging.getLogger(__name__)


def executed_notebook(app: Sphinx, docname: str) -> Path:
    """Where myst-nb wrote the executed notebook of ``docname`` (it need not exist)."""
    return Path(app.outdir).parent / "jupyter_execute" / f"{docname}.ipynb"


def _is_notebook_page(app: Sphinx, docname: str) -> bool:
    """A page myst-nb read as a notebook: its metadata carries a kernelspec."""
    return "kernelspec" in app.env.metadata.get(docname, {})


def _has_outputs(nb: nbformat.NotebookNode) -> bool:
    return any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")


def executed_content(app: Sphinx, docname: str) -> Optional[nbformat.NotebookNode]:
    """The executed notebook of ``docname``: as myst-nb wrote it when it has outputs, else merged
    with its record in the execution cache. None (and a warning) when neither is there."""
    source = executed_notebook(app, docname)
    if not source.is_file():
        logger.warning("no executed notebook for %s at %s", docname, source, location=docname)
        return None
    nb = nbformat.read(source, as_version=4)
    if _has_outputs(nb):
        return nb
    cache_path = getattr(getattr(app.env, "mystnb_config", None), "execution_cache_path", "")
    if not cache_path:
        return nb  # nothing was cached: the notebook has no outputs to add
    from jupyter_cache import get_cache

    try:
        return get_cache(cache_path).merge_match_into_notebook(nb)[1]
    except KeyError:
        logger.warning("no record of %s in the execution cache %s", docname, cache_path, location=docname)
        return None


def publish(app: Sphinx, docname: str) -> Optional[str]:
    """Write the executed notebook of ``docname`` into the site; returns its path in the site."""
    name = Path(docname).name
    owner = app.env.booksite_notebook_names.setdefault(name, docname)
    if owner != docname:
        logger.warning("two notebook pages named %s (%s, %s): %s/ is flat", name, owner, docname, FOLDER,
                       location=docname)
        return None
    nb = executed_content(app, docname)
    if nb is None:
        return None
    target = Path(app.outdir) / FOLDER / f"{name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return f"{FOLDER}/{name}.ipynb"


def add_download(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any],
                 doctree: Any) -> None:
    """html-page-context: publish the page's executed notebook and list it under 'download'."""
    if doctree is None or not _is_notebook_page(app, pagename):
        return
    site_path = publish(app, pagename)
    if site_path is None:
        return
    entry = {"type": "link", "url": context["pathto"](site_path, 1), "text": ".ipynb (executed)",
             "tooltip": "Download the executed notebook", "icon": "fas fa-code", "label": BUTTON_LABEL}
    for button in context.get("header_buttons", []):
        if button.get("label") == "download-buttons":
            button["buttons"].insert(0, entry)
            return
    logger.warning("no download dropdown on %s to add the executed notebook to", pagename, location=pagename)


class ExecutedNotebookLinks(SphinxPostTransform):
    """Markdown links to ``../_notebooks/<name>.ipynb`` become plain links (before MyST, priority 9,
    reports them as unresolved cross-references; the file is written at page-writing time)."""

    default_priority = 8

    def run(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") == "myst" and LINK.fullmatch(node.get("reftarget", "")):
                link = nodes.reference("", "", *node.children, refuri=node["reftarget"], internal=False)
                node.replace_self(link)


def _reset(app: Sphinx) -> None:
    """builder-inited: forget the names published by an earlier build."""
    app.env.booksite_notebook_names = {}


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _reset)
    app.add_post_transform(ExecutedNotebookLinks)
    # After sphinx-book-theme (priority 501) has built the download dropdown.
    app.connect("html-page-context", add_download, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": False}
