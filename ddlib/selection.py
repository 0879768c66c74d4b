"""Label-aware selection of *real* points (GradMatch / CRAIG style): it separates what
distillation gains by *synthesising* points from what it gains by *choosing* them well.

Stage 1: the learner's stage-1 gradient on a subset S of the real data is the mean over S of
per-point gradients, ``G_S,j = (a_j / |S|) sum_{i in S} r_i relu'(w_j . x_i + b_j) x_i``.  The
greedy selection adds, at each step, the candidate that most lowers the per-neuron cosine loss
of ``G_S`` against the real gradient G_D (``ddlib.distillers.cosine_matching_loss``, what gradient
matching minimises).  Stage 2: with the W1 that the selected S1 trains, it adds the candidate that
most lowers the KIP loss (``ddlib.distillers.kip_loss``: the real-data loss of the ridge fitted on
S2).  Each step scores a seeded random pool of ``pool`` not-yet-chosen points, so its cost stays
bounded in n (``pool >= n`` is the exhaustive greedy).  Greedy selection of unweighted points
does not guarantee that every added point lowers the loss; ``Selection.losses`` records it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from .data import Data
from .distillers.distilled_set import DistilledSet
from .distillers.performance_matching import check_statistics, kip_loss
from .learners import (Stage2Statistics, TwoStageLearner, check_learner, ridge_loss_from_statistics,
                       singular_ridge_is_an_error, stage1_gradient, stage1_parts, stage2_statistics)
from .networks import TwoLayerNet, check_net
from .seeds import MAX_SEED, check_seed, generator
from .tasks import MultiIndexTask, check_task
from .validation import check_float, check_int, check_labels, peak, require_finite

__all__ = ["Selection", "select_stage1", "select_stage2", "GreedyStage2", "DEFAULT_POOL"]

DEFAULT_POOL = 256  # candidates scored per step


@dataclass(frozen=True)
class Selection:
    """Real points chosen greedily, in the order chosen.

    Attributes:
        indices: their rows in the real data.
        data: the points and their real labels, (m, d) and (m,).
        losses: the matching loss after each added point (cosine loss for stage 1, KIP for stage 2).
    """

    indices: tuple[int, ...]
    data: Data
    losses: tuple[float, ...]


def _pool(taken: torch.Tensor, pool: int, gen: torch.Generator) -> torch.Tensor:
    """Up to ``pool`` indices drawn without replacement among the rows not yet taken."""
    free = (~taken).nonzero().flatten()
    return free[torch.randperm(free.numel(), generator=gen)[:pool].to(free.device)]


def _check_common(net: Any, X: Any, y: Any, m: Any, pool: Any, name: str) -> tuple[TwoLayerNet, torch.Tensor,
                                                                                  torch.Tensor, int, int]:
    """theta0 (detached), the real data in its dtype (at least m points, labels not all 0), m and pool."""
    net = check_net(net).detach()
    m = check_int(name, m, min_value=1)
    X, y = net.check_data("(X, y)", (X, y), min_n=m)
    check_labels("real", y, why="the real stage-1 gradient and the KIP normaliser |y|^2/n are both 0: there is "
                                "nothing to match")
    return net, X, y, m, check_int("pool", pool, min_value=1)


def select_stage1(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, *, seed: int,
                  pool: int = DEFAULT_POOL, G_D: Optional[torch.Tensor] = None) -> Selection:
    """Greedy selection of m1 real points whose stage-1 gradient at theta0 matches G_D in angle.

    Args:
        net: theta0.
        X, y: the real data, (n, d) and (n,), n >= m1.
        m1: points to select.
        seed: seed of the candidate pools.
        pool: candidates scored per step.
        G_D: the real data's stage-1 gradient at theta0, if already computed.

    Returns:
        A ``Selection`` whose ``losses[t]`` is the cosine matching loss of its first t + 1 points.
    """
    net, X, y, m1, pool = _check_common(net, X, y, m1, pool, "m1")
    G_D = stage1_gradient(net.W, net.a, net.b, X, y) if G_D is None else net.check_first_layer("G_D", G_D)
    require_finite(lambda: f"select_stage1: the real data's stage-1 gradient overflows {X.dtype} (max |X| = "
                           f"{peak(X):.3g}, max |y| = {peak(y):.3g})", G_D)
    if not bool(G_D.any()):
        raise ValueError("select_stage1: G_D is all zeros (degenerate labels: are all real labels 0?): there is no "
                         "direction to match")
    gen = generator(seed)
    tiny = torch.finfo(X.dtype).tiny
    norm_D = (G_D * G_D).sum(1).clamp_min(tiny).sqrt()
    S = torch.zeros_like(G_D)  # sum over the chosen points of their per-point gradients
    taken = torch.zeros(X.shape[0], dtype=torch.bool, device=X.device)
    chosen, losses = [], []
    for _ in range(m1):
        cand = _pool(taken, pool, gen)
        Xc = X[cand]
        A = stage1_parts(net.W, net.a, net.b, Xc, y[cand])[2] * net.a    # (p, L): row j gains A_cj x_c
        dot = (S * G_D).sum(1) + A * (Xc @ G_D.T)
        sq = (S * S).sum(1) + 2 * A * (Xc @ S.T) + A * A * (Xc * Xc).sum(1, keepdim=True)
        loss = (1.0 - dot / (sq.clamp_min(tiny).sqrt() * norm_D)).mean(1)
        k = _argmin("select_stage1", loss, X, y)
        S = S + A[k][:, None] * Xc[k]
        chosen.append(int(cand[k]))
        losses.append(float(loss[k]))
        taken[cand[k]] = True
    idx = torch.tensor(chosen, device=X.device)
    return Selection(tuple(chosen), Data(X[idx], y[idx]), tuple(losses))


def _argmin(where: str, loss: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> int:
    """The candidate of lowest loss (the first of ties); non-finite losses never win."""
    finite = torch.isfinite(loss)
    if not bool(finite.any()):
        raise ValueError(f"{where}: no candidate has a finite matching loss: the data's scale (max |X| = "
                         f"{peak(X):.3g}, max |y| = {peak(y):.3g}) overflows {X.dtype}")
    return int(torch.argmin(loss.masked_fill(~finite, float("inf"))))


def select_stage2(net: TwoLayerNet, W1: torch.Tensor, X: torch.Tensor, y: torch.Tensor, m2: int, *, seed: int,
                  pool: int = DEFAULT_POOL, ridge: float = 1e-3,
                  stats: Optional[Stage2Statistics] = None) -> Selection:
    """Greedy selection of m2 real points whose ridge fit (features of W1) has the lowest real-data loss.

    Args:
        net: theta0 (its stage-2 biases make the features).
        W1: the first layer the stage-1 set trains.
        X, y: the real data, n >= m2.
        m2: points to select.
        seed: seed of the candidate pools.
        pool: candidates scored per step (each costs one (t+1) x (t+1) solve and a width^2 product).
        ridge: the learner's lambda2.
        stats: the real data's sufficient statistics for W1, if already computed.

    Returns:
        A ``Selection`` whose ``losses[t]`` is the KIP loss of its first t + 1 points.
    """
    net, X, y, m2, pool = _check_common(net, X, y, m2, pool, "m2")
    return GreedyStage2(net, W1, X, y, seed=seed, pool=pool, ridge=ridge, stats=stats).select(m2)


class GreedyStage2:
    """``select_stage2``'s greedy run, kept so that it can be extended: step t draws its candidate
    pool from the seeded generator and scores each against the t points chosen before, so the
    first m points of a run to m' > m are exactly a run to m.  A search that probes several m2 on
    one W1 (``ddlib.methods`` keeps one of these per W1 and seed) continues the longest run instead
    of starting each probe over: the same points, bit for bit, at the cost of the largest probe."""

    def __init__(self, net: TwoLayerNet, W1: torch.Tensor, X: torch.Tensor, y: torch.Tensor, *, seed: int,
                 pool: int = DEFAULT_POOL, ridge: float = 1e-3, stats: Optional[Stage2Statistics] = None) -> None:
        self.net, self.X, self.y, _, self.pool = _check_common(net, X, y, 1, pool, "m2")
        self.W1 = self.net.check_first_layer("W1", W1)
        self.ridge = check_float("ridge", ridge, strictly_positive=True)
        self.stats = check_statistics(stage2_statistics(self.W1, self.net.stage2_bias, self.X, self.y)
                                      if stats is None else stats, self.net)
        self._gen = generator(seed)
        self._taken = torch.zeros(self.X.shape[0], dtype=torch.bool, device=self.X.device)
        self.chosen: list[int] = []
        self.losses: list[float] = []

    def _losses(self, prev: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """``kip_loss`` of every set (chosen points + one candidate), (p,).  In the dual form (fewer
        points than neurons) the chosen points' Gram block is shared by every candidate, so it is
        computed once per step and bordered with each candidate's row -- the same dual ridge as
        ``ridge_fit`` (penalty ``ridge * mean(Phi^2)`` of each set), without recomputing the
        t x t block for each of the p candidates (p t^2 L flops a step)."""
        X, y, net, W1 = self.X, self.y, self.net, self.W1
        t, p, L = prev.numel(), cand.numel(), W1.shape[0]
        n = t + 1
        if n >= L:  # the primal form: every candidate's own width x width system
            Xb = torch.cat([X[prev].expand(p, -1, -1), X[cand][:, None]], dim=1)  # (p, t + 1, d)
            yb = torch.cat([y[prev].expand(p, -1), y[cand][:, None]], dim=1)
            return kip_loss(net, W1, self.stats, Xb, yb, self.ridge)
        P, C = net.stage2_features(X[prev], W1), net.stage2_features(X[cand], W1)  # (t, L), (p, L)
        cross, own = P @ C.T, (C * C).sum(1)                                         # (t, p), (p,)
        mean_sq = ((P * P).sum() + own) / (n * L)
        lam = self.ridge * mean_sq.clamp_min(1e-12)
        # K / n + lam I, built scaled: each block divided once before it is broadcast to the p
        # candidates, and lam added on the diagonals only (the same bits as dividing and adding a
        # scaled identity over the whole (p, n, n) batch, at a fraction of the passes)
        K = torch.empty(p, n, n, dtype=P.dtype, device=P.device)
        K[:, :t, :t] = (P @ P.T) / n
        K[:, :t, t] = cross.T / n
        K[:, t, :t] = cross.T / n
        K[:, t, t] = own / n
        K.diagonal(dim1=1, dim2=2).add_(lam[:, None])
        rhs = torch.cat([y[prev].expand(p, -1), y[cand][:, None]], dim=1) / n       # (p, n)
        alpha = torch.linalg.solve(K, rhs[..., None])[..., 0]
        a = alpha[:, :t] @ P + alpha[:, t:] * C                                      # (p, L): Phi^T alpha
        return ridge_loss_from_statistics(a, self.stats) / self.stats.y2

    def select(self, m2: int) -> Selection:
        """The first ``m2`` points of the run (extending it as far as needed)."""
        X, y = self.X, self.y
        m2 = check_int("m2", m2, min_value=1, max_value=X.shape[0])
        with singular_ridge_is_an_error("select_stage2", self.ridge):
            while len(self.chosen) < m2:
                chosen = self.chosen
                cand = _pool(self._taken, self.pool, self._gen)
                prev = torch.tensor(chosen, dtype=torch.long, device=X.device)
                with torch.no_grad():
                    loss = self._losses(prev, cand)
                k = _argmin("select_stage2", loss, X, y)
                chosen.append(int(cand[k]))
                self.losses.append(float(loss[k]))
                self._taken[cand[k]] = True
        idx = torch.tensor(self.chosen[:m2], device=X.device)
        return Selection(tuple(self.chosen[:m2]), Data(X[idx], y[idx]), tuple(self.losses[:m2]))
