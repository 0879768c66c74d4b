"""The notebook-04 experiment at a tiny size: the table's methods and columns, the recorded seeds,
the T = 1 equivalence record, and the summary."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from ddlib.experiments import resolve_parameters
from ddlib.experiments.algorithms import PROFILES, run_algorithms, summarise
from ddlib.experiments.problem import derived_seeds

TINY = dict(d=6, r=1, width=32, n_train=400, m1=4, m2=6, link="he2", n_seeds=1, steps1=20, steps2=10,
            lr=0.05, restarts=2, meta_steps=5, meta_lr=0.01, meta_batch=64, tm_steps=2, tm_lr=1.0,
            tm_weight_decay=0.75, extra_m1=[2], n_test=500, seed=4)
METHODS_T1 = ["full data", "GM cos + KIP", "GM cos + real stage 2", "GM Frobenius + KIP", "TM T=1 + KIP",
              "meta-gradient", "random", "k-center", "herding"]
METHODS_T2 = ["full data (T=2)", "GM cos + KIP (T=2)", "TM T=2 + KIP", "TM T=2 S1 + full stage 2"]
COLUMNS = {"repetition", "base_seed", "method", "family", "learner_steps", "m1", "m2", "test_mse", "alignment",
           "matching_loss", "stage1_gradient_cosine", "stage1_gradient_norm_ratio", "w_cosine_to_full",
           "w_top_direction_share", "memory_floats", "wall_time_s"}


@pytest.fixture(scope="module")
def result() -> tuple[pd.DataFrame, pd.DataFrame]:
    return run_algorithms(**TINY)


def test_every_profile_resolves_with_all_run_arguments():
    for name in PROFILES:
        P = resolve_parameters(PROFILES, name, seed=0)
        assert set(TINY) <= set(P)


def test_table_has_every_method_once_per_repetition_and_the_extra_m1_pair(result):
    table, _ = result
    at_m1 = table[table.m1 == TINY["m1"]]
    assert sorted(at_m1.method) == sorted(METHODS_T1 + METHODS_T2)
    extra = table[table.m1 == 2]
    assert sorted(extra.method) == ["GM Frobenius + KIP", "GM cos + KIP"]


def test_table_has_the_documented_columns_and_seeds(result):
    table, _ = result
    assert COLUMNS <= set(table.columns)
    seeds = derived_seeds(TINY["seed"])
    assert all((table[f"seed_{k}"] == v).all() for k, v in seeds.items())
    assert set(table.learner_steps) == {1, 2}
    assert (table[table.method.str.startswith("full data")].w_cosine_to_full == 1.0).all()


def test_only_the_row_sharing_a_stage1_has_no_wall_time(result):
    table, _ = result
    untimed = set(table[table.wall_time_s.isna()].method)
    assert untimed == {"GM cos + real stage 2", "TM T=2 S1 + full stage 2"}
    assert (table.wall_time_s.dropna() >= 0).all()


def test_metrics_are_finite_and_in_range(result):
    table, _ = result
    assert table.test_mse.map(math.isfinite).all() and (table.test_mse > 0).all()
    assert table.alignment.between(0, 1 + 1e-12).all()
    assert table.w_top_direction_share.between(0, 1 + 1e-12).all()


def test_equivalence_record_shows_t1_tm_equal_to_cosine_gm(result):
    _, equivalence = result
    assert len(equivalence) == TINY["n_seeds"]
    row = equivalence.iloc[0]
    # At this seed the restarts carry different numbers of dead neurons (losses 0.351 vs 0.257)
    # yet both methods keep the same one; the sets then coincide (measured 3e-15 relative).
    assert row.same_restart
    assert row.dead_neuron_gap_residual <= 1e-6
    assert row.matching_loss_tm < row.matching_loss_gm
    assert row.relative_point_difference <= 1e-6 and row.test_mse_difference <= 1e-6


def test_summarise_gives_mean_min_max_per_method(result):
    table, _ = result
    summary = summarise(table, TINY["m1"])
    assert set(summary) == set(METHODS_T1 + METHODS_T2)
    stats = summary["GM cos + KIP"]["test_mse"]
    assert stats["min"] <= stats["mean"] <= stats["max"]
    assert "wall_time_s" not in summary["GM cos + real stage 2"]
