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
from typing import Iterable, Protocol

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


def run_local(experiment: str, todo: Iterable[tuple[str, dict]], tracker: Tracker, workers: int | None,
              n_hint: int | None = None) -> None:
    """Run points on a process pool ('spawn' context, safe with torch), one torch thread each.

    Points are pulled from ``todo`` only as workers free up (never all at once).  When a worker
    dies the pool breaks and every point in flight fails with it; the pool is rebuilt and those
    points ("suspects") rerun one at a time, so a point that kills its worker is charged for it
    and innocent neighbours are not.  ``n_hint`` (the number of points, if known) caps the
    default pool size.
    """
    # One function on purpose (longer than most): the pool, the in-flight futures, the queue and the
    # suspects are one piece of state that every branch below updates together.
    workers = workers or default_workers(n_hint if n_hint is not None else os.cpu_count() or 1)
    source = iter(todo)
    exhausted = False
    points: dict[str, dict] = {}  # pending or in flight only
    queue: deque[str] = deque()   # pulled, waiting (retries and suspects first)
    suspects: set[str] = set()
    ctx = multiprocessing.get_context("spawn")

    def take() -> str | None:
        """The next key to submit (left in the queue), or None."""
        nonlocal exhausted
        if suspects:
            return next((k for k in queue if k in suspects), None)
        if queue:
            return queue[0]
        if exhausted:
            return None
        pair = next(source, None)
        if pair is None:
            exhausted = True
            return None
        key, point = pair
        points[key] = point
        queue.append(key)
        return key

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_pool_worker,
                                   initargs=(os.getpid(),))

    pool = new_pool()
    inflight: dict = {}  # future -> key; at most `workers` (1 while suspects remain), all running
    try:
        while True:
            broken = False
            while len(inflight) < (1 if suspects else workers):
                key = take()
                if key is None:
                    break
                queue.remove(key)
                try:
                    inflight[pool.submit(run_point, experiment, points[key])] = key
                except BrokenProcessPool:  # broke before this point ran: it is not to blame
                    queue.appendleft(key)
                    broken = True
                    break
            if not inflight and not broken:
                if not queue and exhausted:
                    break
                continue
            if inflight and not broken:
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        out = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    key = inflight.pop(fut)
                    suspects.discard(key)
                    if tracker.finish(key, out):
                        queue.append(key)
                    else:
                        points.pop(key, None)
            if broken:
                lost = sorted(inflight.values())
                inflight.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                pool = new_pool()
                if len(lost) == 1:  # it ran alone, so it killed its worker
                    key = lost[0]
                    if tracker.finish(key, {"ok": False, "error": WORKER_DIED}):
                        suspects.add(key)
                        queue.appendleft(key)
                    else:
                        suspects.discard(key)
                        points.pop(key, None)
                else:
                    suspects.update(lost)
                    queue.extendleft(reversed(lost))
    except BaseException:  # interrupted: return now; running points finish and are not recorded
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


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
    # One function on purpose: the client, the cluster it may own and the futures it submits share
    # one lifetime, closed in the ``finally`` below.
    try:
        from distributed import Client, LocalCluster, as_completed
        from distributed.scheduler import KilledWorker
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("backend='dask' needs dask.distributed: pip install 'ddlib[sweep]'") from exc

    source = iter(todo)
    first = next(source, None)
    if first is None:  # every point is stored already: start no cluster
        return
    source = itertools.chain([first], source)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or default_workers(n_hint or os.cpu_count() or 1),
                               threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})  # no fixed port
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, ValueError, TypeError) as exc:
            why = " ".join(str(exc).split())[:200]
            if isinstance(exc, OSError):
                raise SchedulerUnreachable(f"cannot reach the dask scheduler at {scheduler[:200]!r} within "
                                           f"{connect_timeout:g} s ({why})") from None
            raise SchedulerUnreachable(f"not a dask scheduler address: {scheduler[:200]!r} ({why})") from None
    try:
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
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
