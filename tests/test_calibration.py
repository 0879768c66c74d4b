"""The calibration records: every committed record matches the thresholds in the code, covers
every check at the calibrated profiles, and was made on seeds that the book's and CI's runs
never use."""
from __future__ import annotations

import importlib

import pytest

from ddlib.experiments import calibration, resolve_parameters
from ddlib.experiments.calibration import (CALIBRATED_PROFILES, CALIBRATION_SEED, NOTEBOOKS, block_verdicts,
                                           calibration_path, load_calibration, margin)
from ddlib.experiments.problem import derived_seeds
from ddlib.book.claims import CheckSpec

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


def test_block_verdicts_check_each_block_of_n_seeds_as_a_page_would():
    record = load_calibration("05_boundaries")
    module = importlib.import_module("ddlib.experiments.boundaries")
    blocks = block_verdicts(record)
    for profile in CALIBRATED_PROFILES:
        k = module.PROFILES[profile]["n_seeds"]
        for key, verdicts in blocks[profile].items():
            values = record["profiles"][profile]["checks"][key]["values"]
            assert len(verdicts) == len(values) // k
            assert verdicts == [module.CHECKS[key].check(values[i * k:(i + 1) * k]).verdict
                                for i in range(len(verdicts))]
    # A doctored record whose second block lies on the wrong side: that block does not hold.
    doctored = {**record, "profiles": {"book": {"checks": {"he3_full": {
        "values": [30.0, 31.0, 29.0, 30.5, 29.5, 2.0, 2.1, 1.9, 2.05, 1.95]}}}}}
    assert block_verdicts(doctored)["book"]["he3_full"] == ["holds", "does not hold"]


@pytest.mark.parametrize("name", RECORDED)
def test_no_calibration_block_fails_its_claim(name):
    # The promise at both calibrated profiles is at least that no claim fails at the defaults; a
    # block of calibration seeds that failed would say the promise rests on the book's own seeds.
    # (Blocks that are merely inconclusive are shown on the page, not hidden: see its record.)
    for profile, checks in block_verdicts(load_calibration(name)).items():
        failing = {key: v for key, v in checks.items() if "does not hold" in v}
        assert not failing, (profile, failing)


# ---- sentinels: the records are current by behaviour --------------------------------------------------

@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_every_calibration_record_is_current_by_its_sentinel(notebook):
    """Today's code recomputes the record's first smoke repetition bit for bit (a refactor that
    changes no number keeps the record current)."""
    check = calibration.check_sentinel(notebook)
    assert check.current, check.line()


def test_the_sentinel_is_the_first_repetition_of_the_record():
    for notebook in NOTEBOOKS:
        record = load_calibration(notebook)
        smoke = record["profiles"][record["sentinel"]["profile"]]["checks"]
        for key, values in record["sentinel"]["values"].items():
            if len(smoke[key]["values"]) == record["repetitions"] and values:
                assert values[0] == smoke[key]["values"][0], (notebook, key)


def test_a_sentinel_is_stale_when_the_code_computes_other_numbers(monkeypatch):
    real = calibration.sentinel_values
    monkeypatch.setattr(calibration, "sentinel_values",
                        lambda nb: {k: [v + 1e-12 for v in vals] for k, vals in real(nb).items()})
    check = calibration.check_sentinel("00_learner")
    assert not check.current and "stored" in check.detail
