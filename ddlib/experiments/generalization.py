"""Claim C2 (notebook 02): the network trained on a few distilled points generalises about as
well as the one trained on all the real data, and far better than on a random real subset of
the same size, as m1 and m2 grow."""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from ..baselines import random_subset
from ..claims import Claim, CheckSpec, Precondition
from ..distillers import distill
from ..learners import TwoStageLearner
from ..metrics import alignment, energy_in_subspace, test_mse
from ..theory import memory_report
from .repetitions import repetitions, summarise as summarise_columns

__all__ = ["PROFILES", "CHECKS", "run", "run_generalization", "summarise", "measures", "regime", "statements",
           "claims"]

_BASE = dict(d=32, r=2, width=512, n_train=8000, m1=8, m2=32, link="he2", n_seeds=3,
             m1_grid=[2, 4, 8, 16], m2_grid=[8, 16, 32, 64], steps1=300, steps2=200, lr=0.05,
             restarts=3, n_test=20_000)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {**_BASE, "d": 16, "width": 256, "n_train": 3000, "m1": 8, "m2": 16, "n_seeds": 3,
              "m1_grid": [2, 8], "m2_grid": [4, 16], "steps1": 150, "steps2": 100, "n_test": 5000},
    "book": {**_BASE, "n_seeds": 5},
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


# ----------------------------------------------------------------------------------------------
# Claims: each check's quantity per repetition (``measures``), the regime, the verdicts
# ----------------------------------------------------------------------------------------------

run = run_generalization
INFORMATION_EXPONENT_2 = ("he2", "aniso")  # links one gradient step can learn (he3 cannot)
LEARNS = 0.5  # the full-data learner "learns" when its test MSE is at most half the zero predictor's
CHECKS: dict[str, CheckSpec] = {
    "gap": CheckSpec("distilled / full-data test MSE", "<=", 6.0,
                     "gap to full data: a ratio to the full-data learner's test MSE", geometric=True),
    "gain": CheckSpec("random subset / distilled test MSE, equal memory", ">=", 4.0,
                      "gain over m1 + m2 random real points (the same floats)", geometric=True),
    "energy": CheckSpec("energy of S1 in span(U) / chance r/d", ">=", 3.0,
                        "energy relative to chance r/d, the share of an isotropic point"),
    "more_m2": CheckSpec("test MSE at the largest / the smallest m2 of the grid", "<=", 0.8,
                         "the same learner with the fewest stage-2 points", geometric=True),
}


def _headline(table: pd.DataFrame, P: Mapping[str, Any]) -> pd.DataFrame:
    return table[((table.m1 == P["m1"]) & (table.m2 == P["m2"])) | (table.method == "full")]


def measures(table: pd.DataFrame, P: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per repetition, the quantity behind each check of ``CHECKS``."""
    mse = _headline(table, P).pivot_table(index="repetition", columns="method", values="test_mse")
    dist = table[table.method == "distilled"]
    energy = dist[(dist.m1 == P["m1"]) & (dist.m2 == P["m2"])].set_index("repetition").energy_s1
    by_m2 = dist[dist.m1 == P["m1"]].pivot_table(index="repetition", columns="m2", values="test_mse")
    lo, hi = min(by_m2.columns), max(by_m2.columns)
    return {"gap": (mse["distilled"] / mse["full"]).tolist(),
            "gain": (mse["random"] / mse["distilled"]).tolist(),
            "energy": (energy / (P["r"] / P["d"])).tolist(),
            "more_m2": (by_m2[hi] / by_m2[lo]).tolist() if hi > lo else []}


def regime(table: pd.DataFrame, P: Mapping[str, Any]) -> tuple[Precondition, ...]:
    """Where the paper's statement applies: a link of information exponent 2, enough real data for
    the full-data learner to learn, and at least r stage-1 points (fewer span fewer than r
    directions: ``ddlib.theory.span_bound``)."""
    full = float(table[table.method == "full"].test_mse.mean())
    return (Precondition(f"link of information exponent 2 ({', '.join(INFORMATION_EXPONENT_2)})",
                         P["link"] in INFORMATION_EXPONENT_2, f"link = {P['link']}"),
            Precondition(f"the full-data learner learns (test MSE <= {LEARNS})", full <= LEARNS,
                         f"full-data test MSE {full:.3g} at n = {P['n_train']}"),
            Precondition("m1 >= r", P["m1"] >= P["r"], f"m1 = {P['m1']}, r = {P['r']}"))


def statements(P: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(id, sentence) of each claim at these parameters (the page's claim block)."""
    size = f"{P['m1']} + {P['m2']}"
    return [
        ("C2.1", f"A distilled set of {size} points trains the learner to within {CHECKS['gap'].threshold:g}x "
                 f"of its full-data test error."),
        ("C2.2", f"At equal memory the distilled set beats {size} random real points by at least "
                 f"{CHECKS['gain'].threshold:g}x in test error."),
        ("C2.3", f"The distilled stage-1 points hold at least {CHECKS['energy'].threshold:g}x the chance share "
                 f"r/d of their energy in span(U)."),
        ("C2.4", f"More stage-2 points help: the largest m2 of the grid lowers the test error by at least "
                 f"{100 * (1 - CHECKS['more_m2'].threshold):.0f}% from the smallest."),
    ]


def claims(table: pd.DataFrame, P: Mapping[str, Any]) -> list[Claim]:
    """The claims of notebook 02, with their verdicts on this table."""
    values, reg = measures(table, P), regime(table, P)
    keys = ("gap", "gain", "energy", "more_m2")
    return [Claim(cid, text, (CHECKS[key].check(values[key]),), reg)
            for (cid, text), key in zip(statements(P), keys)]
