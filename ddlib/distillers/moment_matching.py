"""Stage-1 moment matching: the distribution-matching analogue (Zhao & Bilen 2023) for this task.

Distribution matching makes the synthetic set reproduce statistics of the real data instead of
the learner's gradient.  Here the statistic is the one the learner's first step reads, the
label-weighted second moment (Stein: its expectation is the task's expected Hessian H)::

    M(S) = (1/m) sum_i y_i (x_i x_i^T - I),
    loss = ||M(S) - M(D)||_F^2 / ||M(D)||_F^2,

with M(D) = ``ddlib.moments.empirical_hessian`` of the real data.  It does not involve theta0:
a set matching M(D) is tied to no initialisation.  The gradient is explicit: with
``R = 2 (M(S) - M(D)) / ||M(D)||_F^2`` (symmetric), ``dloss/dx_i = (2/m) y_i R x_i`` and
``dloss/dy_i = (x_i^T R x_i - tr R) / m`` (``tests/test_moment_matching.py`` checks it against
autograd).  ``ddlib.methods.distill_moments`` composes it with stage 2 -- KIP, or fixed real inputs with the
closed-form optimal labels (``label_solve``) -- on the same initial draw as ``distill``.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from .._version import __version__
from ..learners import TwoStageLearner, stage2_statistics
from ..moments import empirical_hessian
from ..networks import TwoLayerNet
from ..optim import minimise
from ..seeds import check_seed
from ..tasks import MultiIndexTask, check_task
from ..validation import check_choice, check_float, check_int, check_labels, check_tensor
from ._checks import check_learner, check_stage, detached_net, finished
from .distilled_set import DistilledSet
from .label_solve import solve_labels
from .performance_matching import match_performance
from .restarts import InitialDraw, Restarts

__all__ = ["moment_matching_loss", "moment_value_and_grad", "match_moments"]

STAGE = "stage 1 (moment matching)"


def _moment(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """M(S) for K sets at once: (..., m, d), (..., m) -> (..., d, d)."""
    m, d = X.shape[-2], X.shape[-1]
    eye = torch.eye(d, dtype=X.dtype, device=X.device)
    return (X * y[..., None]).transpose(-2, -1) @ X / m - y.mean(-1)[..., None, None] * eye


def moment_matching_loss(M_D: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``|M(S) - M(D)|_F^2 / |M(D)|_F^2`` for K synthetic sets (K,) (or one, a scalar); differentiable."""
    diff = _moment(X, y) - M_D
    return (diff * diff).sum((-2, -1)) / (M_D * M_D).sum()


def moment_value_and_grad(M_D: torch.Tensor, X: torch.Tensor,
                          y: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``moment_matching_loss`` and its gradient with respect to X and y, in closed form (a building
    block of ``match_moments``'s inner loop: it checks nothing)."""
    m = X.shape[-2]
    norm = (M_D * M_D).sum()
    diff = _moment(X, y) - M_D
    R = 2.0 * diff / norm                                               # symmetric
    RX = X @ R                                                          # (..., m, d): (R x_i)^T
    grad_X = 2.0 * y[..., None] * RX / m
    trace = torch.diagonal(R, dim1=-2, dim2=-1).sum(-1)
    grad_y = ((RX * X).sum(-1) - trace[..., None]) / m
    return (diff * diff).sum((-2, -1)) / norm, (grad_X, grad_y)


def match_moments(net: TwoLayerNet, M_D: torch.Tensor, restarts: Restarts, *, steps: int, lr: float,
                  progress: bool = False) -> Restarts:
    """Adam on K restarts of m1 synthetic points so that their label-weighted second moment matches M_D.

    Args:
        net: theta0 (only its d, dtype and device: the loss does not involve it).
        M_D: the real data's moment, (d, d) (``ddlib.moments.empirical_hessian``).
        restarts: the starting points (``InitialDraw.stage1``).
        steps, lr: Adam steps and learning rate.
        progress: show a tqdm bar.

    Returns:
        The restarts at their optimised points, with each one's final loss.
    """
    net, restarts, steps, lr = check_stage(net, restarts, steps=steps, lr=lr)
    M_D = check_tensor("M_D", M_D, ndim=2)
    if tuple(M_D.shape) != (net.d, net.d):
        raise ValueError(f"M_D must be (d, d) = ({net.d}, {net.d}), got {tuple(M_D.shape)}")
    M_D = M_D.detach().to(dtype=net.dtype, device=net.device)
    if not bool(M_D.any()):
        raise ValueError("M_D is all zeros: the real data's label-weighted moment has nothing to match "
                         "(degenerate labels: are all real labels 0?)")

    def value_and_grad(X: torch.Tensor, y: torch.Tensor):
        return moment_value_and_grad(M_D, X, y)

    (X, y), _ = minimise(value_and_grad, (restarts.X, restarts.y), steps=steps, lr=lr, desc=STAGE,
                         progress=progress)
    final, _ = value_and_grad(X, y)
    return finished(STAGE, restarts, X, y, final, steps=steps, lr=lr)
