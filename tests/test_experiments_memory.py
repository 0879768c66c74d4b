"""ddlib.experiments.memory: the minimal-size search on known oracles, the grid, and one tiny real
grid point.  (The slope fits are tested in test_experiments_scaling.py.)"""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from ddlib.distillers import distill
from ddlib.experiments.memory import (PROFILES, config_summary, memory_point, minimal_size, run_memory,
                                      stage1_curve_point, sweep_lines)
from ddlib.experiments.problem import make_problem
from ddlib.learners import TwoStageLearner
from ddlib.metrics import test_mse as measure_test_mse

# Seed 3 of this tiny problem needs a bisection step in both searches (m1* = 4 after 3 fails,
# m2* = 4 after 3 fails), so the test below exercises the whole search on real learning.
TINY = dict(r=1, d=8, width=32, n_per_d2=8, steps1=50, steps2=40, lr=0.05, restarts=2, n_test=1000,
            target_factor=2.0, target_floor=0.2, m1_factor=2, m1_max=16, m2_max=32)


# ---- the search -----------------------------------------------------------------------------

@pytest.mark.parametrize("max_size", [1, 7, 64, 100])
def test_minimal_size_returns_the_true_minimum_of_a_monotone_oracle(max_size):
    for threshold in range(1, max_size + 1):
        result = minimal_size(lambda m: m >= threshold, max_size=max_size)
        assert result.size == threshold, (threshold, result)


def test_minimal_size_needs_about_two_log2_probes_and_probes_each_size_once():
    calls = []

    def oracle(m):
        calls.append(m)
        return m >= 37

    result = minimal_size(oracle, max_size=512)
    assert result.size == 37
    assert len(calls) == len(set(calls)) == result.n_probes
    assert result.n_probes <= 2 * math.ceil(math.log2(37)) + 1  # 1,2,...,64 then bisection in (32, 64]


def test_minimal_size_returns_none_when_even_the_largest_size_fails():
    result = minimal_size(lambda m: m >= 50, max_size=40)
    assert result.size is None
    assert max(result.probes) == 40 and not any(result.probes.values())


def test_minimal_size_on_a_non_monotone_oracle_returns_a_success_whose_predecessor_failed():
    successes = {3, 8, 9, 10, 11, 12, 13, 14, 15, 16}  # 3 is an isolated lucky success
    result = minimal_size(lambda m: m in successes, max_size=16)
    assert result.probes[result.size] and not result.probes[result.size - 1]


def test_minimal_size_honours_start():
    assert minimal_size(lambda m: m >= 5, max_size=64, start=4).size == 5
    assert minimal_size(lambda m: True, max_size=64, start=4).size == 4


def test_minimal_size_rejects_a_max_size_below_start():
    with pytest.raises(ValueError, match="max_size"):
        minimal_size(lambda m: True, max_size=2, start=3)


# ---- the grid ---------------------------------------------------------------------------------

def test_profiles_give_every_parameter_in_every_profile():
    keys = {k for p in PROFILES.values() for k in p}
    assert all(set(p) == keys for p in PROFILES.values())


def test_sweep_lines_vary_one_factor_at_a_time_around_the_base_point():
    P = {**PROFILES["paper"], "seed": 10}
    lines = dict(sweep_lines(P))
    assert set(lines) == {"r", "d", "width"}
    for factor, grid in lines.items():
        assert list(grid.params) == [factor] and grid.seeds == tuple(range(10, 10 + P["n_seeds"]))
        others = {g: P[g] for g in ("r", "d", "width") if g != factor}
        assert all(grid.fixed[g] == v for g, v in others.items())


def test_sweep_lines_skip_factors_with_one_value():
    assert [f for f, _ in sweep_lines({**PROFILES["book"], "seed": 0})] == ["r"]


# ---- one real grid point (tiny) ---------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_point():
    return memory_point(**TINY, seed=3)


def test_memory_point_is_deterministic(tiny_point):
    assert memory_point(**TINY, seed=3) == tiny_point


def test_memory_point_returns_flat_json_scalars(tiny_point):
    assert all(isinstance(v, (bool, int, float, str, type(None))) for v in tiny_point.values())
    json.dumps(tiny_point)


def test_memory_point_minimal_sizes_reach_the_target_and_their_predecessors_do_not(tiny_point):
    p = tiny_point
    assert p["target"] == max(TINY["target_factor"] * p["full_mse"], TINY["target_floor"])
    for stage in ("m1", "m2"):
        trace = {int(k): v for k, v in json.loads(p[f"{stage}_trace"]).items()}
        star = p[f"{stage}_star"]
        assert star is not None, p
        assert trace[star] <= p["target"] and p[f"mse_{stage}_star"] == trace[star]
        if star > 1:
            assert trace[star - 1] > p["target"]
    assert p["m1_for_m2"] == 2 * p["m1_star"]
    assert p["memory_floats"] == (p["m1_star"] + p["m2_star"]) * (TINY["d"] + 1)
    assert p["memory_certified"] == (p["m1_for_m2"] + p["m2_star"]) * (TINY["d"] + 1)
    assert p["n_train"] == TINY["n_per_d2"] * TINY["d"] ** 2


def test_memory_point_final_pair_is_what_distill_returns(tiny_point):
    p = tiny_point
    prob = make_problem(d=TINY["d"], r=TINY["r"], width=TINY["width"], n_train=p["n_train"], seed=3)
    ds = distill(prob.net, prob.X, prob.y, p["m1_for_m2"], p["m2_star"], steps1=TINY["steps1"],
                 steps2=TINY["steps2"], lr=TINY["lr"], restarts=TINY["restarts"], seed=p["seed_distill"])
    got = measure_test_mse(ds.fit(prob.net, TwoStageLearner()), prob.task, TINY["n_test"], seed=p["seed_test"])
    assert got == pytest.approx(p["mse_m2_star"], rel=1e-9)


def test_stage1_curve_point_is_the_same_learner_as_the_search(tiny_point):
    keys = ("r", "d", "width", "link", "n_per_d2", "steps1", "lr", "restarts", "n_test")
    curve = stage1_curve_point(**{k: {**TINY, "link": "he2"}[k] for k in keys}, m1=tiny_point["m1_star"], seed=3)
    assert curve["mse"] == tiny_point["mse_m1_star"] and curve["full_mse"] == tiny_point["full_mse"]


def test_config_summary_averages_repetitions_and_sets_memory_beside_the_references():
    rows = [{"line": line, "r": 2, "d": 16, "width": 64, "seed": s, "m1_star": 2 + s, "m2_star": 4,
             "memory_floats": (6 + s) * 17, "n_train": 1024, "full_mse": 0.02, "r2d_plus_L": 128,
             "network_floats": 64 * 18, "data_floats": 1024 * 17} for line in ("r", "width") for s in (0, 1)]
    out = config_summary(pd.DataFrame(rows))  # the base point appears on both lines: counted once
    assert len(out) == 1 and out[("n_reps", "")].iloc[0] == 2
    assert out[("memory_floats", "mean")].iloc[0] == 6.5 * 17
    assert out[("memory / (r2d+L)", "")].iloc[0] == pytest.approx(6.5 * 17 / 128)
    assert out[("data / memory", "")].iloc[0] == pytest.approx(1024 / 6.5)


@pytest.mark.parametrize("bad, match", [({"d": 1, "r": 2}, "d must be >= 2"), ({"width": 15}, "width must be even"),
                                        ({"target_factor": 0.5}, "target_factor"), ({"m1_max": 0}, "m1_max")])
def test_memory_point_rejects_bad_input_by_name(bad, match):
    with pytest.raises(ValueError, match=match):
        memory_point(**{**TINY, **bad}, seed=0)


# ---- the grid through ddlib.sweep -------------------------------------------------------------

def _tiny_profile() -> dict:
    """Two lines (r and width) through the base (r=1, d=8, width=32); searches capped at 2."""
    P = {**PROFILES["smoke"], **TINY, "seed": 0, "n_seeds": 1, "r_grid": [1, 2], "d_grid": [8],
         "width_grid": [16, 32], "steps1": 5, "steps2": 5, "m1_max": 2, "m2_max": 2, "n_test": 200}
    return P


def test_run_memory_gives_the_same_table_inline_and_on_a_process_pool(tmp_path):
    P = _tiny_profile()
    inline = run_memory(P, results_dir=str(tmp_path / "inline"), backend="inline")
    pooled = run_memory(P, results_dir=str(tmp_path / "pool"), backend="local", workers=1)
    assert list(inline.line) == ["r", "r", "width", "width"]
    cols = sorted(inline.columns)
    pd.testing.assert_frame_equal(inline[cols], pooled[cols], check_dtype=False)
    # the base point lies on both lines and is computed (and stored) once
    assert len(list((tmp_path / "pool" / "points").glob("*.json"))) == 3
    assert len(list((tmp_path / "inline" / "points").glob("*.json"))) == 3
