"""``ddlib run``: convert a MyST notebook with jupytext and execute it with papermill."""
from __future__ import annotations

import argparse


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.set_defaults(func=lambda args: 0)
