"""Trajectory matching (Cazenavette et al. 2022, MTT) for a T-step stage 1: synthetic points
whose stage-1 trajectory W_0 -> W_T ends where the real data's (the expert's) ends.

Both trajectories start at theta0 and take the learner's T steps
W <- rownorm((1 - lr*wd) W - lr * grad_W L_hat(W)), with a and b fixed at theta0; the loss is
MTT's ``|W_T^S - W_T^D|_F^2 / |W_0 - W_T^D|_F^2``.  For T = 1 and wd = 1/lr every row of W_1 is
``-G_j/|G_j|``, so ``|w_1j^S - w_1j^D|^2 = 2 - 2 cos(G_S,j, G_D,j)``; the symmetric init makes the
normaliser exactly 2L, so loss_TM = loss_cos - n_dead / 2L (``cosine_equivalent_loss``), with
n_dead piecewise constant: equal gradients, and T = 1 trajectory matching *is* cosine gradient
matching.  Restarts are batched along a leading dimension as in
``match_gradients`` (Adam is element-wise, so a summed loss runs K independent restarts).
"""
from __future__ import annotations

import torch

from ..learners import TwoStageLearner, normalize_rows, stage1_gradient
from ..networks import TwoLayerNet
from ..validation import check_data

__all__ = ["expert_trajectory", "student_trajectory", "trajectory_matching_loss",
           "cosine_equivalent_loss", "match_trajectories"]


def _batched_stage1_gradient(W: torch.Tensor, a: torch.Tensor, b: torch.Tensor, X: torch.Tensor,
                             y: torch.Tensor) -> torch.Tensor:
    """``learners.stage1_gradient`` with W batched too: W (..., L, d), X (..., m, d), y (..., m)."""
    pre = X @ W.transpose(-2, -1) + b
    mask = (pre > 0).to(X.dtype)
    resid = torch.relu(pre) @ a - y
    return (mask * resid[..., None]).transpose(-2, -1) @ X * (a[:, None] / X.shape[-2])


def _check_args(net: TwoLayerNet, learner: TwoStageLearner, X: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a TwoLayerNet, got {type(net).__name__}")
    if not isinstance(learner, TwoStageLearner):
        raise TypeError(f"learner must be a TwoStageLearner, got {type(learner).__name__}")
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"X and y must be torch tensors, got {type(X).__name__} and {type(y).__name__}")
    if X.ndim < 2 or X.shape[-1] != net.d or tuple(y.shape) != tuple(X.shape[:-1]):
        raise ValueError(f"X must be (..., m, d={net.d}) and y (..., m), "
                         f"got {tuple(X.shape)} and {tuple(y.shape)}")


def expert_trajectory(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor,
                      learner: TwoStageLearner) -> list[torch.Tensor]:
    """[W_0, ..., W_T] of the learner's stage 1 on the real data (streamed in chunks).

    Args:
        net: theta0.
        X, y: the real data, (n, d) and (n,).
        learner: the learner; its ``stage1_steps``, ``stage1_lr`` and ``weight_decay`` set the steps.

    Returns:
        A list of T + 1 tensors of shape (L, d); the last equals ``learner.stage1(net, X, y)``.
    """
    _check_args(net, learner, X, y)
    X, y = check_data("real data (X, y)", (X, y), d=net.d, min_n=1)
    decay = 1.0 - learner.stage1_lr * learner.weight_decay
    Ws = [net.W]
    for _ in range(learner.stage1_steps):
        G = stage1_gradient(Ws[-1], net.a, net.b, X, y, learner.chunk_size)
        Ws.append(normalize_rows(decay * Ws[-1] - learner.stage1_lr * G))
    return Ws


def student_trajectory(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor,
                       learner: TwoStageLearner) -> list[torch.Tensor]:
    """[W_0, ..., W_T] on synthetic points, differentiable in (X, y) and batched over restarts.

    Args:
        net: theta0.
        X, y: synthetic points, (m, d) and (m,), or K sets at once, (K, m, d) and (K, m).
        learner: the learner whose stage 1 is run.

    Returns:
        A list of T + 1 tensors, W_0 (L, d) then W_t of shape (L, d), or (K, L, d) when batched.
    """
    _check_args(net, learner, X, y)
    decay = 1.0 - learner.stage1_lr * learner.weight_decay
    Ws = [net.W]
    for _ in range(learner.stage1_steps):
        G = _batched_stage1_gradient(Ws[-1], net.a, net.b, X, y)
        Ws.append(normalize_rows(decay * Ws[-1] - learner.stage1_lr * G))
    return Ws


def trajectory_matching_loss(W_T_student: torch.Tensor, W_T_expert: torch.Tensor,
                             W_0: torch.Tensor) -> torch.Tensor:
    """MTT's ``|W_T^S - W_T^D|_F^2 / |W_0 - W_T^D|_F^2`` (1 at W_T^S = W_0, 0 at the expert's end).

    Args:
        W_T_student: (..., L, d), batched over leading dimensions (one loss per restart).
        W_T_expert: (L, d), the real data's W_T.
        W_0: (L, d), theta0's first layer.
    """
    diff = W_T_student - W_T_expert
    return (diff * diff).sum((-2, -1)) / ((W_0 - W_T_expert) ** 2).sum()


def cosine_equivalent_loss(cosine_loss: torch.Tensor | float, n_dead: torch.Tensor | int,
                           W_0: torch.Tensor, W_1_expert: torch.Tensor) -> torch.Tensor | float:
    """The T = 1 (wd = 1/lr) trajectory loss predicted from the cosine matching loss.

    Each neuron with a non-zero synthetic gradient contributes ``|w_1^S - w_1^D|^2 = 2 (1 - cos)``;
    a dead neuron (no synthetic point switches it on, so its row of G_S and of W_1^S is zero, and
    its cosine counts as 0) contributes ``|0 - w_1^D|^2 = 1 = 2 (1 - cos) - 1``.  Hence
    ``loss_TM = (2 L cosine_loss - n_dead) / |W_0 - W_1^D|_F^2``, an affine map whose slope does not
    depend on S, so both losses have proportional gradients wherever n_dead is locally constant.

    Args:
        cosine_loss: mean over neurons of 1 - cos(G_S,j, G_D,j) (``cosine_matching_loss``).
        n_dead: number of all-zero rows of G_S.
        W_0: theta0's first layer (L x d).
        W_1_expert: the real data's W_1 (L x d).
    """
    width = W_0.shape[0]
    return (2 * width * cosine_loss - n_dead) / float(((W_0 - W_1_expert) ** 2).sum())


def match_trajectories(net: TwoLayerNet, W_T_expert: torch.Tensor, X0: torch.Tensor, y0: torch.Tensor,
                       *, learner: TwoStageLearner, steps: int, lr: float,
                       progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam on K batched synthetic sets (X0: K x m1 x d, y0: K x m1) so that the learner's
    T-step stage 1 on them ends at the expert's W_T (``expert_trajectory(...)[-1]``).

    Returns the optimised (X, y) of every restart and each restart's final trajectory loss.
    """
    from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

    X = X0.clone().requires_grad_(True)
    y = y0.clone().requires_grad_(True)
    opt = torch.optim.Adam([X, y], lr=lr)
    for _ in tqdm(range(steps), desc="stage 1 (trajectory matching)", disable=not progress, leave=False):
        opt.zero_grad(set_to_none=True)
        W_T = student_trajectory(net, X, y, learner)[-1]
        trajectory_matching_loss(W_T, W_T_expert, net.W).sum().backward()
        opt.step()
    with torch.no_grad():
        final = trajectory_matching_loss(student_trajectory(net, X, y, learner)[-1], W_T_expert, net.W)
    return X.detach(), y.detach(), final
