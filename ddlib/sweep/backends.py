"""Where sweep points run: ``local`` (a spawn process pool, rebuilt when a worker dies),
``dask`` (dask.distributed, a running scheduler or a LocalCluster on 127.0.0.1) or ``inline``
(this process, one point after another: no worker start-up, for small grids).  All hand every
outcome to a ``Tracker``, which stores results and decides retries."""
from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator, Protocol

from .worker import init_pool_worker, run_point

__all__ = ["BACKENDS", "Tracker", "run_local", "run_dask", "run_inline", "WORKER_DIED", "CONNECT_TIMEOUT_S",
           "SchedulerUnreachable"]

BACKENDS = ("local", "dask", "inline")
CONNECT_TIMEOUT_S = 10.0  # how long to wait for a dask scheduler (dask's own default is 30 s)
WORKER_DIED = ("the worker process running this point died (killed by a signal, os._exit, a crash "
               "or out of memory); no Python traceback is available")


class Tracker(Protocol):
    def finish(self, key: str, out: dict) -> bool:
        """Record an outcome ``{"ok": ..., ...}`` of point ``key``; True means: run it again."""


def default_workers(n_points: int) -> int:
    return max(1, min(os.cpu_count() or 1, n_points))


def run_inline(experiment: str, todo: Iterable[tuple[str, dict]], tracker: Tracker) -> None:
    """Run points in this process, in order, with one torch thread while they run (like a worker,
    so the numbers equal the other backends'); the caller's thread count is restored after."""
    import torch

    threads = torch.get_num_threads()
    try:
        for key, point in todo:
            while tracker.finish(key, run_point(experiment, point)):
                pass
    finally:
        torch.set_num_threads(threads)


class _LocalQueue:
    """What ``run_local`` has pulled from ``todo`` and not finished: the points, the keys waiting
    to be submitted (retries and suspects go first) and the suspects (points that were in flight
    when a worker died, rerun one at a time until each is cleared or charged)."""

    def __init__(self, todo: Iterable[tuple[str, dict]]):
        self.source = iter(todo)
        self.exhausted = False
        self.points: dict[str, dict] = {}  # pending or in flight only
        self.queue: deque[str] = deque()   # pulled, waiting (retries and suspects first)
        self.suspects: set[str] = set()

    def take(self) -> str | None:
        """The next key to submit (left in the queue), or None; pulls from ``todo`` only when
        nothing is waiting, and while suspects remain offers only suspects."""
        if self.suspects:
            return next((k for k in self.queue if k in self.suspects), None)
        if self.queue:
            return self.queue[0]
        if self.exhausted:
            return None
        pair = next(self.source, None)
        if pair is None:
            self.exhausted = True
            return None
        key, point = pair
        self.points[key] = point
        self.queue.append(key)
        return key

    def done(self) -> bool:
        """Nothing waiting and nothing left to pull."""
        return not self.queue and self.exhausted


def run_local(experiment: str, todo: Iterable[tuple[str, dict]], tracker: Tracker, workers: int | None,
              n_hint: int | None = None) -> None:
    """Run points on a process pool ('spawn' context, safe with torch), one torch thread each.

    Points are pulled from ``todo`` only as workers free up (never all at once).  When a worker
    dies the pool breaks and every point in flight fails with it; the pool is rebuilt and those
    points ("suspects") rerun one at a time, so a point that kills its worker is charged for it
    and innocent neighbours are not.  ``n_hint`` (the number of points, if known) caps the
    default pool size.
    """
    workers = workers or default_workers(n_hint if n_hint is not None else os.cpu_count() or 1)
    todo_queue = _LocalQueue(todo)
    ctx = multiprocessing.get_context("spawn")
    pool = _new_pool(workers, ctx)
    inflight: dict = {}  # future -> key; at most `workers` (1 while suspects remain), all running
    try:
        while True:
            broken = _submit_ready(pool, inflight, todo_queue, experiment, workers)
            if not inflight and not broken:
                if todo_queue.done():
                    break
                continue
            if inflight and not broken:
                broken = _collect_done(inflight, todo_queue, tracker)
            if broken:  # recovery: every point in flight is lost with the pool; rebuild it, then blame
                lost = sorted(inflight.values())
                inflight.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                pool = _new_pool(workers, ctx)
                _blame_lost(lost, todo_queue, tracker)
    except BaseException:  # interrupted: return now; running points finish and are not recorded
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _new_pool(workers: int, ctx) -> ProcessPoolExecutor:
    """A fresh pool whose workers run ``init_pool_worker`` (one torch thread, and they exit when
    this process dies); built at the start and again each time a worker death breaks the pool."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_pool_worker,
                               initargs=(os.getpid(),))


def _submit_ready(pool: ProcessPoolExecutor, inflight: dict, todo_queue: _LocalQueue, experiment: str,
                  workers: int) -> bool:
    """Submit waiting points until ``workers`` are in flight (only one while suspects remain, so a
    death can be pinned on it).  True if the pool was found broken: the point being submitted had
    not run, so it goes back to the front of the queue uncharged."""
    while len(inflight) < (1 if todo_queue.suspects else workers):
        key = todo_queue.take()
        if key is None:
            break
        todo_queue.queue.remove(key)
        try:
            inflight[pool.submit(run_point, experiment, todo_queue.points[key])] = key
        except BrokenProcessPool:  # broke before this point ran: it is not to blame
            todo_queue.queue.appendleft(key)
            return True
    return False


def _collect_done(inflight: dict, todo_queue: _LocalQueue, tracker: Tracker) -> bool:
    """Wait for at least one point in flight to end and hand each outcome to the tracker (requeue
    a retry, forget a finished point; an outcome clears a suspect).  True if the pool broke: the
    futures that failed with it stay in ``inflight`` as the lost points."""
    broken = False
    done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
    for fut in done:
        try:
            out = fut.result()
        except BrokenProcessPool:
            broken = True
            continue
        key = inflight.pop(fut)
        todo_queue.suspects.discard(key)
        if tracker.finish(key, out):
            todo_queue.queue.append(key)
        else:
            todo_queue.points.pop(key, None)
    return broken


def _blame_lost(lost: list[str], todo_queue: _LocalQueue, tracker: Tracker) -> None:
    """After a broken pool: a point lost alone ran alone, so it killed its worker and is charged
    a failed attempt (WORKER_DIED), rerun as a suspect if it has retries left; several lost
    points are not charged but all become suspects, queued first, to rerun one at a time."""
    if len(lost) == 1:  # it ran alone, so it killed its worker
        key = lost[0]
        if tracker.finish(key, {"ok": False, "error": WORKER_DIED}):
            todo_queue.suspects.add(key)
            todo_queue.queue.appendleft(key)
        else:
            todo_queue.suspects.discard(key)
            todo_queue.points.pop(key, None)
    else:
        todo_queue.suspects.update(lost)
        todo_queue.queue.extendleft(reversed(lost))


class SchedulerUnreachable(OSError):
    """No dask scheduler answered at the given address within the connection timeout."""


def run_dask(experiment: str, todo: Iterable[tuple[str, dict]], tracker: Tracker, workers: int | None,
             scheduler: str | None, n_hint: int | None = None,
             connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Run points on dask.distributed: connect to ``scheduler`` (e.g. ``tcp://host:8786``) or,
    when None, start a LocalCluster of ``workers`` single-threaded processes on 127.0.0.1.

    At most a window of points (four per worker thread, at least 64) is submitted at a time;
    more are pulled from ``todo`` as results come back.  A scheduler that does not answer within
    ``connect_timeout`` seconds raises SchedulerUnreachable.  Dask reschedules the points of a
    worker that dies; a point whose workers keep dying ends with KilledWorker and counts as a
    failed attempt.  Note: a Dask scheduler runs whatever its clients send: anyone who can reach
    it can run code on its workers.
    """
    _require_distributed()
    source = iter(todo)
    first = next(source, None)
    if first is None:  # every point is stored already: start no cluster
        return
    source = itertools.chain([first], source)
    client, cluster = _dask_client(scheduler, workers, n_hint, connect_timeout)
    try:
        _run_windowed(client, experiment, source, tracker)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _require_distributed() -> None:
    """Import dask.distributed up front (before any point is pulled), so a missing optional
    dependency is reported as what to install rather than as a bare ImportError."""
    try:
        from distributed import Client, LocalCluster, as_completed  # noqa: F401
        from distributed.scheduler import KilledWorker  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("backend='dask' needs dask.distributed: pip install 'ddlib[sweep]'") from exc


def _dask_client(scheduler: str | None, workers: int | None, n_hint: int | None,
                 connect_timeout: float):
    """``(client, cluster)``: a client of ``scheduler``, or of a LocalCluster of single-threaded
    processes on 127.0.0.1 that we own (``cluster``, else None) and the caller must close.  A
    scheduler that cannot be reached or parsed raises SchedulerUnreachable with a short reason."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or default_workers(n_hint or os.cpu_count() or 1),
                               threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})  # no fixed port
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=connect_timeout), None
    except (OSError, ValueError, TypeError) as exc:
        why = " ".join(str(exc).split())[:200]
        if isinstance(exc, OSError):
            raise SchedulerUnreachable(f"cannot reach the dask scheduler at {scheduler[:200]!r} within "
                                       f"{connect_timeout:g} s ({why})") from None
        raise SchedulerUnreachable(f"not a dask scheduler address: {scheduler[:200]!r} ({why})") from None


def _run_windowed(client, experiment: str, source: Iterator[tuple[str, dict]], tracker: Tracker) -> None:
    """Keep a window of points submitted on ``client`` (four per worker thread, at least 64),
    pulling more from ``source`` as results come back; each outcome goes to the tracker and a
    retry is resubmitted.  A point whose workers kept dying (KilledWorker) is a failed attempt."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    window = max(64, 4 * sum(client.nthreads().values()))
    point_of: dict[str, dict] = {}
    keys: dict = {}
    ac = as_completed()

    def submit(key: str) -> None:
        fut = client.submit(run_point, experiment, point_of[key], pure=False)
        keys[fut.key] = key
        ac.add(fut)

    def fill() -> None:
        while len(keys) < window:
            pair = next(source, None)
            if pair is None:
                return
            point_of[pair[0]] = pair[1]
            submit(pair[0])

    fill()
    for fut in ac:
        key = keys.pop(fut.key)
        try:
            out = fut.result()
        except KilledWorker as exc:
            out = {"ok": False, "error": f"{WORKER_DIED}\n(dask: {exc})"}
        fut.release()
        if tracker.finish(key, out):
            submit(key)
        else:
            point_of.pop(key, None)
        fill()
