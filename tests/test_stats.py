"""Confidence intervals: the t-interval against scipy's own and its coverage on a known normal,
the bootstrap interval's determinism, and the degenerate cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ddlib.stats import bootstrap_interval, mean_interval


def test_t_interval_matches_the_textbook_formula():
    from scipy import stats

    x = [1.0, 2.0, 4.0, 3.5, 2.5]
    iv = mean_interval(x)
    half = stats.t.ppf(0.975, 4) * np.std(x, ddof=1) / math.sqrt(5)
    assert iv.estimate == pytest.approx(np.mean(x)) and iv.hi - iv.estimate == pytest.approx(half)
    assert iv.n == 5 and iv.method == "t"


def test_t_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(2000):
        iv = mean_interval(rng.normal(3.0, 2.0, 5))
        hits += iv.lo <= 3.0 <= iv.hi
    assert 0.93 < hits / 2000 < 0.97  # binomial sd 0.005 around 0.95


def test_one_value_has_no_interval_and_identical_values_a_zero_width_one():
    one = mean_interval([2.0])
    assert one.estimate == 2.0 and math.isnan(one.lo) and not one.defined
    same = mean_interval([2.0, 2.0, 2.0])
    assert same.lo == same.hi == 2.0


def test_bootstrap_is_deterministic_given_its_seed_and_brackets_the_estimate():
    x = [1.0, 3.0, 2.0, 5.0, 4.0, 2.5]
    a, b = bootstrap_interval(x, np.median, seed=3), bootstrap_interval(x, np.median, seed=3)
    assert a == b and a.lo <= a.estimate <= a.hi and a.method == "bootstrap"


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="at least one value"):
        mean_interval([])
    with pytest.raises(ValueError, match="finite"):
        mean_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="level must be <= 0.9999"):
        mean_interval([1.0, 2.0], level=1.0)
