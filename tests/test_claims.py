"""The verdict layer: a check's verdict from its interval and threshold (every case), a claim's
verdict from its regime and checks, the table, the one-line summaries."""
from __future__ import annotations

import math

import pytest

from ddlib.book.claims import (VERDICTS, Check, CheckSpec, Claim, ClaimDecl, Precondition, RuleCheck, claims_of,
                               verdict_table, verdicts)
from ddlib.stats import Interval, geometric_interval


def _iv(est, lo, hi, n=5):
    return Interval(est, lo, hi, n, 0.95, "t")


@pytest.mark.parametrize("comparison, lo, hi, expected", [
    ("<=", 1.0, 2.0, "holds"), ("<=", 2.5, 4.0, "does not hold"), ("<=", 2.0, 4.0, "inconclusive"),
    (">=", 3.0, 4.0, "holds"), (">=", 0.5, 2.0, "does not hold"), (">=", 2.0, 4.0, "inconclusive"),
    ("<=", 1.0, 2.4, "holds"), (">=", 2.4, 3.0, "holds"),  # touching the threshold counts as holding
])
def test_check_verdict_follows_where_the_interval_lies(comparison, lo, hi, expected):
    assert Check("q", _iv((lo + hi) / 2, lo, hi), comparison, 2.4).verdict == expected


def test_an_undefined_interval_is_inconclusive_never_holds():
    one = Interval(1.0, math.nan, math.nan, 1, 0.95, "t")
    assert Check("q", one, "<=", 5.0).verdict == "inconclusive"


@pytest.mark.parametrize("outcome, expected", [("yes", "holds"), ("no", "does not hold"), ("open", "inconclusive"),
                                               ("also no", "does not hold")])
def test_a_rule_check_reads_its_rules_outcome(outcome, expected):
    k = RuleCheck("q", _iv(1, 0.5, 1.5), ">=", 1.0, outcome=outcome, holds_when=("yes",),
                  fails_when=("no", "also no"), rule="yes when ...")
    assert k.verdict == expected and k.as_dict()["rule"] == "yes when ..." and "yes when" in k.line()
    undefined = RuleCheck("q", Interval(1.0, math.nan, math.nan, 1, 0.95, "t"), ">=", 1.0, outcome="yes",
                          holds_when=("yes",))
    assert undefined.verdict == "inconclusive"  # an undefined interval never holds
    table = verdict_table([Claim("C", "s", (k,))])
    assert table.threshold.iloc[0] == "yes when ..."


def test_claim_verdict_outside_regime_first_then_failure_then_inconclusive():
    ok, bad, unsure = (Check("a", _iv(1, 0.5, 1.5), "<=", 2), Check("b", _iv(5, 4, 6), "<=", 2),
                       Check("c", _iv(2, 1, 3), "<=", 2))
    unmet = Precondition("the full-data learner learns", False, "test MSE 0.9")
    assert Claim("X", "s", (ok,)).verdict == "holds"
    assert Claim("X", "s", (ok, unsure)).verdict == "inconclusive"
    assert Claim("X", "s", (ok, unsure, bad)).verdict == "does not hold"
    assert Claim("X", "s", (ok, bad), (unmet,)).verdict == "outside regime"
    line = Claim("X", "s", (ok, bad), (unmet,)).line()
    assert line == "precondition not met: the full-data learner learns (test MSE 0.9)"
    assert Claim("X", "s", (ok, bad)).line() == "b measured 5 [4, 6] vs threshold <= 2"


def test_claim_as_dict_has_what_ddlib_run_reads():
    d = Claim("C9.1", "sentence", (Check("q", _iv(1, 0.5, 1.5), "<=", 2, "why"),)).as_dict()
    assert {"id", "verdict", "line", "claim", "checks", "regime"} <= set(d)
    assert d["verdict"] in VERDICTS and "\n" not in d["line"]
    assert d["checks"][0]["measured"]["lo"] == 0.5 and d["checks"][0]["basis"] == "why"


def test_a_claim_needs_a_check_and_a_check_a_known_comparison():
    with pytest.raises(ValueError, match="at least one check"):
        Claim("X", "s", ())
    with pytest.raises(ValueError, match=r"comparison must be one of \['<=', '>='\], got '<'"):
        Check("q", _iv(1, 0, 2), "<", 1.0)


def test_geometric_interval_is_the_exponentiated_log_mean():
    iv = geometric_interval([2.0, 8.0])
    assert iv.estimate == pytest.approx(4.0) and iv.lo < 4.0 < iv.hi and iv.method == "t on logs"
    with pytest.raises(ValueError, match="positive"):
        geometric_interval([1.0, -1.0])


def test_check_spec_builds_arithmetic_or_geometric_checks_and_inconclusive_when_empty():
    arith = CheckSpec("q", ">=", 2.0, "b").check([3.0, 3.2, 2.9])
    geo = CheckSpec("r", "<=", 6.0, "b", geometric=True).check([3.0, 3.5, 4.0])
    assert arith.verdict == "holds" and arith.measured.method == "t"
    assert geo.measured.method == "t on logs" and geo.verdict == "holds"
    assert CheckSpec("q", "<=", 1.0, "b").check([]).verdict == "inconclusive"


def test_verdict_table_has_one_row_per_check_and_one_per_unmet_regime():
    c1 = Claim("A", "s", (Check("q1", _iv(1, 0.5, 1.5), "<=", 2), Check("q2", _iv(3, 2.5, 3.5), ">=", 2)))
    c2 = Claim("B", "s", (Check("q3", _iv(1, 0.5, 1.5), "<=", 2),), (Precondition("m1 >= r", False, "m1 = 1, r = 2"),))
    t = verdict_table([c1, c2])
    assert list(t.claim) == ["A", "A", "B"] and list(t.verdict) == ["holds", "holds", "outside regime"]
    assert t.iloc[2]["measured [95% CI]"] == "m1 = 1, r = 2"


# ---- claims as declarations: one generic function decides every experiment's claims -----------------


_SPECS = {"gap": CheckSpec("gap", "<=", 2.0, "within 2x"), "share": CheckSpec("share", ">=", 3.0, "3x chance")}


def test_verdicts_decide_each_declared_claim_from_its_checks_and_regime():
    plan = [ClaimDecl("C1", "gap small", ("gap",), "ok"), ClaimDecl("C2", "share high", ("share",), "off"),
            ClaimDecl("C3", "both", ("gap", "share"))]
    regimes = {"ok": (Precondition("learns", True),), "off": (Precondition("learns", False),)}
    cls = verdicts(plan, _SPECS.__getitem__, {"gap": [1.0, 1.1, 0.9], "share": [5.0, 5.5, 6.0]}, regimes)
    assert [(c.id, c.verdict) for c in cls] == [("C1", "holds"), ("C2", "outside regime"), ("C3", "holds")]
    assert cls[2].regime == () and [k.name for k in cls[2].checks] == ["gap", "share"]


def test_a_nan_repetition_makes_its_check_inconclusive_never_dropped():
    plan = [ClaimDecl("C1", "gap small", ("gap",))]
    cl, = verdicts(plan, _SPECS.__getitem__, {"gap": [1.0, float("nan"), 0.9]}, {})
    assert cl.verdict == "inconclusive" and cl.checks[0].measured.n == 3


def test_a_claim_naming_a_check_without_values_or_an_uncomputed_regime_is_an_error():
    with pytest.raises(KeyError, match="no values for its check 'share'"):
        verdicts([ClaimDecl("C1", "x", ("share",))], _SPECS.__getitem__, {}, {})
    with pytest.raises(KeyError, match="regime 'nope' was not computed"):
        verdicts([ClaimDecl("C1", "x", ("gap",), "nope")], _SPECS.__getitem__, {"gap": [1.0, 1.0]}, {})


def test_claims_of_reads_an_experiment_s_declarations():
    import types

    exp = types.SimpleNamespace(CHECKS=_SPECS, plan=lambda P: [ClaimDecl("C1", f"gap at d = {P['d']}", ("gap",))],
                                measures=lambda result, P: {"gap": result}, regimes=lambda result, P: {})
    cl, = claims_of(exp, [3.0, 3.1, 2.9], {"d": 8})
    assert cl.statement == "gap at d = 8" and cl.verdict == "does not hold"


def test_every_check_of_the_book_states_where_its_threshold_comes_from():
    """A threshold is fixed before the data: from the paper, a closed form or a convention, said in
    its basis -- never left unstated (ORIGINS' empty value is for code outside the book)."""
    from ddlib.book.notebooks import NOTEBOOKS, experiment_module
    from ddlib.experiments import memory_law

    specs = {f"{nb}:{k}": s for nb in NOTEBOOKS for k, s in experiment_module(nb).CHECKS.items()}
    specs.update({f"paper:{k}": s for k, s in memory_law.paper_checks(memory_law.grid_definition()).items()})
    assert {k: s.origin for k, s in specs.items() if s.origin not in ("paper", "closed form", "convention")} == {}
    assert all(s.basis for s in specs.values())


def test_an_unknown_origin_is_refused():
    with pytest.raises(ValueError, match="origin must be one of"):
        CheckSpec("q", "<=", 1.0, "b", origin="calibration")
