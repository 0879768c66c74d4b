"""``run_sweep``: map a point function over a grid, skipping points already stored, retrying
failures a bounded number of times, and gathering every result into one tidy table."""
from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from ..provenance import provenance
from ..validation import check_choice, check_int
from ..validation import short_repr
from .backends import BACKENDS, CONNECT_TIMEOUT_S, run_dask, run_inline, run_local
from .grid import Grid
from .registry import experiment_name, resolve_registered
from .store import ResultStore, SweepFolderError, gather, point_key

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_sweep", "SweepError", "MAX_POINTS"]

log = logging.getLogger("ddlib.sweep")
MAX_POINTS = 10_000  # default bound on a grid's size: a larger one is refused before anything runs


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
            lines.append(f"  {self._describe(f)}")
        if len(failures) > 10:
            lines.append(f"  ... and {len(failures) - 10} more")
        super().__init__("\n".join(lines))

    @staticmethod
    def _describe(failure: dict) -> str:
        error = failure["error"].strip()
        last = error.splitlines()[-1] if error else "?"
        return f"{short_repr(failure['point'])} after {failure['attempts']} attempt(s): {short_repr(last)[1:-1]}"

    def summary(self) -> str:
        """One line: how many failed, where the tracebacks are, and the first failure."""
        more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        return (f"{len(self.failures)} sweep point(s) failed after retries, {len(self.table)} succeeded and are "
                f"stored; tracebacks in {self.failures_path}; first: {self._describe(self.failures[0])}{more}")


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """Hold ``<root>/.lock`` so two sweeps never write one folder (released even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        fh = open(root / ".lock", "a")
    except OSError as exc:
        raise SweepFolderError(f"cannot write to results folder {root}: {exc.strerror or exc}") from None
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepFolderError(f"another sweep is writing to {root}; wait for it or choose another "
                                   f"results folder") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class _Tracker:
    """Stores successes, counts attempts, records final failures, moves the progress bar.

    ``points`` holds only the points pending or in flight (the backends pull them lazily)."""

    def __init__(self, experiment: str, store: ResultStore, retries: int, bar, failures_name: str):
        self.experiment, self.store, self.retries, self.bar = experiment, store, retries, bar
        self.failures_name = failures_name
        self.points: dict[str, dict] = {}
        self.attempts: dict[str, int] = {}
        self.failures: list[dict] = []
        self.n_run = 0

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
            # visible even if killed later
            self.store.write_failures(self.experiment, self.failures, self.failures_name)
        self.points.pop(key, None)
        self.attempts.pop(key, None)
        self.n_run += 1
        if self.bar is not None:
            self.bar.update(1)
            if self.failures:
                self.bar.set_postfix(failed=len(self.failures))
        return False


def _experiment(fn: Callable[..., dict] | str, allow: Iterable[str]) -> str:
    """The dotted name of the point function: a function object as is (its caller is code), a
    name only if registered or allowed, checked before anything is imported."""
    if isinstance(fn, str):
        return experiment_name(resolve_registered(fn, allow))
    return experiment_name(fn)


def run_sweep(fn: Callable[..., dict] | str | None, grid: Grid, results_dir: str | os.PathLike = "results/sweep",
              backend: str = "local", workers: int | None = None, scheduler: str | None = None,
              retries: int = 2, progress: bool = True, *, allow: Iterable[str] = (),
              max_points: int | None = MAX_POINTS, same_grid: bool = False,
              connect_timeout: float = CONNECT_TIMEOUT_S) -> "pd.DataFrame":
    """Run ``fn(**point)`` for every point of ``grid`` not already stored, and gather the table.

    Each point is ``grid.fixed | combination | {"seed": s}``; ``fn`` must draw all its randomness
    from ``seed``, so results are bit-identical on every backend and worker count (workers run
    one torch thread).  Each result is written as soon as it arrives, atomically and with a
    checksum, to ``results_dir/points/<hash>.json`` (hash of the experiment name, the point and
    the ddlib version); a rerun skips verified files and recomputes missing, corrupted or
    malformed ones, so a killed sweep resumes where it stopped.  Points are generated and
    checked one at a time, never all held at once.

    Args:
        fn: a module-level function returning a flat dict of scalars (always accepted: the caller
            is code), or a name: a registered experiment (``learner_point`` or its dotted path,
            see ``ddlib.sweep.registry``) or a dotted name listed in ``allow``; None takes
            ``grid.experiment``.  Any other name is refused before anything is imported, so a
            grid file cannot run code the user did not allow.  Worker processes import it by name.
        grid: the points.
        results_dir: folder for ``points/``, the table (``table.csv``, + ``table.parquet`` with
            pyarrow), the failures file and ``sweep.json`` (manifest and provenance).  It must
            not exist, be empty, or be a sweep folder of the same experiment holding only
            ddlib's files; several grids of one experiment may share it (each gets its own table
            and failures file: ``table-<grid id>.csv`` after the first), unless ``same_grid``.
        backend: ``"local"`` (a process pool), ``"dask"`` (dask.distributed) or ``"inline"``
            (this process, one point after another; same store, resume and retries).
        workers: processes of the local pool or of the LocalCluster started for dask; None: one
            per CPU core (at most one per point).  Not allowed with ``scheduler``.
        scheduler: dask scheduler address such as ``"tcp://host:8786"``; None starts a
            LocalCluster on 127.0.0.1 (dask backend only).
        retries: extra attempts for a point that raises or kills its worker.
        progress: show a tqdm progress bar with ETA.
        allow: dotted names of unregistered point functions that ``fn`` (a name) may be.
        max_points: refuse a grid of more points (counted, not built); None: no limit.
        same_grid: refuse a results folder that holds another grid (the command line's rule).
        connect_timeout: seconds to wait for the dask scheduler before giving up.

    Returns:
        A pandas DataFrame with one row per point in grid order (the point's parameters, ``seed``, then
        the returned values).

    Raises:
        SweepError: some points failed after ``1 + retries`` attempts.  It is raised after every
            success is stored and the table of successes is written; it lists the failed points,
            carries ``.failures``, ``.table`` and ``.failures_path`` (tracebacks).
        UnknownExperiment: ``fn`` names an experiment neither registered nor allowed.
        SweepFolderError: ``results_dir`` is not a folder this sweep may write to.
        SchedulerUnreachable: no dask scheduler answered within ``connect_timeout``.
    """
    fn, allow = _point_function(fn, grid, allow)
    workers, retries, max_points = _checked_options(backend, workers, scheduler, retries, max_points,
                                                    connect_timeout)
    n_points = _checked_size(grid, max_points)
    experiment = _experiment(fn, allow)

    store = ResultStore(results_dir)
    record = grid.record()
    store.check_folder(experiment, record, same_grid)  # before anything is written
    started = time.perf_counter()
    with _exclusive(store.root):
        store.check_folder(experiment, record, same_grid)  # again, now that no other sweep can write
        store.prepare()
        files = store.register_grid(experiment, record)
        bar = _progress_bar(progress, n_points)
        tracker = _Tracker(experiment, store, retries, bar, files.failures)
        try:
            _run_backend(backend, experiment, _pending(grid, experiment, store, tracker, bar), tracker,
                         workers, scheduler, n_points, connect_timeout)
        finally:
            if bar is not None:
                bar.close()
        store.write_failures(experiment, tracker.failures, files.failures)
        table = _stored_table(grid, experiment, store)
        store.write_table(table, files.table)
        store.finish_grid(files, {"backend": backend, "n_points": n_points, "n_run": tracker.n_run,
                                  "n_failed": len(tracker.failures), "retries": retries,
                                  "table": files.table, "failures": files.failures,
                                  "wall_time_s": time.perf_counter() - started, "provenance": provenance()})
    if tracker.failures:
        raise SweepError(tracker.failures, store.root / files.failures, table)
    return table


def _point_function(fn: Callable[..., dict] | str | None, grid: Grid,
                    allow: Iterable[str]) -> tuple[Callable[..., dict] | str, list[str]]:
    """``fn`` (the grid's experiment when None) and ``allow`` as a list: a lone string is one
    name, not its characters.  Checked first, so a wrong grid fails before any option."""
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a ddlib.sweep.Grid, got {type(grid).__name__}")
    if fn is None:
        if grid.experiment is None:
            raise ValueError("fn is None and the grid names no experiment; pass fn or set grid.experiment")
        fn = grid.experiment
    return fn, [allow] if isinstance(allow, str) else list(allow)


def _checked_options(backend: str, workers: int | None, scheduler: str | None, retries: int,
                     max_points: int | None, connect_timeout: float) -> tuple[int | None, int, int | None]:
    """Validate the run options, alone and together, before the results folder is touched;
    returns ``(workers, retries, max_points)`` as checked ints."""
    check_choice("backend", backend, BACKENDS)
    if workers is not None:
        workers = check_int("workers", workers, min_value=1)
    retries = check_int("retries", retries, min_value=0)
    if max_points is not None:
        max_points = check_int("max_points", max_points, min_value=1)
    if not (isinstance(connect_timeout, (int, float)) and not isinstance(connect_timeout, bool)
            and 0 < connect_timeout < 3600):
        raise ValueError(f"connect_timeout must be a number of seconds in (0, 3600), got {connect_timeout!r}")
    if workers is not None and backend == "inline":
        raise ValueError(f"workers sizes the local pool or dask cluster; backend='inline' runs in this "
                         f"process: pass workers=None, got {workers}")
    if scheduler is not None and backend != "dask":
        raise ValueError(f"scheduler is only used by backend='dask', got backend={backend!r}")
    if scheduler is not None and workers is not None:
        raise ValueError(f"workers sizes the pool or LocalCluster ddlib starts; with scheduler={scheduler!r} "
                         f"the cluster's own workers run the points: pass workers=None, got {workers}")
    return workers, retries, max_points


def _checked_size(grid: Grid, max_points: int | None) -> int:
    """The number of points (counted, not built); a grid over ``max_points`` is refused here,
    before anything runs, with its shape so the user sees which axis is large."""
    n_points = grid.size()
    if max_points is not None and n_points > max_points:
        shape = " x ".join(f"{len(v)} {k}" for k, v in grid.params.items())
        raise ValueError(f"the grid has {n_points:,} points ({shape + ' x ' if shape else ''}"
                         f"{len(grid.seeds)} seeds), more than max_points={max_points:,}; raise the limit "
                         f"(--max-points, max_points=) if you mean to run them all")
    return n_points


def _progress_bar(progress: bool, n_points: int):
    """A tqdm bar over every point of the grid (stored ones tick as they are skipped), or None;
    tqdm is imported only when a bar is wanted."""
    if not progress:
        return None
    from tqdm import tqdm
    return tqdm(total=n_points, desc="sweep", unit="point")


def _pending(grid: Grid, experiment: str, store: ResultStore, tracker: _Tracker,
             bar) -> Iterator[tuple[str, dict]]:
    """Lazily yield ``(key, point)`` for each point not stored yet (registering it with the
    tracker), ticking the bar for stored ones: the backends pull from it, so the grid is never
    held in memory at once."""
    for p in grid.points():
        k = point_key(experiment, p)
        if store.read(k, experiment, p) is None:
            tracker.points[k] = p
            yield k, p
        elif bar is not None:
            bar.update(1)


def _run_backend(backend: str, experiment: str, todo: Iterator[tuple[str, dict]], tracker: _Tracker,
                 workers: int | None, scheduler: str | None, n_points: int, connect_timeout: float) -> None:
    """Hand the pending points to the chosen backend, which reports each outcome to ``tracker``."""
    if backend == "local":
        run_local(experiment, todo, tracker, workers, n_hint=n_points)
    elif backend == "inline":
        run_inline(experiment, todo, tracker)
    else:
        run_dask(experiment, todo, tracker, workers, scheduler, n_hint=n_points,
                 connect_timeout=connect_timeout)


def _stored_table(grid: Grid, experiment: str, store: ResultStore) -> "pd.DataFrame":
    """The table of every point stored for this grid, in grid order, read back from the store
    (so points from earlier runs are included); an empty table with the grid's columns if none."""
    rows = []
    for p in grid.points():
        result = store.read(point_key(experiment, p), experiment, p)
        if result is not None:
            rows.append((p, result))
    return gather(rows) if rows else _empty_table(grid)


def _empty_table(grid: Grid) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame(columns=grid.names)
