"""Open every page of the built book in headless Chromium, as a reader would, and fail on what a
reader would see wrong.

For each page of ``_toc.yml`` the check serves ``_build/html`` on 127.0.0.1, loads the page in a
1280 px window, opens its dropdowns and asserts: every math node was typeset by MathJax and no raw
TeX is left; no MathJax error; every image loaded; no console error or uncaught exception; no
request leaves the site (such requests are blocked, so the check itself never reaches the network)
and none inside it fails; no element is wider than the content column, and no equation runs into
its number; the favicon is served; links within the site point at files that exist. It saves a
full-page screenshot of each page for a person to look at (the in-page half is probe.js).

Usage (``make check-site``)::

    python -m booksite.check [--html _build/html] [--toc _toc.yml] [--out _build/site-check]

Exit status 0: every page passed; 1: failures (each names its page and element); 2: the check could
not run (no Chromium, no Playwright, no built site), with a one-line reason.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence
from urllib.parse import unquote, urlsplit

from .browser import CHROMIUM_ARGS, BrowserUnavailable, find_chromium, require_playwright
from .pages import toc_pages
from .serve import serve_directory

# sphinx-book-theme's article: its content box is the text column.
DEFAULT_COLUMN = "article.bd-article"
PROBE_JS = (Path(__file__).with_name("probe.js")).read_text()
MAX_SHOWN = 8  # failures of one kind printed per page; the JSON report has them all


@dataclass(frozen=True)
class Failure:
    """One thing wrong on one page: ``kind`` groups them (raw-tex, too-wide, image, ...)."""

    page: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.message}"


@dataclass
class PageResult:
    """What the check saw on one page: its failures and where its screenshot is."""

    page: str
    url: str
    screenshot: Optional[Path] = None
    column_width: Optional[int] = None
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class SiteUnavailable(RuntimeError):
    """The built site is missing: nothing to check."""


def _screenshot_name(page: str) -> str:
    return page.replace("/", "-") + ".png"


def _inside(url: str, base: str) -> bool:
    """A URL the page may load: same origin as the local server, or an inline data/blob URL."""
    return url.startswith(base + "/") or url == base or url.startswith(("data:", "blob:", "about:"))


def _site_path(url: str, base: str) -> str:
    return url[len(base):] if url.startswith(base) else url


def _link_target(url: str, base: str, html_dir: Path) -> Optional[Path]:
    """The file a same-site link points at (None for links elsewhere or to the page itself)."""
    if not url.startswith(base + "/"):
        return None
    path = unquote(urlsplit(url).path).lstrip("/")
    target = html_dir / path
    return target / "index.html" if path == "" or path.endswith("/") else target


def _failures_from_probe(page: str, probe: dict[str, Any], base: str, html_dir: Path) -> list[Failure]:
    """Turn the in-page report of probe.js into failures naming the page and the element."""
    out: list[Failure] = []

    def add(kind: str, message: str) -> None:
        out.append(Failure(page, kind, message))

    if probe["mathjax"] == "timeout":
        add("mathjax", "MathJax did not finish typesetting in time")
    for item in probe["unrendered"]:
        add("raw-tex", f'math not typeset: {item["element"]} "{item["text"]}"')
    for item in probe["rawText"]:
        add("raw-tex", f'TeX delimiters in the page text: {item["element"]} "{item["text"]}"')
    for item in probe.get("reprs", []):
        add("repr", f'a Python object\'s repr in the page text (a glued value pasted with the wrong role?): '
                    f'{item["element"]} "{item["text"]}"')
    for item in probe["texErrors"]:
        add("tex-error", f'{item["element"]} "{item["text"]}": {item["message"]}')
    for item in probe["images"]:
        add("image", f'image did not load: {item["element"]} src={item["src"]}')
    column = probe["column"]
    if column is None:
        add("column", "no content column found on the page (layout changed?)")
    else:
        for item in probe["wide"]:
            add("too-wide", f'{item["element"]} "{item["text"]}": {item["width"]} px wide, '
                            f'column {column["width"]} px')
        for item in probe["overlaps"]:
            add("too-wide", f'{item["element"]} "{item["text"]}": {item["width"]} px wide, runs into its '
                            f'equation number ({item["room"]} px to the number)')
    for url in probe["links"]:
        target = _link_target(url, base, html_dir)
        if target is not None and not target.is_file():
            add("link", f"link to a missing file: {_site_path(url, base)}")
    favicon = probe["favicon"]
    if favicon is None:
        add("favicon", "no <link rel=icon> on the page")
    elif favicon["status"] != 200:
        add("favicon", f'favicon not served: {_site_path(favicon["href"], base)} (HTTP {favicon["status"]})')
    return out


def _check_page(context: Any, page: str, html_dir: Path, base: str, out_dir: Path,
                column_selector: str, timeout_s: float) -> PageResult:
    """Load one page in a fresh tab, collect its failures and save its full-page screenshot."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    url = f"{base}/{page}.html"
    result = PageResult(page=page, url=url)
    if not (html_dir / f"{page}.html").is_file():
        result.failures.append(Failure(page, "missing", f"{page}.html is not in {html_dir}"))
        return result
    tab = context.new_page()

    def fail(kind: str, message: str) -> None:
        result.failures.append(Failure(page, kind, message))

    def route(handle: Any) -> None:
        request_url = handle.request.url
        if _inside(request_url, base):
            handle.continue_()
        else:
            fail("outside-request", f"request leaves the site: {request_url}")
            handle.abort("blockedbyclient")

    def console(msg: Any) -> None:
        # A failed load also logs "Failed to load resource"; on_response/on_failed name its URL.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            fail("console", f"{msg.text} ({_site_path(msg.location.get('url', ''), base)})")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            fail("request", f"HTTP {response.status}: {_site_path(response.url, base)}")

    def on_failed(request: Any) -> None:
        if _inside(request.url, base):  # outside requests are reported (and aborted) by route()
            fail("request", f"request failed: {_site_path(request.url, base)} ({request.failure})")

    tab.route("**/*", route)
    tab.on("console", console)
    tab.on("pageerror", lambda exc: fail("console", f"uncaught exception: {exc}"))
    tab.on("response", on_response)
    tab.on("requestfailed", on_failed)
    try:
        tab.goto(url, wait_until="load", timeout=timeout_s * 1000)
        try:
            tab.wait_for_load_state("networkidle", timeout=10_000)
        except PlaywrightTimeout:  # still loading after 10 s: the probe reports what is missing
            pass
        probe = tab.evaluate(PROBE_JS, {"columnSelector": column_selector, "tolerance": 1, "scrollTolerance": 8,
                                        "mathTimeoutMs": int(timeout_s * 1000), "imageTimeoutMs": 15_000})
        result.column_width = (probe["column"] or {}).get("width")
        result.failures.extend(_failures_from_probe(page, probe, base, html_dir))
        shot = out_dir / _screenshot_name(page)
        tab.screenshot(path=str(shot), full_page=True)
        result.screenshot = shot
    except Exception as exc:  # noqa: BLE001 - a page that cannot be loaded is a failure of that page
        fail("load", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    finally:
        tab.close()
    return result


def check_site(html_dir: Path, pages: Sequence[str], out_dir: Path, *, width: int = 1280,
               height: int = 900, column_selector: str = DEFAULT_COLUMN,
               timeout_s: float = 60.0) -> list[PageResult]:
    """Check ``pages`` (docnames, e.g. ``book/setting``) of the site in ``html_dir``.

    Serves the folder on 127.0.0.1, opens each page in headless Chromium at ``width`` x ``height``
    and returns one :class:`PageResult` per page; screenshots go to ``out_dir``. Raises
    :class:`BrowserUnavailable` without Chromium or Playwright, :class:`SiteUnavailable` without
    the built site.
    """
    html_dir = Path(html_dir).resolve()
    if not html_dir.is_dir():
        raise SiteUnavailable(f"{html_dir} does not exist; build the site first (make book)")
    require_playwright()
    chromium = find_chromium()
    from playwright.sync_api import sync_playwright

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.png"):
        stale.unlink()
    results: list[PageResult] = []
    with serve_directory(html_dir) as base, sync_playwright() as pw, \
            tempfile.TemporaryDirectory(prefix="site-check-profile-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(chromium), headless=True, args=list(CHROMIUM_ARGS),
            viewport={"width": width, "height": height}, service_workers="block")
        try:
            for page in pages:
                results.append(_check_page(context, page, html_dir, base, out_dir, column_selector, timeout_s))
        finally:
            context.close()
    return results


def write_report(results: Sequence[PageResult], path: Path) -> None:
    """Every failure of every page as JSON (the console shows at most MAX_SHOWN per kind and page)."""
    data = [{"page": r.page, "screenshot": str(r.screenshot) if r.screenshot else None,
             "column_width": r.column_width, "failures": [asdict(f) for f in r.failures]} for r in results]
    path.write_text(json.dumps(data, indent=2) + "\n")


def format_results(results: Sequence[PageResult]) -> list[str]:
    """Console lines: one per page (status, screenshot path), then its failures grouped by kind."""
    lines = []
    for r in results:
        shot = str(r.screenshot) if r.screenshot else "(no screenshot)"
        lines.append(f"  {'ok  ' if r.ok else 'FAIL'}  {r.page:<32} {shot}")
        by_kind: dict[str, list[Failure]] = defaultdict(list)
        for f in r.failures:
            by_kind[f.kind].append(f)
        for kind, failures in by_kind.items():
            for f in failures[:MAX_SHOWN]:
                lines.append(f"        {kind}: {f.message}")
            if len(failures) > MAX_SHOWN:
                lines.append(f"        {kind}: ... and {len(failures) - MAX_SHOWN} more (see report.json)")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booksite.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=Path("_build/html"), help="the built site")
    parser.add_argument("--toc", type=Path, default=Path("_toc.yml"), help="pages to check, in order")
    parser.add_argument("--out", type=Path, default=Path("_build/site-check"), help="screenshots and report.json")
    parser.add_argument("--page", action="append", help="check only this docname (repeatable)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    try:
        pages = args.page or toc_pages(args.toc)
        results = check_site(args.html, pages, args.out, width=args.width, height=args.height)
    except (BrowserUnavailable, SiteUnavailable, ValueError, OSError) as exc:
        print(f"site check: {exc}", file=sys.stderr)
        return 2
    write_report(results, args.out / "report.json")
    widths = sorted({r.column_width for r in results if r.column_width})
    print(f"site check: {len(results)} pages at {args.width} px (column {'/'.join(map(str, widths)) or '?'} px); "
          f"screenshots:")
    print("\n".join(format_results(results)))
    failed = [r for r in results if not r.ok]
    count = sum(len(r.failures) for r in results)
    if failed:
        print(f"site check: FAILED: {len(failed)} of {len(results)} pages, {count} failures "
              f"(all in {args.out / 'report.json'})")
        return 1
    print(f"site check: passed: {len(results)} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
