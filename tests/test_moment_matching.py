"""ddlib.distillers.moment_matching: the closed-form gradient against autograd (and a perturbed
formula that must fail), the stage lowers the moment loss, ``distill_moments`` starts from
``distill``'s initial draw and records how it was made, and bad input is refused by name."""
from __future__ import annotations

import pytest
import torch

from ddlib import MultiIndexTask, TwoLayerNet, TwoStageLearner, distill
from ddlib.methods import distill_moments
from ddlib.distillers import (DistilledSet, InitialDraw, kip_loss, match_moments, moment_matching_loss,
                              optimal_labels)
from ddlib.distillers.moment_matching import moment_value_and_grad
from ddlib.learners import stage2_statistics
from ddlib.moments import empirical_hessian

F64 = torch.float64


@pytest.fixture(scope="module")
def problem():
    task = MultiIndexTask(6, 2, "aniso", seed=0)
    X, y = task.sample(1500, seed=1)
    return task, TwoLayerNet.init(6, 16, seed=2), X, y, empirical_hessian(X, y)


def test_the_closed_form_gradient_is_autograds_and_a_perturbed_one_is_not(problem):
    _, _, X, y, M_D = problem
    gen = torch.Generator().manual_seed(3)
    Xs = torch.randn(2, 5, 6, generator=gen, dtype=F64).requires_grad_(True)
    ys = torch.randn(2, 5, generator=gen, dtype=F64).requires_grad_(True)
    loss = moment_matching_loss(M_D, Xs, ys)
    gX, gy = torch.autograd.grad(loss.sum(), (Xs, ys))
    value, (cX, cy) = moment_value_and_grad(M_D, Xs.detach(), ys.detach())
    torch.testing.assert_close(value, loss.detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(cX, gX, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(cy, gy, rtol=1e-10, atol=1e-13)
    assert not torch.allclose(cX / 2, gX, rtol=1e-3)  # the factor 2 of the symmetric R matters


def test_the_moment_of_a_set_is_its_label_weighted_second_moment(problem):
    _, _, X, y, M_D = problem
    assert float(moment_matching_loss(M_D, X, y)) == pytest.approx(0.0, abs=1e-24)  # M(D) matches itself
    assert float(moment_matching_loss(M_D, X[:7], y[:7])) == pytest.approx(
        float(((empirical_hessian(X[:7], y[:7]) - M_D) ** 2).sum() / (M_D ** 2).sum()), rel=1e-12)


def test_the_stage_lowers_the_moment_loss_of_every_restart(problem):
    # Measured (m1 = 6 >= d, 300 steps): from 0.79-1.37 at the random real starts to 1e-14-2e-13 (six
    # points can carry a rank-2 moment exactly).
    _, net, X, y, M_D = problem
    restarts = InitialDraw.draw(1500, 3, seed=4).stage1((X, y), 6)
    out = match_moments(net, M_D, restarts, steps=300, lr=0.05)
    start = moment_matching_loss(M_D, restarts.X, restarts.y)
    assert (out.loss < start / 1000).all() and float(out.loss.max()) < 1e-8, (start, out.loss)
    torch.testing.assert_close(out.loss, moment_matching_loss(M_D, out.X, out.y))


def test_distill_moments_starts_from_distills_draw_and_records_how_it_was_made(problem):
    task, net, X, y, _ = problem
    frozen = distill_moments(net, X, y, 4, 5, steps1=0, steps2=0, restarts=1, seed=7)
    ref = distill(net, X, y, 4, 5, steps1=0, steps2=0, restarts=1, seed=7)
    assert torch.equal(frozen.stage1.X, ref.stage1.X) and torch.equal(frozen.stage2.X, ref.stage2.X)
    ds = distill_moments(net, X, y, 4, 5, steps1=100, steps2=50, seed=7, task=task)
    meta = ds.metadata
    assert meta["method"] == "mm+kip" and meta["task"] == task.params() and meta["theta0"]["seed"] == 2
    assert meta["stage1_matching_loss"] == min(meta["stage1_restart_losses"])
    assert distill_moments(net, X, y, 4, 5, steps1=100, steps2=50, seed=7, task=task).equal(ds)


def test_the_labels_stage2_keeps_real_inputs_with_their_optimal_labels(problem):
    _, net, X, y, _ = problem
    ds = distill_moments(net, X, y, 4, 8, steps1=50, seed=1, stage2="labels")
    assert ds.metadata["method"] == "mm+labels" and ds.metadata["steps2"] == 0
    assert all(bool((X == row).all(1).any()) for row in ds.stage2.X)
    W1 = TwoStageLearner().stage1(net, *ds.stage1)
    stats = stage2_statistics(W1, net.stage2_bias, X, y)
    torch.testing.assert_close(ds.stage2.y, optimal_labels(net, W1, stats, ds.stage2.X, 1e-3), rtol=1e-9, atol=1e-12)
    assert ds.metadata["stage2_loss"] == pytest.approx(float(kip_loss(net, W1, stats, *ds.stage2, 1e-3)))
    assert isinstance(ds, DistilledSet)


@pytest.mark.parametrize("call, error, match", [
    (lambda net, X, y, M: match_moments(net, M[:3], InitialDraw.draw(10, 1, 0).stage1((X, y), 2), steps=1, lr=0.1),
     ValueError, r"M_D must be \(d, d\) = \(6, 6\), got \(3, 6\)"),
    (lambda net, X, y, M: match_moments(net, M * 0, InitialDraw.draw(10, 1, 0).stage1((X, y), 2), steps=1, lr=0.1),
     ValueError, r"M_D is all zeros"),
    (lambda net, X, y, M: distill_moments(net, X, y, 2, 2, stage2="meta"), ValueError,
     r"stage2 must be one of \['kip', 'labels'\], got 'meta'"),
    (lambda net, X, y, M: distill_moments(net, X, y * 0, 2, 2), ValueError,
     r"degenerate labels: all real labels are 0"),
    (lambda net, X, y, M: distill_moments(net, X, y, 2, 2, lr=0.0), ValueError, r"lr must be > 0, got 0.0"),
    (lambda net, X, y, M: distill_moments(net, X, y, 2, 2, seed=-1), ValueError, r"seed must be >= 0, got -1"),
    (lambda net, X, y, M: distill_moments(net, X[:, :3], y, 2, 2), ValueError,
     r"X has dimension 3 but the network expects d=6"),
])
def test_bad_input_is_refused_by_name(problem, call, error, match):
    _, net, X, y, M_D = problem
    with pytest.raises(error, match=match):
        call(net, X, y, M_D)
