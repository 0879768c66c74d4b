"""The command line's errors: an expected failure is one line on stderr and an exit status."""
from __future__ import annotations

import argparse

from ..validation import one_line

__all__ = ["CliError", "Parser"]

MESSAGE_LIMIT = 2000  # characters of one error line


class CliError(Exception):
    """An expected failure of a subcommand: printed as one line, exit ``status`` (2: bad input,
    1: a failure while running)."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2): ``ddlib run: error: ... (see --help)``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {one_line(message, MESSAGE_LIMIT)} (see {self.prog} --help)\n")
