"""``run_sweep``: map a point function over a grid, skipping points already stored, retrying
failures a bounded number of times, and gathering every result into one tidy table."""
from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..validation import check_choice, check_int
from .backends import BACKENDS, run_dask, run_inline, run_local
from .grid import Grid
from .store import ResultStore, gather, point_key
from .worker import experiment_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_sweep", "SweepError"]

log = logging.getLogger("ddlib.sweep")


class SweepError(RuntimeError):
    """Some points still failed after their retries; everything that succeeded is stored.

    Attributes:
        failures: one dict per failed point (key, point, attempts, error traceback).
        failures_path: the JSON file holding them.
        table: the table of the points that succeeded.
    """

    def __init__(self, failures: list[dict], failures_path: Path, table: Any):
        self.failures, self.failures_path, self.table = failures, failures_path, table
        lines = [f"{len(failures)} sweep point(s) failed after retries (tracebacks in "
                 f"{failures_path}); {len(table)} point(s) succeeded and are stored:"]
        for f in failures[:10]:
            last = f["error"].strip().splitlines()[-1] if f["error"].strip() else "?"
            lines.append(f"  {f['point']} after {f['attempts']} attempt(s): {last}")
        if len(failures) > 10:
            lines.append(f"  ... and {len(failures) - 10} more")
        super().__init__("\n".join(lines))


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """Hold ``<root>/.lock`` so two sweeps never write one folder (released even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another sweep is writing to {root}; wait for it or choose another "
                               f"results_dir") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class _Tracker:
    """Stores successes, counts attempts, records final failures, moves the progress bar."""

    def __init__(self, experiment: str, store: ResultStore, points: dict[str, dict], retries: int, bar):
        self.experiment, self.store, self.points, self.retries, self.bar = experiment, store, points, retries, bar
        self.attempts: dict[str, int] = {}
        self.failures: list[dict] = []

    def finish(self, key: str, out: dict) -> bool:
        attempt = self.attempts[key] = self.attempts.get(key, 0) + 1
        if out.get("ok"):
            self.store.write(key, self.experiment, self.points[key], out["result"], attempt=attempt,
                             wall_time_s=out.get("wall_time_s"))
        elif attempt <= self.retries:
            log.info("point %s failed (attempt %d of %d), retrying", self.points[key], attempt, self.retries + 1)
            return True
        else:
            self.failures.append({"key": key, "point": self.points[key], "attempts": attempt,
                                  "error": out.get("error", "")})
            self.store.write_failures(self.experiment, self.failures)  # visible even if killed later
        if self.bar is not None:
            self.bar.update(1)
            if self.failures:
                self.bar.set_postfix(failed=len(self.failures))
        return False


def run_sweep(fn: Callable[..., dict] | str | None, grid: Grid, results_dir: str | os.PathLike = "results/sweep",
              backend: str = "local", workers: int | None = None, scheduler: str | None = None,
              retries: int = 2, progress: bool = True) -> "pd.DataFrame":
    """Run ``fn(**point)`` for every point of ``grid`` not already stored, and gather the table.

    Each point is ``grid.fixed | combination | {"seed": s}``; ``fn`` must draw all its randomness
    from ``seed``, so results are bit-identical on every backend and worker count (workers run
    one torch thread).  Each result is written as soon as it arrives, atomically and with a
    checksum, to ``results_dir/points/<hash>.json`` (hash of the experiment name, the point and
    the ddlib version); a rerun skips verified files and recomputes missing, corrupted or
    malformed ones, so a killed sweep resumes where it stopped.

    Args:
        fn: a module-level function returning a flat dict of scalars, or its dotted name
            ``"module.function"``; None takes ``grid.experiment``.  Any importable module is
            allowed (not only ``ddlib.``): a grid file therefore names code to run, so only run
            grid files you trust.  Worker processes import it by name.
        grid: the points.
        results_dir: folder for ``points/``, ``table.csv`` (+ ``table.parquet`` with pyarrow),
            ``failures.json`` and ``sweep.json`` (provenance).
        backend: ``"local"`` (a process pool), ``"dask"`` (dask.distributed) or ``"inline"``
            (this process, one point after another; same store, resume and retries).
        workers: processes of the local pool or of the LocalCluster started for dask; None: one
            per CPU core (at most one per point).  Not allowed with ``scheduler``.
        scheduler: dask scheduler address such as ``"tcp://host:8786"``; None starts a
            LocalCluster on 127.0.0.1 (dask backend only).
        retries: extra attempts for a point that raises or kills its worker.
        progress: show a tqdm progress bar with ETA.

    Returns:
        A pandas DataFrame with one row per point in grid order (the point's parameters, ``seed``, then
        the returned values).

    Raises:
        SweepError: some points failed after ``1 + retries`` attempts.  It is raised after every
            success is stored and the table of successes is written; it lists the failed points,
            carries ``.failures``, ``.table`` and ``.failures_path`` (tracebacks).
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a ddlib.sweep.Grid, got {type(grid).__name__}")
    if fn is None:
        if grid.experiment is None:
            raise ValueError("fn is None and the grid names no experiment; pass fn or set grid.experiment")
        fn = grid.experiment
    experiment = experiment_name(fn)
    check_choice("backend", backend, BACKENDS)
    if workers is not None:
        workers = check_int("workers", workers, min_value=1)
    retries = check_int("retries", retries, min_value=0)
    if workers is not None and backend == "inline":
        raise ValueError(f"workers sizes the local pool or dask cluster; backend='inline' runs in this "
                         f"process: pass workers=None, got {workers}")
    if scheduler is not None and backend != "dask":
        raise ValueError(f"scheduler is only used by backend='dask', got backend={backend!r}")
    if scheduler is not None and workers is not None:
        raise ValueError(f"workers sizes the pool or LocalCluster ddlib starts; with scheduler={scheduler!r} "
                         f"the cluster's own workers run the points: pass workers=None, got {workers}")

    store = ResultStore(results_dir)
    points = grid.points()
    keyed = [(point_key(experiment, p), p) for p in points]
    started = time.perf_counter()
    with _exclusive(store.root):
        store.prepare()
        todo = [(k, p) for k, p in keyed if store.read(k, experiment, p) is None]
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(keyed), initial=len(keyed) - len(todo), desc="sweep", unit="point")
        tracker = _Tracker(experiment, store, dict(todo), retries, bar)
        try:
            if todo and backend == "local":
                run_local(experiment, todo, tracker, workers)
            elif todo and backend == "inline":
                run_inline(experiment, todo, tracker)
            elif todo:
                run_dask(experiment, todo, tracker, workers, scheduler)
        finally:
            if bar is not None:
                bar.close()
        store.write_failures(experiment, tracker.failures)
        rows = []
        for k, p in keyed:
            result = store.read(k, experiment, p)
            if result is not None:
                rows.append((p, result))
        table = gather(rows) if rows else _empty_table(grid)
        store.write_table(table)
        from ..provenance import provenance
        store.write_manifest({"experiment": experiment, "grid": {"params": grid.params, "seeds": list(grid.seeds),
                                                                 "fixed": grid.fixed},
                              "backend": backend, "n_points": len(keyed), "n_run": len(todo),
                              "n_failed": len(tracker.failures), "retries": retries,
                              "wall_time_s": time.perf_counter() - started, "provenance": provenance()})
    if tracker.failures:
        raise SweepError(tracker.failures, store.failures_path, table)
    return table


def _empty_table(grid: Grid) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame(columns=grid.names)
