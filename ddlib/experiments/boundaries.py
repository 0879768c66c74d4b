"""Boundaries (notebook 05): where distillation breaks, and why -- the information-exponent-3
link ``he3``, label noise, transfer of a distilled set to a fresh theta0, and very small m1.

Each study returns a tidy table (one row per repetition and method) with every seed it used.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pandas as pd
import torch
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from ..baselines import random_subset
from ..distillers import FAILED_MATCHING_LOSS, DistilledSet, distill, distill_stage1
from ..learners import TwoStageLearner, stage1_gradient
from ..metrics import alignment, energy_in_subspace, gradient_cosine, test_mse
from ..networks import TwoLayerNet
from ..theory import population_stage1_gradient, span_bound
from ..validation import check_float, check_int
from .problem import Problem
from .repetitions import repetition, repetitions

__all__ = ["PROFILES", "FRESH_THETA0_OFFSET", "BoundaryTables", "run_boundaries", "run_links_and_noise",
           "run_transfer", "run_small_m1", "summarise"]

_BASE = dict(d=32, r=2, width=512, n_train=8000, m1=8, m2=32, n_seeds=2, noise_grid=[0.5, 1.0],
             m1_small_grid=[1, 2, 3, 4], r_small_grid=[2, 3], steps1=300, steps2=200, lr=0.05,
             restarts=3, n_test=5000)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {**_BASE, "d": 16, "width": 256, "n_train": 3000, "m1": 8, "m2": 16, "n_seeds": 1,
              "noise_grid": [1.0], "m1_small_grid": [1, 2, 8], "steps1": 150, "steps2": 100, "n_test": 5000},
    "book": dict(_BASE),
    "paper": {**_BASE, "n_seeds": 10, "noise_grid": [0.25, 0.5, 1.0, 2.0], "n_test": 20_000,
              "m1_small_grid": [1, 2, 3, 4, 6, 8, 16], "r_small_grid": [1, 2, 3, 4]},
}

# theta0' of the transfer study: its seed is the base seed + this offset, apart from every stream
# of ddlib.experiments.problem (offsets 0 to 50_000 in steps of 10_000).
FRESH_THETA0_OFFSET = 60_000


def _grad_cos(G: torch.Tensor, G_pop: Optional[torch.Tensor]) -> float:
    return float("nan") if G_pop is None else gradient_cosine(G, G_pop)


def _evaluate(net: TwoLayerNet, p: Problem, n_test: int) -> dict[str, float]:
    noisy = test_mse(net, p.task, n_test, seed=p.seeds["test"])
    # Without label noise the clean target is the label itself: the same number, computed once.
    clean = test_mse(net, p.task, n_test, seed=p.seeds["test"], clean=True) if p.task.noise > 0 else noisy
    return {"test_mse": noisy, "test_mse_clean": clean, "alignment": alignment(net, p.task)}


def _participation_ratio(M: torch.Tensor) -> float:
    """(sum s^2)^2 / sum s^4 over the singular values s of M: how many directions M really spans."""
    s2 = torch.linalg.svdvals(M) ** 2
    return float(s2.sum() ** 2 / (s2 * s2).sum())


def run_links_and_noise(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, n_seeds: int,
                        noise_grid: list[float], steps1: int, steps2: int, lr: float, restarts: int,
                        n_test: int, seed: int, progress: bool = False) -> tuple[pd.DataFrame, dict[int, DistilledSet]]:
    """The ``he3`` control and the label-noise sweep, at one size (m1, m2).

    Conditions: (he2, noise 0), (he3, noise 0) and (he2, noise) for every noise > 0 in
    ``noise_grid``.  Methods: ``full`` (all n_train points), ``distilled`` (gm+kip),
    ``s1+real`` (distilled S1, then the real data for stage 2) and ``random`` (m1 + m2 real points).

    Returns:
        The table -- test MSE against the noisy labels (``test_mse``) and the clean target
        (``test_mse_clean``), alignment, energy of the stage-1 inputs in span(U), cosine of the
        stage-1 gradient with the population gradient (``grad_cos_pop``; NaN for he3, where it is
        0), stage-1 matching loss -- and the distilled sets of (he2, noise 0) by base seed, which
        ``run_transfer`` reuses.
    """
    n_seeds = check_int("n_seeds", n_seeds, min_value=1)
    for s in noise_grid:
        check_float("noise_grid entry", s, min_value=0.0)
    conditions = [("he2", 0.0), ("he3", 0.0)] + [("he2", float(s)) for s in noise_grid if s > 0]
    learner = TwoStageLearner()
    rows, sets = [], {}
    for k in tqdm(range(n_seeds), desc="repetitions", disable=not progress):
        for link, noise in conditions:
            rep = repetition(k, seed, d=d, r=r, width=width, n_train=n_train, link=link, noise=noise)
            p, common = rep.problem, rep.record()
            net = p.net
            G_pop = None if link == "he3" else population_stage1_gradient(net, p.task)
            full = learner.fit(net, (p.X, p.y))
            G_D = stage1_gradient(net.W, net.a, net.b, p.X, p.y)
            rows.append({**common, "method": "full", "m1": n_train, "m2": n_train, **_evaluate(full, p, n_test),
                         "energy_s1": energy_in_subspace(p.X, p.task), "grad_cos_pop": _grad_cos(G_D, G_pop),
                         "stage1_matching_loss": float("nan")})
            ds = distill(net, p.X, p.y, m1, m2, learner=learner, steps1=steps1, steps2=steps2, lr=lr,
                         restarts=restarts, seed=p.seeds["distill"], task=p.task)
            if link == "he2" and noise == 0.0:
                sets[seed + k] = ds
            G_S = stage1_gradient(net.W, net.a, net.b, *ds.stage1)
            s1 = {"energy_s1": energy_in_subspace(ds.stage1[0], p.task), "grad_cos_pop": _grad_cos(G_S, G_pop),
                  "stage1_matching_loss": ds.metadata["stage1_matching_loss"]}
            rows.append({**common, "method": "distilled", "m1": m1, "m2": m2,
                         **_evaluate(ds.fit(net, learner), p, n_test), **s1})
            rows.append({**common, "method": "s1+real", "m1": m1, "m2": n_train,
                         **_evaluate(learner.fit(net, ds.stage1, (p.X, p.y)), p, n_test), **s1})
            Xr, yr = random_subset(p.X, p.y, m1 + m2, seed=p.seeds["subset"])
            G_R = stage1_gradient(net.W, net.a, net.b, Xr, yr)
            rows.append({**common, "method": "random", "m1": m1 + m2, "m2": m1 + m2,
                         **_evaluate(learner.fit(net, (Xr, yr)), p, n_test),
                         "energy_s1": energy_in_subspace(Xr, p.task), "grad_cos_pop": _grad_cos(G_R, G_pop),
                         "stage1_matching_loss": float("nan")})
    return pd.DataFrame(rows), sets


def run_transfer(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, n_seeds: int, steps1: int,
                 steps2: int, lr: float, restarts: int, n_test: int, seed: int,
                 distilled: Optional[dict[int, DistilledSet]] = None, progress: bool = False) -> pd.DataFrame:
    """A set distilled at theta0 (he2, noise 0), used on other initialisations.

    Inits: ``theta0`` (the one it was distilled at), ``new_bias`` (theta0's W and a, the stage-2
    biases b2 of theta0') and ``fresh`` (theta0' entirely: seed = base seed + FRESH_THETA0_OFFSET,
    same d and width).  Methods on each init: ``distilled`` (S1 then S2), ``s1+real`` (S1 then the
    real data), ``full`` and ``random`` (m1 + m2 real points).  ``grad_cos_data`` is the mean
    per-neuron cosine between the stage-1 gradient of the method's stage-1 data and that of the real
    data, both at the init used: what gradient matching optimised, at theta0 only.

    Args:
        distilled: optional sets already distilled at these problems (``run_links_and_noise``'s
            second output), keyed by base seed; any missing one is distilled here.
    """
    learner = TwoStageLearner()
    rows = []
    for rep in repetitions(seed=seed, n_seeds=n_seeds, d=d, r=r, width=width, n_train=n_train, link="he2",
                           progress=progress):
        p, k = rep.problem, rep.index
        ds = (distilled or {}).get(seed + k)
        if ds is None or ds.metadata.get("theta0", {}).get("seed") != p.net.seed or (ds.m1, ds.m2) != (m1, m2):
            ds = distill(p.net, p.X, p.y, m1, m2, learner=learner, steps1=steps1, steps2=steps2, lr=lr,
                         restarts=restarts, seed=p.seeds["distill"], task=p.task)
        fresh_seed = seed + k + FRESH_THETA0_OFFSET
        fresh = TwoLayerNet.init(d, width, seed=fresh_seed, dtype=p.net.dtype)
        inits = {"theta0": p.net, "new_bias": p.net.replace(stage2_bias=fresh.stage2_bias), "fresh": fresh}
        Xr, yr = random_subset(p.X, p.y, m1 + m2, seed=p.seeds["subset"])
        common = rep.record(seed_theta0_fresh=fresh_seed, stage1_matching_loss=ds.metadata["stage1_matching_loss"],
                            energy_s1=energy_in_subspace(ds.stage1[0], p.task))
        for init, net in inits.items():
            G_D = stage1_gradient(net.W, net.a, net.b, p.X, p.y)
            cos = lambda X_, y_: gradient_cosine(stage1_gradient(net.W, net.a, net.b, X_, y_), G_D)  # noqa: E731
            runs = {"distilled": (ds.fit(net, learner), cos(*ds.stage1)),
                    "s1+real": (learner.fit(net, ds.stage1, (p.X, p.y)), cos(*ds.stage1)),
                    "full": (learner.fit(net, (p.X, p.y)), 1.0),
                    "random": (learner.fit(net, (Xr, yr)), cos(Xr, yr))}
            for method, (trained, gcos) in runs.items():
                rows.append({**common, "init": init, "theta0_seed": net.seed if init != "new_bias" else p.net.seed,
                             "method": method, **_evaluate(trained, p, n_test), "grad_cos_data": gcos})
    return pd.DataFrame(rows)


def run_small_m1(*, d: int, width: int, n_train: int, n_seeds: int, m1_small_grid: list[int],
                 r_small_grid: list[int], steps1: int, lr: float, restarts: int, n_test: int, seed: int,
                 progress: bool = False) -> pd.DataFrame:
    """Stage-1 distillation with very few points, for each r (he2, noise 0).

    Only stage 1 is distilled (``ddlib.distillers.distill_stage1``); stage 2 uses the real data, so the test MSE
    (``s1+real``) isolates what S1 carries.  Diagnostics of G_S at theta0: ``zero_rows`` (share of
    neurons no synthetic point switches on: their gradient row and W1 row are 0), ``rank_G_S``
    (<= m1: every row is a combination of the m1 points), ``n_patterns`` (distinct nonzero
    on/off patterns over the m1 points, <= 2^m1 - 1: the number of distinct W1 directions up to
    sign), the stage-1 matching loss (>= zero_rows, since a zero row costs 1) and whether it
    flags a failed run (> FAILED_MATCHING_LOSS), beside ``span_bound`` (m1 < r).  Geometry:
    ``w1_dims``, the participation ratio of W1's projection on span(U) (1 to r: how many of the r
    task directions the learned neurons cover), and ``min_pair_cos``, the smallest cosine between
    two synthetic points (near -1: points placed on opposite sides).
    """
    n_seeds = check_int("n_seeds", n_seeds, min_value=1)
    learner = TwoStageLearner()
    rows = []
    total = n_seeds * len(r_small_grid)
    with tqdm(total=total, desc="repetitions x r", disable=not progress) as bar:
        for k in range(n_seeds):
            for r in r_small_grid:
                rep = repetition(k, seed, d=d, r=r, width=width, n_train=n_train, link="he2")
                p, net = rep.problem, rep.problem.net
                G_D = stage1_gradient(net.W, net.a, net.b, p.X, p.y, learner.chunk_size)
                for m1 in m1_small_grid:
                    res = distill_stage1(net, p.X, p.y, m1, steps=steps1, lr=lr, restarts=restarts,
                                         seed=p.seeds["distill"], G_D=G_D)
                    S1, loss1 = res.best(), res.best_loss
                    failed = loss1 > FAILED_MATCHING_LOSS
                    X1, y1 = S1
                    G_S = stage1_gradient(net.W, net.a, net.b, X1, y1)
                    on = (X1 @ net.W.T + net.b > 0).T  # width x m1: which points switch each neuron on
                    patterns = {tuple(row.tolist()) for row in on if bool(row.any())}
                    Xn = X1 / X1.norm(dim=1, keepdim=True)
                    pair_cos = (Xn @ Xn.T)[torch.triu_indices(m1, m1, offset=1).unbind()]
                    rows.append({**rep.record(), "m1": m1, "method": "s1+real",
                                 **_evaluate(learner.fit(net, S1, (p.X, p.y)), p, n_test),
                                 "energy_s1": energy_in_subspace(X1, p.task),
                                 "stage1_matching_loss": loss1, "stage1_failed": failed,
                                 "zero_rows": float((G_S.norm(dim=1) == 0).double().mean()),
                                 "rank_G_S": int(torch.linalg.matrix_rank(G_S)),
                                 "n_patterns": len(patterns), "span_bound": span_bound(m1, r),
                                 "w1_dims": _participation_ratio(learner.stage1(net, X1, y1) @ p.task.U.T),
                                 "min_pair_cos": float(pair_cos.min()) if m1 > 1 else float("nan")})
                bar.update()
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class BoundaryTables:
    """The three tables of notebook 05 (see the study functions for their columns)."""

    links: pd.DataFrame
    transfer: pd.DataFrame
    small_m1: pd.DataFrame


def run_boundaries(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, n_seeds: int,
                   noise_grid: list[float], m1_small_grid: list[int], r_small_grid: list[int], steps1: int,
                   steps2: int, lr: float, restarts: int, n_test: int, seed: int,
                   progress: bool = False) -> BoundaryTables:
    """Notebook 05's three studies on one set of parameters (the transfer study reuses the sets
    distilled for the ``he2`` condition of the first)."""
    shared = dict(d=d, width=width, n_train=n_train, n_seeds=n_seeds, steps1=steps1, lr=lr, restarts=restarts,
                  n_test=n_test, seed=seed, progress=progress)
    links, sets = run_links_and_noise(**shared, r=r, m1=m1, m2=m2, noise_grid=noise_grid, steps2=steps2)
    transfer = run_transfer(**shared, r=r, m1=m1, m2=m2, steps2=steps2, distilled=sets)
    small = run_small_m1(**shared, m1_small_grid=m1_small_grid, r_small_grid=r_small_grid)
    return BoundaryTables(links, transfer, small)


def summarise(links: pd.DataFrame, transfer: pd.DataFrame, small: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers of the three tables: mean, min and max over repetitions per group."""
    def stats(table: pd.DataFrame, by: list[str], cols: list[str]) -> list[dict[str, Any]]:
        g = table.groupby(by)[cols].agg(["mean", "min", "max"])
        g.columns = [f"{c}_{s}" for c, s in g.columns]
        return g.reset_index().to_dict(orient="records")

    return {
        "links_and_noise": stats(links, ["link", "noise", "method"],
                                 ["test_mse", "test_mse_clean", "alignment", "energy_s1", "grad_cos_pop"]),
        "transfer": stats(transfer, ["init", "method"], ["test_mse", "alignment", "grad_cos_data"]),
        "small_m1": stats(small, ["r", "m1"], ["test_mse", "stage1_matching_loss", "zero_rows", "rank_G_S",
                                               "n_patterns", "span_bound", "w1_dims", "min_pair_cos"]),
        "failed_matching_loss": FAILED_MATCHING_LOSS,
    }
