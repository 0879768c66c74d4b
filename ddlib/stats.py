"""Confidence intervals over repetitions: the t-interval of a mean (the default, for a handful of
independent seeds) and the percentile bootstrap (for statistics with no simple standard error,
such as a fitted slope).  A result is never a bare number: it comes with its interval and the
number of repetitions behind it."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from .validation import check_float, check_int

__all__ = ["Interval", "mean_interval", "geometric_mean", "geometric_interval", "bootstrap_interval", "DEFAULT_LEVEL"]

DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided confidence interval.

    Attributes:
        estimate: the point estimate (e.g. the mean over repetitions).
        lo, hi: the interval's ends (NaN when it cannot be formed, e.g. one repetition).
        n: number of repetitions behind it.
        level: confidence level.
        method: "t" (Student t on the mean) or "bootstrap" (percentile bootstrap).
    """

    estimate: float
    lo: float
    hi: float
    n: int
    level: float
    method: str

    @property
    def defined(self) -> bool:
        """Both ends are finite numbers."""
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    def as_dict(self) -> dict:
        """JSON-ready (NaN ends become None)."""
        out = asdict(self)
        for key in ("estimate", "lo", "hi"):
            if not math.isfinite(out[key]):
                out[key] = None
        return out

    def format(self, spec: str = ".3g") -> str:
        """``"0.0251 [0.0232, 0.0270]"`` (``"0.0251 [n=1: no interval]"`` when undefined)."""
        if not self.defined:
            return f"{self.estimate:{spec}} [n={self.n}: no interval]"
        return f"{self.estimate:{spec}} [{self.lo:{spec}}, {self.hi:{spec}}]"


def _values(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray([float(v) for v in values], dtype=float)
    if arr.size == 0:
        raise ValueError("an interval needs at least one value, got none")
    if not np.isfinite(arr).all():
        raise ValueError(f"an interval needs finite values, got {arr.tolist()[:10]}")
    return arr


def mean_interval(values: Sequence[float], level: float = DEFAULT_LEVEL) -> Interval:
    """The mean of ``values`` with its Student-t interval (independent repetitions).

    With one value the interval is undefined (NaN ends): one seed cannot say how much another
    would differ.  Identical values give a zero-width interval.
    """
    from scipy import stats

    level = check_float("level", level, min_value=0.5, max_value=0.9999)
    arr = _values(values)
    mean = float(arr.mean())
    if arr.size < 2:
        return Interval(mean, math.nan, math.nan, 1, level, "t")
    half = float(stats.t.ppf(0.5 + level / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return Interval(mean, mean - half, mean + half, int(arr.size), level, "t")


def geometric_mean(values: Sequence[float]) -> float:
    """exp(mean(log values)) of positive values (NaN for none): the mean of errors and their ratios,
    which spread multiplicatively across seeds."""
    arr = np.asarray([float(v) for v in values], dtype=float)
    return float(np.exp(np.log(arr).mean())) if arr.size else float("nan")


def geometric_interval(values: Sequence[float], level: float = DEFAULT_LEVEL) -> Interval:
    """The geometric mean of positive per-repetition values (ratios, errors) with its interval:
    a t-interval on their logs, exponentiated -- errors and their ratios spread multiplicatively
    across seeds, so this is the natural mean for them."""
    arr = np.asarray([float(v) for v in values], dtype=float)
    if arr.size and (arr <= 0).any():
        raise ValueError(f"a geometric mean needs positive values, got {arr.tolist()[:10]}")
    log = mean_interval(np.log(arr).tolist(), level)
    hi_lo = (math.exp(log.lo), math.exp(log.hi)) if log.defined else (math.nan, math.nan)
    return Interval(math.exp(log.estimate), *hi_lo, log.n, level, "t on logs")


def bootstrap_interval(values: Sequence[float], statistic: Callable[[np.ndarray], float] = np.mean, *,
                       level: float = DEFAULT_LEVEL, n_boot: int = 2000, seed: int = 0) -> Interval:
    """``statistic(values)`` with a percentile-bootstrap interval (resampling the values).

    Args:
        values: one number per repetition.
        statistic: maps an array of values to a number.
        level: confidence level.
        n_boot: bootstrap resamples.
        seed: seed of the resampling (recorded with the result by the caller).
    """
    level = check_float("level", level, min_value=0.5, max_value=0.9999)
    n_boot = check_int("n_boot", n_boot, min_value=1)
    arr = _values(values)
    estimate = float(statistic(arr))
    if arr.size < 2:
        return Interval(estimate, math.nan, math.nan, 1, level, "bootstrap")
    rng = np.random.default_rng(check_int("seed", seed, min_value=0))
    boots = np.array([statistic(arr[rng.integers(0, arr.size, arr.size)]) for _ in range(n_boot)])
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return Interval(estimate, float(lo), float(hi), int(arr.size), level, "bootstrap")
