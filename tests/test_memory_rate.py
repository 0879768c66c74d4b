"""ddlib.experiments.memory_rate: the rows that enter the fits (regime per point and target, a point
shared by lines once, censored points counted), and every rate claim fails under its control
(synthetic data from a law that violates it on the same points and seeds)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ddlib.experiments import memory_rate as mr


def _table():
    rows = []
    for seed in range(5):
        for line, pts in (("r", [(r, 64, 512, 16384) for r in (1, 2, 3, 4)]),
                          ("d", [(2, d, 512, 4 * d * d) for d in (32, 64, 128)]),
                          ("L", [(2, 64, L, 16384) for L in (256, 512, 1024, 2048)]),
                          ("n", [(2, 64, 512, k * 4096) for k in (1, 4, 16)])):
            for r, d, L, n in pts:
                floats = 5.0 * r * d * math.exp(0.1 * np.sin(seed + r + d + L / 100 + n / 1000))
                rows.append({"line": line, "r": r, "d": d, "width": L, "n_train": n, "seed": seed,
                             "full_mse": 0.05 if r == 4 else 0.01, "floats_abs0.1": floats, "floats_abs0.2": floats})
    return pd.DataFrame(rows)


def test_rows_keep_a_shared_point_once_and_drop_points_outside_the_targets_regime():
    t = _table()
    rows, counts = mr.rate_rows(t, "abs0.1")
    assert not rows.duplicated(subset=["r", "d", "width", "n_train", "seed"]).any()
    assert 4 not in set(rows.r)  # full-data error 0.05 > 0.1 / 3: outside this target's regime
    assert counts["outside regime"] == 5
    rows2, _ = mr.rate_rows(t, "abs0.2")
    assert 4 in set(rows2.r)  # inside the looser target's regime (0.05 <= 0.2 / 3)


def test_censored_points_are_counted_and_too_many_put_the_claims_outside_their_regime():
    t = _table()
    t.loc[t.index % 3 == 0, "floats_abs0.1"] = np.nan
    rows, counts = mr.rate_rows(t, "abs0.1")
    assert counts["censored"] == int(rows.censored.sum()) > 0
    t.loc[:, "floats_abs0.1"] = np.where(t.index % 4 == 0, 100.0, np.nan)
    rows, counts = mr.rate_rows(t, "abs0.1")
    claims = mr.rate_claims(rows, counts, mr.terms(rows, n_boot=50))
    assert {c.verdict for c in claims} == {"outside regime"}


def test_the_claims_read_the_limits_rate_and_every_control_makes_its_claim_fail():
    rows, counts = mr.rate_rows(_table(), "abs0.1")
    claims = {c.id: c for c in mr.rate_claims(rows, counts, mr.terms(rows, n_boot=200))}
    assert claims["C3.R1"].verdict == "holds" and claims["C3.R2"].verdict == "does not hold"
    assert claims["C3.R5"].verdict == "holds"
    under = mr.rate_control_claims(rows, n_boot=200)
    for cid, (_, _, control) in mr.RATE_CHECKS.items():
        assert under[control][cid].verdict in mr.RATE_CONTROLS[control].expect, (cid, control)


def test_bad_targets_are_refused():
    with pytest.raises(ValueError, match="absolute target"):
        mr.rate_rows(_table(), "rel4")
    with pytest.raises(ValueError, match="holds no target 'abs0.5'"):
        mr.rate_rows(_table(), "abs0.5")
    with pytest.raises(ValueError, match="control must be one of"):
        mr.synthetic_rows(_table(), "nope")
