"""Committed results kept current by behaviour: a few cheap *sentinel* computations are stored with
the data, and the data are current when today's code recomputes every sentinel bit for bit.

A hash of the source would mark the data stale at every refactor that moves code without changing
a number (and miss a change in a dependency it does not read); recomputing a sentinel asks the
question that matters -- does this code still produce these numbers?  The sentinels are the
cheapest computations of each part of the data (one point of each line of a grid, one repetition
of each calibration record), so checking them costs seconds, not the hours of a regeneration.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

__all__ = ["SentinelCheck", "first_difference", "recompute"]


@dataclass(frozen=True)
class SentinelCheck:
    """One sentinel recomputed: ``current`` when every stored value came back bit for bit."""

    name: str
    current: bool
    detail: str
    wall_time_s: float

    def line(self) -> str:
        return f"{self.name}: {'current' if self.current else 'STALE'} ({self.detail}, {self.wall_time_s:.1f} s)"


def _text(value: Any) -> str:
    """A value as canonical JSON: floats by their shortest round-trip repr, so equal text is equal bits."""
    return json.dumps(value, sort_keys=True, default=float)


def first_difference(expected: Mapping[str, Any], got: Mapping[str, Any]) -> str | None:
    """The first key whose value differs (exactly: floats bit for bit), or None when equal."""
    for key in sorted(set(expected) | set(got), key=str):
        if key not in got:
            return f"{key!r} missing from the recomputation"
        if key not in expected:
            return f"{key!r} not in the stored result"
        if _text(expected[key]) != _text(got[key]):
            return f"{key!r}: stored {str(expected[key])[:60]}, recomputed {str(got[key])[:60]}"
    return None


def recompute(name: str, compute: Callable[[], Mapping[str, Any]], expected: Mapping[str, Any]) -> SentinelCheck:
    """Run ``compute`` on one thread (as the stored results were made) and compare with ``expected``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        got = dict(compute())
    finally:
        torch.set_num_threads(threads)
    diff = first_difference(dict(expected), got)
    return SentinelCheck(name, diff is None, diff or "identical", time.perf_counter() - start)
