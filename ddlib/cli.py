"""Command line: ``ddlib run NOTEBOOK ...`` (re-execute a notebook with new parameters) and
``ddlib sweep GRID ...`` (a resumable experiment grid)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from . import runner
    runner.configure_parser(sub.add_parser("run", help="execute a notebook with parameters (papermill)"))
    try:
        from . import sweep
    except ImportError:  # pragma: no cover - sweep is optional until installed
        sweep = None
    if sweep is not None and hasattr(sweep, "configure_parser"):
        sweep.configure_parser(sub.add_parser("sweep", help="run a resumable experiment grid"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
