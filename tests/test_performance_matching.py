"""Stage-2 performance matching (KIP): the loss against a direct oracle, its closed-form
gradient against autograd (dual and primal ridge), and the batched optimiser."""
from __future__ import annotations

import pytest
import torch

from ddlib.distillers import Restarts, kip_loss, match_performance
from ddlib.distillers.performance_matching import kip_value_and_grad
from ddlib.learners import TwoStageLearner, ridge_loss_from_statistics, ridge_solve, stage2_statistics

F64 = torch.float64


def _randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.fixture
def stage2_problem(net, data):
    X, y = data
    W1 = TwoStageLearner().stage1(net, X, y)
    return net, W1, stage2_statistics(W1, net.stage2_bias, X, y), X, y


def test_kip_loss_equals_the_real_data_mse_of_the_synthetic_ridge(stage2_problem):
    net, W1, stats, X, y = stage2_problem
    bias = net.stage2_bias
    Xs, ys = _randn(2, 6, X.shape[1], seed=4), _randn(2, 6, seed=5)
    got = kip_loss(net, W1, stats, Xs, ys, 1e-3)
    Phi_D = torch.relu(X @ W1.T + bias)
    for k in range(2):
        a = ridge_solve(torch.relu(Xs[k] @ W1.T + bias), ys[k], 1e-3)
        expected = ((Phi_D @ a - y) ** 2).mean() / (y ** 2).mean()
        torch.testing.assert_close(got[k], expected, rtol=1e-8, atol=1e-10)


def test_match_performance_lowers_the_kip_loss_and_batches_exactly(stage2_problem):
    net, W1, stats, X, y = stage2_problem
    X0, y0 = torch.stack([X[:8], X[8:16]]), torch.stack([y[:8], y[8:16]])
    start = kip_loss(net, W1, stats, X0, y0, 1e-3)
    b = match_performance(net, W1, stats, Restarts.start(X0, y0), steps=30, lr=0.05, ridge=1e-3)
    Xb, lb = b.X, b.loss
    assert (lb < 0.8 * start).all()  # measured: 1.13 -> 0.20 and 1.23 -> 0.31 in 30 steps
    s = match_performance(net, W1, stats, Restarts.start(X0[1:], y0[1:]), steps=30, lr=0.05, ridge=1e-3)
    X1, l1 = s.X, s.loss
    torch.testing.assert_close(Xb[1], X1[0], rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(lb[1], l1[0], rtol=1e-8, atol=1e-10)



@pytest.mark.parametrize("m", [5, 40], ids=["dual (m < width)", "primal (m >= width)"])
def test_closed_form_kip_gradient_equals_autograd(stage2_problem, m):
    net, W1, stats, X, y = stage2_problem
    Xs, ys = _randn(3, m, X.shape[1], seed=6), _randn(3, m, seed=7)
    value, (gX, gy) = kip_value_and_grad(net, W1, stats, Xs, ys, 1e-3)
    Xa, ya = Xs.clone().requires_grad_(True), ys.clone().requires_grad_(True)
    ref = kip_loss(net, W1, stats, Xa, ya, 1e-3)
    ref.sum().backward()
    torch.testing.assert_close(value, ref.detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(gX, Xa.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(gy, ya.grad, rtol=1e-9, atol=1e-12)


def test_the_oracle_has_power_a_frozen_penalty_fails_it(stage2_problem):
    # The ridge penalty ridge * mean(Phi^2) depends on the points; autograd through a ridge whose
    # penalty is held fixed gives a visibly different gradient (ridge 0.1), so the oracle test
    # above would catch a closed form that forgot that term.
    net, W1, stats, X, y = stage2_problem
    Xs, ys = _randn(2, 5, X.shape[1], seed=6), _randn(2, 5, seed=7)
    _, (gX, _) = kip_value_and_grad(net, W1, stats, Xs, ys, 0.1)
    Xa = Xs.clone().requires_grad_(True)
    Phi = net.stage2_features(Xa, W1)
    m = Phi.shape[-2]
    lam = 0.1 * (Phi.detach() ** 2).mean(dim=(-2, -1))[..., None, None]
    K = Phi @ Phi.transpose(-2, -1) / m + lam * torch.eye(m, dtype=F64)
    a = (Phi.transpose(-2, -1) @ torch.linalg.solve(K, ys[..., None] / m))[..., 0]
    (ridge_loss_from_statistics(a, stats) / stats.y2).sum().backward()
    assert not torch.allclose(gX, Xa.grad, rtol=1e-3, atol=1e-6)
