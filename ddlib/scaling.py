"""Scaling fits: log-log slopes of a measured size against a factor, per repetition and pooled
with a percentile bootstrap over repetitions, the two-term law c1 r^2 d + c2 L fitted to the
memory, and the exponents r^2 d + L allows (their reading in words is the book's:
``ddlib.experiments.scaling``)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .validation import check_float, check_int

__all__ = ["BOUND_EXPONENTS", "FLAT", "loglog_slope", "bootstrap_slope", "seed_slopes", "fit_slopes",
           "bound_slope", "fit_two_term", "two_term_slopes"]

# The most the distilled memory may grow in each factor under r^2 d + L (x: the column the line
# is fitted against).  Floats: the local exponent of r^2 d + L is 2 r^2 d / (r^2 d + L) <= 2 in r,
# r^2 d / (r^2 d + L) <= 1 in d, L / (r^2 d + L) <= 1 in L, and 0 in n (no n term).  Points: a
# point holds d + 1 floats, so (r^2 d + L) / (d + 1) ~ r^2 + L/d points: at most r^2, L^1, and
# non-increasing in d (exponent <= 0).
BOUND_EXPONENTS: dict[str, dict[str, float]] = {
    "floats": {"r": 2.0, "d": 1.0, "width": 1.0, "n_train": 0.0},
    "points": {"r": 2.0, "d": 0.0, "width": 1.0, "n_train": 0.0},
}
# A slope within +-FLAT counts as no growth: over the 16-64x ranges of a line, x^0.2 changes a
# size by at most 1.7-2.3x -- about the spread of a certified size between repetitions -- while
# the smallest growth the bound's terms have (the L term at L ~ r^2 d) is x^0.5.
FLAT = 0.2


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log y against log x (the exponent of a power law y ~ x^s)."""
    lx, ly = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    if lx.size < 2 or np.ptp(lx) == 0:
        raise ValueError(f"a slope needs at least two distinct x values, got x={list(x)}")
    return float(np.polyfit(lx, ly, 1)[0])


def _usable(table: pd.DataFrame, x: str, y: str, group: str) -> tuple[pd.DataFrame, int]:
    """Rows with a positive ``y`` (a missing one -- a search that found nothing -- is dropped)."""
    ok = pd.to_numeric(table[y], errors="coerce") > 0
    return table.loc[ok, [group, x, y]].astype({y: float}), int((~ok).sum())


def bootstrap_slope(table: pd.DataFrame, x: str, y: str, *, group: str = "seed", n_boot: int = 1000,
                    seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Log-log slope of ``y`` on ``x`` pooled over repetitions, and a percentile bootstrap interval.

    A bootstrap sample draws repetitions (values of ``group``) with replacement and keeps all
    their rows, so the x-values of one repetition stay together.  Rows with a missing or
    non-positive ``y`` are dropped (and counted).  With every repetition measured at the same x
    values the pooled slope is the mean of the per-repetition slopes (``seed_slopes``).

    Returns:
        {"slope", "lo", "hi", "n_groups", "n_rows", "n_dropped"}.
    """
    n_boot = check_int("n_boot", n_boot, min_value=1)
    check_float("level", level, min_value=0.0, max_value=1.0)
    data, dropped = _usable(table, x, y, group)
    slope = loglog_slope(data[x], data[y])
    lx, ly = np.log(data[x].to_numpy(float)), np.log(data[y].to_numpy(float))
    codes, groups = pd.factorize(data[group], sort=True)
    # Per repetition: the sums a least-squares slope needs (n, Sx, Sy, Sxx, Sxy); a resample's
    # slope comes from its repetitions' counts times these sums (all resamples at once).
    sums = np.zeros((len(groups), 5))
    np.add.at(sums, codes, np.stack([np.ones_like(lx), lx, ly, lx * lx, lx * ly], 1))
    draws = np.random.default_rng(seed).integers(0, len(groups), size=(n_boot, len(groups)))
    counts = np.zeros((n_boot, len(groups)))
    np.add.at(counts, (np.repeat(np.arange(n_boot), len(groups)), draws.ravel()), 1.0)
    n, sx, sy, sxx, sxy = (counts @ sums).T
    denom = n * sxx - sx * sx
    ok = denom > 1e-9 * np.maximum(n * sxx, 1e-300)  # at least two distinct x values in the resample
    boots = (n * sxy - sx * sy)[ok] / denom[ok]
    tail = (1.0 - level) / 2
    lo, hi = (np.quantile(boots, [tail, 1.0 - tail]) if boots.size else (float("nan"), float("nan")))
    return {"slope": slope, "lo": float(lo), "hi": float(hi), "n_groups": int(len(groups)),
            "n_rows": int(len(data)), "n_dropped": dropped}


def seed_slopes(table: pd.DataFrame, x: str, y: str, *, group: str = "seed") -> list[float]:
    """One log-log slope of ``y`` on ``x`` per repetition (those with two distinct x values left
    after dropping missing ``y``): the per-repetition quantity a claim's t-interval summarises."""
    data, _ = _usable(table, x, y, group)
    return [loglog_slope(g[x], g[y]) for _, g in data.groupby(group, sort=True) if g[x].nunique() >= 2]


def fit_slopes(table: pd.DataFrame, x_of: Mapping[str, str], quantities: Sequence[str], *,
               by: Sequence[str] = (), n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Pooled slope and bootstrap interval of every quantity along every line of ``table``.

    Args:
        table: rows with a ``line`` column naming the factor varied.
        x_of: line name -> the column it is fitted against (lines not listed are skipped).
        quantities: the columns whose growth is fitted.
        by: further grouping columns (e.g. the target), kept in the result.

    Returns:
        One row per (line, by..., quantity), with columns line, x, by..., quantity, slope, lo, hi, n_groups,
        n_rows, n_dropped (lines or groups with fewer than two usable x values are skipped).
    """
    rows = []
    for keys, part in table.groupby(["line", *by], sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        line, x = keys[0], x_of.get(keys[0])
        if x is None:
            continue
        for q in quantities:
            ok = pd.to_numeric(part[q], errors="coerce") > 0
            if part.loc[ok, x].nunique() < 2:
                continue
            rows.append({"line": line, "x": x, **dict(zip(by, keys[1:])), "quantity": q,
                         **bootstrap_slope(part, x, q, n_boot=n_boot, seed=seed)})
    return pd.DataFrame(rows)


def bound_slope(line: pd.DataFrame, x: str, quantity: str = "floats") -> float:
    """The log-log slope of r^2 d + L itself (constants 1; divided by d + 1 for ``points``) over
    the sizes of one line: the growth the bound shows over exactly the range measured."""
    sizes = line.drop_duplicates(x)
    bound = sizes.r ** 2 * sizes.d + sizes.width
    bound = bound / (sizes.d + 1) if quantity == "points" else bound
    return 0.0 if bound.nunique() == 1 else loglog_slope(sizes[x], bound)  # no term in x: exactly 0


def fit_two_term(table: pd.DataFrame, y: str = "floats") -> dict[str, float]:
    """Non-negative c1, c2 minimising the relative error of ``y`` ~ c1 r^2 d + c2 L.

    The fit uses the mean of ``y`` per task size (r, d, L, n) over its repetitions.  Returns c1,
    c2, the largest and median relative error ``|fit / y - 1|`` over sizes, and n_sizes.
    """
    sizes = [c for c in ("r", "d", "width", "n_train") if c in table.columns]
    data = (table[pd.to_numeric(table[y], errors="coerce") > 0].drop_duplicates([*sizes, "seed"])
            .astype({y: float}).groupby(sizes, as_index=False)[y].mean())
    mem = data[y].to_numpy(float)
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


def two_term_slopes(table: pd.DataFrame, fit: Mapping[str, float], x_of: Mapping[str, str]) -> dict[str, float]:
    """Along each line of ``table``, the log-log slope of the fitted law c1 r^2 d + c2 L itself:
    the growth the two-term form predicts over exactly the sizes measured."""
    out = {}
    for line, part in table.groupby("line", sort=False):
        x = x_of.get(line)
        if x is None or part[x].nunique() < 2:
            continue
        sizes = part.drop_duplicates(x)
        out[line] = loglog_slope(sizes[x], fit["c1"] * sizes.r ** 2 * sizes.d + fit["c2"] * sizes.width)
    return out
