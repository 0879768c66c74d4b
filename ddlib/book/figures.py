"""How the book's figures look: one style, set once per notebook, and the ticks of log axes.

The pages draw their figures with matplotlib and glue them (myst-nb); :func:`use_book_style` makes every
inline or glued figure an SVG (sharp at any screen density) with fonts sized for the text column
(figures at most :data:`WIDTH` inches wide, shown at about 1 CSS px per 0.75 pt, half that on a
390 px phone), and :func:`log_axis` / :func:`value_ticks` give log axes one tick format, so that an
axis never mixes ``1e+06`` with ``500000``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from matplotlib.ticker import FixedLocator, Formatter, Locator, MaxNLocator, NullLocator

__all__ = ["WIDTH", "NARROW", "FONT", "MIN_FONT", "RC", "use_book_style", "NumberFormatter", "LogTicks", "log_axis", "value_ticks"]

#: The width (inches) of a figure that fills the text column (about 690 CSS px): two panels side by side.
WIDTH = 7.2
#: The width (inches) of a one-panel figure: on a 390 px phone (a 358 px column) its 10 pt text is 8 px.
NARROW = 6.2
#: Font sizes (points). On a desktop a figure is shown at its size (1 pt = 1.33 px: 10 pt is 13 px);
#: on a phone at 358 px wide, a WIDTH-inch figure's 10 pt is 7 px, so nothing is smaller than 10 pt.
FONT = {"label": 11.0, "tick": 10.5, "legend": 10.0, "title": 11.0, "text": 10.5}
#: The smallest font size (points) a figure of the book may use (the tests hold every figure to it).
MIN_FONT = 9.0

RC: dict[str, Any] = {
    "font.size": FONT["text"],
    "axes.labelsize": FONT["label"],
    "axes.titlesize": FONT["title"],
    "xtick.labelsize": FONT["tick"],
    "ytick.labelsize": FONT["tick"],
    "legend.fontsize": FONT["legend"],
    "legend.title_fontsize": FONT["legend"],
    "figure.titlesize": FONT["title"],
    "legend.framealpha": 0.9,
    "lines.linewidth": 1.6,
    "lines.markersize": 5.5,
    "axes.formatter.use_mathtext": True,   # a linear axis's offset reads x10^6, never 1e6
    "figure.dpi": 200,                     # only the rasterised layers of an SVG (dense scatters) use it
    "svg.hashsalt": "ddlib",               # the same figure gives the same SVG ids on every run
}


def use_book_style() -> None:
    """The book's style: seaborn's whitegrid theme with :data:`RC`, and SVG for inline and glued
    figures (in an IPython kernel; a plain script only gets the style). The SVG carries no date,
    so the same figure gives the same file (and the site the same image name) on every build."""
    import seaborn as sns
    from IPython import get_ipython

    sns.set_theme(style="whitegrid", context="paper", rc=RC)
    shell = get_ipython()
    if shell is None:
        return
    from matplotlib_inline.backend_inline import set_matplotlib_formats
    from matplotlib_inline.config import InlineBackend

    # Both: the formats now, and the inline backend's own settings, which it applies (and would
    # reset to PNG otherwise) when pyplot first loads it, at a page's first figure.
    kwargs = {"bbox_inches": "tight", "metadata": {"Date": None}}
    config = InlineBackend.instance(parent=shell)
    config.print_figure_kwargs = kwargs
    config.figure_formats = {"svg"}
    set_matplotlib_formats("svg", **kwargs)


def _is_integer(v: float) -> bool:
    return abs(v - round(v)) < 1e-9 * max(1.0, abs(v))


def _sci(v: float) -> str:
    """``v`` as mathtext m x 10^k (``10^k`` when m is 1)."""
    k = math.floor(math.log10(abs(v)) + 1e-9)
    m = v / 10 ** k
    mant = f"{m:.2g}"
    return f"$10^{{{k}}}$" if mant == "1" else f"${mant}\\times10^{{{k}}}$"


class NumberFormatter(Formatter):
    """Every tick of an axis in one notation: plain numbers (thousands separated: 500, 1,000, 0.05)
    when all ticks lie in [1e-3, 1e6), else all as m x 10^k (mathtext) -- never a mix."""

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        finite = [abs(v) for v in values if math.isfinite(v) and v != 0]
        plain = all(1e-3 <= v < 1e6 for v in finite)
        return [self._one(v, plain) for v in values]

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._one(x, 1e-3 <= abs(x) < 1e6 or x == 0)

    @staticmethod
    def _one(v: float, plain: bool) -> str:
        if v == 0 or not math.isfinite(v):
            return f"{v:g}"
        if not plain:
            return _sci(v)
        return f"{round(v):,}" if _is_integer(v) else f"{v:,.6g}"


class LogTicks(Locator):
    """Major ticks of a log axis, the coarsest of these with 3 to ``max_ticks`` ticks in view:
    every decade (every other... on a wide axis), 1-2-5, 1-2-3-5, 1-1.5-2-3-5-7, 1..9 x 10^k."""

    def __init__(self, max_ticks: int = 8) -> None:
        self.max_ticks = max_ticks

    def __call__(self) -> list[float]:
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> list[float]:
        vmin, vmax = sorted((vmin, vmax))
        if not (vmax > 0 and math.isfinite(vmax)):
            return []
        vmin = vmin if vmin > 0 else vmax / 1e3
        lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
        inside = lambda ts: [t for t in ts if vmin * (1 - 1e-9) <= t <= vmax * (1 + 1e-9)]  # noqa: E731
        for subs in ((1,), (1, 2, 5), (1, 2, 3, 5), (1, 1.5, 2, 3, 5, 7), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
            ticks = inside([s * 10.0 ** k for k in range(lo, hi + 1) for s in subs])
            if 3 <= len(ticks) <= self.max_ticks:
                return ticks
            if subs == (1,) and len(ticks) > self.max_ticks:  # wide: every stride-th decade
                stride = math.ceil(len(ticks) / self.max_ticks)
                return inside([10.0 ** k for k in range(lo, hi + 1) if k % stride == 0])
        ticks = inside([s * 10.0 ** k for k in range(lo, hi + 1) for s in range(1, 10)])
        if len(ticks) < 2:  # narrower than 1 to 2: linear steps inside the view
            ticks = inside([float(t) for t in MaxNLocator(nbins=3).tick_values(vmin, vmax)])
        return ticks


def _axes(ax: Any, axis: str) -> list[tuple[Any, Any]]:
    """(matplotlib Axis, its set_scale method) for "x", "y" or "both"."""
    pairs = {"x": (ax.xaxis, ax.set_xscale), "y": (ax.yaxis, ax.set_yscale)}
    return list(pairs.values()) if axis == "both" else [pairs[axis]]


def log_axis(ax: Any, axis: str = "y", max_ticks: int = 8) -> None:
    """A log scale on ``axis`` ("x", "y" or "both") with :class:`LogTicks` and one
    :class:`NumberFormatter` notation, and no minor labels."""
    for a, set_scale in _axes(ax, axis):
        set_scale("log")
        a.set_major_locator(LogTicks(max_ticks))
        a.set_major_formatter(NumberFormatter())
        a.set_minor_locator(NullLocator())


def value_ticks(ax: Any, values: Iterable[float], axis: str = "x", log: bool = True) -> None:
    """Ticks at exactly the measured ``values`` (a grid of n, d, L...), on a log scale unless
    ``log`` is False, labelled in one :class:`NumberFormatter` notation."""
    ticks = sorted({float(v) for v in values if math.isfinite(float(v)) and (float(v) > 0 or not log)})
    for a, set_scale in _axes(ax, axis):
        if log:
            set_scale("log")
        a.set_major_locator(FixedLocator(ticks))
        a.set_major_formatter(NumberFormatter())
        a.set_minor_locator(NullLocator())
