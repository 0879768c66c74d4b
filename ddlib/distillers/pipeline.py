"""``distill``: a short composition of the stages -- stage-1 matching (gradient or trajectory),
then stage-2 performance matching (KIP), optionally fine-tuned by the meta-gradient through the
learner.  ``distill_state`` returns every stage's restarts as well (where each started, where it
ended, its loss), for experiments that look inside; ``distill_stage1`` runs stage 1 alone."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from .._version import __version__
from ..data import Data
from ..learners import TwoStageLearner, stage1_gradient, stage2_statistics
from ..networks import TwoLayerNet
from ..seeds import check_seed
from ..tasks import MultiIndexTask, check_task
from ..validation import check_choice, check_float, check_int, check_labels, peak, require_finite
from ._checks import check_learner, detached_net
from .distilled_set import DistilledSet
from .gradient_matching import MATCHING_LOSSES, match_gradients
from .meta import meta_refine
from .performance_matching import match_performance
from .restarts import InitialDraw, Restarts
from .trajectory import expert_trajectory, match_trajectories
from ..methods import Config, RealData, compose_parts

__all__ = ["distill", "distill_state", "distill_stage1", "DistillState", "METHODS", "META_DEFAULTS",
           "FAILED_MATCHING_LOSS"]

METHODS = ("gm+kip", "tm+kip", "meta")
META_DEFAULTS = {"meta_steps": 200, "meta_lr": 0.01, "meta_batch": 1024}
# A best stage-1 cosine loss above this flags a failed distillation: at the book's sizes every run
# that misses a normalised test MSE of 0.05 with m1 >= r sits above it, and no run that succeeds
# does (notebook 05 measures it along m1 and r).
FAILED_MATCHING_LOSS = 0.3
# Why distillation refuses all-zero labels, and "meta" constant ones.
_ZERO_LABELS = ("the real data's stage-1 gradient at theta0 and the KIP normaliser |y|^2/n are both 0: "
                "there is nothing to distil")
_CONSTANT_LABELS = "the meta fine-tune's loss, normalised by their variance Var y = 0, is undefined"


@dataclass(frozen=True)
class DistillState:
    """Everything one distillation produced, stage by stage.

    Attributes:
        initial: the initial draw of every restart of both stages.
        stage1: stage 1's restarts (start, end, loss).
        stage2: stage 2's restarts, made for the first layer ``W1`` that the kept S1 produces.
        W1: the learner's first layer on the kept S1.
        distilled: the result (after the meta-gradient fine-tune for ``method="meta"``).
    """

    initial: InitialDraw
    stage1: Restarts
    stage2: Restarts
    W1: torch.Tensor
    distilled: DistilledSet


def distill_stage1(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, *,
                   learner: Optional[TwoStageLearner] = None, steps: int = 300, lr: float = 0.05,
                   restarts: int = 3, seed: int = 0, matching: str = "cos", G_D: Optional[torch.Tensor] = None,
                   progress: bool = False) -> Restarts:
    """Stage 1 of ``distill`` ("gm+kip") alone: the same restarts, hence the same S1, for the same seed.

    Args:
        net, X, y, m1, learner, lr, restarts, seed, matching: as in ``distill`` (``steps`` is its
            ``steps1``).
        G_D: the real data's stage-1 gradient at theta0, if already computed (saves one pass).
        progress: show a tqdm progress bar.

    Returns:
        The stage-1 restarts (``.best()`` is S1, ``.best_loss`` its matching loss).
    """
    net, learner = _check_net_learner(net, learner)
    m1 = check_int("m1", m1, min_value=1)
    data = _check_real(net, X, y, m1)
    hyper = _check_hyper(steps=steps, lr=lr, restarts=restarts, seed=seed, matching=matching, steps_name="steps")
    if G_D is None:
        G_D = _real_gradient(net, data, learner)
    draw = InitialDraw.draw(data.X.shape[0], hyper["restarts"], hyper["seed"], prefix=m1)
    return match_gradients(net, G_D, draw.stage1(data, m1), steps=hyper["steps"], lr=hyper["lr"],
                           loss=hyper["matching"], progress=progress)


def distill(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, m2: int,
            **options: Any) -> DistilledSet:
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
    chosen by test error).  The keyword options are those of ``distill_state`` (an unknown one
    is a TypeError naming it):

    Args:
        net: theta0 (with its stage-2 biases).
        X, y: the real training data, (n, d) and (n,).
        m1, m2: sizes of the stage-1 and stage-2 synthetic sets.
        learner: the learner being distilled (default ``TwoStageLearner()``).
        method: one of ``METHODS`` (default "gm+kip").
        steps1, steps2, lr: Adam steps per stage (300, 200) and learning rate (0.05).
        restarts: K independent initialisations per stage (3).
        seed: seed of the initial subsets (the only randomness here; 0).
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
    return distill_state(net, X, y, m1, m2, **options).distilled


def distill_state(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, m2: int, *,
                  learner: Optional[TwoStageLearner] = None, method: str = "gm+kip", steps1: int = 300,
                  steps2: int = 200, lr: float = 0.05, restarts: int = 3, seed: int = 0,
                  matching: str = "cos", task: Optional[MultiIndexTask] = None,
                  dtype: Optional[torch.dtype] = None, device: Optional[str | torch.device] = None,
                  progress: bool = False, tm_steps: Optional[int] = None, meta_steps: Optional[int] = None,
                  meta_lr: Optional[float] = None, meta_batch: Optional[int] = None) -> DistillState:
    """``distill`` (same arguments), returning the ``DistillState`` -- every stage's restarts --
    around its result."""
    check_choice("method", method, METHODS)
    task = None if task is None else check_task(task)
    net, learner = _check_net_learner(net, _resolve_learner(learner, method, tm_steps))
    meta = _resolve_meta(method, meta_steps, meta_lr, meta_batch)
    m1 = check_int("m1", m1, min_value=1)
    m2 = check_int("m2", m2, min_value=1)
    if dtype is not None or device is not None:
        net = net.to(dtype=dtype, device=device)
    data = _check_real(net, X, y, max(m1, m2))
    if method == "meta":
        check_labels("real", data.y, why=_CONSTANT_LABELS, constant=True)
    hyper = _check_hyper(steps=steps1, lr=lr, restarts=restarts, seed=seed, matching=matching)
    steps2 = check_int("steps2", steps2, min_value=0)
    if method == "tm+kip" and matching != "cos":
        raise ValueError(f"matching applies to gradient matching ('gm+kip', 'meta') only; "
                         f"method='tm+kip' takes the default 'cos', got {matching!r}")

    real = RealData(net, *data)
    config = Config(learner=learner, steps1=hyper["steps"], steps2=steps2, lr=hyper["lr"], restarts=hyper["restarts"],
                    progress=progress)
    stage1_name = "tm" if method == "tm+kip" else f"gm-{'cos' if matching == 'cos' else 'frobenius'}"
    if method != "tm+kip":
        real.gradient(learner.chunk_size)  # G_D's overflow is a ValueError before any matching
    parts = compose_parts(real, stage1_name, "kip", m1, m2, config, seed=hyper["seed"], task=task,
                          name="gm+kip" if method == "meta" else method)
    stage1, stage2, W1 = parts.stage1.restarts, parts.stage2.restarts, parts.W1
    metadata = {**parts.distilled.metadata,
                **_metadata(method, matching, m1, m2, steps2, hyper, data, net, learner, task, stage1, stage2)}
    distilled = DistilledSet(parts.distilled.stage1, parts.distilled.stage2, metadata)
    if method == "meta":
        distilled = meta_refine(distilled, net, *data, learner=learner, steps=meta["meta_steps"],
                                lr=meta["meta_lr"], batch=meta["meta_batch"], seed=hyper["seed"],
                                progress=progress)
    draw = real.draw(hyper["restarts"], hyper["seed"])
    return DistillState(draw, stage1, stage2, W1, distilled)


def _metadata(method: str, matching: str, m1: int, m2: int, steps2: int, hyper: dict, data: Data,
              net: TwoLayerNet, learner: TwoStageLearner, task: Optional[MultiIndexTask], stage1: Restarts,
              stage2: Restarts) -> dict[str, Any]:
    """How a distilled set was made: every hyper-parameter, seed and loss (JSON-able)."""
    metadata: dict[str, Any] = {
        "method": "gm+kip" if method == "meta" else method,
        "matching": "trajectory" if method == "tm+kip" else matching, "m1": m1, "m2": m2,
        "steps1": hyper["steps"], "steps2": steps2, "lr": hyper["lr"], "restarts": hyper["restarts"],
        "seed": hyper["seed"], "n_real": data.X.shape[0],
        "theta0": {"d": net.d, "width": net.width, "seed": net.seed},
        "learner": learner.params(), "task": task.params() if task is not None else None,
        "stage1_matching_loss": stage1.best_loss,
        "stage1_restart_losses": stage1.losses,
        # The threshold is on the cosine loss; the T = 1 trajectory loss equals it (up to dead
        # neurons), and for T > 1 no threshold is calibrated.
        "stage1_failed": bool(matching == "cos" and (method != "tm+kip" or learner.stage1_steps == 1)
                              and stage1.best_loss > FAILED_MATCHING_LOSS),
        "stage2_loss": stage2.best_loss,
        "stage2_restart_losses": stage2.losses,
        "dtype": str(net.dtype).replace("torch.", ""), "ddlib_version": __version__,
    }
    if method == "tm+kip":
        metadata["tm_steps"] = learner.stage1_steps
    return metadata


def _check_net_learner(net: TwoLayerNet, learner: Optional[TwoStageLearner]) -> tuple[TwoLayerNet, TwoStageLearner]:
    return detached_net(net), check_learner(TwoStageLearner() if learner is None else learner)


def _check_real(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, min_n: int) -> Data:
    """The real data, checked (not all labels 0), detached and moved to the network's dtype and device."""
    data = Data(*net.check_data("real data (X, y)", (X, y), min_n=min_n))
    check_labels("real", data.y, why=_ZERO_LABELS)
    return data


def _real_gradient(net: TwoLayerNet, data: Data, learner: TwoStageLearner) -> torch.Tensor:
    """G_D, the real data's stage-1 gradient at theta0, or a ValueError when it overflows."""
    G_D = stage1_gradient(net.W, net.a, net.b, *data, learner.chunk_size)
    require_finite(lambda: f"the real data's stage-1 gradient at theta0 is not finite: the data's scale (max |X| = "
                           f"{peak(data.X):.3g}, max |y| = {peak(data.y):.3g}) overflows {net.dtype}", G_D)
    return G_D


def _check_hyper(*, steps: int, lr: float, restarts: int, seed: int, matching: str,
                 steps_name: str = "steps1") -> dict:
    check_choice("matching", matching, MATCHING_LOSSES)
    return {"steps": check_int(steps_name, steps, min_value=0),
            "lr": check_float("lr", lr, strictly_positive=True),
            "restarts": check_int("restarts", restarts, min_value=1),
            "seed": check_seed("seed", seed), "matching": matching}


def _resolve_learner(learner: Optional[TwoStageLearner], method: str,
                     tm_steps: Optional[int]) -> Optional[TwoStageLearner]:
    """The learner being distilled; ``tm_steps`` sets its T for "tm+kip" (and nowhere else)."""
    if tm_steps is None:
        return learner
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
