/* ddlib's own scripts for the built site: navigation drawers that open on small screens, tables
   that fit a phone, and figures that enlarge when tapped. No dependencies; loaded on every page
   (html_js_files in _config.yml). booksite/check.py checks the result at 390, 768 and 1280 px. */
(() => {
  "use strict";

  const ready = (fn) => {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  };

  /* 1. Navigation drawers.
     pydata-sphinx-theme 0.17 hooks its drawer (a <dialog> it fills with the sidebar) to
     document.querySelector(".primary-toggle") / (".secondary-toggle"): the first such button in
     the page, which is the one in the site header. sphinx-book-theme 1.3 hides that header button
     and shows its own in the article header, which nothing is hooked to, so the visible ☰ and
     contents buttons did nothing (and sphinx-book-theme's wide-screen collapse, hooked the same
     way, never ran either). A click on a visible button is forwarded to the hooked one, unless the
     click already changed something (a theme that fixed this itself: no double toggle). */
  const drawerState = (kind) => {
    const dialog = document.getElementById(`pst-${kind}-sidebar-modal`);
    const sidebar = document.getElementById(`pst-${kind}-sidebar`);
    return `${dialog && dialog.open}|${sidebar ? sidebar.className : ""}`;
  };

  const forwardToggles = () => {
    for (const kind of ["primary", "secondary"]) {
      const hooked = document.querySelector(`.${kind}-toggle`);
      if (!hooked) continue;
      for (const button of document.querySelectorAll(`.${kind}-toggle`)) {
        if (button === hooked) continue;
        let before = null;
        button.addEventListener("click", () => { before = drawerState(kind); }, true);
        button.addEventListener("click", () => {
          const was = before;
          // After every other listener of this click has run: forward only if none acted.
          setTimeout(() => { if (drawerState(kind) === was) hooked.click(); }, 0);
        });
      }
    }
  };

  /* 2. Tables on phones. A table wider than its box gets .ddlib-stacked on a phone (ddlib.css
     lays each row out as a card, each cell under its column's name, which data-label carries) when
     it has one plain header row; otherwise, or on a wider screen, .ddlib-scrolls (its first
     column stays in view while the rest scrolls). Tables that fit are left alone. */
  const PHONE = window.matchMedia("(max-width: 575.98px)");

  const labelCells = (table) => {
    const head = table.tHead && table.tHead.rows.length === 1 ? table.tHead.rows[0] : null;
    if (!head || [...head.cells].some((cell) => cell.colSpan > 1)) return false;
    const labels = [...head.cells].map((cell) => cell.textContent.replace(/\s+/g, " ").trim());
    const rows = [...table.tBodies].flatMap((body) => [...body.rows]);
    if (!rows.length || rows.some((row) => row.cells.length !== labels.length ||
                                           [...row.cells].some((cell) => cell.colSpan > 1 || cell.rowSpan > 1))) {
      return false;
    }
    for (const row of rows) {
      [...row.cells].forEach((cell, i) => { if (labels[i]) cell.dataset.label = labels[i]; });
    }
    return true;
  };

  const fitTables = () => {
    for (const table of document.querySelectorAll("article.bd-article table")) {
      if (table.classList.contains("genindextable") || table.closest("mjx-container") ||
          (table.parentElement && table.parentElement.closest("table"))) continue;
      if (!table.dataset.ddlibStackable) table.dataset.ddlibStackable = labelCells(table) ? "yes" : "no";
      table.classList.remove("ddlib-stacked", "ddlib-scrolls");
      const room = table.parentElement ? table.parentElement.clientWidth : 0;
      const width = table.getBoundingClientRect().width;
      if (width === 0 || width <= room + 1) continue;
      table.classList.add(PHONE.matches && table.dataset.ddlibStackable === "yes" ? "ddlib-stacked" : "ddlib-scrolls");
    }
  };

  let fitPending = false;
  const refitTables = () => {
    if (fitPending) return;
    fitPending = true;
    requestAnimationFrame(() => { fitPending = false; fitTables(); });
  };

  const setupTables = () => {
    fitTables();
    window.addEventListener("resize", refitTables);
    window.addEventListener("load", refitTables);
    // A dropdown that opens lays out the tables inside it; maths changes the widths of cells.
    document.addEventListener("toggle", refitTables, true);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(refitTables);
    else window.addEventListener("load", () => {
      if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(refitTables);
    });
  };

  /* 3. Figures: a tap (click, or Enter on a focused figure) shows the image over the page. On a
     phone it opens large (up to twice the window's width, at most its own size) to be panned, as a
     figure fitted to a phone's width is no bigger than on the page; elsewhere it opens fitted to the
     window. A tap on the image switches between the two; a tap beside it, the close button or
     Escape closes it. Images inside links keep their link. */
  const NARROW = window.matchMedia("(max-width: 575.98px)");
  let lightbox = null;

  const showLarge = (large) => {
    const big = lightbox.querySelector("img");
    const natural = big.naturalWidth || 0;
    const width = NARROW.matches ? Math.min(natural, 2 * window.innerWidth) : natural;
    lightbox.classList.toggle("ddlib-full", large);
    big.style.width = large && width ? `${width}px` : "";
  };

  const openLightbox = (img) => {
    if (!lightbox) {
      lightbox = document.createElement("dialog");
      lightbox.className = "ddlib-lightbox";
      lightbox.setAttribute("aria-label", "Enlarged figure");
      const close = document.createElement("button");
      close.type = "button";
      close.className = "ddlib-lightbox-close";
      close.setAttribute("aria-label", "Close");
      close.textContent = "\u00d7";
      lightbox.append(close, document.createElement("img"));
      lightbox.addEventListener("click", (event) => {
        if (event.target.tagName === "IMG") showLarge(!lightbox.classList.contains("ddlib-full"));
        else lightbox.close();
      });
      lightbox.addEventListener("keydown", (event) => {
        if (event.key === "Escape") { event.preventDefault(); lightbox.close(); }
      });
      document.body.appendChild(lightbox);
    }
    const big = lightbox.querySelector("img");
    big.alt = img.alt;
    const open = () => { showLarge(NARROW.matches); lightbox.showModal(); lightbox.scrollTo(0, 0); };
    if (big.src === (img.currentSrc || img.src) && big.complete) open();
    else {
      big.addEventListener("load", open, { once: true });
      big.addEventListener("error", open, { once: true });
      big.src = img.currentSrc || img.src;
    }
  };

  const setupFigures = () => {
    for (const img of document.querySelectorAll("article.bd-article img")) {
      if (img.closest("a, button")) continue;
      img.classList.add("ddlib-zoomable");
      img.tabIndex = 0;
      if (!img.title) img.title = "Tap to enlarge";
      img.addEventListener("click", () => openLightbox(img));
      img.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); openLightbox(img); }
      });
    }
  };

  ready(forwardToggles);
  ready(setupTables);
  ready(setupFigures);
})();
