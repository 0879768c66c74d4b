"""Claim C3 (notebook 03): the memory a distilled set needs grows like r^2 d + L (up to logs).

For each task size we search the smallest stage-1 size m1* and stage-2 size m2* whose learner
reaches a target test MSE, then fit log-log slopes of m1*, m2* and the memory (m1* + m2*)(d + 1)
against r, d and L, with bootstrap intervals over repetitions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from ..distillers.gradient_matching import match_gradients
from ..distillers.performance_matching import match_performance
from ..distillers.pipeline import FAILED_MATCHING_LOSS, initial_points
from ..learners import TwoStageLearner, stage1_gradient, stage2_statistics
from ..metrics import memory_report, test_mse
from ..validation import check_float, check_int
from .problem import make_problem

__all__ = ["PROFILES", "FACTORS", "BOUND_EXPONENTS", "SearchResult", "minimal_size", "memory_point",
           "stage1_curve_point", "sweep_lines", "stage1_curve_grid", "run_memory", "run_stage1_curve",
           "config_summary", "loglog_slope", "bootstrap_slope", "fit_slopes", "fit_two_term", "two_term_slopes", "verdict"]

# The grid varies one factor at a time around a base point (r, d, width); n_train = n_per_d2 * d^2
# keeps the full-data learner's test MSE roughly constant across d (the stage-1 step needs n ~ d^2).
_POINT = dict(link="he2", n_per_d2=4, steps1=300, steps2=200, lr=0.05, restarts=3, n_test=10_000,
              target_factor=2.0, target_floor=0.1, m1_factor=2, m1_max=128, m2_max=512)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {**_POINT, "r": 2, "d": 16, "width": 128, "r_grid": [1, 2], "d_grid": [16], "width_grid": [128],
              "n_seeds": 2, "steps1": 100, "steps2": 60, "restarts": 2, "n_test": 2000, "n_boot": 200,
              "curve_r": [2], "curve_m1": [1, 2, 4, 8], "backend": "inline"},
    "book": {**_POINT, "r": 2, "d": 32, "width": 512, "r_grid": [1, 2, 3], "d_grid": [32], "width_grid": [512],
             "n_seeds": 2, "n_boot": 1000, "curve_r": [1], "curve_m1": [1, 2, 3, 4, 6, 8, 16, 32],
             "backend": "local"},
    "paper": {**_POINT, "r": 2, "d": 64, "width": 512, "r_grid": [1, 2, 3, 4], "d_grid": [32, 64, 128],
              "width_grid": [256, 512, 1024, 2048], "n_seeds": 10, "n_boot": 2000, "curve_r": [1, 2, 3, 4],
              "curve_m1": [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64], "backend": "local"},
}
FACTORS = ("r", "d", "width")
# Growth of the memory in floats that r^2 d + L allows in each factor (an upper bound: the
# local exponent of r^2 d + L in r is 2 r^2 d / (r^2 d + L) <= 2, in d and L it is <= 1).
BOUND_EXPONENTS = {"r": 2.0, "d": 1.0, "width": 1.0}


# ----------------------------------------------------------------------------------------------
# The search for a minimal size
# ----------------------------------------------------------------------------------------------

@dataclass
class SearchResult:
    """The smallest size found to succeed (None if none up to ``max_size``) and every probe made."""

    size: Optional[int]
    probes: dict[int, bool] = field(default_factory=dict)

    @property
    def n_probes(self) -> int:
        return len(self.probes)


def minimal_size(succeeds: Callable[[int], bool], *, max_size: int, start: int = 1) -> SearchResult:
    """Smallest integer m in [start, max_size] with ``succeeds(m)``, for a monotone predicate.

    Doubling from ``start`` brackets the answer (a failing m, a succeeding 2m), then bisection on
    the integers narrows the bracket to one: about 2 log2(m*) probes, each size probed at most
    once.  For a predicate that is not monotone, the result is a size that succeeds whose
    predecessor was probed and failed (or ``start``).

    Args:
        succeeds: the success predicate (e.g. test MSE <= target at size m).
        max_size: the largest size tried; the last doubling step is clipped to it.
        start: the smallest size tried.

    Returns:
        SearchResult with ``size`` (None when even ``max_size`` fails) and ``probes`` {m: success}.
    """
    start = check_int("start", start, min_value=1)
    max_size = check_int("max_size", max_size, min_value=start)
    probes: dict[int, bool] = {}

    def probe(m: int) -> bool:
        if m not in probes:
            probes[m] = bool(succeeds(m))
        return probes[m]

    lo, hi = start - 1, start  # invariant: lo fails (or is below start), hi is the next candidate
    while not probe(hi):
        if hi >= max_size:
            return SearchResult(None, probes)
        lo, hi = hi, min(2 * hi, max_size)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid):
            hi = mid
        else:
            lo = mid
    return SearchResult(hi, probes)


# ----------------------------------------------------------------------------------------------
# One grid point: m1*, m2* and memory for one repetition
# ----------------------------------------------------------------------------------------------

def _initial_sets(X, y, sizes: Sequence[int], restarts: int, seed: int):
    """The initial random subsets that ``distill`` draws for stage 1 then stage 2, from ``seed``."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    return [initial_points(X, y, m, restarts, gen) for m in sizes]


def _stage1_set(net, G_D, X, y, m1: int, *, steps1: int, lr: float, restarts: int, seed: int):
    """Gradient-matched stage-1 set of size m1 exactly as ``distill`` makes it: (S1, matching loss)."""
    (X0, y0), = _initial_sets(X, y, [m1], restarts, seed)
    X1, y1, loss = match_gradients(net, G_D, X0, y0, steps=steps1, lr=lr)
    best = int(torch.argmin(loss))
    return (X1[best], y1[best]), float(loss[best])


def memory_point(*, r: int, d: int, width: int, seed: int, link: str = "he2", n_per_d2: int = 4,
                 steps1: int = 300, steps2: int = 200, lr: float = 0.05, restarts: int = 3,
                 n_test: int = 10_000, target_factor: float = 2.0, target_floor: float = 0.1,
                 m1_factor: int = 2, m1_max: int = 128, m2_max: int = 512) -> dict[str, Any]:
    """Minimal distilled sizes m1*, m2* of one repetition, for ``ddlib.sweep.run_sweep``.

    The problem (task, theta0, n_train = n_per_d2 * d^2 real points) comes from ``seed`` via
    ``make_problem``.  target = max(target_factor * full-data test MSE, target_floor).

    - m1*: smallest m1 such that stage 1 on m1 gradient-matched points, then the ridge on *all*
      the real data, reaches the target (stage 2 taken out of the question).
    - m2*: smallest m2 such that the fully distilled learner -- stage 1 on the gradient-matched
      set of size m1_factor * m1*, stage 2 on m2 KIP points -- reaches the target.  At m1* itself
      the stage-1 set alone already spends almost the whole error budget, so m2* there would
      measure how closely KIP can imitate the full ridge rather than how many points stage 2 needs.

    Every probe uses the same initial subsets as ``distill(net, X, y, m1, m2, seed=seeds['distill'])``
    (nested prefixes across sizes) and the same test sample, so the pair (m1_for_m2, m2*) is
    exactly what ``distill`` returns at those sizes.

    Returns:
        A flat dict: n_train, full_mse, target, m1_star, m2_star (None when not reached up to
        m1_max / m2_max), the test MSE at each (mse_m1_star, mse_stage1_only, mse_m2_star), stage-1
        matching losses, probe counts and traces (JSON strings {m: mse}), memory in floats
        ((m1* + m2*)(d + 1), and the certified (m1_for_m2 + m2*)(d + 1)), r^2 d + L, the network
        L(d + 2), the data n(d + 1), and the derived seeds.
    """
    r = check_int("r", r, min_value=1)
    d = check_int("d", d, min_value=r)
    width = check_int("width", width, min_value=2, even=True)
    n_per_d2 = check_int("n_per_d2", n_per_d2, min_value=1)
    check_float("target_factor", target_factor, min_value=1.0)
    check_float("target_floor", target_floor, strictly_positive=True)
    m1_factor = check_int("m1_factor", m1_factor, min_value=1)
    n_train = n_per_d2 * d * d
    m1_max = check_int("m1_max", m1_max, min_value=1, max_value=n_train)
    m2_max = check_int("m2_max", m2_max, min_value=1, max_value=n_train)

    p = make_problem(d=d, r=r, width=width, n_train=n_train, link=link, seed=seed)
    learner = TwoStageLearner()
    net, X, y = p.net, p.X, p.y
    mse = lambda trained: test_mse(trained, p.task, n_test, seed=p.seeds["test"])  # noqa: E731

    full_mse = mse(learner.fit(net, (X, y)))
    target = max(target_factor * full_mse, target_floor)
    G_D = stage1_gradient(net.W, net.a, net.b, X, y, learner.chunk_size)

    stage1: dict[int, tuple] = {}  # m1 -> (S1, matching loss)

    def stage1_set(m1: int):
        if m1 not in stage1:
            stage1[m1] = _stage1_set(net, G_D, X, y, m1, steps1=steps1, lr=lr, restarts=restarts,
                                     seed=p.seeds["distill"])
        return stage1[m1]

    m1_mse: dict[int, float] = {}

    def m1_succeeds(m1: int) -> bool:
        S1, _ = stage1_set(m1)
        m1_mse[m1] = mse(learner.fit(net, S1, (X, y)))
        return m1_mse[m1] <= target

    s1 = minimal_size(m1_succeeds, max_size=m1_max)
    out: dict[str, Any] = {"n_train": n_train, "full_mse": full_mse, "target": target,
                           "m1_star": s1.size, "mse_m1_star": m1_mse.get(s1.size),
                           "matching_loss_m1_star": stage1[s1.size][1] if s1.size else None,
                           "m1_probes": s1.n_probes, "m1_trace": json.dumps(m1_mse)}
    m2_mse: dict[int, float] = {}
    m1_for_m2 = None if s1.size is None else min(m1_factor * s1.size, m1_max)
    s2 = SearchResult(None)
    mse_stage1_only = matching_loss_m1_for_m2 = None
    if m1_for_m2 is not None:
        S1, matching_loss_m1_for_m2 = stage1_set(m1_for_m2)
        W1 = learner.stage1(net, *S1)
        stats = stage2_statistics(W1, net.stage2_bias, X, y, learner.chunk_size)
        mse_stage1_only = m1_mse[m1_for_m2] if m1_for_m2 in m1_mse else mse(learner.fit(net, S1, (X, y)))

        def m2_succeeds(m2: int) -> bool:
            _, (X0, y0) = _initial_sets(X, y, [m1_for_m2, m2], restarts, p.seeds["distill"])
            X2, y2, loss = match_performance(W1, net.stage2_bias, stats, X0, y0, steps=steps2, lr=lr,
                                             ridge=learner.ridge)
            best = int(torch.argmin(loss))
            m2_mse[m2] = mse(learner.fit(net, S1, (X2[best], y2[best])))
            return m2_mse[m2] <= target

        s2 = minimal_size(m2_succeeds, max_size=m2_max)
    mem = {}
    if s1.size is not None and s2.size is not None:
        mem = memory_report(m1=s1.size, m2=s2.size, d=d, r=r, width=width, n=n_train)
    ref = memory_report(m1=0, m2=0, d=d, r=r, width=width, n=n_train)
    out.update({
        "m1_for_m2": m1_for_m2, "mse_stage1_only": mse_stage1_only,
        "matching_loss_m1_for_m2": matching_loss_m1_for_m2,
        "stage1_failed": bool(matching_loss_m1_for_m2 is not None
                              and matching_loss_m1_for_m2 > FAILED_MATCHING_LOSS),
        "m2_star": s2.size, "mse_m2_star": m2_mse.get(s2.size),
        "m2_probes": s2.n_probes, "m2_trace": json.dumps(m2_mse),
        "memory_floats": mem.get("distilled"),
        "memory_certified": None if not mem else (m1_for_m2 + s2.size) * (d + 1),
        "r2d_plus_L": ref["r2d_plus_L"], "network_floats": ref["network"], "data_floats": ref["data"],
        **{f"seed_{k}": v for k, v in p.seeds.items()},
    })
    return out


def stage1_curve_point(*, r: int, d: int, width: int, m1: int, seed: int, link: str = "he2",
                       n_per_d2: int = 4, steps1: int = 300, lr: float = 0.05, restarts: int = 3,
                       n_test: int = 10_000) -> dict[str, Any]:
    """Test MSE of stage 1 on m1 gradient-matched points + the ridge on all the real data.

    The curve in m1 behind m1*: it shows where a target sits on it (the problem, the stage-1
    sets and the test sample are those of ``memory_point`` with the same arguments).

    Returns:
        {"n_train", "full_mse", "mse" (at m1), "matching_loss", "seed_distill", "seed_test"}.
    """
    r = check_int("r", r, min_value=1)
    d = check_int("d", d, min_value=r)
    n_train = check_int("n_per_d2", n_per_d2, min_value=1) * d * d
    m1 = check_int("m1", m1, min_value=1, max_value=n_train)
    p = make_problem(d=d, r=r, width=width, n_train=n_train, link=link, seed=seed)
    learner = TwoStageLearner()
    G_D = stage1_gradient(p.net.W, p.net.a, p.net.b, p.X, p.y, learner.chunk_size)
    S1, loss = _stage1_set(p.net, G_D, p.X, p.y, m1, steps1=steps1, lr=lr, restarts=restarts,
                           seed=p.seeds["distill"])
    mse = lambda trained: test_mse(trained, p.task, n_test, seed=p.seeds["test"])  # noqa: E731
    return {"n_train": n_train, "full_mse": mse(learner.fit(p.net, (p.X, p.y))),
            "mse": mse(learner.fit(p.net, S1, (p.X, p.y))), "matching_loss": loss,
            "seed_distill": p.seeds["distill"], "seed_test": p.seeds["test"]}


# ----------------------------------------------------------------------------------------------
# The grid: one line per factor through the base point, each line a ddlib.sweep run
# ----------------------------------------------------------------------------------------------

_POINT_KEYS = tuple(_POINT)


def sweep_lines(P: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """One ``ddlib.sweep.Grid`` per factor with more than one value, through the base point.

    Factor f takes the values of ``P[f + '_grid']``; the other factors sit at the base
    ``P['r'], P['d'], P['width']``; seeds are ``P['seed'] + k`` for k < n_seeds.
    """
    from ..sweep import Grid

    seeds = [int(P["seed"]) + k for k in range(int(P["n_seeds"]))]
    fixed_all = {k: P[k] for k in _POINT_KEYS}
    lines = []
    for f in FACTORS:
        values = list(P[f"{f}_grid"])
        if len(values) < 2:
            continue
        fixed = {**fixed_all, **{g: P[g] for g in FACTORS if g != f}}
        lines.append((f, Grid(params={f: values}, seeds=seeds, fixed=fixed)))
    if not lines:
        raise ValueError("every factor grid (r_grid, d_grid, width_grid) has one value; nothing to vary")
    return lines


def stage1_curve_grid(P: Mapping[str, Any]):
    """The ``ddlib.sweep.Grid`` of ``stage1_curve_point`` over ``curve_r`` x ``curve_m1`` at the
    base d and width, for the first repetition (seed ``P['seed']``)."""
    from ..sweep import Grid

    fixed = {"d": P["d"], "width": P["width"],
             **{k: P[k] for k in ("link", "n_per_d2", "steps1", "lr", "restarts", "n_test")}}
    return Grid(params={"r": list(P["curve_r"]), "m1": list(P["curve_m1"])}, seeds=[int(P["seed"])], fixed=fixed)


def _run_grid(fn: Callable[..., dict], grid, *, results_dir: str, backend: str, workers: Optional[int],
              scheduler: Optional[str], retries: int, progress: bool) -> pd.DataFrame:
    """``ddlib.sweep.run_sweep(fn, grid, ...)`` (kept as one place to call it from)."""
    from ..sweep import run_sweep

    return run_sweep(fn, grid, results_dir=results_dir, backend=backend, workers=workers,
                     scheduler=scheduler, retries=retries, progress=progress)


def run_memory(P: Mapping[str, Any], *, results_dir: str, backend: str = "local", workers: Optional[int] = None,
               scheduler: Optional[str] = None, retries: int = 2, progress: bool = False) -> pd.DataFrame:
    """Run ``memory_point`` on every line of ``sweep_lines(P)`` and stack the tables.

    Each line is one ``ddlib.sweep.run_sweep`` (``backend`` "local", "dask" or "inline";
    ``workers``, ``scheduler`` and ``retries`` go to it) and all lines share ``results_dir``, so
    the base point, which lies on every line, is computed once and a rerun reuses every stored
    point.  Returns one row per (line, point), with a ``line`` column naming the factor varied.
    """
    tables = []
    for factor, grid in sweep_lines(P):
        t = _run_grid(memory_point, grid, results_dir=results_dir, backend=backend, workers=workers,
                      scheduler=scheduler, retries=retries, progress=progress)
        tables.append(t.assign(line=factor))
    return pd.concat(tables, ignore_index=True)


def run_stage1_curve(P: Mapping[str, Any], *, results_dir: str, backend: str = "local",
                     workers: Optional[int] = None, scheduler: Optional[str] = None, retries: int = 2,
                     progress: bool = False) -> pd.DataFrame:
    """Run ``stage1_curve_point`` over ``stage1_curve_grid(P)`` (same execution options as ``run_memory``)."""
    return _run_grid(stage1_curve_point, stage1_curve_grid(P), results_dir=results_dir, backend=backend,
                     workers=workers, scheduler=scheduler, retries=retries, progress=progress)


# ----------------------------------------------------------------------------------------------
# Analysis: log-log slopes with bootstrap intervals over repetitions, and the verdict
# ----------------------------------------------------------------------------------------------

def config_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per task size (r, d, L): mean, min and max over repetitions of m1*, m2* and the memory,
    beside r^2 d + L, the network L(d + 2) and the data n(d + 1), and their ratios."""
    keys = ["r", "d", "width"]
    t = table.drop_duplicates(subset=keys + ["seed"])
    g = t.groupby(keys)
    out = pd.concat([g[["m1_star", "m2_star", "memory_floats"]].agg(["mean", "min", "max"]),
                     g[["n_train", "full_mse", "r2d_plus_L", "network_floats", "data_floats"]].mean()
                     .set_axis(pd.MultiIndex.from_product([["n_train", "full_mse", "r2d_plus_L", "network",
                                                            "data"], [""]]), axis=1)], axis=1)
    mem = out[("memory_floats", "mean")]
    out[("memory / (r2d+L)", "")] = mem / out[("r2d_plus_L", "")]
    out[("network / memory", "")] = out[("network", "")] / mem
    out[("data / memory", "")] = out[("data", "")] / mem
    out[("n_found", "")] = g.memory_floats.count()
    out[("n_reps", "")] = g.size()
    return out.reset_index()


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
