"""Hover previews offline (booksite/tippy.py, _config.yml): sphinx-tippy's scripts come from the
site, not a CDN, and its page scripts are patched to typeset maths on mount and to add (not assign)
the window's load handler."""
from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``booksite`` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from booksite.tippy import patch_script  # noqa: E402

# The form sphinx-tippy 0.4 writes (write_tippy_props_page), with maths enabled.
GENERATED = dedent("""\
    selector_to_html = {"a[href=\\"#x\\"]": "<p>x</p>"}
    skip_classes = ["headerlink"]

    window.onload = function () {
        for (const [select, tip_html] of Object.entries(selector_to_html)) {
            const links = document.querySelectorAll(`article ${select}`);
            for (const link of links) {
                tippy(link, {
                    content: tip_html,
                    allowHTML: true,
                    arrow: true,
                    placement: 'auto-start', maxWidth: 500, interactive: false,
                    onShow(instance) {MathJax.typesetPromise([instance.popper]).then(() => {});},
                });
            };
        };
        console.log("tippy tips loaded!");
    };
    """)


def test_patch_typesets_on_mount_and_adds_the_load_handler() -> None:
    patched = patch_script(GENERATED)
    assert patched is not None
    assert "onMount(instance) {MathJax.typesetPromise" in patched and "onShow" not in patched
    assert 'window.addEventListener("load", function () {' in patched and "window.onload" not in patched
    assert patched.endswith("\n});\n")
    assert patch_script(patched) == patched  # idempotent (incremental builds)
    assert patch_script("") == ""
    assert patch_script("something else entirely;\n") is None  # a changed sphinx-tippy is reported


def test_config_loads_tippy_from_the_site() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert "sphinx_tippy" in config["extensions"] and "booksite.tippy" in config["extensions"]
    for js in config["tippy_js"]:
        assert "://" not in js and (ROOT / "book" / "_static" / js).is_file(), js
    assert config["tippy_enable_wikitips"] is False and config["tippy_enable_doitips"] is False
    assert "sphinx_proof" in config["extensions"]
