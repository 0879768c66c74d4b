"""Effective data size: how many real points a distilled set is worth.

For a set whose learner reaches test error e, ``n_eq`` is the number of real points at which the
full-data learner reaches the same error.  It is read off the full-data learner's n-curve
(``learning_curve``: test error at a grid of n, one repetition's task, theta0 and data) by
log-log interpolation between the two grid points that bracket e (``effective_size``): the curve
is a power law between neighbouring points.  The first crossing counts (an n-curve measured with
noise may rise locally).  Outside the curve's range n_eq is undefined -- None, with the reason:
at or above the error at the smallest n (n_eq <= n_min, extend the grid down) or below the error
at every n (n_eq > n_max, extend it up).

Over repetitions (``effective_size_interval``) each repetition gets its own n_eq on its own
curve; the defined ones are summarised by their geometric mean with a t-interval on logarithms
(``ddlib.stats.geometric_interval``), beside how many fell below or above the range.  The
compression ``n_eq (d + 1) / memory`` is the real data's floats the set replaces per float it stores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from .stats import geometric_interval
from .learners import TwoStageLearner, check_learner
from .metrics import test_mse
from .networks import TwoLayerNet, check_net
from .stats import DEFAULT_LEVEL, Interval
from .tasks import MultiIndexTask, check_task
from .theory import MAX_COUNT
from .validation import check_float, check_int, require_finite, short_repr

__all__ = ["LearningCurve", "learning_curve", "EffectiveSize", "effective_size", "compression",
           "EffectiveSizeSummary", "effective_size_interval", "MAX_CURVE"]

MAX_CURVE = 256  # points an n-curve may hold


@dataclass(frozen=True)
class LearningCurve:
    """Test error of the full-data learner at each n (ascending, distinct n; errors > 0, finite)."""

    n: tuple[int, ...]
    test_mse: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.n, (tuple, list)) or not isinstance(self.test_mse, (tuple, list)):
            raise TypeError(f"LearningCurve: n and test_mse must be sequences, got {type(self.n).__name__} and "
                            f"{type(self.test_mse).__name__}")
        if not 2 <= len(self.n) <= MAX_CURVE or len(self.n) != len(self.test_mse):
            raise ValueError(f"LearningCurve: needs 2 to {MAX_CURVE} points, as many errors as sizes, got "
                             f"{len(self.n)} sizes and {len(self.test_mse)} errors")
        n = tuple(check_int(f"LearningCurve: n[{i}]", v, min_value=1, max_value=MAX_COUNT)
                  for i, v in enumerate(self.n))
        err = tuple(check_float(f"LearningCurve: test_mse[{i}]", v, strictly_positive=True)
                    for i, v in enumerate(self.test_mse))
        if any(b <= a for a, b in zip(n, n[1:])):
            raise ValueError(f"LearningCurve: n must be strictly increasing, got {short_repr(list(n))}")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "test_mse", err)


def learning_curve(net: TwoLayerNet, task: MultiIndexTask, n_grid: Sequence[int], *, data_seed: int,
                   test_seed: int, learner: Optional[TwoStageLearner] = None, n_test: int = 10_000) -> LearningCurve:
    """The full-data learner's test error at each n of ``n_grid``, trained on the first n points of
    one sample of max(n_grid) points (nested subsets: a smoother curve than independent draws).

    Args:
        net: theta0.
        task: the task.
        n_grid: increasing sizes, at least two.
        data_seed, test_seed: seeds of the training sample and of the test sample.
        learner: the learner (default ``TwoStageLearner()``).
        n_test: test points.
    """
    check_task(task, net_d=check_net(net).d)
    learner = check_learner(TwoStageLearner() if learner is None else learner)
    if isinstance(n_grid, (str, bytes)) or not isinstance(n_grid, Sequence):
        raise TypeError(f"n_grid must be a sequence of sizes, got {short_repr(n_grid)}")
    sizes = LearningCurve(tuple(n_grid), (1.0,) * len(n_grid)).n
    X, y = task.sample(sizes[-1], data_seed, dtype=net.dtype, device=net.device)
    errors = tuple(test_mse(learner.fit(net, (X[:n], y[:n])), task, n_test, seed=test_seed) for n in sizes)
    return LearningCurve(sizes, errors)


@dataclass(frozen=True)
class EffectiveSize:
    """``n_eq`` for one set on one curve, or None with the ``reason`` and the side of the range
    (``side``: "below" when n_eq <= n_min, "above" when n_eq > n_max, None when defined)."""

    error: float
    n_eq: Optional[float]
    reason: Optional[str]
    side: Optional[str]


def effective_size(error: float, curve: LearningCurve) -> EffectiveSize:
    """The n at which the curve first reaches ``error``, by log-log interpolation (see the module)."""
    error = check_float("error", error, strictly_positive=True)
    if not isinstance(curve, LearningCurve):
        raise TypeError(f"curve must be a LearningCurve, got {type(curve).__name__}")
    n, e = curve.n, curve.test_mse
    if error >= e[0]:
        if error == e[0]:
            return EffectiveSize(error, float(n[0]), None, None)
        return EffectiveSize(error, None, f"the error {error:.4g} is above the full-data learner's at the smallest "
                                          f"size n={n[0]} ({e[0]:.4g}): n_eq < {n[0]} (extend the grid down)", "below")
    k = next((k for k in range(1, len(n)) if e[k] <= error), None)
    if k is None:
        return EffectiveSize(error, None, f"the error {error:.4g} is below the full-data learner's at every size "
                                          f"(lowest {min(e):.4g}): n_eq > {n[-1]} (extend the grid up)", "above")
    t = (math.log(e[k - 1]) - math.log(error)) / (math.log(e[k - 1]) - math.log(e[k]))
    return EffectiveSize(error, math.exp(math.log(n[k - 1]) + t * (math.log(n[k]) - math.log(n[k - 1]))), None, None)


def compression(n_eq: float, d: int, memory_floats: int) -> float:
    """``n_eq (d + 1) / memory``: floats of real data a set replaces per float it stores."""
    n_eq = check_float("n_eq", n_eq, strictly_positive=True)
    d = check_int("d", d, min_value=1, max_value=MAX_COUNT)
    memory_floats = check_int("memory_floats", memory_floats, min_value=1, max_value=MAX_COUNT)
    ratio = n_eq * (d + 1) / memory_floats
    require_finite(f"compression overflows: n_eq={n_eq!r} is too large", ratio)
    return ratio


@dataclass(frozen=True)
class EffectiveSizeSummary:
    """n_eq over repetitions.

    Attributes:
        per_repetition: each repetition's ``EffectiveSize``.
        n_eq: geometric mean and interval of the defined ones (None when none is defined).
        compression: the same for ``n_eq (d + 1) / memory``.
        below, above: repetitions whose n_eq fell below / above the curve's range.
    """

    per_repetition: tuple[EffectiveSize, ...]
    n_eq: Optional[Interval]
    compression: Optional[Interval]
    below: int
    above: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (intervals as dicts, undefined values as None)."""
        return {"n_eq": None if self.n_eq is None else self.n_eq.as_dict(),
                "compression": None if self.compression is None else self.compression.as_dict(),
                "below": self.below, "above": self.above,
                "per_repetition": [{"error": r.error, "n_eq": r.n_eq, "reason": r.reason} for r in self.per_repetition]}


def effective_size_interval(errors: Sequence[float], curves: Sequence[LearningCurve], *, d: int,
                            memory_floats: int, level: float = DEFAULT_LEVEL) -> EffectiveSizeSummary:
    """n_eq per repetition (error k on curve k), then its geometric mean with a t-interval on logs.

    Args:
        errors: the set's test error in each repetition.
        curves: the full-data learner's n-curve in the same repetitions.
        d, memory_floats: for the compression n_eq (d + 1) / memory.
        level: confidence level.
    """
    if isinstance(errors, (str, bytes)) or not isinstance(errors, Sequence) or not isinstance(curves, Sequence):
        raise TypeError("errors and curves must be sequences (one entry per repetition)")
    if not errors or len(errors) != len(curves):
        raise ValueError(f"errors and curves must be non-empty and of one length, got {len(errors)} and {len(curves)}")
    d = check_int("d", d, min_value=1, max_value=MAX_COUNT)
    memory_floats = check_int("memory_floats", memory_floats, min_value=1, max_value=MAX_COUNT)
    reps = tuple(effective_size(e, c) for e, c in zip(errors, curves))
    defined = [r.n_eq for r in reps if r.n_eq is not None]
    n_eq = geometric_interval(defined, level) if defined else None
    comp = geometric_interval([compression(v, d, memory_floats) for v in defined], level) if defined else None
    return EffectiveSizeSummary(reps, n_eq, comp, sum(r.side == "below" for r in reps),
                                sum(r.side == "above" for r in reps))
