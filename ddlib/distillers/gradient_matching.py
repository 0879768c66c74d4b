"""Stage-1 gradient matching (Zhao et al. 2021): synthetic points whose stage-1 gradient at
theta0 points the same way, neuron by neuron, as the real-data gradient G_D.

The learner's stage-1 gradient on m points is explicit,
``G_S,j = (a_j / m) sum_i r_i relu'(w_j . x_i + b_j) x_i`` with residuals ``r_i = f(x_i) - y_i``,
and ReLU is piecewise linear, so the gradient of a matching loss with respect to the points and
labels is written out here (``matching_value_and_grad``) instead of being left to autograd's
double backward: with ``Gamma = dloss/dG_S`` and ``C = Gamma * (a / m)``,

    dloss/dx_i = sum_j mask_ij r_i C_j + s_i grad f(x_i),   dloss/dy_i = -s_i,
    s_i = sum_j mask_ij (C_j . x_i),   grad f(x_i) = sum_j a_j mask_ij w_j.

(``tests/test_gradient_matching.py`` checks it against autograd.)
"""
from __future__ import annotations

from typing import Callable

import torch

from ..learners import stage1_parts
from ..networks import TwoLayerNet
from ..optim import minimise
from ..validation import check_choice
from ._checks import check_stage, finished
from .restarts import Restarts

__all__ = ["cosine_matching_loss", "frobenius_matching_loss", "MATCHING_LOSSES", "matching_value_and_grad",
           "match_gradients"]


def _sq_norm(G: torch.Tensor) -> torch.Tensor:
    return (G * G).sum(-1)


def _safe_norm(G: torch.Tensor) -> torch.Tensor:
    # sqrt of a clamped square: finite value and zero gradient for an all-zero row.
    return _sq_norm(G).clamp_min(torch.finfo(G.dtype).tiny).sqrt()


def cosine_matching_loss(G_S: torch.Tensor, G_D: torch.Tensor) -> torch.Tensor:
    """Mean over neurons of 1 - cos(G_S,j, G_D,j); the cosine of a zero row counts as 0.

    Batched over leading dimensions of ``G_S`` (one loss per restart).
    """
    cos = (G_S * G_D).sum(-1) / (_safe_norm(G_S) * _safe_norm(G_D))
    return (1.0 - cos).mean(-1)


def frobenius_matching_loss(G_S: torch.Tensor, G_D: torch.Tensor) -> torch.Tensor:
    """``|G_S - G_D|_F / |G_D|_F``, batched over leading dimensions of ``G_S``."""
    return torch.linalg.vector_norm(G_S - G_D, dim=(-2, -1)) / G_D.norm()


def _cosine_loss_grad(G_S: torch.Tensor, G_D: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``cosine_matching_loss`` and its gradient with respect to G_S."""
    tiny = torch.finfo(G_S.dtype).tiny
    sq_S = _sq_norm(G_S)
    n_S, n_D = sq_S.clamp_min(tiny).sqrt(), _safe_norm(G_D)
    cos = (G_S * G_D).sum(-1) / (n_S * n_D)
    loss = (1.0 - cos).mean(-1)
    # d cos_j / d G_S,j = G_D,j / (|G_S,j| |G_D,j|) - cos_j G_S,j / |G_S,j|^2; a clamped (zero)
    # row has no second term (the clamp's derivative is 0).
    inner = torch.where(sq_S > tiny, cos / (n_S * n_S), torch.zeros_like(cos))
    grad = -(G_D / (n_S * n_D)[..., None] - inner[..., None] * G_S) / G_S.shape[-2]
    return loss, grad


def _frobenius_loss_grad(G_S: torch.Tensor, G_D: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``frobenius_matching_loss`` and its gradient with respect to G_S (0 where G_S = G_D)."""
    diff = G_S - G_D
    dist = torch.linalg.vector_norm(diff, dim=(-2, -1))
    norm_D = G_D.norm()
    scale = torch.where(dist > 0, 1.0 / (dist * norm_D), torch.zeros_like(dist))
    return dist / norm_D, diff * scale[..., None, None]


STAGE = "stage 1 (gradient matching)"
MATCHING_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cos": cosine_matching_loss, "frobenius": frobenius_matching_loss}
_LOSS_GRADS = {"cos": _cosine_loss_grad, "frobenius": _frobenius_loss_grad}


def matching_value_and_grad(net: TwoLayerNet, G_D: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                            loss: str = "cos") -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """The stage-1 matching loss of K synthetic sets and its gradient, in closed form.

    A building block of ``match_gradients``'s inner loop: it checks nothing (its caller does).

    Args:
        net: theta0.
        G_D: the real data's stage-1 gradient at theta0 (width x d).
        X, y: K synthetic sets, (K, m, d) and (K, m) (or one set, (m, d) and (m,)).
        loss: a key of ``MATCHING_LOSSES``.

    Returns:
        The loss of each set (K,) and its gradients with respect to X and y.
    """
    W, a = net.W, net.a
    mask, resid, masked = stage1_parts(W, a, net.b, X, y)   # (K, m, L), (K, m): r_i = f(x_i) - y_i
    scale = a[:, None] / X.shape[-2]                         # a_j / m
    G_S = (masked.transpose(-2, -1) @ X) * scale       # the learner's stage-1 gradient
    value, grad_G = _LOSS_GRADS[loss](G_S, G_D)
    C = grad_G * scale
    XC = X @ C.transpose(-2, -1)                       # (K, m, L): C_j . x_i
    s = (mask * XC).sum(-1)
    grad_X = masked @ C + s[..., None] * ((mask * a) @ W)
    return value, (grad_X, -s)


def match_gradients(net: TwoLayerNet, G_D: torch.Tensor, restarts: Restarts, *, steps: int, lr: float,
                    loss: str = "cos", progress: bool = False) -> Restarts:
    """Adam on K restarts of m1 synthetic points so that their stage-1 gradient at theta0 matches G_D.

    Args:
        net: theta0.
        G_D: the real data's stage-1 gradient at theta0.
        restarts: the starting points (``InitialDraw.stage1``).
        steps, lr: Adam steps and learning rate.
        loss: "cos" (mean per-neuron 1 - cosine) or "frobenius" (relative distance).
        progress: show a tqdm bar.

    Returns:
        The restarts at their optimised points, with each one's final matching loss.

    Raises:
        ValueError: G_D is all zeros (nothing to match: all real labels 0), or the optimised
            points are not finite (the step size is too large, or the data's scale overflows).
    """
    net, restarts, steps, lr = check_stage(net, restarts, steps=steps, lr=lr)
    check_choice("loss", loss, MATCHING_LOSSES)
    G_D = net.check_first_layer("G_D", G_D)
    if not bool(G_D.any()):
        raise ValueError("G_D is all zeros: the real data's stage-1 gradient at theta0 has no direction to match "
                         "(degenerate labels: are all real labels 0?)")

    def value_and_grad(X: torch.Tensor, y: torch.Tensor):
        return matching_value_and_grad(net, G_D, X, y, loss)

    (X, y), _ = minimise(value_and_grad, (restarts.X, restarts.y), steps=steps, lr=lr,
                         desc=STAGE, progress=progress)
    final, _ = value_and_grad(X, y)
    return finished(STAGE, restarts, X, y, final, steps=steps, lr=lr)
