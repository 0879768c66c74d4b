"""The whole book as one PDF, made offline from the built site (``make pdf``, after ``make book``).

Headless Chromium (Debian's, through Playwright: :mod:`booksite.browser`) opens every page of
``_toc.yml`` in order from a local server, waits for MathJax and the explorer's plots, and prints
it (``page.pdf``, print media: the theme hides its navigation); pypdf merges the pages into
``_build/pdf/ddlib-book.pdf`` with one bookmark per page, and a copy goes into the site as
``_downloads/ddlib-book.pdf``. Requests that would leave the site are blocked.

As a Sphinx extension (``_config.yml``) this module gives the directive ``{ddlib-pdf-link}``: a
link to ``_downloads/ddlib-book.pdf`` when ``_build/pdf/ddlib-book.pdf`` exists at build time (it is
copied into the site then), else a sentence saying how to make it -- never a link to a missing file.

Usage::

    python -m booksite.pdf [--html _build/html] [--toc _toc.yml] [--out _build/pdf/ddlib-book.pdf]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

from docutils import nodes
from docutils.parsers.rst import Directive

from .browser import CHROMIUM_ARGS, BrowserUnavailable, find_chromium, require_playwright
from .pages import toc_pages
from .serve import serve_directory

PDF_NAME = "ddlib-book.pdf"
DEFAULT_OUT = Path("_build/pdf") / PDF_NAME
SITE_COPY = Path("_downloads") / PDF_NAME  # inside the built site
# Ready to print: MathJax done (when the page has it), the explorer drawn (when it has one).
_READY_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  if (document.querySelector('.ddlib-explorer')) {
    const t0 = Date.now();
    while (!(window.ddlibExplorer && (window.ddlibExplorer.ready || window.ddlibExplorer.error))
           && Date.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 100));
  }
  return document.title;
}"""


def _inside(url: str, base: str) -> bool:
    return url.startswith(base + "/") or url == base or url.startswith(("data:", "blob:", "about:"))


def print_pages(html_dir: Path, pages: Sequence[str], out_dir: Path, *, timeout_s: float = 60.0) -> list[tuple[str, Path]]:
    """Print each page (docname) of the site in ``html_dir`` to ``out_dir/NNN.pdf``; returns
    (title, path) per page, in order. Raises :class:`BrowserUnavailable` without Chromium."""
    html_dir = Path(html_dir).resolve()
    missing = [p for p in pages if not (html_dir / f"{p}.html").is_file()]
    if missing:
        raise FileNotFoundError(f"not in {html_dir}: {', '.join(p + '.html' for p in missing)} (run make book)")
    require_playwright()
    chromium = find_chromium()
    from playwright.sync_api import sync_playwright

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    printed: list[tuple[str, Path]] = []
    with serve_directory(html_dir) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), headless=True, args=list(CHROMIUM_ARGS))
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.route("**/*", lambda route: route.continue_() if _inside(route.request.url, base)
                      else route.abort("blockedbyclient"))
            for k, page in enumerate(pages):
                tab.goto(f"{base}/{page}.html", wait_until="load", timeout=timeout_s * 1000)
                title = tab.evaluate(_READY_JS) or page
                tab.emulate_media(media="print")
                path = out_dir / f"{k:03d}.pdf"
                tab.pdf(path=str(path), format="A4", print_background=True,
                        margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"})
                tab.emulate_media(media="screen")
                printed.append((title.split(" \u2014 ")[0].strip() or page, path))  # "Page — Book"
        finally:
            browser.close()
    return printed


def merge(parts: Sequence[tuple[str, Path]], out: Path) -> Path:
    """Concatenate the PDFs ``parts`` (title, path) into ``out``, one top-level bookmark per part."""
    from pypdf import PdfReader, PdfWriter

    if not parts:
        raise ValueError("nothing to merge")
    writer = PdfWriter()
    for title, path in parts:
        start = len(writer.pages)
        reader = PdfReader(str(path))
        for pdf_page in reader.pages:
            writer.add_page(pdf_page)
        writer.add_outline_item(title=title, page_number=start)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:
        writer.write(handle)
    return out


def build_pdf(html_dir: Path, pages: Sequence[str], out: Path = DEFAULT_OUT, *, site_copy: bool = True) -> Path:
    """Print ``pages`` of the built site and merge them into ``out`` (and ``<html>/_downloads/``)."""
    with tempfile.TemporaryDirectory(prefix="ddlib-pdf-") as tmp:
        merged = merge(print_pages(html_dir, pages, Path(tmp)), out)
    if site_copy:
        target = Path(html_dir) / SITE_COPY
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(merged, target)
    return merged


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booksite.pdf", description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=Path("_build/html"), help="the built site")
    parser.add_argument("--toc", type=Path, default=Path("_toc.yml"), help="the pages, in order")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-site-copy", action="store_true", help=f"do not copy it to <html>/{SITE_COPY}")
    args = parser.parse_args(argv)
    try:
        pages = toc_pages(args.toc)
        out = build_pdf(args.html, pages, args.out, site_copy=not args.no_site_copy)
    except (BrowserUnavailable, FileNotFoundError, ValueError, OSError) as exc:
        print(f"pdf: {exc}", file=sys.stderr)
        return 2
    from pypdf import PdfReader

    print(f"pdf: {len(pages)} pages of the site, {len(PdfReader(str(out)).pages)} PDF pages: {out}")
    return 0


# ----------------------------------------------------------------------------------------------
# The Sphinx side: the link to the PDF
# ----------------------------------------------------------------------------------------------

def built_pdf(outdir: Path) -> Path:
    """Where ``make pdf`` leaves the PDF, for a site built into ``outdir`` (``_build/html``)."""
    return Path(outdir).parent / "pdf" / PDF_NAME


class PdfLinkDirective(Directive):
    """``{ddlib-pdf-link}``: a link to the whole-book PDF when it exists at build time, else how to make it."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        source = built_pdf(Path(env.app.outdir))
        para = nodes.paragraph()
        if source.is_file():
            env.note_dependency(str(source))
            up = "../" * env.docname.count("/")
            para += nodes.reference("", "The whole book as one PDF", refuri=f"{up}{SITE_COPY.as_posix()}")
            para += nodes.Text(" (printed from this site by ")
            para += nodes.literal("", "make pdf")
            para += nodes.Text(").")
        else:
            para += nodes.Text("The whole book as one PDF: run ")
            para += nodes.literal("", "make pdf")
            para += nodes.Text(" after ")
            para += nodes.literal("", "make book")
            para += nodes.Text("; it prints every page of the built site with headless Chromium into ")
            para += nodes.literal("", f"_build/pdf/{PDF_NAME}")
            para += nodes.Text(" and copies it into the site, where the next build links it from here.")
        return [para]


def _copy_into_site(app: Any) -> None:
    """builder-inited: copy an existing PDF into the site's _downloads/ so the link resolves."""
    source = built_pdf(Path(app.outdir))
    if app.builder.format == "html" and source.is_file():
        target = Path(app.outdir) / SITE_COPY
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("ddlib-pdf-link", PdfLinkDirective)
    app.connect("builder-inited", _copy_into_site)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    sys.exit(main())
