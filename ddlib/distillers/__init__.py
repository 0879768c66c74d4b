"""Distillers: algorithms that turn real data into a DistilledSet for the two-stage learner.

Every stage has one shape, ``stage(net, <real-data summary>, restarts, *, hyper) -> restarts``
(``restarts.Restarts``: K candidate sets, where they started, where they are, their losses); the
initial points of every restart are drawn once (``restarts.InitialDraw``) and ``distill`` is a
short composition of stages (``pipeline``).  Beside it: moment matching for stage 1 (the
distribution-matching analogue, ``moment_matching.distill_moments``) and the closed-form label
solve for stage 2 (``label_solve``)."""
from .distilled_set import DistilledSet
from .gradient_matching import (MATCHING_LOSSES, cosine_matching_loss, frobenius_matching_loss, match_gradients,
                                matching_value_and_grad)
from .label_solve import label_map, optimal_labels, solve_labels
from .meta import meta_finetune, meta_loss, meta_refine, real_loss
from .moment_matching import distill_moments, match_moments, moment_matching_loss, moment_value_and_grad
from .performance_matching import kip_loss, kip_value_and_grad, match_performance
from .pipeline import (FAILED_MATCHING_LOSS, META_DEFAULTS, METHODS, DistillState, distill, distill_stage1,
                       distill_state)
from .restarts import InitialDraw, Restarts
from .trajectory import (cosine_equivalent_loss, expert_trajectory, match_trajectories, student_trajectory,
                         trajectory_matching_loss)

__all__ = [
    "DistilledSet", "distill", "distill_state", "distill_stage1", "DistillState", "METHODS", "META_DEFAULTS",
    "FAILED_MATCHING_LOSS", "InitialDraw", "Restarts",
    "cosine_matching_loss", "frobenius_matching_loss", "MATCHING_LOSSES", "matching_value_and_grad",
    "match_gradients",
    "kip_loss", "kip_value_and_grad", "match_performance",
    "expert_trajectory", "student_trajectory", "trajectory_matching_loss", "cosine_equivalent_loss",
    "match_trajectories",
    "meta_loss", "real_loss", "meta_finetune", "meta_refine",
    "moment_matching_loss", "moment_value_and_grad", "match_moments", "distill_moments",
    "label_map", "optimal_labels", "solve_labels",
]
