"""Stage 2 with fixed points and optimal labels, in closed form.

With W1 and the stage-2 inputs X2 (m points) fixed, the ridge fitted on (X2, y2) is linear in the
labels: ``a = B y2``, with ``B = Phi^T (Phi Phi^T / m + lam I)^-1 / m`` (dual) or
``(Phi^T Phi / m + lam I)^-1 Phi^T / m`` (primal; the same matrix by the push-through identity),
``Phi = relu(X2 W1^T + b2)`` and ``lam = ridge mean(Phi^2)``, which does not depend on y2.  The
real-data loss of that ridge is therefore a quadratic in y2 (``ddlib.learners.stage2_statistics``)::

    L(y2) = y2^T (B^T K B) y2 - 2 y2^T B^T mu + ||y||^2/n,
    K = Phi_D^T Phi_D / n,  mu = Phi_D^T y / n,

the least-squares problem ``min ||Phi_D B y2 - y_D||^2 / n``.  Its minimisers solve the normal
equations ``(B^T K B) y2 = B^T mu``; ``optimal_labels`` returns the minimum-norm one (eigenvalues
of the m x m PSD matrix ``B^T K B`` below ``rcond`` times the largest are treated as zero).  The
KIP loss at those labels is the lowest any labels reach on these inputs: what "label learning"
alone can do, with no point moved.  (``tests/test_label_solve.py`` checks it against gradient
descent on the same loss.)
"""
from __future__ import annotations

from typing import Optional

import torch

from ..learners import Stage2Statistics, singular_ridge_is_an_error
from ..networks import TwoLayerNet
from ..validation import check_float, require_finite
from ._checks import check_stage, detached_net
from .performance_matching import check_statistics, kip_loss
from .restarts import Restarts

__all__ = ["label_map", "optimal_labels", "solve_labels"]

STAGE = "stage 2 (label solve)"


def label_map(net: TwoLayerNet, W1: torch.Tensor, X: torch.Tensor, ridge: float) -> torch.Tensor:
    """B with ``a = B y`` for the learner's ridge on the features of X (..., m, d): (..., width, m).

    A building block (checks nothing): the same penalty as ``ridge_fit``, ``ridge * mean(Phi^2)``
    clamped at ``ridge * 1e-12``.
    """
    Phi = net.stage2_features(X, W1)
    m, L = Phi.shape[-2], Phi.shape[-1]
    lam = (ridge * (Phi * Phi).mean(dim=(-2, -1)).clamp_min(1e-12))[..., None, None]
    Pt = Phi.transpose(-2, -1)
    if m >= L:
        A = Pt @ Phi / m + lam * torch.eye(L, dtype=Phi.dtype, device=Phi.device)
        return torch.linalg.solve(A, Pt) / m
    K = Phi @ Pt / m + lam * torch.eye(m, dtype=Phi.dtype, device=Phi.device)
    return Pt @ torch.linalg.solve(K, torch.eye(m, dtype=Phi.dtype, device=Phi.device).expand_as(K)) / m


def _min_norm_solve(Q: torch.Tensor, c: torch.Tensor, rcond: float) -> torch.Tensor:
    """The minimum-norm least-squares solution of ``Q y = c`` for symmetric PSD Q (batched).

    Q and c are divided by Q's largest |entry| first (the solution does not change), so the
    eigensolver never meets values near the dtype's range; Q = 0 gives y = 0."""
    tiny = torch.finfo(Q.dtype).tiny
    scale = Q.abs().amax(dim=(-2, -1))
    Q = Q / scale.clamp_min(tiny)[..., None, None]
    c = c / scale.clamp_min(tiny)[..., None]
    s, V = torch.linalg.eigh(Q)
    keep = s > rcond * s.amax(-1, keepdim=True).clamp_min(tiny)
    inv = torch.where(keep, 1.0 / s.clamp_min(tiny), torch.zeros_like(s))
    return (V @ (inv * (V.transpose(-2, -1) @ c[..., None])[..., 0])[..., None])[..., 0]


def optimal_labels(net: TwoLayerNet, W1: torch.Tensor, stats: Stage2Statistics, X: torch.Tensor, ridge: float,
                   *, rcond: Optional[float] = None) -> torch.Tensor:
    """The labels y2 that minimise the real-data loss of the ridge fitted on (X, y2), in closed form.

    Args:
        net: theta0 (its stage-2 biases make the features).
        W1: the first layer the stage-1 set trains.
        stats: the real data's sufficient statistics for W1 (``stage2_statistics``).
        X: the stage-2 inputs, (m, d) or K restarts (K, m, d).
        ridge: the learner's lambda2.
        rcond: relative eigenvalue cutoff of ``B^T K B`` (default m x the dtype's eps).

    Returns:
        The minimum-norm optimal labels, of shape (m,) or (K, m).
    """
    net = detached_net(net)
    W1 = net.check_first_layer("W1", W1)
    stats = check_statistics(stats, net)
    ridge = check_float("ridge", ridge, strictly_positive=True)
    X = net.check_input("X", X)
    if X.ndim not in (2, 3) or X.shape[-1] != net.d or X.shape[-2] < 1:
        raise ValueError(f"X must be (m, d={net.d}) or (K, m, d={net.d}) with m >= 1, got {tuple(X.shape)}")
    m = X.shape[-2]
    rcond = m * torch.finfo(X.dtype).eps if rcond is None else check_float("rcond", rcond, min_value=0.0,
                                                                           max_value=1.0)
    with singular_ridge_is_an_error("optimal_labels", ridge):
        B = label_map(net, W1, X, ridge)
    Bt = B.transpose(-2, -1)
    Q, c = Bt @ stats.gram @ B, (Bt @ stats.moment[:, None])[..., 0]
    require_finite(lambda: f"optimal_labels: the normal equations overflow {X.dtype} (ridge={ridge!r}): the features' "
                           f"scale is too large for it, or the ridge too small", Q, c)
    y = _min_norm_solve(Q, c, rcond)
    require_finite(f"optimal_labels: the labels are not finite (ridge={ridge!r}): the features' scale overflows "
                   f"{X.dtype}, or the ridge is too small for them", y)
    return y


def solve_labels(net: TwoLayerNet, W1: torch.Tensor, stats: Stage2Statistics, restarts: Restarts, *,
                 ridge: float) -> Restarts:
    """The stage: every restart keeps its points and takes the optimal labels; its loss is the KIP loss
    there (``steps`` and ``lr`` do not apply: there is nothing to iterate)."""
    net, restarts, _, _ = check_stage(net, restarts, steps=0, lr=1.0)
    y = optimal_labels(net, W1, stats, restarts.X, ridge)
    with torch.no_grad(), singular_ridge_is_an_error(STAGE, ridge):
        loss = kip_loss(net, net.check_first_layer("W1", W1), check_statistics(stats, net), restarts.X, y, ridge)
    require_finite(f"{STAGE}: the KIP loss at the optimal labels is not finite (ridge={ridge!r})", loss)
    return restarts.moved(restarts.X, y, loss)
