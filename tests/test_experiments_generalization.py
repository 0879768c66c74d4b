"""The notebook-02 experiment at a tiny size (arms, sizes, links, curves, recorded seeds,
determinism, the encoding null, an extra arm by name) and its claims on synthetic tables (holds,
does not hold, outside regime; C2.2 against every arm); thresholds with their origin and a negative
control for every claim."""
from __future__ import annotations

import math

import pandas as pd
import pytest

import torch

from ddlib.book.claims import ORIGINS, claims_of
from ddlib.book.controls import SABOTAGES, Control
from ddlib.experiments import arms, generalization, resolve_parameters
from ddlib.experiments.generalization import (CHECKS, CLOSEST, CONTROLS, DISTILLED, LINE_METHODS, NOT_WORSE_MARGIN,
                                              OPTIONAL_CHECKS, PROFILES, REAL_POINTS, SYNTHETIC, GeneralizationTables,
                                              _compression_check, arms_of, curve_sizes, effective_sizes, measures,
                                              null_labels, plan, run, run_generalization, summarise, synthetic_key,
                                              validation_size)
from ddlib.experiments.problem import derived_seeds

TINY = dict(d=8, r=2, width=128, n_train=2500, validation_share=0.2, m1=6, m2=12, link="he2", other_links=["quad"],
            n_seeds=2, m1_grid=[2, 6], m2_grid=[6, 12], n_grid=[100, 400], steps1=150, steps2=40, lr=0.05,
            restarts=2, n_test=2000, extra_arms=[], seed=3)
N_FIT = 2500 - 500
BASELINES = REAL_POINTS + SYNTHETIC
HEADLINE = ["full data", DISTILLED, *BASELINES]


def claims(tables: GeneralizationTables, P: dict) -> list:
    """The page's claims: the module's declarations decided by ``claims_of``."""
    return claims_of(generalization, tables, P)


@pytest.fixture(scope="module")
def tables() -> GeneralizationTables:
    return run_generalization(**TINY)


def test_every_profile_resolves_to_exactly_the_run_arguments():
    for name in PROFILES:
        P = resolve_parameters(PROFILES, name, seed=0)
        assert set(P) == set(TINY), name
    assert run is run_generalization


def test_every_link_has_every_method_at_the_headline_and_the_lines_on_the_headline_link(tables):
    t = tables.table
    for link in ("he2", "quad"):
        head = t[(t.link == link) & (((t.m1 == 6) & (t.m2 == 12)) | (t.method == "full data"))]
        assert sorted(head.method) == sorted(HEADLINE * TINY["n_seeds"])
    lines = t[(t.link == "he2") & ~((t.m1 == 6) & (t.m2 == 12)) & (t.method != "full data")]
    assert set(lines.method) == set(LINE_METHODS)
    assert set(zip(lines.m1, lines.m2)) == {(2, 12), (6, 6)}
    # Every row is an arm of the one registry of arms, named by its two registered stages.
    assert [a.name for a in arms_of(TINY)] == list(arms.GENERALIZATION)
    assert dict(zip(t.method, t.arm))[DISTILLED] == "gm-cos+kip"
    assert set(t[t.link == "quad"].m1) == {6, N_FIT}  # the headline size and the full data only


def test_every_set_stores_the_same_floats_and_is_tuned(tables):
    t = tables.table
    head = t[(t.m1 == 6) & (t.m2 == 12)]
    assert (head.memory_floats == (6 + 12) * (8 + 1)).all()
    # The spectral set's 2r = 4 points exceed m1 = 2 on the m1 line: it takes them from stage 2's share.
    line = t[(t.m1 == 2) & (t.method == "spectral")]
    assert len(line) == TINY["n_seeds"] and (line.memory_floats == (2 + 12) * (8 + 1)).all()
    assert t.test_mse.map(math.isfinite).all() and (t.test_mse > 0).all()
    assert t.ridge.notna().all() and t.validation_mse.notna().all()
    assert set(head[head.method.isin(BASELINES)].family) == {"real points", "synthetic"}


def test_rows_record_their_seeds_and_the_curve_ends_at_the_training_split(tables):
    row = tables.table.iloc[0]
    assert all(row[f"seed_{k}"] == v for k, v in derived_seeds(3).items())
    assert N_FIT == 2500 - validation_size(2500, 0.2)
    c = tables.curves
    assert sorted(set(c.n)) == [100, 400, N_FIT] and set(c.link) == {"he2", "quad"}
    full = tables.table[tables.table.method == "full data"].set_index(["link", "repetition"]).test_mse
    last = c[c.n == N_FIT].set_index(["link", "repetition"]).test_mse
    pd.testing.assert_series_equal(full.sort_index(), last.sort_index(), check_names=False)


def test_the_encoding_null_is_recorded_for_the_distilled_set_at_the_headline_only(tables):
    t = tables.table
    at = (t.method == DISTILLED) & (t.link == "he2") & (t.m1 == 6) & (t.m2 == 12)
    assert t[at].energy_s1_null.between(0, 1).all() and len(t[at]) == TINY["n_seeds"]
    assert t[~at].energy_s1_null.isna().all()
    # The null's labels: the same labels in a fixed, seeded order.
    y = torch.arange(10.0)
    assert torch.equal(null_labels(y, 5), null_labels(y, 5)) and not torch.equal(null_labels(y, 5), y)
    assert torch.equal(null_labels(y, 5).sort().values, y)


def test_same_seed_gives_the_same_tables(tables):
    again = run_generalization(**TINY)
    pd.testing.assert_frame_equal(tables.table, again.table)
    pd.testing.assert_frame_equal(tables.curves, again.curves)


def test_distilled_beats_every_real_point_baseline_at_tiny_size(tables):
    t = tables.table
    # Measured at this size, seed 3: distilled 0.037-0.052, the best real points (greedy selection) 0.50-0.67.
    head = t[(t.link == "he2") & (t.m1 == 6) & (t.m2 == 12)].groupby("method").test_mse.mean()
    assert head[DISTILLED] * 4 < min(head[b] for b in REAL_POINTS)


def test_measures_give_one_value_per_repetition_and_the_other_links_in_turn(tables):
    values = measures(tables, TINY)
    assert set(CHECKS) <= set(values)
    for key in set(CHECKS) - set(OPTIONAL_CHECKS):
        assert len(values[key]) == TINY["n_seeds"], key
    for key in OPTIONAL_CHECKS:
        assert values[key] == values[f"{key}:quad"] and len(values[key]) == TINY["n_seeds"]


def test_summarise_reports_every_link_the_effective_size_and_memory(tables):
    out = summarise(tables, TINY)
    assert {"he2", "quad", "memory"} <= set(out)
    assert out["memory"]["distilled"] == (6 + 12) * (8 + 1)
    assert len(out["he2"]["n_eq"]["per_repetition"]) == TINY["n_seeds"]
    assert out["he2"][DISTILLED]["test_mse"]["min"] <= out["he2"][DISTILLED]["test_mse"]["max"]


def test_claims_match_the_statements_and_he3_is_outside_regime(tables):
    cls = claims(tables, TINY)
    assert [c.id for c in cls] == [c.id for c in plan(TINY)] == [f"C2.{k}" for k in range(1, 7)]
    he3 = claims(tables, {**TINY, "link": "he3", "other_links": []})  # the table's he2 rows read as if he3
    assert all(c.verdict == "outside regime" for c in he3) and len(he3) == 5


def test_validation_size_and_curve_sizes():
    assert validation_size(8000, 0.125) == 1000 and validation_size(10, 0.0) == 2 and validation_size(10, 1.0) == 8
    assert curve_sizes([4000, 500, 9000, 0], 7000) == [500, 4000, 7000]
    assert curve_sizes([], 50) == [50]


# ------------------------------------------------------------------------- synthetic tables
BASE = {"full data": 0.02, DISTILLED: 0.03, "random": 1.0, "k-center": 1.1, "herding": 1.05,
        "greedy selection": 0.9, "spectral": 0.1, "spectral + KIP": 0.05, CLOSEST: 0.04,
        "moment matching + labels": 0.08}
P_SYN = {**PROFILES["book"], "seed": 0, "m1_grid": [8], "m2_grid": [8, 32]}
CURVE = {250: 0.6, 500: 0.3, 1000: 0.08, 2000: 0.03, 4000: 0.025, 7000: 0.02}


def _synthetic(n: int = 5, scale: dict | None = None, links=("he2", "aniso", "quad"),
               null: float = 0.1) -> GeneralizationTables:
    """Tables with the columns the claims read, n repetitions, every link alike (times ``scale``);
    ``null``: the energy in span(U) of the label-shuffled null's S1 (the distilled S1 holds 0.6)."""
    rows, curves = [], []
    for link in links:
        for k in range(n):
            jitter = 1 + 0.02 * (k - n / 2)
            for method, mse in BASE.items():
                m = 7000 if method == "full data" else 8
                rows.append({"repetition": k, "link": link, "method": method, "m1": m, "m2": m if m == 7000 else 32,
                             "d": 32, "memory_floats": 40 * 33, "energy_s1": 0.6 * jitter,
                             "energy_s1_null": null * jitter if method == DISTILLED else math.nan,
                             "test_mse": mse * jitter * (scale or {}).get(method, 1.0)})
            rows.append({"repetition": k, "link": link, "method": DISTILLED, "m1": 8, "m2": 8, "d": 32,
                         "memory_floats": 16 * 33, "energy_s1": 0.6, "energy_s1_null": math.nan,
                         "test_mse": 0.06 * jitter})
            curves += [{"repetition": k, "link": link, "n": n_, "test_mse": e * jitter} for n_, e in CURVE.items()]
    return GeneralizationTables(pd.DataFrame(rows), pd.DataFrame(curves))


def test_synthetic_claims_hold():
    cls = claims(_synthetic(), P_SYN)
    assert [c.verdict for c in cls] == ["holds"] * 7


def test_the_plan_declares_one_regime_per_link_and_names_the_other_links_checks():
    tables = _synthetic()
    decls = plan(P_SYN)
    assert [c.regime for c in decls] == ["he2"] * 5 + ["aniso", "quad"]
    assert set(generalization.regimes(tables, P_SYN)) == {"he2", "aniso", "quad"}
    assert decls[5].checks == ("other_real:aniso", *(f"other_synthetic/{b}:aniso" for b in SYNTHETIC))
    assert decls[1].checks == ("real", *(synthetic_key(b) for b in SYNTHETIC))
    assert generalization.check_spec(f"other_synthetic/{CLOSEST}:quad").name == f"distilled / {CLOSEST} test MSE on quad"
    assert generalization.check_spec("gap") == CHECKS["gap"]
    # The compression check is built on the effective sizes, ready, under a key only the plan names;
    # calibration keeps reading the per-repetition values under "compression".
    values = measures(tables, P_SYN)
    eff = effective_sizes(tables, "he2", DISTILLED, 8, 32)
    assert values[generalization.COMPRESSION_CHECK] == _compression_check(eff)
    assert values["compression"] == eff.compression.tolist() and generalization.COMPRESSION_CHECK not in CHECKS
    cls = {c.id: c for c in claims(tables, P_SYN)}
    assert cls["C2.3"].checks == (_compression_check(eff),)
    assert [k.name for k in cls["C2.7"].checks] == [
        "distilled / best real-point baseline test MSE on quad", *(f"distilled / {b} test MSE on quad" for b in SYNTHETIC)]


def test_synthetic_claims_do_not_hold_when_the_ranking_breaks():
    cls = {c.id: c for c in claims(_synthetic(scale={CLOSEST: 0.3, "greedy selection": 0.05}), P_SYN)}
    assert cls["C2.2"].verdict == "does not hold" and cls["C2.6"].verdict == "does not hold"
    assert cls["C2.1"].verdict == "holds"
    worse = {c.id: c.verdict for c in claims(_synthetic(scale={DISTILLED: 20.0}), P_SYN)}
    assert worse["C2.1"] == worse["C2.3"] == "does not hold"


def test_the_synthetic_baselines_are_checked_for_non_inferiority_each_not_superiority():
    # 1.5x a synthetic baseline's error: the old "within 2x of the best baseline" passed it; non-inferiority
    # at 1.25 against each baseline does not.
    behind = {c.id: c for c in claims(_synthetic(scale={"spectral": 0.2}), P_SYN)}  # spectral 0.02 < distilled 0.03
    assert behind["C2.2"].verdict == behind["C2.6"].verdict == "does not hold"
    failing = [k.name for k in behind["C2.2"].checks if k.verdict == "does not hold"]
    assert failing == ["distilled / spectral test MSE"]
    # Slightly behind, within the margin: not worse, so it holds without claiming to beat the baseline.
    close = {c.id: c.verdict for c in claims(_synthetic(scale={CLOSEST: 0.85}), P_SYN)}
    assert close["C2.2"] == close["C2.7"] == "holds"


def test_the_encoding_check_divides_by_the_label_shuffled_null():
    assert measures(_synthetic(), P_SYN)["energy"] == pytest.approx([6.0] * 5)
    at_null = {c.id: c.verdict for c in claims(_synthetic(null=0.6), P_SYN)}  # distilled S1 = its null
    assert at_null["C2.4"] == "does not hold" and at_null["C2.1"] == "holds"
    # A repetition without its null is counted, not dropped: the check is inconclusive.
    t = _synthetic()
    t.table.loc[(t.table.method == DISTILLED) & (t.table.repetition == 0) & (t.table.link == "he2")
                & (t.table.m2 == 32), "energy_s1_null"] = math.nan
    assert {c.id: c.verdict for c in claims(t, P_SYN)}["C2.4"] == "inconclusive"


def test_every_threshold_has_an_origin_and_follows_the_conventions():
    assert all(spec.origin in ORIGINS[1:] and spec.basis for spec in CHECKS.values())
    assert (CHECKS["gap"].comparison, CHECKS["gap"].threshold) == ("<=", 2.0)  # a factor of two
    for key in ("real", "other_real", "more_m2"):  # superiority at ratio 1
        assert (CHECKS[key].comparison, CHECKS[key].threshold, CHECKS[key].geometric) == ("<=", 1.0, True), key
    for b in SYNTHETIC:  # non-inferiority against each synthetic arm, moment matching + KIP included
        for key in (synthetic_key(b), synthetic_key(b, other=True)):
            assert (CHECKS[key].comparison, CHECKS[key].threshold, CHECKS[key].geometric) == ("<=", 1.25, True)
            assert CHECKS[key].origin == "convention" and "80-125%" in CHECKS[key].basis and "TOST" in CHECKS[key].basis
    assert CLOSEST in SYNTHETIC and NOT_WORSE_MARGIN == 1.25
    assert (CHECKS["energy"].comparison, CHECKS["energy"].threshold) == (">=", 2.0)  # twice the null
    assert "null" in CHECKS["energy"].name and "chance" not in CHECKS["energy"].name
    assert (CHECKS["compression"].comparison, CHECKS["compression"].threshold) == (">=", 10.0)  # an order of magnitude


def test_every_claim_names_a_declared_negative_control():
    decls = plan(P_SYN)
    assert all(not d.consistency for d in decls)
    for d in decls:
        assert d.control in CONTROLS, d.id
        control = CONTROLS[d.control]
        assert isinstance(control, Control) and control.sabotage in SABOTAGES and "does not hold" in control.expect
    # Only the control that takes the learner's labels away may also push its claim out of regime.
    assert {name for name, c in CONTROLS.items() if "outside regime" in c.expect} == {"shuffled labels"}
    assert [d.id for d in decls if d.control == "shuffled labels"] == ["C2.5"]
    # The encoding claim's control starts the distilled S1 and its null from the same points.
    assert decls[3].control == "no distillation steps, one start"
    assert dict(CONTROLS[decls[3].control].parameters) == {"restarts": 1}


def test_synthetic_claims_are_outside_regime_without_their_preconditions():
    no_learning = claims(_synthetic(scale={"full data": 80.0}), P_SYN)
    assert all(c.verdict == "outside regime" for c in no_learning)
    small_m1 = claims(_synthetic(), {**P_SYN, "m1": 1})
    assert all(c.verdict == "outside regime" for c in small_m1)
    he3 = {c.id: c.verdict for c in claims(_synthetic(links=("he2", "he3")), {**P_SYN, "other_links": ["he3"]})}
    assert he3["C2.6"] == "outside regime" and he3["C2.1"] == "holds"


def test_a_censored_effective_size_counts_at_the_end_of_the_curve():
    tables = _synthetic(scale={DISTILLED: 0.1}, links=("he2",))  # better than the full data at every n
    eff = effective_sizes(tables, "he2", DISTILLED, 8, 32)
    assert set(eff.side) == {"above"} and (eff.n_bound == 7000).all() and eff.n_eq.isna().all()
    mid = effective_sizes(_synthetic(links=("he2",)), "he2", DISTILLED, 8, 32)
    assert mid.side.isna().all() and (mid.n_eq == mid.n_bound).all()
    assert mid.n_eq.between(1000, 4000).all()


def test_a_set_worse_than_the_whole_curve_gets_no_compression_from_the_curves_start():
    # Worse than the full-data learner at the smallest n: n_eq is only bounded above by that n, so
    # the compression check must not count it (it would err in the set's favour).
    tables = _synthetic(scale={DISTILLED: 50.0}, links=("he2",))
    eff = effective_sizes(tables, "he2", DISTILLED, 8, 32)
    assert set(eff.side) == {"below"} and eff.compression.isna().all()
    # Bounds above the threshold say nothing (inconclusive, never "holds"); bounds wholly below it
    # fail the claim, since the true compressions are lower still.
    high = eff.assign(compression_bound=[100.0, 110.0, 120.0][:len(eff)] + [100.0] * max(0, len(eff) - 3))
    assert _compression_check(high).verdict == "inconclusive"
    low = eff.assign(compression_bound=[1.0 + 0.1 * k for k in range(len(eff))])
    assert _compression_check(low).verdict == "does not hold"


def test_c22_compares_the_distilled_set_with_every_arm():
    decl = plan(P_SYN)[1]
    compared = {k.split("/", 1)[1] for k in decl.checks if k.startswith("synthetic/")}
    assert compared == set(SYNTHETIC) and CLOSEST in compared  # no arm exempt, moment matching + KIP included
    assert set(REAL_POINTS) | compared | {DISTILLED} == {a.label for a in arms_of(P_SYN)}
    # The closest arm far ahead of the distilled set fails C2.2 through its own non-inferiority check.
    cls = {c.id: c for c in claims(_synthetic(scale={CLOSEST: 0.5}), P_SYN)}
    failing = [k.name for k in cls["C2.2"].checks if k.verdict == "does not hold"]
    assert cls["C2.2"].verdict == "does not hold" and failing == [f"distilled / {CLOSEST} test MSE"]


def test_an_extra_arm_is_compared_by_name_and_an_unknown_one_refused():
    P = {**P_SYN, "extra_arms": ["random+kip"]}
    decl = plan(P)[1]
    assert synthetic_key("random+kip") in decl.checks and "random+kip" in decl.statement
    spec = generalization.check_spec(synthetic_key("random+kip", other=True) + ":quad")
    assert (spec.comparison, spec.threshold, spec.origin) == ("<=", NOT_WORSE_MARGIN, "convention")
    assert spec.name == "distilled / random+kip test MSE on quad"
    # Its rows missing from a run: the ratio is undefined, the claim inconclusive (never skipped).
    assert {c.id: c.verdict for c in claims(_synthetic(), P)}["C2.2"] == "inconclusive"
    t = _synthetic()
    extra = t.table[t.table.method == CLOSEST].assign(method="random+kip", test_mse=0.5)
    both = GeneralizationTables(pd.concat([t.table, extra]), t.curves)
    assert {c.id: c.verdict for c in claims(both, P)}["C2.2"] == "holds"
    for bad in (["no-such+kip"], ["gm-cos"], ["gm-cos+no-such"]):
        with pytest.raises(ValueError):
            arms_of({**P_SYN, "extra_arms": bad})
        with pytest.raises(ValueError):
            run_generalization(**{**TINY, "extra_arms": bad})
