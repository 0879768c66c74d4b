// In-page half of booksite.check: run in the page once it has loaded (page.evaluate).
// Waits for MathJax and the images, then reports what a reader would see wrong: math left as raw
// TeX, MathJax errors, images that did not load, elements wider than the content column.
// Returns plain data; booksite/check.py turns it into failures.
async (options) => {
  // tolerance: px an element may reach past the column (sub-pixel layout). scrollTolerance: px of
  // content a clipping box may hide; the theme clips inline maths (overflow: hidden), which cuts the
  // 2-5 px that SVG glyphs such as a prime or a subscript overhang, and that is not a wide element.
  const { columnSelector, mathTimeoutMs, imageTimeoutMs, tolerance, scrollTolerance } = options;
  const report = { mathjax: null, unrendered: [], texErrors: [], rawText: [], reprs: [], images: [],
                   column: null, wide: [], overlaps: [], links: [], favicon: null };

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

  // 5. Width: nothing may reach past the content box of the column, nor scroll or clip inside it.
  // Open every dropdown (<details>: sphinx-design dropdowns, hidden cells) so that what a reader
  // can unfold is measured too, and shows in the screenshot.
  for (const details of document.querySelectorAll("details")) details.open = true;
  // MathJax's assistive MathML is clipped to nothing but still counts in its box's scrollWidth:
  // take it out of the layout while measuring.
  const measuring = document.createElement("style");
  measuring.textContent = "mjx-assistive-mml { display: none !important; }";
  document.head.appendChild(measuring);
  const column = document.querySelector(columnSelector);
  if (column) {
    const rect = column.getBoundingClientRect();
    const style = getComputedStyle(column);
    const left = rect.left + parseFloat(style.paddingLeft);
    const right = rect.right - parseFloat(style.paddingRight);
    report.column = { selector: columnSelector, width: Math.round(right - left) };
    const hiddenSubtrees = "mjx-assistive-mml, .visually-hidden, .sr-only, [hidden]";
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
      const clipsX = ["auto", "scroll", "hidden", "clip"].includes(cs.overflowX);
      const scrolls = clipsX && el.scrollWidth > el.clientWidth + scrollTolerance;
      if (pastColumn || scrolls) {
        over.set(el, Math.round(Math.max(box.width, scrolls ? el.scrollWidth : 0)));
      }
    }
    // Report the outermost offender, named by its most telling part: a table, an equation, a code
    // block or an image before a generic output box or figure.
    const telling = ["table, pre, mjx-container, svg, img, iframe, video, canvas", "figure, .output, .cell_output"];
    for (const [el, width] of over) {
      let up = el.parentElement, nested = false;
      while (up && up !== column) { if (over.has(up)) { nested = true; break; } up = up.parentElement; }
      if (nested) continue;
      let named = null;
      for (const selector of telling) {
        if (el.matches(selector)) { named = el; break; }
        named = [...over.keys()].find((inner) => inner !== el && el.contains(inner) && inner.matches(selector));
        if (named) break;
      }
      named = named || el;
      report.wide.push({ ...describe(named), width: Math.max(over.get(named), width) });
    }
    // A numbered equation must not run into its number, which the theme floats at the right.
    for (const eq of column.querySelectorAll("div.math")) {
      const number = eq.querySelector(".eqno");
      const svg = eq.querySelector("mjx-container > svg");
      if (!number || !svg) continue;
      const n = number.getBoundingClientRect(), m = svg.getBoundingClientRect();
      const meets = m.right > n.left + tolerance && m.left < n.right && m.top < n.bottom && m.bottom > n.top;
      if (meets && !over.has(svg)) {
        report.overlaps.push({ ...describe(svg), width: Math.round(m.width), room: Math.round(n.left - left) });
      }
    }
  }

  measuring.remove();

  // 6. Links within the site (checked against the files by the caller) and the favicon.
  report.links = [...new Set([...document.querySelectorAll("a[href]")].map((a) => a.href))];
  const icon = document.querySelector("link[rel~='icon']");
  if (icon) {
    let status = 0;
    try { status = (await fetch(icon.href, { cache: "no-store" })).status; } catch (e) { status = -1; }
    report.favicon = { href: icon.href, status };
  }
  return report;
}
