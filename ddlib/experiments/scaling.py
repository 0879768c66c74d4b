"""Scaling fits: log-log slopes of a measured size against a factor, with percentile-bootstrap
intervals over repetitions, the two-term law c1 r^2 d + c2 L fitted to the memory, and the
computed reading of the slopes against the exponents r^2 d + L allows."""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..validation import check_float, check_int

__all__ = ["BOUND_EXPONENTS", "loglog_slope", "bootstrap_slope", "fit_slopes", "fit_two_term", "two_term_slopes",
           "verdict"]

# Growth of the memory in floats that r^2 d + L allows in each factor (an upper bound: the
# local exponent of r^2 d + L in r is 2 r^2 d / (r^2 d + L) <= 2, in d and L it is <= 1).
BOUND_EXPONENTS = {"r": 2.0, "d": 1.0, "width": 1.0}


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x (the exponent of a power law y ~ x^s)."""
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    if lx.size < 2 or np.ptp(lx) == 0:
        raise ValueError(f"a slope needs at least two distinct x values, got x={list(x)}")
    return float(np.polyfit(lx, ly, 1)[0])


def bootstrap_slope(table: pd.DataFrame, x: str, y: str, *, group: str = "seed", n_boot: int = 1000,
                    seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Log-log slope of ``y`` on ``x`` and a percentile bootstrap interval over repetitions.

    A bootstrap sample draws repetitions (values of ``group``) with replacement and keeps all
    their rows, so the x-values of one repetition stay together.  Rows with a missing or
    non-positive ``y`` are dropped (and counted).

    Returns:
        {"slope", "lo", "hi", "n_groups", "n_rows", "n_dropped"}.
    """
    n_boot = check_int("n_boot", n_boot, min_value=1)
    check_float("level", level, min_value=0.0, max_value=1.0)
    ok = table[y].notna() & (pd.to_numeric(table[y], errors="coerce") > 0)
    data = table.loc[ok, [group, x, y]]
    slope = loglog_slope(data[x], data[y].astype(float))
    groups = data[group].unique()
    by = {g: data[data[group] == g] for g in groups}
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        sample = pd.concat([by[g] for g in rng.choice(groups, size=len(groups), replace=True)])
        if sample[x].nunique() >= 2:
            boots.append(loglog_slope(sample[x], sample[y].astype(float)))
    tail = (1.0 - level) / 2
    lo, hi = (np.quantile(boots, [tail, 1.0 - tail]) if boots else (float("nan"), float("nan")))
    return {"slope": slope, "lo": float(lo), "hi": float(hi), "n_groups": int(len(groups)),
            "n_rows": int(len(data)), "n_dropped": int((~ok).sum())}


def fit_slopes(table: pd.DataFrame, *, quantities: Sequence[str] = ("m1_star", "m2_star", "memory_floats"),
               n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Slope and interval of every quantity against the factor of every line in ``table``."""
    rows = []
    for factor, line in table.groupby("line", sort=False):
        for q in quantities:
            rows.append({"factor": factor, "quantity": q,
                         **bootstrap_slope(line, factor, q, n_boot=n_boot, seed=seed)})
    return pd.DataFrame(rows)


def fit_two_term(table: pd.DataFrame) -> dict[str, float]:
    """Non-negative c1, c2 minimising the relative error of memory ~ c1 r^2 d + c2 L.

    The fit uses the mean memory of each task size (r, d, L) over its repetitions.  Returns c1,
    c2, the largest and median relative error |fit / memory - 1| over sizes, and n_sizes.
    """
    data = (table[table.memory_floats.notna()].drop_duplicates(["r", "d", "width", "seed"])
            .groupby(["r", "d", "width"], as_index=False).memory_floats.mean())
    mem = data.memory_floats.to_numpy(float)
    A = np.stack([(data.r ** 2 * data.d).to_numpy(float), data.width.to_numpy(float)], 1) / mem[:, None]
    b = np.ones(len(mem))
    candidates = []
    c, *_ = np.linalg.lstsq(A, b, rcond=None)
    if (c >= 0).all():
        candidates.append(c)
    for j in range(2):  # one term only (the non-negativity constraint active on the other)
        cj = max(float(A[:, j] @ b / (A[:, j] @ A[:, j])), 0.0)
        candidates.append(np.array([cj, 0.0]) if j == 0 else np.array([0.0, cj]))
    best = min(candidates, key=lambda c: float(((A @ c - b) ** 2).sum()))
    rel = np.abs(A @ best - b)
    return {"c1": float(best[0]), "c2": float(best[1]), "max_rel_error": float(rel.max()),
            "median_rel_error": float(np.median(rel)), "n_sizes": int(len(data))}


def two_term_slopes(table: pd.DataFrame, fit: Mapping[str, float]) -> dict[str, float]:
    """Along each line of ``table``, the log-log slope of the fitted law c1 r^2 d + c2 L itself:
    the growth the two-term form predicts over exactly the sizes measured."""
    out = {}
    for factor, line in table.groupby("line", sort=False):
        sizes = line.drop_duplicates(["r", "d", "width"])
        law = fit["c1"] * sizes.r ** 2 * sizes.d + fit["c2"] * sizes.width
        out[factor] = loglog_slope(sizes[factor], law)
    return out


def verdict(slopes: pd.DataFrame, table: Optional[pd.DataFrame] = None,
            quantity: str = "memory_floats") -> dict[str, Any]:
    """Read the fitted memory slopes against the bound r^2 d + L.

    A factor is *within the bound* when its interval's lower end does not exceed the exponent
    the bound allows (2 for r, 1 for d and L), and it *shows growth* when the lower end is
    above 0.  With ``table``, the two-term law c1 r^2 d + c2 L is fitted (``fit_two_term``) and
    its own slope along each line is set beside the measured one.  The text is produced from
    these numbers, never written by hand.

    Returns:
        {"within_bound": bool, "per_factor": {factor: {...}}, "two_term": fit or None, "text": str}.
    """
    def num(x: float) -> str:
        return f"{round(float(x), 2) + 0.0:.2f}"  # never "-0.00"

    rows = slopes[slopes.quantity == quantity].set_index("factor")
    fit = fit_two_term(table) if table is not None else None
    law = two_term_slopes(table, fit) if table is not None else {}
    per, parts = {}, []
    for f in rows.index:
        s = rows.loc[f]
        bound = BOUND_EXPONENTS[f]
        within, grows, above = bool(s.lo <= bound), bool(s.lo > 0), bool(s.lo > bound)
        per[f] = {"slope": float(s.slope), "lo": float(s.lo), "hi": float(s.hi), "bound": bound,
                  "within_bound": within, "grows": grows, "two_term_slope": law.get(f)}
        name = "L" if f == "width" else f
        shape = ("faster than the bound allows" if above else
                 "flat (no growth resolved)" if not grows else
                 "as fast as the bound allows" if s.hi >= bound else "slower than the bound's maximum")
        text = f"in {name}: exponent {num(s.slope)} [{num(s.lo)}, {num(s.hi)}], at most {bound:g} allowed -- {shape}"
        if f in law:
            text += f" (the fitted law predicts {num(law[f])} here)"
        parts.append(text)
    within = all(v["within_bound"] for v in per.values())
    head = ("The measured memory grows no faster than r^2 d + L allows"
            if within else "The measured memory grows FASTER than r^2 d + L allows")
    flat = [("L" if f == "width" else f) for f, v in per.items() if not v["grows"]]
    tail = (f". No growth is resolved in {', '.join(flat)}: within this range that term of the "
            f"bound does not show" if flat else "")
    if fit is not None:
        tail += (f". Best non-negative fit: memory ~ {fit['c1']:.2f} r^2 d + {fit['c2']:.2f} L, off by at most "
                 f"{100 * fit['max_rel_error']:.0f}% (median {100 * fit['median_rel_error']:.0f}%) over the "
                 f"{fit['n_sizes']} task sizes")
    return {"within_bound": within, "per_factor": per, "two_term": fit,
            "text": head + ": " + "; ".join(parts) + tail + "."}
