"""Trajectory matching: the trajectories against the learner (oracle), batched restarts against
single runs, and the T = 1 identity with cosine gradient matching -- for the losses, their
gradients and the distilled sets."""
from __future__ import annotations

import pytest
import torch

from ddlib.distillers import (cosine_matching_loss, distill, InitialDraw, Restarts, expert_trajectory, match_gradients,
                              match_trajectories, trajectory_matching_loss)
from ddlib.distillers.trajectory import cosine_equivalent_loss, student_trajectory
from ddlib.learners import TwoStageLearner, stage1_gradient

LEARNERS = [TwoStageLearner(), TwoStageLearner(stage1_steps=2, stage1_lr=1.0, stage1_weight_decay=0.75),
            TwoStageLearner(stage1_steps=3, stage1_lr=0.5)]


def _subsets(data, m, restarts, seed):
    start = InitialDraw.draw(data[0].shape[0], restarts, seed).stage1(data, m)
    return start.X0, start.y0


def _dead(G):
    return (G.abs().sum(-1) == 0).sum(-1)


# ----------------------------------------------------------------------------- trajectories
@pytest.mark.parametrize("learner", LEARNERS, ids=["T1", "T2", "T3"])
def test_expert_trajectory_ends_where_the_learner_stage1_ends(net, data, learner):
    Ws = expert_trajectory(net, *data, learner)
    assert len(Ws) == learner.stage1_steps + 1
    assert torch.equal(Ws[0], net.W)
    assert torch.equal(Ws[-1], learner.stage1(net, *data))


@pytest.mark.parametrize("learner", LEARNERS, ids=["T1", "T2", "T3"])
def test_student_trajectory_of_one_set_is_the_learner_stage1(net, data, learner):
    X, y = data[0][:5], data[1][:5]
    torch.testing.assert_close(student_trajectory(net, X, y, learner)[-1], learner.stage1(net, X, y),
                               rtol=0, atol=1e-13)


@pytest.mark.parametrize("learner", LEARNERS, ids=["T1", "T2", "T3"])
def test_student_trajectory_batched_over_restarts_equals_each_restart_alone(net, data, learner):
    X0, y0 = _subsets(data, 5, 3, seed=0)
    batched = student_trajectory(net, X0, y0, learner)[-1]
    assert batched.shape == (3, net.width, net.d)
    for k in range(3):
        torch.testing.assert_close(batched[k], student_trajectory(net, X0[k], y0[k], learner)[-1],
                                   rtol=0, atol=1e-13)


def test_trajectory_loss_is_zero_at_the_expert_endpoint_and_one_at_theta0(net, data):
    W_T = expert_trajectory(net, *data, LEARNERS[1])[-1]
    assert float(trajectory_matching_loss(W_T, W_T, net.W)) == 0.0
    assert float(trajectory_matching_loss(net.W, W_T, net.W)) == pytest.approx(1.0, rel=1e-14)


# ------------------------------------------------------------------ T = 1 is cosine matching
def test_t1_normaliser_is_twice_the_width_for_the_symmetric_init(net, data):
    # Paired neurons share w0 and have opposite a, so their W_1 rows are opposite and sum w0.w1 = 0.
    W_1 = expert_trajectory(net, *data, TwoStageLearner())[-1]
    assert float(((net.W - W_1) ** 2).sum()) == pytest.approx(2 * net.width, rel=1e-12)


@pytest.mark.parametrize("m1", [1, 2, 8])
def test_t1_trajectory_loss_is_the_affine_map_of_the_cosine_loss_for_any_set(net, data, m1):
    # m1 = 1 or 2 leaves many neurons dead (no synthetic point switches them on): the map is
    # loss_TM = (2 L cos_loss - n_dead) / |W0 - W1D|^2, checked with and without dead neurons.
    learner = TwoStageLearner()
    W_1D = expert_trajectory(net, *data, learner)[-1]
    G_D = stage1_gradient(net.W, net.a, net.b, *data)
    X0, y0 = _subsets(data, m1, 4, seed=m1)
    G_S = stage1_gradient(net.W, net.a, net.b, X0, y0, None)
    tm = trajectory_matching_loss(student_trajectory(net, X0, y0, learner)[-1], W_1D, net.W)
    predicted = cosine_equivalent_loss(cosine_matching_loss(G_S, G_D), _dead(G_S), net.W, W_1D)
    torch.testing.assert_close(tm, predicted, rtol=0, atol=1e-13)
    if m1 == 1:
        assert int(_dead(G_S).min()) > 0  # the dead-neuron branch of the identity was exercised


def test_t1_trajectory_loss_gradient_equals_cosine_loss_gradient(net, data):
    # The normaliser is 2L, so the slope of the affine map is exactly 1: equal gradients in (X, y).
    learner = TwoStageLearner()
    W_1D = expert_trajectory(net, *data, learner)[-1]
    G_D = stage1_gradient(net.W, net.a, net.b, *data)
    X0, y0 = _subsets(data, 3, 2, seed=5)
    grads = []
    for loss_of in (lambda X, y: cosine_matching_loss(stage1_gradient(net.W, net.a, net.b, X, y, None), G_D),
                    lambda X, y: trajectory_matching_loss(student_trajectory(net, X, y, learner)[-1], W_1D,
                                                          net.W)):
        X, y = X0.clone().requires_grad_(True), y0.clone().requires_grad_(True)
        loss_of(X, y).sum().backward()
        grads.append((X.grad, y.grad))
    for g_cos, g_tm in zip(*grads):
        torch.testing.assert_close(g_tm, g_cos, rtol=1e-10, atol=1e-14)


def test_t1_trajectory_matching_optimises_the_same_points_as_cosine_gradient_matching(net, data):
    # Same initial points, same Adam: the two runs differ by float rounding only (measured
    # max |difference| 0 to 6e-12 on these and the book-size sets; tolerance 1e-8).
    learner = TwoStageLearner()
    W_1D = expert_trajectory(net, *data, learner)[-1]
    G_D = stage1_gradient(net.W, net.a, net.b, *data)
    X0, y0 = _subsets(data, 4, 2, seed=7)
    gm = match_gradients(net, G_D, Restarts.start(X0, y0), steps=60, lr=0.05)
    tm = match_trajectories(net, W_1D, Restarts.start(X0, y0), learner=learner, steps=60, lr=0.05)
    X_gm, y_gm, X_tm, y_tm, loss_tm = gm.X, gm.y, tm.X, tm.y, tm.loss
    torch.testing.assert_close(X_tm, X_gm, rtol=0, atol=1e-8)
    torch.testing.assert_close(y_tm, y_gm, rtol=0, atol=1e-8)
    G_S = stage1_gradient(net.W, net.a, net.b, X_tm, y_tm, None)
    torch.testing.assert_close(loss_tm, cosine_equivalent_loss(cosine_matching_loss(G_S, G_D), _dead(G_S),
                                                               net.W, W_1D), rtol=0, atol=1e-12)


def test_t1_tm_kip_distils_the_same_set_as_cosine_gm_kip_from_one_start(net, data):
    gm = distill(net, *data, 4, 6, steps1=60, steps2=30, restarts=1, seed=3)
    tm = distill(net, *data, 4, 6, steps1=60, steps2=30, restarts=1, seed=3, method="tm+kip", tm_steps=1)
    for a, b in zip(gm.stage1 + gm.stage2, tm.stage1 + tm.stage2):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-8)  # measured: <= 6e-12


def test_t1_restart_losses_differ_from_cosine_ones_by_dead_neurons_only(net, data):
    # With several restarts the two methods rank them by losses that differ by n_dead / (2L):
    # a dead neuron costs 1 in the trajectory loss, 2 (1 - cos) = 2 in the scaled cosine one, so
    # they may keep different restarts (here they do).
    gm = distill(net, *data, 4, 6, steps1=60, steps2=30, seed=3)
    tm = distill(net, *data, 4, 6, steps1=60, steps2=30, seed=3, method="tm+kip", tm_steps=1)
    gap = torch.tensor(gm.metadata["stage1_restart_losses"]) - torch.tensor(tm.metadata["stage1_restart_losses"])
    n_dead = gap * 2 * net.width
    torch.testing.assert_close(n_dead, n_dead.round(), rtol=0, atol=1e-9)
    assert (n_dead.round() >= 0).all() and (n_dead.round() > 0).any(), n_dead


# --------------------------------------------------------------------------- the optimiser
def test_match_trajectories_batched_restarts_equal_single_runs(net, data):
    learner = LEARNERS[1]
    W_T = expert_trajectory(net, *data, learner)[-1]
    X0, y0 = _subsets(data, 4, 2, seed=9)
    b = match_trajectories(net, W_T, Restarts.start(X0, y0), learner=learner, steps=20, lr=0.05)
    Xb, yb, lb = b.X, b.y, b.loss
    for k in range(2):
        s = match_trajectories(net, W_T, Restarts.start(X0[k:k + 1], y0[k:k + 1]), learner=learner, steps=20,
                               lr=0.05)
        Xk, yk, lk = s.X, s.y, s.loss
        torch.testing.assert_close(Xb[k], Xk[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(yb[k], yk[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(lb[k], lk[0], rtol=0, atol=1e-12)


def test_match_trajectories_lowers_the_t2_trajectory_loss(net, data):
    learner = LEARNERS[1]
    W_T = expert_trajectory(net, *data, learner)[-1]
    X0, y0 = _subsets(data, 6, 2, seed=11)
    before = trajectory_matching_loss(student_trajectory(net, X0, y0, learner)[-1], W_T, net.W)
    after = match_trajectories(net, W_T, Restarts.start(X0, y0), learner=learner, steps=80, lr=0.05).loss
    assert (after < 0.7 * before).all(), (before, after)  # measured ratio 0.2-0.4


# ------------------------------------------------------------------------------ bad input
def test_trajectories_reject_inputs_of_the_wrong_dimension(net, data):
    X, y = data
    with pytest.raises(ValueError, match=r"X must be \(\.\.\., m, d=8\) and y \(\.\.\., m\), got \(200, 3\)"):
        student_trajectory(net, X[:, :3], y, TwoStageLearner())
    with pytest.raises(ValueError, match=r"got \(200, 8\) and \(199,\)"):
        expert_trajectory(net, X, y[:-1], TwoStageLearner())


def test_trajectories_reject_a_learner_that_is_not_a_two_stage_learner(net, data):
    with pytest.raises(TypeError, match="learner must be a TwoStageLearner, got dict"):
        expert_trajectory(net, *data, {"stage1_steps": 2})
