"""ddlib.tuning: the ridge picked on validation data is the brute-force argmin over the grid, the
network returned is exactly the learner's with that ridge, the split is disjoint and seeded, and
bad input is refused by name."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ddlib import MultiIndexTask, TwoLayerNet, TwoStageLearner, random_subset
from ddlib.metrics import test_mse as normalised_test_mse
from ddlib.tuning import RIDGE_GRID, tune_ridge, validation_split

F64 = torch.float64


@pytest.fixture(scope="module")
def problem():
    task = MultiIndexTask(8, 2, seed=11)
    net = TwoLayerNet.init(8, 32, seed=12)
    X, y = task.sample(1200, seed=13)
    train, val = validation_split(X, y, 300, seed=0)
    return task, net, train, val


def _val_mse(net, val) -> float:
    return float(((net(val.X) - val.y) ** 2).mean() / val.y.var())


@pytest.mark.parametrize("which", ["random subset (dual solve)", "full data (primal, statistics)"])
def test_the_chosen_ridge_is_the_brute_force_argmin_and_the_net_is_the_learners(problem, which):
    task, net, train, val = problem
    S = random_subset(*train, 24, seed=1) if which.startswith("random") else train
    tuned = tune_ridge(net, S, S, val)
    brute = [_val_mse(TwoStageLearner(ridge=r).fit(net, S), val) for r in RIDGE_GRID]
    torch.testing.assert_close(torch.tensor(tuned.validation_mse), torch.tensor(brute), rtol=1e-8, atol=0)
    assert tuned.ridge == RIDGE_GRID[min(range(len(brute)), key=brute.__getitem__)]
    assert tuned.best_validation_mse == min(tuned.validation_mse)
    refit = TwoStageLearner(ridge=tuned.ridge).fit(net, S)
    assert torch.equal(tuned.net.W, refit.W) and torch.equal(tuned.net.b, refit.b)
    torch.testing.assert_close(tuned.net.a, refit.a, rtol=1e-9, atol=1e-12)
    assert tuned.learner == TwoStageLearner(ridge=tuned.ridge)


def test_tuning_brings_a_random_subset_to_the_zero_predictor_and_keeps_the_full_data_sharp(problem):
    # Measured: 24 random points at d=8 cannot find span(U); the default ridge overfits them
    # (test MSE 2.54) and the tuned one (lambda2 = 100) is the zero predictor's 1.00; the full
    # training split picks 1e-6 (validation MSE 0.125).
    task, net, train, val = problem
    core = random_subset(*train, 24, seed=1)
    tuned = tune_ridge(net, core, core, val)
    assert tuned.ridge == 100.0
    assert normalised_test_mse(tuned.net, task, seed=5) == pytest.approx(1.0, abs=0.02)
    assert normalised_test_mse(TwoStageLearner().fit(net, core), task, seed=5) > 2.0
    full = tune_ridge(net, train, train, val)
    assert full.ridge <= 1e-4 and full.best_validation_mse < 0.15


def test_stage1_and_stage2_data_may_differ_and_the_learners_other_settings_are_kept(problem):
    _, net, train, val = problem
    learner = TwoStageLearner(stage1_steps=2, stage1_weight_decay=0.5)
    S1, S2 = random_subset(*train, 10, seed=2), random_subset(*train, 40, seed=3)
    tuned = tune_ridge(net, S1, S2, val, learner=learner, grid=[1e-2, 1e-3])
    assert tuned.grid == (1e-2, 1e-3) and tuned.learner == replace(learner, ridge=tuned.ridge)
    assert torch.equal(tuned.net.W, learner.stage1(net, *S1))
    assert tuned.as_dict()["grid"] == [1e-2, 1e-3]


def test_validation_split_is_disjoint_complete_and_seeded():
    X = torch.arange(20, dtype=F64)[:, None].repeat(1, 3)
    y = torch.arange(20, dtype=F64)
    (Xt, yt), (Xv, yv) = validation_split(X, y, 6, seed=4)
    assert len(yv) == 6 and len(yt) == 14 and sorted((yt.tolist() + yv.tolist())) == list(range(20))
    assert torch.equal(validation_split(X, y, 6, seed=4)[1].y, yv)
    assert not torch.equal(validation_split(X, y, 6, seed=5)[1].y, yv)


def test_a_singular_grid_value_is_recorded_as_none_and_skipped(problem):
    _, net, train, val = problem
    S = (torch.ones(6, 8, dtype=F64), train.y[:6])  # identical rows: singular for a tiny ridge
    tuned = tune_ridge(net, random_subset(*train, 8, seed=1), S, val, grid=[5e-324, 1e-2])
    assert tuned.validation_mse[0] is None and tuned.ridge == 1e-2


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(grid=[]), ValueError, r"grid must hold 1 to 64 ridge values, got 0"),
    (dict(grid=[1e-3, -1.0]), ValueError, r"grid\[1\] must be > 0, got -1.0"),
    (dict(grid="1e-3"), TypeError, r"grid must be a sequence of ridge values, got '1e-3'"),
    (dict(learner="T1"), TypeError, r"learner must be a TwoStageLearner, got str"),
])
def test_bad_arguments_are_refused_by_name(problem, kwargs, error, match):
    _, net, train, val = problem
    with pytest.raises(error, match=match):
        tune_ridge(net, train, train, val, **kwargs)


def test_constant_validation_labels_and_bad_splits_are_refused(problem):
    _, net, train, val = problem
    with pytest.raises(ValueError, match=r"degenerate labels: all validation labels are equal"):
        tune_ridge(net, train, train, (val.X, torch.ones_like(val.y)))
    with pytest.raises(ValueError, match=r"n_validation must be <= 1199, got 1200"):
        validation_split(torch.zeros(1200, 2, dtype=F64), torch.zeros(1200, dtype=F64), 1200, seed=0)
    with pytest.raises(ValueError, match=r"validation: X has dimension 3 but the network expects d=8"):
        tune_ridge(net, train, train, (torch.zeros(4, 3, dtype=F64), torch.arange(4.0, dtype=F64)))
