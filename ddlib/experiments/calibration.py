"""Thresholds set out of sample: each claim's threshold is chosen, and its margin recorded, from
repetitions on seeds that neither the book nor CI ever runs.

The book runs base seeds 0, 1, ... (repetition k uses seed + k, with the cell's default
``seed = 0``); calibration runs ``CALIBRATION_REPETITIONS`` repetitions from base seed
``CALIBRATION_SEED`` at the smoke and book profiles and stores, for every check of every claim,
the per-repetition values, their range and the margin to the threshold, in
``ddlib/experiments/calibration/<notebook>.json``.  The notebooks show that record beside their
verdicts; ``tests/test_calibration.py`` checks that it matches the thresholds in the code and
that its seeds never meet the book's.

    python -m ddlib.experiments.calibration 02_generalization      # regenerate one record
    make calibrate                                                  # all of them
    python -m ddlib.experiments.calibration --status                # current? (sentinels recomputed)

Each record carries a *sentinel*: the first calibration repetition at the smoke profile, run alone.
The record is current when today's code recomputes that repetition's values bit for bit
(``check_sentinel``; ``ddlib.experiments.sentinels``), so a refactor that changes no number keeps
it current without a regeneration.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..book.claims import CheckSpec
from ..book.notebooks import NOTEBOOKS, experiment_module
from ..io import read_json, write_json
from .parameters import resolve_parameters
from .sentinels import SentinelCheck, recompute

__all__ = ["CALIBRATION_SEED", "CALIBRATION_REPETITIONS", "CALIBRATED_PROFILES", "NOTEBOOKS",
           "calibration_path", "load_calibration", "calibrate", "margin", "block_verdicts", "sentinel_values",
           "check_sentinel", "SENTINEL_PROFILE"]

CALIBRATION_SEED = 1000      # base seed: the book's and CI's seeds stay far below it
CALIBRATION_REPETITIONS = 10
CALIBRATED_PROFILES = ("smoke", "book")
SENTINEL_PROFILE = "smoke"   # the sentinel: the first calibration repetition at this profile, run alone
ROOT = Path(__file__).resolve().parent / "calibration"


def margin(spec: CheckSpec, values: Sequence[float]) -> float:
    """How far the worst calibration value stays from the threshold, as a fraction of the
    threshold's distance from the claim-neutral 0: positive = every value on the claimed side."""
    worst = max(values) if spec.comparison == "<=" else min(values)
    scale = abs(spec.threshold) if spec.threshold != 0 else 1.0
    gap = spec.threshold - worst if spec.comparison == "<=" else worst - spec.threshold
    return gap / scale


def block_verdicts(record: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Per profile and check, the verdict of each disjoint block of the profile's ``n_seeds``
    calibration repetitions, checked as a page checks its own run (same interval, same threshold).

    The margin says how far the worst single repetition lies from the threshold; a page's verdict
    is an interval over ``n_seeds`` repetitions, so the blocks show what that verdict would have
    been on other seeds.  Checks whose record is not one value per repetition (several links
    pooled) are left out.
    """
    module = experiment_module(record["notebook"])
    out: dict[str, dict[str, list[str]]] = {}
    for profile, rec in record["profiles"].items():
        k = int(module.PROFILES[profile]["n_seeds"])
        out[profile] = {}
        for key, c in rec["checks"].items():
            vals, spec = c.get("values") or [], module.CHECKS.get(key)
            if spec is None or len(vals) != record["repetitions"] or len(vals) < k:
                continue
            out[profile][key] = [spec.check(vals[i:i + k]).verdict for i in range(0, len(vals) - k + 1, k)]
    return out


def calibration_path(notebook: str) -> Path:
    return ROOT / f"{notebook}.json"


def load_calibration(notebook: str) -> dict[str, Any]:
    """The committed calibration record of a notebook (checksum-verified)."""
    if notebook not in NOTEBOOKS:
        raise ValueError(f"notebook must be one of {sorted(NOTEBOOKS)}, got {notebook!r}")
    return read_json(calibration_path(notebook))


def calibrate(notebook: str, *, profiles: Sequence[str] = CALIBRATED_PROFILES,
              repetitions: int = CALIBRATION_REPETITIONS, progress: bool = False) -> dict[str, Any]:
    """Run a notebook's experiment on the calibration seeds and record every check's values.

    The experiment module supplies ``PROFILES``, ``CHECKS`` (key -> ``CheckSpec``), ``run``
    (its run function) and ``measures(result, P) -> {key: [value per repetition]}``.
    """
    module = experiment_module(notebook)
    checks: Mapping[str, CheckSpec] = module.CHECKS
    record: dict[str, Any] = {"notebook": notebook, "seed": CALIBRATION_SEED, "repetitions": repetitions,
                              "thresholds": {k: {"name": s.name, "comparison": s.comparison,
                                                 "threshold": s.threshold, "basis": s.basis,
                                                 "geometric": s.geometric} for k, s in checks.items()},
                              "profiles": {}}
    for profile in profiles:
        P = resolve_parameters(module.PROFILES, profile, seed=CALIBRATION_SEED, n_seeds=repetitions)
        start = time.perf_counter()
        values = module.measures(_call(module.run, P, progress), P)
        per_check = {}
        for key, spec in checks.items():
            vals = [float(v) for v in values.get(key, []) if v is not None and math.isfinite(v)]
            per_check[key] = {"values": vals, "min": min(vals) if vals else None, "max": max(vals) if vals else None,
                              "mean": sum(vals) / len(vals) if vals else None,
                              "margin": margin(spec, vals) if vals else None}
        record["profiles"][profile] = {"parameters": P, "checks": per_check,
                                       "wall_time_s": time.perf_counter() - start}
    record["sentinel"] = {"profile": SENTINEL_PROFILE, "repetition": 0, "values": sentinel_values(notebook)}
    return record


def sentinel_values(notebook: str) -> dict[str, list[float]]:
    """The sentinel of a notebook's record, computed by today's code: every check's values of the
    first calibration repetition at ``SENTINEL_PROFILE``, run alone."""
    module = experiment_module(notebook)
    P = resolve_parameters(module.PROFILES, SENTINEL_PROFILE, seed=CALIBRATION_SEED, n_seeds=1)
    values = module.measures(_call(module.run, P, False), P)
    return {key: [float(v) for v in values.get(key, [])] for key in module.CHECKS}


def check_sentinel(notebook: str) -> SentinelCheck:
    """Recompute the sentinel of a notebook's committed record and compare it bit for bit."""
    expected = load_calibration(notebook).get("sentinel")
    if not expected:
        return SentinelCheck(notebook, False, "the record has no sentinel: regenerate it", 0.0)
    return recompute(notebook, lambda: sentinel_values(notebook), expected["values"])


def _call(run: Callable[..., Any], P: Mapping[str, Any], progress: bool) -> Any:
    return run(**P, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddlib.experiments.calibration",
                                     description="Regenerate the calibration records of notebooks.")
    parser.add_argument("notebooks", nargs="*", default=list(NOTEBOOKS), help="notebook names (default: all)")
    parser.add_argument("--status", action="store_true",
                        help="recompute each record's sentinel and say whether the record is current (exit 1 if not)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.notebooks) - set(NOTEBOOKS))
    if unknown:
        parser.error(f"unknown notebook(s) {unknown}; choose from {sorted(NOTEBOOKS)}")
    if args.status:
        checks = [check_sentinel(name) for name in args.notebooks]
        for check in checks:
            print(check.line())
        return 0 if all(c.current for c in checks) else 1
    for name in args.notebooks:
        start = time.perf_counter()
        path = write_json(calibration_path(name), calibrate(name, progress=True))
        print(f"{name}: {path} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
