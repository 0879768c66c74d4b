"""The calibration records: every committed record matches the thresholds in the code, covers
every check at the calibrated profiles, and was made on seeds that the book's and CI's runs
never use."""
from __future__ import annotations

import importlib

import pytest

from ddlib.experiments import resolve_parameters
from ddlib.experiments.calibration import (CALIBRATED_PROFILES, CALIBRATION_SEED, NOTEBOOKS, calibration_path,
                                           load_calibration, margin)
from ddlib.experiments.problem import derived_seeds
from ddlib.claims import CheckSpec

RECORDED = [name for name in NOTEBOOKS if calibration_path(name).exists()]


def _seeds(base: int, n: int) -> set[int]:
    return {s for k in range(n) for s in derived_seeds(base + k).values()}


@pytest.mark.parametrize("name", RECORDED)
def test_record_matches_the_thresholds_in_the_code(name):
    record = load_calibration(name)  # checksum-verified
    module = importlib.import_module(f"ddlib.experiments.{NOTEBOOKS[name]}")
    assert set(record["thresholds"]) == set(module.CHECKS)
    for key, spec in module.CHECKS.items():
        r = record["thresholds"][key]
        assert (r["comparison"], r["threshold"], r["geometric"]) == (spec.comparison, spec.threshold, spec.geometric)
    for profile in CALIBRATED_PROFILES:
        checks = record["profiles"][profile]["checks"]
        assert set(checks) == set(module.CHECKS)
        for key, c in checks.items():
            assert len(c["values"]) == record["repetitions"] or key in getattr(module, "OPTIONAL_CHECKS", ())
            if c["values"]:
                assert c["margin"] == pytest.approx(margin(module.CHECKS[key], c["values"]))


@pytest.mark.parametrize("name", RECORDED)
def test_calibration_seeds_never_meet_the_book_or_ci_seeds(name):
    record = load_calibration(name)
    module = importlib.import_module(f"ddlib.experiments.{NOTEBOOKS[name]}")
    assert record["seed"] == CALIBRATION_SEED
    calibration = _seeds(CALIBRATION_SEED, record["repetitions"])
    for profile in module.PROFILES:
        P = resolve_parameters(module.PROFILES, profile, seed=0)
        assert not calibration & _seeds(0, P["n_seeds"]), profile


def test_margin_is_positive_exactly_when_every_value_is_on_the_claimed_side():
    below = CheckSpec("q", "<=", 2.0, "b")
    above = CheckSpec("q", ">=", 2.0, "b")
    assert margin(below, [1.0, 1.5]) == pytest.approx(0.25) and margin(below, [1.0, 2.5]) < 0
    assert margin(above, [3.0, 2.5]) == pytest.approx(0.25) and margin(above, [3.0, 1.0]) < 0
