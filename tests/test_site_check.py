"""The browser check of the built site (booksite.check) passes a clean page and fails, naming the
element, on each thing a reader would see wrong: raw TeX, a TeX error, a broken image, an over-wide
table or equation, a request leaving the site, a console error, a broken link, no favicon. Small
synthetic pages are served from a temp folder, with the MathJax bundle the book ships.

Also: the site's configuration (offline MathJax, favicon, no thebe), the download of executed
notebooks, and the GitHub Pages workflow with the make targets it calls.

The browser tests need Chromium (Debian's package) and Playwright: skipped with the reason when they
are missing, except under CI (CI=true), where .ci/run installs Chromium and a skip would hide a gap.
"""
from __future__ import annotations

import hashlib
import os
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

from booksite.browser import BrowserUnavailable, find_chromium, require_playwright  # noqa: E402
from booksite.check import PageResult, check_site, main  # noqa: E402
from booksite.notebook_downloads import BUTTON_LABEL, ExecutedNotebookLinks, add_download  # noqa: E402
from booksite.pages import toc_pages  # noqa: E402

STATIC = ROOT / "book" / "_static"
MATHJAX = STATIC / "mathjax" / "tex-svg-full.js"
COLUMN = 600  # the synthetic pages' text column, px


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def browser() -> None:
    """Skip (fail under CI) when Chromium or Playwright is missing."""
    try:
        require_playwright()
        find_chromium()
    except BrowserUnavailable as exc:
        if _under_ci():
            pytest.fail(f"CI must run the site check, but: {exc}")
        pytest.skip(f"site check needs a browser: {exc}")


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


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic pages, the book's MathJax bundle and favicon, and a small PNG."""
    from PIL import Image

    root = tmp_path_factory.mktemp("site")
    (root / "_static" / "mathjax").mkdir(parents=True)
    (root / "_static" / "mathjax" / MATHJAX.name).write_bytes(MATHJAX.read_bytes())
    (root / "_static" / "favicon.svg").write_bytes((STATIC / "favicon.svg").read_bytes())
    Image.new("RGB", (40, 30), (200, 30, 30)).save(root / "_static" / "dot.png")
    for name, html in PAGES.items():
        (root / f"{name}.html").write_text(html)
    return root


@pytest.fixture(scope="module")
def results(browser: None, site: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, PageResult]:
    """One browser run over every synthetic page (and one page that does not exist)."""
    out = tmp_path_factory.mktemp("shots")
    found = check_site(site, [*PAGES, "absent"], out, width=1280, height=800, timeout_s=30)
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
    assert _kinds(r) == {"too-wide"}, _messages(r)
    [failure] = r.failures
    assert failure.message.startswith("table#results.dataframe")
    width = int(re.search(r"(\d+) px wide", failure.message).group(1))
    assert width > COLUMN and f"column {COLUMN} px" in failure.message


def test_an_over_wide_equation_fails_naming_it(results):
    r = results["wide_equation"]
    assert _kinds(r) == {"too-wide"}, _messages(r)
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


def test_cli_exit_status_and_report(browser, site, tmp_path, capsys):
    assert main(["--html", str(site), "--out", str(tmp_path), "--page", "good"]) == 0
    assert main(["--html", str(site), "--out", str(tmp_path), "--page", "good", "--page", "wide_table"]) == 1
    out = capsys.readouterr().out
    assert str(tmp_path / "wide_table.png") in out and "too-wide: table#results.dataframe" in out
    assert (tmp_path / "report.json").is_file()


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
