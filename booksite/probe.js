// In-page half of booksite.check: run in the page once it has loaded (page.evaluate).
// Waits for MathJax and the images, then reports what a reader would see wrong: math left as raw
// TeX, MathJax errors, images that did not load, elements wider than the content column, display
// maths or a table's last column that cannot be seen (clipped, or past the column with no scroll
// box to reach it), and a page that scrolls sideways. Returns plain data; booksite/check.py turns
// it into failures.
async (options) => {
  // tolerance: px an element may reach past the column (sub-pixel layout). scrollTolerance: px of
  // content a clipping box may hide; the theme clips inline maths (overflow: hidden), which cuts the
  // 2-5 px that SVG glyphs such as a prime or a subscript overhang, and that is not a wide element.
  // strict (the desktop width): nothing may even scroll inside the column. Otherwise (phone,
  // tablet) a box may scroll sideways, but all of its content must be reachable by scrolling.
  const { columnSelector, mathTimeoutMs, imageTimeoutMs, tolerance, scrollTolerance } = options;
  const strict = options.strict !== false;
  const report = { mathjax: null, unrendered: [], texErrors: [], rawText: [], reprs: [], images: [],
                   column: null, wide: [], overlaps: [], clippedMath: [], tableColumns: [],
                   pageScroll: null, layout: null, links: [], favicon: null };

  const withTimeout = (promise, ms) =>
    Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve("timeout"), ms))]);
  const snippet = (text, n = 70) => {
    const flat = (text || "").replace(/\s+/g, " ").trim();
    return flat.length > n ? flat.slice(0, n - 1) + "…" : flat;
  };

  // 1. MathJax: wait for the first typeset, then map each output container to its TeX.
  const texOf = new Map();
  if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
    const done = await withTimeout(window.MathJax.startup.promise.then(() => "done"), mathTimeoutMs);
    report.mathjax = done === "done" ? (window.MathJax.version || "unknown") : "timeout";
    try {
      for (const item of window.MathJax.startup.document.math) {
        if (item.typesetRoot) texOf.set(item.typesetRoot, item.math);
      }
    } catch (e) { /* an older or partial MathJax: snippets fall back to text */ }
  }
  await withTimeout(document.fonts.ready, 5000);

  const describe = (el) => {
    const math = el.closest("mjx-container");
    const target = math || el;
    let name = target.tagName.toLowerCase();
    if (target.id) name += "#" + target.id;
    const classes = [...target.classList].filter((c) => !c.startsWith("CtxtMenu")).slice(0, 3);
    if (classes.length) name += "." + classes.join(".");
    // A notebook cell's code and its output look alike (sphinx-copybutton numbers every <pre>).
    const cell = target.closest(".cell_output") ? " (cell output)" : target.closest(".cell_input") ? " (cell code)" : "";
    const holder = target.parentElement && target.parentElement.closest("[id]");
    const where = cell + (holder && holder.id ? ` in #${holder.id}` : "");
    const text = math && texOf.has(math) ? texOf.get(math) : target.textContent;
    return { element: name + where, text: snippet(text) };
  };

  // 2. Every Sphinx/MyST math node must hold MathJax output, and no output may be a TeX error.
  for (const node of document.querySelectorAll(".math")) {
    if (!node.querySelector("mjx-container")) {
      report.unrendered.push({ element: node.tagName.toLowerCase() + ".math", text: snippet(node.textContent) });
    }
  }
  const withError = new Set();
  for (const err of document.querySelectorAll("mjx-merror, [data-mjx-error]")) {
    const math = err.closest("mjx-container") || err;
    if (withError.has(math)) continue;
    withError.add(math);
    report.texErrors.push({ ...describe(math), message: err.getAttribute("data-mjx-error") || snippet(err.textContent) });
  }

  // 3. TeX delimiters in visible text outside math output and code: maths nobody typeset.
  const skip = "script, style, noscript, template, textarea, pre, code, kbd, samp, .highlight, mjx-container, mjx-assistive-mml";
  // (the last alternative: a short $...$ span, e.g. "$r$" left in a glued sentence; the book has no prices)
  const texPattern = /\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\$[^$\s][^$]*\\[A-Za-z]+[^$]*\$|\$[A-Za-z0-9\\^_{}][^$\n]{0,60}\$/;
  // 3b. A Python object's repr in the prose: a glued value pasted with the wrong role shows as
  // "<IPython.core.display.Markdown object>" instead of its text.
  const reprPattern = /<[A-Za-z_][\w.]* object( at 0x[0-9a-fA-F]+)?>/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    if (texPattern.test(node.nodeValue)) {
      report.rawText.push({ element: parent.tagName.toLowerCase(), text: snippet(node.nodeValue) });
    }
    if (reprPattern.test(node.nodeValue)) {
      report.reprs.push({ element: parent.tagName.toLowerCase(), text: snippet(node.nodeValue) });
    }
  }

  // 4. Images: load every one now (lazy ones too), then each must have decoded pixels.
  const images = [...document.images];
  await withTimeout(Promise.all(images.map((img) => {
    img.loading = "eager";
    return img.complete ? null : new Promise((resolve) => {
      img.addEventListener("load", resolve, { once: true });
      img.addEventListener("error", resolve, { once: true });
    });
  })), imageTimeoutMs);
  for (const img of images) {
    if (!img.complete || img.naturalWidth === 0) {
      report.images.push({ element: "img" + (img.alt ? ` alt="${snippet(img.alt, 40)}"` : ""),
                           src: img.getAttribute("src") || "" });
    }
  }

  // 5. Width. Open every dropdown (<details>: sphinx-design dropdowns, hidden cells) so that what a
  // reader can unfold is measured too, and shows in the screenshot.
  for (const details of document.querySelectorAll("details")) details.open = true;
  // Let the page's own handlers of the opened dropdowns (their "toggle" events) lay them out.
  await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  // MathJax's assistive MathML is clipped to nothing but still counts in its box's scrollWidth:
  // take it out of the layout while measuring.
  const measuring = document.createElement("style");
  measuring.textContent = "mjx-assistive-mml { display: none !important; }";
  document.head.appendChild(measuring);
  const hiddenSubtrees = "mjx-assistive-mml, .visually-hidden, .sr-only, [hidden]";
  const scrollsX = (cs) => cs.overflowX === "auto" || cs.overflowX === "scroll";
  const clipsX = (cs) => cs.overflowX === "hidden" || cs.overflowX === "clip";
  const column = document.querySelector(columnSelector);

  // Can a reader see all of `el` across, inside `column` (content edges left..right)? null if so;
  // else why not: "clipped" (a box with overflow hidden cuts it, or it starts left of a scroll box's
  // start, where no scrolling reaches) or "past" (it runs past the column, no scroll box around it),
  // with `room`, the px it had to show in.
  const reach = (el, left, right) => {
    const box = el.getBoundingClientRect();
    let lo = box.left, hi = box.right;
    for (let up = el.parentElement; up && up !== column; up = up.parentElement) {
      const cs = getComputedStyle(up);
      const scrolls = scrollsX(cs);
      if (!scrolls && !clipsX(cs)) continue;
      const r = up.getBoundingClientRect();
      const start = r.left + up.clientLeft, end = start + up.clientWidth;
      if (scrolls) {
        // Scrolling reaches everything right of the box's start edge, nothing left of it.
        if (lo < start - up.scrollLeft - scrollTolerance) return { why: "clipped", room: Math.round(up.clientWidth) };
        lo = r.left; hi = r.right;  // from here on, the scroll box itself has to be seen
      } else if (lo < start - scrollTolerance || hi > end + scrollTolerance) {
        return { why: "clipped", room: Math.round(up.clientWidth) };
      }
    }
    return lo < left - tolerance || hi > right + tolerance ? { why: "past", room: Math.round(right - left) } : null;
  };
  // The part of `el` left visible by the boxes around it that scroll or clip (up to the column).
  const visibleBox = (el) => {
    const box = el.getBoundingClientRect();
    let lo = box.left, hi = box.right;
    for (let up = el.parentElement; up && up !== column; up = up.parentElement) {
      const cs = getComputedStyle(up);
      if (!scrollsX(cs) && !clipsX(cs)) continue;
      const r = up.getBoundingClientRect();
      lo = Math.max(lo, r.left + up.clientLeft);
      hi = Math.min(hi, r.left + up.clientLeft + up.clientWidth);
    }
    return { left: lo, right: hi, top: box.top, bottom: box.bottom };
  };

  if (column) {
    const rect = column.getBoundingClientRect();
    const style = getComputedStyle(column);
    const left = rect.left + parseFloat(style.paddingLeft);
    const right = rect.right - parseFloat(style.paddingRight);
    report.column = { selector: columnSelector, width: Math.round(right - left) };
    // Elements with a failure of their own kind (clipped maths, a hidden table column): the generic
    // width check does not report them a second time.
    const reported = [];
    if (!strict) {
      // 5a. Display maths: all of every equation must be visible or reachable by scrolling its box.
      for (const math of column.querySelectorAll('mjx-container[display="true"]')) {
        const svg = math.querySelector(":scope > svg");
        const box = svg && svg.getBoundingClientRect();
        if (!box || box.width === 0 || box.height === 0) continue;
        const cut = reach(svg, left, right);
        if (cut) {
          report.clippedMath.push({ ...describe(math), width: Math.round(box.width), ...cut });
          reported.push(math);
        }
      }
      // 5b. Tables: the last column (the verdict of a verdict table) must be visible or reachable by
      // scrolling the table's box.
      for (const table of column.querySelectorAll("table")) {
        if (table.closest("mjx-container") || (table.parentElement && table.parentElement.closest("table"))) continue;
        // The last cell of the first full row that shows (a stacked table hides its header row).
        const rows = [...table.rows];
        const most = Math.max(0, ...rows.map((row) => row.cells.length));
        if (most < 2) continue;
        const shows = (cell) => {
          const b = cell.getBoundingClientRect();
          return b.width > 0 && b.height > 0 && getComputedStyle(cell).visibility !== "hidden";
        };
        const row = rows.find((r) => r.cells.length === most && shows(r.cells[most - 1]));
        if (!row) continue;
        const cell = row.cells[most - 1];
        const box = cell.getBoundingClientRect();
        const cut = reach(cell, left, right);
        if (cut) {
          report.tableColumns.push({ ...describe(table), header: snippet(cell.textContent, 40),
                                     right: Math.round(box.right - left), ...cut });
          reported.push(table);
        }
      }
    }
    // 5c. Everything else. Strict: nothing may reach past the content box of the column, nor scroll
    // or clip inside it. Otherwise: nothing may reach past the column unless a scroll box inside
    // the column holds it, and no box may clip its content.
    const over = new Map();
    for (const el of column.querySelectorAll("*")) {
      // Inside an SVG only the <svg> box is laid out; the boxes of its groups (MathJax pads some
      // beyond the drawing) are not what the reader sees.
      if (el.ownerSVGElement || el.closest(hiddenSubtrees)) continue;
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      const cs = getComputedStyle(el);
      if (cs.visibility === "hidden" || cs.position === "fixed") continue;
      const pastColumn = box.left < left - tolerance || box.right > right + tolerance;
      const overflows = el.scrollWidth > el.clientWidth + scrollTolerance;
      let offends;
      if (strict) offends = pastColumn || ((scrollsX(cs) || clipsX(cs)) && overflows);
      else offends = (clipsX(cs) && overflows) || (pastColumn && reach(el, left, right) !== null);
      if (offends) over.set(el, Math.round(Math.max(box.width, overflows ? el.scrollWidth : 0)));
    }
    // Report the outermost offender, named by its most telling part: a table, an equation, a code
    // block or an image before a generic output box or figure.
    const telling = ["table, pre, mjx-container, svg, img, iframe, video, canvas", "figure, .output, .cell_output"];
    for (const [el, width] of over) {
      let up = el.parentElement, nested = false;
      while (up && up !== column) { if (over.has(up)) { nested = true; break; } up = up.parentElement; }
      if (nested || reported.some((r) => r.contains(el) || el.contains(r))) continue;
      let named = null;
      for (const selector of telling) {
        if (el.matches(selector)) { named = el; break; }
        named = [...over.keys()].find((inner) => inner !== el && el.contains(inner) && inner.matches(selector));
        if (named) break;
      }
      named = named || el;
      report.wide.push({ ...describe(named), width: Math.max(over.get(named), width) });
    }
    // A numbered equation must not run into its number, which the theme floats at the right (the
    // part of the equation its scroll box shows is what can meet the number).
    for (const eq of column.querySelectorAll("div.math")) {
      const number = eq.querySelector(".eqno");
      const svg = eq.querySelector("mjx-container > svg");
      if (!number || !svg) continue;
      const n = number.getBoundingClientRect(), m = visibleBox(svg);
      const meets = m.right > n.left + tolerance && m.left < n.right && m.top < n.bottom && m.bottom > n.top;
      if (meets && !over.has(svg)) {
        report.overlaps.push({ ...describe(svg), width: Math.round(m.right - m.left), room: Math.round(n.left - left) });
      }
    }
  }

  // 6. The page itself must not scroll sideways; name the outermost elements that reach past the
  // window outside any box that scrolls or clips them.
  const page = document.scrollingElement || document.documentElement;
  const windowWidth = document.documentElement.clientWidth;
  if (page.scrollWidth > windowWidth + tolerance) {
    const free = (el) => {
      for (let up = el.parentElement; up && up !== document.body && up !== document.documentElement; up = up.parentElement) {
        const cs = getComputedStyle(up);
        if (scrollsX(cs) || clipsX(cs) || cs.position === "fixed") return false;
      }
      return true;
    };
    const culprits = new Map();
    for (const el of document.body.querySelectorAll("*")) {
      if (el.ownerSVGElement || el.closest(hiddenSubtrees)) continue;
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0 || (box.right <= windowWidth + tolerance && box.left >= -tolerance)) continue;
      const cs = getComputedStyle(el);
      if (cs.visibility === "hidden" || cs.position === "fixed" || !free(el)) continue;
      culprits.set(el, Math.round(box.right));
    }
    const outermost = [...culprits.keys()].filter((el) => {
      for (let up = el.parentElement; up; up = up.parentElement) if (culprits.has(up)) return false;
      return true;
    });
    report.pageScroll = { scrollWidth: page.scrollWidth, windowWidth,
                          culprits: outermost.slice(0, 5).map((el) => ({ ...describe(el), right: culprits.get(el) })) };
  }

  measuring.remove();

  // 7. For the record (report.json, not a failure): how tall the page's title is and how far down
  // its first figure starts, in px, the first screen of a phone being what a reader sees first.
  const title = document.querySelector(`${columnSelector} h1`);
  const figure = document.querySelector(`${columnSelector} img, ${columnSelector} figure`);
  report.layout = { titleHeight: title ? Math.round(title.getBoundingClientRect().height) : null,
                    firstFigureTop: figure ? Math.round(figure.getBoundingClientRect().top + window.scrollY) : null };

  // 8. Links within the site (checked against the files by the caller) and the favicon.
  report.links = [...new Set([...document.querySelectorAll("a[href]")].map((a) => a.href))];
  const icon = document.querySelector("link[rel~='icon']");
  if (icon) {
    let status = 0;
    try { status = (await fetch(icon.href, { cache: "no-store" })).status; } catch (e) { status = -1; }
    report.favicon = { href: icon.href, status };
  }
  return report;
}
