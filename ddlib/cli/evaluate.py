"""``ddlib evaluate SET.pt``: re-score a saved distilled set across fresh initialisations, widths
and ridges (``ddlib.evaluation``), from the command line."""
from __future__ import annotations

import argparse

from ..distillers import DistilledSet
from typing import Any

from ..evaluation import DEFAULT_SEED_BASE, DEFAULT_TEST_SEED, plan_evaluation, run_evaluation
from ..io import write_json
from ..tasks import MultiIndexTask
from ..validation import short_repr
from .errors import CliError

__all__ = ["configure_parser", "parse_task_spec"]

_TASK_KEYS = {"d": int, "r": int, "link": str, "noise": float, "seed": int}
EPILOG = """\
The task: a set distilled with task=... records it; for one that does not, pass
  --task r=2,link=he2,seed=0[,noise=0.0][,d=32]   (d defaults to the set's)
Given, --task replaces the record.  The recorded theta0 (width, seed) is scored as the reference;
the fresh seeds are seed_base, seed_base + 1, ... without it.

exit status: 0 scored; 2 bad input (no such file, not a ddlib DistilledSet file, corrupted, a
missing or invalid task, mismatched d, bad options), refused before anything runs; 1 a failure
while scoring (--debug shows the traceback)."""


def parse_task_spec(spec: str, d: int) -> MultiIndexTask:
    """``"r=2,link=he2,seed=0[,noise=0.1][,d=32]"`` -> a MultiIndexTask (d defaults to ``d``)."""
    if not isinstance(spec, str):
        raise TypeError(f"the task spec must be a string, got {type(spec).__name__}")
    fields: dict[str, Any] = {"d": d}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, text = part.partition("=")
        key = key.strip()
        if not sep or key not in _TASK_KEYS:
            raise ValueError(f"--task takes key=value pairs with keys {sorted(_TASK_KEYS)}, got {short_repr(part)}")
        try:
            fields[key] = _TASK_KEYS[key](text.strip())
        except ValueError:
            raise ValueError(f"--task: {key} must be {_TASK_KEYS[key].__name__}, got {short_repr(text)}") from None
    missing = {"r", "link", "seed"} - set(fields)
    if missing:
        raise ValueError(f"--task must give {sorted(missing)} (e.g. r=2,link=he2,seed=0), got {short_repr(spec)}")
    return MultiIndexTask(**fields)


def _list(kind: type):
    def parse(text: str) -> list:
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
    return parse


def configure_parser(p: argparse.ArgumentParser) -> None:
    """The ``ddlib evaluate`` subcommand."""
    p.description = ("Re-score a saved DistilledSet: train its learner on it from k fresh theta0 seeds, at each "
                     "width and ridge, and print the normalised test MSE (mean and t-interval) and the memory.")
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("set", help="a file written by DistilledSet.save")
    p.add_argument("--task", default=None, help="r=R,link=NAME,seed=S[,noise=N][,d=D]: needed when the set records "
                                                "no task")
    p.add_argument("--seeds", type=int, default=5, help="k, fresh theta0 seeds per (width, ridge) (default 5)")
    p.add_argument("--seed-base", type=int, default=DEFAULT_SEED_BASE, help="the first fresh seed (default 1000)")
    p.add_argument("--widths", type=_list(int), default=None, help="comma-separated widths (default: recorded)")
    p.add_argument("--ridges", type=_list(float), default=None, help="comma-separated lambda2 (default: recorded)")
    p.add_argument("--n-test", type=int, default=10_000, help="test points (default 10000)")
    p.add_argument("--test-seed", type=int, default=DEFAULT_TEST_SEED, help="seed of the test sample")
    p.add_argument("--json", default=None, help="also write the evaluation as JSON (ddlib.io.write_json) here")
    p.set_defaults(func=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    try:
        task = None if args.task is None else parse_task_spec(args.task, DistilledSet.load(args.set).d)
        plan = plan_evaluation(args.set, task=task, k=args.seeds, widths=args.widths, ridges=args.ridges,
                               seed_base=args.seed_base, n_test=args.n_test, test_seed=args.test_seed)
    except (OSError, ValueError, TypeError) as exc:  # ArtifactError is a ValueError
        raise CliError(str(exc), status=2) from None
    result = run_evaluation(plan)
    print(result.format())
    if args.json:
        write_json(args.json, result.as_dict())
    return 0
