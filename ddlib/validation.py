"""Boundary checks: every public entry point validates its arguments here, so a bad value
raises a ValueError/TypeError that names the parameter, the expected range and the value
received -- never a shape error from deep inside torch."""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

import torch

__all__ = [
    "check_int",
    "check_float",
    "check_choice",
    "check_data",
]


def check_int(name: str, value: Any, *, min_value: int | None = None,
              max_value: int | None = None, even: bool = False) -> int:
    """Return ``value`` as an int, or raise naming ``name`` and the allowed range."""
    # numbers.Integral admits numpy integers; a float is accepted only if it is integral (1e4).
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) and not (
        isinstance(value, float) and value.is_integer()
    ):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    if even and value % 2:
        raise ValueError(f"{name} must be even (the symmetric init duplicates rows), got {value}")
    return value


def check_float(name: str, value: Any, *, min_value: float | None = None,
                max_value: float | None = None, strictly_positive: bool = False) -> float:
    """Return ``value`` as a finite float, or raise naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy scalars too
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if strictly_positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing the valid ones."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_data(name: str, data: Any, *, d: int | None = None, min_n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a dataset ``(X, y)``: X is (n, d), y is (n,), both finite, n >= ``min_n``."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a tuple (X, y), got {type(data).__name__}")
    X, y = data
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"{name}: X and y must be torch tensors, got "
                        f"{type(X).__name__} and {type(y).__name__}")
    if X.ndim != 2:
        raise ValueError(f"{name}: X must be 2-D (n, d), got shape {tuple(X.shape)}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: y must be 1-D with one label per row of X ({X.shape[0]}), "
                         f"got shape {tuple(y.shape)}")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"{name}: X has dimension {X.shape[1]} but the network expects d={d}")
    if X.shape[0] < min_n:
        raise ValueError(f"{name}: needs at least {min_n} points, got n={X.shape[0]}")
    if not X.is_floating_point() or not y.is_floating_point():
        raise TypeError(f"{name}: X and y must be floating point, got {X.dtype} and {y.dtype}")
    if not bool(torch.isfinite(X).all()):
        raise ValueError(f"{name}: X contains non-finite values (NaN or inf)")
    if not bool(torch.isfinite(y).all()):
        raise ValueError(f"{name}: y contains non-finite values (NaN or inf)")
    return X, y
