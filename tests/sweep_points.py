"""Tiny point functions for tests/test_sweep.py, imported by name in sweep worker processes
(the tests put this folder on PYTHONPATH / sys.path)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import torch


def _log(log: str | None, line: str) -> None:
    if log:
        with open(log, "a") as fh:  # one short O_APPEND write per line: no interleaving
            fh.write(line + "\n")


def torch_point(*, x: int, seed: int, log: str | None = None, sleep: float = 0.0, hold: str | None = None) -> dict:
    """A seeded float64 matrix computation; logs 'start'/'end' lines with its pid when ``log`` is
    set; with ``hold`` the point x=0, seed=0 waits until that file exists (to be killed mid-point)."""
    _log(log, f"start {x} {seed} {os.getpid()}")
    if hold and x == 0 and seed == 0:
        deadline = time.monotonic() + 120
        while not os.path.exists(hold):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{hold} never appeared")
            time.sleep(0.02)
    gen = torch.Generator()
    gen.manual_seed(1000 * seed + x)
    A = torch.randn(64, 64, generator=gen, dtype=torch.float64)
    value = float(torch.linalg.norm(A @ A.T @ A))
    if sleep:
        time.sleep(sleep)
    _log(log, f"end {x} {seed} {os.getpid()}")
    return {"value": value, "x_squared": x * x}


def raising_point(*, x: int, seed: int, log: str) -> dict:
    """Raises for x == 1 every time; returns x + seed otherwise."""
    _log(log, f"start {x} {seed} {os.getpid()}")
    if x == 1:
        raise ValueError(f"point x={x} always fails")
    return {"total": x + seed}


def crashing_point(*, mode: str, seed: int, marker_dir: str) -> dict:
    """Kills its own worker process: 'crash_always' every time, 'crash_once' on its first run."""
    marker = Path(marker_dir) / f"{mode}-{seed}"
    runs = marker.read_text().count("\n") if marker.exists() else 0
    with open(marker, "a") as fh:
        fh.write("run\n")
    if mode == "crash_always" or (mode == "crash_once" and runs == 0):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"runs_before": runs}
