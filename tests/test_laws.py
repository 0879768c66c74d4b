"""ddlib.laws: on floats drawn from a known law, the fits recover it, cross-validation prefers it,
and the per-term verdicts say what the law is -- each verdict rule can come out either way."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ddlib import laws


def _grid(law, noise=0.05, seeds=5, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        for r, d, L, n in ([(r, 64, 1024, 16384) for r in (1, 2, 3, 4, 6, 8)] +
                           [(2, d, 1024, 4 * d * d) for d in (32, 64, 128, 256)] +
                           [(2, 64, L, 16384) for L in (128, 256, 512, 1024, 2048)] +
                           [(2, 64, 1024, k * 4096) for k in (1, 2, 4, 8, 16)]):
            rows.append({"r": r, "d": d, "width": L, "n_train": n, "seed": s,
                         "floats": law(r, d, L, n) * math.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


PAPER = lambda r, d, L, n: 3 * r * r * d + 4 * L  # noqa: E731
LIMIT = lambda r, d, L, n: 5 * r * d  # noqa: E731


def test_the_paper_law_is_recovered_and_preferred_on_its_own_data():
    t = _grid(PAPER)
    fit = laws.fit_law(t, "a r^2 d + b L")
    assert fit.params["a"] == pytest.approx(3, rel=0.1) and fit.params["b"] == pytest.approx(4, rel=0.2)
    scores = {law: laws.cross_validate(t, law)[0] for law in laws.LAWS}
    assert min(scores, key=scores.get) in ("a r^2 d + b L", "power law")
    assert scores["a r^2 d + b L"] < scores["a r d + b L"] < scores["a r d"] * 1.01
    verdicts = laws.term_verdicts(laws.bootstrap_terms(t, n_boot=200))
    assert verdicts["L"] == "present" and verdicts["n"] == "0"


def test_the_limits_rate_reads_r_one_d_one_no_l_no_n():
    t = _grid(LIMIT)
    verdicts = laws.term_verdicts(laws.bootstrap_terms(t, n_boot=200))
    assert verdicts == {"r": "1 (the information limit's rate)", "L": "absent", "d": "1", "n": "0"}
    scores = {law: laws.cross_validate(t, law)[0] for law in laws.LAWS}
    assert scores["a r d"] < scores["a r^2 d + b L"]


def test_a_pure_r_squared_law_reads_two():
    t = _grid(lambda r, d, L, n: 2 * r * r * d)
    assert laws.term_verdicts(laws.bootstrap_terms(t, n_boot=200))["r"] == "2 (the paper's r^2 d is tight in r)"


def test_wide_noise_is_inconclusive_and_a_missing_factor_is_not_measured():
    noisy = _grid(LIMIT, noise=1.5, seeds=3)
    assert "inconclusive" in laws.term_verdicts(laws.bootstrap_terms(noisy, n_boot=200)).values()
    one_line = _grid(LIMIT)
    one_line = one_line[(one_line.d == 64) & (one_line.width == 1024) & (one_line.n_train == 16384)]
    assert laws.term_verdicts(laws.bootstrap_terms(one_line, n_boot=100))["L"] == "not measured"


def test_falling_with_l_and_bad_input():
    t = _grid(lambda r, d, L, n: 5 * r * d * (L / 1024) ** -0.5)
    assert laws.term_verdicts(laws.bootstrap_terms(t, n_boot=200))["L"] == "falling with L"
    with pytest.raises(ValueError, match="law must be one of"):
        laws.fit_law(t, "a r^3")
    with pytest.raises(ValueError, match="at least 2 rows"):
        laws.fit_law(t.iloc[:1], "a r d")
    with pytest.raises(ValueError, match="must be positive"):
        laws.fit_law(t.assign(floats=-1.0), "a r d")
