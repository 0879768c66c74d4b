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

The published notebook opens anywhere (:func:`readable`): myst-nb's glue keeps values and figures
out of sight (``glue(..., display=False)`` records them under ``application/papermill.record/``)
and the prose points at them with ``{glue:...}`` roles and directives that only the book resolves.
Every role is replaced by its value, formatted as the page formats it; a ``{glue:md}`` value
becomes Markdown; a ``{glue:figure}`` becomes an ordinary image output (``image/png`` and/or
``image/svg+xml``) in a code cell where the directive sits, its caption numbered as on the site.
A Markdown output of a code cell (``ddlib.book.pages``' boxes) is resolved the same way, a
figure in it becoming an image output of that cell. Other MyST directives (a claim, a dropdown)
become their title in bold and their content, cross-reference roles their text.

Enabled in ``_config.yml`` (``sphinx.local_extensions``); a missing executed notebook or an
unresolvable glue key is a Sphinx warning, which the strict book build (``-W``) turns into an error.
"""
from __future__ import annotations

import copy
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

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

GLUE_PREFIX = "application/papermill.record/"
IMAGES = ("image/svg+xml", "image/png", "image/jpeg", "image/gif")
FIGURE_FORMAT = "Fig. %s"  # Sphinx's numfig_format for figures
# A glue role: {glue}`key`, {glue:}`key`, {glue:any}`key`, {glue:text}`key:fmt`, {glue:md}`key:myst`.
ROLE = re.compile(r"\{(?P<role>glue(?::(?:any|text|md)?)?)\}`(?P<text>[^`]+)`")
NUMREF = re.compile(r"\{numref\}`(?:(?P<title>[^`<]*?)\s*<(?P<target>[^`<>]+)>|(?P<name>[^`<>]+))`")
# A cross-reference role, shown as its text in a notebook: {doc}`text <target>`, {download}`x <f>`, {prf:ref}`l`.
XREF = re.compile(r"\{(?:doc|download|ref|prf:ref|term)\}`"
                  r"(?:(?P<title>[^`<]*?)\s*<(?P<target>[^`<>]+)>|(?P<name>[^`<>]+))`")
# The opening line of a fenced directive: ```{name} argument  or  :::{name} argument.
FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\s*(?:\{(?P<name>[^}\s]+)\}\s*(?P<arg>.*?)|(?P<lang>[^`{]*?))\s*$")
CODE_DIRECTIVES = ("code-block", "code", "code-cell", "sourcecode")


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


class GlueError(ValueError):
    """A glue role or directive the executed notebook cannot resolve (unknown key, wrong type)."""


@dataclass
class _Figure:
    """A ``{glue:figure}`` (or an image pasted by ``{glue}``): its key, caption and options."""

    key: str
    glued: Mapping[str, Any]  # its entry in the glue store: data and metadata
    caption: str = ""
    options: dict[str, str] = field(default_factory=dict)


_Piece = Union[str, _Figure]


def glue_store(nb: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """Every value the notebook glued, by name: its mime bundle with the record prefix removed
    (``data``) and its output metadata without the scrapbook entry (``metadata``)."""
    store = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            scrap = output.get("metadata", {}).get("scrapbook")
            if not scrap:
                continue
            prefix = len(scrap.get("mime_prefix", ""))
            meta = {k: v for k, v in output.get("metadata", {}).items() if k != "scrapbook"}
            store[scrap["name"]] = nbformat.NotebookNode(
                data={k[prefix:]: v for k, v in output.get("data", {}).items()}, metadata=meta)
    return store


class _Resolver:
    """Resolves the glue of one notebook from its store (and other notebooks' for ``doc::key``)."""

    def __init__(self, store: Mapping[str, Any], other: Optional[Callable[[str], Mapping[str, Any]]]):
        self.store, self.other, self.errors = store, other, []

    def entry(self, key: str) -> Optional[Mapping[str, Any]]:
        """The glue store's entry of ``key`` (``doc::key`` looks in another notebook); None and an
        error when there is none."""
        store = self.store
        if "::" in key:
            doc, key = key.split("::", 1)
            store = self.other(doc) if self.other else {}
        if key not in store:
            self.errors.append(f"no glued value {key!r}")
            return None
        return store[key]

    def bundle(self, key: str) -> Optional[Mapping[str, Any]]:
        """The glued mime bundle of ``key`` (None and an error when there is none)."""
        entry = self.entry(key)
        return None if entry is None else entry["data"]

    def role(self, match: re.Match) -> str:
        """The text a glue role stands for, formatted as myst-nb formats it on the page."""
        from myst_nb.core.variables import format_plain_text

        role, text = match["role"], match["text"]
        if role == "glue:text":
            key, _, spec = text.rpartition(":") if ":" in text.replace("::", "") else (text, "", "s")
            data = self.bundle(key)
            if data is None:
                return ""
            if "text/plain" not in data:
                self.errors.append(f"{{glue:text}} of {key!r}: no text/plain value")
                return ""
            try:
                return format_plain_text(data["text/plain"], spec)
            except (ValueError, TypeError) as exc:
                self.errors.append(f"{{glue:text}} of {key!r} with format {spec!r}: {exc}")
                return ""
        if role == "glue:md":
            key = text.rsplit(":", 1)[0] if text.rsplit(":", 1)[-1] in ("myst", "commonmark", "gfm") else text
            data = self.bundle(key)
            if data is not None and "text/markdown" not in data:
                self.errors.append(f"{{glue:md}} of {key!r}: no text/markdown value")
            return "" if data is None else data.get("text/markdown", "")
        data = self.bundle(text)  # {glue}, {glue:}, {glue:any}: the best inline mime type
        if data is None:
            return ""
        for mime in ("text/markdown", "text/latex", "text/plain"):
            if mime in data:
                return data[mime]
        self.errors.append(f"{{glue}} of {text!r}: nothing to show inline (an image needs {{glue:figure}})")
        return ""

    def directive(self, name: str, key: str, options: dict[str, str], body: str) -> list[_Piece]:
        """The pieces a glue directive stands for: Markdown text or a figure."""
        entry = self.entry(key)
        if entry is None:
            return []
        data = entry["data"]
        if name == "glue:figure" or (name in ("glue", "glue:", "glue:any") and any(m in data for m in IMAGES)):
            if not any(m in data for m in IMAGES):
                self.errors.append(f"{{glue:figure}} of {key!r}: no image")
                return []
            return [_Figure(key, entry, self.roles(body.strip()), options)]
        if name == "glue:math":
            if "text/latex" not in data:
                self.errors.append(f"{{glue:math}} of {key!r}: no text/latex value")
                return []
            return ["$$\n" + data["text/latex"].strip().strip("$").strip() + "\n$$"]
        if name == "glue:md" and "text/markdown" not in data:
            self.errors.append(f"{{glue:md}} of {key!r}: no text/markdown value")
            return []
        for mime in ("text/markdown", "text/latex", "text/html"):
            if mime in data:
                return [data[mime]]
        return ["```\n" + data.get("text/plain", "") + "\n```"]

    def roles(self, text: str) -> str:
        """Glue roles replaced by their values; cross-reference roles by their text."""
        return XREF.sub(lambda m: m["title"] or m["target"] or m["name"], ROLE.sub(self.role, text))

    def pieces(self, markdown: str) -> list[_Piece]:
        """``markdown`` with its glue resolved: Markdown strings and figures, in order (glue inside
        code blocks is left alone)."""
        lines, out, done, prose, i = markdown.split("\n"), [], [], [], 0

        def flush() -> None:  # the prose so far, its roles resolved, joins what is done
            if prose:
                done.extend(self.roles("\n".join(prose)).split("\n"))
                prose.clear()

        while i < len(lines):
            opening = FENCE.match(lines[i])
            if not opening:
                prose.append(lines[i])
                i += 1
                continue
            fence = opening["fence"]
            end = next((j for j in range(i + 1, len(lines))
                        if re.fullmatch(re.escape(fence[0]) + "{%d,}\\s*" % len(fence), lines[j])), len(lines))
            name = opening["name"] or ""
            flush()
            if not name or name in CODE_DIRECTIVES:  # code: left as written
                done.extend(lines[i:end + 1])
                i = end + 1
                continue
            options, body = _options(lines[i + 1:end])
            out.append("\n".join(done))
            done = []
            if re.fullmatch(r"glue(?::(?:any|figure|math|md)?)?", name):
                out.extend(self.directive(name, opening["arg"].strip(), options, body))
            else:  # another directive (a claim, a dropdown, a note): its title in bold, then its content
                inner, title = self.pieces(body), _title(name, opening["arg"].strip())
                if inner and isinstance(inner[0], str):  # the title opens the first paragraph
                    inner[0] = f"{title} {inner[0].lstrip()}".strip()
                else:
                    inner.insert(0, title)
                out.extend(inner)
            i = end + 1
        flush()
        out.append("\n".join(done))
        return [p for p in out if not isinstance(p, str) or p.strip()]


def _title(name: str, argument: str) -> str:
    """A directive's title as plain Markdown: ``{prf:conjecture} C2.1`` -> **Conjecture C2.1.**"""
    kind = name.split(":")[-1]
    if kind in ("admonition", "dropdown"):
        return f"**{argument}**" if argument else ""
    return f"**{kind.capitalize()}{' ' + argument if argument else ''}.**"


def _options(lines: list[str]) -> tuple[dict[str, str], str]:
    """A directive's ``:key: value`` options (or its ``---`` YAML block) and the content after them."""
    options, i = {}, 0
    if lines and lines[0].strip() == "---":
        import yaml

        end = next((j for j in range(1, len(lines)) if lines[j].strip() == "---"), len(lines))
        options = {str(k): str(v) for k, v in (yaml.safe_load("\n".join(lines[1:end])) or {}).items()}
        i = end + 1
    while i < len(lines) and (m := re.match(r"^:([\w-]+):\s*(.*)$", lines[i])):
        options[m[1]] = m[2].strip()
        i += 1
    return options, "\n".join(lines[i:])


def _figure_names(pieces: list[list[_Piece]]) -> list[str]:
    return [p.options["name"] for group in pieces for p in group if isinstance(p, _Figure) and "name" in p.options]


def _image_output(figure: _Figure, label: str) -> nbformat.NotebookNode:
    """The figure as an ordinary display output: its image types, and its alt text as text/plain."""
    data, metadata = figure.glued["data"], figure.glued["metadata"]
    images = {m: data[m] for m in IMAGES if m in data}
    alt = figure.options.get("alt") or (f"{label}: {figure.key}" if label else figure.key)
    meta = {m: v for m, v in metadata.items() if m in images}
    return nbformat.v4.new_output("display_data", data={**images, "text/plain": alt}, metadata=meta)


def readable(nb: nbformat.NotebookNode, numbers: Optional[Mapping[str, str]] = None,
             other: Optional[Callable[[str], Mapping[str, Any]]] = None,
             figure_format: str = FIGURE_FORMAT) -> nbformat.NotebookNode:
    """A copy of the executed notebook ``nb`` that shows in plain Jupyter what its page shows.

    Glue roles become their values; a ``{glue:figure}`` in a Markdown cell becomes a code cell
    (its input hidden, a comment saying where the figure comes from) with the image as a display
    output, followed by its caption; in a Markdown output, the image becomes an output of the
    same cell. ``{numref}`` to those figures becomes their label.

    Args:
        nb: the executed notebook (not modified).
        numbers: figure name (or its HTML id) -> its number on the site ("12"); by default the
            named figures are numbered 1, 2, ... in order.
        other: returns the glue store (:func:`glue_store`) of another notebook, for ``doc::key``.
        figure_format: a figure's label, ``%s`` standing for its number.

    Raises:
        GlueError: a key that was never glued, or a value of the wrong type (every problem, one line).
    """
    nb = copy.deepcopy(nb)
    resolver = _Resolver(glue_store(nb), other)
    split: list[list[_Piece]] = []  # per Markdown cell or Markdown output, in notebook order
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            split.append(resolver.pieces(cell.source))
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if "text/markdown" in output.get("data", {}) and output.output_type in ("display_data", "execute_result"):
                split.append(resolver.pieces(output.data["text/markdown"]))
    if resolver.errors:
        shown = list(dict.fromkeys(resolver.errors))
        raise GlueError("; ".join(shown[:5]) + (f" (and {len(shown) - 5} more)" if len(shown) > 5 else ""))
    names = _figure_names(split)
    if numbers is None:
        numbers = {name: str(i) for i, name in enumerate(names, 1)}
    labels = {n: figure_format % num for n in names if (num := numbers.get(n) or numbers.get(nodes.make_id(n)))}
    groups = iter(split)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cells.extend(_markdown_cells(cell, next(groups), labels, nb.nbformat_minor))
            continue
        if cell.cell_type == "code":
            outputs = []
            for output in cell.get("outputs", []):
                if "text/markdown" in output.get("data", {}) and output.output_type in ("display_data",
                                                                                          "execute_result"):
                    outputs.extend(_markdown_outputs(output, next(groups), labels))
                else:
                    outputs.append(output)
            cell.outputs = outputs
        cells.append(cell)
    nb.cells = cells
    return nb


def _numref(text: str, labels: Mapping[str, str]) -> str:
    """``{numref}`` roles to the notebook's figures replaced by their labels ("Fig. 12")."""
    def one(m: re.Match) -> str:
        target = m["target"] or m["name"]
        if target not in labels:
            return m[0]
        number = labels[target].split()[-1]
        return m["title"].replace("%s", number) if m["title"] else labels[target]

    return NUMREF.sub(one, text)


def _caption(figure: _Figure, labels: Mapping[str, str], numref: Callable[[str], str]) -> str:
    label = labels.get(figure.options.get("name", ""), "")
    return numref((f"**{label}.** " if label else "") + figure.caption).strip()


def _markdown_cells(cell: nbformat.NotebookNode, pieces: list[_Piece], labels: Mapping[str, str],
                    minor: int) -> list[nbformat.NotebookNode]:
    """A Markdown cell as Markdown cells and figure cells (the figure where its directive was)."""
    numref = lambda text: _numref(text, labels)  # noqa: E731
    out, text = [], []

    def flush() -> None:
        if text:
            md = nbformat.v4.new_markdown_cell("\n\n".join(text), metadata=copy.deepcopy(cell.metadata))
            if cell.get("attachments"):
                md.attachments = copy.deepcopy(cell.attachments)
            out.append(md)
            text.clear()

    for piece in pieces:
        if isinstance(piece, str):
            text.append(numref(piece).strip("\n"))
            continue
        flush()
        label = labels.get(piece.options.get("name", ""), "")
        figure = nbformat.v4.new_code_cell(
            f"# {label or 'Figure'}: the figure glued as {piece.key!r} by the code above, shown where the page "
            f"shows it", metadata={"tags": ["remove-input"], "jupyter": {"source_hidden": True}})
        figure.outputs = [_image_output(piece, label)]
        out.append(figure)
        if piece.caption or label:
            text.append(_caption(piece, labels, numref))
    flush()
    if len(out) == 1 and out[0].cell_type == "markdown":  # nothing split: keep the cell's id
        out[0]["id"] = cell.get("id", out[0]["id"])
    if minor < 5:  # cell ids came with nbformat 4.5
        for c in out:
            c.pop("id", None)
    return out


def _markdown_outputs(output: nbformat.NotebookNode, pieces: list[_Piece],
                      labels: Mapping[str, str]) -> list[nbformat.NotebookNode]:
    """A Markdown output as Markdown and image outputs."""
    numref = lambda text: _numref(text, labels)  # noqa: E731
    if all(isinstance(p, str) for p in pieces):
        resolved = copy.deepcopy(output)
        resolved.data["text/markdown"] = "\n\n".join(numref(p).strip("\n") for p in pieces)
        return [resolved]
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(nbformat.v4.new_output("display_data", data={"text/markdown": numref(piece).strip("\n"),
                                                                    "text/plain": "<Markdown>"}))
            continue
        out.append(_image_output(piece, labels.get(piece.options.get("name", ""), "")))
        if piece.caption:
            out.append(nbformat.v4.new_output("display_data", data={
                "text/markdown": _caption(piece, labels, numref), "text/plain": "<Markdown>"}))
    return out


def figure_numbers(app: Sphinx, docname: str) -> dict[str, str]:
    """The figure numbers Sphinx gave the page, by figure id ("fig-00-mse" -> "1")."""
    numbers = getattr(app.env, "toc_fignumbers", {}).get(docname, {}).get("figure", {})
    return {fid: ".".join(map(str, number)) for fid, number in numbers.items()}


def _figure_format(app: Sphinx) -> str:
    config = getattr(app, "config", None)
    return (getattr(config, "numfig_format", None) or {}).get("figure", FIGURE_FORMAT)


def _other_store(app: Sphinx, docname: str, doc: str) -> dict[str, Any]:
    """The glue store of the notebook page ``doc`` (relative to ``docname``, as ``doc::key`` writes it)."""
    other = posixpath.splitext(posixpath.normpath(posixpath.join(posixpath.dirname(docname), doc)))[0]
    nb = executed_content(app, other)
    return glue_store(nb) if nb is not None else {}


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
    try:
        nb = readable(nb, figure_numbers(app, docname), other=lambda doc: _other_store(app, docname, doc),
                      figure_format=_figure_format(app))
    except GlueError as exc:
        logger.warning("the executed notebook of %s keeps unresolved glue: %s", docname, exc, location=docname)
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
