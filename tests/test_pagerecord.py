"""booksite.pagerecord: what a page record reads from an executed notebook, and how two records compare."""
from booksite.pagerecord import _glued, compare


def _glue_output(name, data):
    return {"output_type": "display_data", "metadata": {"scrapbook": {"name": name}},
            "data": {f"application/papermill.record/{k}": v for k, v in data.items()}}


def _nb(*outputs):
    return {"cells": [{"cell_type": "code", "outputs": list(outputs)}]}


def test_glued_reads_text_markdown_and_figure_digests():
    nb = _nb(_glue_output("t", {"text/plain": "0.25"}),
             _glue_output("m", {"text/markdown": "**holds**", "text/plain": "<md>"}),
             _glue_output("svg", {"image/svg+xml": "<svg>a</svg>", "text/plain": "<Figure>"}),
             _glue_output("png", {"image/png": "iVBOR", "text/plain": "<Figure>"}),
             {"output_type": "stream", "text": "not glued"})
    found = _glued(nb)
    assert found["t"] == "0.25" and found["m"] == "**holds**"
    assert found["svg"].startswith("svg:") and found["png"].startswith("png:")
    other = _glued(_nb(_glue_output("svg", {"image/svg+xml": "<svg>b</svg>"})))
    assert other["svg"] != found["svg"]  # the digest follows the figure's content
    assert len(found) == 4


def _record(glue, verdicts=None, status=0):
    return {"pages": {"p": {"status": status, "glue": glue, "verdicts": verdicts or {}}}}


def test_compare_sets_figures_and_timings_apart_from_numbers():
    a = _record({"x": "1.0", "fig": "svg:aaaa", "wall_s": "3"}, {"C1": ["holds", ""]})
    b = _record({"x": "1.1", "fig": "svg:bbbb", "wall_s": "4"}, {"C1": ["does not hold", ""]})
    diffs, apart = compare(a, b)
    assert any("glue x" in d for d in diffs) and any("C1" in d for d in diffs)
    assert any("glue fig" in d for d in apart) and any("wall_s" in d for d in apart)
    assert not any("glue fig" in d for d in diffs)
    # a figure that became text is a difference, not figure bytes
    diffs, _ = compare(a, _record({"x": "1.0", "fig": "<Figure>", "wall_s": "3"}, {"C1": ["holds", ""]}))
    assert any("glue fig" in d for d in diffs)
    assert compare(a, a) == ([], [])
