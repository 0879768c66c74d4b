"""The explorer (booksite/explorer.py): its data come from the committed records and ddlib's own fits,
its controls follow the data, and in a browser it renders, responds to its controls and stays on
the site; ``check_in_browser`` fails a page that does not.

Browser tests need Chromium and Playwright (skipped without them, failed under CI=true); the one on
the built book also needs ``make book`` to have run.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``booksite`` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from booksite.browser import CHROMIUM_ARGS  # noqa: E402
from booksite.explorer import (KINDS, N_BOOT, container_html, explorer_data, memory_view,  # noqa: E402
                               standalone_page, verdicts_view, write_assets)
from booksite.serve import serve_directory  # noqa: E402
from ddlib.book.findings import expected_findings  # noqa: E402
from ddlib.experiments import memory_law as law  # noqa: E402
from ddlib.experiments.memory import X_OF, above_plateau  # noqa: E402
from ddlib.scaling import bootstrap_slope  # noqa: E402
from ddlib.stats import geometric_mean  # noqa: E402

BUILT_PAGE = ROOT / "_build" / "html" / "book" / "explorer.html"


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return explorer_data()


def test_controls_list_what_the_committed_data_hold(data: dict[str, Any]) -> None:
    paper = law.load()
    memory = data["memory"]
    assert [line["id"] for line in memory["lines"]] == list(dict.fromkeys(paper.table.line))
    assert [t["id"] for t in memory["targets"]] == list(dict.fromkeys(paper.long.target))
    assert len(memory["methods"]) == 1 and memory["methods"][0]["columns"]["link"] == paper.table.link.iloc[0]
    assert len(memory["series"]) == len(memory["lines"]) * len(memory["targets"])
    assert memory["digest"] == paper.digest
    json.dumps(data, allow_nan=False)  # NaN would break the page's JSON


def test_every_seed_is_shown_and_the_fit_is_ddlibs(data: dict[str, Any]) -> None:
    paper = law.load()
    long = paper.long
    rows = long[(long.line == "L") & (long.target == "rel4")]
    series = data["memory"]["series"]["L|rel4|0"]
    found = rows[rows.points > 0]
    assert len(series["seeds"]) == len(found)
    assert len(series["seeds"]) + len(series["missing"]) == len(rows)
    assert sorted(p["points"] for p in series["seeds"]) == sorted(found.points.tolist())
    fit_rows = rows[above_plateau(long).loc[rows.index]]
    for q in ("points", "floats"):
        want = bootstrap_slope(fit_rows, X_OF["L"], q, n_boot=N_BOOT, seed=0)
        got = series["fit"][q]
        assert got["slope"] == pytest.approx(want["slope"]) and got["lo"] == pytest.approx(want["lo"])
        curve = got["curve"]
        assert np.all(np.asarray(curve["lower"]) <= np.asarray(curve["y"]) + 1e-9)
        assert np.all(np.asarray(curve["y"]) <= np.asarray(curve["upper"]) + 1e-9)
        # The drawn line has the fitted slope.
        lx, ly = np.log(curve["x"]), np.log(curve["y"])
        assert np.polyfit(lx, ly, 1)[0] == pytest.approx(want["slope"])


def test_the_bound_is_r2d_plus_L_scaled_by_one_constant(data: dict[str, Any]) -> None:
    series = data["memory"]["series"]["r|abs0.1|0"]
    bound = series["bound"]["floats"]
    rows = series["seeds"]
    raw = dict(zip(bound["x"], bound["raw"]))
    assert bound["scale"] == pytest.approx(geometric_mean([p["floats"] / raw[p["xv"]] for p in rows]))
    assert np.allclose(np.asarray(bound["y"]) / np.asarray(bound["raw"]), bound["scale"])
    grid = law.load().grid
    assert raw[1] == 1 * grid["d"] + grid["width"] and raw[2] == 4 * grid["d"] + grid["width"]


def test_a_new_line_method_or_page_appears_without_code_changes(tmp_path: Path) -> None:
    synthetic = law.synthetic_data(law.follows_the_rate, seeds=3)
    other = synthetic.table.assign(link="quad")  # a second search configuration
    extra = synthetic.table[synthetic.table.line == "r"].assign(line="r_at_d128", d=128)  # a new line
    both = pd.concat([synthetic.table, other, extra], ignore_index=True)
    view = memory_view(law.MemoryLawData(both, law.long_table(both), synthetic.manifest, "synthetic"), n_boot=50)
    assert sorted(m["columns"]["link"] for m in view["methods"]) == ["he2", "quad"]
    assert {m["label"] for m in view["methods"]} == {"link he2", "link quad"}
    lines = {line["id"]: line["x"] for line in view["lines"]}
    assert lines["r_at_d128"] == "r" and view["skipped_lines"] == []
    assert f"r_at_d128|{view['targets'][0]['id']}|0" in view["series"]
    # Verdicts: whatever pages the records hold.
    (tmp_path / "00_learner.json").write_text((ROOT / "ddlib/experiments/findings/00_learner.json").read_text())
    v = verdicts_view(pages=["00_learner"], root=tmp_path)
    assert v["pages"] == ["00_learner"]
    assert len(v["rows"]) == sum(len(x) for x in expected_findings("00_learner").values())


def test_verdicts_are_the_findings_records(data: dict[str, Any]) -> None:
    rows = data["verdicts"]["rows"]
    for page in data["verdicts"]["pages"]:
        for profile, found in expected_findings(page).items():
            got = {r["claim"]: r["verdict"] for r in rows if r["page"] == page and r["profile"] == profile}
            assert got == found


def test_container_kinds() -> None:
    assert all(f'data-explorer="{k}"' in container_html(k) for k in KINDS)
    with pytest.raises(ValueError):
        container_html("nope")


# ----------------------------------------------------------------------------------------------
# In a browser
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium(chromium_path) -> Iterator[Any]:
    path = chromium_path
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(path), headless=True, args=list(CHROMIUM_ARGS))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]) -> Path:
    """A bare page with both explorers and the assets the book ships."""
    root = tmp_path_factory.mktemp("explorer-site")
    write_assets(root / "explorer", data)
    (root / "index.html").write_text(standalone_page())
    return root


def _check(chromium: Any, root: Path, page_path: str, before: Callable[[Any], None] = lambda p: None,
           route: Callable[[Any], None] = lambda p: None) -> list[str]:
    from booksite.explorer import check_in_browser

    with serve_directory(root) as base:
        page = chromium.new_page(viewport={"width": 1100, "height": 900})
        try:
            route(page)
            page.goto(f"{base}/{page_path}", wait_until="load")
            before(page)
            return check_in_browser(page, timeout_ms=15_000)
        finally:
            page.close()


def test_check_passes_the_explorer(chromium: Any, site: Path) -> None:
    assert _check(chromium, site, "index.html") == []


def test_check_fails_a_plot_that_does_not_respond(chromium: Any, site: Path) -> None:
    # Replacing each select by a copy drops its listeners: the plot no longer follows the control.
    deaf = ("() => { for (const s of document.querySelectorAll('.ddlib-explorer select')) "
            "s.replaceWith(s.cloneNode(true)); }")
    problems = _check(chromium, site, "index.html",
                      before=lambda p: (p.wait_for_function("() => window.ddlibExplorer.ready"), p.evaluate(deaf)))
    assert any("did not change the plotted data" in p for p in problems), problems
    assert any("filtering the verdicts" in p for p in problems), problems


def test_check_fails_when_plotly_is_missing(chromium: Any, site: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    (broken / "explorer").mkdir(parents=True)
    for f in (site / "explorer").iterdir():
        if f.name != "plotly.min.js":
            (broken / "explorer" / f.name).write_bytes(f.read_bytes())
    (broken / "index.html").write_text(standalone_page())
    problems = _check(chromium, broken, "index.html")
    assert any("did not start" in p for p in problems), problems


def test_check_reports_a_request_outside_the_site(chromium: Any, site: Path, tmp_path: Path) -> None:
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    (leaky / "explorer").symlink_to(site / "explorer")
    (leaky / "index.html").write_text(standalone_page().replace(
        "</body>", '<img src="http://outside.invalid/pixel.png"></body>'))

    def fake_outside(page: Any) -> None:  # answer it locally: the test itself never leaves the machine
        page.route("http://outside.invalid/**", lambda r: r.fulfill(status=200, content_type="image/png", body=b""))

    problems = _check(chromium, leaky, "index.html", route=fake_outside)
    assert any("outside.invalid" in p for p in problems), problems


def test_check_on_the_built_book(chromium: Any) -> None:
    if not BUILT_PAGE.is_file():
        pytest.skip("the book is not built (make book)")
    assert _check(chromium, ROOT / "_build" / "html", "book/explorer.html") == []
