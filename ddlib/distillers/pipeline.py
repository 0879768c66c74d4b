"""``distill``: the two-stage distillation pipeline (stage-1 matching, then stage-2 matching)."""
from __future__ import annotations

from typing import Optional

import torch

from .._version import __version__
from ..learners import TwoStageLearner, stage1_gradient, stage2_statistics
from ..networks import TwoLayerNet
from ..tasks import MultiIndexTask
from ..validation import check_choice, check_data, check_float, check_int
from .distilled_set import DistilledSet
from .gradient_matching import MATCHING_LOSSES, match_gradients
from .performance_matching import match_performance

__all__ = ["distill", "METHODS", "FAILED_MATCHING_LOSS", "initial_points"]

METHODS = ("gm+kip",)
FAILED_MATCHING_LOSS = 0.3  # a best stage-1 cosine loss above this flags a failed distillation


def initial_points(X: torch.Tensor, y: torch.Tensor, m: int, restarts: int,
                   gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``restarts`` independent random subsets of m real points: (K x m x d, K x m)."""
    n = X.shape[0]
    idx = torch.stack([torch.randperm(n, generator=gen)[:m] for _ in range(restarts)]).to(X.device)
    return X[idx], y[idx]


def distill(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, m2: int, *,
            learner: Optional[TwoStageLearner] = None, method: str = "gm+kip", steps1: int = 300,
            steps2: int = 200, lr: float = 0.05, restarts: int = 3, seed: int = 0,
            matching: str = "cos", task: Optional[MultiIndexTask] = None,
            dtype: Optional[torch.dtype] = None, device: Optional[str | torch.device] = None,
            progress: bool = False) -> DistilledSet:
    """Distil the real data (X, y) into m1 stage-1 and m2 stage-2 points for ``learner`` at ``net``.

    Stage 1 matches the stage-1 gradient at theta0 (cosine per neuron, or Frobenius); stage 2
    matches performance: the real-data loss of the ridge fitted on S2, with W1 learned from S1,
    computed exactly from sufficient statistics.  Each stage runs ``restarts`` random-real-point
    initialisations in one batch and keeps the restart with the lowest matching loss (never
    chosen by test error).

    Args:
        net: theta0 (with its stage-2 biases).
        X, y: the real training data, (n, d) and (n,).
        m1, m2: sizes of the stage-1 and stage-2 synthetic sets.
        learner: the learner being distilled (default ``TwoStageLearner()``).
        method: one of ``METHODS``.
        steps1, steps2, lr: Adam steps per stage and learning rate.
        restarts: K independent initialisations per stage.
        seed: seed of the initial subsets (the only randomness here).
        matching: "cos" (default) or "frobenius" stage-1 loss.
        task: optional, recorded in the metadata.
        dtype, device: where to compute (default: the network's).
        progress: show tqdm progress bars.
    """
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a TwoLayerNet, got {type(net).__name__}")
    learner = TwoStageLearner() if learner is None else learner
    if not isinstance(learner, TwoStageLearner):
        raise TypeError(f"learner must be a TwoStageLearner, got {type(learner).__name__}")
    m1 = check_int("m1", m1, min_value=1)
    m2 = check_int("m2", m2, min_value=1)
    X, y = check_data("real data (X, y)", (X, y), d=net.d, min_n=max(m1, m2))
    check_choice("method", method, METHODS)
    check_choice("matching", matching, MATCHING_LOSSES)
    steps1 = check_int("steps1", steps1, min_value=0)
    steps2 = check_int("steps2", steps2, min_value=0)
    check_float("lr", lr, strictly_positive=True)
    restarts = check_int("restarts", restarts, min_value=1)
    seed = check_int("seed", seed)

    if dtype is not None or device is not None:
        net = net.to(dtype=dtype, device=device)
    X, y = X.to(dtype=net.dtype, device=net.device), y.to(dtype=net.dtype, device=net.device)
    gen = torch.Generator()
    gen.manual_seed(seed)

    # Stage 1: gradient matching at theta0.
    G_D = stage1_gradient(net.W, net.a, net.b, X, y, learner.chunk_size)
    X1_0, y1_0 = initial_points(X, y, m1, restarts, gen)
    X1, y1, loss1 = match_gradients(net, G_D, X1_0, y1_0, steps=steps1, lr=lr, loss=matching,
                                    progress=progress)
    best1 = int(torch.argmin(loss1))
    S1 = (X1[best1], y1[best1])

    # Stage 2: performance matching through the ridge, with the W1 that S1 produces.
    W1 = learner.stage1(net, *S1)
    stats = stage2_statistics(W1, net.stage2_bias, X, y, learner.chunk_size)
    X2_0, y2_0 = initial_points(X, y, m2, restarts, gen)
    X2, y2, loss2 = match_performance(W1, net.stage2_bias, stats, X2_0, y2_0, steps=steps2, lr=lr,
                                      ridge=learner.ridge, progress=progress)
    best2 = int(torch.argmin(loss2))
    S2 = (X2[best2], y2[best2])

    metadata = {
        "method": method, "matching": matching, "m1": m1, "m2": m2, "steps1": steps1,
        "steps2": steps2, "lr": lr, "restarts": restarts, "seed": seed, "n_real": X.shape[0],
        "theta0": {"d": net.d, "width": net.width, "seed": net.seed},
        "learner": learner.params(), "task": task.params() if task is not None else None,
        "stage1_matching_loss": float(loss1[best1]),
        "stage1_restart_losses": [float(v) for v in loss1],
        "stage1_failed": bool(matching == "cos" and float(loss1[best1]) > FAILED_MATCHING_LOSS),
        "stage2_loss": float(loss2[best2]),
        "stage2_restart_losses": [float(v) for v in loss2],
        "dtype": str(net.dtype).replace("torch.", ""), "ddlib_version": __version__,
    }
    return DistilledSet(S1, S2, metadata)
