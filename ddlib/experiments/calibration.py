"""Calibration sets the number of repetitions, never a threshold.

Every threshold is fixed before the data (``CheckSpec.origin``: the paper's wording, a closed form
or a convention of the field).  What the seeds the book never runs decide is how many repetitions
a check needs: ``calibrate`` runs ``CALIBRATION_REPETITIONS`` repetitions from base seed
``CALIBRATION_SEED`` at the smoke and book profiles, and records for every check its
per-repetition values (an undefined repetition kept as null and counted), their mean and spread,
and the **power rule**: the smallest number of repetitions n whose expected 95% interval is
narrower than the distance between the threshold and the effect the calibration measured,
``t_{0.975, n-1} s / sqrt(n) < |mean - threshold|`` (on logarithms for a geometric check).  A page
with fewer repetitions than that is likely to be inconclusive; the record says so beside its
verdicts.  The record is stored in ``ddlib/experiments/calibration/<notebook>.json``.

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
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
from scipy.stats import t

from ..book.claims import CheckSpec
from ..book.notebooks import NOTEBOOKS, experiment_module
from ..io import read_json, write_json
from .parameters import resolve_parameters
from .sentinels import SentinelCheck, recompute

__all__ = ["CALIBRATION_SEED", "CALIBRATION_REPETITIONS", "CALIBRATED_PROFILES", "NOTEBOOKS",
           "calibration_path", "load_calibration", "calibrate", "power_rule", "block_verdicts", "sentinel_values",
           "check_sentinel", "SENTINEL_PROFILE"]

CALIBRATION_SEED = 1000      # base seed: the book's and CI's seeds stay far below it
CALIBRATION_REPETITIONS = 10
CALIBRATED_PROFILES = ("smoke", "book")
SENTINEL_PROFILE = "smoke"   # the sentinel: the first calibration repetition at this profile, run alone
ROOT = Path(__file__).resolve().parent / "calibration"


MAX_REPETITIONS = 1000  # the power rule reports "more than this" beyond it


def power_rule(spec: CheckSpec, values: Sequence[Optional[float]], level: float = 0.95) -> dict[str, Any]:
    """The repetitions a check needs: the smallest n whose expected ``level`` interval,
    t_{(1+level)/2, n-1} s / sqrt(n), is narrower than the distance between the threshold and the
    calibration mean (both on logarithms for a geometric check).

    Returns:
        {"mean", "sd", "distance", "n_required"} -- n_required None when it cannot be computed
        (fewer than two defined values, a value that is not positive on a geometric check, or the
        mean exactly at the threshold) and ``MAX_REPETITIONS + 1`` when even that many would not do.
    """
    defined = [float(v) for v in values if v is not None and math.isfinite(v)]
    out: dict[str, Any] = {"mean": None, "sd": None, "distance": None, "n_required": None}
    if len(defined) < 2 or (spec.geometric and (min(defined) <= 0 or spec.threshold <= 0)):
        return out
    x = np.log(defined) if spec.geometric else np.asarray(defined)
    threshold = math.log(spec.threshold) if spec.geometric else spec.threshold
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    distance = abs(mean - threshold)
    out.update(mean=float(np.exp(mean)) if spec.geometric else mean, sd=sd, distance=distance)
    if distance == 0:
        return out
    if sd == 0:
        out["n_required"] = 2
        return out
    q = (1 + level) / 2
    for n in range(2, MAX_REPETITIONS + 1):
        if t.ppf(q, n - 1) * sd / math.sqrt(n) < distance:
            out["n_required"] = n
            return out
    out["n_required"] = MAX_REPETITIONS + 1
    return out


def block_verdicts(record: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Per profile and check, the verdict of each disjoint block of the profile's ``n_seeds``
    calibration repetitions, checked as a page checks its own run (same interval, same threshold).

    A page's verdict is an interval over ``n_seeds`` repetitions, so the blocks show what that
    verdict would have been on other seeds.  Checks whose record is not one value per repetition
    (several links pooled) are left out.
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
            vals = [math.nan if v is None else v for v in vals]  # an undefined repetition counts
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
                                                 "threshold": s.threshold, "basis": s.basis, "origin": s.origin,
                                                 "geometric": s.geometric} for k, s in checks.items()},
                              "profiles": {}}
    for profile in profiles:
        P = resolve_parameters(module.PROFILES, profile, seed=CALIBRATION_SEED, n_seeds=repetitions)
        start = time.perf_counter()
        values = module.measures(_call(module.run, P, progress), P)
        per_check = {}
        for key, spec in checks.items():
            vals = [None if v is None or not math.isfinite(float(v)) else float(v) for v in values.get(key, [])]
            per_check[key] = {"values": vals, "undefined": sum(v is None for v in vals), **power_rule(spec, vals)}
        record["profiles"][profile] = {"parameters": P, "n_seeds": int(module.PROFILES[profile]["n_seeds"]),
                                       "checks": per_check, "wall_time_s": time.perf_counter() - start}
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
