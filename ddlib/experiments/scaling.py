"""The reading of the memory's scaling fits in words (notebook 03): each line's measured slope
against the exponent r^2 d + L allows and the bound's own slope over the sizes measured (the
fits themselves are core statistics: ``ddlib.scaling``)."""
from __future__ import annotations

from typing import Any, Mapping, Optional

import pandas as pd

from ..scaling import BOUND_EXPONENTS, FLAT, bound_slope

__all__ = ["reading"]


def _num(x: float) -> str:
    return f"{round(float(x), 2) + 0.0:.2f}"  # never "-0.00"


def reading(slopes: pd.DataFrame, table: pd.DataFrame, x_of: Mapping[str, str], *, quantity: str = "floats",
            names: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """Read the fitted growth of the memory against r^2 d + L, line by line, as data and as text.

    For each line: the exponent the bound allows at most (``BOUND_EXPONENTS``), the slope of
    r^2 d + L itself over the sizes measured (``bound_slope``), and the measured slope with its
    interval.  The bound is *exceeded* when the interval lies above the allowed exponent, and
    *not tight* when it lies below the bound's own slope over the range; then the text says by
    how much less the memory grew than the bound over that range.  The text is produced from
    these numbers, never written by hand.

    Args:
        slopes: ``fit_slopes`` rows (one per line for ``quantity``).
        table: the rows the slopes were fitted on (for the ranges and the bound's slopes).
        x_of: line name -> fitted column.
        names: line name -> the symbol used in the text (default: the line name).

    Returns:
        A dict with keys "per_line" (per line, a dict of its reading), "exceeded" and "not_tight" (lists of lines) and "text".
    """
    allowed = BOUND_EXPONENTS[quantity]
    names = dict(names or {})
    per, parts = {}, []
    for row in slopes[slopes.quantity == quantity].to_dict(orient="records"):
        line, x = row["line"], row["x"]
        part = table[table.line == line]
        lo_x, hi_x = float(part[x].min()), float(part[x].max())
        span = hi_x / lo_x
        bound = bound_slope(part, x, quantity)
        exceeded = bool(row["lo"] > (allowed[x] if allowed[x] > 0 else FLAT))
        not_tight = bool(row["hi"] < bound - FLAT) if bound > FLAT else False
        per[line] = {"x": x, "slope": row["slope"], "lo": row["lo"], "hi": row["hi"], "allowed": allowed[x],
                     "bound_slope": bound, "range": (lo_x, hi_x), "exceeded": exceeded, "not_tight": not_tight,
                     "bound_growth": span ** bound, "measured_growth": span ** row["slope"]}
        name = names.get(line, line)
        head = (f"in {name} ({lo_x:g} to {hi_x:g}) the exponent is {_num(row['slope'])} "
                f"[{_num(row['lo'])}, {_num(row['hi'])}]")
        if exceeded:
            parts.append(f"{head}, above the {allowed[x]:g} that r^2 d + L allows")
        elif not_tight:
            parts.append(f"{head} where r^2 d + L grows like {name}^{_num(bound)}: not tight in {name} (over "
                         f"this range the bound grows {span ** bound:.1f}x, the memory {span ** row['slope']:.1f}x)")
        elif bound == 0.0:
            parts.append(f"{head}; r^2 d + L has no {name} term")
        else:
            parts.append(f"{head}, against {_num(bound)} for r^2 d + L over this range")
    exceeded = [k for k, v in per.items() if v["exceeded"]]
    not_tight = [k for k, v in per.items() if v["not_tight"]]
    head = ("The memory grows faster than r^2 d + L allows in " + ", ".join(names.get(k, k) for k in exceeded)
            if exceeded else "The memory grows no faster than r^2 d + L allows")
    return {"per_line": per, "exceeded": exceeded, "not_tight": not_tight,
            "text": head + ": " + "; ".join(parts) + "." if parts else head + "."}
