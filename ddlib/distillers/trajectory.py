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
from ..networks import TwoLayerNet, check_net
from ..optim import autograd_value_and_grad, minimise
from ..validation import peak, require_finite
from ._checks import check_learner, check_stage, finished
from .restarts import Restarts

__all__ = ["expert_trajectory", "student_trajectory", "trajectory_matching_loss",
           "cosine_equivalent_loss", "match_trajectories", "unchecked_trajectory"]

STAGE = "stage 1 (trajectory matching)"


def _check_args(net: TwoLayerNet, learner: TwoStageLearner, X: torch.Tensor,
                y: torch.Tensor) -> tuple[TwoLayerNet, torch.Tensor, torch.Tensor]:
    """Type and shape checks shared by both trajectories; X and y come back checked (finite
    float32/float64) and converted to the network's dtype and device, with their graph."""
    check_net(net)
    check_learner(learner)
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"X and y must be torch tensors, got {type(X).__name__} and {type(y).__name__}")
    if X.ndim < 2 or X.shape[-1] != net.d or tuple(y.shape) != tuple(X.shape[:-1]) or X.shape[-2] < 1:
        raise ValueError(f"X must be (..., m, d={net.d}) and y (..., m), "
                         f"got {tuple(X.shape)} and {tuple(y.shape)} (m >= 1)")
    return net, net.check_input("X", X), net.check_input("y", y)


def unchecked_trajectory(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, learner: TwoStageLearner,
                chunk_size: int | None) -> list[torch.Tensor]:
    """[W_0, ..., W_T] of the learner's stage 1 on (X, y) (no checks: the callers run them)."""
    decay = 1.0 - learner.stage1_lr * learner.weight_decay
    Ws = [net.W]
    for _ in range(learner.stage1_steps):
        G = stage1_gradient(Ws[-1], net.a, net.b, X, y, chunk_size)
        Ws.append(normalize_rows(decay * Ws[-1] - learner.stage1_lr * G))
    return Ws


def expert_trajectory(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor,
                      learner: TwoStageLearner) -> list[torch.Tensor]:
    """[W_0, ..., W_T] of the learner's stage 1 on the real data (streamed in chunks).

    Args:
        net: theta0.
        X, y: the real data, (n, d) and (n,).
        learner: the learner; its ``stage1_steps``, ``stage1_lr`` and ``weight_decay`` set the steps.

    Returns:
        A list of T + 1 tensors of shape (L, d); the last equals ``learner.stage1(net, X, y)``.
        Not differentiated: inputs that require grad are detached.
    """
    net, X, y = _check_args(net, learner, X, y)
    net = net.detach()
    X, y = net.check_data("real data (X, y)", (X, y))
    Ws = unchecked_trajectory(net, X, y, learner, learner.chunk_size)
    require_finite(lambda: f"expert_trajectory: W_T is not finite after {learner.stage1_steps} step(s): the stage-1 "
                           f"gradient overflows {net.dtype}; the data's scale (max |X| = {peak(X):.3g}, max |y| = "
                           f"{peak(y):.3g}) is too large", Ws[-1])
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
    net, X, y = _check_args(net, learner, X, y)
    return unchecked_trajectory(net, X, y, learner, chunk_size=None)


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

    Raises:
        ValueError: W_T_expert equals theta0's W (the loss's normaliser is 0), or the optimised
            points are not finite (the step size is too large, or the data's scale overflows).
    """
    net, restarts, steps, lr = check_stage(net, restarts, steps=steps, lr=lr)
    learner = check_learner(learner)
    W_T_expert = net.check_first_layer("W_T_expert", W_T_expert)
    if not bool(((net.W - W_T_expert) ** 2).sum() > 0):
        raise ValueError("W_T_expert equals theta0's first layer W: the trajectory loss, normalised by "
                         "|W_0 - W_T|^2 = 0, is undefined")

    def loss(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return trajectory_matching_loss(unchecked_trajectory(net, X, y, learner, None)[-1], W_T_expert, net.W)

    (X, y), _ = minimise(autograd_value_and_grad(loss), (restarts.X, restarts.y), steps=steps, lr=lr,
                         desc=STAGE, progress=progress)
    with torch.no_grad():
        final = loss(X, y)
    return finished(STAGE, restarts, X, y, final, steps=steps, lr=lr)
