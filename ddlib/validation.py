"""Boundary checks: every public entry point validates its arguments here, so a bad value
raises a ValueError/TypeError that names the parameter, the expected range and the value
received -- never a shape error from deep inside torch -- and a result that is not finite is
an error that names its cause, never a NaN handed back.

The rules every entry point follows (one path, whatever the call route):

- Floating dtypes only: ``torch.float32`` and ``torch.float64`` (``FLOAT_DTYPES``).  A ``dtype``
  argument or a tensor of any other dtype (a string, float16, bfloat16, an integer, bool or
  complex dtype) is a TypeError listing the choices.
- Tensors live on a real device: a ``meta`` tensor (shape only, no values) is a ValueError.
- Tensors are finite: NaN or inf in an input is a ValueError naming the tensor.
- dtype and device: a tensor given to a network, a learner or a distiller is converted
  explicitly (``Tensor.to``) to the network's dtype and device; the result is in the network's.
- Autograd: entry points that return data, trained networks or numbers (``fit``, ``distill``,
  the stages, baselines, metrics) detach their tensor inputs -- nothing flows back through them
  and nothing they return requires grad; the differentiable building blocks (a network's
  forward pass, ``stage1_gradient``, ``ridge_solve``, ``TwoStageLearner.stage1``/``stage2``,
  ``student_trajectory``, the matching losses) keep the graph.
"""
from __future__ import annotations

import math
import numbers
import reprlib
from typing import Any, Callable, Iterable

import torch

__all__ = [
    "FLOAT_DTYPES",
    "one_line",
    "short_repr",
    "check_int",
    "check_float",
    "check_choice",
    "check_dtype",
    "check_device",
    "check_tensor",
    "check_data",
    "check_labels",
    "require_finite",
    "peak",
]

FLOAT_DTYPES = (torch.float32, torch.float64)
_DTYPE_CHOICES = "torch.float32, torch.float64"
REPR_LIMIT = 100  # characters of a received value quoted in a message


def one_line(text: object, limit: int = REPR_LIMIT) -> str:
    """``text`` on one line -- its lines joined by " | ", whitespace runs collapsed -- cut to at most
    ``limit`` characters, so an error message stays one short line."""
    text = " | ".join(" ".join(part.split()) for part in str(text).splitlines() if part.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxtuple, _repr.maxdict = 3, 8, 8, 6
_repr.maxset = _repr.maxfrozenset = _repr.maxdeque = _repr.maxarray = 8
_repr.maxstring, _repr.maxlong, _repr.maxother = 120, 60, 80


def short_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    """``repr(value)`` on one line, cut to at most ``limit`` characters, computed without building the
    full repr (an alias bomb or a 50 MB string costs no more than a small value; a broken
    ``__repr__`` names the type only), so a message stays short and cannot hide the real error."""
    try:
        text = repr(value[: limit + 1]) if isinstance(value, str) else _repr.repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_int(name: str, value: Any, *, min_value: int | None = None,
              max_value: int | None = None, even: bool = False) -> int:
    """Return ``value`` as an int, or raise naming ``name`` and the allowed range."""
    # numbers.Integral admits numpy integers; a float is accepted only if it is integral (1e4).
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) and not (
        isinstance(value, float) and value.is_integer()
    ):
        raise TypeError(f"{name} must be an integer, got {short_repr(value)} ({type(value).__name__})")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {short_repr(value)}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {short_repr(value)}")
    if even and value % 2:
        raise ValueError(f"{name} must be even (the symmetric init duplicates rows), got {short_repr(value)}")
    return value


def check_float(name: str, value: Any, *, min_value: float | None = None,
                max_value: float | None = None, strictly_positive: bool = False) -> float:
    """Return ``value`` as a finite float, or raise naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy scalars too
        raise TypeError(f"{name} must be a number, got {short_repr(value)} ({type(value).__name__})")
    try:
        value = float(value)
    except OverflowError:  # an int beyond the float range (10**400)
        raise ValueError(f"{name} must be finite, got {short_repr(value)} (beyond the float range)") from None
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
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {short_repr(value)}")
    return value


def check_dtype(name: str, value: Any) -> torch.dtype:
    """Return ``value`` if it is ``torch.float32`` or ``torch.float64``, else a TypeError listing them."""
    if not isinstance(value, torch.dtype) or value not in FLOAT_DTYPES:
        kind = "" if isinstance(value, torch.dtype) else f" ({type(value).__name__})"
        raise TypeError(f"{name} must be one of {_DTYPE_CHOICES}, got {short_repr(value)}{kind}")
    return value


def check_device(name: str, value: Any) -> torch.device:
    """Return ``value`` as a ``torch.device`` that holds data here: not ``meta``, and available."""
    if not isinstance(value, (str, torch.device)):
        raise TypeError(f"{name} must be a device name or torch.device (e.g. 'cpu'), got "
                        f"{short_repr(value)} ({type(value).__name__})")
    try:
        device = torch.device(value)
    except RuntimeError:
        raise ValueError(f"{name} must be a device such as 'cpu' or 'cuda', got {short_repr(value)}") from None
    if device.type == "meta":
        raise ValueError(f"{name} must be a device that holds values, not 'meta' (shapes only), got {device}")
    try:
        torch.empty(0, device=device)
    except Exception:  # torch raises RuntimeError, AssertionError or NotImplementedError here
        raise ValueError(f"{name}={str(device)!r} is not available on this machine") from None
    return device


def check_tensor(name: str, value: Any, *, ndim: int | None = None) -> torch.Tensor:
    """Return ``value`` if it is a dense, real tensor of a floating dtype in ``FLOAT_DTYPES``, on a
    device with values (not ``meta``), of ``ndim`` dimensions (when given) and finite."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {short_repr(value)} ({type(value).__name__})")
    if value.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be floating point, one of {_DTYPE_CHOICES}, got {value.dtype}")
    if value.layout != torch.strided:
        raise TypeError(f"{name} must be a dense tensor, got layout {value.layout}")
    if value.is_meta:
        raise ValueError(f"{name} is a 'meta' tensor (a shape without values): put it on a real device")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains non-finite values (NaN or inf)")
    return value


def check_data(name: str, data: Any, *, d: int | None = None, min_n: int = 1,
               detach: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a dataset ``(X, y)``: X is (n, d), y is (n,), both float32/float64 on one real
    device and finite, n >= ``min_n``.  With ``detach`` (entry points that are not differentiated)
    a tensor that requires grad comes back detached; the tensors are returned as given otherwise."""
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
    check_tensor(f"{name}: X", X)
    check_tensor(f"{name}: y", y)
    if X.device != y.device:
        raise ValueError(f"{name}: X and y must be on one device, got {X.device} and {y.device}")
    if detach:
        X, y = (t.detach() if t.requires_grad else t for t in (X, y))
    return X, y


def check_labels(name: str, y: torch.Tensor, *, why: str, constant: bool = False) -> None:
    """Raise a ValueError saying ``why`` it matters when every label in ``y`` is 0 (or, with
    ``constant``, when they are all equal): degenerate labels that leave a normaliser at zero."""
    if y.numel() and not bool(y.any()):
        raise ValueError(f"degenerate labels: all {name} labels are 0, so {why}")
    if constant and y.numel() and bool((y == y.reshape(-1)[0]).all()):
        raise ValueError(f"degenerate labels: all {name} labels are equal (constant y = "
                         f"{float(y.reshape(-1)[0]):.6g}), so {why}")


def require_finite(message: str | Callable[[], str], *values: torch.Tensor | float) -> None:
    """Raise ``ValueError(message)`` unless every tensor or number in ``values`` is finite: the
    check every entry point runs on what it is about to return.  ``message`` may be a callable,
    called only on failure (when building it costs something)."""
    for v in values:
        ok = bool(torch.isfinite(v).all()) if isinstance(v, torch.Tensor) else math.isfinite(v)
        if not ok:
            raise ValueError(message() if callable(message) else message)


def peak(t: torch.Tensor) -> float:
    """``max |t|`` as a float (0 for an empty tensor): the scale quoted in overflow messages."""
    return float(t.detach().abs().max()) if t.numel() else 0.0
