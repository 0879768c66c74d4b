"""``ddlib sweep GRID.yaml``: run a grid file from the command line; exit 1 if any point failed."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .backends import BACKENDS
from .grid import Grid
from .run import SweepError, run_sweep

__all__ = ["configure_parser"]


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Add the ``sweep`` arguments to ``p`` and route it to the sweep command."""
    p.description = ("Run every point of a grid file (YAML/JSON with experiment, params, seeds, fixed), "
                     "skipping points already stored in the results folder; exit 1 if any point failed.")
    p.add_argument("grid", type=Path, help="grid file (.yaml, .yml or .json)")
    p.add_argument("--backend", choices=BACKENDS, default="local", help="where points run (default: local)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (local pool, or the LocalCluster dask starts); default: one per core")
    p.add_argument("--scheduler", default=None,
                   help="dask scheduler address, e.g. tcp://HOST:8786 (default: start a LocalCluster)")
    p.add_argument("--results", type=Path, default=None,
                   help="results folder (default: results/sweep/<grid file name>)")
    p.add_argument("--retries", type=int, default=2, help="extra attempts for a failing point (default: 2)")
    p.add_argument("--experiment", default=None,
                   help="dotted name of the point function, overriding the grid's 'experiment:'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    log = logging.getLogger("ddlib")
    if not log.handlers:  # show ddlib's warnings (recomputed files), not every library's INFO lines
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.WARNING)
    if args.scheduler is not None and args.backend != "dask":
        print("ddlib sweep: --scheduler needs --backend dask", file=sys.stderr)
        return 2
    try:
        grid = Grid.from_file(args.grid)
    except (OSError, TypeError, ValueError) as exc:
        print(f"ddlib sweep: bad grid file: {exc}", file=sys.stderr)
        return 2
    results = args.results or Path("results") / "sweep" / args.grid.stem
    try:
        table = run_sweep(args.experiment or grid.experiment, grid, results_dir=results, backend=args.backend,
                          workers=args.workers, scheduler=args.scheduler, retries=args.retries,
                          progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"ddlib sweep: interrupted; finished points are stored in {results}: rerun the same "
              f"command to resume", file=sys.stderr)
        return 130
    except SweepError as exc:
        print(f"ddlib sweep: {exc}", file=sys.stderr)
        return 1
    except (ImportError, TypeError, ValueError) as exc:
        print(f"ddlib sweep: {exc}", file=sys.stderr)
        return 2
    print(f"ddlib sweep: {len(table)} point(s) done; table: {results / 'table.csv'}", file=sys.stderr)
    return 0
