"""The notebook-05 experiments: table shapes, recorded seeds, determinism, one property each (he3
control, reuse of distilled sets in the transfer study, the small-m1 diagnostics), the pure-noise
closed form, the claims on synthetic tables (holds, does not hold, outside regime), and the
declared thresholds' origins and negative controls."""
from __future__ import annotations

import inspect

import pandas as pd
import pytest
import torch

from ddlib.book.claims import ORIGINS, claims_of
from ddlib.book.controls import SABOTAGES
from ddlib.distillers import FAILED_MATCHING_LOSS, distill, distill_stage1
from ddlib.experiments import boundaries, resolve_parameters
from ddlib.experiments.boundaries import (CHECKS, CONTROLS, FRESH_THETA0_OFFSET, PROFILES, BoundaryTables, measures, plan,
                                          regimes, run, run_boundaries, run_links_and_noise, run_small_m1,
                                          run_transfer, summarise, target_widths)
from ddlib.experiments.problem import derived_seeds, make_problem
from ddlib.learners import stage1_gradient

TINY = dict(d=16, r=2, hard_link="he3", width=64, n_train=1500, m1=4, m2=8, n_seeds=1, noise_grid=[0.5], width_factors=[0.5, 2.0],
            ridge_grid=[1e-2], m1_small_grid=[1, 4], r_small_grid=[2], steps1=60, steps2=40, lr=0.05, restarts=2,
            n_test=2000, seed=3)


def _kw(fn, params):
    """The entries of ``params`` that ``fn`` takes (each study takes a subset of the notebook's)."""
    return {k: v for k, v in params.items() if k in inspect.signature(fn).parameters}


def claims(tables: BoundaryTables, P):
    """Notebook 05's claims on these tables, decided as the page decides them."""
    return claims_of(boundaries, tables, P)


@pytest.fixture(scope="module")
def links() -> tuple[pd.DataFrame, dict]:
    return run_links_and_noise(**_kw(run_links_and_noise, TINY))


@pytest.fixture(scope="module")
def transfer(links) -> pd.DataFrame:
    return run_transfer(**_kw(run_transfer, TINY), distilled=links[1])


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return run_small_m1(**_kw(run_small_m1, TINY))


@pytest.fixture(scope="module")
def tables(links, transfer, small) -> BoundaryTables:
    return BoundaryTables(links[0], transfer, small)


def test_the_notebook_entry_point_takes_exactly_the_profile_parameters():
    accepted = set(inspect.signature(run_boundaries).parameters) - {"progress"}
    for name in PROFILES:
        assert set(resolve_parameters(PROFILES, name, seed=0)) == accepted, name
    assert run is run_boundaries
    with pytest.raises(TypeError, match="m1_smal_grid"):
        run_boundaries(**{**TINY, "m1_smal_grid": [1]})


def test_links_table_has_every_condition_and_method_with_seeds(links):
    table, sets = links
    assert set(zip(table.link, table.noise)) == {("he2", 0.0), ("he3", 0.0), ("he2", 0.5)}
    methods = table.groupby(["link", "noise"]).method.apply(sorted)
    assert all(m == ["distilled", "full", "s1+real"] for m in methods)
    row = table.iloc[0]
    assert all(row[f"seed_{k}"] == v for k, v in derived_seeds(3).items())
    assert list(sets) == [3] and sets[3].metadata["theta0"]["seed"] == derived_seeds(3)["theta0"]


def test_same_seed_gives_the_same_links_table(links):
    again, _ = run_links_and_noise(**_kw(run_links_and_noise, TINY))
    pd.testing.assert_frame_equal(links[0], again)


def test_he3_full_data_learner_fails_where_he2_succeeds(links):
    full = links[0][(links[0].method == "full") & (links[0].noise == 0)].set_index("link").test_mse
    assert full["he3"] > 0.4 and full["he2"] < 0.25


def test_he3_gradient_has_no_population_direction_and_the_energy_of_noise(links):
    he3 = links[0][links[0].link == "he3"]
    assert he3.grad_cos_pop.isna().all()
    full = links[0][(links[0].method == "full") & (links[0].noise == 0)].set_index("link")
    assert 0.3 < full.loc["he3", "grad_energy_ratio"] < 3 < full.loc["he2", "grad_energy_ratio"]


def test_target_widths_are_even_and_include_the_home_width():
    assert target_widths(256, [0.5, 2.0, 4.0]) == [128, 256, 512, 1024]
    assert target_widths(12, [0.5, 0.01]) == [2, 6, 12]
    with pytest.raises(ValueError, match="width_factors"):
        target_widths(10, [-1.0])


def test_transfer_table_records_the_targets_and_the_fresh_seed(transfer):
    assert set(transfer.target) == {"width", "ridge"}
    assert sorted(transfer[transfer.target == "width"].target_width.unique()) == [32, 64, 128]
    assert set(transfer[transfer.target == "ridge"].ridge) == {1e-2}
    assert set(transfer.method) == {"distilled", "s1+real", "full", "null s1+real"}
    assert set(transfer[transfer.target == "ridge"].method) == {"distilled", "s1+real", "full"}
    fresh = transfer[transfer.target == "width"]
    assert (fresh.theta0_seed == 3 + FRESH_THETA0_OFFSET).all()
    assert (transfer[transfer.target == "ridge"].theta0_seed == derived_seeds(3)["theta0"]).all()


def test_transfer_reuses_the_distilled_set_exactly(links, transfer):
    # At theta0 with another ridge, stage 1 is unchanged: the first layer S1 trains is the same
    # as in the links study, so the alignment matches; distilled afresh the table is bit-identical.
    at = transfer[(transfer.target == "ridge") & (transfer.method == "s1+real")].iloc[0]
    ref = links[0][(links[0].link == "he2") & (links[0].noise == 0) & (links[0].method == "s1+real")].iloc[0]
    assert at.alignment == pytest.approx(ref.alignment, abs=1e-12)
    ds = links[1][3]
    assert at.grad_cos_data == pytest.approx(1 - ds.metadata["stage1_matching_loss"], abs=1e-9)
    again = run_transfer(**_kw(run_transfer, TINY))
    pd.testing.assert_frame_equal(transfer, again)


def test_distill_stage1_gives_the_stage1_of_distill():
    p = make_problem(d=8, r=2, width=32, n_train=300, seed=5)
    ds = distill(p.net, p.X, p.y, 3, 2, steps1=30, steps2=0, restarts=2, seed=7)
    G_D = stage1_gradient(p.net.W, p.net.a, p.net.b, p.X, p.y)
    res = distill_stage1(p.net, p.X, p.y, 3, steps=30, lr=ds.metadata["lr"], restarts=2, seed=7, G_D=G_D)
    S1, loss = res.best(), res.best_loss
    assert torch.equal(S1[0], ds.stage1[0]) and torch.equal(S1[1], ds.stage1[1])
    assert loss == ds.metadata["stage1_matching_loss"]
    assert (loss > FAILED_MATCHING_LOSS) == ds.metadata["stage1_failed"]


def test_small_m1_respects_the_span_bound_and_flags_a_single_point(small):
    assert sorted(small.m1) == [1, 4]
    assert (small.test_mse >= small.span_bound).all()
    # a neuron no point switches on has a zero gradient row, which costs 1 in the cosine loss
    assert (small.stage1_matching_loss >= small.zero_rows - 1e-12).all()
    one = small[small.m1 == 1].iloc[0]
    assert one.zero_rows > 0.3 and one.stage1_failed and one.w1_dims == pytest.approx(1.0)


def test_summarise_groups_the_three_tables(tables):
    out = summarise(tables)
    assert set(out) == {"links_and_noise", "transfer", "small_m1", "failed_matching_loss"}
    assert {"mean", "lo", "hi"} <= set(out["transfer"][0])


def test_measures_give_one_value_per_repetition_for_every_check(tables):
    values = measures(tables, TINY)
    assert set(values) == set(CHECKS)
    assert all(len(v) == TINY["n_seeds"] for v in values.values())
    assert [c.id for c in claims(tables, TINY)] == [c.id for c in plan(TINY)]
    assert {c.regime for c in plan(TINY)} <= set(regimes(tables, TINY))


def test_bad_grids_and_seed_count_are_refused_by_name():
    with pytest.raises(ValueError, match="noise_grid"):
        run_links_and_noise(**_kw(run_links_and_noise, {**TINY, "noise_grid": [-1.0]}))
    with pytest.raises(ValueError, match="ridge_grid"):
        run_transfer(**_kw(run_transfer, {**TINY, "ridge_grid": [0.0]}))
    for fn in (run_links_and_noise, run_transfer, run_small_m1):
        with pytest.raises(ValueError, match="n_seeds"):
            fn(**_kw(fn, {**TINY, "n_seeds": 0}))
    with pytest.raises(ValueError, match="hard_link"):
        run_links_and_noise(**_kw(run_links_and_noise, {**TINY, "hard_link": "he2"}))


# ------------------------------------------------------------------------- synthetic tables
P_SYN = {**PROFILES["book"], "seed": 0}


def _synthetic(n: int = 5, he3_full: float = 0.9, noise_inc: tuple[float, float] = (0.064, 0.05),
               s1_fresh: float = 0.05, m1_small: tuple[int, ...] = (1, 2)) -> BoundaryTables:
    """Tables with the columns the claims read, over n repetitions (a small jitter per repetition)."""
    d, r, L = P_SYN["d"], P_SYN["r"], P_SYN["width"]
    share = (r + 6) / (d + 6)
    links, transfer, small = [], [], []
    for k in range(n):
        j = 1 + 0.02 * (k - n / 2)
        mse = {("he2", 0.0): {"full": 0.03, "distilled": 0.06, "s1+real": 0.05},
               ("he3", 0.0): {"full": he3_full, "distilled": 1.0, "s1+real": 1.0},
               ("he2", 1.0): {"full": 0.03 + noise_inc[0], "distilled": 0.06 + noise_inc[1], "s1+real": 0.1}}
        for (link, noise), methods in mse.items():
            for method, v in methods.items():
                links.append({"repetition": k, "link": link, "noise": noise, "method": method, "test_mse": v * j,
                              "test_mse_clean": v * j if noise == 0 else v, "grad_energy_span": share * j,
                              "grad_energy_ratio": j if link == "he3" else 5.0})
        for target, w, lam in [("width", L // 2, 1e-3), ("width", L, 1e-3), ("width", 2 * L, 1e-3), ("ridge", L, 1e-2)]:
            arms = [("full", 0.03, 0.8), ("s1+real", s1_fresh, 0.85), ("distilled", 0.12, 0.85)]
            for method, v, a in arms + ([("null s1+real", 0.5, 0.3)] if target == "width" else []):
                transfer.append({"repetition": k, "width": L, "target": target, "target_width": w, "ridge": lam,
                                 "method": method, "test_mse": v * j, "alignment": a})
        for rr in (2, 3):
            for m in m1_small:
                small.append({"repetition": k, "r": rr, "m1": m, "test_mse": 0.95 * j,
                              "span_bound": max(0, 1 - m / rr)})
    return BoundaryTables(pd.DataFrame(links), pd.DataFrame(transfer), pd.DataFrame(small))


def test_synthetic_claims_hold():
    assert [c.verdict for c in claims(_synthetic(), P_SYN)] == ["holds"] * 8


def test_synthetic_claims_do_not_hold_when_the_boundaries_move():
    verdicts = {c.id: c.verdict for c in claims(_synthetic(he3_full=0.1, noise_inc=(0.064, 0.2), s1_fresh=0.5), P_SYN)}
    assert verdicts["C5.2"] == verdicts["C5.5"] == verdicts["C5.6"] == "does not hold"
    assert verdicts["C5.1"] == "holds"


def test_synthetic_claims_are_outside_regime_without_their_preconditions():
    no_small = {c.id: c.verdict for c in claims(_synthetic(m1_small=(4,)), P_SYN)}
    assert no_small["C5.8"] == "outside regime" and no_small["C5.1"] == "holds"
    m1_below_r = {c.id: c.verdict for c in claims(_synthetic(), {**P_SYN, "m1": 1})}
    assert all(m1_below_r[c] == "outside regime" for c in ("C5.5", "C5.6", "C5.7"))
    # the ridge's variance sigma^2 L/n does not depend on m1 (nor on whether the learner learns)
    assert m1_below_r["C5.1"] == m1_below_r["C5.4"] == m1_below_r["C5.8"] == "holds"
    no_noise = {c.id: c.verdict for c in claims(_synthetic(), {**P_SYN, "noise_grid": []})}
    assert no_noise["C5.4"] == no_noise["C5.5"] == "outside regime"


def test_noise_ratio_needs_a_resolved_full_data_increment():
    # The full data's increment straddles 0 over the repetitions: a ratio to it can take any sign
    # (here it would be large and negative for some repetitions), so C5.5 does not apply.
    verdicts = {c.id: c.verdict for c in claims(_synthetic(noise_inc=(0.0, 0.05)), P_SYN)}
    assert verdicts["C5.5"] == "outside regime"
    assert verdicts["C5.4"] != "outside regime"  # the increment against sigma^2 L / n is still checked


# ------------------------------------------------------------------ thresholds and controls
def test_every_threshold_states_its_origin_and_follows_the_conventions():
    assert all(spec.origin in ORIGINS[1:] and spec.basis for spec in CHECKS.values())
    got = {k: (CHECKS[k].comparison, CHECKS[k].threshold, CHECKS[k].origin) for k in CHECKS}
    assert got == {
        "he3_span_lo": (">=", 0.8, "closed form"), "he3_span_hi": ("<=", 1.25, "closed form"),
        "he3_energy_lo": (">=", 0.8, "closed form"), "he3_energy_hi": ("<=", 1.25, "closed form"),
        "he3_full": (">=", 0.5, "convention"), "he3_distilled": (">=", 0.5, "convention"),
        "noise_full_lo": (">=", 0.8, "closed form"), "noise_full_hi": ("<=", 1.25, "closed form"),
        "noise_distilled": ("<=", 1.25, "convention"),
        "transfer_fresh": ("<=", 2.0, "convention"), "transfer_ridge": ("<=", 2.0, "convention"),
        "transfer_width": (">=", 0.8, "convention"), "transfer_width_null": (">=", 2.0, "convention"),
        "span": (">=", 1.0, "closed form")}


def test_every_claim_names_a_declared_control_or_is_a_consistency_check():
    P = resolve_parameters(PROFILES, "smoke", seed=0)
    for decl in plan(P):
        assert bool(decl.control) != bool(decl.consistency), decl.id
        if decl.control:
            control = CONTROLS[decl.control]
            assert control.what and control.expect == ("does not hold",)
            assert not control.sabotage or control.sabotage in SABOTAGES
            assert set(control.parameters) <= set(P)
    assert [d.id for d in plan(P) if d.consistency] == ["C5.8"]
    assert {d.control for d in plan(P) if d.control} == set(CONTROLS)


def test_the_aniso_control_makes_the_he3_checks_fail_on_synthetic_tables():
    # With a link one gradient step learns in place of he3, the gradient has a signal (energy far
    # above the pure-noise closed form) and both the full-data learner and the distilled set learn.
    t = _synthetic(he3_full=0.1)
    links = t.links.copy()
    hard = links.link == "he3"
    links.loc[hard, "link"] = "aniso"
    links.loc[hard, "grad_energy_ratio"] = 3.0
    links.loc[hard & (links.method == "distilled"), "test_mse"] = 0.15
    verdicts = {c.id: c.verdict for c in claims(BoundaryTables(links, t.transfer, t.small_m1),
                                                {**P_SYN, "hard_link": "aniso"})}
    assert verdicts["C5.1"] == verdicts["C5.2"] == verdicts["C5.3"] == "does not hold"
