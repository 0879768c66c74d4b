"""The stage-2 ridge tuned on held-out real data: one budget for every method.

A baseline is only a fair comparison when it gets its best shot.  ``tune_ridge`` gives every
training pair (S1, S2) -- a distilled set, a random subset, a coreset, a selection, the full data --
the same budget: the learner's stage 1 once, then the ridge lambda2 picked from one fixed log
grid (``RIDGE_GRID``) by the normalised MSE on a validation split of the real data
(``validation_split``), which the method itself must not have seen.

Only lambda2 is tuned: it is the learner's one free hyper-parameter.  Stage 1 (T = 1 step with
weight decay 1/lr) is scale free -- the step size drops out after row normalisation -- and T is
part of the learner's definition, not a knob a method is entitled to.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence

import torch

from .data import Data
from .learners import (TwoStageLearner, check_learner, ridge_from_statistics, ridge_solve, stage2_statistics)
from .networks import TwoLayerNet, check_net
from .seeds import generator
from .validation import check_data, check_float, check_int, check_labels, short_repr

__all__ = ["RIDGE_GRID", "MAX_GRID", "RidgeTuning", "validation_split", "tune_ridge", "check_ridge_grid"]

RIDGE_GRID = tuple(10.0 ** k for k in range(-6, 3))  # lambda2 in 1e-6, 1e-5, ..., 1e2 (9 values)
MAX_GRID = 64  # ridge values a grid may hold (each is one solve)
_CHUNK = 8192  # validation rows per prediction chunk


@dataclass(frozen=True)
class RidgeTuning:
    """The ridge chosen on validation data and the network it trains.

    Attributes:
        ridge: the chosen lambda2 (the lowest validation MSE; the first of ties).
        grid: every lambda2 tried, in the order given.
        validation_mse: the normalised validation MSE (MSE / Var y_val) of each, None where the
            ridge system was singular or its solution not finite.
        learner: the learner with the chosen ridge.
        net: theta0 trained on (S1, S2) by that learner.
    """

    ridge: float
    grid: tuple[float, ...]
    validation_mse: tuple[Optional[float], ...]
    learner: TwoStageLearner
    net: TwoLayerNet

    @property
    def best_validation_mse(self) -> float:
        """The validation MSE of the chosen ridge."""
        return self.validation_mse[self.grid.index(self.ridge)]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record of the choice (the network left out)."""
        return {"ridge": self.ridge, "grid": list(self.grid), "validation_mse": list(self.validation_mse)}


def check_ridge_grid(grid: Any) -> tuple[float, ...]:
    """``grid`` as a tuple of 1 to ``MAX_GRID`` strictly positive finite floats."""
    if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence):
        raise TypeError(f"grid must be a sequence of ridge values, got {short_repr(grid)} ({type(grid).__name__})")
    if not 1 <= len(grid) <= MAX_GRID:
        raise ValueError(f"grid must hold 1 to {MAX_GRID} ridge values, got {len(grid)}")
    return tuple(check_float(f"grid[{i}]", v, strictly_positive=True) for i, v in enumerate(grid))


def validation_split(X: torch.Tensor, y: torch.Tensor, n_validation: int, *, seed: int) -> tuple[Data, Data]:
    """A seeded random split of the real data into (train, validation).

    Args:
        X, y: the real data, (n, d) and (n,).
        n_validation: points held out, 2 <= n_validation <= n - 1.
        seed: seed of the permutation.

    Returns:
        ``(train, validation)``: n - n_validation and n_validation points, disjoint.
    """
    X, y = check_data("(X, y)", (X, y), min_n=3)
    n_validation = check_int("n_validation", n_validation, min_value=2, max_value=X.shape[0] - 1)
    order = torch.randperm(X.shape[0], generator=generator(seed)).to(X.device)
    val, train = order[:n_validation], order[n_validation:]
    return Data(X[train], y[train]), Data(X[val], y[val])


def tune_ridge(net: TwoLayerNet, stage1: Data, stage2: Data, validation: Data, *,
               learner: Optional[TwoStageLearner] = None, grid: Sequence[float] = RIDGE_GRID) -> RidgeTuning:
    """Pick lambda2 for the training pair (S1, S2) by the normalised MSE on ``validation``.

    Stage 1 runs once (it does not depend on lambda2); the features of S2 (or, for n2 >= width,
    their sufficient statistics) and of the validation points are computed once; each grid value
    costs one ridge solve.  The returned network is exactly ``learner.stage2`` with the chosen
    ridge on the W1 of S1.

    Args:
        net: theta0.
        stage1, stage2: the training pair, (X, y) each (a baseline passes one subset twice).
        validation: held-out real points (at least 2, labels not all equal).
        learner: the learner whose ridge is tuned (default ``TwoStageLearner()``).
        grid: the lambda2 values tried (default ``RIDGE_GRID``, the same for every method).

    Returns:
        A ``RidgeTuning``.
    """
    net = check_net(net).detach()
    learner = check_learner(TwoStageLearner() if learner is None else learner)
    grid = check_ridge_grid(grid)
    X1, y1 = net.check_data("stage1", stage1)
    X2, y2 = net.check_data("stage2", stage2)
    Xv, yv = net.check_data("validation", validation, min_n=2)
    check_labels("validation", yv, why="the validation MSE, normalised by their variance, is undefined",
                 constant=True)
    W1 = learner.stage1(net, X1, y1)
    solve = _ridge_solver(net, W1, X2, y2)
    scale = float(yv.abs().max())  # MSE / Var y is scale free: computed on y / max|y| (no under- or overflow)
    var = float((yv / scale).var())
    if var == 0:
        raise ValueError(f"degenerate labels: the validation labels' variance is 0 in {yv.dtype} (they are equal "
                         f"to working precision), so the validation MSE, normalised by it, is undefined")
    scores = []
    for ridge in grid:
        a = solve(ridge)
        mse = None if a is None else float((((_predict(net, W1, a, Xv) - yv) / scale) ** 2).mean()) / var
        scores.append(mse if mse is not None and math.isfinite(mse) else None)
    if all(s is None for s in scores):
        raise ValueError(f"tune_ridge: every ridge of the grid {list(grid)} gives a singular or non-finite fit: "
                         f"use larger ridge values")
    best = min((s, i) for i, s in enumerate(scores) if s is not None)[1]
    chosen = replace(learner, ridge=grid[best])
    trained = net.replace(W=W1, a=chosen.stage2(net, W1, X2, y2), b=net.stage2_bias.clone())
    return RidgeTuning(grid[best], grid, tuple(scores), chosen, trained)


def _ridge_solver(net: TwoLayerNet, W1: torch.Tensor, X2: torch.Tensor, y2: torch.Tensor):
    """``ridge -> a`` (None when singular or not finite), with what does not depend on the ridge
    computed once: S2's sufficient statistics when n2 >= width (a width x width solve each), its
    features otherwise (the dual n2 x n2 solve)."""
    if X2.shape[0] >= net.width:
        stats = stage2_statistics(W1, net.stage2_bias, X2, y2)
        fit = lambda ridge: ridge_from_statistics(stats, ridge)  # noqa: E731
    else:
        Phi = net.stage2_features(X2, W1)
        fit = lambda ridge: ridge_solve(Phi, y2, ridge)  # noqa: E731

    def solve(ridge: float) -> Optional[torch.Tensor]:
        try:
            a = fit(ridge)
        except torch.linalg.LinAlgError:
            return None
        return a if bool(torch.isfinite(a).all()) else None

    return solve


def _predict(net: TwoLayerNet, W1: torch.Tensor, a: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``relu(X W1^T + b2) a`` in chunks of rows (no n x width matrix for a large validation set)."""
    return torch.cat([net.stage2_features(X[i:i + _CHUNK], W1) @ a for i in range(0, X.shape[0], _CHUNK)])
