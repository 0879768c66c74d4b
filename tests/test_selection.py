"""ddlib.selection: the greedy selections of real points lower their matching losses point by point,
record exactly the library's losses of their prefixes, follow the greedy rule (checked by brute
force), beat random subsets at their own loss, and refuse bad input by name."""
from __future__ import annotations

import pytest
import torch

from ddlib import MultiIndexTask, TwoLayerNet, TwoStageLearner, random_subset
from ddlib.distillers import DistilledSet, cosine_matching_loss, kip_loss
from ddlib.learners import stage1_gradient, stage2_statistics
from ddlib.methods import select
from ddlib.selection import GreedyStage2, select_stage1, select_stage2

F64 = torch.float64
CASES = [(link, seed) for link in ("he2", "aniso") for seed in range(3)]


def _problem(link: str, seed: int, n: int = 2000):
    task = MultiIndexTask(8, 2, link, seed=seed)
    net = TwoLayerNet.init(8, 32, seed=10 + seed)
    return task, net, *task.sample(n, seed=20 + seed)


def _rows(X, X_m):
    return [int((X == row).all(1).nonzero()[0]) for row in X_m]


@pytest.mark.parametrize("link, seed", CASES)
def test_each_added_point_lowers_the_matching_loss(link, seed):
    # Measured at this size (d=8, L=32, n=2000, pool 256): strictly decreasing in all six cases,
    # stage 1 ending at 0.12-0.21 against 0.61-1.05 for a random subset of the same size, stage 2
    # at 0.29-0.50 against 0.53-2.31.  (At d=32, L=512, n=8000 one stage-2 step of 32 rose by
    # less than 1e-4: greedy selection of unweighted points does not guarantee a decrease.)
    task, net, X, y = _problem(link, seed)
    s1 = select_stage1(net, X, y, 8, seed=seed)
    assert all(b < a for a, b in zip(s1.losses, s1.losses[1:])), s1.losses
    W1 = TwoStageLearner().stage1(net, *s1.data)
    s2 = select_stage2(net, W1, X, y, 16, seed=seed)
    assert all(b < a for a, b in zip(s2.losses, s2.losses[1:])), s2.losses
    G_D = stage1_gradient(net.W, net.a, net.b, X, y)
    Xr, yr = random_subset(X, y, 8, seed=seed)
    assert s1.losses[-1] < float(cosine_matching_loss(stage1_gradient(net.W, net.a, net.b, Xr, yr), G_D))
    stats = stage2_statistics(W1, net.stage2_bias, X, y)
    assert s2.losses[-1] < float(kip_loss(net, W1, stats, *random_subset(X, y, 16, seed=seed), 1e-3))


def test_the_recorded_losses_are_the_librarys_losses_of_each_prefix():
    task, net, X, y = _problem("he2", 0)
    s1 = select_stage1(net, X, y, 6, seed=1, pool=64)
    G_D = stage1_gradient(net.W, net.a, net.b, X, y)
    assert _rows(X, s1.data.X) == list(s1.indices) and torch.equal(s1.data.y, y[list(s1.indices)])
    for t in range(1, 7):
        G_S = stage1_gradient(net.W, net.a, net.b, s1.data.X[:t], s1.data.y[:t])
        assert s1.losses[t - 1] == pytest.approx(float(cosine_matching_loss(G_S, G_D)), rel=1e-10)
    W1 = TwoStageLearner().stage1(net, *s1.data)
    stats = stage2_statistics(W1, net.stage2_bias, X, y)
    s2 = select_stage2(net, W1, X, y, 5, seed=1, pool=64, ridge=1e-2)
    for t in range(1, 6):
        loss = kip_loss(net, W1, stats, s2.data.X[:t], s2.data.y[:t], 1e-2)
        assert s2.losses[t - 1] == pytest.approx(float(loss), rel=1e-10)


def test_with_a_pool_as_large_as_the_data_the_first_choices_are_the_brute_force_argmins():
    task, net, X, y = _problem("aniso", 1, n=60)
    G_D = stage1_gradient(net.W, net.a, net.b, X, y)
    s1 = select_stage1(net, X, y, 2, seed=0, pool=60)
    first = [float(cosine_matching_loss(stage1_gradient(net.W, net.a, net.b, X[i:i + 1], y[i:i + 1]), G_D))
             for i in range(60)]
    assert s1.indices[0] == min(range(60), key=first.__getitem__)
    i0 = s1.indices[0]
    second = [float(cosine_matching_loss(stage1_gradient(net.W, net.a, net.b, X[[i0, i]], y[[i0, i]]), G_D))
              if i != i0 else float("inf") for i in range(60)]
    assert s1.indices[1] == min(range(60), key=second.__getitem__)


def test_select_returns_a_reproducible_set_of_real_points_with_its_record(tmp_path):
    task, net, X, y = _problem("he2", 2, n=500)
    ds = select(net, X, y, 4, 6, seed=3, pool=50, task=task)
    assert isinstance(ds, DistilledSet) and (ds.m1, ds.m2) == (4, 6)
    assert _rows(X, ds.stage1.X) == ds.metadata["stage1_indices"]
    assert _rows(X, ds.stage2.X) == ds.metadata["stage2_indices"]
    assert ds.metadata["method"] == "select" and ds.metadata["task"] == task.params()
    assert ds.metadata["theta0"] == {"d": 8, "width": 32, "seed": 12}
    again = select(net, X, y, 4, 6, seed=3, pool=50, task=task)
    assert again.equal(ds) and not select(net, X, y, 4, 6, seed=4, pool=50, task=task).equal(ds)
    ds.save(tmp_path / "s.pt")
    assert DistilledSet.load(tmp_path / "s.pt").equal(ds)


@pytest.mark.parametrize("call, error, match", [
    (lambda net, X, y: select_stage1(net, X, y, 0, seed=0), ValueError, r"m1 must be >= 1, got 0"),
    (lambda net, X, y: select_stage1(net, X[:3], y[:3], 4, seed=0), ValueError, r"needs at least 4 points, got n=3"),
    (lambda net, X, y: select_stage1(net, X, y, 2, seed=0, pool=0), ValueError, r"pool must be >= 1, got 0"),
    (lambda net, X, y: select_stage1(net, X, y * 0, 2, seed=0), ValueError,
     r"degenerate labels: all real labels are 0, so the real stage-1 gradient"),
    (lambda net, X, y: select_stage1(net, X, y, 2, seed=0, G_D=net.W * 0), ValueError, r"G_D is all zeros"),
    (lambda net, X, y: select_stage1(net, X, y, 2, seed=-1), ValueError, r"seed must be >= 0, got -1"),
    (lambda net, X, y: select_stage2(net, net.W[:, :3], X, y, 2, seed=0), ValueError,
     r"W1 must have the network's first-layer shape \(32, 8\), got \(32, 3\)"),
    (lambda net, X, y: select_stage2(net, net.W, X, y * 0, 2, seed=0), ValueError,
     r"degenerate labels: all real labels are 0"),
    (lambda net, X, y: select(net, X, y, 2, 2, seed=0, learner="T1"), TypeError, r"learner must be a TwoStageLearner"),
    (lambda net, X, y: select_stage1(net, X.long(), y, 2, seed=0), TypeError, r"X must be floating point"),
])
def test_bad_input_is_refused_by_name(call, error, match):
    task, net, X, y = _problem("he2", 0, n=50)
    with pytest.raises(error, match=match):
        call(net, X, y)


def test_an_extended_greedy_run_is_a_fresh_run_of_each_size_bit_for_bit():
    """GreedyStage2 continues a shorter run; every prefix equals select_stage2 of that size."""
    task, net, X, y = _problem("he2", 3)
    W1 = TwoStageLearner().stage1(net, X[:20], y[:20])
    greedy = GreedyStage2(net, W1, X, y, seed=5, pool=16)
    for m2 in (3, 7, 2, 9):  # out of order: a shorter probe after a longer one reads its prefix
        grown = greedy.select(m2)
        fresh = select_stage2(net, W1, X, y, m2, seed=5, pool=16)
        assert grown.indices == fresh.indices and grown.losses == fresh.losses
        assert torch.equal(grown.data.X, fresh.data.X)
    assert len(greedy.chosen) == 9
    with pytest.raises(ValueError, match="m2"):
        greedy.select(X.shape[0] + 1)


@pytest.mark.parametrize("width", [32, 6])  # the dual form (fewer points than neurons) and, past width, the primal
def test_the_greedy_steps_losses_are_kip_loss_of_each_candidate_set(width):
    task = MultiIndexTask(8, 2, "he2", seed=0)
    net = TwoLayerNet.init(8, width, seed=3)
    X, y = task.sample(400, seed=4)
    W1 = TwoStageLearner().stage1(net, X[:20], y[:20])
    greedy = GreedyStage2(net, W1, X, y, seed=2, pool=40, ridge=1e-2)
    s = greedy.select(10)
    prev, cand = torch.tensor(s.indices[:9]), torch.arange(100, 140)
    fast = greedy._losses(prev, cand)
    Xb = torch.cat([X[prev].expand(40, -1, -1), X[cand][:, None]], dim=1)
    yb = torch.cat([y[prev].expand(40, -1), y[cand][:, None]], dim=1)
    assert torch.allclose(fast, kip_loss(net, W1, greedy.stats, Xb, yb, 1e-2), rtol=1e-10, atol=0)
