"""The notebook-04 experiment at a tiny size (the table's methods and columns, every arm composed
from the registries with its ridge tuned on a validation split, the recorded seeds, the T = 1
equivalence record, determinism, an extra arm by name), its claims on synthetic tables (holds,
does not hold, outside regime, inconclusive on a NaN), their thresholds' origins and their
negative controls."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from ddlib import methods
from ddlib.data import Data
from ddlib.book.claims import claims_of
from ddlib.book.controls import SABOTAGES
from ddlib.experiments import algorithms, arms, resolve_parameters
from ddlib.experiments.algorithms import (CHECKS, COMPARED, CONTROLS, PROFILES, REAL_POINTS, SYNTHETIC, AlgorithmTables,
                                          arms_of, matching_gradient_gap, measures, plan, regimes, run,
                                          run_algorithms, summarise)
from ddlib.experiments.problem import derived_seeds, make_problem
from ddlib.learners import TwoStageLearner

TINY = dict(d=6, r=1, width=32, n_train=400, validation_share=0.2, m1=4, m2=6, link="he2", n_seeds=1, steps1=20,
            steps2=10, lr=0.05, restarts=2, meta_steps=5, meta_lr=0.01, meta_batch=64, tm_steps=2, tm_lr=1.0,
            tm_weight_decay=0.75, extra_m1=[2], n_test=500, extra_arms=[], seed=4)
BASELINES = REAL_POINTS + SYNTHETIC
METHODS_T2 = ["full data (T=2)", "GM cos + KIP (T=2)", "TM T=2 + KIP", "TM T=2 S1 + full stage 2"]
COLUMNS = {"repetition", "base_seed", "method", "family", "learner_steps", "m1", "m2", "test_mse", "alignment",
           "matching_loss", "stage1_gradient_cosine", "stage1_gradient_norm_ratio", "w_cosine_to_full",
           "w_top_direction_share", "memory_floats", "wall_time_s", "meta_initial_real_loss", "meta_final_real_loss",
           "ridge", "validation_mse"}


@pytest.fixture(scope="module")
def result() -> AlgorithmTables:
    return run_algorithms(**TINY)


def claims(tables: AlgorithmTables, P: dict) -> list:
    """The claims of notebook 04 on these tables (``claims_of`` over the module's declarations)."""
    return claims_of(algorithms, tables, P)


def test_every_profile_resolves_to_exactly_the_run_arguments():
    for name in PROFILES:
        P = resolve_parameters(PROFILES, name, seed=0)
        assert set(P) == set(TINY), name
    assert run is run_algorithms


def test_table_has_every_method_once_per_repetition_and_the_extra_m1_pair(result):
    table = result.table
    at_m1 = table[table.m1 == TINY["m1"]]
    assert sorted(at_m1.method) == sorted(list(COMPARED) + METHODS_T2)
    assert sorted(table[table.m1 == 2].method) == ["GM Frobenius + KIP", "GM cos + KIP"]
    assert set(BASELINES) <= set(at_m1.method)
    assert set(at_m1[at_m1.method.isin(BASELINES)].family) == {"real points", "synthetic"}
    # Every method but the fine-tune is an arm of the one registry of arms, named by its two stages.
    assert [a.name for a in arms_of(TINY)] == list(arms.ALGORITHMS)
    assert set(COMPARED) == {"full data", algorithms.META, *(a.label for a in arms_of(TINY))}


def test_every_row_has_its_ridge_tuned_on_the_validation_split(result):
    from ddlib.tuning import RIDGE_GRID
    table = result.table
    assert table.ridge.isin(RIDGE_GRID).all() and table.validation_mse.map(math.isfinite).all()
    assert table.ridge.nunique() > 1  # chosen per row, not the learner's one ridge
    full = table[table.method == "full data"]
    assert (full.memory_floats == (TINY["n_train"] - 80) * (TINY["d"] + 1)).all()  # the validation split held out


def test_every_baseline_stores_the_distillers_floats(result):
    table = result.table
    at_m1 = table[(table.m1 == TINY["m1"]) & table.method.isin(BASELINES)]
    assert (at_m1.memory_floats == (TINY["m1"] + TINY["m2"]) * (TINY["d"] + 1)).all()
    assert (at_m1.wall_time_s >= 0).all()


def test_table_has_the_documented_columns_and_seeds(result):
    table = result.table
    assert COLUMNS <= set(table.columns)
    seeds = derived_seeds(TINY["seed"])
    assert all((table[f"seed_{k}"] == v).all() for k, v in seeds.items())
    assert set(table.learner_steps) == {1, 2}
    assert (table[table.method.str.startswith("full data")].w_cosine_to_full == 1.0).all()
    meta = table[table.method == "meta-gradient"].iloc[0]
    assert meta.meta_final_real_loss > 0 and meta.meta_initial_real_loss > 0


def test_every_arm_has_a_wall_time_counting_a_shared_stage1_in_full(result):
    table = result.table
    assert set(table[table.wall_time_s.isna()].method) == {"TM T=2 S1 + full stage 2"}  # the diagnostic row
    assert (table.wall_time_s.dropna() >= 0).all()
    one = table[(table.m1 == TINY["m1"]) & (table.learner_steps == 1)].set_index("method").wall_time_s
    # GM cos + random real points shares GM cos + KIP's S1: its time counts that S1, so it is not ~0.
    assert one["GM cos + real stage 2"] > 0.2 * one["GM cos + KIP"]


def test_metrics_are_finite_and_in_range(result):
    table = result.table
    assert table.test_mse.map(math.isfinite).all() and (table.test_mse > 0).all()
    assert table.alignment.between(0, 1 + 1e-12).all()
    assert table.w_top_direction_share.between(0, 1 + 1e-12).all()


def test_same_seed_gives_the_same_tables_except_wall_times(result):
    again = run_algorithms(**TINY)
    drop = ["wall_time_s"]
    pd.testing.assert_frame_equal(result.table.drop(columns=drop), again.table.drop(columns=drop))
    pd.testing.assert_frame_equal(result.equivalence, again.equivalence)


def test_equivalence_record_shows_t1_tm_equal_to_cosine_gm(result):
    eq = result.equivalence
    assert len(eq) == TINY["n_seeds"]
    row = eq.iloc[0]
    assert row.gradient_difference <= 1e-10
    assert 0 <= row.restarts_agreeing <= 1
    if row.same_restart and row.restarts_agreeing == 1:
        assert row.kept_point_difference <= 1e-8 and row.test_mse_difference <= 1e-8


def test_matching_gradient_gap_is_rounding_for_t1_and_not_for_another_learner():
    p = make_problem(d=6, r=2, width=16, n_train=300, seed=2)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(3, 4, 6, generator=gen, dtype=torch.float64)
    y = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    assert matching_gradient_gap(p.net, (p.X, p.y), TwoStageLearner(), X, y) <= 1e-12
    # With a weight decay other than 1/eta the trajectory loss is no longer the cosine loss.
    other = TwoStageLearner(stage1_lr=1.0, stage1_weight_decay=0.5)
    assert matching_gradient_gap(p.net, (p.X, p.y), other, X, y) > 1e-3


def test_summarise_gives_mean_min_max_per_method(result):
    summary = summarise(result, TINY["m1"])
    assert set(summary) == set(COMPARED) | set(METHODS_T2)
    stats = summary["GM cos + KIP"]["test_mse"]
    assert stats["min"] <= stats["mean"] <= stats["max"]
    assert "wall_time_s" not in summary["TM T=2 S1 + full stage 2"]


def test_measures_give_one_value_per_repetition_for_every_check(result):
    values = measures(result, TINY)
    assert set(values) == set(CHECKS)
    assert all(len(v) == TINY["n_seeds"] for v in values.values())


def test_claims_match_the_plan_and_are_outside_regime_for_he3(result):
    cls = claims(result, TINY)
    assert [c.id for c in cls] == [c.id for c in plan(TINY)]
    assert [c.statement for c in cls] == [c.statement for c in plan(TINY)]
    he3 = claims(result, {**TINY, "link": "he3"})
    assert he3[0].verdict != "outside regime"  # the T = 1 identity holds for any data
    assert all(c.verdict == "outside regime" for c in he3[1:])


def test_regimes_cover_every_regime_key_of_the_plan(result):
    reg = regimes(result, TINY)
    assert isinstance(reg, dict)
    assert {c.regime for c in plan(TINY) if c.regime} <= set(reg)
    assert all(k in CHECKS for c in plan(TINY) for k in c.checks)


# ------------------------------------------------------------------------- synthetic tables
def _synthetic(n: int = 5, scale: dict | None = None, tm_steps: int = 2, m1: int = 8) -> AlgorithmTables:
    """Tables with the columns the claims read: every method's test MSE (times a per-method factor
    in ``scale``), gradient norms, the meta losses and the T-step rows, over n repetitions."""
    base = {"full data": 0.01, "GM cos + KIP": 0.03, "GM Frobenius + KIP": 0.03, "TM T=1 + KIP": 0.03,
            "GM cos + real stage 2": 0.15, "meta-gradient": 0.01, "random": 1.0, "k-center": 1.1, "herding": 1.2,
            "greedy selection": 0.9, "spectral": 0.1, "spectral + KIP": 0.05, "moment matching + KIP": 0.04,
            "moment matching + labels": 0.08,
            "full data (T=2)": 0.5, "GM cos + KIP (T=2)": 0.1, "TM T=2 + KIP": 0.9}
    norm = {"GM cos + KIP": 20.0, "GM Frobenius + KIP": 0.85}
    rows = []
    for k in range(n):
        jitter = 1 + 0.02 * (k - n / 2)
        for method, mse in base.items():
            steps = 2 if "T=2" in method else 1
            if steps > tm_steps:
                continue
            rows.append({"repetition": k, "method": method, "m1": m1, "learner_steps": steps,
                         "test_mse": mse * jitter * (scale or {}).get(method, 1.0),
                         "stage1_gradient_norm_ratio": norm.get(method, 1.0),
                         "w_cosine_to_full": 0.99 if method.startswith("TM T=2") else 0.9,
                         "meta_initial_real_loss": 0.05, "meta_final_real_loss": 0.015})
    eq = pd.DataFrame({"repetition": range(n), "gradient_difference": [1e-14] * n})
    return AlgorithmTables(pd.DataFrame(rows), eq)


P_SYN = {**PROFILES["book"], "seed": 0}


def test_synthetic_claims_hold():
    cls = claims(_synthetic(), P_SYN)
    assert [c.id for c in cls] == [f"C4.{i}" for i in range(1, 9)]
    assert [c.verdict for c in cls] == ["holds"] * 8
    assert [c.id for c in cls if not c.counted] == ["C4.1", "C4.8"]  # consistency checks, reported apart


def test_synthetic_claims_do_not_hold_when_the_ranking_breaks():
    tables = _synthetic(scale={"GM cos + real stage 2": 0.1, "meta-gradient": 5.0, "random": 0.01})
    verdicts = {c.id: c.verdict for c in claims(tables, P_SYN)}
    assert verdicts["C4.2"] == verdicts["C4.3"] == verdicts["C4.6"] == "does not hold"
    assert verdicts["C4.1"] == "holds"
    # A synthetic baseline far ahead of GM cos + KIP breaks C4.6 through its second check.
    c46 = claims(_synthetic(scale={"spectral": 0.05}), P_SYN)[5]
    assert c46.verdict == "does not hold" and [k.verdict for k in c46.checks] == ["holds", "does not hold"]


def test_synthetic_claims_are_outside_regime_without_their_preconditions():
    assert claims(_synthetic(scale={"full data": 80.0}), P_SYN)[1].verdict == "outside regime"  # no learning
    small_m1 = claims(_synthetic(m1=1), {**P_SYN, "m1": 1})
    assert all(c.verdict == "outside regime" for c in small_m1[1:])
    one_step = claims(_synthetic(tm_steps=1), {**P_SYN, "tm_steps": 1})
    assert [c.verdict for c in one_step[-2:]] == ["outside regime"] * 2 and one_step[1].verdict == "holds"


def test_a_nan_repetition_makes_its_check_inconclusive_not_dropped():
    tables = _synthetic()
    table = tables.table.copy()
    table.loc[(table.method == "herding") & (table.repetition == 0), "test_mse"] = float("nan")
    table.loc[(table.method == "meta-gradient") & (table.repetition == 1), "test_mse"] = float("nan")
    verdicts = {c.id: c.verdict for c in claims(AlgorithmTables(table, tables.equivalence), P_SYN)}
    assert verdicts["C4.6"] == verdicts["C4.3"] == "inconclusive"
    assert verdicts["C4.2"] == "holds"


# ------------------------------------------------------------------ thresholds and controls
def test_thresholds_follow_the_conventions_with_their_origin():
    expected = {"tm_equal": ("<=", 1e-8), "kip": (">=", 1.0), "meta_loss": ("<=", 1.0), "meta_test": ("<=", 1.25),
                "frob_lo": (">=", 0.8), "frob_hi": ("<=", 1.25), "norm_cos": (">=", 1.25),
                "norm_frob_lo": (">=", 0.8), "norm_frob_hi": ("<=", 1.25), "baselines": (">=", 1.0),
                "synthetic": ("<=", 1.25), "tm_w": ("<=", 0.0513), "tm_test": (">=", 1.0)}
    assert {k: (v.comparison, v.threshold) for k, v in CHECKS.items()} == expected
    assert all(v.origin in ("paper", "closed form", "convention") and v.basis for v in CHECKS.values())
    assert CHECKS["tm_w"].threshold == pytest.approx(1 - 0.9 ** 0.5, abs=1e-4)  # R^2 >= 0.9 on each row


def test_every_claim_has_a_declared_control_or_is_a_consistency_check():
    decls = plan(P_SYN)
    assert {d.id for d in decls if d.consistency} == {"C4.1", "C4.8"}
    for d in decls:
        assert bool(d.control) != bool(d.consistency), d.id
        if d.control:
            assert d.control in CONTROLS, d.id
            assert CONTROLS[d.control].expect == ("does not hold",), d.id
    for control in CONTROLS.values():  # a library-wide sabotage by name, or this page's own function
        assert control.sabotage in SABOTAGES or callable(control.sabotage), control.sabotage


def test_the_label_shuffled_sabotages_touch_one_target_and_restore_it():
    # KIP and Frobenius matching: a registered stand-in runs in that one stage's place, on permuted labels.
    for name, (stage, method) in {"KIP on shuffled labels": (2, "kip"),
                                  "Frobenius matching on shuffled labels": (1, "gm-frobenius")}.items():
        registry = methods.STAGE1 if stage == 1 else methods.STAGE2
        before = registry.names()
        with CONTROLS[name].sabotage():
            assert arms.SUBSTITUTES == {(stage, method): f"{method} (permuted labels)"}, name
            assert f"{method} (permuted labels)" in registry
        assert arms.SUBSTITUTES == {} and registry.names() == before, name
    real = algorithms.meta_refine
    with CONTROLS["meta-gradient on shuffled labels"].sabotage():
        assert algorithms.meta_refine is not real
    assert algorithms.meta_refine is real


def test_the_kip_sabotage_permutes_the_labels_kip_sees_and_nothing_else():
    p = make_problem(d=6, r=1, width=16, n_train=200, seed=2)
    config = methods.Config(steps1=5, steps2=5, restarts=1)
    made = {}
    for sabotaged in (False, True):
        real = methods.RealData(p.net, p.X, p.y)
        with CONTROLS["KIP on shuffled labels"].sabotage() if sabotaged else _nothing():
            made[sabotaged] = {a: arms.compose_arm(real, arms.ARMS[a], 3, 4, config, seed=1).distilled
                               for a in ("gm-cos+kip", "gm-cos+random")}
    for a, ds in made[False].items():
        assert torch.equal(ds.stage1.X, made[True][a].stage1.X)  # stage 1 untouched
    assert torch.equal(made[False]["gm-cos+random"].stage2.y, made[True]["gm-cos+random"].stage2.y)
    assert not torch.equal(made[False]["gm-cos+kip"].stage2.X, made[True]["gm-cos+kip"].stage2.X)


def _nothing():
    import contextlib
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------- extra arms
def _mean_point(real, m1, config, seed):
    """A user's stage-1 method: m1 copies of the label-weighted mean input (a poor, legal set)."""
    X, y = real.data
    x = (y[:, None] * X).mean(0, keepdim=True)
    return methods.Points(Data(x.repeat(m1, 1), y[:m1].clone()))


@pytest.fixture
def user_method():
    methods.register_stage1("mean-point", _mean_point, what="m1 copies of the label-weighted mean input")
    yield "mean-point"
    methods.STAGE1.unregister("mean-point")


def test_a_user_registered_method_joins_the_comparison_by_name(user_method):
    P = {**TINY, "extra_arms": [f"{user_method}+kip"], "extra_m1": [], "tm_steps": 1}
    tables = run_algorithms(**P)
    row = tables.table[tables.table.method == f"{user_method}+kip"]
    assert len(row) == 1 and row.family.iloc[0] == "synthetic" and math.isfinite(row.test_mse.iloc[0])
    assert f"{user_method}+kip" in plan(P)[5].statement  # C4.6 names it among the synthetic baselines
    values = measures(tables, P)["synthetic"]
    best = tables.table[tables.table.method.isin([*SYNTHETIC, f"{user_method}+kip"])].test_mse.min()
    gm = tables.table[tables.table.method == "GM cos + KIP"].test_mse.iloc[0]
    assert values == pytest.approx([gm / best])


def test_an_unknown_arm_is_refused_before_anything_runs():
    for bad in ("no-such-method+kip", "gm-cos+nothing", "gm-cos", "a+b+c"):
        with pytest.raises(ValueError):
            run_algorithms(**{**TINY, "extra_arms": [bad]})
    with pytest.raises(ValueError):
        arms_of({**TINY, "extra_arms": ["gm-cos"]})
