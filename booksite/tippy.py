"""Sphinx extension: sphinx-tippy's hover previews, kept offline and quiet.

sphinx-tippy (``_config.yml``) writes one script per page, ``_static/tippy/<page>.<uuid>.js``. This
extension, which runs after it:

- fails the build (a warning; the book builds with ``-W``) when ``tippy_js`` names a URL rather
  than a file of the site: its default loads tippy.js and Popper from unpkg.com;
- typesets a preview's maths once the preview is in the page (``onMount``) rather than before
  (sphinx-tippy's ``onShow``), when MathJax's SVG output cannot measure it and logs
  ``<svg> attribute width: Expected length, "NaNex"`` for every preview with maths;
- starts the previews on the window's ``load`` event with ``addEventListener`` instead of assigning
  ``window.onload``, which would replace (or be replaced by) another script's handler;
- deletes the page scripts of earlier builds, which sphinx-tippy leaves behind for pages in folders.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

_ON_SHOW = "onShow(instance) {MathJax.typesetPromise([instance.popper])"
_ON_MOUNT = "onMount(instance) {MathJax.typesetPromise([instance.popper])"
_START, _END = "window.onload = function () {", "\n};\n"
_START_NEW, _END_NEW = 'window.addEventListener("load", function () {', "\n});\n"


def patch_script(text: str) -> Optional[str]:
    """The page script with both fixes; "" stays ""; None when the script is not the form expected."""
    if not text.strip():
        return text
    if _START_NEW in text:  # already patched (an incremental build)
        return text
    if _START not in text or not text.endswith(_END):
        return None
    text = text.replace(_ON_SHOW, _ON_MOUNT).replace(_START, _START_NEW)
    return text[: -len(_END)] + _END_NEW


def check_local_scripts(app: Sphinx) -> None:
    """builder-inited: every ``tippy_js`` entry must be a file of the site, not a URL."""
    for js in app.config.tippy_js:
        if "://" in js or js.startswith("//"):
            logger.warning("tippy_js loads %s from the network; vendor it under html_static_path "
                           "(book/_static/tippyjs/README.txt)", js)


def patch_scripts(app: Sphinx, exception: Optional[Exception]) -> None:
    """build-finished (after sphinx-tippy wrote them): patch every page script, and delete the
    scripts of earlier builds (sphinx-tippy removes only those of top-level pages)."""
    if exception is not None or app.builder.format != "html":
        return
    pages = getattr(app.env, "tippy_data", {}).get("pages", {})
    current = {Path(page["js_path"]).resolve() for page in pages.values()}
    for path in sorted((Path(app.outdir) / "_static" / "tippy").rglob("*.js")):
        if current and path.resolve() not in current:
            path.unlink()
            continue
        patched = patch_script(path.read_text(encoding="utf8"))
        if patched is None:
            logger.warning("%s: not the script sphinx-tippy is expected to write; booksite.tippy needs an "
                           "update", path)
        else:
            path.write_text(patched, encoding="utf8")


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx_tippy")
    app.connect("builder-inited", check_local_scripts)
    app.connect("build-finished", patch_scripts, priority=900)  # sphinx-tippy writes at 500
    return {"parallel_read_safe": True, "parallel_write_safe": True}
