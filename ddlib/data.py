"""``Data``: a labelled point set (X, y), the one type every stage, learner and baseline passes."""
from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["Data"]


class Data(NamedTuple):
    """Points and labels: ``X`` of shape (n, d) and ``y`` of shape (n,).

    A plain tuple (``X, y = data`` works, and any ``(X, y)`` tuple is accepted wherever a
    ``Data`` is expected); the names only make the order explicit.
    """

    X: torch.Tensor
    y: torch.Tensor
