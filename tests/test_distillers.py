"""``distill``: distillation beating a random subset, the restart kept, the metadata, and
distill's bad-input errors."""
from __future__ import annotations

import pytest
import torch

from ddlib import metrics
from ddlib.baselines import random_subset
from ddlib.distillers import distill
from ddlib.learners import TwoStageLearner
from ddlib.networks import TwoLayerNet
from ddlib.tasks import MultiIndexTask

F64 = torch.float64


# ------------------------------------------------------------------------------- distill
def test_distillation_beats_a_random_subset_of_equal_size():
    # d=8, r=2, he2, width 64, n=2000, (m1, m2) = (4, 16), 150 Adam steps per stage, 2 restarts.
    # Measured over seeds 0..9: distilled test MSE 0.027-0.100, random 20 real points 0.76-1.83,
    # ratio random/distilled >= 12.7.  Asserted: distilled < 0.2 and random > 4x distilled.
    task = MultiIndexTask(8, 2, "he2", seed=0)
    learner = TwoStageLearner()
    for seed in (0, 1, 2):
        net = TwoLayerNet.init(8, 64, seed=10 + seed)
        X, y = task.sample(2000, seed=20 + seed)
        ds = distill(net, X, y, 4, 16, steps1=150, steps2=150, lr=0.05, restarts=2, seed=30 + seed)
        distilled_mse = metrics.test_mse(ds.fit(net), task, 4000, seed=40 + seed)
        subset = random_subset(X, y, 4 + 16, seed=50 + seed)
        random_mse = metrics.test_mse(learner.fit(net, subset), task, 4000, seed=40 + seed)
        assert distilled_mse < 0.2, seed
        assert random_mse > 4 * distilled_mse, seed


def test_distill_keeps_the_restart_with_the_lowest_matching_loss(net, data, task):
    ds = distill(net, *data, 3, 5, steps1=10, steps2=10, restarts=3, seed=1, task=task)
    meta = ds.metadata
    assert meta["stage1_matching_loss"] == min(meta["stage1_restart_losses"])
    assert meta["stage2_loss"] == min(meta["stage2_restart_losses"])
    assert (ds.m1, ds.m2, ds.d) == (3, 5, task.d)
    assert meta["task"] == task.params() and meta["theta0"] == {"d": net.d, "width": net.width, "seed": net.seed}


def test_distill_with_zero_steps_returns_real_points(net, data):
    X, y = data
    ds = distill(net, X, y, 3, 5, steps1=0, steps2=0, restarts=1, seed=2)
    rows = {tuple(r.tolist()) for r in X}
    assert all(tuple(r.tolist()) in rows for r in torch.cat([ds.stage1[0], ds.stage2[0]]))


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"m1": 0}, ValueError, r"m1 must be >= 1, got 0"),
    ({"m2": 0}, ValueError, r"m2 must be >= 1, got 0"),
    ({"m1": 2.5}, TypeError, r"m1 must be an integer, got 2.5"),
    ({"m2": 250}, ValueError, r"needs at least 250 points, got n=200"),
    ({"m1": 201}, ValueError, r"needs at least 201 points, got n=200"),
    ({"method": "dc"}, ValueError, r"method must be one of \['gm\+kip', 'tm\+kip', 'meta'\], got 'dc'"),
    ({"matching": "l2"}, ValueError, r"matching must be one of \['cos', 'frobenius'\], got 'l2'"),
    ({"restarts": 0}, ValueError, r"restarts must be >= 1, got 0"),
    ({"lr": 0.0}, ValueError, r"lr must be > 0, got 0.0"),
    ({"steps1": -1}, ValueError, r"steps1 must be >= 0, got -1"),
    ({"learner": "ridge"}, TypeError, r"learner must be a TwoStageLearner, got str"),
])
def test_distill_rejects_bad_arguments(net, data, kwargs, error, pattern):
    args = {"m1": 2, "m2": 3, "steps1": 1, "steps2": 1, **kwargs}
    with pytest.raises(error, match=pattern):
        distill(net, *data, **args)


def test_distill_rejects_non_finite_data(net, data):
    X, y = data
    X = X.clone()
    X[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"X contains non-finite values"):
        distill(net, X, y, 2, 3, steps1=1, steps2=1)


def test_distill_rejects_data_of_the_wrong_dimension(net, task):
    X, y = MultiIndexTask(task.d + 2, 1, seed=0).sample(50, seed=0)
    with pytest.raises(ValueError, match=rf"X has dimension {task.d + 2} but the network expects d={task.d}"):
        distill(net, X, y, 2, 3, steps1=1, steps2=1)


def test_distill_rejects_numpy_arrays(net, data):
    X, y = data
    with pytest.raises(TypeError, match=r"X and y must be torch tensors, got ndarray and ndarray"):
        distill(net, X.numpy(), y.numpy(), 2, 3, steps1=1, steps2=1)


def test_distill_rejects_a_non_network(data):
    with pytest.raises(TypeError, match=r"net must be a TwoLayerNet, got str"):
        distill("theta0", *data, 2, 3)
