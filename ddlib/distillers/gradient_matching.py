"""Stage-1 gradient matching (Zhao et al. 2021): synthetic points whose stage-1 gradient at
theta0 points the same way, neuron by neuron, as the real-data gradient G_D.

Restarts are batched along a leading dimension: Adam is element-wise and the restarts'
losses are summed, so each restart follows exactly the trajectory it would follow alone.
"""
from __future__ import annotations

import torch

from ..learners import stage1_gradient
from ..networks import TwoLayerNet

__all__ = ["cosine_matching_loss", "frobenius_matching_loss", "MATCHING_LOSSES", "match_gradients"]


def _safe_norm(G: torch.Tensor) -> torch.Tensor:
    # sqrt of a clamped square: finite value and zero gradient for an all-zero row.
    return (G * G).sum(-1).clamp_min(torch.finfo(G.dtype).tiny).sqrt()


def cosine_matching_loss(G_S: torch.Tensor, G_D: torch.Tensor) -> torch.Tensor:
    """Mean over neurons of 1 - cos(G_S,j, G_D,j); the cosine of a zero row counts as 0.

    Batched over leading dimensions of ``G_S`` (one loss per restart).
    """
    cos = (G_S * G_D).sum(-1) / (_safe_norm(G_S) * _safe_norm(G_D))
    return (1.0 - cos).mean(-1)


def frobenius_matching_loss(G_S: torch.Tensor, G_D: torch.Tensor) -> torch.Tensor:
    """``|G_S - G_D|_F / |G_D|_F``, batched over leading dimensions of ``G_S``."""
    # vector_norm's backward is 0 (not NaN) at G_S == G_D, where sqrt of a sum of squares is not.
    return torch.linalg.vector_norm(G_S - G_D, dim=(-2, -1)) / G_D.norm()


MATCHING_LOSSES = {"cos": cosine_matching_loss, "frobenius": frobenius_matching_loss}


def match_gradients(net: TwoLayerNet, G_D: torch.Tensor, X0: torch.Tensor, y0: torch.Tensor, *,
                    steps: int, lr: float, loss: str = "cos",
                    progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam on K batched synthetic sets (X0: K x m1 x d, y0: K x m1) to match G_D at theta0.

    Returns the optimised (X, y) of every restart and each restart's final matching loss.
    """
    from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

    loss_fn = MATCHING_LOSSES[loss]
    X = X0.clone().requires_grad_(True)
    y = y0.clone().requires_grad_(True)
    opt = torch.optim.Adam([X, y], lr=lr)
    for _ in tqdm(range(steps), desc="stage 1 (gradient matching)", disable=not progress, leave=False):
        opt.zero_grad(set_to_none=True)
        G_S = stage1_gradient(net.W, net.a, net.b, X, y, chunk_size=None)
        loss_fn(G_S, G_D).sum().backward()
        opt.step()
    with torch.no_grad():
        final = loss_fn(stage1_gradient(net.W, net.a, net.b, X, y, chunk_size=None), G_D)
    return X.detach(), y.detach(), final
