"""Experiments behind the notebooks (the book layer): one module per claim, each with its profiles
("smoke" / "book" / "paper") and functions that return tidy pandas tables.

Importing this package registers the book's point functions with the sweep's registry as built-in
experiments, so that grid files can name them (``learner_point``, ``memory_point``,
``stage1_curve_point``); the sweep itself knows nothing of the book.
"""
from ..sweep import register_experiment
from .learner import learner_point
from .memory_search import memory_point, stage1_curve_point
from .parameters import PROFILE_NAMES, resolve_parameters

register_experiment({"learner_point": learner_point, "memory_point": memory_point,
                     "stage1_curve_point": stage1_curve_point}, builtin=True)

__all__ = ["PROFILE_NAMES", "resolve_parameters"]
