"""Where sweep points run: ``local`` (a spawn process pool, rebuilt when a worker dies),
``dask`` (dask.distributed, a running scheduler or a LocalCluster on 127.0.0.1) or ``inline``
(this process, one point after another: no worker start-up, for small grids).  All hand every
outcome to a ``Tracker``, which stores results and decides retries."""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from .worker import init_pool_worker, run_point

__all__ = ["BACKENDS", "Tracker", "run_local", "run_dask", "run_inline", "WORKER_DIED"]

BACKENDS = ("local", "dask", "inline")
WORKER_DIED = ("the worker process running this point died (killed by a signal, os._exit, a crash "
               "or out of memory); no Python traceback is available")


class Tracker(Protocol):
    def finish(self, key: str, out: dict) -> bool:
        """Record an outcome ``{"ok": ..., ...}`` of point ``key``; True means: run it again."""


def default_workers(n_points: int) -> int:
    return max(1, min(os.cpu_count() or 1, n_points))


def run_inline(experiment: str, todo: list[tuple[str, dict]], tracker: Tracker) -> None:
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


def run_local(experiment: str, todo: list[tuple[str, dict]], tracker: Tracker, workers: int | None) -> None:
    """Run points on a process pool ('spawn' context, safe with torch), one torch thread each.

    When a worker dies the pool breaks and every point in flight fails with it; the pool is
    rebuilt and those points ("suspects") rerun one at a time, so a point that kills its worker
    is charged for it and innocent neighbours are not.
    """
    workers = workers or default_workers(len(todo))
    points = dict(todo)
    queue = deque(key for key, _ in todo)
    suspects: set[str] = set()
    ctx = multiprocessing.get_context("spawn")

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_pool_worker,
                                   initargs=(os.getpid(),))

    pool = new_pool()
    inflight: dict = {}  # future -> key; at most `workers` (1 while suspects remain), all running
    try:
        while queue or inflight:
            broken = False
            while queue and len(inflight) < (1 if suspects else workers):
                key = next((k for k in queue if k in suspects), None) if suspects else queue[0]
                if key is None:
                    break
                queue.remove(key)
                try:
                    inflight[pool.submit(run_point, experiment, points[key])] = key
                except BrokenProcessPool:  # broke before this point ran: it is not to blame
                    queue.appendleft(key)
                    broken = True
                    break
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
                else:
                    suspects.update(lost)
                    queue.extendleft(reversed(lost))
    except BaseException:  # interrupted: return now; running points finish and are not recorded
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def run_dask(experiment: str, todo: list[tuple[str, dict]], tracker: Tracker, workers: int | None,
             scheduler: str | None) -> None:
    """Run points on dask.distributed: connect to ``scheduler`` (e.g. ``tcp://host:8786``) or,
    when None, start a LocalCluster of ``workers`` single-threaded processes on 127.0.0.1.

    Dask reschedules the points of a worker that dies; a point whose workers keep dying ends
    with KilledWorker and counts as a failed attempt.
    """
    try:
        from distributed import Client, LocalCluster, as_completed
        from distributed.scheduler import KilledWorker
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("backend='dask' needs dask.distributed: pip install 'ddlib[sweep]'") from exc

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or default_workers(len(todo)), threads_per_worker=1,
                               processes=True, host="127.0.0.1", dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})  # no fixed port
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        keys = {}
        ac = as_completed()

        def submit(key: str) -> None:
            fut = client.submit(run_point, experiment, point_of[key], pure=False)
            keys[fut.key] = key
            ac.add(fut)

        point_of = dict(todo)
        for key, _ in todo:
            submit(key)
        for fut in ac:
            key = keys.pop(fut.key)
            try:
                out = fut.result()
            except KilledWorker as exc:
                out = {"ok": False, "error": f"{WORKER_DIED}\n(dask: {exc})"}
            fut.release()
            if tracker.finish(key, out):
                submit(key)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
