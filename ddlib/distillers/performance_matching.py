"""Stage-2 performance matching (KIP, Nguyen et al. 2021): synthetic points whose closed-form
ridge fit has low loss on the real data.

With W1 fixed, the real-data loss of any second layer a is
``a^T (Phi_D^T Phi_D/n) a - 2 a^T (Phi_D^T y/n) + |y|^2/n``, so every step is exact (no
minibatch noise) and costs nothing that grows with n.  The gradient with respect to the
synthetic points is written out (``kip_value_and_grad``): with ``g = dloss/da``, the dual ridge
``a = Phi^T alpha``, ``alpha = K^-1 y / m``, ``K = Phi Phi^T / m + lam I`` gives, for
``v = K^-1 Phi g``,

    dloss/dPhi = alpha g^T - (v a^T + alpha (Phi^T v)^T) / m - 2 ridge (v . alpha) Phi / (m L),
    dloss/dy = v / m,   dloss/dX = (dloss/dPhi * [Phi > 0]) W1,

and the primal form (m >= L) is the same calculus on ``A = Phi^T Phi / m + lam I``.
(``tests/test_performance_matching.py`` checks both against autograd.)
"""
from __future__ import annotations

import torch

from dataclasses import replace

from ..learners import Stage2Statistics, ridge_fit, ridge_loss_from_statistics, singular_ridge_is_an_error
from ..networks import TwoLayerNet
from ..optim import minimise
from ..validation import check_float
from ._checks import check_stage, finished
from .restarts import Restarts

__all__ = ["kip_loss", "kip_value_and_grad", "match_performance", "check_statistics"]

STAGE = "stage 2 (performance matching)"


def kip_loss(net: TwoLayerNet, W1: torch.Tensor, stats: Stage2Statistics, X: torch.Tensor, y: torch.Tensor,
             ridge: float) -> torch.Tensor:
    """Real-data MSE of the ridge fitted on (X, y), normalised by ``|y_D|^2/n``; batched over restarts.

    Args:
        net: theta0 (its stage-2 biases make the features).
        W1: the first layer the synthetic stage-1 set produces.
        stats: the real data's sufficient statistics for W1 (``stage2_statistics``).
        X, y: K synthetic sets, (K, m, d) and (K, m), or one set.
        ridge: the learner's lambda2.
    """
    a = ridge_fit(net.stage2_features(X, W1), y, ridge).a
    return ridge_loss_from_statistics(a, stats) / stats.y2


def kip_value_and_grad(net: TwoLayerNet, W1: torch.Tensor, stats: Stage2Statistics, X: torch.Tensor,
                       y: torch.Tensor, ridge: float) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``kip_loss`` and its gradient with respect to X and y, in closed form (a building block of
    ``match_performance``'s inner loop: it checks nothing, its caller does)."""
    Phi = net.stage2_features(X, W1)
    fit = ridge_fit(Phi, y, ridge)
    a = fit.a
    aG = a @ stats.gram                                                       # shared by value and gradient
    value = ((aG * a).sum(-1) - 2 * (a @ stats.moment) + stats.y2) / stats.y2  # = ridge_loss_from_statistics
    m, L = Phi.shape[-2], Phi.shape[-1]
    g = 2.0 * (aG - stats.moment) / stats.y2                                  # dloss/da (gram symmetric)
    outer = lambda u, w: u[..., :, None] * w[..., None, :]  # noqa: E731 -- batched u w^T
    matvec = lambda M, u: (M @ u[..., None])[..., 0]        # noqa: E731
    if fit.dual:
        alpha = fit.coef
        v = torch.linalg.solve(fit.system, matvec(Phi, g)[..., None])[..., 0]    # K^-1 Phi g
        grad_Phi = outer(alpha, g) - (outer(v, a) + outer(alpha, matvec(Phi.transpose(-2, -1), v))) / m
        grad_lam = -(v * alpha).sum(-1)
        grad_y = v / m
    else:
        u = torch.linalg.solve(fit.system, g[..., None])[..., 0]                 # A^-1 g
        Pa, Pu = matvec(Phi, a), matvec(Phi, u)
        grad_Phi = (outer(y, u) - outer(Pa, u) - outer(Pu, a)) / m
        grad_lam = -(u * a).sum(-1)
        grad_y = Pu / m
    live = (~fit.clamped[..., 0, 0]).to(Phi.dtype)                             # lam = ridge mean(Phi^2)
    grad_Phi = grad_Phi + (grad_lam * live * 2.0 * ridge / (m * L))[..., None, None] * Phi
    grad_X = (grad_Phi * (Phi > 0).to(Phi.dtype)) @ W1
    return value, (grad_X, grad_y)


def match_performance(net: TwoLayerNet, W1: torch.Tensor, stats: Stage2Statistics, restarts: Restarts, *,
                      steps: int, lr: float, ridge: float, progress: bool = False) -> Restarts:
    """Adam on K restarts of m2 synthetic points for the features of W1 (KIP).

    Args:
        net: theta0 (its stage-2 biases).
        W1: the first layer learned from the stage-1 set.
        stats: the real data's sufficient statistics for W1 and net's stage-2 biases.
        restarts: the starting points (``InitialDraw.stage2``).
        steps, lr: Adam steps and learning rate.
        ridge: the learner's lambda2.
        progress: show a tqdm bar.

    Returns:
        The restarts at their optimised points, with each one's final KIP loss.

    Raises:
        ValueError: the real labels are all 0 (``|y|^2/n = 0`` normalises the loss), the ridge system
            is singular, or the optimised points are not finite (the step size is too large).
    """
    net, restarts, steps, lr = check_stage(net, restarts, steps=steps, lr=lr)
    W1 = net.check_first_layer("W1", W1)
    stats = check_statistics(stats, net)
    ridge = check_float("ridge", ridge, strictly_positive=True)

    def value_and_grad(X: torch.Tensor, y: torch.Tensor):
        return kip_value_and_grad(net, W1, stats, X, y, ridge)

    with singular_ridge_is_an_error(STAGE, ridge):
        (X, y), _ = minimise(value_and_grad, (restarts.X, restarts.y), steps=steps, lr=lr, desc=STAGE,
                             progress=progress)
        with torch.no_grad():
            final = kip_loss(net, W1, stats, X, y, ridge)
    return finished(STAGE, restarts, X, y, final, steps=steps, lr=lr,
                    also=f", or ridge={ridge!r} is too small for these features")


def check_statistics(stats: Stage2Statistics, net: TwoLayerNet) -> Stage2Statistics:
    """The real data's statistics for the network's width, in its dtype and device, with ``|y|^2/n > 0``."""
    if not isinstance(stats, Stage2Statistics):
        raise TypeError(f"stats must be a Stage2Statistics (from stage2_statistics), got {type(stats).__name__}")
    if stats.gram.shape[0] != net.width:
        raise ValueError(f"stats are for {stats.gram.shape[0]} features but the network has width {net.width}")
    if float(stats.y2) == 0:
        raise ValueError("degenerate labels: all real labels are 0 (|y|^2/n = 0), so the KIP loss, normalised "
                         "by it, is undefined")
    to = dict(dtype=net.dtype, device=net.device)
    return replace(stats, gram=stats.gram.to(**to), moment=stats.moment.to(**to), y2=stats.y2.to(**to))
