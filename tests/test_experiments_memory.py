"""ddlib.experiments.memory: the targets, the certified search on one tiny real point, the grid, the
tables, and the claims on synthetic tables.  (The minimal-size search is tested in test_search.py,
the slope fits in test_scaling.py, the committed grid in test_memory_law.py.)"""
from __future__ import annotations

import inspect
import json
import math

import pandas as pd
import pytest

from ddlib.book.claims import claims_of
from ddlib.distillers import distill
from ddlib.experiments import memory, resolve_parameters
from ddlib.book.claims import ORIGINS
from ddlib.book.controls import SABOTAGES
from ddlib.experiments.memory import (CHECKS, CONTROLS, LINES, PROFILES, config_summary, long_table, measures,
                                      memory_point, parse_targets, plan, regimes, run, run_memory,
                                      stage1_curve_point, sweep_lines, targets_in)
from ddlib.experiments.problem import make_problem
from ddlib.learners import TwoStageLearner
from ddlib.metrics import test_mse as measure_test_mse

# Seed 3 of this tiny problem needs a bisection step in both searches (m1* = 4 after 3 fails,
# m2 = 4 after 3 fails for rel:2), so the tests below exercise the whole search on real learning.
TINY = dict(r=1, d=8, width=32, n_per_d2=8, steps1=50, steps2=40, lr=0.05, restarts=2, n_test=1000,
            targets="rel:2,abs:0.3", m1_max=16, m2_max=32)


# ---- targets ----------------------------------------------------------------------------------

def test_parse_targets_labels_kinds_and_values():
    assert parse_targets("rel:4, abs:0.1,abs:0.2") == [("rel4", "rel", 4.0), ("abs0.1", "abs", 0.1),
                                                       ("abs0.2", "abs", 0.2)]


@pytest.mark.parametrize("spec, match", [("", "non-empty"), ("mse:0.1", "rel:FACTOR"), ("rel:x", "not a number"),
                                         ("rel:0.5", "relative target"), ("abs:1.5", "absolute target"),
                                         ("abs:0.1,abs:0.10", "distinct")])
def test_parse_targets_rejects_bad_specs_by_name(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_targets(spec)


# ---- profiles and the grid --------------------------------------------------------------------

def test_profiles_give_every_parameter_in_every_profile_and_run_takes_exactly_them():
    keys = {k for p in PROFILES.values() for k in p}
    assert all(set(p) == keys for p in PROFILES.values())
    accepted = set(inspect.signature(run).parameters) - {"progress"}
    for name in PROFILES:
        assert set(resolve_parameters(PROFILES, name, seed=0)) == accepted, name


def test_book_and_paper_profiles_share_the_search_and_the_learner():
    same = ("link", "steps1", "steps2", "lr", "restarts", "n_test", "m1_max", "m2_max")
    assert {k: PROFILES["book"][k] for k in same} == {k: PROFILES["paper"][k] for k in same}
    assert PROFILES["book"]["n_seeds"] >= 5 and PROFILES["paper"]["n_seeds"] >= 5


def test_sweep_lines_vary_one_factor_at_a_time_around_the_base_point():
    P = {**PROFILES["paper"], "seed": 10}
    lines = dict(sweep_lines(P))
    assert list(lines) == ["r", "d", "L", "n"]
    for name, grid in lines.items():
        param = LINES[name]
        assert list(grid.params) == [param] and grid.seeds == tuple(range(10, 10 + P["n_seeds"]))
        assert all(grid.fixed[g] == P[g] for g in ("r", "d", "width", "n_per_d2") if g != param)
        assert grid.fixed["targets"] == P["targets"]
    # the base point is the same point (same sweep key) on every line
    base = [{k: v for k, v in p.items()} for _, g in lines.items() for p in g.points()
            if (p["r"], p["d"], p["width"], p["n_per_d2"]) == (2, 64, 512, 4) and p["seed"] == 10]
    assert len(base) == 4 and all(b == base[0] for b in base)


def test_sweep_lines_skip_factors_with_one_value_and_fall_back_to_the_base_point():
    assert [f for f, _ in sweep_lines({**PROFILES["book"], "seed": 0})] == ["r"]
    (name, grid), = sweep_lines({**PROFILES["book"], "seed": 0, "r_grid": [2]})
    assert name == "base" and grid.size() == PROFILES["book"]["n_seeds"]


def test_sweep_lines_refuse_a_bad_target_before_anything_runs():
    with pytest.raises(ValueError, match="rel:FACTOR"):
        sweep_lines({**PROFILES["book"], "seed": 0, "targets": "mse:0.1"})


# ---- one real grid point (tiny) ---------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_point():
    return memory_point(**TINY, seed=3)


def test_memory_point_is_deterministic(tiny_point):
    assert memory_point(**TINY, seed=3) == tiny_point


def test_memory_point_returns_flat_json_scalars(tiny_point):
    assert all(isinstance(v, (bool, int, float, str, type(None))) for v in tiny_point.values())
    json.dumps(tiny_point)


def test_memory_point_certified_pairs_reach_their_targets_and_m1_star_is_minimal(tiny_point):
    p = tiny_point
    stage1 = {int(k): v for k, v in json.loads(p["stage1_trace"]).items()}
    pairs = {tuple(map(int, k.split(","))): v for k, v in json.loads(p["pair_trace"]).items()}
    # a relative target is set from the full-data error on the selection sample, which every choice reads
    assert p["target_rel2"] == pytest.approx(2 * p["full_mse_selection"]) and p["target_abs0.3"] == 0.3
    for label in targets_in(pd.DataFrame([p])):
        target, m1s, m1, m2 = p[f"target_{label}"], p[f"m1_star_{label}"], p[f"cert_m1_{label}"], p[f"cert_m2_{label}"]
        assert None not in (m1s, m1, m2), (label, p)
        assert stage1[m1s] <= target and (m1s == 1 or stage1[m1s - 1] > target)  # m1*: stage 1 alone
        assert pairs[(m1, m2)] <= target  # the pair itself reaches the target (on the selection sample)
        assert m2 == 1 or pairs[(m1, m2 - 1)] > target
        assert m1 >= m1s and p[f"points_{label}"] == m1 + m2 and p[f"floats_{label}"] == (m1 + m2) * (TINY["d"] + 1)
        assert m1 in stage1  # the stage-1 plateau probe at every m1 tried
    assert p["n_train"] == TINY["n_per_d2"] * TINY["d"] ** 2


def test_no_choice_of_the_search_reads_the_test_sample_it_reports():
    """The certified sizes are chosen on the selection sample: with the test sample's errors made
    undefined, the search chooses the same pairs, and only the reported errors change."""
    from ddlib.experiments.memory_search import _Probes, certified_search
    from ddlib.experiments.repetitions import repetition

    prob = repetition(0, 3, d=TINY["d"], r=TINY["r"], width=TINY["width"],
                      n_train=TINY["n_per_d2"] * TINY["d"] ** 2).problem
    kwargs = dict(steps1=TINY["steps1"], steps2=TINY["steps2"], lr=TINY["lr"], restarts=TINY["restarts"],
                  n_test=TINY["n_test"], prefix=32)
    honest, blind = _Probes(prob, **kwargs), _Probes(prob, **kwargs)
    blind.test_mse = lambda trained: float("nan")  # the reported sample says nothing
    a = certified_search(honest, 0.3, m1_max=16, m2_max=32)
    b = certified_search(blind, 0.3, m1_max=16, m2_max=32)
    assert (a["m1_star"], a["cert_m1"], a["cert_m2"]) == (b["m1_star"], b["cert_m1"], b["cert_m2"])
    assert a["mse"] == a["mse"] and b["mse"] != b["mse"]  # reported on the test sample only
    assert honest.select_seed != prob.seeds["test"]


def test_the_legacy_search_chooses_and_reports_on_the_test_sample(tiny_point):
    legacy = memory_point(**TINY, seed=3, selection="test")
    pairs = {tuple(map(int, k.split(","))): v for k, v in json.loads(legacy["pair_trace"]).items()}
    assert legacy["mse_abs0.3"] == pairs[(legacy["cert_m1_abs0.3"], legacy["cert_m2_abs0.3"])]
    assert "full_mse_selection" not in legacy and legacy["full_mse"] == tiny_point["full_mse"]


def test_memory_point_certified_pair_is_what_distill_returns(tiny_point):
    p = tiny_point
    prob = make_problem(d=TINY["d"], r=TINY["r"], width=TINY["width"], n_train=p["n_train"], seed=3)
    ds = distill(prob.net, prob.X, prob.y, p["cert_m1_rel2"], p["cert_m2_rel2"], steps1=TINY["steps1"],
                 steps2=TINY["steps2"], lr=TINY["lr"], restarts=TINY["restarts"], seed=p["seed_distill"])
    got = measure_test_mse(ds.fit(prob.net, TwoStageLearner()), prob.task, TINY["n_test"], seed=p["seed_test"])
    assert got == pytest.approx(p["mse_rel2"], rel=1e-9)


def test_stage1_curve_point_is_the_same_learner_as_the_search(tiny_point):
    keys = ("r", "d", "width", "n_per_d2", "steps1", "lr", "restarts", "n_test")
    m1 = tiny_point["m1_star_rel2"]
    curve = stage1_curve_point(**{k: TINY[k] for k in keys}, m1=m1, seed=3)
    # the curve reports on the test sample, as the legacy search read every probe
    legacy = memory_point(**TINY, seed=3, selection="test")
    assert curve["mse"] == json.loads(legacy["stage1_trace"])[str(m1)]
    assert curve["full_mse"] == tiny_point["full_mse"]


@pytest.mark.parametrize("bad, match", [({"d": 1, "r": 2}, "d must be >= 2"), ({"width": 15}, "width must be even"),
                                        ({"targets": "rel:0.5"}, "relative target"), ({"m1_max": 0}, "m1_max")])
def test_memory_point_rejects_bad_input_by_name(bad, match):
    with pytest.raises(ValueError, match=match):
        memory_point(**{**TINY, **bad}, seed=0)


# ---- tables -------------------------------------------------------------------------------------

def test_long_table_stacks_the_targets_and_config_summary_averages_repetitions(tiny_point):
    wide = pd.DataFrame([{"line": line, "r": 1, "d": 8, "width": 32, "n_per_d2": 8, "seed": s, **tiny_point}
                         for line in ("r", "L") for s in (0, 1)])
    long = long_table(wide)
    assert len(long) == 8 and list(long.target.unique()) == ["rel2", "abs0.3"]
    assert (long[long.target == "abs0.3"].target_mse == 0.3).all()
    summary = config_summary(long)  # the base point on two lines counts once per repetition
    assert len(summary) == 2 and (summary.reps == 2).all() and (summary.found == 2).all()
    row = summary[summary.target == "rel2"].iloc[0]
    assert row.points == tiny_point["points_rel2"]
    assert row["data / floats"] == pytest.approx(tiny_point["data_floats"] / tiny_point["floats_rel2"])


def test_long_table_refuses_a_table_without_targets():
    with pytest.raises(ValueError, match="points_<target>"):
        long_table(pd.DataFrame({"r": [1]}))


# ---- claims on synthetic tables -------------------------------------------------------------------

def _table(points_by_r: dict[int, list[float]], *, full=0.05, link="he2", d=32, width=256, n_per_d2=4,
           stage1_found=False):
    """A wide memory_point table of the r line: points per r, one value per repetition (None: no
    certified set, with the stage-1 search run out unless ``stage1_found``)."""
    rows = []
    for r, values in points_by_r.items():
        for s, pts in enumerate(values):
            m1 = max(r + 1, 2) if pts is not None or stage1_found else None
            rows.append({"line": "r", "r": r, "d": d, "width": width, "n_per_d2": n_per_d2, "link": link,
                         "seed": s, "n_train": n_per_d2 * d * d, "full_mse": full, "target_rel4": 4 * full,
                         "m1_star_rel4": m1, "cert_m1_rel4": None if pts is None else m1,
                         "cert_m2_rel4": None if pts is None else pts - m1,
                         "points_rel4": pts, "floats_rel4": None if pts is None else pts * (d + 1),
                         "mse_rel4": 3 * full, "stage1_failed_rel4": False, "r2d_plus_L": r * r * d + width,
                         "network_floats": width * (d + 2), "data_floats": n_per_d2 * d * d * (d + 1)})
    return pd.DataFrame(rows)


P_SYN = {**PROFILES["book"], "seed": 0}
# Grows in r, more slowly than r^2 d + L (about r^0.56 over r = 1..3 at d = 32, L = 256).
GROWING = {1: [6, 6, 7, 6, 6], 2: [7, 7, 8, 7, 8], 3: [8, 9, 8, 8, 9]}


def claims(table, P):
    """The live claims of notebook 03 on a table, as the page decides them."""
    return claims_of(memory, table, P)


def test_measures_give_one_value_per_repetition():
    values = measures(_table(GROWING), P_SYN)
    assert set(values) == set(CHECKS)
    assert all(len(v) == 5 for v in values.values())
    assert values["found"] == [1.0] * 5 and all(v >= 1 for v in values["span"])


def test_claims_hold_on_a_table_that_shows_the_law():
    cls = claims(_table(GROWING), P_SYN)
    assert [c.id for c in cls] == [c.id for c in plan(P_SYN)] == ["C3.1", "C3.1a", "C3.2", "C3.3"]
    assert [c.verdict for c in cls] == ["holds"] * 4, [c.line() for c in cls]


def test_one_claim_with_its_control_and_three_consistency_checks_with_their_reasons():
    decls = {d.id: d for d in plan(P_SYN)}
    assert [cid for cid, d in decls.items() if not d.consistency] == ["C3.1"]
    for d in decls.values():
        assert bool(d.control) != bool(d.consistency), d.id  # a claim has a control, a consistency check a reason
        if d.control:
            assert d.control in CONTROLS and CONTROLS[d.control].expect == ("does not hold",)
            assert not CONTROLS[d.control].sabotage or CONTROLS[d.control].sabotage in SABOTAGES


def test_every_threshold_states_its_origin_fixed_before_the_data():
    assert all(spec.origin in ORIGINS and spec.origin for spec in CHECKS.values())
    assert (CHECKS["network"].threshold, CHECKS["network"].origin) == (10.0, "paper")
    assert (CHECKS["data"].threshold, CHECKS["data"].origin) == (100.0, "paper")
    assert (CHECKS["span"].threshold, CHECKS["span"].origin) == (1.0, "closed form")
    assert (CHECKS["r_rate"].comparison, CHECKS["r_rate"].threshold, CHECKS["r_rate"].origin) == ("<=", 0.0, "paper")
    # the memory ratios' thresholds: r^2 d + L is >= 16x below the network and >= 248x below the data
    # on the live r line, rounded down to a power of ten
    for P in (resolve_parameters(PROFILES, p, seed=0) for p in ("smoke", "book")):
        rate = [r * r * P["d"] + P["width"] for r in P["r_grid"]]
        assert min(P["width"] * (P["d"] + 2) / q for q in rate) >= 16
        assert min(P["n_per_d2"] * P["d"] ** 2 * (P["d"] + 1) / q for q in rate) >= 248


def test_claims_do_not_hold_when_sizes_are_missing_or_grow_faster_than_the_rate_in_r():
    missing = {1: [5, 6, 5, 6, 5], 2: [20, 22, 21, 20, 22], 3: [None, None, None, None, None]}
    cls = {c.id: c for c in claims(_table(missing), P_SYN)}
    assert cls["C3.1a"].verdict == "does not hold"  # no certified set at r = 3
    # its stage-1 search ran out at m1_max = 128: at least 130 points, a network ratio of at most 2 < 10
    assert cls["C3.1"].verdict == "does not hold"
    assert cls["C3.3"].verdict == "inconclusive"  # a repetition without a set at one size is counted, not dropped
    quadratic = {1: [5, 6, 5, 6, 5], 2: [20, 22, 21, 20, 22], 3: [45, 46, 44, 45, 47]}
    assert {c.id: c for c in claims(_table(quadratic), P_SYN)}["C3.3"].verdict == "does not hold"


def test_a_size_without_a_set_leaves_the_ratio_undefined_unless_its_stage1_search_ran_out():
    one_missing = {1: [6, 6, 7, 6, 6], 2: [7, 7, 8, 7, None]}
    values = measures(_table(one_missing, stage1_found=True), P_SYN)
    assert all(len(v) == 5 for v in values.values())  # every repetition counted
    assert math.isnan(values["network"][4]) and math.isnan(values["data"][4])
    assert {c.id: c for c in claims(_table(one_missing, stage1_found=True), P_SYN)}["C3.1"].verdict == "inconclusive"


def test_the_claims_control_sets_the_distillers_steps_to_nothing():
    assert CONTROLS["no distillation"].sabotage == "no distillation steps"
    # what the control leaves: no set found, every stage-1 search run out at its cap
    none_found = {r: [None] * 5 for r in (1, 2, 3)}
    cls = {c.id: c for c in claims(_table(none_found), P_SYN)}
    assert cls["C3.1"].verdict == "does not hold", cls["C3.1"].line()


def test_claims_are_outside_their_regime_for_a_he3_link_or_a_full_data_learner_that_does_not_learn():
    for table in (_table(GROWING, link="he3"), _table(GROWING, full=0.6)):
        P = {**P_SYN, "link": table.link.iloc[0]}
        assert {c.verdict for c in claims(table, P)} == {"outside regime"}


def test_the_r_claim_needs_an_r_line():
    table = _table({2: [8, 9, 8, 9, 8]})
    cls = {c.id: c for c in claims(table, {**P_SYN, "r_grid": [2]})}
    assert cls["C3.3"].verdict == "outside regime" and cls["C3.1"].verdict == "holds"


def test_regime_reports_the_smallest_gap_between_target_and_full_data_error():
    reg = regimes(_table(GROWING), P_SYN)
    assert {d.regime for d in plan(P_SYN)} <= set(reg)  # every regime the claims name is computed
    setting = reg["setting"]
    assert [p.met for p in setting] == [True, True, True] and "4" in setting[2].detail
    assert all(r[:3] == setting for r in reg.values())  # every claim applies in the paper's setting first


# ---- the grid through ddlib.sweep -------------------------------------------------------------

def _tiny_profile() -> dict:
    """Two lines (r and L) through the base (r=1, d=8, width=32); searches capped at 2."""
    return {**resolve_parameters(PROFILES, "smoke", seed=0), **TINY, "n_seeds": 1, "r_grid": [1, 2],
            "width_grid": [16, 32], "steps1": 5, "steps2": 5, "m1_max": 2, "m2_max": 2, "n_test": 200,
            "targets": "rel:2"}


def test_run_memory_gives_the_same_table_inline_and_on_a_process_pool(tmp_path):
    P = _tiny_profile()
    inline = run_memory(P, results_dir=str(tmp_path / "inline"), backend="inline")
    pooled = run_memory(P, results_dir=str(tmp_path / "pool"), backend="local", workers=1)
    assert list(inline.line) == ["r", "r", "L", "L"]
    cols = sorted(inline.columns)
    pd.testing.assert_frame_equal(inline[cols], pooled[cols], check_dtype=False)
    # the base point lies on both lines and is computed (and stored) once
    assert len(list((tmp_path / "pool" / "points").glob("*.json"))) == 3
    assert len(list((tmp_path / "inline" / "points").glob("*.json"))) == 3


def test_run_uses_a_temporary_sweep_folder_unless_given_one(tmp_path):
    P = _tiny_profile()
    P.update(backend="inline", workers=None, scheduler=None, width_grid=[])
    table = run(**{**P, "sweep_dir": None})
    again = run(**{**P, "sweep_dir": str(tmp_path / "sweep")})
    pd.testing.assert_frame_equal(table, again)
    assert len(list((tmp_path / "sweep" / "points").glob("*.json"))) == 2
