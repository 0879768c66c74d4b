"""The notebook-02 experiment: table shape, recorded seeds, determinism, and the claim at tiny size."""
from __future__ import annotations

import pandas as pd
import pytest

from ddlib.experiments import resolve_parameters
from ddlib.experiments.generalization import PROFILES, run_generalization, summarise
from ddlib.experiments.problem import derived_seeds, make_problem

TINY = dict(d=8, r=1, width=64, n_train=1500, m1=4, m2=8, link="he2", n_seeds=1, m1_grid=[4],
            m2_grid=[8], steps1=60, steps2=40, lr=0.05, restarts=2, n_test=2000, seed=3)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return run_generalization(**TINY)


def test_every_profile_resolves_with_all_run_arguments():
    for name in PROFILES:
        P = resolve_parameters(PROFILES, name, seed=0)
        assert set(TINY) <= set(P)


def test_table_has_one_row_per_method_and_size_with_seeds(table):
    assert sorted(table.method) == ["distilled", "full", "random"]
    seeds = derived_seeds(3)
    row = table.iloc[0]
    assert all(row[f"seed_{k}"] == v for k, v in seeds.items())


def test_same_seed_gives_the_same_table(table):
    again = run_generalization(**TINY)
    pd.testing.assert_frame_equal(table, again)


def test_distilled_beats_random_subset_at_tiny_size(table):
    # Measured at this tiny size, seeds 3-7: random/distilled = 14, 14, 27, 1.5, 11 (seed 6: a poor
    # stage-1 optimum with 2 restarts and 60 steps). The fixed seed 3 gives 14x; we ask for 3x.
    by = table.set_index("method").test_mse
    assert by["distilled"] * 3 < by["random"]


def test_summarise_reports_memory_beside_the_references(table):
    out = summarise(table, 4, 8)
    assert out["memory"]["distilled"] == (4 + 8) * (8 + 1)
    assert out["memory"]["network"] == 64 * (8 + 2)
    assert set(out) >= {"full", "distilled", "random", "memory"}


def test_make_problem_is_reproducible():
    a, b = make_problem(d=6, r=2, width=8, n_train=10, seed=1), make_problem(d=6, r=2, width=8, n_train=10, seed=1)
    assert a.seeds == b.seeds and bool((a.X == b.X).all()) and bool((a.net.W == b.net.W).all())
