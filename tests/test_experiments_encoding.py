"""Notebook 01's experiment: the tables' shape and seeds, determinism, stage-1-only distillation and
the shared-noise direction on a
matrix built to have it, and the distilled stage-1 points carrying span(U)."""
from __future__ import annotations

import inspect

import pandas as pd
import pytest
import torch

from ddlib.experiments import resolve_parameters
from ddlib.experiments.encoding import PROFILES, run_encoding, shared_noise_direction
from ddlib.experiments.problem import derived_seeds

TINY = dict(d=8, r=2, width=32, n_train=1000, m1=4, m2=6, link="he2", n_seeds=2, steps1=60, steps2=10, lr=0.05,
            restarts=2, n_subsets=3, n_points_shown=10, denoise_n_grid=[500, 1000], denoise_m1_grid=[4])
SEED_COLUMNS = {"repetition", "base_seed", *(f"seed_{s}" for s in derived_seeds(0))}


@pytest.fixture(scope="module")
def tables():
    return run_encoding(**TINY, seed=3)


def test_sets_table_has_one_row_per_source_and_the_documented_columns(tables):
    s = tables.sets
    assert SEED_COLUMNS | {"source", "subset", "n_points", "energy", "start_energy", "displacement_energy",
                           "displacement_ratio", "alignment", "smallest_angle_deg", "largest_angle_deg",
                           "cos_pop", "shared_noise_cos", "chance_energy", "chance_alignment"} <= set(s.columns)
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
    assert SEED_COLUMNS | {"n", "source", "points", "cos_pop", "cos_real", "cos_pop_null"} <= set(denoising.columns)
    assert len(denoising) == TINY["n_seeds"] * len(TINY["denoise_n_grid"]) * (1 + len(TINY["denoise_m1_grid"]))


def test_seeds_are_recorded_and_derived_from_the_base_seed(tables):
    for t in (tables.sets, tables.points, tables.spectra, tables.denoising):
        assert sorted(t.base_seed.unique()) == [3, 4]
        for base, g in t.groupby("base_seed"):
            for name, value in derived_seeds(int(base)).items():
                assert (g[f"seed_{name}"] == value).all()


def test_same_seed_gives_the_same_tables(tables):
    again = run_encoding(**TINY, seed=3)
    for name in ("sets", "points", "spectra", "denoising"):
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
