"""The book's interactive explorer (``book/explorer.md``): the committed paper-scale data of the
memory law and every page's recorded verdicts, plotted in the reader's browser with no network.

At build time (Sphinx ``builder-inited``) this extension reads the committed data -- the memory-law
grid through :func:`ddlib.experiments.memory_law.load` (checksum-verified) and the findings records
through :func:`ddlib.book.findings.expected_findings` -- fits them with ddlib's own code (the slopes
of :func:`ddlib.scaling.fit_slopes` on the rows :func:`ddlib.experiments.memory.above_plateau`
keeps, exactly as notebook 03's slope table; the height of the r^2 d + L curve by
:func:`ddlib.stats.geometric_mean`) and writes into ``<html>/_static/explorer/``:

- ``data.json`` (and ``data.js``, the same object as ``window.ddlibExplorerData``, which also loads
  from ``file://``); ``explorer.js`` and ``explorer.css`` (this folder); ``plotly.min.js``, copied
  from the installed ``plotly`` package (never a CDN).

A page shows them with the directive ``{ddlib-explorer} memory`` or ``{ddlib-explorer} verdicts``;
the scripts are added to the pages that use it. The controls (line, target, method; page, verdict,
profile) are built in the browser from the data, so a line, target, search configuration or page
added to the committed data appears without a change here. :func:`check_in_browser` is the
site check's hook for the page.
"""
from __future__ import annotations

import html
import json
import math
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

HERE = Path(__file__).resolve().parent
CLIENT_JS = HERE / "explorer.js"
CLIENT_CSS = HERE / "explorer.css"
STATIC_DIR = "explorer"  # under <html>/_static
KINDS = ("memory", "verdicts")
QUANTITIES = ("points", "floats")
N_BOOT, FIT_SEED = 2000, 0  # notebook 03's slope table uses the same
# Columns that name a method of the memory-law grid: a distiller column if a later grid has one,
# then the search's configuration (ddlib.experiments.memory's search keys, the targets aside).
METHOD_FIRST = ("method", "distiller")
SEED_FIELDS = ("seed", "points", "floats", "m1_star", "cert_m1", "cert_m2", "mse", "target_mse", "full_mse", "d")
MARKER = "ddlib-explorer"  # class of the containers; a page holding one gets the scripts


def plotly_js() -> Path:
    """The plotly.js bundle of the installed ``plotly`` package (raises if it is missing)."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the plotly package has no bundled plotly.min.js")
    return path


def _json_value(v: Any) -> Any:
    """NaN/inf to None, numpy scalars to Python: what JSON (and the browser) can read."""
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def _method_columns(table: pd.DataFrame) -> list[str]:
    from ddlib.experiments.memory import _SEARCH_KEYS

    keys = [*METHOD_FIRST, *(k for k in _SEARCH_KEYS if k != "targets")]
    return [k for k in keys if k in table.columns]


def _methods(long: pd.DataFrame) -> tuple[list[dict[str, Any]], pd.Series]:
    """The distinct methods (combinations of the method columns) and each row's method id. A label
    names only the columns that differ between methods, or all of them when there is one."""
    cols = _method_columns(long)
    if not cols:
        return [{"id": "0", "label": "the committed grid", "columns": {}}], pd.Series("0", index=long.index)
    combos = long[cols].astype(str).drop_duplicates().reset_index(drop=True)
    varying = [c for c in cols if combos[c].nunique() > 1] or cols
    methods, ids = [], pd.Series("", index=long.index)
    as_text = long[cols].astype(str)
    for k, combo in combos.iterrows():
        mid = str(k)
        mask = (as_text == combo.values).all(axis=1)
        ids[mask] = mid
        methods.append({"id": mid, "label": ", ".join(f"{c} {combo[c]}" for c in varying),
                        "columns": {c: combo[c] for c in cols}})
    return methods, ids


def _x_of(line: str, rows: pd.DataFrame, known: Mapping[str, str]) -> Optional[str]:
    """The column a line is plotted and fitted against: notebook 03's (``X_OF``) for its lines,
    else the one task size that varies along it (None when not exactly one does)."""
    if line in known:
        return known[line]
    varying = [c for c in ("r", "d", "width", "n_train") if c in rows and rows[c].nunique() > 1]
    return varying[0] if len(varying) == 1 else None


def _line_label(line: str, x: str, rows: pd.DataFrame) -> str:
    """"r  (d 64, L 512, n 4 d²)": the factor varied and where the others sit along the line."""
    names = {"r": "r", "d": "d", "width": "L", "n_per_d2": "n"}
    varied = {"n_train": "n_per_d2"}.get(x, x)
    at = [f"{names[c]} {rows[c].iloc[0]:g}" + (" d²" if c == "n_per_d2" else "") for c in names
          if c != varied and c in rows and rows[c].nunique() == 1]
    return f"{line}  ({', '.join(at)})" if at else line


def _fit_curve(rows: pd.DataFrame, x: str, q: str, fit: Mapping[str, float]) -> dict[str, Any]:
    """The fitted power law over the line's fitted sizes: the least-squares line in log-log passes
    through the centroid of the logs; the band is spanned by the interval's slopes through it."""
    ok = pd.to_numeric(rows[q], errors="coerce") > 0
    lx, ly = np.log(rows.loc[ok, x].to_numpy(float)), np.log(rows.loc[ok, q].to_numpy(float))
    xs = np.sort(np.unique(rows.loc[ok, x].to_numpy(float)))
    mx, my = lx.mean(), ly.mean()
    at = lambda s: np.exp(my + s * (np.log(xs) - mx))  # noqa: E731
    lo, hi = at(fit["lo"]), at(fit["hi"])
    return {"x": xs.tolist(), "y": at(fit["slope"]).tolist(), "lower": np.minimum(lo, hi).tolist(),
            "upper": np.maximum(lo, hi).tolist()}


def _rate(rows: pd.DataFrame, quantity: str) -> np.ndarray:
    """r^2 d + L with constants 1 per row (the committed column), over d + 1 for points (as
    ``ddlib.scaling.bound_slope`` reads the rate for points)."""
    rate = rows["r2d_plus_L"].to_numpy(float)
    return rate / (rows["d"].to_numpy(float) + 1) if quantity == "points" else rate


def memory_view(data: Any, n_boot: int = N_BOOT, seed: int = FIT_SEED) -> dict[str, Any]:
    """The memory-law part of the explorer's data from a :class:`~ddlib.experiments.memory_law.MemoryLawData`.

    One series per (line, target, method): every repetition's certified points and floats, whether
    the row enters the fit (``above_plateau``), the fitted slope and interval of each quantity
    (``fit_slopes``, the same call as notebook 03) with its curve, and r^2 d + L (over d + 1 for
    points) scaled by one constant: the geometric mean of measured / bound over the series' rows.
    """
    from ddlib.experiments.memory import PLATEAU, X_OF, above_plateau
    from ddlib.experiments.memory_law import show
    from ddlib.scaling import bound_slope, fit_slopes
    from ddlib.stats import geometric_mean

    long = data.long.copy()
    methods, method_of = _methods(long)
    long["_method"] = method_of
    long["_in_fit"] = False
    for mid in long["_method"].unique():
        part = long[long["_method"] == mid]
        long.loc[part.index, "_in_fit"] = above_plateau(part).to_numpy()
    x_of = {ln: _x_of(ln, rows, X_OF) for ln, rows in long.groupby("line", sort=False)}
    lines = [{"id": ln, "x": x, "label": _line_label(ln, x, long[long.line == ln])} for ln, x in x_of.items() if x]
    skipped = [ln for ln, x in x_of.items() if not x]
    x_of = {ln: x for ln, x in x_of.items() if x}
    targets = [{"id": t, "label": show(t)} for t in dict.fromkeys(long["target"])]
    series: dict[str, Any] = {}
    for mid in long["_method"].unique():
        part = long[long["_method"] == mid]
        fits = fit_slopes(part[part["_in_fit"]], x_of, QUANTITIES, by=["target"], n_boot=n_boot, seed=seed)
        for (line, target), rows in part.groupby(["line", "target"], sort=False):
            if line not in x_of:
                continue
            x = x_of[line]
            rows = rows.sort_values([x, "seed"])
            found = pd.to_numeric(rows["points"], errors="coerce") > 0
            entry: dict[str, Any] = {
                "x": x,
                "seeds": [{"xv": _json_value(rec[x]), "in_fit": bool(rec["_in_fit"]),
                           **{k: _json_value(rec[k]) for k in SEED_FIELDS}} for _, rec in rows.loc[found].iterrows()],
                "missing": [{"seed": int(s), "xv": _json_value(v)} for s, v in zip(rows.loc[~found, "seed"],
                                                                                   rows.loc[~found, x])],
                "fit": {}, "bound": {},
            }
            sizes = rows.drop_duplicates(x)
            for q in QUANTITIES:
                got = fits[(fits.line == line) & (fits.target == target) & (fits.quantity == q)] if len(fits) else fits
                if len(got):
                    f = got.iloc[0]
                    fit = {k: _json_value(f[k]) for k in ("slope", "lo", "hi", "n_groups", "n_rows", "n_dropped")}
                    in_fit = rows[rows["_in_fit"]]
                    fit["curve"] = _fit_curve(in_fit, x, q, f)
                    fit["bound_slope"] = _json_value(bound_slope(in_fit, x, q))
                    entry["fit"][q] = fit
                bound = _rate(sizes, q)
                measured = rows.loc[found]
                scale = geometric_mean(measured[q].to_numpy(float) / _rate(measured, q)) if found.any() else math.nan
                entry["bound"][q] = {"x": sizes[x].to_numpy(float).tolist(), "raw": bound.tolist(),
                                     "scale": _json_value(scale), "y": (bound * scale).tolist()}
            series[f"{line}|{target}|{mid}"] = entry
    return {"lines": lines, "skipped_lines": skipped, "targets": targets, "methods": methods,
            "plateau": PLATEAU, "n_boot": n_boot, "series": series,
            "origin": data.origin(), "digest": data.digest, "complete": bool(data.complete)}


def verdicts_view(pages: Optional[Iterable[str]] = None, root: Optional[Path] = None) -> dict[str, Any]:
    """Every recorded verdict (page, profile, claim, verdict) of the findings records
    (``ddlib/experiments/findings/<page>.json``), in the book's page order."""
    from ddlib.book.claims import VERDICTS
    from ddlib.book.findings import FINDINGS_DIR, expected_findings
    from ddlib.book.notebooks import NOTEBOOK_PAGES

    rows = []
    for page in (pages or NOTEBOOK_PAGES):
        for profile, found in expected_findings(page, root or FINDINGS_DIR).items():
            rows += [{"page": page, "docname": f"notebooks/{page}", "profile": profile, "claim": claim,
                      "verdict": verdict} for claim, verdict in found.items()]
    present = {r["verdict"] for r in rows}
    return {"rows": rows, "verdicts": [v for v in VERDICTS if v in present] + sorted(present - set(VERDICTS)),
            "pages": list(dict.fromkeys(r["page"] for r in rows)),
            "profiles": list(dict.fromkeys(r["profile"] for r in rows))}


def explorer_data(memory_root: Optional[Path] = None, findings_root: Optional[Path] = None) -> dict[str, Any]:
    """The whole data object the page reads (``window.ddlibExplorerData``)."""
    from ddlib.experiments import memory_law

    data = memory_law.load(memory_root) if memory_root else memory_law.load()
    return {"memory": memory_view(data), "verdicts": verdicts_view(root=findings_root)}


def write_assets(outdir: Path, data: Mapping[str, Any]) -> Path:
    """Write data.json, data.js, explorer.js, explorer.css and plotly.min.js into ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    (outdir / "data.json").write_text(text + "\n")
    (outdir / "data.js").write_text(f"window.ddlibExplorerData = {text};\n")
    shutil.copyfile(CLIENT_JS, outdir / "explorer.js")
    shutil.copyfile(CLIENT_CSS, outdir / "explorer.css")
    shutil.copyfile(plotly_js(), outdir / "plotly.min.js")
    return outdir


SCRIPTS = ("plotly.min.js", "data.js", "explorer.js")  # in this order, deferred


def container_html(kind: str) -> str:
    """The element a page holds for one explorer (filled in by explorer.js)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    what = {"memory": "the memory-law explorer", "verdicts": "the verdict explorer"}[kind]
    return (f'<div class="{MARKER}" data-explorer="{html.escape(kind)}" id="{MARKER}-{kind}">'
            f'<noscript><p>{what} needs JavaScript; the data it plots are in '
            f'<code>_static/{STATIC_DIR}/data.json</code>.</p></noscript></div>')


def standalone_page(kinds: Sequence[str] = KINDS, static: str = STATIC_DIR) -> str:
    """A bare HTML page holding the explorers (for tests and for looking at them without the book)."""
    head = "".join(f'<script defer src="{static}/{s}"></script>' for s in SCRIPTS)
    body = "".join(container_html(k) for k in kinds)
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>ddlib explorer</title>'
            f'<link rel="stylesheet" href="{static}/explorer.css">{head}</head><body>{body}</body></html>')


class ExplorerDirective(Directive):
    """``{ddlib-explorer} memory|verdicts``: place an explorer on the page (HTML only)."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        kind = directives.choice(self.arguments[0], KINDS)
        return [nodes.raw("", container_html(kind), format="html")]


def _uses_explorer(doctree: Any) -> bool:
    return doctree is not None and any(MARKER in n.astext() for n in doctree.findall(nodes.raw))


def _builder_inited(app: Sphinx) -> None:
    """Build the data and write the assets into the site's _static (HTML builders only)."""
    if app.builder.format != "html":
        return
    try:
        data = explorer_data()
    except Exception as exc:  # noqa: BLE001 - any failure to read the committed data stops the build
        raise ExtensionError(f"ddlib explorer: cannot build its data from the committed records: {exc}") from exc
    write_assets(Path(app.outdir) / "_static" / STATIC_DIR, data)
    app.env.ddlib_explorer_data = data  # type: ignore[attr-defined]


def _page_context(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """html-page-context: a page with an explorer loads plotly, the data and the client, deferred."""
    if not _uses_explorer(doctree):
        return
    app.add_css_file(f"{STATIC_DIR}/explorer.css")
    for k, script in enumerate(SCRIPTS):
        app.add_js_file(f"{STATIC_DIR}/{script}", priority=900 + k, loading_method="defer")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("ddlib-explorer", ExplorerDirective)
    app.connect("builder-inited", _builder_inited)
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# ----------------------------------------------------------------------------------------------
# The check in a browser (called by booksite.check on the explorer page)
# ----------------------------------------------------------------------------------------------

_SNAPSHOT_JS = """() => [...document.querySelectorAll('.ddlib-explorer .js-plotly-plot')].map(gd => ({
  id: gd.id,
  drawn: gd.querySelectorAll('.scatterlayer .point, .barlayer .point').length,
  traces: (gd.data || []).length,
  data: JSON.stringify((gd.data || []).map(t => [t.name, t.x, t.y])),
}))"""
_OUTSIDE_JS = """() => performance.getEntriesByType('resource').map(e => e.name)
  .filter(u => !(u.startsWith(location.origin + '/') || /^(data|blob|about):/.test(u)))"""
_ROWS_JS = """() => [...document.querySelectorAll('#ddlib-explorer-verdicts tbody tr')].map(tr => tr.dataset.verdict)"""


def _options(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector(selector, "s => [...s.options].map(o => o.value)")


def _change(page: Any, selector: str) -> Optional[str]:
    """Pick another option of ``selector`` (a change event, as a reader's pick); returns the value
    picked, None when there is no other."""
    options, current = _options(page, selector), page.eval_on_selector(selector, "s => s.value")
    other = next((o for o in options if o != current), None)
    if other is not None:
        page.select_option(selector, other)
    return other


def check_in_browser(page: Any, timeout_ms: int = 20_000) -> list[str]:
    """Problems with the explorer page already loaded in ``page`` (a Playwright page): a plot that
    did not render, a control whose change does not change the plotted data, a verdict filter that
    does not filter, a request that left the site. An empty list means it works."""
    problems: list[str] = []
    try:
        page.wait_for_function("() => window.ddlibExplorer && window.ddlibExplorer.ready === true",
                               timeout=timeout_ms)
    except Exception as exc:  # noqa: BLE001 - a timeout or a closed page: the explorer did not start
        error = page.evaluate("() => window.ddlibExplorer && window.ddlibExplorer.error") if not page.is_closed() \
            else None
        problems.append(f"the explorer did not start ({error or type(exc).__name__})")
    else:
        plots = {p["id"]: p for p in page.evaluate(_SNAPSHOT_JS)}
        memory = [p for i, p in plots.items() if i.startswith("ddlib-explorer-memory")]
        if not memory:
            problems.append("no memory-law plot on the page")
        for p in plots.values():
            if p["traces"] == 0 or p["drawn"] == 0:
                problems.append(f"plot {p['id']} rendered no points ({p['traces']} traces, {p['drawn']} points)")
        changed_any = False
        for name in ("line", "target", "method"):
            selector = f"#ddlib-explorer-memory-{name}"
            if page.query_selector(selector) is None:
                problems.append(f"no {name} control ({selector})")
                continue
            before = {i: p["data"] for i, p in plots.items() if i in {m["id"] for m in memory}}
            picked = _change(page, selector)
            if picked is None:
                continue  # one option only: nothing to change
            page.wait_for_timeout(200)
            after_plots = {p["id"]: p for p in page.evaluate(_SNAPSHOT_JS)}
            after = {i: after_plots[i]["data"] for i in before if i in after_plots}
            if after == before:
                problems.append(f"changing the {name} to {picked!r} did not change the plotted data")
            else:
                changed_any = True
            plots = after_plots
        if memory and not changed_any:
            problems.append("no control of the memory-law explorer offers a second choice")
        problems += _check_verdicts(page, timeout_ms)
    outside = page.evaluate(_OUTSIDE_JS) if not page.is_closed() else []
    problems += [f"request outside the site: {url}" for url in outside]
    return problems


def _check_verdicts(page: Any, timeout_ms: int) -> list[str]:
    """The verdict table is filled, and filtering by a verdict leaves only that verdict's rows."""
    if page.query_selector("#ddlib-explorer-verdicts") is None:
        return []
    rows = page.evaluate(_ROWS_JS)
    if not rows:
        return ["the verdict table is empty"]
    selector = "#ddlib-explorer-verdicts-verdict"
    options = [o for o in _options(page, selector) if o]
    if not options:
        return ["the verdict filter offers no verdict"]
    target = min(options, key=lambda v: (rows.count(v) == 0, rows.count(v)))  # a verdict shown, the rarest
    page.select_option(selector, target)
    page.wait_for_timeout(200)
    after = page.evaluate(_ROWS_JS)
    problems = []
    if not after or any(v != target for v in after):
        problems.append(f"filtering the verdicts by {target!r} left {sorted(set(after))} ({len(after)} rows)")
    page.select_option(selector, "")
    return problems
