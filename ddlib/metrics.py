"""Metrics measured on a trained network or a set of points: test risk, alignment of the first
layer with span(U), energy of inputs in span(U), principal angles, per-neuron cosines between
two stage-1 gradients.  (Closed-form predictions live in ``ddlib.theory``.)"""
from __future__ import annotations

from typing import Union

import torch

from .networks import TwoLayerNet
from .tasks import MultiIndexTask
from .validation import check_int

__all__ = [
    "test_mse",
    "alignment",
    "energy_in_subspace",
    "principal_angles",
    "neuron_cosines",
    "gradient_cosine",
]


def test_mse(net: TwoLayerNet, task: MultiIndexTask, n: int = 10_000, *, seed: int, clean: bool = False) -> float:
    """Test MSE on n fresh samples divided by the empirical Var y (1.0 = the zero predictor).

    With ``clean`` the target is the noiseless f*(x) (excess risk) instead of the noisy label.
    """
    n = check_int("n", n, min_value=2)
    _check_same_d(net, task)
    X, y = task.sample(n, seed, dtype=net.dtype, device=net.device)
    target = task.f(X) if clean else y
    with torch.no_grad():
        err = ((net(X) - target) ** 2).mean()
    return float(err / target.var())


def _check_same_d(net: TwoLayerNet, task: MultiIndexTask) -> None:
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a TwoLayerNet, got {type(net).__name__}")
    if net.d != task.d:
        raise ValueError(f"net has input dimension d={net.d} but the task has d={task.d}")


def _check_matrix(name: str, M: torch.Tensor, d: int) -> torch.Tensor:
    if not isinstance(M, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(M).__name__}")
    if M.ndim != 2 or M.shape[1] != d:
        raise ValueError(f"{name} must have shape (k, d={d}), got {tuple(M.shape)}")
    return M


def _rows(net_or_W: Union[TwoLayerNet, torch.Tensor], task: MultiIndexTask) -> torch.Tensor:
    """A network's first layer W (or ``net_or_W`` itself), checked to be (k, task.d)."""
    W = net_or_W.W if isinstance(net_or_W, TwoLayerNet) else net_or_W
    return _check_matrix("W", W, task.d)


def alignment(net_or_W: Union[TwoLayerNet, torch.Tensor], task: MultiIndexTask) -> float:
    """``|W U^T|_F / |W|_F``: 1 when every neuron lies in span(U), about sqrt(r/d) at random."""
    W = _rows(net_or_W, task)
    return float((W @ task.U.to(W).T).norm() / W.norm())


def energy_in_subspace(X: torch.Tensor, task: MultiIndexTask) -> float:
    """``|X U^T|_F^2 / |X|_F^2``: the share of the inputs' energy in span(U) (chance level r/d)."""
    X = _check_matrix("X", X, task.d)
    return float((X @ task.U.to(X).T).norm() ** 2 / X.norm() ** 2)


def principal_angles(net_or_W: Union[TwoLayerNet, torch.Tensor], task: MultiIndexTask,
                     k: int | None = None) -> torch.Tensor:
    """Principal angles (radians, ascending) between span(U) and the top-k right singular
    subspace of W (k = r by default)."""
    W = _rows(net_or_W, task)
    k = task.r if k is None else check_int("k", k, min_value=1, max_value=min(W.shape))
    V = torch.linalg.svd(W, full_matrices=False).Vh[:k]
    cosines = torch.linalg.svdvals(V @ task.U.to(W).T).clamp(-1.0, 1.0)
    return torch.arccos(cosines).sort().values


def neuron_cosines(G: torch.Tensor, G_ref: torch.Tensor) -> torch.Tensor:
    """cos(G_j, G_ref_j) for every neuron j (row); a zero row counts as cosine 0, not NaN (with very
    few synthetic points some neurons are switched on by none, and their gradient row is 0)."""
    num = (G * G_ref).sum(-1)
    den = G.norm(dim=-1) * G_ref.norm(dim=-1)
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(G.dtype).tiny), torch.zeros_like(num))


def gradient_cosine(G: torch.Tensor, G_ref: torch.Tensor) -> float:
    """Mean over neurons of cos(G_j, G_ref_j); a zero row counts as cosine 0."""
    return float(neuron_cosines(G, G_ref).mean())
