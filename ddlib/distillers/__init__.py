"""Distillers: algorithms that turn real data into a DistilledSet for the two-stage learner.

Every stage has one shape, ``stage(net, <real-data summary>, restarts, *, hyper) -> restarts``
(``restarts.Restarts``: K candidate sets, where they started, where they are, their losses); the
initial points of every restart are drawn once (``restarts.InitialDraw``) and ``distill`` is a
composition of stages (``pipeline``, through ``ddlib.methods.compose``, where every stage is a
registered method).  Beside it: moment matching for stage 1 (the distribution-matching analogue,
``moment_matching``; composed by ``ddlib.methods.distill_moments``) and the closed-form label
solve for stage 2 (``label_solve``)."""
from .distilled_set import DistilledSet
from .gradient_matching import cosine_matching_loss, frobenius_matching_loss, match_gradients
from .label_solve import optimal_labels, solve_labels
from .meta import meta_finetune, meta_loss, meta_refine
from .moment_matching import match_moments, moment_matching_loss
from .performance_matching import kip_loss, match_performance
from .pipeline import (FAILED_MATCHING_LOSS, META_DEFAULTS, METHODS, DistillState, distill, distill_stage1,
                       distill_state)
from .restarts import InitialDraw, Restarts
from .trajectory import expert_trajectory, match_trajectories, trajectory_matching_loss

# The public stages and losses; their closed-form gradients and helpers stay in their modules
# (``ddlib.distillers.gradient_matching.matching_value_and_grad``, ...).
__all__ = [
    "DistilledSet", "distill", "distill_state", "distill_stage1", "DistillState", "METHODS", "META_DEFAULTS",
    "FAILED_MATCHING_LOSS", "InitialDraw", "Restarts",
    "match_gradients", "cosine_matching_loss", "frobenius_matching_loss",
    "match_performance", "kip_loss",
    "match_trajectories", "expert_trajectory", "trajectory_matching_loss",
    "meta_refine", "meta_finetune", "meta_loss",
    "match_moments", "moment_matching_loss",
    "solve_labels", "optimal_labels",
]
