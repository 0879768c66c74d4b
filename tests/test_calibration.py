"""The calibration records: every committed record matches the thresholds in the code (which no
calibration value sets), covers every check at the calibrated profiles with every repetition
(undefined ones counted), gives the power rule's repetitions, and was made on seeds that the
book's and CI's runs never use."""
from __future__ import annotations

import importlib

import pytest

from ddlib.experiments import calibration, resolve_parameters
from ddlib.experiments.calibration import (CALIBRATED_PROFILES, CALIBRATION_SEED, NOTEBOOKS, block_verdicts,
                                           calibration_path, load_calibration, power_rule)
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
        assert (r["comparison"], r["threshold"], r["geometric"], r["origin"]) == \
            (spec.comparison, spec.threshold, spec.geometric, spec.origin)
    for profile in CALIBRATED_PROFILES:
        checks = record["profiles"][profile]["checks"]
        assert set(checks) == set(module.CHECKS)
        assert record["profiles"][profile]["n_seeds"] == module.PROFILES[profile]["n_seeds"]
        for key, c in checks.items():
            assert len(c["values"]) == record["repetitions"] or key in getattr(module, "OPTIONAL_CHECKS", ())
            assert c["undefined"] == sum(v is None for v in c["values"])
            assert c["n_required"] == power_rule(module.CHECKS[key], c["values"])["n_required"]


@pytest.mark.parametrize("name", RECORDED)
def test_calibration_seeds_never_meet_the_book_or_ci_seeds(name):
    record = load_calibration(name)
    module = importlib.import_module(f"ddlib.experiments.{NOTEBOOKS[name]}")
    assert record["seed"] == CALIBRATION_SEED
    calibration = _seeds(CALIBRATION_SEED, record["repetitions"])
    for profile in module.PROFILES:
        P = resolve_parameters(module.PROFILES, profile, seed=0)
        assert not calibration & _seeds(0, P["n_seeds"]), profile


def test_the_power_rule_asks_for_more_repetitions_the_closer_the_effect_lies_to_the_threshold():
    spec = CheckSpec("q", "<=", 2.0, "b")
    far, near = power_rule(spec, [1.0, 1.1, 0.9, 1.05, 0.95]), power_rule(spec, [1.8, 1.9, 1.7, 1.85, 1.75])
    assert far["n_required"] == 2 < near["n_required"] and far["mean"] == pytest.approx(1.0)
    assert power_rule(spec, [2.0, 2.0])["n_required"] is None  # the mean at the threshold: no n will do
    assert power_rule(spec, [1.0])["n_required"] is None  # one value: no spread
    geo = power_rule(CheckSpec("q", "<=", 2.0, "b", geometric=True), [1.0, 1.1, 0.9])
    assert geo["mean"] == pytest.approx((1.0 * 1.1 * 0.9) ** (1 / 3))


def test_an_undefined_calibration_repetition_is_kept_and_counted_not_dropped():
    spec = CheckSpec("q", "<=", 2.0, "b")
    assert power_rule(spec, [1.0, None, 1.1])["mean"] == pytest.approx(1.05)
    record = {"notebook": "05_boundaries", "repetitions": 10, "profiles": {"book": {"checks": {"he3_full": {
        "values": [30.0, None, 29.0, 30.5, 29.5, 31.0, 30.0, 29.0, 30.5, 29.5]}}}}}
    assert block_verdicts(record)["book"]["he3_full"][0] == "inconclusive"


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
        "values": [0.95, 0.97, 0.93, 0.96, 0.94, 0.1, 0.12, 0.09, 0.11, 0.1]}}}}}
    assert block_verdicts(doctored)["book"]["he3_full"] == ["holds", "does not hold"]


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
