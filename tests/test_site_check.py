"""The browser check of the built site (booksite.check) passes a clean page and fails, naming the
element, on each thing a reader would see wrong: raw TeX, a TeX error, a broken image, an over-wide
table or equation, a request leaving the site, a console error, a broken link, no favicon; and, at
a phone's width, a clipped equation, a table whose last column is out of reach, a page that scrolls
sideways, a navigation button that opens nothing or a drawer that does not close. Small synthetic
pages are served from a temp folder, with the MathJax bundle and the stylesheet the book ships.

Also: the site's configuration (offline MathJax, favicon, no thebe), the download of executed
notebooks, and the GitHub Pages workflow with the make targets it calls.

The browser tests need Chromium (Debian's package) and Playwright: skipped with the reason when they
are missing, except under CI (CI=true), where .ci/run installs Chromium and a skip would hide a gap.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``booksite`` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from booksite.browser import find_chromium  # noqa: E402
from booksite import check as site_check  # noqa: E402
from booksite.check import PageResult, check_site, main  # noqa: E402
from booksite.notebook_downloads import BUTTON_LABEL, ExecutedNotebookLinks, add_download  # noqa: E402
from booksite.pages import toc_pages  # noqa: E402

STATIC = ROOT / "book" / "_static"
MATHJAX = STATIC / "mathjax" / "tex-svg-full.js"
COLUMN = 600  # the synthetic pages' text column, px


@pytest.fixture(scope="module")
def browser(chromium_path) -> None:
    """Skip (fail under CI) when Chromium or Playwright is missing (``conftest.chromium_path``)."""


def _page(body: str, *, mathjax: bool = True, favicon: bool = True) -> str:
    head = '<meta charset="utf-8"><title>t</title>'
    if favicon:
        head += '<link rel="icon" href="_static/favicon.svg">'
    if mathjax:
        head += ('<script>window.MathJax = {options: {processHtmlClass: "math"}};</script>'
                 '<script defer src="_static/mathjax/tex-svg-full.js"></script>')
    column = (f'<article class="bd-article" style="box-sizing:border-box;width:{COLUMN + 40}px;'
              f'padding:0 20px;margin-left:100px">{body}</article>')
    return f"<!DOCTYPE html><html><head>{head}</head><body style='margin:0'>{column}</body></html>"


GOOD = """<h1 id="good">A good page</h1>
<p>Inline <span class="math notranslate nohighlight">\\(x^2 + \\tilde\\Theta(r^2 d + L)\\)</span> maths.</p>
<div class="math notranslate nohighlight" id="equation-sum">\\[ \\sum_{i=1}^n x_i \\]</div>
<p><img src="_static/dot.png" alt="a dot"></p>
<table><tr><th>d</th><th>m1</th></tr><tr><td>32</td><td>8</td></tr></table>
<pre>print("short")  # &lt;Figure object at 0x7f0&gt; in code output is fine</pre>
<p><a href="good.html">self</a> <a href="#good">anchor</a> <a href="https://example.org/">outside link</a></p>"""

PAGES = {
    "good": _page(GOOD),
    "raw_tex": _page('<p>Rate <span class="math">\\(\\tilde\\Theta(r^2 d + L)\\)</span>.</p>', mathjax=False),
    "tex_error": _page('<p>Bad <span class="math">\\(x^^2\\)</span>.</p>'),
    "dollar_tex": _page('<p>The set grows at most linearly in $r$, slower than $r^2$.</p>'),
    "repr": _page('<p>every factor over a &lt;IPython.core.display.Markdown object&gt; range</p>'),
    "broken_image": _page('<p><img src="_static/missing.png" alt="missing figure"></p>'),
    "wide_table": _page('<table class="dataframe" id="results"><tr>'
                        + "".join(f"<td style='white-space:nowrap'>column_{i}_value</td>" for i in range(12))
                        + "</tr></table>"),
    "wide_equation": _page('<div class="math" id="equation-long">\\['
                           + " + ".join(f"a_{{{i}}} x_{{{i}}}^2" for i in range(40)) + "\\]</div>"),
    "equation_number": _page('<div class="math" id="equation-numbered" style="position:relative">'
                             '<span class="eqno" style="position:absolute;right:0;top:0">(7)</span>'
                             '\\[ \\rule{580px}{8px} \\]</div>'),
    "outside": _page('<link rel="stylesheet" href="https://cdn.example.invalid/theme.css"><p>styled</p>'),
    "console": _page("<p>script</p><script>undefinedFunction()</script>"),
    "broken_link": _page('<p><a href="nowhere.html">a page that is not there</a></p>'),
    "no_favicon": _page("<p>plain</p>", favicon=False),
}


# --- phones and tablets: pages whose column is the window less 16 px a side, as the book's ------------

PHONE = 390  # the width the narrow-screen pages are checked at
PHONE_COLUMN = PHONE - 32

# A drawer the way pydata-sphinx-theme makes one: a <dialog> shown modally by its button, closed by
# a tap on its backdrop (a click on the dialog outside its box); `closable=False` leaves that out.
def _drawers(*, closable: bool = True) -> str:
    close = ('dialog.addEventListener("click", (e) => { const r = dialog.getBoundingClientRect();'
             ' if (e.clientX < r.left || e.clientX > r.right) dialog.close(); });') if closable else ""
    return ('<button class="primary-toggle">&#9776;</button> <button class="secondary-toggle">contents</button>'
            '<dialog id="nav" style="margin:0;width:60vw;height:100vh;max-height:100vh">'
            '<nav class="bd-docs-nav"><a href="phone_good.html">Home</a></nav></dialog>'
            '<dialog id="toc" style="margin:0 0 0 auto;width:60vw;height:100vh;max-height:100vh">'
            '<nav class="page-toc"><a href="#top">Top</a></nav></dialog>'
            '<script>for (const [button, id] of [["primary-toggle", "nav"], ["secondary-toggle", "toc"]]) {'
            ' const dialog = document.getElementById(id);'
            ' document.querySelector("." + button).addEventListener("click", () => dialog.showModal());'
            f' {close} }}</script>')


# sphinx-book-theme 1.3 over pydata-sphinx-theme 0.17, in small: the theme hooks its drawer to the
# first .primary-toggle in the page, the site header's, which is hidden; the visible one, in the
# article header, has no handler (book/_static/ddlib.js forwards its clicks).
THEME_DRAWER = (
    '<header><button class="primary-toggle" style="display:none">&#9776;</button></header>'
    '<div class="bd-header-article"><button class="primary-toggle">&#9776;</button></div>'
    '<dialog id="pst-primary-sidebar-modal" style="margin:0;width:60vw;height:100vh;max-height:100vh"></dialog>'
    '<div id="pst-primary-sidebar" style="display:none"><nav class="bd-docs-nav">'
    '<a href="phone_good.html">Home</a></nav></div>'
    '<script>(() => { const toggle = document.querySelector(".primary-toggle");'
    ' const dialog = document.getElementById("pst-primary-sidebar-modal");'
    ' const sidebar = document.getElementById("pst-primary-sidebar");'
    ' toggle.addEventListener("click", () => {'
    '  while (sidebar.firstChild) dialog.appendChild(sidebar.firstChild); dialog.showModal(); });'
    ' dialog.addEventListener("click", (e) => { const r = dialog.getBoundingClientRect();'
    '  if (e.clientX < r.left || e.clientX > r.right) dialog.close(); });'
    ' dialog.addEventListener("close", () => {'
    '  while (dialog.firstChild) sidebar.appendChild(dialog.firstChild); }); })();</script>')


def _phone_page(body: str, *, header: str = "", stylesheet: bool = False, script: bool = False) -> str:
    head = ('<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>t</title><link rel="icon" href="_static/favicon.svg">'
            '<script>window.MathJax = {options: {processHtmlClass: "math"}};</script>'
            '<script defer src="_static/mathjax/tex-svg-full.js"></script>')
    if stylesheet:
        head += '<link rel="stylesheet" href="_static/ddlib.css">'
    if script:
        head += '<script src="_static/ddlib.js"></script>'
    column = f'<article class="bd-article" style="box-sizing:border-box;padding:0 16px">{body}</article>'
    return f"<!DOCTYPE html><html><head>{head}</head><body style='margin:0'>{header}{column}</body></html>"


# About 600 px of maths and of table: wider than a phone's column, narrower than a desktop's.
EQUATION = "\\[ " + " + ".join(f"a_{{{i}}} x_{{{i}}}^2" for i in range(11)) + " \\]"
VERDICT_TABLE = ('<table id="verdicts"><tr><th>claim</th><th>what is measured</th><th>threshold</th>'
                 '<th>observed</th><th>Verdict</th></tr><tr><td>C1</td><td>span_of_U_overlap</td>'
                 '<td>at_least_0.90</td><td>0.97_pm_0.01</td><td>holds</td></tr></table>')
NOWRAP = "<style>td, th { white-space: nowrap; padding: 0 8px; }</style>"

PHONE_PAGES = {
    # Maths and a table wider than the column, each in a box that scrolls; drawers that work.
    "phone_good": _phone_page(
        NOWRAP + '<h1 id="top">Good on a phone</h1>'
        f'<div class="math" style="overflow:hidden"><span style="display:block;overflow-x:auto">{EQUATION}</span></div>'
        f'<div style="overflow-x:auto">{VERDICT_TABLE}</div>', header=_drawers()),
    # The theme's box around display maths clips it, and nothing scrolls.
    "clipped_math": _phone_page(f'<div class="math" id="equation-gpop" style="overflow:hidden">{EQUATION}</div>'),
    # The same page with the book's stylesheet: the equation scrolls inside its own box.
    "clipped_math_styled": _phone_page(f'<div class="math" style="overflow:hidden">{EQUATION}</div>',
                                       stylesheet=True),
    # A table in a box that clips it: its verdict column cannot be reached.
    "hidden_column": _phone_page(NOWRAP + f'<div style="overflow:hidden">{VERDICT_TABLE}</div>'),
    # A table with no box around it: the verdict column runs past the column (and the page scrolls).
    "table_past": _phone_page(NOWRAP + VERDICT_TABLE),
    # The same table with the book's stylesheet and script: on a phone it is a stack of cards.
    "table_stacked": _phone_page(NOWRAP.replace("td, th", "thead th") + VERDICT_TABLE.replace(
        "<tr><th>", "<thead><tr><th>").replace("</th></tr>", "</th></tr></thead>"), stylesheet=True, script=True),
    # A header bar wider than the phone: the whole page scrolls sideways.
    "sideways": _phone_page("<p>text</p>", header='<div id="bar" style="width:640px;height:20px">bar</div>'),
    # The navigation buttons show but nothing is hooked to them.
    "dead_nav": _phone_page("<p>text</p>", header=(
        '<button class="primary-toggle">&#9776;</button><div style="display:none">'
        '<nav class="bd-docs-nav"><a href="phone_good.html">Home</a></nav></div>')),
    # The drawers open, but a tap outside them does not close them.
    "stuck_drawer": _phone_page("<p>text</p>", header=_drawers(closable=False)),
    # The themes' dead ☰ button, without and with the book's script.
    "theme_drawer": _phone_page("<p>text</p>", header=THEME_DRAWER),
    "theme_drawer_fixed": _phone_page("<p>text</p>", header=THEME_DRAWER, script=True),
    # A figure, with the book's script: a tap enlarges it.
    "figure": _phone_page('<figure><img src="_static/plot.png" alt="a plot" style="width:100%"></figure>',
                          stylesheet=True, script=True),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic pages, the book's MathJax bundle and favicon, and a small PNG."""
    from PIL import Image

    root = tmp_path_factory.mktemp("site")
    (root / "_static" / "mathjax").mkdir(parents=True)
    (root / "_static" / "mathjax" / MATHJAX.name).write_bytes(MATHJAX.read_bytes())
    (root / "_static" / "favicon.svg").write_bytes((STATIC / "favicon.svg").read_bytes())
    Image.new("RGB", (40, 30), (200, 30, 30)).save(root / "_static" / "dot.png")
    Image.new("RGB", (1200, 400), (30, 30, 200)).save(root / "_static" / "plot.png")  # a wide figure
    for name in ("ddlib.css", "ddlib.js"):
        (root / "_static" / name).write_bytes((STATIC / name).read_bytes())
    for name, html in {**PAGES, **PHONE_PAGES}.items():
        (root / f"{name}.html").write_text(html)
    return root


@pytest.fixture(scope="module")
def results(browser: None, site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, PageResult]:
    """One browser run over every synthetic page (and one page that does not exist)."""
    out = tmp_path_factory.mktemp("shots")
    found = check_site(site, [*PAGES, "absent"], out, widths=(1280,), height=800, timeout_s=30)
    return {r.page: r for r in found}


def _kinds(result: PageResult) -> set[str]:
    return {f.kind for f in result.failures}


def _messages(result: PageResult) -> str:
    return "\n".join(f.message for f in result.failures)


def test_a_clean_page_passes_and_is_screenshotted(results):
    good = results["good"]
    assert good.failures == [], _messages(good)
    assert good.column_width == COLUMN
    assert good.screenshot is not None and good.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert good.screenshot.parent.name == "1280" and good.width == 1280
    # Recorded for a person (report.json): the title's height, how far down the first figure is.
    assert good.layout["titleHeight"] > 0 and good.layout["firstFigureTop"] > good.layout["titleHeight"]


def test_raw_tex_fails_naming_the_math_node(results):
    r = results["raw_tex"]
    assert _kinds(r) == {"raw-tex"}, _messages(r)
    assert "span.math" in _messages(r) and "\\tilde\\Theta(r^2 d + L)" in _messages(r)


def test_dollar_maths_left_in_the_text_fails(results):
    # A glued sentence rendered as plain Markdown keeps its $...$: nobody typeset it.
    r = results["dollar_tex"]
    assert _kinds(r) == {"raw-tex"}, _messages(r)
    assert "linearly in $r$" in _messages(r)


def test_a_python_repr_in_the_prose_fails(results):
    # A glued Markdown value pasted with {glue:text} shows its repr instead of its text.
    r = results["repr"]
    assert _kinds(r) == {"repr"}, _messages(r)
    assert "IPython.core.display.Markdown object" in _messages(r)


def test_a_tex_error_fails(results):
    r = results["tex_error"]
    assert _kinds(r) == {"tex-error"}, _messages(r)
    [failure] = r.failures
    assert failure.message == 'mjx-container.MathJax "x^^2": Missing open brace for superscript'


def test_a_broken_image_fails(results):
    r = results["broken_image"]
    assert _kinds(r) == {"image", "request"}, _messages(r)
    assert "missing figure" in _messages(r) and "HTTP 404: /_static/missing.png" in _messages(r)


def test_an_over_wide_table_fails_with_its_width(results):
    r = results["wide_table"]
    # Wider than the window too: the page scrolls sideways, a failure of its own.
    assert _kinds(r) == {"too-wide", "page-scroll"}, _messages(r)
    [failure] = [f for f in r.failures if f.kind == "too-wide"]
    assert failure.message.startswith("table#results.dataframe")
    width = int(re.search(r"(\d+) px wide", failure.message).group(1))
    assert width > COLUMN and f"column {COLUMN} px" in failure.message


def test_an_over_wide_equation_fails_naming_it(results):
    r = results["wide_equation"]
    assert _kinds(r) == {"too-wide", "page-scroll"}, _messages(r)
    assert "mjx-container" in _messages(r) and "a_{0} x_{0}^2" in _messages(r)


def test_an_equation_running_into_its_number_fails(results):
    r = results["equation_number"]
    assert _kinds(r) == {"too-wide"}, _messages(r)
    assert "runs into its equation number" in _messages(r) and "#equation-numbered" in _messages(r)


def test_a_request_leaving_the_site_fails_and_is_blocked(results):
    r = results["outside"]
    assert _kinds(r) == {"outside-request"}, _messages(r)
    assert "https://cdn.example.invalid/theme.css" in _messages(r)


def test_a_console_error_fails(results):
    r = results["console"]
    assert _kinds(r) == {"console"}, _messages(r)
    assert "undefinedFunction" in _messages(r)


def test_a_broken_internal_link_fails(results):
    r = results["broken_link"]
    assert _kinds(r) == {"link"}, _messages(r)
    assert "/nowhere.html" in _messages(r)


def test_a_missing_favicon_fails(results):
    assert _kinds(results["no_favicon"]) == {"favicon"}


def test_a_page_missing_from_the_build_fails(results):
    assert _kinds(results["absent"]) == {"missing"}


# --- phones and tablets ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def phone(browser: None, site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, PageResult]:
    """One browser run over the narrow-screen pages at a phone's width."""
    out = tmp_path_factory.mktemp("phone")
    return {r.page: r for r in check_site(site, list(PHONE_PAGES), out, widths=(PHONE,), timeout_s=30)}


def test_a_good_phone_page_passes_at_every_width(browser, site, tmp_path):
    found = check_site(site, ["phone_good"], tmp_path, timeout_s=30)
    assert [r.width for r in found] == list(site_check.DEFAULT_WIDTHS)
    for r in found:
        assert r.failures == [], f"{r.width} px: {_messages(r)}"
    assert found[0].column_width == PHONE_COLUMN


def test_a_clipped_equation_fails_naming_it(phone):
    r = phone["clipped_math"]
    assert _kinds(r) == {"clipped-math"}, _messages(r)
    [failure] = r.failures
    assert "a_{0} x_{0}^2" in failure.message and "#equation-gpop" in failure.message
    assert f"in {PHONE_COLUMN} px, clipped by its box" in failure.message and failure.width == PHONE
    width = int(re.search(r"(\d+) px wide", failure.message).group(1))
    assert width > PHONE_COLUMN


def test_the_books_stylesheet_makes_display_maths_scroll(phone):
    r = phone["clipped_math_styled"]
    assert r.failures == [], _messages(r)


def test_a_table_whose_last_column_is_clipped_fails(phone):
    r = phone["hidden_column"]
    assert _kinds(r) == {"table-column"}, _messages(r)
    [failure] = r.failures
    assert failure.message.startswith("table#verdicts") and 'last column "Verdict"' in failure.message
    assert "clipped" in failure.message


def test_a_table_running_past_the_column_fails(phone):
    r = phone["table_past"]
    assert "table-column" in _kinds(r) and "too-wide" not in _kinds(r), _messages(r)
    assert "past the column" in _messages(r)


def test_a_page_that_scrolls_sideways_fails_naming_the_culprit(phone):
    r = phone["sideways"]
    assert _kinds(r) == {"page-scroll"}, _messages(r)
    [failure] = r.failures
    assert f"in a {PHONE} px window" in failure.message and "div#bar" in failure.message


def test_a_navigation_button_that_opens_nothing_fails(phone):
    r = phone["dead_nav"]
    assert _kinds(r) == {"nav"}, _messages(r)
    assert _messages(r) == ("the \u2630 button (button.primary-toggle) did nothing when clicked: "
                            "the site navigation stayed hidden")


def test_a_drawer_that_does_not_close_fails(phone):
    r = phone["stuck_drawer"]
    assert _kinds(r) == {"nav"}, _messages(r)
    assert len(r.failures) == 2 and "a tap outside it does not close it" in _messages(r)


def test_the_books_stylesheet_and_script_stack_a_wide_table_on_a_phone(phone):
    r = phone["table_stacked"]
    assert r.failures == [], _messages(r)


def test_the_themes_dead_navigation_button_fails_and_the_books_script_fixes_it(phone):
    assert _kinds(phone["theme_drawer"]) == {"nav"}, _messages(phone["theme_drawer"])
    assert phone["theme_drawer_fixed"].failures == [], _messages(phone["theme_drawer_fixed"])


def test_a_tap_enlarges_a_figure_and_another_closes_it(browser, site):
    from playwright.sync_api import sync_playwright

    from booksite.browser import CHROMIUM_ARGS
    from booksite.serve import serve_directory

    with serve_directory(site) as base, sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(find_chromium()), args=list(CHROMIUM_ARGS))
        try:
            tab = chromium.new_page(viewport={"width": PHONE, "height": 844})
            tab.goto(f"{base}/figure.html")
            tab.click("figure img")
            shown = tab.locator("dialog.ddlib-lightbox[open] img")
            shown.wait_for(timeout=5000)
            assert shown.get_attribute("src").endswith("_static/plot.png")
            # On the page the figure is the column's width; enlarged, twice the phone's (to pan).
            assert shown.bounding_box()["width"] == 2 * PHONE
            shown.click()  # a tap on it: fitted to the window
            assert shown.bounding_box()["width"] == PHONE
            tab.click("dialog.ddlib-lightbox button.ddlib-lightbox-close")
            tab.wait_for_selector("dialog.ddlib-lightbox[open]", state="detached", timeout=5000)
            tab.focus("figure img")  # a keyboard reader: the figure takes the focus, Enter opens it
            tab.keyboard.press("Enter")
            tab.wait_for_selector("dialog.ddlib-lightbox[open]", timeout=5000)
            tab.keyboard.press("Escape")
            tab.wait_for_selector("dialog.ddlib-lightbox[open]", state="detached", timeout=5000)
        finally:
            chromium.close()


def test_a_pages_own_browser_check_runs_when_its_module_exists(browser, site, tmp_path, monkeypatch):
    module = SimpleNamespace(check_in_browser=lambda page: [f"slider missing at {page.viewport_size['width']} px"])
    monkeypatch.setitem(sys.modules, "fake_page_check", module)
    monkeypatch.setitem(site_check.PAGE_CHECKS, "phone_good", "fake_page_check")
    monkeypatch.setitem(site_check.PAGE_CHECKS, "good", "booksite.no_such_module")  # optional: absent
    found = {r.page: r for r in check_site(site, ["phone_good", "good"], tmp_path, widths=(1280,), timeout_s=30)}
    assert [(f.kind, f.message) for f in found["phone_good"].failures] == [("page-check", "slider missing at 1280 px")]
    assert found["good"].failures == []


def test_cli_exit_status_and_report(browser, site, tmp_path, capsys):
    desktop = ["--html", str(site), "--out", str(tmp_path), "--width", "1280"]
    assert main([*desktop, "--page", "good"]) == 0
    assert main([*desktop, "--page", "good", "--page", "wide_table"]) == 1
    out = capsys.readouterr().out
    assert str(tmp_path / "1280" / "wide_table.png") in out and "too-wide: table#results.dataframe" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(r["page"], r["width"]) for r in report] == [("good", 1280), ("wide_table", 1280)]


def test_cli_checks_a_phone_a_tablet_and_a_desktop_by_default(browser, site, tmp_path, capsys):
    assert main(["--html", str(site), "--out", str(tmp_path), "--page", "phone_good"]) == 0, capsys.readouterr().out
    assert "1 pages x 3 widths" in capsys.readouterr().out
    for width in site_check.DEFAULT_WIDTHS:
        assert (tmp_path / str(width) / "phone_good.png").is_file()
        assert (tmp_path / str(width) / "phone_good.nav-1.png").is_file()  # the open drawer, for a person


def test_cli_rejects_a_width_out_of_range_in_one_line(site, tmp_path, capsys):
    assert main(["--html", str(site), "--out", str(tmp_path), "--page", "good", "--width", "20"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "width 20 px" in err, err


def test_cli_without_chromium_says_how_to_install_it(site, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert main(["--html", str(site), "--out", str(tmp_path), "--page", "good"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("apt-get install" in err or "make env" in err), err


def test_cli_without_a_built_site_says_so(tmp_path, capsys):
    assert main(["--html", str(tmp_path / "nothing"), "--page", "good", "--out", str(tmp_path)]) == 2
    assert "make book" in capsys.readouterr().err


# --- the book's configuration -------------------------------------------------------------------

def test_a_malformed_toc_is_one_line_naming_it(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("root: intro\nparts: [\n")
    with pytest.raises(ValueError, match=r"_toc.yml: not valid YAML") as info:
        toc_pages(toc)
    assert "\n" not in str(info.value)


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def test_every_toc_page_is_checked_including_the_status_page():
    pages = toc_pages(ROOT / "_toc.yml")
    assert pages[0] == "book/intro" and "book/setting" in pages
    assert len([p for p in pages if p.startswith("notebooks/")]) >= 6
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    using = next(part for part in toc["parts"] if part["caption"] == "Using ddlib")
    assert {"file": "book/status"} in using["chapters"]
    assert "{nb-exec-table}" in (ROOT / "book" / "status.md").read_text()


def test_mathjax_is_shipped_with_its_license_and_checksum():
    sphinx = _config()["sphinx"]["config"]
    static = [ROOT / p for p in sphinx["html_static_path"]]
    bundle = next(p / sphinx["mathjax_path"] for p in static if (p / sphinx["mathjax_path"]).is_file())
    assert bundle == MATHJAX and not sphinx["mathjax_path"].startswith(("http:", "https:", "//"))
    readme = (MATHJAX.parent / "README.txt").read_text()
    assert hashlib.sha256(MATHJAX.read_bytes()).hexdigest() in readme
    assert "Apache License" in (MATHJAX.parent / "LICENSE").read_text()
    assert MATHJAX.stat().st_size < 3_000_000


def test_favicon_and_no_thebe():
    config = _config()
    assert (ROOT / config["html"]["favicon"]).is_file()
    extensions = config["sphinx"]["config"]["extensions"]
    assert "sphinx_thebe" not in extensions and "booksite.notebook_downloads" in extensions
    assert "booksite.notebook_downloads" in config["sphinx"]["local_extensions"]


def _fake_app(tmp_path: Path, cache: str = "") -> SimpleNamespace:
    env = SimpleNamespace(metadata={"notebooks/02_generalization": {"kernelspec": {}}, "book/intro": {}},
                          booksite_notebook_names={}, mystnb_config=SimpleNamespace(execution_cache_path=cache))
    (tmp_path / "_build" / "html").mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(outdir=str(tmp_path / "_build" / "html"), env=env)


def _notebook(with_outputs: bool) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    cell = nbformat.v4.new_code_cell("print(6 * 7)", execution_count=1 if with_outputs else None)
    if with_outputs:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="42\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), cell]
    return nb


def _write_executed(tmp_path: Path, nb: nbformat.NotebookNode) -> None:
    executed = tmp_path / "_build" / "jupyter_execute" / "notebooks" / "02_generalization.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, executed)


def _download(app: SimpleNamespace, page: str) -> list[dict]:
    group = {"label": "download-buttons", "buttons": [{"label": "download-source-button"}]}
    context = {"header_buttons": [group], "pathto": lambda path, resource: f"../{path}"}
    add_download(app, page, "page.html", context, doctree=object())
    return group["buttons"]


def test_executed_notebook_is_published_and_offered_for_download(tmp_path):
    app = _fake_app(tmp_path)
    _write_executed(tmp_path, _notebook(with_outputs=True))
    buttons = _download(app, "notebooks/02_generalization")
    published = nbformat.read(tmp_path / "_build" / "html" / "_notebooks" / "02_generalization.ipynb", 4)
    assert published.cells[1].outputs[0].text == "42\n"
    assert buttons[0]["label"] == BUTTON_LABEL
    assert buttons[0]["url"] == "../_notebooks/02_generalization.ipynb"
    assert [b["label"] for b in _download(app, "book/intro")] == ["download-source-button"]


def test_outputs_come_from_the_execution_cache_when_myst_nb_wrote_none(tmp_path):
    """In cache mode myst-nb writes jupyter_execute/*.ipynb without outputs: merge them back in."""
    from jupyter_cache import get_cache

    cache_dir = tmp_path / "_build" / ".jupyter_cache"
    executed = tmp_path / "executed.ipynb"
    nbformat.write(_notebook(with_outputs=True), executed)
    get_cache(str(cache_dir)).cache_notebook_file(str(executed), check_validity=False)
    _write_executed(tmp_path, _notebook(with_outputs=False))
    app = _fake_app(tmp_path, cache=str(cache_dir))
    assert _download(app, "notebooks/02_generalization")[0]["label"] == BUTTON_LABEL
    published = nbformat.read(tmp_path / "_build" / "html" / "_notebooks" / "02_generalization.ipynb", 4)
    assert published.cells[0].source == "# Title" and published.cells[1].outputs[0].text == "42\n"


def test_markdown_links_to_executed_notebooks_become_plain_links():
    from docutils import nodes
    from docutils.utils import new_document
    from sphinx import addnodes

    doc = new_document("page")
    para = nodes.paragraph()
    for target in ("../_notebooks/02_generalization.ipynb", "other_page"):
        para += addnodes.pending_xref("", nodes.inline("", "text"), reftype="myst", refdomain=None,
                                      reftarget=target)
    doc += para
    ExecutedNotebookLinks(doc).run()
    [link] = list(doc.findall(nodes.reference))
    assert link["refuri"] == "../_notebooks/02_generalization.ipynb" and link.astext() == "text"
    assert [x["reftarget"] for x in doc.findall(addnodes.pending_xref)] == ["other_page"]


# --- publishing: the workflow and the make targets it calls ----------------------------------------

def _make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", (ROOT / "Makefile").read_text(), re.M))


def test_the_book_workflow_builds_checks_and_deploys_to_pages():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "push" in triggers
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
    jobs = workflow["jobs"]
    steps = [s for job in jobs.values() for s in job.get("steps", [])]
    runs = "\n".join(s.get("run", "") for s in steps)
    called = re.findall(r"\bmake\s+([A-Za-z0-9_.-]+)", runs)
    assert {"test", "book", "check-site"} <= set(called)
    assert set(called) <= _make_targets(), set(called) - _make_targets()
    assert runs.index("make test") < runs.index("make book") < runs.index("make check-site")
    uses = [s.get("uses", "") for s in steps]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    deploy_job = next(job for job in jobs.values()
                      if any(s.get("uses", "").startswith("actions/deploy-pages@") for s in job["steps"]))
    assert "refs/heads/main" in deploy_job["if"] and deploy_job["environment"]["name"] == "github-pages"
    assert any(u.startswith("actions/checkout@") for u in uses)


def test_ci_runs_the_site_check_after_the_book():
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make test") < ci.index("make book") < ci.index("make check-site")
    assert "apt-get install" in ci and "chromium" in ci
    assert {"test", "book", "check-site"} <= _make_targets()
