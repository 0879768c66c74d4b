"""Distillers: algorithms that turn real data into a DistilledSet for the two-stage learner."""
from .distilled_set import DistilledSet
from .gradient_matching import cosine_matching_loss, frobenius_matching_loss, match_gradients
from .performance_matching import kip_loss, match_performance
from .pipeline import FAILED_MATCHING_LOSS, METHODS, distill, initial_points

__all__ = [
    "DistilledSet", "distill", "METHODS", "FAILED_MATCHING_LOSS", "initial_points",
    "cosine_matching_loss", "frobenius_matching_loss", "match_gradients",
    "kip_loss", "match_performance",
]
