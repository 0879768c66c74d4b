"""Command line: ``ddlib run NOTEBOOK ...`` (re-execute a notebook with new parameters),
``ddlib sweep GRID ...`` (a resumable experiment grid) and ``ddlib evaluate SET.pt ...`` (re-score
a saved distilled set across fresh initialisations, widths and ridges).

Every expected failure is one line on stderr, ``ddlib <command>: error: ...``, with exit status 2
(bad input, refused before anything runs) or 1 (a failure while running); ``--debug`` shows the
traceback instead."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..validation import one_line
from . import evaluate, run, sweep
from .errors import MESSAGE_LIMIT, CliError, Parser

__all__ = ["main", "build_parser", "CliError"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ddlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True)

    run.configure_parser(sub.add_parser("run", parents=[common], help="execute a notebook with parameters (papermill)"))
    sweep.configure_parser(sub.add_parser("sweep", parents=[common], help="run a resumable experiment grid"))
    evaluate.configure_parser(sub.add_parser("evaluate", parents=[common],
                                             help="re-score a saved distilled set (fresh theta0 seeds, widths, "
                                                  "ridges)"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (never raises for an expected failure)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage error (already printed, one line) or --help
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    prog = f"ddlib {args.command}"
    debug = bool(getattr(args, "debug", False))
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        if debug:
            raise
        print(f"{prog}: error: {one_line(exc, MESSAGE_LIMIT)}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"{prog}: error: {type(exc).__name__}: {one_line(exc, 500)} (rerun with --debug for the "
              f"traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
