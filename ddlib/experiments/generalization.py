"""Claim C2 (notebook 02): the network trained on a few distilled points generalises about as
well as the one trained on all the real data, and far better than on a random real subset of
the same size, as m1 and m2 grow."""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..baselines import random_subset
from ..distillers import distill
from ..learners import TwoStageLearner
from ..metrics import alignment, energy_in_subspace, test_mse
from ..theory import memory_report
from .repetitions import repetitions, summarise as summarise_columns

__all__ = ["PROFILES", "run_generalization", "summarise"]

_BASE = dict(d=32, r=2, width=512, n_train=8000, m1=8, m2=32, link="he2", n_seeds=3,
             m1_grid=[2, 4, 8, 16], m2_grid=[8, 16, 32, 64], steps1=300, steps2=200, lr=0.05,
             restarts=3, n_test=20_000)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {**_BASE, "d": 16, "width": 256, "n_train": 3000, "m1": 8, "m2": 16, "n_seeds": 2,
              "m1_grid": [2, 8], "m2_grid": [4, 16], "steps1": 150, "steps2": 100, "n_test": 5000},
    "book": dict(_BASE),
    "paper": {**_BASE, "n_seeds": 10, "m1_grid": [1, 2, 4, 8, 16, 32], "m2_grid": [4, 8, 16, 32, 64, 128]},
}


def run_generalization(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, link: str,
                       n_seeds: int, m1_grid: list[int], m2_grid: list[int], steps1: int, steps2: int,
                       lr: float, restarts: int, n_test: int, seed: int, progress: bool = False) -> pd.DataFrame:
    """One row per (repetition, method, m1, m2): test MSE, alignment, memory and seeds.

    Methods: ``full`` (all n_train real points), ``distilled`` (gm+kip), ``random`` (a random real
    subset of m1 + m2 points, used for both stages).  Sizes: the m1 grid at m2 fixed and the m2
    grid at m1 fixed.
    """
    learner = TwoStageLearner()
    sizes = sorted({(a, m2) for a in m1_grid} | {(m1, b) for b in m2_grid} | {(m1, m2)})
    rows = []
    for rep in repetitions(seed=seed, n_seeds=n_seeds, d=d, r=r, width=width, n_train=n_train, link=link,
                           progress=progress):
        p = rep.problem
        mse = lambda net: test_mse(net, p.task, n_test, seed=p.seeds["test"])  # noqa: E731
        full = learner.fit(p.net, (p.X, p.y))
        rows.append(rep.record(method="full", m1=n_train, m2=n_train, test_mse=mse(full),
                               alignment=alignment(full, p.task), energy_s1=float("nan"),
                               memory_floats=n_train * (d + 1), stage1_matching_loss=float("nan")))
        for a, b in sizes:
            ds = distill(p.net, p.X, p.y, a, b, learner=learner, steps1=steps1, steps2=steps2, lr=lr,
                         restarts=restarts, seed=p.seeds["distill"], task=p.task)
            trained = ds.fit(p.net, learner)
            rows.append(rep.record(method="distilled", m1=a, m2=b, test_mse=mse(trained),
                                   alignment=alignment(trained, p.task),
                                   energy_s1=energy_in_subspace(ds.stage1[0], p.task),
                                   memory_floats=ds.memory_floats,
                                   stage1_matching_loss=ds.metadata["stage1_matching_loss"]))
            Xr, yr = random_subset(p.X, p.y, a + b, seed=p.seeds["subset"])
            rand = learner.fit(p.net, (Xr, yr))
            rows.append(rep.record(method="random", m1=a, m2=b, test_mse=mse(rand),
                                   alignment=alignment(rand, p.task), energy_s1=energy_in_subspace(Xr, p.task),
                                   memory_floats=(a + b) * (d + 1), stage1_matching_loss=float("nan")))
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, m1: int, m2: int) -> dict[str, Any]:
    """Headline numbers at (m1, m2): per method, mean with t-interval, min and max over repetitions
    of test MSE, alignment and energy of S1; plus the memory counts."""
    head = table[((table.m1 == m1) & (table.m2 == m2)) | (table.method == "full")]
    stats = summarise_columns(head, ["method"], ["test_mse", "alignment", "energy_s1"])
    out: dict[str, Any] = {}
    for row in stats.to_dict(orient="records"):
        out.setdefault(row["method"], {})[row["quantity"]] = {k: row[k] for k in ("mean", "lo", "hi", "min", "max")}
    first = head.iloc[0]
    out["memory"] = memory_report(m1=m1, m2=m2, d=int(first.d), r=int(first.r), width=int(first.width),
                                  n=int(first.n_train))
    return out
