"""Baselines for distillation: random real subsets of the same size (coresets go here too)."""
from __future__ import annotations

import torch

from .validation import check_data, check_int

__all__ = ["random_subset"]


def random_subset(X: torch.Tensor, y: torch.Tensor, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """m real points drawn without replacement (seeded)."""
    m = check_int("m", m, min_value=1)
    X, y = check_data("(X, y)", (X, y), min_n=m)
    gen = torch.Generator()
    gen.manual_seed(check_int("seed", seed))
    idx = torch.randperm(X.shape[0], generator=gen)[:m].to(X.device)
    return X[idx], y[idx]
