"""Stage-1 gradient matching: the matching losses (zero rows, equality), their closed-form
gradients against autograd, and the batched optimiser against per-restart runs."""
from __future__ import annotations

import pytest
import torch

from ddlib.distillers import Restarts, cosine_matching_loss, frobenius_matching_loss, match_gradients
from ddlib.distillers.gradient_matching import MATCHING_LOSSES, matching_value_and_grad
from ddlib.learners import stage1_gradient, stage1_parts
from ddlib.networks import TwoLayerNet

F64 = torch.float64


def _randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# ------------------------------------------------------------------------------- matching losses
def test_cosine_loss_is_zero_for_equal_gradients_and_scale_invariant():
    G = _randn(6, 4, seed=0)
    assert float(cosine_matching_loss(G, G)) == pytest.approx(0.0, abs=1e-15)
    assert float(cosine_matching_loss(7.5 * G, G)) == pytest.approx(0.0, abs=1e-15)
    assert float(cosine_matching_loss(-G, G)) == pytest.approx(2.0, abs=1e-15)


def test_cosine_loss_is_one_minus_mean_cosine():
    G_S, G_D = _randn(6, 4, seed=0), _randn(6, 4, seed=1)
    cos = torch.nn.functional.cosine_similarity(G_S, G_D, dim=1)
    torch.testing.assert_close(cosine_matching_loss(G_S, G_D), 1 - cos.mean(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cosine_loss_counts_a_zero_row_as_cosine_zero_without_nan(dtype):
    G_D = _randn(4, 3, seed=2).to(dtype)
    G_S = G_D.clone()
    G_S[1] = 0.0
    G_S.requires_grad_(True)
    loss = cosine_matching_loss(G_S, G_D)
    assert loss.item() == pytest.approx((0 + 1 + 0 + 0) / 4, abs=1e-6)  # rows 0, 2, 3 have cosine 1
    loss.backward()
    assert torch.isfinite(G_S.grad).all()
    zero_target = torch.zeros_like(G_D)  # a zero real-data row as well
    assert float(cosine_matching_loss(G_D, zero_target)) == pytest.approx(1.0, abs=1e-6)


def test_cosine_loss_gradient_through_stage1_is_finite_when_a_neuron_is_dead():
    # One synthetic point switches on only part of the neurons: the rest have G_S,j = 0.
    net = TwoLayerNet.init(6, 16, seed=0)
    X = _randn(1, 6, seed=1).requires_grad_(True)
    y = torch.ones(1, dtype=F64, requires_grad=True)
    G_S = stage1_gradient(net.W, net.a, net.b, X, y)
    assert (G_S.norm(dim=1) == 0).any()
    cosine_matching_loss(G_S, _randn(16, 6, seed=2)).backward()
    assert torch.isfinite(X.grad).all() and torch.isfinite(y.grad).all()


def test_cosine_loss_is_batched_over_restarts():
    G_S, G_D = _randn(3, 6, 4, seed=0), _randn(6, 4, seed=1)
    batched = cosine_matching_loss(G_S, G_D)
    assert batched.shape == (3,)
    for k in range(3):
        torch.testing.assert_close(batched[k], cosine_matching_loss(G_S[k], G_D), rtol=1e-14, atol=0)


def test_frobenius_loss_is_zero_for_equal_gradients_with_finite_gradient():
    G_D = _randn(6, 4, seed=0)
    G_S = G_D.clone().requires_grad_(True)
    loss = frobenius_matching_loss(G_S, G_D)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(G_S.grad).all()


def test_frobenius_loss_is_relative_distance_and_batched():
    G_S, G_D = _randn(2, 6, 4, seed=0), _randn(6, 4, seed=1)
    expected = torch.stack([(G_S[k] - G_D).norm() / G_D.norm() for k in range(2)])
    torch.testing.assert_close(frobenius_matching_loss(G_S, G_D), expected, rtol=1e-12, atol=0)


# ------------------------------------------------------------------------------- closed form
def _autograd(net, G_D, X, y, loss):
    Xa, ya = X.clone().requires_grad_(True), y.clone().requires_grad_(True)
    value = MATCHING_LOSSES[loss](stage1_gradient(net.W, net.a, net.b, Xa, ya, chunk_size=None), G_D)
    value.sum().backward()
    return value.detach(), Xa.grad, ya.grad


def _off_theta0(net):
    """A network away from the symmetric init (f != 0, biases), where every term of the gradient matters."""
    return net.replace(W=net.W + 0.2 * _randn(*net.W.shape, seed=7), b=0.3 * _randn(net.width, seed=8),
                       a=net.a + 0.1 * _randn(net.width, seed=9))


@pytest.mark.parametrize("loss", ["cos", "frobenius"])
@pytest.mark.parametrize("where", ["theta0", "elsewhere"])
def test_closed_form_gradient_equals_autograd(net, data, loss, where):
    net = net if where == "theta0" else _off_theta0(net)
    G_D = stage1_gradient(net.W, net.a, net.b, *data)
    X, y = _randn(3, 5, net.d, seed=1), _randn(3, 5, seed=2)
    value, (gX, gy) = matching_value_and_grad(net, G_D, X, y, loss)
    ref_value, ref_X, ref_y = _autograd(net, G_D, X, y, loss)
    assert torch.equal(value, ref_value)  # the same forward arithmetic
    torch.testing.assert_close(gX, ref_X, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(gy, ref_y, rtol=1e-10, atol=1e-13)


def test_closed_form_gradient_is_finite_and_equals_autograd_with_dead_neurons(net, data):
    G_D = stage1_gradient(net.W, net.a, net.b, *data)
    X, y = _randn(1, 1, net.d, seed=3), torch.ones(1, 1, dtype=F64)  # one point: many neurons off
    assert (stage1_gradient(net.W, net.a, net.b, X, y, chunk_size=None).norm(dim=-1) == 0).any()
    _, (gX, gy) = matching_value_and_grad(net, G_D, X, y, "cos")
    _, ref_X, ref_y = _autograd(net, G_D, X, y, "cos")
    assert torch.isfinite(gX).all() and torch.isfinite(gy).all()
    torch.testing.assert_close(gX, ref_X, rtol=1e-10, atol=1e-13)


def test_the_oracle_has_power_a_dropped_term_fails_it(net, data):
    # Off theta0, leaving out the term s_i grad f(x_i) (which vanishes only at the symmetric init)
    # moves the gradient far beyond the tolerance of the oracle test above.
    net = _off_theta0(net)
    G_D = stage1_gradient(net.W, net.a, net.b, *data)
    X, y = _randn(2, 5, net.d, seed=1), _randn(2, 5, seed=2)
    _, (gX, gy) = matching_value_and_grad(net, G_D, X, y, "cos")
    _, ref_X, _ = _autograd(net, G_D, X, y, "cos")
    mask = stage1_parts(net.W, net.a, net.b, X, y)[0]
    dropped = gX - (-gy)[..., None] * ((mask * net.a) @ net.W)
    assert not torch.allclose(dropped, ref_X, rtol=1e-3, atol=1e-6)


# ------------------------------------------------------------------------------- optimisers
@pytest.fixture
def real(task, net, data):
    X, y = data
    return net, X, y, stage1_gradient(net.W, net.a, net.b, X, y)


@pytest.mark.parametrize("loss", ["cos", "frobenius"])
def test_match_gradients_lowers_the_matching_loss(real, loss):
    net, X, y, G_D = real
    X0, y0 = X[:4][None].clone(), y[:4][None].clone()
    fn = cosine_matching_loss if loss == "cos" else frobenius_matching_loss
    start = fn(stage1_gradient(net.W, net.a, net.b, X0, y0, chunk_size=None), G_D)
    out = match_gradients(net, G_D, Restarts.start(X0, y0), steps=40, lr=0.05, loss=loss)
    Xs, ys, final = out.X, out.y, out.loss
    # measured: cos 0.64 -> 0.33, frobenius 6.4 -> 0.83 in 40 steps; asserted: at least 20% lower
    assert float(final[0]) < 0.8 * float(start[0])
    # the reported loss is the loss of the returned points
    torch.testing.assert_close(final, fn(stage1_gradient(net.W, net.a, net.b, Xs, ys, chunk_size=None), G_D))


def test_match_gradients_batched_restarts_follow_their_solo_trajectories(real):
    net, X, y, G_D = real
    X0 = torch.stack([X[:4], X[4:8], X[8:12]])
    y0 = torch.stack([y[:4], y[4:8], y[8:12]])
    b = match_gradients(net, G_D, Restarts.start(X0, y0), steps=15, lr=0.05)
    Xb, yb, lb = b.X, b.y, b.loss
    for k in range(3):
        s = match_gradients(net, G_D, Restarts.start(X0[k:k + 1], y0[k:k + 1]), steps=15, lr=0.05)
        Xk, yk, lk = s.X, s.y, s.loss
        torch.testing.assert_close(Xb[k], Xk[0], rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(yb[k], yk[0], rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(lb[k], lk[0], rtol=1e-9, atol=1e-11)


def test_match_gradients_leaves_the_initial_points_untouched(real):
    net, X, y, G_D = real
    X0, y0 = X[:4][None].clone(), y[:4][None].clone()
    X0c, y0c = X0.clone(), y0.clone()
    out = match_gradients(net, G_D, Restarts.start(X0, y0), steps=3, lr=0.05)
    assert torch.equal(X0, X0c) and torch.equal(y0, y0c)
    assert torch.equal(out.X0, X0c) and not torch.equal(out.X, X0c)  # the start is kept beside the end


