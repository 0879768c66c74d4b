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


def test_a_term_is_decided_only_once_its_line_is_in_and_mostly_certified():
    t = _table()
    rows, counts = mr.rate_rows(t, "abs0.1")
    lines = mr.line_counts(t, "abs0.1")
    assert set(lines) == {"r", "d", "L", "n"} and lines["r"]["rows"] == 15  # r = 4 is outside the regime
    found = mr.terms(rows, n_boot=100)
    every = {c.id: c.verdict for c in mr.rate_claims(rows, counts, found, lines=lines)}
    assert every == {c.id: c.verdict for c in mr.rate_claims(rows, counts, found)}
    without_d = {k: v for k, v in lines.items() if k != "d"}
    claims = {c.id: c for c in mr.rate_claims(rows, counts, found, lines=without_d)}
    assert claims["C3.R4"].verdict == "inconclusive" and "line d not in yet" in claims["C3.R4"].checks[0].name
    assert claims["C3.R5"].verdict == every["C3.R5"]  # the other terms are untouched
    censored = {**lines, "n": {"rows": 15, "censored": 8}}
    claims = {c.id: c for c in mr.rate_claims(rows, counts, found, lines=censored)}
    assert claims["C3.R5"].verdict == "inconclusive" and "8 of 15 rows censored" in claims["C3.R5"].checks[0].name
    # n moves with r on the r line (and with d on the d line): their exponents wait for the n line
    without_n = {k: v for k, v in lines.items() if k != "n"}
    claims = {c.id: c for c in mr.rate_claims(rows, counts, found, lines=without_n)}
    assert {claims[c].verdict for c in ("C3.R1", "C3.R2", "C3.R4", "C3.R5")} == {"inconclusive"}
    assert "n moves with r" in claims["C3.R1"].checks[0].name and claims["C3.R3"].verdict == every["C3.R3"]
    assert set(mr.pending_terms(without_n)) == {"alpha", "beta", "delta"} and mr.pending_terms(None) == {}
    # the pre-registered fit is one fit on every line: with a grid's line missing, no term is decided
    grid = ["r", "d", "L", "n", "corner"]
    assert mr.pending_terms(lines, grid) == {e: "grid incomplete: line corner not in yet" for e in mr.TERM_LINES}
    assert mr.pending_terms(lines, ["r", "d", "L", "n"]) == {}
    claims = mr.rate_claims(rows, counts, found, lines=lines, every=grid)
    assert {c.verdict for c in claims} == {"inconclusive"}


def test_bad_targets_are_refused():
    with pytest.raises(ValueError, match="absolute target"):
        mr.rate_rows(_table(), "rel4")
    with pytest.raises(ValueError, match="holds no target 'abs0.5'"):
        mr.rate_rows(_table(), "abs0.5")
    with pytest.raises(ValueError, match="control must be one of"):
        mr.synthetic_rows(_table(), "nope")


@pytest.mark.parametrize("terms, expect", [
    ({"alpha": (1.9, 1.5, 2.3)}, {"C3.R2": "holds"}),            # excludes 1, contains 2: tight
    ({"alpha": (1.4, 1.1, 1.8)}, {"C3.R2": "does not hold", "C3.R1": "holds"}),  # between 1 and 2
    ({"alpha": (1.5, 0.8, 2.4)}, {"C3.R2": "inconclusive"}),     # contains both
    ({"beta": (1.2, 1.05, 1.3)}, {"C3.R4": "does not hold"}),    # excludes 1 (not 1), though it reaches 1.2
    ({"beta": (1.0, 0.9, 1.1)}, {"C3.R4": "holds"}),
    ({"gamma": (0.0, -0.05, 0.06), "b": (1e-3, 0.0, 0.1)}, {"C3.R3": "does not hold"}),  # absent
    ({"gamma": (0.3, 0.2, 0.4), "b": (2.0, 1.0, 3.0)}, {"C3.R3": "holds"}),             # present
    ({"gamma": (0.1, -0.05, 0.3), "b": (2.0, 1.0, 3.0)}, {"C3.R3": "inconclusive"}),
    ({"delta": (0.05, 0.01, 0.1)}, {"C3.R5": "holds"}),
    ({"delta": (0.3, 0.25, 0.5)}, {"C3.R5": "does not hold"}),
])
def test_each_claim_follows_its_terms_preregistered_rule(terms, expect):
    rows, counts = mr.rate_rows(_table(), "abs0.1")
    base = {"alpha": (1.0, 0.9, 1.1), "beta": (1.0, 0.95, 1.05), "gamma": (0.0, -0.02, 0.02), "b": (0.0, 0.0, 0.0),
            "delta": (0.0, -0.05, 0.05)}
    found = {**base, **terms}
    claims = {c.id: c for c in mr.rate_claims(rows, counts, found)}
    for cid, verdict in expect.items():
        assert claims[cid].verdict == verdict, (cid, claims[cid].line())
    # the claims read what the term table reads (laws.term_verdicts)
    from ddlib.laws import term_verdicts
    tv = term_verdicts(found)
    assert (claims["C3.R3"].verdict == "holds") == (tv["L"] == "present")
    assert (claims["C3.R4"].verdict == "holds") == (tv["d"] == "1")


def test_the_headline_names_every_term_once_the_grid_is_in_and_decides_nothing_before():
    from ddlib.laws import term_verdicts
    found = {"alpha": (1.0, 0.9, 1.1), "beta": (1.0, 0.95, 1.05), "gamma": (0.0, -0.02, 0.02), "b": (0.0, 0.0, 0.0),
             "delta": (0.3, 0.25, 0.5)}
    verdicts = term_verdicts(found)
    claims = {"C3.R1": "holds", "C3.R2": "does not hold"}
    done = mr.headline(found, verdicts, {}, claims, target="abs 0.1", source="the grid")
    assert "r^{1.00} d^{1.00} L^{0.00} n^{0.30}" in done
    for term in ("r", "d", "L", "n"):  # each term's verdict, in the pre-registered rule's words
        assert verdicts[term] in done
    assert verdicts["n"] == "not 0" and "holds as an upper bound in $r$ but is not tight in $r$" in done
    waiting = {"r": "grid incomplete: line d not in yet", "n": "grid incomplete: line d not in yet"}
    early = mr.headline(found, verdicts, waiting, claims, target="abs 0.1", source="the grid")
    assert "provisional (grid incomplete: line d not in yet)" in early and "not tested yet" in early
    assert verdicts["n"] not in early.split("decided, ")[1]  # n waits: its verdict is not stated
    none = mr.headline(found, verdicts, {t: "grid incomplete" for t in ("r", "d", "L", "n")}, {}, target="abs 0.1",
                       source="the grid")
    assert "no term is decided yet" in none


def test_the_corners_show_each_method_against_each_laws_prediction():
    from ddlib.laws import fit_law
    table = _table()
    rows, _ = mr.rate_rows(table, "abs0.1")
    fits = {law: fit_law(rows, law) for law in ("a r d", "a r^2 d + b L")}
    corner = pd.DataFrame([{"line": "corner-big", "method": "gm-cos+kip", "r": 8, "d": 256, "width": 128,
                            "n_train": 16 * 256 ** 2, "seed": s, "full_mse": 0.01, "floats_abs0.1": f}
                           for s, f in enumerate([1000.0, 4000.0, float("nan")])]
                         + [{"line": "corner-big", "method": "select+select", "r": 8, "d": 256, "width": 128,
                             "n_train": 16 * 256 ** 2, "seed": 0, "full_mse": 0.01, "floats_abs0.1": float("nan")},
                            {"line": "corner-far", "method": "gm-cos+kip", "r": 1, "d": 32, "width": 2048,
                             "n_train": 4096, "seed": 0, "full_mse": 0.05, "floats_abs0.1": 100.0,
                             "floats_abs0.2": 90.0}])
    points = {"corner-big": {"r": 8, "d": 256, "width": 128, "n_per_d2": 16},
              "corner-far": {"r": 1, "d": 32, "width": 2048, "n_per_d2": 4},
              "corner-none": {"r": 1, "d": 32, "width": 64, "n_per_d2": 4}}
    out = mr.corners(corner, "abs0.1", fits, points).set_index("corner")
    assert out.loc["corner-big", "regime"] == "abs:0.1"
    assert out.loc["corner-big", "gm-cos+kip"] == "2,000 (1,000–4,000); censored 1 of 3"  # geometric mean
    assert out.loc["corner-big", "select+select"] == "censored 1 of 1"
    assert out.loc["corner-far", "regime"].startswith("neither target")  # 0.05 > 0.1 / 3, no looser target
    assert out.loc["corner-none", "gm-cos+kip"] == "not in yet" and out.loc["corner-none", "regime"] == "not in yet"
    looser = mr.corners(corner, "abs0.1", fits, points, looser="abs0.2").set_index("corner")
    assert looser.loc["corner-far", "regime"] == "abs:0.2 only (full-data error 0.050–0.050)"  # 0.05 <= 0.2 / 3
    assert looser.loc["corner-far", "gm-cos+kip"] == "90 (90–90)"
    beyond = corner.assign(full_mse=0.12)  # outside both regimes: said, with what the search found all the same
    both = mr.corners(beyond, "abs0.1", fits, points, looser="abs0.2").set_index("corner")
    assert both.loc["corner-far", "regime"] == "neither target (full-data error 0.120–0.120)"
    assert both.loc["corner-far", "gm-cos+kip"] == "100 (100–100), outside the regime"
    assert both.loc["corner-big", "select+select"] == "censored 1 of 1, outside the regime"
    for law, fit in fits.items():  # each law's prediction at the corner's size
        probe = pd.DataFrame([{"r": 8, "d": 256, "width": 128, "n_train": 16 * 256 ** 2}])
        assert out.loc["corner-big", law] == pytest.approx(float(np.exp(fit.predict(probe))[0]))
    assert out.loc["corner-big", "a r d"] < out.loc["corner-big", "a r^2 d + b L"]  # the laws part at large r


def test_a_present_l_term_inside_the_absent_band_says_it_is_small():
    from ddlib.laws import term_verdicts
    small = {"gamma": (0.06, 0.05, 0.08), "b": (0.22, 0.21, 0.23)}
    assert term_verdicts(small)["L"] == "present"  # the rule decides "present" first
    assert mr.l_term(small, term_verdicts(small)).startswith("present, but small")
    large = {"gamma": (0.3, 0.2, 0.4), "b": (2.0, 1.0, 3.0)}
    assert mr.l_term(large, term_verdicts(large)) == "present"
    absent = {"gamma": (0.0, -0.05, 0.06), "b": (0.0, 0.0, 0.1)}
    assert mr.l_term(absent, term_verdicts(absent)) == "absent"


def test_wide_exponents_are_those_the_preregistration_gives_ten_seeds():
    found = {"alpha": (0.7, 0.66, 0.80), "beta": (1.2, 1.07, 1.40), "gamma": (0.0, math.nan, 0.1), "b": (5.0, 0.0, 9.0)}
    wide = mr.wide_exponents(found)
    assert set(wide) == {"beta", "gamma"} and wide["beta"] == pytest.approx(0.33)  # b is not an exponent
    assert mr.wide_exponents({"alpha": (1.0, 0.85, 1.15)}) == {}  # exactly 0.3 is not wider


def test_an_interval_wider_than_the_seed_rule_allows_leaves_its_term_undecided():
    rows, counts = mr.rate_rows(_table(), "abs0.1")
    lines = mr.line_counts(_table(), "abs0.1")
    found = {"alpha": (1.0, 0.9, 1.1), "beta": (1.0, 0.7, 1.15), "gamma": (0.0, -0.02, 0.02), "b": (0.0, 0.0, 0.0),
             "delta": (0.0, -0.05, 0.05)}
    why = mr.undecided_terms(found, lines, list(lines), n_seeds=5)
    assert set(why) == {"beta"} and "10 on line d" in why["beta"]
    claims = {c.id: c for c in mr.rate_claims(rows, counts, found, lines=lines, every=list(lines))}
    assert claims["C3.R4"].verdict == "inconclusive" and claims["C3.R2"].verdict == "does not hold"
    assert mr.undecided_terms(found, lines, list(lines), n_seeds=10) == {}  # 10 seeds: decided
    assert mr.undecided_terms(found, None, n_seeds=5) == {}  # a grid made at once: no seed rule
