"""The smallest size at which a monotone predicate succeeds: doubling to bracket it, then
bisection -- the search behind every "smallest set that reaches a target" of the book -- or, given
a guess of the answer, galloping out from the guess, which needs two probes when the guess is right."""
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


def minimal_size(succeeds: Callable[[int], bool], *, max_size: int, start: int = 1,
                 guess: Optional[int] = None) -> SearchResult:
    """Smallest integer m in [start, max_size] with ``succeeds(m)``, for a monotone predicate.

    Without ``guess``: doubling from ``start`` brackets the answer (a failing m, a succeeding 2m),
    then bisection on the integers narrows the bracket to one: about 2 log2(m*) probes.  With
    ``guess`` (clipped to [start, max_size]): the guess is probed first, then sizes at distance
    1, 2, 4, ... below it (it succeeded) or above it (it failed) until the answer is bracketed, then
    bisection: two probes when the guess is right, about 2 log2|m* - guess| more otherwise.  The
    guess changes which sizes are probed, never the answer of a monotone predicate.  Each size is
    probed at most once.  For a predicate that is not monotone, the result is a size that succeeds
    whose predecessor was probed and failed (or ``start``).

    Args:
        succeeds: the success predicate (e.g. test MSE <= target at size m).
        max_size: the largest size tried; the last doubling step is clipped to it.
        start: the smallest size tried.
        guess: where to start looking (None: doubling from ``start``).

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

    if guess is None:
        lo, hi = start - 1, start  # invariant: lo fails (or is below start), hi is the next candidate
        while not probe(hi):
            if hi >= max_size:
                return SearchResult(None, probes)
            lo, hi = hi, min(2 * hi, max_size)
    else:
        g = min(max(check_int("guess", guess), start), max_size)
        step = 1
        if probe(g):  # walk down until a size fails (or start succeeds)
            lo, hi = start - 1, g
            while hi > start:
                below = max(hi - step, start)
                if not probe(below):
                    lo = below
                    break
                hi, step = below, 2 * step
        else:  # walk up until a size succeeds (or max_size fails)
            lo = g
            while True:
                if lo >= max_size:
                    return SearchResult(None, probes)
                above = min(lo + step, max_size)
                if probe(above):
                    hi = above
                    break
                lo, step = above, 2 * step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid):
            hi = mid
        else:
            lo = mid
    return SearchResult(hi, probes)
