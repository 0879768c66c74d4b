"""Trajectory matching (Cazenavette et al. 2022, MTT) for a T-step stage 1: synthetic points
whose stage-1 trajectory W_0 -> W_T ends where the real data's (the expert's) ends.

Both trajectories start at theta0 and take the learner's T steps
W <- rownorm((1 - lr*wd) W - lr * grad_W L_hat(W)), with a and b fixed at theta0; the loss is
MTT's ``|W_T^S - W_T^D|_F^2 / |W_0 - W_T^D|_F^2``.  For T = 1 and wd = 1/lr every row of W_1 is
``-G_j/|G_j|``, so ``|w_1j^S - w_1j^D|^2 = 2 - 2 cos(G_S,j, G_D,j)``; the symmetric init makes the
normaliser exactly 2L, so loss_TM = loss_cos - n_dead / 2L (``cosine_equivalent_loss``), with
n_dead piecewise constant: equal gradients, and T = 1 trajectory matching *is* cosine gradient
matching.  Restarts are batched along a leading dimension, as in every stage.
"""
from __future__ import annotations

import torch

from ..learners import TwoStageLearner, normalize_rows, stage1_gradient
from ..networks import TwoLayerNet
from ..optim import autograd_value_and_grad, minimise
from ..validation import check_data
from .restarts import Restarts

__all__ = ["expert_trajectory", "student_trajectory", "trajectory_matching_loss",
           "cosine_equivalent_loss", "match_trajectories"]


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
        G = stage1_gradient(Ws[-1], net.a, net.b, X, y, chunk_size=None)
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


def match_trajectories(net: TwoLayerNet, W_T_expert: torch.Tensor, restarts: Restarts, *,
                       learner: TwoStageLearner, steps: int, lr: float, progress: bool = False) -> Restarts:
    """Adam on K restarts of m1 synthetic points so that the learner's T-step stage 1 on them
    ends at the expert's W_T (``expert_trajectory(...)[-1]``).

    The T-step trajectory goes through T row normalisations, so its gradient is left to autograd
    (T = 1 is cosine gradient matching, which has a closed form: ``match_gradients``).

    Returns:
        The restarts at their optimised points, with each one's final trajectory loss.
    """
    def loss(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return trajectory_matching_loss(student_trajectory(net, X, y, learner)[-1], W_T_expert, net.W)

    (X, y), _ = minimise(autograd_value_and_grad(loss), (restarts.X, restarts.y), steps=steps, lr=lr,
                         desc="stage 1 (trajectory matching)", progress=progress)
    with torch.no_grad():
        final = loss(X, y)
    return restarts.moved(X, y, final)
