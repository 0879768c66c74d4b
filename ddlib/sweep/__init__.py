"""Resumable experiment grids: ``run_sweep(fn, Grid(...))`` runs every (parameters x seed) point
on a local process pool or a Dask cluster, stores each result as its own checksummed file, skips
points already done on a rerun, retries and reports failures, and returns one tidy table.

    from ddlib.sweep import Grid, run_sweep
    grid = Grid(params={"r": [1, 2], "d": [32, 64]}, seeds=[0, 1, 2], fixed={"width": 512})
    table = run_sweep("ddlib.sweep.points.learner_point", grid, results_dir="results/sweep")

Command line: ``ddlib sweep GRID.yaml [--backend local|dask] [--workers N] [--scheduler ADDRESS]
[--results DIR]``.
"""
from .backends import BACKENDS
from .cli import configure_parser
from .grid import Grid
from .run import SweepError, run_sweep
from .store import point_key

__all__ = ["Grid", "run_sweep", "SweepError", "BACKENDS", "point_key", "configure_parser"]
