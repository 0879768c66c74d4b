"""Claims C4 (notebook 04): the distillers of the two-stage learner side by side on one task --
gradient matching (cosine / Frobenius), KIP's stage 2 against a random real stage 2, the
meta-gradient fine-tune, trajectory matching (T = 1, which is cosine gradient matching, and
T > 1) -- and the baselines at equal memory, with test MSE, alignment and the measured wall time
of each.

Every method but the meta-gradient fine-tune is an arm of ``ddlib.experiments.arms``: a pair of
registered stage methods made by ``ddlib.methods.compose`` from one ``RealData`` per repetition
(``arms.ALGORITHMS``: GM cos / GM Frobenius / TM + KIP, GM cos + random real points, and the
baselines both pages share -- random, k-center and herding real points for both stages, greedy
selection, the spectral set with random real points or KIP, moment matching with KIP or
closed-form labels); the page's ``extra_arms`` parameter adds any registered pair by name, which
then joins the table, the figure and the baseline claim.  The meta-gradient row is
``distill(method="meta")``: the GM cos + KIP arm's set fine-tuned by ``meta_refine``.  Every
row's ridge lambda2 is tuned on a validation split of the real data that no method sees
(``ddlib.tuning``), apart from the fresh test sample.

The parameters are declared once (``PARAMETERS``); the claims are declared too (``plan``, with
``CHECKS``, ``measures`` and ``regimes``) and decided by ``ddlib.book.claims.claims_of``.  Every
threshold comes from a convention of the field (``CheckSpec.origin``); every claim names its
negative control in ``CONTROLS`` -- "no distillation steps", or one of this page's label-shuffled
controls (this page's own sabotages, given to their ``Control``: KIP's stage 2, Frobenius matching
or the meta-gradient fine-tune alone sees the real labels permuted) -- except the consistency
checks C4.1 (the T = 1 identity) and C4.8 (trajectory matching tests no better than the data it
imitates).
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
import weakref
from dataclasses import dataclass, replace
from typing import Any, Callable, ContextManager, Iterator, Mapping

import pandas as pd
import torch

from ..book.claims import CheckSpec, ClaimDecl, Control, Precondition
from ..data import Data
from ..distillers import DistilledSet, expert_trajectory, meta_refine, trajectory_matching_loss
from ..distillers.gradient_matching import matching_value_and_grad
from ..distillers.restarts import Restarts
from ..distillers.trajectory import student_trajectory
from ..learners import TwoStageLearner, stage1_gradient
from ..methods import STAGE1, STAGE2, Composed, Config, RealData, register_stage1, register_stage2
from ..metrics import alignment, gradient_cosine, test_mse, top_direction_share
from ..networks import TwoLayerNet
from ..tuning import RidgeTuning, tune_ridge, validation_split
from .arms import (ALGORITHMS, ARMS, SELECT_POOL, SUBSTITUTES, Arm, arm_stage1, compose_arm, labels,
                   resolve_arms, stage1_request)
from .generalization import validation_size
from .parameters import Parameters
from .problem import Problem
from .regime import enough_stage1_points, full_data_learns, learnable_link
from .repetitions import repetitions

__all__ = ["PARAMETERS", "PROFILES", "REAL_POINTS", "SYNTHETIC", "COMPARED", "META", "CHECKS", "CONTROLS",
           "POINTS_AGREE", "AlgorithmTables", "run", "run_algorithms", "arms_of", "compared",
           "matching_gradient_gap", "trajectory_equivalence", "summarise", "measures", "regimes", "plan"]

# The notebook's parameters, declared once: (name, value at the book profile, help).
PARAMETERS = Parameters(
    ("d", 32, "input dimension"),
    ("r", 2, "intrinsic dimension, rank of U"),
    ("width", 512, "network width L"),
    ("n_train", 8000, "real points, validation split included"),
    ("validation_share", 0.125, "share held out to tune lambda2"),
    ("m1", 8, "stage-1 distilled points"),
    ("m2", 32, "stage-2 distilled points"),
    ("link", "he2", '"he2", "aniso", "quad" or "he3"'),
    ("n_seeds", 5, "repetitions"),
    ("steps1", 300, "Adam steps, stage-1 matching (GM or TM)"),
    ("steps2", 100, "Adam steps of KIP (stage 2)"),
    ("lr", 0.05, "Adam learning rate of every distiller and optimising baseline"),
    ("restarts", 2, "starts per stage; lowest matching loss kept"),
    ("meta_steps", 100, "Adam steps of the meta-gradient"),
    ("meta_lr", 0.01, "the meta-gradient's learning rate"),
    ("meta_batch", 1024, "real points per meta-gradient step"),
    ("tm_steps", 2, "T of the multi-step learner (1: none)"),
    ("tm_lr", 1.0, "the multi-step learner's stage-1 step size"),
    ("tm_weight_decay", 0.75, "the multi-step learner's stage-1 weight decay"),
    ("extra_m1", [], "more m1 for GM cos vs Frobenius", "list[int]"),
    ("n_test", 5000, "fresh test points per repetition"),
    ("extra_arms", [], "more arms, 'stage1+stage2' of registered methods", "list[str]"),
)
PROFILES: dict[str, dict[str, Any]] = PARAMETERS.profiles(
    smoke={"width": 256, "n_train": 4000, "n_seeds": 3, "meta_steps": 50, "meta_batch": 512, "n_test": 4000},
    paper={"n_seeds": 10, "steps2": 200, "restarts": 3, "meta_steps": 300, "extra_m1": [2, 4, 16], "n_test": 20_000},
)

_ARMS = resolve_arms(ALGORITHMS)
REAL_POINTS = labels(_ARMS, "real points")  # the page's own arms of real points
SYNTHETIC = labels(_ARMS, "synthetic")  # its own synthetic baselines (made without the learner's gradient)
_GM, _GM_FROB, _TM1, _REAL_S2 = (ARMS[a].label for a in ("gm-cos+kip", "gm-frobenius+kip", "tm+kip", "gm-cos+random"))
META = "meta-gradient"  # distill(method="meta"): the GM cos + KIP set, fine-tuned


def arms_of(P: Mapping[str, Any]) -> list[Arm]:
    """The arms compared at these parameters: the page's own and ``P["extra_arms"]``, each checked
    against the registries (a ValueError naming the registered methods before anything runs)."""
    return resolve_arms(ALGORITHMS, P.get("extra_arms", ()))


def compared(arms: list[Arm]) -> dict[str, tuple[str, str]]:
    """Every method of the one-step table, in order: label -> (family, what it is); the page's
    method table is built from this."""
    out = {"full data": ("reference", "the learner on every real point outside the validation split")}
    for a in arms:
        out[a.label] = (a.family, a.what)
        if a.label == _REAL_S2:  # the fine-tune after the distillers' arms (ALGORITHMS holds this one)
            out[META] = ("distilled", "distill(method='meta'): GM cos + KIP, then (S1, S2) fine-tuned on the "
                                      "real-data loss of A(S)")
    return out


COMPARED = compared(_ARMS)  # the page's own methods


def _warm_up(arms: list[Arm]) -> None:
    """Pay one-time costs (first calls of each kernel, lazy imports) before anything is timed:
    every arm composed once on a tiny problem, the fine-tune and the T-step learner's expert."""
    X = torch.linspace(-1.0, 1.0, 64, dtype=torch.float64).reshape(16, 4)
    y = X[:, 0] ** 2 - X[:, 1] * X[:, 2]
    net = TwoLayerNet.init(4, 4, seed=0)
    real = RealData(net, X, y)
    config = Config(steps1=1, steps2=1, restarts=1, r=1, pool=2)
    for a in arms:
        compose_arm(real, a, 2, 2, config, seed=0)
    meta_refine(compose_arm(real, ARMS["gm-cos+kip"], 2, 2, config, seed=0).distilled, net, X, y, steps=1,
                lr=0.01, batch=4, seed=0)
    compose_arm(real, ARMS["tm+kip"], 2, 2, replace(config, learner=TwoStageLearner(stage1_steps=2)), seed=0)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


class _Evaluator:
    """Makes and measures the candidate training sets of one repetition: every arm composed from
    one ``RealData`` of the training split, every row's ridge tuned on the validation split."""

    def __init__(self, p: Problem, real: RealData, validation: Data, config: Config, common: dict,
                 n_test: int) -> None:
        self.p, self.real, self.validation, self.config = p, real, validation, config
        self.common, self.n_test = common, n_test
        self.G_D = real.gradient()  # shared by the arms that read it: made once, outside the timings
        self.W_full: dict[int, torch.Tensor] = {}  # the full data's W_T, per learner T
        self.stage1_wall: dict[tuple, float] = {}  # the time of making each stage-1 set, once

    def compose(self, a: Arm, m1: int, m2: int, config: Config | None = None) -> tuple[Composed, float]:
        """The arm's set and the wall time of making it from the real data: its stage 1 (timed once,
        when first made, and counted in every arm that shares it) and its stage 2."""
        config = self.config if config is None else config
        seed = self.p.seeds["distill"]
        key = (a.stage1, stage1_request(a, m1, m2), config.key())
        if key not in self.stage1_wall:
            _, self.stage1_wall[key] = _timed(lambda: arm_stage1(self.real, a, m1, m2, config, seed=seed))
        parts, wall = _timed(lambda: compose_arm(self.real, a, m1, m2, config, seed=seed, task=self.p.task))
        return parts, self.stage1_wall[key] + wall

    def tune(self, learner: TwoStageLearner, stage1: Data, stage2: Data) -> RidgeTuning:
        """``learner`` trained on (stage1, stage2) with its ridge tuned on the validation split."""
        return tune_ridge(self.p.net, stage1, stage2, self.validation, learner=learner)

    def full(self, method: str, learner: TwoStageLearner) -> dict:
        """The full-data row: its wall time is the learner's tuned fit on the training split (no set
        to make), done once."""
        train = self.real.data
        tuned, wall = _timed(lambda: self.tune(learner, train, train))
        return self(method, learner, train, train, wall, tuned=tuned)

    def __call__(self, method: str, learner: TwoStageLearner, stage1: Data, stage2: Data, wall: float,
                 matching_loss: float = math.nan, m1: int | None = None, *, memory_floats: int | None = None,
                 family: str | None = None, tuned: RidgeTuning | None = None, **extra: Any) -> dict:
        """The row of ``method``: ``learner`` trained on (stage1, stage2) with its ridge tuned on the
        validation split (``tuned``, when already done), and measured."""
        p, train = self.p, self.real.data
        tuned = self.tune(learner, stage1, stage2) if tuned is None else tuned
        trained = tuned.net
        is_full = stage1[0] is train.X
        if is_full:
            self.W_full[learner.stage1_steps] = trained.W
        G_S = self.G_D if is_full else stage1_gradient(p.net.W, p.net.a, p.net.b, *stage1)
        if memory_floats is None:
            memory_floats = (stage1[0].shape[0] + (0 if stage2 is stage1 else stage2[0].shape[0])) * (p.task.d + 1)
        family = family or ("reference" if is_full else "diagnostic")
        return {**self.common, "method": method, "family": family, "learner_steps": learner.stage1_steps,
                **({"m1": m1} if m1 is not None else {}),
                "test_mse": test_mse(trained, p.task, self.n_test, seed=p.seeds["test"]),
                "ridge": tuned.ridge, "validation_mse": tuned.best_validation_mse,
                "alignment": alignment(trained, p.task), "matching_loss": matching_loss,
                "stage1_gradient_cosine": 1.0 if is_full else gradient_cosine(G_S, self.G_D),
                "stage1_gradient_norm_ratio": float(G_S.norm() / self.G_D.norm()),
                "w_cosine_to_full": gradient_cosine(trained.W, self.W_full[learner.stage1_steps]),
                "w_top_direction_share": top_direction_share(trained.W),
                "memory_floats": memory_floats, "wall_time_s": wall, **extra}

    def distilled(self, method: str, ds: DistilledSet, learner: TwoStageLearner, wall: float, m1: int, *,
                  family: str = "distilled", **extra: Any) -> dict:
        """The row of a composed set, recorded at the arm's stage-1 size ``m1`` (a set of real points
        for both stages holds m1 + m2, the spectral set 2r)."""
        loss = ds.metadata.get("stage1_matching_loss")
        return self(method, learner, ds.stage1, ds.stage2, wall, math.nan if loss is None else loss, m1=m1,
                    memory_floats=ds.memory_floats, family=family, **extra)


@dataclass(frozen=True)
class AlgorithmTables:
    """The two tables of notebook 04: ``table`` (one row per repetition, method and m1) and
    ``equivalence`` (per repetition, T = 1 trajectory matching against cosine gradient matching)."""

    table: pd.DataFrame
    equivalence: pd.DataFrame


def run_algorithms(*, d: int, r: int, width: int, n_train: int, validation_share: float, m1: int, m2: int,
                   link: str, n_seeds: int, steps1: int, steps2: int, lr: float, restarts: int, meta_steps: int,
                   meta_lr: float, meta_batch: int, tm_steps: int, tm_lr: float, tm_weight_decay: float,
                   extra_m1: list[int], n_test: int, extra_arms: list[str], seed: int,
                   progress: bool = False) -> AlgorithmTables:
    """Every arm and the meta-gradient fine-tune on ``n_seeds`` repetitions of one task (d, r, width, n_train).

    Each repetition holds out ``validation_share`` of its n_train real points for tuning lambda2
    (every row's, the full data's too); every arm is composed from one ``RealData`` of the rest,
    with one seed (the repetition's distillation seed) and one budget (``steps1``, ``steps2``,
    ``lr``, ``restarts``; the spectral set gets the task's r, an oracle the distillers do not get).
    One-step learner (T = 1): the full data, every arm of ``arms_of`` (the page's and
    ``extra_arms``, each storing m1 + m2 points) and the meta-gradient fine-tune; GM cos and
    Frobenius again at every stage-1 size in ``extra_m1``.  T-step learner (``tm_steps``, ``tm_lr``,
    ``tm_weight_decay``; only when tm_steps > 1): full data, GM cos + KIP, TM + KIP and the TM S1
    with all the training data for stage 2.

    Returns:
        ``table``: one row per (repetition, method, m1) with test MSE (normalised by Var y) and the
        tuned ridge with its validation MSE; alignment of the trained W_T; the stage-1 matching loss
        where there is one; the per-neuron cosine of the synthetic stage-1 gradient at theta0 with
        the real one and the ratio of their Frobenius norms; the per-neuron cosine of the trained
        W_T with the full data's (same learner); the share of |W_T|^2 in its top singular
        direction; memory in floats; the meta-gradient's real-data loss before and after; and the
        measured wall time of making the training set from the real data (its stage 1, timed once
        and counted in every arm that shares it, and its stage 2; for the full data the learner's
        tuned fit; NaN for the diagnostic row that reuses the TM set).
        ``equivalence``: per repetition, ``trajectory_equivalence``.
    """
    arms = resolve_arms(ALGORITHMS, extra_arms)  # an unknown name stops here, before any work
    one_step = TwoStageLearner()
    rows, equivalence = [], []
    _warm_up(arms)  # so that no first-call cost lands in the first repetition's timings
    for rep in repetitions(seed=seed, n_seeds=n_seeds, d=d, r=r, width=width, n_train=n_train, link=link,
                           progress=progress):
        p, common = rep.problem, rep.record(m1=m1, m2=m2)
        train, validation = validation_split(p.X, p.y, validation_size(n_train, validation_share),
                                             seed=p.seeds["subset"])
        config = Config(learner=one_step, steps1=steps1, steps2=steps2, lr=lr, restarts=restarts, r=p.task.r,
                        pool=SELECT_POOL)
        ev = _Evaluator(p, RealData(p.net, *train), validation, config, common, n_test)
        one, eq = _one_step_rows(ev, arms, one_step, m1=m1, m2=m2,
                                 meta=dict(steps=meta_steps, lr=meta_lr, batch=meta_batch, seed=p.seeds["distill"]))
        rows.extend(one)
        equivalence.append({**common, **eq})
        for size in [size for size in extra_m1 if size != m1]:
            for name in ("gm-cos+kip", "gm-frobenius+kip"):
                parts, wall = ev.compose(ARMS[name], size, m2)
                rows.append(ev.distilled(ARMS[name].label, parts.distilled, one_step, wall, size))
        if tm_steps > 1:
            rows.extend(_t_step_rows(ev, m1, m2, TwoStageLearner(stage1_steps=tm_steps, stage1_lr=tm_lr,
                                                                 stage1_weight_decay=tm_weight_decay)))
    return AlgorithmTables(pd.DataFrame(rows), pd.DataFrame(equivalence))


def _one_step_rows(ev: _Evaluator, arms: list[Arm], one_step: TwoStageLearner, *, m1: int, m2: int,
                   meta: dict) -> tuple[list[dict], dict]:
    """The one-step learner's rows of one repetition (``compared(arms)``, in order) and its T = 1
    equivalence record."""
    p, train, rows = ev.p, ev.real.data, []
    rows.append(ev.full("full data", one_step))
    made: dict[str, tuple[Composed, float]] = {}
    for a in arms:
        made[a.name] = parts, wall = ev.compose(a, m1, m2)
        rows.append(ev.distilled(a.label, parts.distilled, one_step, wall, m1, family=a.family))
        if a.name == "gm-cos+random":
            gm, gm_wall = made["gm-cos+kip"]
            refined, wall = _timed(lambda: meta_refine(gm.distilled, p.net, *train, learner=one_step, **meta))
            # distill(method="meta"): the fine-tune starts from the GM cos + KIP set; its time includes that set's.
            rows.append(ev.distilled(META, refined, one_step, gm_wall + wall, m1,
                                     meta_initial_real_loss=refined.metadata["meta_initial_real_loss"],
                                     meta_final_real_loss=refined.metadata["meta_final_real_loss"]))
    by_label = {r["method"]: r for r in rows}
    gm, tm = made["gm-cos+kip"][0], made["tm+kip"][0]
    eq = trajectory_equivalence(gm.stage1.restarts, tm.stage1.restarts, p.net, train, one_step,
                                by_label[_GM]["test_mse"], by_label[_TM1]["test_mse"], G_D=ev.G_D)
    return rows, eq


def _t_step_rows(ev: _Evaluator, m1: int, m2: int, learner: TwoStageLearner) -> list[dict]:
    """The T-step learner's rows: full data, GM cos + KIP, TM + KIP (both composed for this
    learner), and (a diagnostic: is stage 1 the loss?) the TM stage-1 set with all the training
    data for stage 2."""
    T, train = learner.stage1_steps, ev.real.data
    config = replace(ev.config, learner=learner)
    rows = [ev.full(f"full data (T={T})", learner)]
    gm, wall = ev.compose(ARMS["gm-cos+kip"], m1, m2, config)
    rows.append(ev.distilled(f"GM cos + KIP (T={T})", gm.distilled, learner, wall, m1, family="diagnostic"))
    tm, wall = ev.compose(ARMS["tm+kip"], m1, m2, config)
    rows.append(ev.distilled(f"TM T={T} + KIP", tm.distilled, learner, wall, m1, family="diagnostic"))
    loss = tm.distilled.metadata.get("stage1_matching_loss")
    rows.append(ev(f"TM T={T} S1 + full stage 2", learner, tm.distilled.stage1, train, math.nan,
                   math.nan if loss is None else loss, m1=m1))
    return rows


POINTS_AGREE = 1e-8  # relative difference below which two distilled sets count as the same points


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / a.abs().max().clamp_min(torch.finfo(a.dtype).tiny))


def matching_gradient_gap(net: TwoLayerNet, real: Data, learner: TwoStageLearner, X: torch.Tensor,
                          y: torch.Tensor, *, G_D: torch.Tensor | None = None,
                          W_T: torch.Tensor | None = None) -> float:
    """The T = 1 identity, checked where it is exact: at K synthetic sets (X (K, m, d), y (K, m)),
    the largest difference between the gradient (in X and in y) of the trajectory-matching loss
    (autograd through the learner's step) and that of the cosine matching loss (closed form),
    relative to the largest entry of the latter.  ``G_D`` (the real stage-1 gradient) and
    ``W_T`` (the expert's end point) are computed from ``real`` unless given."""
    G_D = stage1_gradient(net.W, net.a, net.b, *real) if G_D is None else G_D
    W_T = expert_trajectory(net, *real, learner)[-1] if W_T is None else W_T
    _, (gX, gy) = matching_value_and_grad(net, G_D, X, y, "cos")
    Xr, yr = X.detach().clone().requires_grad_(True), y.detach().clone().requires_grad_(True)
    loss = trajectory_matching_loss(student_trajectory(net, Xr, yr, learner)[-1], W_T, net.W).sum()
    tX, ty = torch.autograd.grad(loss, (Xr, yr))
    return max(_relative(gX, tX), _relative(gy, ty))


def trajectory_equivalence(a: Restarts, b: Restarts, net: TwoLayerNet, real: Data, learner: TwoStageLearner,
                           mse_gm: float, mse_tm: float, *, G_D: torch.Tensor | None = None) -> dict[str, float]:
    """How T = 1 trajectory matching compares with cosine gradient matching started from the same
    initial points (the stage-1 restarts ``a`` of "gm-cos" and ``b`` of "tm", one seed): the gap
    between their gradients at the starting points and at gradient matching's end points
    (``matching_gradient_gap``); the share of restarts whose stage-1 points end within
    ``POINTS_AGREE`` of each other (relative difference) and the largest difference over restarts;
    whether both kept the same restart (their losses differ by n_dead / 2L, which may rank restarts
    differently), the kept sets' difference, the largest deviation of the restart-loss gaps (x 2L)
    from a whole number of dead neurons, and the two test MSEs.  ``G_D``: the real stage-1
    gradient, if already computed."""
    G_D = stage1_gradient(net.W, net.a, net.b, *real) if G_D is None else G_D
    W_T = expert_trajectory(net, *real, learner)[-1]  # one expert run serves both comparisons
    per_restart = [max(_relative(a.X[k], b.X[k]), _relative(a.y[k], b.y[k])) for k in range(a.count)]
    same = torch.tensor([v <= POINTS_AGREE for v in per_restart])
    dead = ((a.loss - b.loss) * 2 * net.width)[same]  # whole numbers where both ended at the same points
    return {"gradient_difference": max(matching_gradient_gap(net, real, learner, a.X0, a.y0, G_D=G_D, W_T=W_T),
                                       matching_gradient_gap(net, real, learner, a.X, a.y, G_D=G_D, W_T=W_T)),
            "restarts_agreeing": sum(v <= POINTS_AGREE for v in per_restart) / len(per_restart),
            "relative_point_difference": max(per_restart), "same_restart": a.best_index == b.best_index,
            "kept_point_difference": per_restart[a.best_index] if a.best_index == b.best_index else float("nan"),
            "dead_neuron_gap_residual": float((dead - dead.round()).abs().max()) if len(dead) else float("nan"),
            "test_mse_gm": mse_gm, "test_mse_tm": mse_tm, "test_mse_difference": abs(mse_gm - mse_tm),
            "matching_loss_gm": a.best_loss, "matching_loss_tm": b.best_loss}


run = run_algorithms


def summarise(tables: AlgorithmTables, m1: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per method at stage-1 size ``m1``: mean, min and max over repetitions of test MSE,
    alignment, wall time and the stage-1 gradient cosine."""
    table = tables.table
    out: dict[str, dict[str, dict[str, float]]] = {}
    for method, g in table[table.m1 == m1].groupby("method", sort=False):
        out[method] = {col: {"mean": float(g[col].mean()), "min": float(g[col].min()), "max": float(g[col].max())}
                       for col in ("test_mse", "alignment", "wall_time_s", "stage1_gradient_cosine")
                       if g[col].notna().any()}
    return out


# ----------------------------------------------------------------------------------------------
# Claims: each check's quantity per repetition (``measures``), the regimes, the declared claims (``plan``)
# ----------------------------------------------------------------------------------------------

_FROB = "test MSE, GM Frobenius / GM cos"
_NORM = "synthetic / real stage-1 gradient norm, GM Frobenius"
_TOST = ("the field's 80-125% equivalence margin (TOST at 95%): comparable means a ratio inside [0.8, 1.25]")
_R2 = 0.9  # the field's "explains 90% of the variance"
CHECKS: dict[str, CheckSpec] = {
    "tm_equal": CheckSpec("gradient of the TM T=1 loss vs the GM cos loss, same points: max relative difference",
                          "<=", 1e-8, "1e-8, about the square root of float64's machine epsilon (2.2e-16): the usual "
                          "tolerance at which two float64 computations of one quantity count as equal; a real "
                          "difference would be of order 1", origin="convention"),
    "kip": CheckSpec("test MSE, random real stage 2 / KIP stage 2 (same S1)", ">=", 1.0,
                     "superiority over a baseline at equal memory: the whole 95% interval of the error ratio "
                     "baseline / method above 1 (a tie); the paper names no factor",
                     geometric=True, origin="convention"),
    "meta_loss": CheckSpec("real-data loss of A(S), after / before the meta-gradient fine-tune", "<=", 1.0,
                           "superiority over its own start: the whole 95% interval of the loss ratio below 1 (a tie); "
                           "the paper names no factor", geometric=True, origin="convention"),
    "meta_test": CheckSpec("test MSE, meta-gradient / GM cos + KIP", "<=", 1.25,
                           "non-inferiority to the set it starts from: the upper bound 1.25 of the field's 80-125% "
                           "equivalence margin", geometric=True, origin="convention"),
    "frob_lo": CheckSpec(_FROB, ">=", 0.8, _TOST, geometric=True, origin="convention"),
    "frob_hi": CheckSpec(_FROB, "<=", 1.25, _TOST, geometric=True, origin="convention"),
    "norm_cos": CheckSpec("synthetic / real stage-1 gradient norm, GM cos", ">=", 1.25,
                          "not pinned: the ratio above the upper bound 1.25 of the field's 80-125% equivalence margin "
                          "(the complement of comparable, on the side cosine matching is free to reach)",
                          geometric=True, origin="convention"),
    "norm_frob_lo": CheckSpec(_NORM, ">=", 0.8, _TOST, geometric=True, origin="convention"),
    "norm_frob_hi": CheckSpec(_NORM, "<=", 1.25, _TOST, geometric=True, origin="convention"),
    "baselines": CheckSpec("test MSE, best real-point baseline / GM cos + KIP", ">=", 1.0,
                           "superiority over every baseline of real points at equal memory: the whole 95% interval "
                           "of the error ratio baseline / method above 1 (a tie); the paper names no factor",
                           geometric=True, origin="convention"),
    "synthetic": CheckSpec("test MSE, GM cos + KIP / best synthetic baseline", "<=", 1.25,
                           "non-inferiority to the best synthetic baseline of each repetition: the upper bound 1.25 "
                           "of the field's 80-125% equivalence margin", geometric=True, origin="convention"),
    "tm_w": CheckSpec("1 - per-neuron cosine of W_T, TM T>1 vs full data (same learner)", "<=",
                      round(1 - _R2 ** 0.5, 4),
                      "the field's R^2 >= 0.9 (explains 90% of the variance) applied to each neuron's row: cos^2 >= "
                      "0.9, i.e. 1 - cos <= 1 - sqrt(0.9) = 0.0513", origin="convention"),
    "tm_test": CheckSpec("test MSE, TM T>1 + KIP / full data (same learner)", ">=", 1.0,
                         "1: a tie with the full-data learner, the neutral value of an error ratio", geometric=True,
                         origin="convention"),
}

# This page's label-shuffled controls: one distiller of the run (and only it) sees the real labels
# permuted by one fixed seeded permutation, so its target carries no information about the task
# while every other method, the baselines and the full-data learner run as usual.
_SHUFFLE_SEED = 104_729  # the permutation's seed (any fixed number)


def _permuted(y: torch.Tensor) -> torch.Tensor:
    return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(_SHUFFLE_SEED)).to(y.device)]


@contextlib.contextmanager
def _patched(owner: Any, name: str, wrap: Callable[[Any], Any]) -> Iterator[None]:
    real = getattr(owner, name)
    setattr(owner, name, wrap(real))
    try:
        yield
    finally:
        setattr(owner, name, real)


_PERMUTED: "weakref.WeakKeyDictionary[RealData, RealData]" = weakref.WeakKeyDictionary()


def _permuted_real(real: RealData) -> RealData:
    """``real`` with its labels permuted (``_permuted``), made once per ``real``."""
    if real not in _PERMUTED:
        _PERMUTED[real] = RealData(real.net, real.data.X, _permuted(real.data.y))
    return _PERMUTED[real]


@contextlib.contextmanager
def _on_permuted_labels(stage: int, name: str) -> Iterator[None]:
    """For the length of a control run, the registered stage method ``name`` -- in every arm that
    uses it, and only it -- runs on the real labels permuted: a user method "<name> (permuted
    labels)" is registered and substituted for it (``arms.SUBSTITUTES``), then both are undone."""
    registry, register = (STAGE1, register_stage1) if stage == 1 else (STAGE2, register_stage2)
    method, sabotaged = registry.lookup(name), f"{name} (permuted labels)"
    if stage == 1:
        def fn(real: RealData, m: int, config: Config, seed: int) -> Any:
            return method.fn(_permuted_real(real), m, config, seed)
    else:
        def fn(real: RealData, W1: torch.Tensor, m: int, config: Config, seed: int) -> Any:  # type: ignore[misc]
            return method.fn(_permuted_real(real), W1, m, config, seed)
    register(sabotaged, fn, what=f"{name} on the real labels permuted (a negative control)", family=method.family,
             fixed_size=method.fixed_size, replace=True)
    SUBSTITUTES[(stage, name)] = sabotaged
    try:
        yield
    finally:
        SUBSTITUTES.pop((stage, name), None)
        registry.unregister(sabotaged)


def _kip_shuffled() -> ContextManager[None]:
    """KIP's stage 2 (in every arm that uses it) fits the ridge to the permuted labels; every stage 1
    and every other stage 2 are untouched."""
    return _on_permuted_labels(2, "kip")


def _frobenius_shuffled() -> ContextManager[None]:
    """Frobenius gradient matching (the stage 1 of GM Frobenius + KIP) runs on the permuted labels;
    cosine matching and every other method do not."""
    return _on_permuted_labels(1, "gm-frobenius")


def _meta_shuffled() -> ContextManager[None]:
    """The meta-gradient fine-tune optimises the real-data loss on the permuted labels (its start,
    the GM cos + KIP set, is untouched)."""
    return _patched(sys.modules[__name__], "meta_refine",
                    lambda real: lambda ds, net, X, y, *a, **k: real(ds, net, X, _permuted(y), *a, **k))


# The negative controls (``ddlib.book.controls``): under each, the claims naming it must not hold.
CONTROLS: dict[str, Control] = {
    "no distillation steps": Control(
        "no distillation steps: every optimiser step does nothing, so every distilled set (and the moment-matching "
        "baselines') is the random real points it starts from", sabotage="no distillation steps"),
    "KIP on shuffled labels": Control(
        "KIP on shuffled labels: KIP's stage 2 fits the ridge to the real labels permuted by a fixed seeded "
        "permutation (the same S1; the random real stage 2 keeps its true labels)", sabotage=_kip_shuffled),
    "Frobenius matching on shuffled labels": Control(
        "Frobenius matching on shuffled labels: the stage 1 of GM Frobenius + KIP matches the gradient of the real "
        "labels permuted by a fixed seeded permutation, cosine matching that of the true ones",
        sabotage=_frobenius_shuffled),
    "meta-gradient on shuffled labels": Control(
        "meta-gradient on shuffled labels: the fine-tune optimises the real-data loss on labels permuted by a fixed "
        "seeded permutation, from the same GM cos + KIP set", sabotage=_meta_shuffled),
}


def _paired(table: pd.DataFrame, values: str, m1: int, methods: Mapping[str, Any]) -> pd.DataFrame:
    """Per repetition (rows) and method (columns: every method of ``methods``, NaN where absent),
    ``values`` at stage-1 size m1."""
    paired = table[table.m1 == m1].pivot_table(index="repetition", columns="method", values=values, dropna=False)
    return paired.reindex(columns=list(dict.fromkeys([*methods, *paired.columns])))


def _best(mse: pd.DataFrame, names: tuple[str, ...]) -> pd.Series:
    """Per repetition, the lowest test MSE among ``names`` (NaN where one of them is NaN or did not run:
    an undefined baseline makes the check inconclusive, it is never skipped)."""
    return mse.reindex(columns=list(names)).min(axis=1, skipna=False)


def measures(tables: AlgorithmTables, P: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per repetition, the quantity behind each check of ``CHECKS``; the baseline checks read every
    arm of ``arms_of(P)`` (extra arms included) of their family."""
    table, m1, T = tables.table, P["m1"], P["tm_steps"]
    arms = arms_of(P)
    methods = compared(arms)
    mse, norm = _paired(table, "test_mse", m1, methods), _paired(table, "stage1_gradient_norm_ratio", m1, methods)
    meta = table[(table.method == META) & (table.m1 == m1)].set_index("repetition")
    gm = mse[_GM]
    frob = (mse[_GM_FROB] / gm).tolist()
    frob_norm = norm[_GM_FROB].tolist()
    out = {"tm_equal": tables.equivalence.gradient_difference.tolist(),
           "kip": (mse[_REAL_S2] / gm).tolist(),
           "meta_loss": (meta.meta_final_real_loss / meta.meta_initial_real_loss).tolist(),
           "meta_test": (mse[META] / gm).tolist(), "frob_lo": frob, "frob_hi": frob,
           "norm_cos": norm[_GM].tolist(), "norm_frob_lo": frob_norm, "norm_frob_hi": frob_norm,
           "baselines": (_best(mse, labels(arms, "real points")) / gm).tolist(),
           "synthetic": (gm / _best(mse, labels(arms, "synthetic"))).tolist(),
           "tm_w": [], "tm_test": []}
    if T > 1:
        t_rows = table[table.learner_steps == T]
        tm = t_rows[t_rows.method == f"TM T={T} + KIP"].set_index("repetition")
        full = t_rows[t_rows.method == f"full data (T={T})"].set_index("repetition")
        out["tm_w"], out["tm_test"] = (1 - tm.w_cosine_to_full).tolist(), (tm.test_mse / full.test_mse).tolist()
    return out


def regimes(tables: AlgorithmTables, P: Mapping[str, Any]) -> dict[str, tuple[Precondition, ...]]:
    """The preconditions of each kind of claim: ``positive`` (a link of information exponent 2, a
    full-data learner that learns, m1 >= r) and ``t_step`` (positive, and a learner of T > 1
    steps); the T = 1 identity (C4.1, a consistency check) needs none, since it holds for any data."""
    table = tables.table
    full = float(table[table.method == "full data"].test_mse.mean())
    positive = (learnable_link(P["link"]), full_data_learns(full, f"at n = {P['n_train']}"),
                enough_stage1_points(P["m1"], P["r"]))
    steps = Precondition("a learner of T > 1 stage-1 steps", P["tm_steps"] > 1, f"tm_steps = {P['tm_steps']}")
    return {"positive": positive, "t_step": positive + (steps,)}


def plan(P: Mapping[str, Any]) -> list[ClaimDecl]:
    """The claims of notebook 04 at these parameters, declared (``ddlib.book.claims.claims_of``
    decides them); C4.1 and C4.8 are consistency checks (reported, not counted)."""
    c = {k: v.threshold for k, v in CHECKS.items()}
    T, arms = P["tm_steps"], arms_of(P)
    return [
        ClaimDecl("C4.1", "Trajectory matching with T = 1 is cosine gradient matching: at the same synthetic points "
                          "the two losses have the same gradient, to float rounding (relative difference <= "
                          f"{c['tm_equal']:g}), so Adam takes the same steps from the same start.",
                  ("tm_equal",),
                  consistency="an identity of the algebra (L_TM = L_cos - n_dead / 2L, with n_dead piecewise "
                              "constant), true for any data, labels and points: no control can make it fail"),
        ClaimDecl("C4.2", f"KIP's stage 2 beats {P['m2']} random real points for stage 2 (the same S1, the same "
                          "memory) in test error.",
                  ("kip",), "positive", control="KIP on shuffled labels"),
        ClaimDecl("C4.3", "The meta-gradient fine-tune lowers the real-data loss it optimises below its start, and "
                          f"does not raise the test error (non-inferiority, margin {c['meta_test']:g}x).",
                  ("meta_loss", "meta_test"), "positive", control="meta-gradient on shuffled labels"),
        ClaimDecl("C4.4", f"At m1 = {P['m1']}, Frobenius gradient matching trains the learner to a test error "
                          f"comparable to cosine matching's (ratio within {c['frob_lo']:g}-{c['frob_hi']:g}).",
                  ("frob_lo", "frob_hi"), "positive", control="Frobenius matching on shuffled labels"),
        ClaimDecl("C4.5", "Cosine matching leaves the synthetic gradient's magnitude free (its norm above "
                          f"{c['norm_cos']:g}x the real one's, outside the equivalence margin), Frobenius matching "
                          f"pins it ({c['norm_frob_lo']:g}-{c['norm_frob_hi']:g}x).",
                  ("norm_cos", "norm_frob_lo", "norm_frob_hi"), "positive", control="no distillation steps"),
        ClaimDecl("C4.6", f"GM cos + KIP beats every selection of {P['m1'] + P['m2']} real points (the same memory: "
                          f"{', '.join(labels(arms, 'real points'))}) in test error; the synthetic baselines "
                          f"({', '.join(labels(arms, 'synthetic'))}) come closer, and GM cos + KIP is not claimed to "
                          "beat them, only to be not worse than the best one (non-inferiority, margin "
                          f"{c['synthetic']:g}x).",
                  ("baselines", "synthetic"), "positive", control="no distillation steps"),
        ClaimDecl("C4.7", f"With a T = {T} stage 1, trajectory matching reproduces the full data's W_T (1 - "
                          f"per-neuron cosine <= {c['tm_w']:g}).",
                  ("tm_w",), "t_step", control="no distillation steps"),
        ClaimDecl("C4.8", f"With a T = {T} stage 1, trajectory matching's test error stays no lower than the "
                          "full-data learner's.",
                  ("tm_test",), "t_step",
                  consistency="trajectory matching imitates the full-data learner's own trajectory, so at best it "
                              "reproduces the full data's error: no control makes its set test better than the "
                              "data it imitates"),
    ]
