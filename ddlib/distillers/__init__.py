"""Distillers: algorithms that turn real data into a DistilledSet for the two-stage learner."""
from .distilled_set import DistilledSet
from .gradient_matching import cosine_matching_loss, frobenius_matching_loss, match_gradients
from .meta import meta_finetune, meta_loss, meta_refine, real_loss
from .performance_matching import kip_loss, match_performance
from .pipeline import (FAILED_MATCHING_LOSS, META_DEFAULTS, METHODS, Stage1Result, distill, distill_stage1,
                       initial_points)
from .trajectory import (cosine_equivalent_loss, expert_trajectory, match_trajectories, student_trajectory,
                         trajectory_matching_loss)

__all__ = [
    "DistilledSet", "distill", "distill_stage1", "Stage1Result", "METHODS", "META_DEFAULTS", "FAILED_MATCHING_LOSS", "initial_points",
    "cosine_matching_loss", "frobenius_matching_loss", "match_gradients",
    "kip_loss", "match_performance",
    "expert_trajectory", "student_trajectory", "trajectory_matching_loss", "cosine_equivalent_loss",
    "match_trajectories",
    "meta_loss", "real_loss", "meta_finetune", "meta_refine",
]
