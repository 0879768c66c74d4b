"""Experiments behind the notebooks: one module per claim, each with its profiles
("smoke" / "book" / "paper") and functions that return tidy pandas tables."""
from .parameters import PROFILE_NAMES, resolve_parameters

__all__ = ["PROFILE_NAMES", "resolve_parameters"]
