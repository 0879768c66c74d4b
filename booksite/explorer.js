/* ddlib's explorer (booksite/explorer.py writes it to _static/explorer/): the committed paper-scale
   data of the memory law and the recorded verdicts, drawn with the vendored plotly.js from
   window.ddlibExplorerData (data.js). Every control is built from the data. No network. */
(function () {
  "use strict";
  const state = (window.ddlibExplorer = { ready: false, error: null });
  const VERDICT_COLOURS = {
    "holds": "#2a7d46", "does not hold": "#b8322a", "inconclusive": "#c98a00", "outside regime": "#6c757d",
  };
  const SEED_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                        "#7f7f7f", "#bcbd22", "#17becf"];
  const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function make(tag, attrs, text) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function control(parent, id, label, options, value, onChange) {
    const wrap = make("div", { class: "ddlib-explorer-control" });
    wrap.appendChild(make("label", { for: id }, label));
    const select = make("select", { id: id });
    for (const o of options) {
      const opt = make("option", { value: o.id }, o.label);
      select.appendChild(opt);
    }
    if (value !== undefined) select.value = value;
    select.addEventListener("change", onChange);
    wrap.appendChild(select);
    parent.appendChild(wrap);
    return select;
  }

  // Sphinx writes the relative path to the site's root on <html data-content_root>; a bare page has none.
  const ROOT = document.documentElement.dataset.content_root;
  const fmt = (v, digits) => (v === null || v === undefined ? "n/a" : Number(v).toPrecision(digits || 3));

  // Ticks at 1, 2, 5 x 10^k over the values shown: plain numbers on a log axis.
  function logTicks(values) {
    const v = values.filter((x) => x > 0);
    if (!v.length) return {};
    const lo = Math.min(...v) / 1.3, hi = Math.max(...v) * 1.3, ticks = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      for (const m of [1, 2, 5]) {
        const t = m * Math.pow(10, k);
        if (t >= lo && t <= hi) ticks.push(t);
      }
    }
    if (ticks.length < 2) return {};
    return { tickvals: ticks, ticktext: ticks.map((t) => (t >= 1 ? String(Math.round(t)) : String(Number(t.toPrecision(1))))) };
  }

  /* ---- the memory law ---- */
  function memoryExplorer(root, data) {
    const m = data.memory;
    const controls = root.appendChild(make("div", { class: "ddlib-explorer-controls" }));
    const redraw = () => draw();
    const line = control(controls, "ddlib-explorer-memory-line", "line (factor varied)",
                         m.lines, m.lines.length ? m.lines[0].id : undefined, redraw);
    const target = control(controls, "ddlib-explorer-memory-target", "target", m.targets, undefined, redraw);
    const method = control(controls, "ddlib-explorer-memory-method", "method (search configuration)",
                           m.methods, undefined, redraw);
    const note = root.appendChild(make("p", { class: "ddlib-explorer-note", id: "ddlib-explorer-memory-note" }));
    const plots = {};
    for (const q of ["points", "floats"]) {
      plots[q] = root.appendChild(make("div", { class: "ddlib-explorer-plot", id: "ddlib-explorer-memory-" + q }));
    }
    const readout = root.appendChild(make("ul", { class: "ddlib-explorer-readout", id: "ddlib-explorer-memory-readout" }));
    const YLABEL = { points: "certified points m1 + m2", floats: "floats (m1 + m2)(d + 1)" };

    function traces(s, q, xLabel) {
      const out = [];
      const seeds = [...new Set(s.seeds.map((p) => p.seed))].sort((a, b) => a - b);
      seeds.forEach((seed, k) => {
        for (const inFit of [true, false]) {
          const pts = s.seeds.filter((p) => p.seed === seed && p.in_fit === inFit);
          if (!pts.length) continue;
          // A small horizontal offset per repetition (the hover gives the true value).
          const shift = Math.pow(1.03, k - (seeds.length - 1) / 2);
          out.push({
            type: "scatter", mode: "markers", name: "seed " + seed + (inFit ? "" : " (not fitted)"),
            legendgroup: "seed " + seed, showlegend: inFit || !s.seeds.some((p) => p.seed === seed && p.in_fit),
            x: pts.map((p) => p.xv * shift), y: pts.map((p) => p[q]),
            marker: { size: 8, color: inFit ? SEED_COLOURS[k % 10] : "rgba(0,0,0,0)",
                      line: { width: 1.5, color: SEED_COLOURS[k % 10] } },
            customdata: pts.map((p) => [p.xv, p.points, p.cert_m1, p.cert_m2, p.floats, p.mse, p.target_mse,
                                        p.full_mse, p.m1_star]),
            hovertemplate: "seed " + seed + "<br>" + xLabel + " = %{customdata[0]}<br>" +
              "points %{customdata[1]} (m1 %{customdata[2]} + m2 %{customdata[3]}; m1* %{customdata[8]})<br>" +
              "floats %{customdata[4]}<br>test MSE %{customdata[5]:.4g} (target %{customdata[6]:.4g}, " +
              "full data %{customdata[7]:.4g})" + (inFit ? "" : "<br>not fitted: target below the plateau") +
              "<extra></extra>",
          });
        }
      });
      const fit = s.fit[q];
      if (fit) {
        const c = fit.curve;
        out.push({ type: "scatter", mode: "lines", x: c.x, y: c.upper, line: { width: 0 }, hoverinfo: "skip",
                   showlegend: false, legendgroup: "fit" });
        out.push({ type: "scatter", mode: "lines", x: c.x, y: c.lower, line: { width: 0 }, fill: "tonexty",
                   fillcolor: "rgba(40,40,40,0.15)", name: "slope interval (95%)", legendgroup: "fit",
                   hoverinfo: "skip" });
        out.push({ type: "scatter", mode: "lines", x: c.x, y: c.y, line: { color: "#222", width: 2 },
                   name: "fit: " + xLabel + "^" + fmt(fit.slope, 2), legendgroup: "fit",
                   hovertemplate: "fitted power law<br>slope " + fmt(fit.slope, 3) + " [" + fmt(fit.lo, 3) + ", " +
                     fmt(fit.hi, 3) + "]<br>" + xLabel + " = %{x}: %{y:.4g}<extra></extra>" });
      }
      const b = s.bound[q];
      if (b && b.scale !== null) {
        out.push({ type: "scatter", mode: "lines", x: b.x, y: b.y, line: { color: "#555", dash: "dot", width: 2 },
                   name: (q === "points" ? "(r²d + L)/(d + 1)" : "r²d + L") + " × " + fmt(b.scale, 3),
                   customdata: b.raw,
                   hovertemplate: (q === "points" ? "(r²d + L)/(d + 1)" : "r²d + L") + " = %{customdata:.4g}, × " +
                     fmt(b.scale, 3) + " = %{y:.4g}<extra></extra>" });
      }
      return out;
    }

    function draw() {
      const key = line.value + "|" + target.value + "|" + method.value;
      const s = m.series[key];
      const lineInfo = m.lines.find((l) => l.id === line.value) || { x: "x", label: line.value };
      readout.replaceChildren();
      if (!s) {
        note.textContent = "No committed data for this line, target and method.";
        for (const q in plots) Plotly.purge(plots[q]);
        root.dataset.state = key;
        return Promise.resolve();
      }
      const xName = lineInfo.x === "width" ? "L" : lineInfo.x;
      const skipped = m.skipped_lines.length ? " Lines with no single factor varied, not shown: " +
        m.skipped_lines.join(", ") + "." : "";
      note.textContent = (s.missing.length ? s.missing.length + " (size, seed) pairs found no certified set and " +
        "are not shown. " : "") + "Hollow markers: sizes where the target lies below " + m.plateau +
        " times the full-data error, left out of the fit as in notebook 03." + skipped;
      const xs = [...new Set(s.seeds.map((p) => p.xv))].sort((a, b) => a - b);
      const jobs = [];
      for (const q of ["points", "floats"]) {
        const layout = {
          height: 360, margin: { l: 60, r: 10, t: 30, b: 50 }, hovermode: "closest",
          title: { text: YLABEL[q] + " against " + xName, font: { size: 14 } },
          xaxis: { type: "log", title: { text: lineInfo.label }, tickvals: xs, ticktext: xs.map(String) },
          yaxis: Object.assign({ type: "log", title: { text: q } },
                               logTicks(s.seeds.map((p) => p[q]).concat(s.fit[q] ? s.fit[q].curve.upper : [],
                                                                         s.bound[q] ? s.bound[q].y : []))),
          legend: { orientation: "h", y: -0.25, font: { size: 11 } }, showlegend: true,
        };
        jobs.push(Plotly.react(plots[q], traces(s, q, xName), layout, CONFIG));
        const fit = s.fit[q];
        const li = make("li");
        li.textContent = fit
          ? q + ": slope " + fmt(fit.slope, 3) + " [" + fmt(fit.lo, 3) + ", " + fmt(fit.hi, 3) + "] (95% bootstrap " +
            "over " + fit.n_groups + " seeds, " + fit.n_rows + " rows); r²d + L" + (q === "points" ? " / (d + 1)" : "") +
            " itself grows with slope " + fmt(fit.bound_slope, 3) + " over these sizes"
          : q + ": no fit (fewer than two fitted sizes)";
        readout.appendChild(li);
      }
      root.dataset.state = key;
      return Promise.all(jobs);
    }
    return draw();
  }

  /* ---- the verdicts ---- */
  function verdictExplorer(root, data) {
    const v = data.verdicts;
    const controls = root.appendChild(make("div", { class: "ddlib-explorer-controls" }));
    const all = (label) => [{ id: "", label: label }];
    const redraw = () => draw();
    const page = control(controls, "ddlib-explorer-verdicts-page", "page",
                         all("every page").concat(v.pages.map((p) => ({ id: p, label: p }))), "", redraw);
    const verdict = control(controls, "ddlib-explorer-verdicts-verdict", "verdict",
                            all("every verdict").concat(v.verdicts.map((x) => ({ id: x, label: x }))), "", redraw);
    const profile = control(controls, "ddlib-explorer-verdicts-profile", "profile",
                            v.profiles.map((p) => ({ id: p, label: p })),
                            v.profiles.includes("book") ? "book" : v.profiles[0], redraw);
    const count = root.appendChild(make("p", { class: "ddlib-explorer-note", id: "ddlib-explorer-verdicts-count" }));
    const chart = root.appendChild(make("div", { class: "ddlib-explorer-plot", id: "ddlib-explorer-verdicts-chart" }));
    const table = root.appendChild(make("table", { class: "table ddlib-explorer-table" }));
    const head = table.appendChild(make("thead")).appendChild(make("tr"));
    for (const h of ["page", "claim", "profile", "verdict"]) head.appendChild(make("th", {}, h));
    const body = table.appendChild(make("tbody"));

    function draw() {
      const rows = v.rows.filter((r) => (!page.value || r.page === page.value) &&
        (!verdict.value || r.verdict === verdict.value) && r.profile === profile.value);
      const ofProfile = v.rows.filter((r) => r.profile === profile.value).length;
      count.textContent = rows.length + " of the " + ofProfile + " recorded verdicts at the " + profile.value +
        " profile.";
      body.replaceChildren();
      for (const r of rows) {
        const tr = make("tr", { "data-verdict": r.verdict });
        const cell = tr.appendChild(make("td"));
        if (ROOT !== undefined) cell.appendChild(make("a", { href: ROOT + r.docname + ".html" }, r.page));
        else cell.textContent = r.page;
        tr.appendChild(make("td", {}, r.claim));
        tr.appendChild(make("td", {}, r.profile));
        const badge = make("span", { class: "ddlib-verdict" }, r.verdict);
        badge.style.backgroundColor = VERDICT_COLOURS[r.verdict] || "#444";
        tr.appendChild(make("td")).appendChild(badge);
        body.appendChild(tr);
      }
      const pages = [...new Set(rows.map((r) => r.page))];
      const bars = v.verdicts.filter((x) => rows.some((r) => r.verdict === x)).map((x) => ({
        type: "bar", name: x, marker: { color: VERDICT_COLOURS[x] || "#444" }, x: pages,
        y: pages.map((p) => rows.filter((r) => r.page === p && r.verdict === x).length),
        hovertemplate: "%{x}: %{y} " + x + "<extra></extra>",
      }));
      root.dataset.state = [page.value, verdict.value, profile.value].join("|");
      return Plotly.react(chart, bars, {
        barmode: "stack", height: 300, margin: { l: 40, r: 10, t: 10, b: 80 },
        yaxis: { title: { text: "claims" }, dtick: 1 }, legend: { orientation: "h", y: -0.4 },
      }, CONFIG);
    }
    return draw();
  }

  function start() {
    const data = window.ddlibExplorerData;
    const jobs = [];
    try {
      if (!data || typeof Plotly === "undefined") throw new Error("plotly.js or the explorer's data did not load");
      for (const root of document.querySelectorAll(".ddlib-explorer[data-explorer]")) {
        root.replaceChildren();
        const kind = root.dataset.explorer;
        if (kind === "memory") jobs.push(memoryExplorer(root, data));
        else if (kind === "verdicts") jobs.push(verdictExplorer(root, data));
      }
    } catch (err) {
      state.error = String(err);
      console.error("ddlib explorer: " + err);
      return;
    }
    Promise.all(jobs).then(() => { state.ready = true; },
                           (err) => { state.error = String(err); console.error("ddlib explorer: " + err); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
