"""Open every page of the built book in headless Chromium, as a reader would, at the widths of a
phone (390 px), a tablet (768 px) and a desktop (1280 px), and fail on what a reader would see wrong.

For each page of ``_toc.yml`` (and the index, ``genindex``) at each width the check serves
``_build/html`` on 127.0.0.1, loads the page, opens its dropdowns and asserts: every math node was
typeset by MathJax and no raw TeX is left; no MathJax error; every image loaded; no console error
or uncaught exception; no request leaves the site (such requests are blocked, so the check itself
never reaches the network) and none inside it fails; no equation runs into its number; the favicon
is served; links within the site point at files that exist; the page does not scroll sideways.
At the desktop width nothing may be wider than the content column. At the narrower widths a box
may scroll sideways, but no display equation may be clipped, no table's last column (the verdict)
may be out of reach, and nothing else may run past the column or be cut. Every navigation button
that shows (the primary ☰ and the page-contents button) must open its drawer when clicked, and a
tap outside the drawer must close it (on a desktop: hide the sidebar, and a second click bring it
back). A page may add its own browser check (PAGE_CHECKS). It saves a full-page screenshot of each
page at each width for a person to look at, ``<out>/<width>/<page>.png``, and the open drawers of
the first page; ``report.json`` has every failure and, for the record, each page's title height and
how far down its first figure starts (the in-page half is probe.js).

Usage (``make check-site``)::

    python -m booksite.check [--html _build/html] [--toc _toc.yml] [--out _build/site-check]
                             [--page DOCNAME ...] [--width PX ...]

Exit status 0: every page passed; 1: failures (each names its page, width and element); 2: the check
could not run (no Chromium, no Playwright, no built site, a bad argument), with a one-line reason.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence
from urllib.parse import unquote, urlsplit

from .browser import CHROMIUM_ARGS, BrowserUnavailable, find_chromium, require_playwright
from .pages import toc_pages
from .serve import serve_directory

# sphinx-book-theme's article: its content box is the text column.
DEFAULT_COLUMN = "article.bd-article"
PROBE_JS = (Path(__file__).with_name("probe.js")).read_text()
MAX_SHOWN = 8  # failures of one kind printed per page; the JSON report has them all

# A phone, a tablet and a desktop window, and each one's height (px).
DEFAULT_WIDTHS = (390, 768, 1280)
HEIGHTS = {390: 844, 768: 1024, 1280: 900}
DEFAULT_HEIGHT = 900
MIN_WIDTH, MAX_WIDTH = 240, 3840
# From this width on the layout has room for everything: nothing may even scroll inside the column.
STRICT_FROM = 1200
# Pages the book has besides those of the table of contents, checked when built.
EXTRA_PAGES = ("genindex",)

# The navigation buttons: (the button's name, what its drawer or sidebar shows, the button's selector,
# the links that show when it is open).
NAV_BUTTONS = (
    ("\u2630", "site navigation", "button.primary-toggle", "nav.bd-docs-nav a"),
    ("contents", "page contents", "button.secondary-toggle", "nav.page-toc a"),
)
NAV_WAIT_MS = 2000

# Extra browser checks of single pages: docname -> module with ``check_in_browser(page) -> list[str]``
# (page: the Playwright page, loaded and probed; each string one failure). Optional: a page whose
# module does not exist, or has no such function, is checked like any other.
PAGE_CHECKS: dict[str, str] = {"book/explorer": "booksite.explorer"}

# Whether a link of a drawer shows on screen and on top (a hit test at its start); if so, the box of
# the drawer that holds it: its <dialog> or fixed-position ancestor, else its <nav>.
SHOWN_JS = """(selector) => {
  for (const link of document.querySelectorAll(selector)) {
    const r = link.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const x = r.left + Math.min(r.width / 2, 12), y = r.top + r.height / 2;
    if (x < 0 || y < 0 || x >= window.innerWidth || y >= window.innerHeight) continue;
    const hit = document.elementFromPoint(x, y);
    if (!hit || !(hit === link || link.contains(hit))) continue;
    let drawer = link.closest("nav") || link;
    for (let up = link; up; up = up.parentElement) {
      if (up.tagName === "DIALOG" || getComputedStyle(up).position === "fixed") { drawer = up; break; }
    }
    const b = drawer.getBoundingClientRect();
    return { left: b.left, right: b.right };
  }
  return null;
}"""


@dataclass(frozen=True)
class Failure:
    """One thing wrong on one page: ``kind`` groups them (raw-tex, too-wide, image, ...)."""

    page: str
    kind: str
    message: str
    width: Optional[int] = None

    def __str__(self) -> str:
        at = f" at {self.width} px" if self.width else ""
        return f"{self.page}{at}: {self.kind}: {self.message}"


@dataclass
class PageResult:
    """What the check saw on one page at one window width: its failures and where its screenshot is."""

    page: str
    url: str
    width: int = 1280
    screenshot: Optional[Path] = None
    column_width: Optional[int] = None
    layout: dict[str, Optional[int]] = field(default_factory=dict)  # title height, first figure's top (px)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class SiteUnavailable(RuntimeError):
    """The built site is missing: nothing to check."""


def _screenshot_name(page: str, suffix: str = "") -> str:
    return page.replace("/", "-") + suffix + ".png"


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


def _failures_from_probe(page: str, probe: dict[str, Any], base: str, html_dir: Path,
                         width: Optional[int] = None) -> list[Failure]:
    """Turn the in-page report of probe.js into failures naming the page and the element."""
    out: list[Failure] = []

    def add(kind: str, message: str) -> None:
        out.append(Failure(page, kind, message, width))

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
        for item in probe.get("clippedMath", []):
            how = ("clipped by its box, which does not scroll" if item["why"] == "clipped"
                   else "runs past the column, no scroll box to reach the rest")
            add("clipped-math", f'{item["element"]} "{item["text"]}": {item["width"]} px wide in '
                                f'{item["room"]} px, {how}')
        for item in probe.get("tableColumns", []):
            how = ("clipped, no scroll reaches it" if item["why"] == "clipped"
                   else "past the column, no scroll box to reach it")
            add("table-column", f'{item["element"]}: its last column "{item["header"]}" ends at '
                                f'{item["right"]} px of a {item["room"]} px box, {how}')
    scroll = probe.get("pageScroll")
    if scroll:
        culprits = "; ".join(f'{c["element"]} "{c["text"][:40]}" (to {c["right"]} px)' for c in scroll["culprits"])
        add("page-scroll", f'the page scrolls sideways: {scroll["scrollWidth"]} px wide in a '
                           f'{scroll["windowWidth"]} px window ({culprits or "no single element named"})')
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


def _drawer(tab: Any, links: str) -> Optional[dict[str, float]]:
    """The box of the drawer or sidebar whose links show on screen now (None when none shows)."""
    return tab.evaluate(SHOWN_JS, links)


def _wait_shown(tab: Any, links: str, shown: bool) -> bool:
    """Wait (at most NAV_WAIT_MS) until the links show (``shown``) or no longer show; whether they did."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    test = f"(s) => (({SHOWN_JS})(s) !== null) === {'true' if shown else 'false'}"
    try:
        tab.wait_for_function(test, arg=links, timeout=NAV_WAIT_MS)
        return True
    except PlaywrightTimeout:
        return False


def _check_navigation(tab: Any, width: int, height: int, shots: Optional[Path] = None) -> list[str]:
    """Click every navigation button that shows; what went wrong, one line each.

    A button must change what shows: open its drawer (then a tap outside the drawer, the way a phone
    reader closes it, must close it) or, where its sidebar already shows (a desktop), hide the
    sidebar (then a second click must bring it back). With ``shots``, the open drawer is saved as
    ``<shots>.nav-<n>.png``.
    """
    from playwright.sync_api import Error as PlaywrightError

    problems: list[str] = []
    tab.evaluate("window.scrollTo(0, 0)")
    for n, (label, what, button_selector, links) in enumerate(NAV_BUTTONS, 1):
        for button in tab.locator(button_selector).all():
            if not button.is_visible():
                continue
            name = f"the {label} button ({button_selector})"
            before = _drawer(tab, links)
            try:
                button.click(timeout=5000)
            except PlaywrightError as exc:
                problems.append(f"{name} cannot be clicked: {str(exc).splitlines()[0]}")
                continue
            if not _wait_shown(tab, links, shown=before is None):
                problems.append(f"{name} did nothing when clicked: the {what} stayed "
                                f"{'hidden' if before is None else 'shown'}")
                continue
            if before is None:  # a drawer opened: a tap outside it must close it
                box = _drawer(tab, links) or {"left": 0.0, "right": float(width)}
                if shots is not None:
                    tab.screenshot(path=str(shots.with_name(shots.stem + f".nav-{n}.png")))
                if box["left"] > 8:
                    x = box["left"] / 2
                elif box["right"] < width - 8:
                    x = (box["right"] + width) / 2
                else:
                    problems.append(f"{name} opens a drawer as wide as the window: no room to tap outside it")
                    tab.keyboard.press("Escape")
                    continue
                tab.mouse.click(x, height / 2)
                if not _wait_shown(tab, links, shown=False):
                    problems.append(f"{name} opens its drawer, but a tap outside it does not close it")
                    tab.keyboard.press("Escape")
            else:  # a shown sidebar was hidden: a second click must bring it back
                button.click(timeout=5000)
                if not _wait_shown(tab, links, shown=True):
                    problems.append(f"{name} hides the {what}, and a second click does not bring it back")
    return problems


def _page_check(page: str) -> Optional[Callable[[Any], Sequence[str]]]:
    """The extra browser check of ``page`` (PAGE_CHECKS), or None when it has none."""
    module_name = PAGE_CHECKS.get(page)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # the module is optional
            return None
        raise
    return getattr(module, "check_in_browser", None)


def _check_page(context: Any, page: str, html_dir: Path, base: str, out_dir: Path,
                column_selector: str, timeout_s: float, width: int = 1280, height: int = DEFAULT_HEIGHT,
                drawer_shots: bool = False) -> PageResult:
    """Load one page in a fresh tab at ``width`` x ``height``, collect its failures and save its
    full-page screenshot (with ``drawer_shots``, the open drawers too)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    url = f"{base}/{page}.html"
    result = PageResult(page=page, url=url, width=width)

    def fail(kind: str, message: str) -> None:
        result.failures.append(Failure(page, kind, message, width))

    if not (html_dir / f"{page}.html").is_file():
        fail("missing", f"{page}.html is not in {html_dir}")
        return result
    tab = context.new_page()
    tab.set_viewport_size({"width": width, "height": height})

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
    step = "load"
    try:
        tab.goto(url, wait_until="load", timeout=timeout_s * 1000)
        try:
            tab.wait_for_load_state("networkidle", timeout=10_000)
        except PlaywrightTimeout:  # still loading after 10 s: the probe reports what is missing
            pass
        probe = tab.evaluate(PROBE_JS, {"columnSelector": column_selector, "tolerance": 1, "scrollTolerance": 8,
                                        "strict": width >= STRICT_FROM,
                                        "mathTimeoutMs": int(timeout_s * 1000), "imageTimeoutMs": 15_000})
        result.column_width = (probe["column"] or {}).get("width")
        result.layout = probe.get("layout") or {}
        result.failures.extend(_failures_from_probe(page, probe, base, html_dir, width))
        step = "screenshot"
        shot = out_dir / _screenshot_name(page)
        tab.screenshot(path=str(shot), full_page=True, timeout=timeout_s * 1000)
        result.screenshot = shot
        step = "nav"
        for problem in _check_navigation(tab, width, height, shot if drawer_shots else None):
            fail("nav", problem)
        extra = _page_check(page)
        if extra is not None:
            step = "page-check"
            for problem in extra(tab):
                fail("page-check", str(problem))
    except Exception as exc:  # noqa: BLE001 - a page that cannot be loaded is a failure of that page
        fail(step, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    finally:
        tab.close()
    return result


def check_site(html_dir: Path, pages: Sequence[str], out_dir: Path, *,
               widths: Sequence[int] = DEFAULT_WIDTHS, height: Optional[int] = None,
               column_selector: str = DEFAULT_COLUMN, timeout_s: float = 60.0) -> list[PageResult]:
    """Check ``pages`` (docnames, e.g. ``book/setting``) of the site in ``html_dir`` at each width.

    Serves the folder on 127.0.0.1, opens each page in headless Chromium at each of ``widths``
    (``height`` px high, else HEIGHTS' height for that width) and returns one :class:`PageResult`
    per page and width, width by width; screenshots go to ``out_dir/<width>/``. Raises
    :class:`BrowserUnavailable` without Chromium or Playwright, :class:`SiteUnavailable` without
    the built site, ValueError for a width out of range.
    """
    for width in widths:
        if not MIN_WIDTH <= width <= MAX_WIDTH:
            raise ValueError(f"width {width} px: must be {MIN_WIDTH} to {MAX_WIDTH} px")
    html_dir = Path(html_dir).resolve()
    if not html_dir.is_dir():
        raise SiteUnavailable(f"{html_dir} does not exist; build the site first (make book)")
    require_playwright()
    chromium = find_chromium()
    from playwright.sync_api import sync_playwright

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*out_dir.glob("*.png"), *out_dir.glob("*/*.png")]:
        stale.unlink()
    results: list[PageResult] = []
    with serve_directory(html_dir) as base, sync_playwright() as pw, \
            tempfile.TemporaryDirectory(prefix="site-check-profile-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(chromium), headless=True, args=list(CHROMIUM_ARGS),
            viewport={"width": widths[0] if widths else 1280, "height": DEFAULT_HEIGHT}, service_workers="block")
        try:
            for width in widths:
                shots = out_dir / str(width)
                shots.mkdir(exist_ok=True)
                for i, page in enumerate(pages):
                    results.append(_check_page(context, page, html_dir, base, shots, column_selector, timeout_s,
                                               width=width, height=height or HEIGHTS.get(width, DEFAULT_HEIGHT),
                                               drawer_shots=i == 0))
        finally:
            context.close()
    return results


def write_report(results: Sequence[PageResult], path: Path) -> None:
    """Every failure of every page at every width as JSON (the console shows at most MAX_SHOWN per
    kind, page and width)."""
    data = [{"page": r.page, "width": r.width, "screenshot": str(r.screenshot) if r.screenshot else None,
             "column_width": r.column_width, "layout": r.layout,
             "failures": [asdict(f) for f in r.failures]} for r in results]
    path.write_text(json.dumps(data, indent=2) + "\n")


def format_results(results: Sequence[PageResult]) -> list[str]:
    """Console lines: a heading per width, one line per page (status, screenshot path), then its
    failures grouped by kind."""
    lines = []
    width = None
    for r in results:
        if r.width != width:
            width = r.width
            columns = sorted({x.column_width for x in results if x.width == width and x.column_width})
            lines.append(f"  at {width} px (column {'/'.join(map(str, columns)) or '?'} px):")
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
    parser.add_argument("--width", type=int, action="append",
                        help=f"window width in px (repeatable; default {', '.join(map(str, DEFAULT_WIDTHS))})")
    parser.add_argument("--height", type=int, default=None, help="window height in px (default: by width)")
    args = parser.parse_args(argv)
    widths = args.width or list(DEFAULT_WIDTHS)
    try:
        if args.page:
            pages = args.page
        else:
            pages = toc_pages(args.toc)
            pages += [p for p in EXTRA_PAGES if p not in pages and (Path(args.html) / f"{p}.html").is_file()]
        results = check_site(args.html, pages, args.out, widths=widths, height=args.height)
    except (BrowserUnavailable, SiteUnavailable, ValueError, OSError) as exc:
        print(f"site check: {exc}", file=sys.stderr)
        return 2
    write_report(results, args.out / "report.json")
    print(f"site check: {len(pages)} pages at {', '.join(map(str, widths))} px; screenshots:")
    print("\n".join(format_results(results)))
    failed = [r for r in results if not r.ok]
    count = sum(len(r.failures) for r in results)
    if failed:
        print(f"site check: FAILED: {len(failed)} of {len(results)} pages x widths, {count} failures "
              f"(all in {args.out / 'report.json'})")
        return 1
    print(f"site check: passed: {len(pages)} pages x {len(widths)} widths ({len(results)} views)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
