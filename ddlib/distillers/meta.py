"""Meta-gradient distillation through the whole learner (Wang et al. 2018 style): (S1, S2) are
fine-tuned jointly by Adam on the real-data loss of the network A(S) the learner trains on them.

The learner is differentiable end to end: W1 = rownorm(-G_S1) (closed form in S1; T steps for a
T-step stage 1), Phi_S2 = relu(X2 W1^T + b2), a = ridge on (Phi_S2, y2) (dual, m2 < L).  Unlike
KIP, W1 moves, so the real data's features are recomputed at every step, on a seeded minibatch.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..data import Data
from ..learners import DEFAULT_CHUNK, TwoStageLearner, ridge_solve, singular_ridge_is_an_error
from ..networks import TwoLayerNet, check_net
from ..optim import autograd_value_and_grad, minimise
from ..seeds import check_seed, generator
from ..validation import check_float, check_int, check_labels, peak, require_finite
from ._checks import check_learner, detached_net
from .distilled_set import DistilledSet
from .trajectory import unchecked_trajectory

__all__ = ["meta_loss", "real_loss", "meta_finetune", "meta_refine"]

STAGE = "meta-gradient"
# Why the meta fine-tune refuses constant labels: its loss is normalised by their variance.
_CONSTANT_LABELS = "the meta loss, normalised by their variance Var y = 0, is undefined"


def _train(net: TwoLayerNet, X1: torch.Tensor, y1: torch.Tensor, X2: torch.Tensor, y2: torch.Tensor,
           learner: TwoStageLearner) -> tuple[torch.Tensor, torch.Tensor]:
    """(W1, a) of A(S), differentiable in all four tensors."""
    W1 = unchecked_trajectory(net, X1, y1, learner, None)[-1]
    return W1, ridge_solve(net.stage2_features(X2, W1), y2, learner.ridge)


def _label_variance(y: torch.Tensor) -> float:
    """Var y of the real labels, the meta losses' normaliser: finite and > 0, or a ValueError."""
    check_labels("real", y, why=_CONSTANT_LABELS, constant=True)
    var_y = float(y.var())
    if not 0 < var_y < math.inf:
        raise ValueError(f"the real labels' variance Var y = {var_y} is not a positive finite {y.dtype} (max |y| = "
                         f"{peak(y):.3g}): {_CONSTANT_LABELS if var_y == 0 else 'rescale the labels'}")
    return var_y


def meta_loss(net: TwoLayerNet, X1: torch.Tensor, y1: torch.Tensor, X2: torch.Tensor, y2: torch.Tensor,
              Xb: torch.Tensor, yb: torch.Tensor, learner: TwoStageLearner, var_y: float) -> torch.Tensor:
    """mean over (Xb, yb) of (f(x) - y)^2 / var_y for f = A(S): differentiable in (S1, S2).

    Args:
        net: theta0.
        X1, y1, X2, y2: the stage-1 and stage-2 synthetic sets.
        Xb, yb: a batch of real points.
        learner: the learner A.
        var_y: the normaliser (the real labels' variance), > 0.

    A building block of ``meta_finetune``'s inner loop: it checks only ``var_y``.
    """
    var_y = check_float("var_y", var_y, strictly_positive=True)
    W1, a = _train(net, X1, y1, X2, y2, learner)
    pred = net.stage2_features(Xb, W1) @ a
    return ((pred - yb) ** 2).mean() / var_y


def real_loss(net: TwoLayerNet, stage1: Data, stage2: Data, X: torch.Tensor, y: torch.Tensor,
              learner: TwoStageLearner, chunk_size: int = DEFAULT_CHUNK) -> float:
    """The full real-data loss of A(S), normalised by Var y, streamed in chunks (no gradient).

    Args:
        net: theta0.
        stage1, stage2: the synthetic sets (X, y).
        X, y: the real data (at least two points, not all labels equal: Var y normalises).
        learner: the learner A.
        chunk_size: real rows per chunk.
    """
    net, learner = detached_net(net), check_learner(learner)
    X, y = net.check_data("real data (X, y)", (X, y), min_n=2)
    var_y = _label_variance(y)
    stage1, stage2 = net.check_data("stage1", stage1), net.check_data("stage2", stage2)
    chunk_size = check_int("chunk_size", chunk_size, min_value=1)
    with torch.no_grad(), singular_ridge_is_an_error("real_loss", learner.ridge):
        W1, a = _train(net, *stage1, *stage2, learner)
        sq = sum(float(((net.stage2_features(X[i:i + chunk_size], W1) @ a - y[i:i + chunk_size]) ** 2).sum())
                 for i in range(0, X.shape[0], chunk_size))
    loss = sq / X.shape[0] / var_y
    require_finite(f"real_loss: the real-data loss of A(S) is not finite ({loss}): the synthetic sets' scale "
                   f"overflows {net.dtype}", loss)
    return loss


def meta_finetune(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, stage1: Data, stage2: Data, *,
                  learner: TwoStageLearner, steps: int, lr: float, batch: int, seed: int,
                  progress: bool = False) -> tuple[Data, Data, dict]:
    """Adam on (S1, S2) jointly, from the given sets, against the real-data loss of A(S).

    Args:
        net: theta0.
        X, y: the real training data.
        stage1, stage2: the starting sets, e.g. from gm+kip.
        learner: the learner A (its stage 1 may take T steps).
        steps, lr: Adam steps and learning rate.
        batch: real points per step, drawn without replacement from a generator seeded with
            ``seed``; ``batch >= n`` uses the full data every step (exact gradient).
        seed: seed of the minibatch stream.
        progress: show a tqdm progress bar.

    Returns:
        The fine-tuned (S1, S2) and a record of the full real-data loss (normalised by Var y)
        before and after, and the minibatch loss every ``max(1, steps // 50)`` steps.
    """
    net, learner = detached_net(net), check_learner(learner)
    X, y = net.check_data("real data (X, y)", (X, y), min_n=2)
    var_y = _label_variance(y)
    stage1, stage2 = Data(*net.check_data("stage1", stage1)), Data(*net.check_data("stage2", stage2))
    steps = check_int("meta_steps", steps, min_value=0)
    lr = check_float("meta_lr", lr, strictly_positive=True)
    batch = check_int("meta_batch", batch, min_value=1)
    gen = generator(seed)
    n = X.shape[0]

    def loss(X1: torch.Tensor, y1: torch.Tensor, X2: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        if batch >= n:
            Xb, yb = X, y
        else:  # a fresh minibatch at every step, from the seeded stream
            idx = torch.randperm(n, generator=gen)[:batch].to(X.device)
            Xb, yb = X[idx], y[idx]
        return meta_loss(net, X1, y1, X2, y2, Xb, yb, learner, var_y)

    initial = real_loss(net, stage1, stage2, X, y, learner)
    with singular_ridge_is_an_error(STAGE, learner.ridge):
        (X1, y1, X2, y2), history = minimise(autograd_value_and_grad(loss), (*stage1, *stage2), steps=steps,
                                             lr=lr, desc=STAGE, progress=progress)
    require_finite(f"{STAGE}: the points are not finite after {steps} Adam steps (meta_lr={lr!r}): the step size "
                   f"is too large for this problem, or the data's scale overflows {net.dtype}",
                   X1, y1, X2, y2, *history)
    every = max(1, steps // 50)
    final = real_loss(net, (X1, y1), (X2, y2), X, y, learner)
    record = {"initial_real_loss": initial, "final_real_loss": final,
              "loss_curve": [float(v) for v in history[::every]], "loss_curve_every": every}
    return Data(X1, y1), Data(X2, y2), record


def meta_refine(distilled: DistilledSet, net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, *,
                steps: int, lr: float, batch: int, seed: int, learner: Optional[TwoStageLearner] = None,
                progress: bool = False) -> DistilledSet:
    """A DistilledSet fine-tuned by ``meta_finetune`` from ``distilled`` (e.g. a gm+kip result).

    The metadata is the starting set's, with ``method`` "meta", the starting method, and the
    meta hyper-parameters and real-data losses before and after recorded.

    Args:
        distilled: the starting set.
        net: the theta0 it was distilled for.
        X, y: the real training data.
        steps, lr, batch, seed: as in ``meta_finetune``.
        learner: the learner (default: the one recorded in ``distilled.metadata``).
        progress: show a tqdm progress bar.
    """
    if not isinstance(distilled, DistilledSet):
        raise TypeError(f"distilled must be a DistilledSet, got {type(distilled).__name__}")
    check_net(net)
    learner = TwoStageLearner.from_params(distilled.metadata.get("learner")) if learner is None else learner
    S1, S2, record = meta_finetune(net, X, y, distilled.stage1, distilled.stage2, learner=learner,
                                   steps=steps, lr=lr, batch=batch, seed=seed, progress=progress)
    metadata = dict(distilled.metadata)
    metadata.update({
        "method": "meta", "meta_init_method": distilled.metadata.get("method"), "meta_steps": int(steps),
        "meta_lr": float(lr), "meta_batch": int(batch), "meta_seed": check_seed("seed", seed),
        "learner": learner.params(),
        "meta_initial_real_loss": record["initial_real_loss"],
        "meta_final_real_loss": record["final_real_loss"],
        "meta_loss_curve": record["loss_curve"], "meta_loss_curve_every": record["loss_curve_every"],
    })
    return DistilledSet(S1, S2, metadata)
