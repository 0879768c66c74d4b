"""Sphinx extension: a build stamp in every page's footer -- the ddlib version, the git commit and
the build date -- so a printed or saved page says which library and which data made it; and the
directive ``{ddlib-cite}``, the BibTeX of the paper (its entry in ``book/references.bib``, verbatim)
and of this companion (made from the same stamp: version, commit, year).

The date is ``SOURCE_DATE_EPOCH`` when the environment sets it (reproducible builds), else the
commit's date, else (no git: a source archive) today's date, labelled as such. The commit comes
from :func:`ddlib.provenance.git_sha` ("unknown" without git; "-dirty" with uncommitted changes).
Enabled in ``_config.yml`` (``sphinx.local_extensions``); the stamp is appended to the theme's
``extra_footer``.
"""
from __future__ import annotations

import datetime as dt
import html
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.application import Sphinx

ROOT = Path(__file__).resolve().parent.parent
SHORT = 7  # characters of the commit shown


@dataclass(frozen=True)
class Stamp:
    """What the footer says: version, commit (short, "-dirty" kept), date and where the date came from."""

    version: str
    commit: str
    date: str
    date_source: str  # "SOURCE_DATE_EPOCH", "commit" or "build"

    def text(self) -> str:
        label = {"SOURCE_DATE_EPOCH": "SOURCE_DATE_EPOCH", "commit": "commit date", "build": "build date"}
        return f"Built with ddlib {self.version} · commit {self.commit} · {self.date} ({label[self.date_source]})"

    def html(self) -> str:
        return f'<p class="ddlib-build-stamp">{html.escape(self.text())}</p>'


def _short(sha: str) -> str:
    """``0123abcd...-dirty`` -> ``0123abc-dirty``; "unknown" stays."""
    if sha == "unknown":
        return sha
    head, dirty = (sha[:-6], "-dirty") if sha.endswith("-dirty") else (sha, "")
    return head[:SHORT] + dirty


def commit_time(root: Path = ROOT) -> Optional[int]:
    """The committer time of HEAD (seconds since the epoch), None without git or a repository."""
    try:
        out = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        return int(out) if out else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def build_stamp(environ: Mapping[str, str] = os.environ, root: Path = ROOT,
                now: Optional[dt.datetime] = None) -> Stamp:
    """The stamp of a build from ``root``: SOURCE_DATE_EPOCH, else the commit date, else ``now``."""
    from ddlib._version import __version__
    from ddlib.provenance import git_sha

    epoch = environ.get("SOURCE_DATE_EPOCH", "").strip()
    when, source = None, "build"
    if epoch:
        try:
            when, source = int(epoch), "SOURCE_DATE_EPOCH"
        except ValueError:
            raise ValueError(f"SOURCE_DATE_EPOCH must be an integer (seconds), got {epoch!r}") from None
    if when is None:
        when = commit_time(root)
        source = "commit" if when is not None else "build"
    moment = (dt.datetime.fromtimestamp(when, dt.timezone.utc) if when is not None
              else (now or dt.datetime.now(dt.timezone.utc)))
    return Stamp(__version__, _short(git_sha()), moment.strftime("%Y-%m-%d"), source)


def bib_entry(text: str, key: str) -> str:
    """The BibTeX entry ``key`` of a .bib file's text, verbatim (braces matched); KeyError if absent."""
    start = re.search(r"@\w+\s*\{\s*" + re.escape(key) + r"\s*,", text)
    if start is None:
        raise KeyError(f"no BibTeX entry {key!r}")
    depth = 0
    for i in range(text.index("{", start.start()), len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start.start():i + 1]
    raise KeyError(f"BibTeX entry {key!r} is not closed")


def companion_entry(stamp: Stamp, title: str, author: str, key: str = "ddlib") -> str:
    """The BibTeX of this companion: its title and authors from the book's configuration, the
    version, commit and year from the build stamp."""
    return (f"@software{{{key},\n"
            f"  title   = {{{title}}},\n"
            f"  author  = {{{{{author}}}}},\n"
            f"  year    = {{{stamp.date[:4]}}},\n"
            f"  version = {{{stamp.version}}},\n"
            f"  note    = {{commit {stamp.commit}}}\n"
            f"}}")


class CiteDirective(Directive):
    """``{ddlib-cite}`` with ``:key:`` (the paper's entry in the book's .bib files): two BibTeX blocks."""

    has_content = False
    option_spec = {"key": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        key = self.options.get("key", "kinoshita2026dataset")
        paper = None
        for bib in env.config.bibtex_bibfiles:
            path = Path(env.srcdir) / bib
            env.note_dependency(str(path))
            try:
                paper = bib_entry(path.read_text(encoding="utf-8"), key)
                break
            except KeyError:
                continue
        if paper is None:
            raise self.error(f"no BibTeX entry {key!r} in {env.config.bibtex_bibfiles}")
        stamp = getattr(env, "ddlib_build_stamp", None) or build_stamp()
        found = re.search(r"\btitle\s*=\s*\{(.*)\},?\s*$", paper, flags=re.M)
        about = f" A companion to ``{found.group(1)}''" if found else ""
        mine = companion_entry(stamp, f"{env.config.html_title or env.config.project}.{about}", env.config.author)
        box = nodes.container(classes=["ddlib-cite"])
        for label, text in (("The paper", paper), ("This companion (ddlib)", mine)):
            box += nodes.paragraph("", "", nodes.strong("", label))
            box += nodes.literal_block(text, text, language="bibtex")
        return [box]


CITE_CSS = "ddlib-cite.css"
# Long BibTeX fields wrap inside the column instead of scrolling (the text copied is unchanged).
_CSS = ".ddlib-cite pre { white-space: pre-wrap; overflow-wrap: anywhere; }\n"


def _add_css(app: Sphinx) -> None:
    """builder-inited: write the citation block's small stylesheet into _static and load it."""
    if app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / CITE_CSS).write_text(_CSS)
    app.add_css_file(CITE_CSS)


def _builder_inited(app: Sphinx) -> None:
    app.env.ddlib_build_stamp = build_stamp()  # type: ignore[attr-defined]


def add_stamp(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """html-page-context: append the stamp to the footer (the theme's ``extra_footer``)."""
    stamp: Stamp = getattr(app.env, "ddlib_build_stamp", None) or build_stamp()
    context["ddlib_build_stamp"] = stamp.text()
    context["theme_extra_footer"] = (context.get("theme_extra_footer") or "") + stamp.html()


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("ddlib-cite", CiteDirective)
    app.connect("builder-inited", _add_css)
    app.connect("builder-inited", _builder_inited)
    app.connect("html-page-context", add_stamp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
