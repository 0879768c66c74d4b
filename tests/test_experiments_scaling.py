"""ddlib.experiments.scaling: the log-log slope fits and their bootstrap on synthetic power laws,
the two-term law, and the computed verdict."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ddlib.experiments.scaling import (bootstrap_slope, fit_slopes, fit_two_term, loglog_slope,
                                       verdict)


# ---- slopes, bootstrap, two-term fit, verdict -------------------------------------------------

def test_loglog_slope_recovers_an_exact_power_law():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert loglog_slope(x, 3.0 * x ** 1.7) == pytest.approx(1.7, abs=1e-12)


def test_loglog_slope_rejects_a_single_x_value():
    with pytest.raises(ValueError, match="two distinct x"):
        loglog_slope([4, 4], [1, 2])


def _synthetic_line(exponent: float, noise: float, n_seeds: int, rng_seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = [{"seed": s, "r": x, "y": 5.0 * x ** exponent * math.exp(noise * rng.standard_normal())}
            for s in range(n_seeds) for x in (1, 2, 3, 4)]
    return pd.DataFrame(rows)


def test_bootstrap_interval_covers_the_true_exponent_of_noisy_synthetic_data():
    # 20 synthetic data sets, exponent 1.5, log-normal noise 0.2, 8 repetitions each: the 95%
    # interval covered 1.5 in 19, 19 and 18 of 20 for rng seeds 0-19, 100-119 and 200-219 (median
    # width 0.23-0.25, range 0.10-0.40); we require 17 of 20 and a median width below 0.5.
    covered, widths = 0, []
    for k in range(20):
        b = bootstrap_slope(_synthetic_line(1.5, 0.2, 8, k), "r", "y", n_boot=300, seed=k)
        covered += b["lo"] <= 1.5 <= b["hi"]
        widths.append(b["hi"] - b["lo"])
        assert b["n_groups"] == 8 and b["n_rows"] == 32 and b["n_dropped"] == 0
    assert covered >= 17, covered
    assert 0.0 < np.median(widths) < 0.5, widths


def test_bootstrap_is_reproducible_from_its_seed_and_drops_missing_values():
    table = _synthetic_line(1.0, 0.1, 5, 0)
    table.loc[3, "y"] = None
    a = bootstrap_slope(table, "r", "y", n_boot=100, seed=7)
    assert a == bootstrap_slope(table, "r", "y", n_boot=100, seed=7)
    assert a["n_dropped"] == 1 and a["n_rows"] == 19


def test_fit_slopes_gives_one_row_per_line_and_quantity():
    table = _synthetic_line(2.0, 0.0, 3, 0).rename(columns={"y": "m1_star"}).assign(line="r")
    slopes = fit_slopes(table, quantities=["m1_star"], n_boot=50)
    assert list(slopes.factor) == ["r"] and slopes.slope.iloc[0] == pytest.approx(2.0)
    assert slopes.lo.iloc[0] == pytest.approx(2.0) and slopes.hi.iloc[0] == pytest.approx(2.0)


def test_fit_two_term_recovers_known_coefficients():
    rows = [{"r": r, "d": d, "width": w, "seed": 0} for r in (1, 2, 3) for d in (16, 64) for w in (128, 1024)]
    table = pd.DataFrame(rows)
    table["memory_floats"] = 2.0 * table.r ** 2 * table.d + 0.5 * table.width
    fit = fit_two_term(table)
    assert fit["c1"] == pytest.approx(2.0) and fit["c2"] == pytest.approx(0.5)
    assert fit["max_rel_error"] < 1e-10 and fit["n_sizes"] == 12


def test_fit_two_term_keeps_coefficients_non_negative():
    table = pd.DataFrame({"r": [1, 2, 3, 1], "d": [32, 32, 32, 32], "width": [100, 100, 100, 1000], "seed": 0})
    table["memory_floats"] = 10.0 * table.r ** 2 * table.d - 0.1 * table.width  # a negative L term
    fit = fit_two_term(table)
    assert fit["c1"] > 0 and fit["c2"] == 0.0


def _slopes(**per_factor):
    return pd.DataFrame([{"factor": f, "quantity": "memory_floats", "slope": s, "lo": lo, "hi": hi}
                         for f, (s, lo, hi) in per_factor.items()])


def test_verdict_within_bound_names_the_flat_factor():
    v = verdict(_slopes(r=(1.8, 1.5, 2.1), d=(0.9, 0.7, 1.1), width=(0.05, -0.1, 0.2)))
    assert v["within_bound"]
    assert v["per_factor"]["width"]["grows"] is False and v["per_factor"]["r"]["grows"] is True
    assert "no faster" in v["text"] and "No growth is resolved in L" in v["text"]


def test_verdict_sets_the_fitted_two_term_law_beside_the_measured_slope():
    rows = [{"line": "r", "r": r, "d": 32, "width": 512, "seed": 0} for r in (1, 2, 4)]
    table = pd.DataFrame(rows)
    table["memory_floats"] = 3.0 * table.r ** 2 * table.d + 1.0 * table.width
    slopes = fit_slopes(table, quantities=["memory_floats"], n_boot=20)
    v = verdict(slopes, table)
    law = [3.0 * r * r * 32 + 512 for r in (1, 2, 4)]
    assert v["per_factor"]["r"]["two_term_slope"] == pytest.approx(loglog_slope([1, 2, 4], law))
    assert v["per_factor"]["r"]["two_term_slope"] == pytest.approx(v["per_factor"]["r"]["slope"])
    assert v["two_term"]["c1"] == pytest.approx(3.0) and "3.00 r^2 d + 1.00 L" in v["text"]


def test_verdict_flags_growth_faster_than_the_bound():
    v = verdict(_slopes(r=(3.0, 2.6, 3.4), d=(1.0, 0.8, 1.2)))
    assert not v["within_bound"] and not v["per_factor"]["r"]["within_bound"]
    assert "FASTER" in v["text"]


