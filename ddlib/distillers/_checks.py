"""The checks every distillation stage runs, whatever the route to it (``distill``, a stage called
directly, an experiment composing stages): its arguments on the way in -- converted to the
network's dtype and device, detached -- and its optimised points and losses on the way out, so
a stage returns finite points or raises a ValueError naming the cause."""
from __future__ import annotations

from typing import Any

import torch

from ..learners import check_learner
from ..networks import TwoLayerNet, check_net
from ..validation import check_float, check_int, require_finite
from .restarts import Restarts

__all__ = ["detached_net", "check_learner", "check_stage", "finished"]


def detached_net(net: Any) -> TwoLayerNet:
    """``net`` if it is a TwoLayerNet, detached (the distillers never differentiate through theta0)."""
    return check_net(net).detach()


def check_stage(net: Any, restarts: Any, *, steps: Any, lr: Any) -> tuple[TwoLayerNet, Restarts, int, float]:
    """The arguments every stage takes: theta0, K restarts of points of dimension d (converted
    to the network's dtype and device), a number of Adam steps >= 0 and a learning rate > 0."""
    net = detached_net(net)
    if not isinstance(restarts, Restarts):
        raise TypeError(f"restarts must be a Restarts (e.g. InitialDraw.stage1(data, m)), "
                        f"got {type(restarts).__name__}")
    if restarts.X.shape[-1] != net.d:
        raise ValueError(f"restarts: the points have dimension {restarts.X.shape[-1]} but the network expects "
                         f"d={net.d}")
    restarts = restarts.to(net.dtype, net.device)
    require_finite(f"restarts: the points overflow {net.dtype}, the network's dtype, when converted to it",
                   restarts.X0, restarts.y0, restarts.X, restarts.y)
    return net, restarts, check_int("steps", steps, min_value=0), check_float("lr", lr, strictly_positive=True)


def finished(stage: str, restarts: Restarts, X: torch.Tensor, y: torch.Tensor, loss: torch.Tensor, *,
             steps: int, lr: float, also: str = "") -> Restarts:
    """``restarts.moved(X, y, loss)``, or a ValueError naming the stage, the steps, the learning
    rate and the likely causes (``also``: one more) when the optimised points or their losses
    are not finite."""
    require_finite(lambda: f"{stage}: the points are not finite after {steps} Adam steps (lr={lr!r}): the step "
                           f"size is too large for this problem, or the data's scale overflows {X.dtype}{also}", X, y)
    require_finite(lambda: f"{stage}: the final loss is not finite after {steps} Adam steps (lr={lr!r}): the "
                           f"points' scale overflows {X.dtype}{also}", loss)
    return restarts.moved(X, y, loss)
