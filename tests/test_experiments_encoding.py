"""Notebook 01's experiment: the tables' shape and seeds, determinism, stage-1-only distillation,
the shared-noise direction on a matrix built to have it, the rank-k truncation, the distilled
stage-1 points carrying span(U), the further links (aniso, quad, the he3 control) run on the same
repetitions' seeds, and the claims' verdicts on synthetic tables (holds, does not hold, outside
regime) beside the reported denoising comparison; every threshold's origin, the negative control
of every claim, the label-shuffled null, and a set the optimiser left where it started."""
from __future__ import annotations

import inspect
import math

import pandas as pd
import pytest
import torch

from ddlib.experiments import encoding, resolve_parameters
from ddlib.book.controls import SABOTAGES, Control
from ddlib.experiments.encoding import (CHECKS, CONTROL, CONTROLS, DENOISING, PROFILES, EncodingTables, check_spec,
                                        denoising_checks, further_links, link_values, measures, plan, regimes, run,
                                        run_encoding, summarise)
from ddlib.metrics import best_rank_approximation, shared_noise_direction
from ddlib.book.claims import VERDICTS, claims_of
from ddlib.experiments.problem import derived_seeds
from ddlib.tasks import Link, register_link, unregister_link
from ddlib.theory import he3_noise_alignment, he3_noise_energy

TINY = dict(d=8, r=2, width=32, n_train=1000, m1=4, m2=6, link="he2", n_seeds=2, steps1=60, steps2=10, lr=0.05,
            restarts=2, n_subsets=3, n_points_shown=10, n_test=500, denoise_n_grid=[500, 1000], denoise_m1_grid=[4],
            links=["aniso", "quad", "he3"])
SEED_COLUMNS = {"repetition", "base_seed", *(f"seed_{s}" for s in derived_seeds(0))}


@pytest.fixture(scope="module")
def tables():
    return run_encoding(**TINY, seed=3)


def test_sets_table_has_one_row_per_source_and_the_documented_columns(tables):
    s = tables.sets
    assert SEED_COLUMNS | {"source", "subset", "n_points", "energy", "start_energy", "displacement_energy",
                           "displacement_ratio", "alignment", "smallest_angle_deg", "largest_angle_deg",
                           "cos_pop", "cos_pop_trunc", "test_mse", "shared_noise_cos", "chance_energy",
                           "chance_alignment", "null_energy", "null_alignment"} <= set(s.columns)
    counts = s.groupby("repetition").source.value_counts().unstack()
    assert (counts[["S1", "S2", "full data", "population"]] == 1).all().all()
    assert (counts["random m1 subset"] == TINY["n_subsets"]).all()


def test_points_spectra_and_denoising_tables_have_their_columns(tables):
    assert SEED_COLUMNS | {"set", "point", "z1", "z2", "norm_in", "norm_orth", "label"} <= set(tables.points.columns)
    counts = tables.points[tables.points.repetition == 0].set.value_counts()
    assert counts.to_dict() == {"S1": TINY["m1"], "S2": TINY["m2"], "real": TINY["n_points_shown"]}
    assert SEED_COLUMNS | {"matrix", "k", "value", "relative"} <= set(tables.spectra.columns)
    assert (tables.spectra.groupby(["repetition", "matrix"]).k.max() == TINY["d"]).all()
    denoising = tables.denoising
    assert SEED_COLUMNS | {"n", "source", "points", "cos_pop", "cos_real", "cos_pop_trunc"} <= set(denoising.columns)
    assert len(denoising) == TINY["n_seeds"] * len(TINY["denoise_n_grid"]) * (1 + len(TINY["denoise_m1_grid"]))


def test_seeds_are_recorded_and_derived_from_the_base_seed(tables):
    for t in (tables.sets, tables.points, tables.spectra, tables.denoising, tables.links):
        assert sorted(t.base_seed.unique()) == [3, 4]
        for base, g in t.groupby("base_seed"):
            for name, value in derived_seeds(int(base)).items():
                assert (g[f"seed_{name}"] == value).all()


def test_same_seed_gives_the_same_tables(tables):
    again = run_encoding(**TINY, seed=3)
    for name in ("sets", "points", "spectra", "denoising", "links"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(tables, name))


def test_distilled_stage1_points_carry_span_u_and_align_w1_beyond_random_subsets(tables):
    # d=8, r=2, L=32, n=1000, m1=4, 60 steps; over base seeds 3-12 (10 repetitions): S1 energy
    # 1.9-3.4x chance 0.25, and its W1's alignment above the mean of the random 4-point subsets'
    # by 0.23-0.48.
    s = tables.sets
    s1 = s[s.source == "S1"].set_index("repetition")
    assert (s1.energy > 1.5 * s1.chance_energy).all()
    random_mean = s[s.source == "random m1 subset"].groupby("repetition").alignment.mean()
    assert (s1.alignment > random_mean + 0.1).all()


def test_shared_noise_direction_finds_a_rank_one_term_built_in():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(500, 6, generator=gen, dtype=torch.float64)
    y = torch.randn(500, generator=gen, dtype=torch.float64)
    v = (y[:, None] * X).mean(0)
    v = v / v.norm()
    a = torch.cat([torch.ones(4), -torch.ones(4)]).double()
    # Two strong directions orthogonal to v (and neurons orthogonal to a), plus a weaker a (x) v.
    basis = torch.linalg.qr(torch.cat([v[:, None], torch.randn(6, 2, generator=gen, dtype=torch.float64)], 1)).Q
    A = torch.tensor([[1., 0], [0, 1], [1, 1], [1, -1]] * 2, dtype=torch.float64) * 3
    G = A @ basis[:, 1:].T + 0.5 * a[:, None] * v[None, :]
    assert shared_noise_direction(G, X, y, r=2) == pytest.approx(1.0, abs=1e-10)
    assert shared_noise_direction(A @ basis[:, 1:].T + 1e-3 * torch.randn(8, 6, generator=gen, dtype=torch.float64),
                                  X, y, r=2) < 0.99


def test_empty_denoising_grid_is_rejected_with_its_name():
    with pytest.raises(ValueError, match="denoise_n_grid"):
        run_encoding(**{**TINY, "denoise_n_grid": []}, seed=0)


def test_every_profile_resolves_and_names_only_run_encoding_parameters():
    accepted = set(inspect.signature(run_encoding).parameters) - {"progress", "_"}
    for name in PROFILES:
        P = resolve_parameters(PROFILES, name, seed=0)
        assert set(P) - {"profile"} == accepted


def test_every_check_has_one_value_per_repetition_on_the_real_experiment(tables):
    values = measures(tables, TINY)
    planned = {k for c in plan(TINY) for k in c.checks}
    assert set(values) == set(CHECKS) | planned and all(len(v) == TINY["n_seeds"] for v in values.values())


def test_full_data_row_carries_the_learners_test_mse_and_s1_the_truncation_cosine(tables):
    s = tables.sets
    assert s[s.source == "full data"].test_mse.between(0, 2).all()
    assert s[s.source != "full data"].test_mse.isna().all()
    s1 = s[s.source == "S1"]
    assert s1.cos_pop_trunc.between(-1, 1).all() and s[s.source != "S1"].cos_pop_trunc.isna().all()
    # The headline S1 is reused in the denoising table at (n_train, m1): same cosines there.
    d = tables.denoising
    again = d[(d.source == "distilled") & (d.n == TINY["n_train"]) & (d.points == TINY["m1"])]
    assert list(again.cos_pop) == pytest.approx(list(s1.cos_pop))
    assert list(again.cos_pop_trunc) == pytest.approx(list(s1.cos_pop_trunc))


def test_best_rank_approximation_keeps_the_top_singular_triplets():
    gen = torch.Generator().manual_seed(1)
    G = torch.randn(12, 6, generator=gen, dtype=torch.float64)
    s = torch.linalg.svdvals(G)
    for k in (0, 1, 3):
        A = best_rank_approximation(G, k)
        assert torch.linalg.matrix_rank(A) == k
        # Eckart-Young: the error is the dropped singular values.
        assert float((G - A).norm()) == pytest.approx(float(s[k:].norm()))
    assert torch.allclose(best_rank_approximation(G, 6), G) and torch.allclose(best_rank_approximation(G, 9), G)


def test_he3_runs_without_a_population_first_layer():
    P = {**TINY, "link": "he3", "n_seeds": 1, "denoise_n_grid": [1000], "links": ["he2"]}
    t = run_encoding(**P, seed=0)
    pop = t.sets[t.sets.source == "population"]
    assert pop.alignment.isna().all() and (t.sets[t.sets.source == "S1"].cos_pop == 0).all()
    assert t.spectra[t.spectra.matrix == "G_pop (population)"].relative.isna().all()
    verdicts = {c.id: c.verdict for c in claims_of(encoding, t, P)}
    assert list(verdicts) == ["C1.1", "C1.2", "C1.3", "C1.4"]  # he2 as the further link: an encoding claim
    assert {verdicts[c] for c in ("C1.1", "C1.2", "C1.3")} == {"outside regime"}
    assert verdicts["C1.4"] == "inconclusive"  # one repetition: no interval


# ------------------------------------------------------------------------------- further links
def test_further_links_skip_the_headline_link_and_repeats_and_refuse_unknown_names():
    assert further_links("he2", ["aniso", "he2", "quad", "aniso", "he3"]) == ["aniso", "quad", "he3"]
    assert further_links("quad", ["quad"]) == []
    with pytest.raises(ValueError, match="link must be one of"):
        further_links("he2", ["he4"])
    with pytest.raises(TypeError, match="links must be a list"):
        further_links("he2", "aniso")


def test_further_links_run_on_the_same_repetitions_seeds_without_stage_2(tables):
    links = tables.links
    assert list(dict.fromkeys(links.link)) == ["aniso", "quad", "he3"]
    counts = links.groupby(["link", "repetition"]).source.value_counts().unstack()
    assert (counts[["S1", "full data", "population"]] == 1).all().all()
    assert (counts["random m1 subset"] == TINY["n_subsets"]).all() and "S2" not in counts
    # Same U, theta0 and inputs as the headline: the real points' energy in span(U) is the link's too.
    full = links[links.source == "full data"].set_index(["link", "repetition"]).energy
    head = tables.sets[tables.sets.source == "full data"].set_index("repetition").energy
    for link in ("aniso", "quad", "he3"):
        assert list(full[link]) == pytest.approx(list(head))


def test_he3_rows_carry_the_closed_form_pure_noise_share_and_no_infinite_data_layer(tables):
    links = tables.links
    he3, other = links[links.link == "he3"], links[links.link != "he3"]
    assert (he3.noise_energy == he3_noise_energy(TINY["d"], TINY["r"])).all()
    assert (he3.noise_alignment == he3_noise_alignment(TINY["d"], TINY["r"])).all()
    assert other.noise_energy.isna().all() and other.noise_alignment.isna().all()
    assert he3[he3.source == "population"].alignment.isna().all()
    pop = other[other.source == "population"]
    assert pop.alignment.between(0.5, 1).all() and (pop.largest_angle_deg < 45).all()


def test_link_values_give_one_value_per_repetition_and_none_for_a_link_not_run(tables):
    values = link_values(tables, "quad")
    assert all(len(v) == TINY["n_seeds"] for k, v in values.items() if k != "noise")
    assert all(math.isnan(v) for v in values["noise"])  # no closed-form noise share for quad: undefined, counted
    assert len(link_values(tables, "he3")["noise"]) == TINY["n_seeds"]
    assert all(v == [] for v in link_values(tables, "he2").values())


# ------------------------------------------------------------------------------- claims
P_SYN = {**TINY, "d": 32, "r": 2, "m1": 8, "n_train": 8000, "n_seeds": 3}
LINK_DEFAULTS = {"aniso": dict(energy=0.5, align=(0.88, 0.83, 0.28)), "quad": dict(energy=0.5, align=(0.86, 0.81, 0.3)),
                 "he3": dict(energy=0.19, align=(0.4, 0.4, 0.33), full_mse=0.7, null=math.nan)}


def _rows(k, *, link, energy, align, full_mse=0.01, angles=(80.0, 80.0, 1.0), noise=math.nan, null=0.1):
    """One repetition's S1 / full data / random subsets / population rows of one link (``null``: the
    energy of S1 distilled from shuffled labels, on the S1 row)."""
    j = 0.01 * k
    base = dict(repetition=k, link=link, chance_energy=2 / 32, chance_alignment=0.25, noise_energy=noise)
    return ([dict(base, source="S1", subset=0, energy=energy + j, alignment=align[0] + j, cos_pop=0.82 + j,
                  null_energy=null, null_alignment=0.3,
                  cos_pop_trunc=0.83, test_mse=math.nan, largest_angle_deg=angles[0] + 10 * j),
             dict(base, source="full data", subset=0, energy=0.06, alignment=align[1], cos_pop=0.8,
                  cos_pop_trunc=math.nan, test_mse=full_mse + j / 10, largest_angle_deg=angles[1] + 10 * j),
             dict(base, source="population", subset=0, energy=math.nan, alignment=0.99, cos_pop=1.0,
                  cos_pop_trunc=math.nan, test_mse=math.nan, largest_angle_deg=angles[2] + j)]
            + [dict(base, source="random m1 subset", subset=i, energy=0.06, alignment=align[2] + 0.01 * i,
                    cos_pop=0.05, cos_pop_trunc=math.nan, test_mse=math.nan, largest_angle_deg=85.0)
               for i in range(3)])


def synthetic(*, energy=0.6, align=(0.9, 0.85, 0.25), trunc=(0.82, 0.83), full_mse=0.01, reps=3,
              denoise=((2000, 8, -0.1), (8000, 8, 0.05)), links=None, null=0.1) -> EncodingTables:
    """Tables shaped like ``run_encoding``'s, with the quantities the checks read set by hand:
    S1's energy (and that of S1 from shuffled labels, ``null``), the alignments of S1 / full data /
    random subsets, S1's cosine with G_pop and its
    truncation's, the full-data test MSE, (n, m1, distilled minus truncation) rows, and per
    further link (``links``: link -> keyword arguments of ``_rows``, over ``LINK_DEFAULTS``) the
    same rows with the largest principal angles (S1, full data, infinite data) and he3's
    closed-form noise share."""
    sets, den, further = [], [], []
    links = {k: {**v, **(links or {}).get(k, {})} for k, v in LINK_DEFAULTS.items()}
    for k in range(reps):
        j = 0.01 * k
        rows = _rows(k, link="he2", energy=energy, align=align, full_mse=full_mse, null=null)
        rows[0].update(cos_pop=trunc[0] + j, cos_pop_trunc=trunc[1])
        sets += rows
        den += [dict(repetition=k, n=n, source="distilled", points=a, cos_pop=0.8 + diff + j, cos_pop_trunc=0.8)
                for n, a, diff in denoise]
        for link, kw in links.items():
            further += _rows(k, link=link, **{"noise": 0.2 if link == "he3" else math.nan, **kw})
    empty = pd.DataFrame()
    return EncodingTables(pd.DataFrame(sets), empty, empty, pd.DataFrame(den), pd.DataFrame(further))


def verdicts(tables, **P):
    return {c.id: c.verdict for c in claims_of(encoding, tables, {**P_SYN, **P})}


def test_measures_give_one_value_per_repetition_for_every_check():
    values = measures(synthetic(), P_SYN)
    planned = {k for c in plan(P_SYN) for k in c.checks}
    assert set(CHECKS) <= set(values) and planned <= set(values) and set(values) == set(CHECKS) | planned
    assert all(len(v) == 3 for v in values.values())
    assert values["energy"][0] == pytest.approx(0.6 / 0.1)  # over the shuffled-label null, not chance
    assert values["truncation"][0] == pytest.approx(0.82 / 0.83)
    assert values["energy_quad"][0] == pytest.approx(0.5 / 0.1)
    assert values["weakest_full"][0] == pytest.approx(1.0) and values["weakest_s1"][0] == pytest.approx(80.0)
    assert values["weakest_data"][0] == pytest.approx(80.0)
    assert values["noise_hi"] == values["noise_lo"] and values["noise_hi"][0] == pytest.approx(0.19 / 0.2)
    # The plan's per-link keys read the same per-repetition values as the calibrated CHECKS keys.
    assert values["energy@quad"] == values["energy_quad"] and values["weakest_full@quad"] == values["weakest_full"]
    assert values["noise_hi@he3"] == values["noise_lo@he3"] == values["noise_hi"]


def test_check_spec_gives_each_link_its_calibrated_spec_and_the_shared_one_otherwise():
    assert check_spec("energy") is CHECKS["energy"] and check_spec("truncation") is CHECKS["truncation"]
    assert check_spec("energy@aniso") is CHECKS["energy_aniso"]
    assert check_spec("align_random@quad") is CHECKS["align_random_quad"]
    assert check_spec("energy@he2b") is CHECKS["energy"]  # a reader's link: the headline's thresholds
    assert check_spec("weakest_s1@quad") is CHECKS["weakest_s1"] and check_spec("noise_lo@he3") is CHECKS["noise_lo"]


def test_regimes_give_every_regime_key_of_the_plan():
    P = P_SYN
    reg = regimes(synthetic(), P)
    assert isinstance(reg, dict) and {c.regime for c in plan(P)} <= set(reg)
    assert reg["weakest:quad"][:-2] == reg["link:quad"] and "r >= 2" in reg["weakest:quad"][-2].name
    assert "infinite-data first layer recovers" in reg["weakest:quad"][-1].name and reg["weakest:quad"][-1].met
    assert len(reg["control:he3"]) == 1 and reg["control:he3"][0].met


def test_every_claim_holds_on_tables_that_meet_every_threshold():
    assert set(verdicts(synthetic()).values()) == {"holds"}


@pytest.mark.parametrize("change, cid", [
    (dict(energy=0.1), "C1.1"),                      # S1 near chance
    (dict(align=(0.6, 0.85, 0.25)), "C1.2"),         # W1 from S1 far below the full-data W1
    (dict(align=(0.9, 0.85, 0.95)), "C1.2"),         # no better than random points
    (dict(null=0.5), "C1.1"),                        # S1 near the shuffled-label null (far above chance)
    (dict(trunc=(0.5, 0.83)), "C1.3"),               # far below the rank-m1 truncation
    (dict(links={"aniso": dict(energy=0.08)}), "C1.4"),                 # aniso's S1 near its null
    (dict(links={"quad": dict(align=(0.5, 0.81, 0.3))}), "C1.5"),       # quad's W1 far below the full data's
    (dict(links={"quad": dict(angles=(80.0, 60.0, 1.0))}), "C1.6"),     # S1 loses more than the data (ratio 1.33)
    (dict(links={"quad": dict(angles=(5.0, 5.0, 1.0))}), "C1.6"),       # the weakest direction is recovered
    (dict(links={"he3": dict(energy=0.9)}), "C1.7"),                    # he3's S1 far above the noise share
    (dict(links={"he3": dict(energy=0.02)}), "C1.7"),                   # ... or far below it
])
def test_a_claim_does_not_hold_when_its_quantity_is_on_the_wrong_side(change, cid):
    v = verdicts(synthetic(**change))
    assert v[cid] == "does not hold" and all(x == "holds" for k, x in v.items() if k != cid), v


@pytest.mark.parametrize("P", [dict(link="he3"), dict(m1=1), dict()])
def test_claims_are_outside_regime_off_information_exponent_2_below_r_points_or_without_learning(P):
    tables = synthetic(full_mse=0.9) if not P else synthetic()
    v = verdicts(tables, **P)
    assert {v[c] for c in ("C1.1", "C1.2", "C1.3")} == {"outside regime"}


def test_further_link_claims_are_outside_regime_where_their_own_learner_does_not_learn_or_m1_is_below_r():
    v = verdicts(synthetic(links={"aniso": dict(full_mse=0.8)}))
    assert v["C1.4"] == "outside regime" and v["C1.5"] == "holds"
    v = verdicts(synthetic(), m1=1)
    assert all(v[c] == "outside regime" for c in ("C1.4", "C1.5", "C1.6")) and v["C1.7"] == "holds"
    assert verdicts(synthetic(), r=1)["C1.6"] == "outside regime"  # no weakest direction apart from the strongest
    # The infinite-data learner does not recover the weakest direction either: nothing for the data to lose.
    assert verdicts(synthetic(links={"quad": dict(angles=(80.0, 80.0, 60.0))}))["C1.6"] == "outside regime"


def test_plan_follows_the_further_links_and_their_information_exponent():
    # The kind and link of a claim on a further link is its regime key; the headline's three share "headline".
    assert [(c.regime, c.checks) for c in plan(P_SYN)] == [
        ("headline", ("energy",)), ("headline", ("align_full", "align_random")), ("headline", ("truncation",)),
        ("link:aniso", ("energy@aniso", "align_full@aniso", "align_random@aniso")),
        ("link:quad", ("energy@quad", "align_full@quad", "align_random@quad")),
        ("weakest:quad", ("weakest_data@quad", "weakest_s1@quad", "weakest_full@quad")),
        ("control:he3", ("noise_hi@he3", "noise_lo@he3"))]
    other = plan({**P_SYN, "link": "quad", "links": ["he3", "he2"]})
    assert [(c.id, c.regime) for c in other][3:] == [("C1.4", "control:he3"), ("C1.5", "link:he2")]
    assert [c.id for c in plan({**P_SYN, "links": []})] == ["C1.1", "C1.2", "C1.3"]


def test_a_control_link_without_a_closed_form_noise_share_is_outside_regime():
    register_link(Link("odd3", lambda Z: (Z[:, 0] ** 3 - 3 * Z[:, 0]) / math.sqrt(6), 3,
                       lambda r: torch.zeros(r, r, dtype=torch.float64)))
    try:
        P = {**P_SYN, "links": ["odd3"]}
        text = {c.id: c.statement for c in plan(P)}
        assert "On odd3 (information exponent 3" in text["C1.4"]
        assert verdicts(synthetic(), **P)["C1.4"] == "outside regime"
    finally:
        unregister_link("odd3")


def test_a_readers_link_of_exponent_2_is_checked_against_the_headline_thresholds():
    tables = synthetic()
    tables = EncodingTables(tables.sets, tables.points, tables.spectra, tables.denoising,
                            pd.concat([tables.links, tables.sets.assign(link="he2b")]))
    register_link(Link("he2b", lambda Z: (Z * Z - 1).sum(1) / math.sqrt(2 * Z.shape[1]), 2,
                       lambda r: math.sqrt(2.0 / r) * torch.eye(r, dtype=torch.float64)))
    try:
        cls = claims_of(encoding, tables, {**P_SYN, "links": ["he2b"]})
        assert [c.verdict for c in cls][-1] == "holds"
        assert [k.threshold for k in cls[-1].checks] == [CHECKS[k].threshold for k in
                                                         ("energy", "align_full", "align_random")]
    finally:
        unregister_link("he2b")


def test_one_repetition_leaves_claims_inconclusive():
    assert set(verdicts(synthetic(reps=1), n_seeds=1).values()) == {"inconclusive"}


def test_denoising_comparison_is_reported_one_sided_per_n_and_m1():
    report = denoising_checks(synthetic())
    assert list(zip(report.n, report.m1)) == [(2000, 8), (8000, 8)]
    assert [c.verdict for c in report.check] == ["does not hold", "holds"]
    assert all(c.comparison == ">=" and c.threshold == 1.0 for c in report.check)  # superiority of the ratio


def test_statements_quote_the_sizes_and_thresholds():
    text = {c.id: c.statement for c in plan(P_SYN)}
    assert list(text) == ["C1.1", "C1.2", "C1.3", "C1.4", "C1.5", "C1.6", "C1.7"]
    assert f"{CHECKS['energy_aniso'].threshold:g}x" in text["C1.4"] and "aniso" in text["C1.4"]
    assert "shuffled labels" in text["C1.1"] and "shuffled" in text["C1.4"] and "chance" not in text["C1.1"]
    assert "condition number 10" in text["C1.5"] and f"{CHECKS['weakest_data'].threshold:g} degrees" in text["C1.6"]
    assert f"ratio at most {CHECKS['weakest_full'].threshold:g}" in text["C1.6"]
    assert f"{he3_noise_energy(32, 2):.3f}" in text["C1.7"] and CONTROL in text["C1.7"]
    assert f"between {CHECKS['noise_lo'].threshold:g} and {CHECKS['noise_hi'].threshold:g}" in text["C1.7"]
    assert f"{CHECKS['energy'].threshold:g}x" in text["C1.1"] and "8,000" in text["C1.2"]
    assert "rank-8" in text["C1.3"] and f"{CHECKS['truncation'].threshold:g} times" in text["C1.3"]


def test_claims_run_on_the_real_experiment_and_summarise_reports_the_denoising_comparison(tables):
    assert run is run_encoding
    assert [c.id for c in claims_of(encoding, tables, {**TINY, "seed": 3})] == [f"C1.{i}" for i in range(1, 8)]
    head = summarise(tables)
    assert set(head["by_source"]) == {"S1", "S2", "full data", "population", "random m1 subset"}
    assert list(head["links"]) == ["aniso", "quad", "he3"]
    assert set(head["links"]["he3"]["S1"]) >= {"energy", "alignment", "noise_energy", "noise_alignment"}
    assert "test_mse" in head["by_source"]["full data"] and "test_mse" not in head["by_source"]["S1"]
    assert [(row["n"], row["m1"]) for row in head["denoising"]] == [(500, 4), (1000, 4)]
    assert all(row["comparison"] == ">=" and row["verdict"] in VERDICTS for row in head["denoising"])
    assert list(tables.as_tables()) == ["sets", "points", "spectra", "denoising", "links"]


# ------------------------------------------------------------------------------- thresholds and controls
def test_every_threshold_states_its_origin_and_follows_the_conventions():
    for spec in [*CHECKS.values(), DENOISING]:
        assert spec.origin in ("paper", "closed form", "convention") and spec.basis, spec.name
    for key in ("energy", "energy_aniso", "energy_quad"):  # "carries span(U)": twice the pure-noise level
        assert (CHECKS[key].comparison, CHECKS[key].threshold, CHECKS[key].geometric) == (">=", 2.0, True)
    for key in ("align_full", "align_full_aniso", "align_full_quad", "truncation"):  # not worse than: 80%
        assert (CHECKS[key].comparison, CHECKS[key].threshold) == (">=", 0.8)
    for key in ("align_random", "align_random_aniso", "align_random_quad"):  # better than: superiority at 1
        assert (CHECKS[key].comparison, CHECKS[key].threshold) == (">=", 1.0)
    assert (CHECKS["noise_lo"].threshold, CHECKS["noise_hi"].threshold) == (0.8, 1.25)  # equivalence (TOST)
    assert CHECKS["weakest_data"].threshold == CHECKS["weakest_s1"].threshold == 45.0  # at most half held
    assert (CHECKS["weakest_full"].comparison, CHECKS["weakest_full"].threshold) == ("<=", 1.25)
    assert (DENOISING.comparison, DENOISING.threshold) == (">=", 1.0)


def test_every_claim_names_a_declared_negative_control():
    for P in (P_SYN, resolve_parameters(PROFILES, "smoke", seed=0), resolve_parameters(PROFILES, "book", seed=0)):
        for c in plan(P):
            assert not c.consistency and c.control in CONTROLS, c.id
    assert all(isinstance(c, Control) and (not c.sabotage or c.sabotage in SABOTAGES) for c in CONTROLS.values())
    assert {c.id: c.control for c in plan(P_SYN)}["C1.6"] == "more real data"


def test_a_nan_repetition_is_counted_and_leaves_its_check_inconclusive():
    tables = synthetic()
    sets = tables.sets.copy()
    sets.loc[(sets.source == "S1") & (sets.repetition == 1), "null_energy"] = math.nan
    tables = EncodingTables(sets, tables.points, tables.spectra, tables.denoising, tables.links)
    assert len(measures(tables, P_SYN)["energy"]) == 3 and verdicts(tables)["C1.1"] == "inconclusive"


def test_the_shuffled_label_null_is_measured_on_every_link_but_he3(tables):
    s1 = tables.sets[tables.sets.source == "S1"]
    assert s1.null_energy.between(0, 1).all() and s1.null_alignment.between(0, 1).all()
    assert tables.sets[tables.sets.source != "S1"].null_energy.isna().all()
    links = tables.links[tables.links.source == "S1"]
    assert links[links.link != "he3"].null_energy.between(0, 1).all()
    assert links[links.link == "he3"].null_energy.isna().all()  # he3: the closed form instead
    # The null is another distillation, not S1 itself.
    assert (s1.null_energy != s1.energy).all()


def test_points_the_optimiser_left_where_they_started_are_measured_not_an_error():
    P = {**TINY, "n_seeds": 2, "links": ["he3"]}
    with SABOTAGES.lookup("no distillation steps")():
        t = run_encoding(**P, seed=0)
    s1 = t.sets[t.sets.source.isin(["S1", "S2"])]
    assert (s1.displacement_ratio == 0).all() and s1.displacement_energy.isna().all()
    assert (s1.energy == s1.start_energy).all()
    # With no step, S1 and its shuffled-label null are started from the same restarts: no encoding beyond the null.
    v = {c.id: c.verdict for c in claims_of(encoding, t, P)}
    assert set(v) == {"C1.1", "C1.2", "C1.3", "C1.4"} and all(x in VERDICTS for x in v.values())
