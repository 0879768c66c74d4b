"""ddlib.distillers.label_solve: the closed-form optimal labels against gradient descent on the same
loss (the KIP loss in the labels, with its closed-form gradient), the linear label map against
the ridge solve, the stage's shape, and bad input refused by name."""
from __future__ import annotations

import pytest
import torch

from ddlib import MultiIndexTask, TwoLayerNet, TwoStageLearner
from ddlib.distillers import InitialDraw, kip_loss, optimal_labels, solve_labels
from ddlib.distillers.performance_matching import kip_value_and_grad
from ddlib.distillers.label_solve import label_map
from ddlib.learners import ridge_solve, stage2_statistics
from ddlib.optim import minimise

F64 = torch.float64
RIDGE = 1e-3


@pytest.fixture(scope="module")
def problem():
    task = MultiIndexTask(8, 2, "he2", seed=0)
    net = TwoLayerNet.init(8, 32, seed=1)
    X, y = task.sample(2000, seed=2)
    W1 = TwoStageLearner().stage1(net, X[:6], y[:6])
    return net, X, y, W1, stage2_statistics(W1, net.stage2_bias, X, y)


def _descend(net, W1, stats, X2, y0, steps):
    """Adam on the labels alone, with the KIP loss's own gradient (``kip_value_and_grad``)."""
    def value_and_grad(y):
        value, (_, grad_y) = kip_value_and_grad(net, W1, stats, X2[None], y, RIDGE)
        return value, (grad_y,)
    (y,), _ = minimise(value_and_grad, (y0[None],), steps=steps, lr=0.05)
    return y[0]


@pytest.mark.parametrize("m", [10, 40], ids=["dual (m < width)", "primal (m >= width)"])
def test_the_closed_form_labels_are_the_minimum_gradient_descent_reaches(problem, m):
    # Measured after 4,000 Adam steps (lr 0.05) from the real labels: m=10, loss 0.9030381876 in
    # closed form, +1e-16 descended; m=40 (> width: many optimal labels, the closed form takes the
    # minimum-norm one; the descent converges slowly), +3.1e-5.  The real labels' loss is 3.24 and 1.39.
    net, X, y, W1, stats = problem
    X2, y2 = X[100:100 + m], y[100:100 + m]
    best = optimal_labels(net, W1, stats, X2, RIDGE)
    closed = float(kip_loss(net, W1, stats, X2, best, RIDGE))
    descended = float(kip_loss(net, W1, stats, X2, _descend(net, W1, stats, X2, y2, 4_000), RIDGE))
    assert closed <= descended + 1e-12 and descended - closed < 1e-4
    assert closed < float(kip_loss(net, W1, stats, X2, y2, RIDGE)) / 1.5
    _, (_, grad_y) = kip_value_and_grad(net, W1, stats, X2[None], best[None], RIDGE)
    assert float(grad_y.abs().max()) < 1e-10  # measured 3e-15 and 4e-15: a stationary point


def test_a_perturbed_solution_is_worse(problem):
    net, X, y, W1, stats = problem
    X2 = X[100:110]
    best = optimal_labels(net, W1, stats, X2, RIDGE)
    closed = float(kip_loss(net, W1, stats, X2, best, RIDGE))
    for k in range(3):
        bump = torch.zeros(10, dtype=F64)
        bump[k] = 0.01 * float(best.abs().max())
        assert float(kip_loss(net, W1, stats, X2, best + bump, RIDGE)) > closed


@pytest.mark.parametrize("m", [10, 40])
def test_the_label_map_is_the_ridge_solve(problem, m):
    net, X, _, W1, _ = problem
    X2 = X[:m]
    ys = torch.randn(m, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    B = label_map(net, W1, X2, RIDGE)
    for j in range(3):
        torch.testing.assert_close(B @ ys[:, j], ridge_solve(net.stage2_features(X2, W1), ys[:, j], RIDGE),
                                   rtol=1e-9, atol=1e-12)


def test_duplicated_points_give_finite_minimum_norm_labels(problem):
    net, X, y, W1, stats = problem
    X2 = torch.cat([X[:5], X[:5]])  # rank-deficient normal equations
    best = optimal_labels(net, W1, stats, X2, RIDGE)
    torch.testing.assert_close(best[:5], best[5:], rtol=1e-6, atol=1e-9)  # min norm splits evenly
    descended = _descend(net, W1, stats, X2, y[:10], 2000)
    assert float(kip_loss(net, W1, stats, X2, best, RIDGE)) <= float(kip_loss(net, W1, stats, X2, descended,
                                                                               RIDGE)) + 1e-9


def test_the_stage_keeps_the_points_and_sets_the_optimal_labels_of_every_restart(problem):
    net, X, y, W1, stats = problem
    restarts = InitialDraw.draw(2000, 3, seed=4).stage2((X, y), 12)
    out = solve_labels(net, W1, stats, restarts, ridge=RIDGE)
    assert torch.equal(out.X, restarts.X) and torch.equal(out.X0, restarts.X0)
    for k in range(3):
        best = optimal_labels(net, W1, stats, restarts.X[k], RIDGE)
        torch.testing.assert_close(out.y[k], best, rtol=1e-9, atol=1e-12)
        assert out.losses[k] == pytest.approx(float(kip_loss(net, W1, stats, restarts.X[k], out.y[k], RIDGE)))
        assert out.losses[k] < float(kip_loss(net, W1, stats, restarts.X[k], restarts.y[k], RIDGE))


@pytest.mark.parametrize("call, error, match", [
    (lambda net, X, W1, stats: optimal_labels(net, W1, stats, X[:3, :2], RIDGE), ValueError,
     r"X must be \(m, d=8\) or \(K, m, d=8\)"),
    (lambda net, X, W1, stats: optimal_labels(net, W1, stats, X[:3], 0.0), ValueError, r"ridge must be > 0, got 0.0"),
    (lambda net, X, W1, stats: optimal_labels(net, W1, {"gram": 1}, X[:3], RIDGE), TypeError,
     r"stats must be a Stage2Statistics"),
    (lambda net, X, W1, stats: optimal_labels(net, W1, stats, X[:3], RIDGE, rcond=2.0), ValueError,
     r"rcond must be <= 1.0, got 2.0"),
    (lambda net, X, W1, stats: solve_labels(net, W1, stats, (X, X), ridge=RIDGE), TypeError,
     r"restarts must be a Restarts"),
    (lambda net, X, W1, stats: optimal_labels(net, W1[:, :3], stats, X[:3], RIDGE), ValueError,
     r"W1 must have the network's first-layer shape"),
])
def test_bad_input_is_refused_by_name(problem, call, error, match):
    net, X, _, W1, stats = problem
    with pytest.raises(error, match=match):
        call(net, X, W1, stats)
