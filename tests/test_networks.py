"""TwoLayerNet: the symmetric init theta0 (f == 0), its seeded stage-2 biases, and input checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ddlib.networks import TwoLayerNet


def test_output_is_zero_at_theta0_to_float_precision():
    net = TwoLayerNet.init(d=10, width=64, seed=3)
    X = torch.randn(500, 10, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    out = net(X)
    # f is a sum of +relu and -relu of identical pre-activations; only the summation order can
    # leave a residue, bounded by eps * sum_j |a_j relu_j|.
    scale = net.features(X).sum(1)
    assert (out.abs() <= 4 * torch.finfo(torch.float64).eps * scale).all()


def test_output_is_zero_at_theta0_in_float32():
    net = TwoLayerNet.init(d=10, width=64, seed=3, dtype=torch.float32)
    X = torch.randn(500, 10, generator=torch.Generator().manual_seed(4), dtype=torch.float32)
    scale = net.features(X).sum(1)
    assert (net(X).abs() <= 4 * torch.finfo(torch.float32).eps * scale).all()


def test_init_duplicates_unit_norm_rows_with_opposite_second_layer_and_zero_bias():
    net = TwoLayerNet.init(d=6, width=20, seed=0)
    half = 10
    assert net.W.shape == (20, 6) and net.a.shape == net.b.shape == net.stage2_bias.shape == (20,)
    assert torch.equal(net.W[:half], net.W[half:])
    torch.testing.assert_close(net.W.norm(dim=1), torch.ones(20, dtype=torch.float64), rtol=0, atol=1e-14)
    assert torch.equal(net.a, torch.cat([torch.ones(half), -torch.ones(half)]).double())
    assert torch.equal(net.b, torch.zeros(20, dtype=torch.float64))
    assert net.seed == 0 and net.d == 6 and net.width == 20


def test_init_rows_of_the_first_half_are_distinct():
    net = TwoLayerNet.init(d=6, width=20, seed=0)
    gram = net.W[:10] @ net.W[:10].T
    assert (gram - torch.eye(10, dtype=torch.float64)).abs().max() < 1 - 1e-6


def test_same_seed_gives_identical_theta0_and_stage2_bias():
    n1, n2 = TwoLayerNet.init(8, 16, seed=5), TwoLayerNet.init(8, 16, seed=5)
    for name in ("W", "a", "b", "stage2_bias"):
        assert torch.equal(getattr(n1, name), getattr(n2, name)), name


def test_different_seed_gives_different_theta0_and_stage2_bias():
    n1, n2 = TwoLayerNet.init(8, 16, seed=5), TwoLayerNet.init(8, 16, seed=6)
    assert not torch.allclose(n1.W, n2.W)
    assert not torch.allclose(n1.stage2_bias, n2.stage2_bias)


def test_stage2_bias_is_not_the_first_layer_bias():
    net = TwoLayerNet.init(8, 16, seed=5)
    assert net.stage2_bias.abs().min() > 0 and not torch.equal(net.stage2_bias, net.b)


def test_features_are_relu_of_affine_map():
    net = TwoLayerNet.init(5, 8, seed=1).replace(b=torch.linspace(-1, 1, 8, dtype=torch.float64))
    X = torch.randn(7, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(net.features(X), torch.relu(X @ net.W.T + net.b), rtol=0, atol=0)
    torch.testing.assert_close(net(X), torch.relu(X @ net.W.T + net.b) @ net.a, rtol=0, atol=1e-14)


def test_replace_returns_a_copy_and_leaves_the_original_untouched():
    net = TwoLayerNet.init(5, 8, seed=1)
    W = net.W.clone()
    other = net.replace(W=torch.zeros_like(net.W))
    assert torch.equal(net.W, W) and torch.equal(other.W, torch.zeros_like(W))


def test_to_changes_dtype_and_keeps_values():
    net = TwoLayerNet.init(5, 8, seed=1)
    net32 = net.to(dtype=torch.float32)
    assert net32.dtype == torch.float32 and net32.seed == 1
    torch.testing.assert_close(net32.W, net.W.float(), rtol=0, atol=0)


def test_num_parameters_is_width_times_d_plus_two():
    assert TwoLayerNet.init(32, 512, seed=0).num_parameters() == 17_408  # L(d + 2) = 512 * 34


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("width", [7, 33])
def test_odd_width_is_rejected(width):
    with pytest.raises(ValueError, match=rf"width must be even .*got {width}"):
        TwoLayerNet.init(4, width, seed=0)


@pytest.mark.parametrize("width", [0, -4])
def test_non_positive_width_is_rejected(width):
    with pytest.raises(ValueError, match=rf"width must be >= 2, got {width}"):
        TwoLayerNet.init(4, width, seed=0)


def test_d_below_one_is_rejected():
    with pytest.raises(ValueError, match=r"d must be >= 1, got 0"):
        TwoLayerNet.init(0, 8, seed=0)


def test_float_width_is_a_type_error():
    with pytest.raises(TypeError, match=r"width must be an integer, got 8.5"):
        TwoLayerNet.init(4, 8.5, seed=0)


def test_non_integer_seed_is_a_type_error():
    with pytest.raises(TypeError, match=r"seed must be an integer, got 'a'"):
        TwoLayerNet.init(4, 8, seed="a")


def test_input_of_wrong_dimension_is_rejected():
    net = TwoLayerNet.init(4, 8, seed=0)
    with pytest.raises(ValueError, match=r"X must be a tensor of shape \(n, d=4\), got \(3, 5\)"):
        net(torch.zeros(3, 5, dtype=torch.float64))


def test_one_dimensional_input_is_rejected():
    net = TwoLayerNet.init(4, 8, seed=0)
    with pytest.raises(ValueError, match=r"shape \(n, d=4\), got \(4,\)"):
        net(torch.zeros(4, dtype=torch.float64))


def test_numpy_input_is_a_type_error():
    net = TwoLayerNet.init(4, 8, seed=0)
    with pytest.raises(TypeError, match=r"X must be a torch tensor .*got ndarray"):
        net(np.zeros((3, 4)))
