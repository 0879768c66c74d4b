"""Notebook 04 (algorithms): every distiller and coreset on one task -- gradient matching (cosine /
Frobenius), KIP stage 2 vs a real random stage 2, the full meta-gradient, trajectory matching
(T = 1 and T > 1) and random / k-center / herding coresets -- with test MSE, alignment and the
measured wall time of each."""
from __future__ import annotations

import time
from typing import Any, Callable

import pandas as pd
import torch

from ..baselines import herding_coreset, kcenter_coreset, random_subset
from ..data import Data
from ..distillers import DistilledSet, distill, meta_refine
from ..learners import TwoStageLearner, stage1_gradient
from ..metrics import alignment, gradient_cosine, test_mse
from ..networks import TwoLayerNet
from .problem import Problem
from .repetitions import repetitions

__all__ = ["PROFILES", "run_algorithms", "trajectory_equivalence", "summarise"]

_BASE = dict(d=32, r=2, width=512, n_train=8000, m1=8, m2=32, link="he2", n_seeds=3, steps1=300,
             steps2=100, lr=0.05, restarts=2, meta_steps=100, meta_lr=0.01, meta_batch=1024,
             tm_steps=2, tm_lr=1.0, tm_weight_decay=0.75, extra_m1=[], n_test=10_000)
# extra_m1: further stage-1 sizes at which cosine and Frobenius matching are compared.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {**_BASE, "d": 16, "width": 128, "n_train": 2000, "m1": 8, "m2": 16, "n_seeds": 2,
              "steps1": 150, "steps2": 50, "meta_steps": 50, "meta_batch": 512, "n_test": 5000},
    "book": dict(_BASE),
    "paper": {**_BASE, "n_seeds": 10, "steps2": 200, "restarts": 3, "meta_steps": 300,
              "extra_m1": [2, 4, 16], "n_test": 20_000},
}


def _warm_up() -> None:
    """Pay one-time costs (first calls of each kernel, lazy imports) before anything is timed."""
    X = torch.linspace(-1.0, 1.0, 16, dtype=torch.float64).reshape(4, 4)
    y = X.sum(1)
    net = TwoLayerNet.init(4, 4, seed=0)
    ds = distill(net, X, y, 2, 2, steps1=1, steps2=1, restarts=1)
    meta_refine(ds, net, X, y, steps=1, lr=0.01, batch=4, seed=0)
    distill(net, X, y, 2, 2, steps1=1, steps2=1, restarts=1, method="tm+kip")


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _top_direction_share(W: torch.Tensor) -> float:
    """Share of |W|_F^2 in W's top singular direction: 1 when every neuron points the same way."""
    s = torch.linalg.svdvals(W)
    return float(s[0] ** 2 / (s ** 2).sum())


class _Evaluator:
    """Trains the learner on a candidate training set and measures it, for one repetition."""

    def __init__(self, p: Problem, common: dict, n_test: int) -> None:
        self.p, self.common, self.n_test = p, common, n_test
        self.G_D = stage1_gradient(p.net.W, p.net.a, p.net.b, p.X, p.y)
        self.W_full: dict[int, torch.Tensor] = {}  # the full data's W_T, per learner T

    def __call__(self, method: str, family: str, learner: TwoStageLearner, stage1: Data, stage2: Data,
                 wall: float, matching_loss: float = float("nan"), m1: int | None = None) -> dict:
        p = self.p
        trained = learner.fit(p.net, stage1, stage2)
        is_full = stage1[0] is p.X
        if is_full:
            self.W_full[learner.stage1_steps] = trained.W
        G_S = self.G_D if is_full else stage1_gradient(p.net.W, p.net.a, p.net.b, *stage1)
        n_points = stage1[0].shape[0] + (0 if stage2 is stage1 else stage2[0].shape[0])
        row = {**self.common, "method": method, "family": family, "learner_steps": learner.stage1_steps,
               "test_mse": test_mse(trained, p.task, self.n_test, seed=p.seeds["test"]),
               "alignment": alignment(trained, p.task), "matching_loss": matching_loss,
               "stage1_gradient_cosine": 1.0 if is_full else gradient_cosine(G_S, self.G_D),
               "stage1_gradient_norm_ratio": float(G_S.norm() / self.G_D.norm()),
               "w_cosine_to_full": gradient_cosine(trained.W, self.W_full[learner.stage1_steps]),
               "w_top_direction_share": _top_direction_share(trained.W),
               "memory_floats": n_points * (p.X.shape[1] + 1), "wall_time_s": wall}
        if m1 is not None:
            row["m1"] = m1
        return row

    def distilled(self, method: str, ds: DistilledSet, learner: TwoStageLearner, wall: float) -> dict:
        return self(method, "distilled", learner, ds.stage1, ds.stage2, wall,
                    ds.metadata["stage1_matching_loss"], m1=ds.m1)


def run_algorithms(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, link: str, n_seeds: int,
                   steps1: int, steps2: int, lr: float, restarts: int, meta_steps: int, meta_lr: float,
                   meta_batch: int, tm_steps: int, tm_lr: float, tm_weight_decay: float, extra_m1: list[int],
                   n_test: int, seed: int, progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every distiller and coreset on ``n_seeds`` repetitions of one task (d, r, width, n_train).

    One-step learner (T = 1): full data; GM cos + KIP; the same S1 with m2 random real points for
    stage 2; GM Frobenius + KIP; TM T=1 + KIP; the meta-gradient fine-tune of GM cos + KIP; and
    random / k-center / herding coresets of m1 + m2 real points used for both stages; GM cos and
    Frobenius again at every stage-1 size in ``extra_m1``.  T-step learner
    (``tm_steps``, ``tm_lr``, ``tm_weight_decay``): full data, GM cos + KIP and TM + KIP.

    Returns:
        ``table``: one row per (repetition, method, m1) with test MSE (normalised by Var y);
        alignment of the trained W_T; the stage-1 matching loss where there is one; the per-neuron
        cosine of the synthetic stage-1 gradient at theta0 with the real one and the ratio of their
        Frobenius norms; the per-neuron cosine of the trained W_T with the full data's (same
        learner); the share of |W_T|^2 in its top singular direction; memory in floats; and the
        measured wall time of producing the training set (NaN for a row that reuses another
        row's stage 1).
        ``equivalence``: per repetition, how far T = 1 trajectory matching lands from cosine
        gradient matching (``trajectory_equivalence``).
    """
    one_step = TwoStageLearner()
    t_step = TwoStageLearner(stage1_steps=tm_steps, stage1_lr=tm_lr, stage1_weight_decay=tm_weight_decay)
    shared = dict(steps1=steps1, steps2=steps2, lr=lr, restarts=restarts)
    rows, equivalence = [], []
    _warm_up()
    for rep in repetitions(seed=seed, n_seeds=n_seeds, d=d, r=r, width=width, n_train=n_train, link=link,
                           progress=progress):
        p, common = rep.problem, rep.record(m1=m1, m2=m2)
        ev = _Evaluator(p, common, n_test)
        run = dict(seed=p.seeds["distill"], task=p.task, **shared)

        def distill_timed(size: int = m1, **kw: Any) -> tuple[DistilledSet, float]:
            return _timed(lambda: distill(p.net, p.X, p.y, size, m2, **run, **kw))

        real = (p.X, p.y)
        _, wall = _timed(lambda: one_step.fit(p.net, real))
        rows.append(ev("full data", "reference", one_step, real, real, wall))
        gm, gm_wall = distill_timed(learner=one_step)
        rows.append(gm_row := ev.distilled("GM cos + KIP", gm, one_step, gm_wall))
        # The same S1 with m2 random real points for the ridge: what KIP's stage 2 adds.  Not
        # timed on its own (its stage 1 is the GM cos run's).
        real_s2 = random_subset(p.X, p.y, m2, seed=p.seeds["subset"])
        rows.append(ev("GM cos + real stage 2", "distilled", one_step, gm.stage1, real_s2, float("nan"),
                       gm.metadata["stage1_matching_loss"]))
        frob, wall = distill_timed(learner=one_step, matching="frobenius")
        rows.append(ev.distilled("GM Frobenius + KIP", frob, one_step, wall))
        tm1, wall = distill_timed(learner=one_step, method="tm+kip")
        rows.append(tm_row := ev.distilled("TM T=1 + KIP", tm1, one_step, wall))
        equivalence.append({**common, **trajectory_equivalence(gm, tm1, gm_row["test_mse"], tm_row["test_mse"])})
        meta, wall = _timed(lambda: meta_refine(gm, p.net, p.X, p.y, steps=meta_steps, lr=meta_lr,
                                                batch=meta_batch, seed=p.seeds["distill"]))
        # The meta-gradient starts from the GM cos + KIP set: its time includes making that set.
        rows.append(ev("meta-gradient", "distilled", one_step, meta.stage1, meta.stage2, gm_wall + wall))

        m, subset_seed = m1 + m2, p.seeds["subset"]
        for name, make in [("random", lambda: random_subset(p.X, p.y, m, seed=subset_seed)),
                           ("k-center", lambda: kcenter_coreset(p.X, p.y, m, seed=subset_seed)),
                           ("herding", lambda: herding_coreset(p.X, p.y, m, features=p.net.stage2_features(p.X, p.net.W)))]:
            core, wall = _timed(make)
            rows.append(ev(name, "coreset", one_step, core, core, wall))

        for size in [size for size in extra_m1 if size != m1]:
            for name, matching in [("GM cos + KIP", "cos"), ("GM Frobenius + KIP", "frobenius")]:
                ds, wall = distill_timed(size, learner=one_step, matching=matching)
                rows.append(ev.distilled(name, ds, one_step, wall))

        T = tm_steps
        _, wall = _timed(lambda: t_step.fit(p.net, real))
        rows.append(ev(f"full data (T={T})", "reference", t_step, real, real, wall))
        gm_t, wall = distill_timed(learner=t_step)
        rows.append(ev.distilled(f"GM cos + KIP (T={T})", gm_t, t_step, wall))
        tm_t, wall = distill_timed(learner=t_step, method="tm+kip")
        rows.append(ev.distilled(f"TM T={T} + KIP", tm_t, t_step, wall))
        # Diagnostic: the TM stage-1 set with all n real points for stage 2 (is stage 1 the loss?).
        rows.append(ev(f"TM T={T} S1 + full stage 2", "diagnostic", t_step, tm_t.stage1, real, float("nan"),
                       tm_t.metadata["stage1_matching_loss"]))
    return pd.DataFrame(rows), pd.DataFrame(equivalence)


def trajectory_equivalence(gm: DistilledSet, tm: DistilledSet, mse_gm: float, mse_tm: float) -> dict[str, float]:
    """How far the T = 1 trajectory-matching set lands from the cosine gradient-matching set made
    from the same initial points: whether both kept the same restart (their losses differ by
    n_dead / 2L, which may rank restarts differently), the max |difference| of the synthetic points
    (inputs and labels, both stages), also relative to their largest entry, the two test MSEs and
    their difference, and the largest deviation of the restart-loss gaps (x 2L) from an integer
    number of dead neurons."""
    loss_gm = torch.tensor(gm.metadata["stage1_restart_losses"])
    loss_tm = torch.tensor(tm.metadata["stage1_restart_losses"])
    dead = (loss_gm - loss_tm) * 2 * gm.metadata["theta0"]["width"]
    diffs = [float((a - b).abs().max()) for a, b in zip(gm.stage1 + gm.stage2, tm.stage1 + tm.stage2)]
    scale = max(float(t.abs().max()) for t in gm.stage1 + gm.stage2)
    return {"same_restart": bool(torch.argmin(loss_gm) == torch.argmin(loss_tm)),
            "dead_neuron_gap_residual": float((dead - dead.round()).abs().max()),
            "max_abs_point_difference": max(diffs), "relative_point_difference": max(diffs) / scale,
            "test_mse_gm": mse_gm, "test_mse_tm": mse_tm, "test_mse_difference": abs(mse_gm - mse_tm),
            "matching_loss_gm": gm.metadata["stage1_matching_loss"],
            "matching_loss_tm": tm.metadata["stage1_matching_loss"]}


def summarise(table: pd.DataFrame, m1: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per method at stage-1 size ``m1``: mean, min and max over repetitions of test MSE,
    alignment, wall time and the stage-1 gradient cosine."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    head = table[(table.m1 == m1) | (table.family != "distilled")]
    for method, g in head.groupby("method", sort=False):
        out[method] = {col: {"mean": float(g[col].mean()), "min": float(g[col].min()), "max": float(g[col].max())}
                       for col in ("test_mse", "alignment", "wall_time_s", "stage1_gradient_cosine")
                       if g[col].notna().any()}
    return out
