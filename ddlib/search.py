"""The smallest size at which a monotone predicate succeeds: doubling to bracket it, then
bisection -- the search behind every "smallest set that reaches a target" of the book."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from .validation import check_int

__all__ = ["SearchResult", "minimal_size"]


@dataclass
class SearchResult:
    """The smallest size found to succeed (None if none up to ``max_size``) and every probe made."""

    size: Optional[int]
    probes: dict[int, bool] = field(default_factory=dict)

    @property
    def n_probes(self) -> int:
        return len(self.probes)


def minimal_size(succeeds: Callable[[int], bool], *, max_size: int, start: int = 1) -> SearchResult:
    """Smallest integer m in [start, max_size] with ``succeeds(m)``, for a monotone predicate.

    Doubling from ``start`` brackets the answer (a failing m, a succeeding 2m), then bisection on
    the integers narrows the bracket to one: about 2 log2(m*) probes, each size probed at most
    once.  For a predicate that is not monotone, the result is a size that succeeds whose
    predecessor was probed and failed (or ``start``).

    Args:
        succeeds: the success predicate (e.g. test MSE <= target at size m).
        max_size: the largest size tried; the last doubling step is clipped to it.
        start: the smallest size tried.

    Returns:
        SearchResult with ``size`` (None when even ``max_size`` fails) and ``probes`` {m: success}.
    """
    start = check_int("start", start, min_value=1)
    max_size = check_int("max_size", max_size, min_value=start)
    probes: dict[int, bool] = {}

    def probe(m: int) -> bool:
        if m not in probes:
            probes[m] = bool(succeeds(m))
        return probes[m]

    lo, hi = start - 1, start  # invariant: lo fails (or is below start), hi is the next candidate
    while not probe(hi):
        if hi >= max_size:
            return SearchResult(None, probes)
        lo, hi = hi, min(2 * hi, max_size)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid):
            hi = mid
        else:
            lo = mid
    return SearchResult(hi, probes)


# ----------------------------------------------------------------------------------------------
# One grid point: m1*, m2* and memory for one repetition
# ----------------------------------------------------------------------------------------------
