"""What runs inside a sweep worker: import the point function by name, run one point with
one torch thread, check its result, and return it or its traceback (never raise)."""
from __future__ import annotations

import math
import os
import threading
import time
import traceback
from typing import Any

from .grid import SCALAR_TYPES
from .registry import resolve_experiment

__all__ = ["run_point", "init_pool_worker"]


def _to_scalar(value: Any) -> Any:
    if isinstance(value, SCALAR_TYPES):
        return value
    item = getattr(value, "item", None)  # numpy / torch 0-d scalars, converted exactly
    if callable(item) and getattr(value, "ndim", None) == 0:
        out = item()
        if isinstance(out, SCALAR_TYPES):
            return out
    raise TypeError(f"got {value!r} ({type(value).__name__})")


def check_result(result: Any, point: dict) -> dict:
    """The point function's result as a flat dict of JSON scalars, or a TypeError/ValueError."""
    if not isinstance(result, dict):
        raise TypeError(f"the point function must return a dict of scalars, got {type(result).__name__}")
    out = {}
    for key, value in result.items():
        if not isinstance(key, str):
            raise TypeError(f"result keys must be strings, got {key!r}")
        if key in point:
            raise ValueError(f"result key {key!r} clashes with a parameter of the point; rename it")
        try:
            out[key] = _to_scalar(value)
        except TypeError as exc:
            raise TypeError(f"result[{key!r}] must be a scalar (bool, int, float, str, None), {exc}") from None
        if isinstance(out[key], float) and math.isinf(out[key]):
            raise ValueError(f"result[{key!r}] is infinite; JSON cannot hold it (return None or NaN)")
    return out


def run_point(experiment: str, point: dict) -> dict:
    """Run ``experiment(**point)`` with one torch thread.

    Returns:
        ``{"ok": True, "result": {...}, "wall_time_s": t}`` or ``{"ok": False, "error": traceback}``.
    """
    import torch

    torch.set_num_threads(1)  # the same arithmetic on every backend and worker count
    start = time.perf_counter()
    try:
        fn = resolve_experiment(experiment)
        result = check_result(fn(**point), point)
    except Exception:
        return {"ok": False, "error": traceback.format_exc()}
    return {"ok": True, "result": result, "wall_time_s": time.perf_counter() - start}


def _exit_when_orphaned(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # the sweep that started us is gone: stop, do not finish points nobody records
        time.sleep(0.2)


def init_pool_worker(parent_pid: int) -> None:
    """Initialiser of local-pool workers: one torch thread, and exit if the sweep dies."""
    import torch

    torch.set_num_threads(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
