"""The executed notebook the site offers for download opens anywhere: every glue role is replaced by
its value (formatted as the page formats it), every glued figure is an ordinary image output where
its directive stood, with its numbered caption, and the result is a valid notebook. Checked on a
synthetic notebook, on one executed by a real kernel with myst-nb's own ``glue``, through the
Sphinx hook that publishes it, and on the built site's notebooks when ``make book`` has run."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``booksite`` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from booksite.notebook_downloads import GLUE_PREFIX, GlueError, add_download, glue_store, readable  # noqa: E402

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
IMAGES = ("image/png", "image/svg+xml")


def _glued(name: str, data: dict) -> nbformat.NotebookNode:
    """An output as myst-nb's ``glue(name, value, display=False)`` writes it."""
    return nbformat.v4.new_output("display_data", data={GLUE_PREFIX + k: v for k, v in data.items()},
                                  metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})


PROSE = """Value {glue:text}`n:,` and {glue:text}`x:.3f`, {glue:text}`s`, link {glue:md}`link:myst`, any {glue}`n`.
See {numref}`fig-a` and {numref}`Figure %s <fig-b>`.

```{glue:figure} fig_a
:name: fig-a
:alt: alt a

Caption with {glue:text}`x:.2f`.
```

Middle text {glue:text}`n`.

:::{glue:figure} fig_b
:name: fig-b

Caption b.
:::
"""

BOX = """| t |
|---|
| 1 |

```{glue:figure} verdicts
:name: fig-v

Verdict caption {glue:text}`n`.
```

````{prf:conjecture} C1.1
:label: claim-C1.1

Statement {glue:md}`link`, see {doc}`the setting <../book/setting>`.
````
"""


def _notebook(prose: str = PROSE) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    glue = nbformat.v4.new_code_cell("glue(...)", execution_count=1)
    glue.outputs = [_glued("n", {"text/plain": "8000"}), _glued("x", {"text/plain": "0.123456"}),
                    _glued("s", {"text/plain": "'n/a'"}),
                    _glued("link", {"text/markdown": "`he2`", "text/plain": "<IPython.core.display.Markdown object>"}),
                    _glued("fig_a", {"image/png": PNG, "text/plain": "<Figure size 700x400 with 1 Axes>"}),
                    _glued("fig_b", {"image/svg+xml": SVG, "text/plain": "<Figure>"}),
                    _glued("verdicts", {"image/png": PNG, "text/plain": "<Figure>"})]
    box = nbformat.v4.new_code_cell("display(verdict_block(cls))", execution_count=2)
    box.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": BOX, "text/plain": "<Markdown>"})]
    nb.cells = [glue, nbformat.v4.new_markdown_cell(prose), box]
    return nb


def _markdown(nb: nbformat.NotebookNode) -> list[str]:
    """Every Markdown the notebook shows: its Markdown cells and Markdown outputs."""
    cells = [c.source for c in nb.cells if c.cell_type == "markdown"]
    outputs = [o.data["text/markdown"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if "text/markdown" in o.get("data", {})]
    return cells + outputs


def _shown_images(nb: nbformat.NotebookNode) -> list[dict]:
    """The image outputs a plain Jupyter shows (not glue records)."""
    return [o.data for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "display_data" and any(m in o.data for m in IMAGES)]


def assert_opens_anywhere(nb: nbformat.NotebookNode) -> None:
    """The published notebook's contract: valid, no glue left in Markdown, every glued figure shown."""
    nbformat.validate(nb)
    assert not [m for m in _markdown(nb) if "{glue" in m]
    shown = _shown_images(nb)
    for key, glued in glue_store(nb).items():
        images = {m: v for m, v in glued["data"].items() if m in IMAGES}
        if images:
            assert any(all(d.get(m) == v for m, v in images.items()) for d in shown), f"figure {key} not shown"


def test_glue_roles_become_their_formatted_values():
    out = readable(_notebook())
    assert_opens_anywhere(out)
    prose = out.cells[1].source
    assert prose.startswith("Value 8,000 and 0.123, n/a, link `he2`, any 8000.\nSee Fig. 1 and Figure 2.")


def test_each_glued_figure_is_an_image_output_where_its_directive_was_with_its_caption():
    nb = _notebook()
    out = readable(nb)
    kinds = [(c.cell_type, c.source.split("\n")[0][:30]) for c in out.cells]
    assert [k for k, _ in kinds] == ["code", "markdown", "code", "markdown", "code", "markdown", "code"]
    figure_a, caption_a, figure_b, caption_b = out.cells[2], out.cells[3], out.cells[4], out.cells[5]
    assert figure_a.outputs[0].data["image/png"] == PNG and figure_a.outputs[0].data["text/plain"] == "alt a"
    assert figure_a.metadata["jupyter"]["source_hidden"] and figure_a.source.startswith("#")
    assert caption_a.source.startswith("**Fig. 1.** Caption with 0.12.\n\nMiddle text 8000.")
    assert figure_b.outputs[0].data["image/svg+xml"] == SVG and "image/png" not in figure_b.outputs[0].data
    assert caption_b.source == "**Fig. 2.** Caption b."
    assert out.cells[0].outputs == nb.cells[0].outputs  # the glue records stay as they were
    assert nb.cells[1].source == PROSE  # the executed notebook itself is not changed


def test_a_figure_in_a_markdown_output_becomes_an_image_output_of_that_cell():
    outputs = readable(_notebook()).cells[-1].outputs
    assert [list(o.data)[0] for o in outputs] == ["text/markdown", "image/png", "text/markdown", "text/markdown"]
    assert outputs[0].data["text/markdown"].startswith("| t |")
    assert outputs[2].data["text/markdown"] == "**Fig. 3.** Verdict caption 8000."
    # other directives and cross-references: their title and text, readable without MyST
    assert outputs[3].data["text/markdown"] == "**Conjecture C1.1.** Statement `he2`, see the setting."


def test_figures_carry_the_numbers_the_site_gave_them():
    out = readable(_notebook(), numbers={"fig-a": "12", "fig-b": "13", "fig-v": "14"})
    assert out.cells[1].source.startswith("Value") and "See Fig. 12 and Figure 13." in out.cells[1].source
    assert out.cells[3].source.startswith("**Fig. 12.**") and out.cells[-1].outputs[2].data["text/markdown"].startswith(
        "**Fig. 14.**")


def test_an_unknown_key_or_a_value_of_the_wrong_type_is_one_error_naming_it():
    with pytest.raises(GlueError, match="no glued value 'nope'"):
        readable(_notebook("A {glue:text}`nope` here."))
    with pytest.raises(GlueError, match="glue:md.*'n'.*no text/markdown"):
        readable(_notebook("A {glue:md}`n` here."))
    with pytest.raises(GlueError, match="'x' with format '.3d'"):
        readable(_notebook("A {glue:text}`x:.3d` here."))


def test_glue_in_a_code_block_is_code_and_stays_as_written():
    prose = "Write\n\n```md\n{glue:text}`n:.2f`\n```\n\nto paste {glue:text}`n`."
    out = readable(_notebook(prose))
    assert out.cells[1].source == "Write\n\n```md\n{glue:text}`n:.2f`\n```\n\nto paste 8000."


def test_glue_from_another_notebook_is_read_from_its_store():
    other = {"m": {"data": {"text/plain": "0.5"}, "metadata": {}}}
    out = readable(_notebook("A {glue:text}`../notebooks/x.md::m:.2f` b."), other=lambda doc: other)
    assert out.cells[1].source == "A 0.50 b."


def test_a_notebook_without_cell_ids_stays_valid():
    nb = _notebook()
    nb.nbformat_minor = 4
    for cell in nb.cells:
        del cell["id"]
    out = readable(nb)
    nbformat.validate(out)
    assert all("id" not in c for c in out.cells)


# --- a notebook executed by a kernel, with myst-nb's own glue -------------------------------------

def test_a_notebook_executed_with_myst_nb_glue_opens_anywhere():
    from nbclient import NotebookClient

    code = ("import matplotlib.pyplot as plt\nfrom IPython.display import Markdown\nfrom myst_nb import glue\n"
            "fig, ax = plt.subplots(figsize=(2, 1))\nax.plot([0, 1])\nglue('fig', fig, display=False)\nplt.close(fig)\n"
            "glue('v', 0.123456, display=False)\nglue('w', Markdown('*eight*'), display=False)")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code),
                nbformat.v4.new_markdown_cell("```{glue:figure} fig\n:name: f\n\nA figure.\n```\n\n"
                                              "v = {glue:text}`v:.2f`, {glue:md}`w:myst`.")]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    out = readable(nb)
    assert_opens_anywhere(out)
    assert [c.cell_type for c in out.cells] == ["code", "code", "markdown"]
    assert "image/png" in out.cells[1].outputs[0].data
    assert out.cells[2].source == "**Fig. 1.** A figure.\n\nv = 0.12, *eight*."


# --- the Sphinx hook that publishes it ---------------------------------------------------------------

def _fake_app(tmp_path: Path, numbers: dict | None = None) -> SimpleNamespace:
    env = SimpleNamespace(metadata={"notebooks/02_generalization": {"kernelspec": {}}}, booksite_notebook_names={},
                          mystnb_config=SimpleNamespace(execution_cache_path=""),
                          toc_fignumbers={"notebooks/02_generalization": {"figure": numbers or {}}})
    (tmp_path / "_build" / "html").mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(outdir=str(tmp_path / "_build" / "html"), env=env,
                           config=SimpleNamespace(numfig_format={"figure": "Fig. %s"}))


def _publish(tmp_path: Path, nb: nbformat.NotebookNode, numbers: dict | None = None) -> list[dict]:
    executed = tmp_path / "_build" / "jupyter_execute" / "notebooks" / "02_generalization.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, executed)
    group = {"label": "download-buttons", "buttons": []}
    context = {"header_buttons": [group], "pathto": lambda path, resource: f"../{path}"}
    add_download(_fake_app(tmp_path, numbers), "notebooks/02_generalization", "page.html", context, doctree=object())
    return group["buttons"]


def test_the_site_publishes_the_readable_notebook_with_the_site_numbers(tmp_path):
    assert _publish(tmp_path, _notebook(), numbers={"fig-a": (4,), "fig-b": (5,), "fig-v": (6,)})
    published = nbformat.read(tmp_path / "_build" / "html" / "_notebooks" / "02_generalization.ipynb", 4)
    assert_opens_anywhere(published)
    assert "See Fig. 4 and Figure 5." in published.cells[1].source


def test_unresolvable_glue_is_a_warning_and_nothing_is_published(tmp_path, monkeypatch):
    import booksite.notebook_downloads as downloads

    warnings = []
    monkeypatch.setattr(downloads.logger, "warning", lambda msg, *args, **kwargs: warnings.append(msg % args))
    assert _publish(tmp_path, _notebook("{glue:text}`nope`")) == []
    assert len(warnings) == 1 and "nope" in warnings[0]  # the strict build (-W) fails on it
    assert not (tmp_path / "_build" / "html" / "_notebooks" / "02_generalization.ipynb").exists()


# --- the built site ---------------------------------------------------------------------------------

BUILT = sorted((ROOT / "_build" / "html" / "_notebooks").glob("*.ipynb"))


@pytest.mark.skipif(not BUILT, reason="no built site (make book) to read the published notebooks from")
@pytest.mark.parametrize("path", BUILT, ids=lambda p: p.stem)
def test_every_published_notebook_of_the_built_site_opens_anywhere(path):
    nb = nbformat.read(path, as_version=4)
    assert_opens_anywhere(nb)  # Markdown outputs included
    assert not [m for m in _markdown(nb) if re.search(r"^(`{3,}|:{3,})\{", m, re.M)]  # no MyST directive left
