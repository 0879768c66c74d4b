"""Resumable experiment grids: ``run_sweep(fn, Grid(...))`` runs every (parameters x seed) point
on a local process pool or a Dask cluster, stores each result as its own checksummed file, skips
points already done on a rerun, retries and reports failures, and returns one tidy table.

    from ddlib.sweep import Grid, run_sweep
    grid = Grid(params={"r": [1, 2], "d": [32, 64]}, seeds=[0, 1, 2], fixed={"width": 512})
    table = run_sweep("learner_point", grid, results_dir="results/sweep")

A grid file is data: its ``experiment:`` must name a registered experiment (ddlib's own, or one
registered with ``register_experiment``; importing ``ddlib.experiments`` registers the book's) unless the caller allows it (``allow=``,
``--allow-experiment``).

Command line (``ddlib.cli.sweep``): ``ddlib sweep GRID.yaml [--backend local|dask|inline] [--workers N]
[--scheduler ADDRESS] [--results DIR] [--allow-experiment MODULE.FN] [--max-points N]``.
"""
from .backends import BACKENDS, SchedulerUnreachable
from .grid import Grid, GridFileError
from .registry import EXPERIMENTS, UnknownExperiment, register_experiment, registered_experiments
from .run import MAX_POINTS, SweepError, run_sweep
from .store import SweepFolderError, point_key

__all__ = ["Grid", "run_sweep", "SweepError", "BACKENDS", "point_key", "register_experiment",
           "registered_experiments", "EXPERIMENTS", "UnknownExperiment", "GridFileError", "SweepFolderError",
           "SchedulerUnreachable", "MAX_POINTS"]
