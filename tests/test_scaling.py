"""ddlib.experiments.scaling: the log-log slope fits, per repetition and bootstrapped, on synthetic
power laws, the bound's own slopes, the two-term law, and the computed reading."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ddlib.experiments.scaling import reading
from ddlib.scaling import (BOUND_EXPONENTS, FLAT, bootstrap_slope, bound_slope, fit_slopes, fit_two_term, loglog_slope,
                           seed_slopes, two_term_slopes)


def test_loglog_slope_recovers_an_exact_power_law():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert loglog_slope(x, 3.0 * x ** 1.7) == pytest.approx(1.7, abs=1e-12)


def test_loglog_slope_rejects_a_single_x_value():
    with pytest.raises(ValueError, match="two distinct x"):
        loglog_slope([4, 4], [1, 2])


def _synthetic_line(exponent: float, noise: float, n_seeds: int, rng_seed: int, xs=(1, 2, 3, 4)) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = [{"seed": s, "r": x, "y": 5.0 * x ** exponent * math.exp(noise * rng.standard_normal())}
            for s in range(n_seeds) for x in xs]
    return pd.DataFrame(rows)


def test_bootstrap_interval_covers_the_true_exponent_of_noisy_synthetic_data():
    # 20 synthetic data sets, exponent 1.5, log-normal noise 0.2, 8 repetitions each; the percentile
    # bootstrap over 8 repetitions undercovers a little, so we require 16 of 20 (nominal 19).
    covered, widths = 0, []
    for k in range(20):
        b = bootstrap_slope(_synthetic_line(1.5, 0.2, 8, k), "r", "y", n_boot=500, seed=k)
        covered += b["lo"] <= 1.5 <= b["hi"]
        widths.append(b["hi"] - b["lo"])
        assert b["n_groups"] == 8 and b["n_rows"] == 32 and b["n_dropped"] == 0
    assert covered >= 16, covered
    assert 0.0 < np.median(widths) < 0.5, widths


def test_bootstrap_resamples_whole_repetitions():
    # every repetition is an exact power law with its own exponent: a resample's slope is the mean
    # of its repetitions' exponents, so the interval lies between the smallest and the largest
    table = pd.concat([pd.DataFrame({"seed": s, "r": [1, 2, 4], "y": [1.0, 2.0 ** e, 4.0 ** e]})
                       for s, e in enumerate([0.5, 1.0, 1.5])])
    b = bootstrap_slope(table, "r", "y", n_boot=400, seed=0)
    assert b["slope"] == pytest.approx(1.0)
    assert 0.5 - 1e-9 <= b["lo"] < 1.0 < b["hi"] <= 1.5 + 1e-9


def test_bootstrap_is_reproducible_from_its_seed_and_drops_missing_values():
    table = _synthetic_line(1.0, 0.1, 5, 0)
    table.loc[3, "y"] = None
    a = bootstrap_slope(table, "r", "y", n_boot=100, seed=7)
    assert a == bootstrap_slope(table, "r", "y", n_boot=100, seed=7)
    assert a["n_dropped"] == 1 and a["n_rows"] == 19


def test_seed_slopes_average_to_the_pooled_slope_of_a_balanced_design():
    table = _synthetic_line(0.8, 0.3, 6, 1)
    per = seed_slopes(table, "r", "y")
    assert len(per) == 6
    assert np.mean(per) == pytest.approx(bootstrap_slope(table, "r", "y", n_boot=10)["slope"], abs=1e-12)


def test_seed_slopes_skip_a_repetition_left_with_one_x_value():
    table = _synthetic_line(1.0, 0.0, 2, 0, xs=(1, 2))
    table.loc[(table.seed == 1) & (table.r == 2), "y"] = None
    assert seed_slopes(table, "r", "y") == [pytest.approx(1.0)]


def test_fit_slopes_gives_one_row_per_line_group_and_quantity():
    r_line = _synthetic_line(2.0, 0.0, 3, 0).rename(columns={"y": "points"}).assign(line="r", target="rel4")
    table = pd.concat([r_line, r_line.assign(target="abs0.1", points=r_line.points * 2)])
    slopes = fit_slopes(table, {"r": "r"}, ["points"], by=["target"], n_boot=50)
    assert list(slopes.target) == ["rel4", "abs0.1"] and (slopes.x == "r").all()
    assert slopes.slope.to_numpy() == pytest.approx([2.0, 2.0])
    assert slopes.lo.iloc[0] == pytest.approx(2.0) and slopes.hi.iloc[0] == pytest.approx(2.0)
    assert fit_slopes(table, {"d": "d"}, ["points"], by=["target"]).empty  # a line not asked for


def _sizes(line: str, **values) -> pd.DataFrame:
    base = {"r": 2, "d": 64, "width": 512, "n_train": 16384}
    (name, xs), = values.items()
    return pd.DataFrame([{**base, name: x, "line": line, "seed": 0} for x in xs])


def test_bound_slope_is_the_slope_of_r2d_plus_L_over_the_range():
    t = _sizes("L", width=[256, 1024, 4096])
    law = [4 * 64 + w for w in (256, 1024, 4096)]
    assert bound_slope(t, "width") == pytest.approx(loglog_slope([256, 1024, 4096], law))
    per_point = [v / 65 for v in law]
    assert bound_slope(t, "width", "points") == pytest.approx(loglog_slope([256, 1024, 4096], per_point))
    assert bound_slope(_sizes("n", n_train=[4096, 16384]), "n_train") == 0.0
    assert bound_slope(_sizes("d", d=[32, 64, 128]), "d", "points") < 0  # r^2 + L/d falls with d


def test_fit_two_term_recovers_known_coefficients():
    rows = [{"r": r, "d": d, "width": w, "seed": 0} for r in (1, 2, 3) for d in (16, 64) for w in (128, 1024)]
    table = pd.DataFrame(rows)
    table["floats"] = 2.0 * table.r ** 2 * table.d + 0.5 * table.width
    fit = fit_two_term(table)
    assert fit["c1"] == pytest.approx(2.0) and fit["c2"] == pytest.approx(0.5)
    assert fit["max_rel_error"] < 1e-10 and fit["n_sizes"] == 12


def test_fit_two_term_keeps_coefficients_non_negative():
    table = pd.DataFrame({"r": [1, 2, 3, 1], "d": [32, 32, 32, 32], "width": [100, 100, 100, 1000], "seed": 0})
    table["floats"] = 10.0 * table.r ** 2 * table.d - 0.1 * table.width  # a negative L term
    fit = fit_two_term(table)
    assert fit["c1"] > 0 and fit["c2"] == 0.0


def test_two_term_slopes_follow_the_fitted_law_along_each_line():
    t = _sizes("r", r=[1, 2, 4])
    t["floats"] = 3.0 * t.r ** 2 * t.d + 1.0 * t.width
    fit = fit_two_term(t)
    law = [3.0 * r * r * 64 + 512 for r in (1, 2, 4)]
    assert two_term_slopes(t, fit, {"r": "r"})["r"] == pytest.approx(loglog_slope([1, 2, 4], law))


def _slope_rows(**per_line):
    x_of = {"r": "r", "L": "width", "n": "n_train", "d": "d"}
    return pd.DataFrame([{"line": k, "x": x_of[k], "quantity": "floats", "slope": s, "lo": lo, "hi": hi}
                         for k, (s, lo, hi) in per_line.items()])


def test_reading_names_the_factor_where_the_bound_is_not_tight_and_by_how_much():
    table = pd.concat([_sizes("L", width=[256, 4096]), _sizes("n", n_train=[4096, 262144])])
    v = reading(_slope_rows(L=(0.02, -0.05, 0.1), n=(0.0, -0.1, 0.1)), table, {"L": "width", "n": "n_train"},
                names={"L": "L"})
    assert v["not_tight"] == ["L"] and v["exceeded"] == []
    L = v["per_line"]["L"]
    assert L["bound_growth"] == pytest.approx(16 ** bound_slope(table[table.line == "L"], "width"))
    assert L["measured_growth"] == pytest.approx(16 ** 0.02)
    assert "not tight in L" in v["text"] and f"{L['bound_growth']:.1f}x" in v["text"]
    assert "has no n term" in v["text"] and v["text"].startswith("The memory grows no faster")


def test_reading_flags_growth_beyond_the_allowed_exponent():
    table = pd.concat([_sizes("r", r=[1, 2, 4]), _sizes("n", n_train=[4096, 65536])])
    v = reading(_slope_rows(r=(2.6, 2.2, 3.0), n=(0.5, 0.3, 0.7)), table, {"r": "r", "n": "n_train"})
    assert v["exceeded"] == ["r", "n"] and "faster than r^2 d + L allows in r, n" in v["text"]
    assert BOUND_EXPONENTS["floats"]["n_train"] == 0.0 and FLAT == 0.2


def test_reading_does_not_call_a_slope_not_tight_when_its_interval_reaches_the_bounds_growth():
    table = _sizes("r", r=[1, 2, 4])
    s = bound_slope(table, "r")
    v = reading(_slope_rows(r=(s - 0.1, s - 0.3, s + 0.1)), table, {"r": "r"})
    assert v["not_tight"] == [] and v["exceeded"] == []
