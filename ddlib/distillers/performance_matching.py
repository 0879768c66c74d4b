"""Stage-2 performance matching (KIP, Nguyen et al. 2021): synthetic points whose closed-form
ridge fit has low loss on the real data.

With W1 fixed, the real-data loss of any second layer a is
``a^T (Phi_D^T Phi_D/n) a - 2 a^T (Phi_D^T y/n) + |y|^2/n``, so every step is exact (no minibatch noise) and costs
nothing that grows with n.
"""
from __future__ import annotations

import torch

from ..learners import Stage2Statistics, ridge_loss_from_statistics, ridge_solve

__all__ = ["kip_loss", "match_performance"]


def kip_loss(X: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, bias: torch.Tensor,
             stats: Stage2Statistics, ridge: float) -> torch.Tensor:
    """Real-data MSE of the ridge fitted on (X, y), normalised by ``|y_D|^2/n``; batched over restarts."""
    Phi = torch.relu(X @ W1.transpose(-2, -1) + bias)
    a = ridge_solve(Phi, y, ridge)
    return ridge_loss_from_statistics(a, stats) / stats.y2


def match_performance(W1: torch.Tensor, bias: torch.Tensor, stats: Stage2Statistics,
                      X0: torch.Tensor, y0: torch.Tensor, *, steps: int, lr: float, ridge: float,
                      progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam on K batched synthetic sets (X0: K x m2 x d, y0: K x m2) for the features of W1.

    ``stats`` are the real data's sufficient statistics for the same W1 and ``bias``.
    Returns the optimised (X, y) of every restart and each restart's final loss.
    """
    from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

    X = X0.clone().requires_grad_(True)
    y = y0.clone().requires_grad_(True)
    opt = torch.optim.Adam([X, y], lr=lr)
    for _ in tqdm(range(steps), desc="stage 2 (performance matching)", disable=not progress, leave=False):
        opt.zero_grad(set_to_none=True)
        kip_loss(X, y, W1, bias, stats, ridge).sum().backward()
        opt.step()
    with torch.no_grad():
        final = kip_loss(X, y, W1, bias, stats, ridge)
    return X.detach(), y.detach(), final
