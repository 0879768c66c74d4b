"""Claim C3 (notebook 03): the memory a distilled set needs grows like r^2 d + L (up to logs).

For each task size we search the smallest stage-1 size m1* and stage-2 size m2* whose learner
reaches a target test MSE, then fit log-log slopes of m1*, m2* and the memory (m1* + m2*)(d + 1)
against r, d and L, with bootstrap intervals over repetitions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import pandas as pd

from ..data import Data
from ..distillers import FAILED_MATCHING_LOSS, InitialDraw, match_gradients, match_performance
from ..learners import TwoStageLearner, stage1_gradient, stage2_statistics
from ..metrics import test_mse
from ..theory import memory_report
from ..validation import check_float, check_int
from .repetitions import repetition

__all__ = ["PROFILES", "FACTORS", "SearchResult", "minimal_size", "memory_point", "stage1_curve_point",
           "sweep_lines", "stage1_curve_grid", "run_memory", "run_stage1_curve", "config_summary"]

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

class _Stages:
    """One repetition's stage functions, on one initial draw: every size m uses the first m
    points of the same K permutations (``InitialDraw``), exactly as ``distill`` at that size with
    the repetition's distillation seed."""

    def __init__(self, p, learner: TwoStageLearner, *, steps1: int, lr: float, restarts: int,
                 prefix: int) -> None:
        self.p, self.learner, self.steps1, self.lr = p, learner, steps1, lr
        self.data = Data(p.X, p.y)
        self.draw = InitialDraw.draw(p.X.shape[0], restarts, p.seeds["distill"], prefix=prefix)
        self.G_D = stage1_gradient(p.net.W, p.net.a, p.net.b, p.X, p.y, learner.chunk_size)
        self._stage1: dict[int, tuple[Data, float]] = {}

    def stage1(self, m1: int) -> tuple[Data, float]:
        """The gradient-matched S1 of size m1 and its matching loss (computed once per size)."""
        if m1 not in self._stage1:
            res = match_gradients(self.p.net, self.G_D, self.draw.stage1(self.data, m1), steps=self.steps1,
                                  lr=self.lr)
            self._stage1[m1] = (res.best(), res.best_loss)
        return self._stage1[m1]

    def stage2(self, W1, stats, m2: int, *, steps2: int) -> Data:
        """The KIP S2 of size m2 for the first layer W1 (``stats``: the real data's, for W1)."""
        res = match_performance(self.p.net, W1, stats, self.draw.stage2(self.data, m2), steps=steps2,
                                lr=self.lr, ridge=self.learner.ridge)
        return res.best()


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

    p = repetition(0, seed, d=d, r=r, width=width, n_train=n_train, link=link).problem
    learner = TwoStageLearner()
    net, X, y = p.net, p.X, p.y
    mse = lambda trained: test_mse(trained, p.task, n_test, seed=p.seeds["test"])  # noqa: E731

    full_mse = mse(learner.fit(net, (X, y)))
    target = max(target_factor * full_mse, target_floor)
    stages = _Stages(p, learner, steps1=steps1, lr=lr, restarts=restarts, prefix=max(m1_max, m2_max))

    m1_mse: dict[int, float] = {}

    def m1_succeeds(m1: int) -> bool:
        S1, _ = stages.stage1(m1)
        m1_mse[m1] = mse(learner.fit(net, S1, (X, y)))
        return m1_mse[m1] <= target

    s1 = minimal_size(m1_succeeds, max_size=m1_max)
    out: dict[str, Any] = {"n_train": n_train, "full_mse": full_mse, "target": target,
                           "m1_star": s1.size, "mse_m1_star": m1_mse.get(s1.size),
                           "matching_loss_m1_star": stages.stage1(s1.size)[1] if s1.size else None,
                           "m1_probes": s1.n_probes, "m1_trace": json.dumps(m1_mse)}
    m2_mse: dict[int, float] = {}
    m1_for_m2 = None if s1.size is None else min(m1_factor * s1.size, m1_max)
    s2 = SearchResult(None)
    mse_stage1_only = matching_loss_m1_for_m2 = None
    if m1_for_m2 is not None:
        S1, matching_loss_m1_for_m2 = stages.stage1(m1_for_m2)
        W1 = learner.stage1(net, *S1)
        stats = stage2_statistics(W1, net.stage2_bias, X, y, learner.chunk_size)
        mse_stage1_only = m1_mse[m1_for_m2] if m1_for_m2 in m1_mse else mse(learner.fit(net, S1, (X, y)))

        def m2_succeeds(m2: int) -> bool:
            m2_mse[m2] = mse(learner.fit(net, S1, stages.stage2(W1, stats, m2, steps2=steps2)))
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
    p = repetition(0, seed, d=d, r=r, width=width, n_train=n_train, link=link).problem
    learner = TwoStageLearner()
    S1, loss = _Stages(p, learner, steps1=steps1, lr=lr, restarts=restarts, prefix=m1).stage1(m1)
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
