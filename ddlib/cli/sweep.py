"""``ddlib sweep GRID.yaml``: run a grid file from the command line.

The grid file is data: its ``experiment:`` must be registered (or allowed with
``--allow-experiment``), it is read without tags or aliases and within size bounds, its point
count is bounded (``--max-points``), and ``--results`` must be a new or empty folder or this
grid's own sweep folder.  Every refusal is one line and exit status 2."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .. import experiments  # noqa: F401  (registers the book's point functions)
from ..sweep.backends import BACKENDS, CONNECT_TIMEOUT_S, SchedulerUnreachable
from ..sweep.grid import Grid
from ..sweep.registry import registered_experiments
from ..sweep.run import MAX_POINTS, SweepError, run_sweep
from ..sweep.store import ResultStore, SweepFolderError, grid_id
from .errors import CliError

__all__ = ["configure_parser"]

EXIT_STATUSES = """exit status:
  0  every point is done (computed now or stored before); table in the results folder
  1  some points failed after their retries (tracebacks in the failures file; rerun to retry
     only those), or another error while running (one line; --debug shows the traceback)
  2  refused before anything runs: bad arguments, a bad grid file (malformed, too large, a YAML
     tag or alias), an experiment neither registered nor allowed, too many points, a results
     folder that is not empty nor this grid's sweep folder, an unreachable dask scheduler
  130 interrupted (finished points are stored: rerun the same command to resume)"""


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Add the ``sweep`` arguments to ``p`` and route it to the sweep command."""
    p.description = ("Run every point of a grid file (YAML/JSON with experiment, params, seeds, fixed), "
                     "skipping points already stored in the results folder. The grid's experiment must "
                     f"be registered ({', '.join(sorted(registered_experiments()))}) or allowed with "
                     "--allow-experiment.")
    p.epilog = EXIT_STATUSES
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("grid", type=Path, help="grid file (.yaml, .yml or .json)")
    p.add_argument("--backend", choices=BACKENDS, default="local", help="where points run (default: local)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (local pool, or the LocalCluster dask starts); default: one per core")
    p.add_argument("--scheduler", default=None,
                   help="dask scheduler address, e.g. tcp://HOST:8786 (default: start a LocalCluster). "
                        "A scheduler runs whatever its clients send: keep it on a private network")
    p.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="SECONDS",
                   help=f"give up on an unreachable scheduler after this long (default: {CONNECT_TIMEOUT_S:g})")
    p.add_argument("--results", type=Path, default=None,
                   help="results folder: new, empty, or this grid's own sweep folder (default: "
                        "results/sweep/<grid file name>)")
    p.add_argument("--retries", type=int, default=2, help="extra attempts for a failing point (default: 2)")
    p.add_argument("--experiment", default=None,
                   help="the point function, overriding the grid's 'experiment:' (registered or allowed)")
    p.add_argument("--allow-experiment", action="append", default=[], metavar="MODULE.FN",
                   help="let the grid name this unregistered point function (repeatable): the grid then "
                        "runs that code, so allow only code you trust")
    p.add_argument("--max-points", type=int, default=MAX_POINTS,
                   help=f"refuse a grid of more points (default: {MAX_POINTS:,})")
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
        raise CliError("--scheduler needs --backend dask")
    if args.max_points < 1:
        raise CliError(f"--max-points must be >= 1, got {args.max_points}")
    try:
        grid = Grid.from_file(args.grid)
    except (OSError, TypeError, ValueError) as exc:
        raise CliError(f"bad grid file: {exc}") from exc
    results = args.results or Path("results") / "sweep" / args.grid.stem
    experiment = args.experiment or grid.experiment
    if experiment is None:
        raise CliError(f"{args.grid} names no experiment: add 'experiment: NAME' or pass --experiment "
                       f"(registered: {sorted(registered_experiments())})")
    print(f"ddlib sweep: {grid.size():,} point(s) of {experiment} -> {results}", flush=True)
    try:
        table = run_sweep(experiment, grid, results_dir=results, backend=args.backend, workers=args.workers,
                          scheduler=args.scheduler, retries=args.retries, progress=not args.no_progress,
                          allow=args.allow_experiment, max_points=args.max_points, same_grid=True,
                          connect_timeout=args.connect_timeout)
    except KeyboardInterrupt:
        raise CliError(f"interrupted; finished points are stored in {results}: rerun the same command to "
                       f"resume", 130) from None
    except SweepError as exc:
        raise CliError(exc.summary(), 1) from exc
    except (SweepFolderError, SchedulerUnreachable, ImportError, TypeError, ValueError) as exc:
        raise CliError(str(exc), 2) from exc
    print(f"ddlib sweep: {len(table)} point(s) done; table: {results / table_name(results, experiment, grid)}",
          file=sys.stderr)
    return 0


def table_name(results: Path, experiment: str, grid: Grid) -> str:
    """The file name of ``grid``'s table in the results folder (``table.csv`` for its first grid)."""

    try:
        manifest = ResultStore(results).read_manifest() or {}
        return manifest.get("grids", {}).get(grid_id(grid.record()), {}).get("table", "table.csv")
    except SweepFolderError:
        return "table.csv"
