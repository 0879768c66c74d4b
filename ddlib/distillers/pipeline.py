"""``distill``: the distillation pipelines -- stage-1 matching (gradient or trajectory), then
stage-2 performance matching (KIP), optionally fine-tuned by the meta-gradient through the learner."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .._version import __version__
from ..learners import TwoStageLearner, stage1_gradient, stage2_statistics
from ..networks import TwoLayerNet
from ..tasks import MultiIndexTask
from ..validation import check_choice, check_data, check_float, check_int
from .distilled_set import DistilledSet
from .gradient_matching import MATCHING_LOSSES, match_gradients
from .meta import meta_refine
from .performance_matching import match_performance
from .trajectory import expert_trajectory, match_trajectories

__all__ = ["distill", "distill_stage1", "Stage1Result", "METHODS", "META_DEFAULTS", "FAILED_MATCHING_LOSS",
           "initial_points"]

METHODS = ("gm+kip", "tm+kip", "meta")
META_DEFAULTS = {"meta_steps": 200, "meta_lr": 0.01, "meta_batch": 1024}
FAILED_MATCHING_LOSS = 0.3  # a best stage-1 cosine loss above this flags a failed distillation


def initial_points(X: torch.Tensor, y: torch.Tensor, m: int, restarts: int,
                   gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``restarts`` independent random subsets of m real points: (K x m x d, K x m)."""
    n = X.shape[0]
    idx = torch.stack([torch.randperm(n, generator=gen)[:m] for _ in range(restarts)]).to(X.device)
    return X[idx], y[idx]


@dataclass(frozen=True)
class Stage1Result:
    """Stage-1 gradient matching alone: the kept S1, its matching loss, every restart's loss."""

    stage1: tuple[torch.Tensor, torch.Tensor]
    loss: float
    restart_losses: list[float]

    @property
    def failed(self) -> bool:
        """The cosine matching loss is above ``FAILED_MATCHING_LOSS``."""
        return self.loss > FAILED_MATCHING_LOSS


def distill_stage1(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, *,
                   learner: Optional[TwoStageLearner] = None, steps: int = 300, lr: float = 0.05,
                   restarts: int = 3, seed: int = 0, matching: str = "cos", G_D: Optional[torch.Tensor] = None,
                   generator: Optional[torch.Generator] = None, progress: bool = False) -> Stage1Result:
    """Stage 1 of ``distill`` ("gm+kip") alone: the same S1 for the same seed, without stage 2.

    Args:
        net, X, y, m1, learner, lr, restarts, seed, matching: as in ``distill`` (``steps`` is its
            ``steps1``).
        G_D: the real data's stage-1 gradient at theta0, if already computed (saves one pass).
        generator: draw the initial subsets from this generator instead of one seeded with
            ``seed`` (``distill`` passes its own, so that stage 2 continues the same stream).
        progress: show a tqdm progress bar.
    """
    learner = TwoStageLearner() if learner is None else learner
    if generator is None:
        m1 = check_int("m1", m1, min_value=1)
        X, y = check_data("real data (X, y)", (X, y), d=net.d, min_n=m1)
        check_choice("matching", matching, MATCHING_LOSSES)
        steps = check_int("steps", steps, min_value=0)
        check_float("lr", lr, strictly_positive=True)
        restarts = check_int("restarts", restarts, min_value=1)
        generator = torch.Generator()
        generator.manual_seed(check_int("seed", seed))
    if G_D is None:
        G_D = stage1_gradient(net.W, net.a, net.b, X, y, learner.chunk_size)
    X1_0, y1_0 = initial_points(X, y, m1, restarts, generator)
    X1, y1, loss1 = match_gradients(net, G_D, X1_0, y1_0, steps=steps, lr=lr, loss=matching, progress=progress)
    best1 = int(torch.argmin(loss1))
    return Stage1Result((X1[best1], y1[best1]), float(loss1[best1]), [float(v) for v in loss1])


def distill(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, m2: int, *,
            learner: Optional[TwoStageLearner] = None, method: str = "gm+kip", steps1: int = 300,
            steps2: int = 200, lr: float = 0.05, restarts: int = 3, seed: int = 0,
            matching: str = "cos", task: Optional[MultiIndexTask] = None,
            dtype: Optional[torch.dtype] = None, device: Optional[str | torch.device] = None,
            progress: bool = False, tm_steps: Optional[int] = None, meta_steps: Optional[int] = None,
            meta_lr: Optional[float] = None, meta_batch: Optional[int] = None) -> DistilledSet:
    """Distil the real data (X, y) into m1 stage-1 and m2 stage-2 points for ``learner`` at ``net``.

    Methods (``METHODS``):

    - "gm+kip": stage 1 matches the stage-1 gradient at theta0 (cosine per neuron, or Frobenius).
    - "tm+kip": stage 1 matches the learner's T-step stage-1 trajectory (MTT loss); for T = 1 this
      is cosine gradient matching (see ``distillers.trajectory``).
    - "meta": gm+kip, then (S1, S2) fine-tuned jointly by the meta-gradient of the real-data loss
      of the trained network (``distillers.meta``).

    Stage 2 matches performance: the real-data loss of the ridge fitted on S2, with W1 learned from S1,
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
        matching: "cos" (default) or "frobenius" stage-1 loss of gradient matching ("gm+kip",
            "meta"); "tm+kip" takes only the default.
        task: optional, recorded in the metadata.
        dtype, device: where to compute (default: the network's).
        progress: show tqdm progress bars.
        tm_steps: "tm+kip" only: T, the learner's stage-1 steps (default: ``learner.stage1_steps``;
            with no learner given, the learner becomes ``TwoStageLearner(stage1_steps=tm_steps)``).
        meta_steps, meta_lr, meta_batch: "meta" only: Adam steps, learning rate and real points
            per step of the fine-tune (defaults in ``META_DEFAULTS``); its minibatches are drawn
            from a generator seeded with ``seed``.
    """
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a TwoLayerNet, got {type(net).__name__}")
    check_choice("method", method, METHODS)
    learner = _resolve_learner(learner, method, tm_steps)
    meta = _resolve_meta(method, meta_steps, meta_lr, meta_batch)
    if not isinstance(learner, TwoStageLearner):
        raise TypeError(f"learner must be a TwoStageLearner, got {type(learner).__name__}")
    m1 = check_int("m1", m1, min_value=1)
    m2 = check_int("m2", m2, min_value=1)
    X, y = check_data("real data (X, y)", (X, y), d=net.d, min_n=max(m1, m2))
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

    if method == "tm+kip":
        if matching != "cos":
            raise ValueError(f"matching applies to gradient matching ('gm+kip', 'meta') only; "
                             f"method='tm+kip' takes the default 'cos', got {matching!r}")
        # Stage 1: trajectory matching of the learner's T-step stage 1.
        W_T = expert_trajectory(net, X, y, learner)[-1]
        X1_0, y1_0 = initial_points(X, y, m1, restarts, gen)
        X1, y1, losses = match_trajectories(net, W_T, X1_0, y1_0, learner=learner, steps=steps1, lr=lr,
                                            progress=progress)
        best1 = int(torch.argmin(losses))
        result1 = Stage1Result((X1[best1], y1[best1]), float(losses[best1]), [float(v) for v in losses])
    else:
        # Stage 1: gradient matching at theta0.
        result1 = distill_stage1(net, X, y, m1, learner=learner, steps=steps1, lr=lr, restarts=restarts,
                                 matching=matching, generator=gen, progress=progress)
    S1 = result1.stage1

    # Stage 2: performance matching through the ridge, with the W1 that S1 produces.
    W1 = learner.stage1(net, *S1)
    stats = stage2_statistics(W1, net.stage2_bias, X, y, learner.chunk_size)
    X2_0, y2_0 = initial_points(X, y, m2, restarts, gen)
    X2, y2, loss2 = match_performance(W1, net.stage2_bias, stats, X2_0, y2_0, steps=steps2, lr=lr,
                                      ridge=learner.ridge, progress=progress)
    best2 = int(torch.argmin(loss2))
    S2 = (X2[best2], y2[best2])

    metadata = {
        "method": "gm+kip" if method == "meta" else method,
        "matching": "trajectory" if method == "tm+kip" else matching, "m1": m1, "m2": m2, "steps1": steps1,
        "steps2": steps2, "lr": lr, "restarts": restarts, "seed": seed, "n_real": X.shape[0],
        "theta0": {"d": net.d, "width": net.width, "seed": net.seed},
        "learner": learner.params(), "task": task.params() if task is not None else None,
        "stage1_matching_loss": result1.loss,
        "stage1_restart_losses": result1.restart_losses,
        # The threshold is on the cosine loss; the T = 1 trajectory loss equals it (up to dead
        # neurons), and for T > 1 no threshold is calibrated.
        "stage1_failed": bool(matching == "cos" and (method != "tm+kip" or learner.stage1_steps == 1)
                              and result1.failed),
        "stage2_loss": float(loss2[best2]),
        "stage2_restart_losses": [float(v) for v in loss2],
        "dtype": str(net.dtype).replace("torch.", ""), "ddlib_version": __version__,
    }
    if method == "tm+kip":
        metadata["tm_steps"] = learner.stage1_steps
    distilled = DistilledSet(S1, S2, metadata)
    if method == "meta":
        distilled = meta_refine(distilled, net, X, y, learner=learner, steps=meta["meta_steps"],
                                lr=meta["meta_lr"], batch=meta["meta_batch"], seed=seed, progress=progress)
    return distilled


def _resolve_learner(learner: Optional[TwoStageLearner], method: str,
                     tm_steps: Optional[int]) -> TwoStageLearner:
    """The learner being distilled; ``tm_steps`` sets its T for "tm+kip" (and nowhere else)."""
    if tm_steps is None:
        return TwoStageLearner() if learner is None else learner
    if method != "tm+kip":
        raise ValueError(f"tm_steps applies to method='tm+kip' only, got tm_steps={tm_steps!r} "
                         f"with method={method!r}")
    tm_steps = check_int("tm_steps", tm_steps, min_value=1)
    if learner is None:
        return TwoStageLearner(stage1_steps=tm_steps)
    if isinstance(learner, TwoStageLearner) and learner.stage1_steps != tm_steps:
        raise ValueError(f"tm_steps={tm_steps} contradicts learner.stage1_steps={learner.stage1_steps}; "
                         f"pass one of them, or equal values")
    return learner


def _resolve_meta(method: str, meta_steps: Optional[int], meta_lr: Optional[float],
                  meta_batch: Optional[int]) -> dict:
    """The meta fine-tune's hyper-parameters (defaults filled in); they apply to "meta" only."""
    given = {"meta_steps": meta_steps, "meta_lr": meta_lr, "meta_batch": meta_batch}
    if method != "meta":
        extra = {k: v for k, v in given.items() if v is not None}
        if extra:
            raise ValueError(f"{sorted(extra)} apply to method='meta' only, got them with method={method!r}")
        return {}
    params = {k: META_DEFAULTS[k] if v is None else v for k, v in given.items()}
    return {"meta_steps": check_int("meta_steps", params["meta_steps"], min_value=0),
            "meta_lr": check_float("meta_lr", params["meta_lr"], strictly_positive=True),
            "meta_batch": check_int("meta_batch", params["meta_batch"], min_value=1)}
