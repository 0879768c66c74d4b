"""Metrics: the geometric metrics and the test risk on cases whose answer is known exactly.
(The closed forms and their Monte-Carlo checks are in test_theory.py.)"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddlib import metrics  # not ``from ddlib.metrics import test_mse``: pytest would collect it
from ddlib.networks import TwoLayerNet
from ddlib.tasks import MultiIndexTask

F64 = torch.float64


def test_gradient_cosine_is_one_for_equal_minus_one_for_opposite():
    G = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert metrics.gradient_cosine(G, 3 * G) == pytest.approx(1.0, abs=1e-14)
    assert metrics.gradient_cosine(G, -G) == pytest.approx(-1.0, abs=1e-14)


def test_gradient_cosine_counts_a_zero_row_as_zero():
    G = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=F64)
    ref = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=F64)
    assert metrics.gradient_cosine(G, ref) == 0.5  # (1 + 0) / 2, no NaN


def test_alignment_is_one_inside_span_U_and_zero_orthogonal_to_it():
    task = MultiIndexTask(6, 2, seed=0)
    inside = torch.tensor([[1.0, 2.0], [-3.0, 0.5]], dtype=F64) @ task.U
    P_perp = torch.eye(6, dtype=F64) - task.U.T @ task.U
    assert metrics.alignment(inside, task) == pytest.approx(1.0, abs=1e-12)
    assert metrics.alignment(P_perp, task) == pytest.approx(0.0, abs=1e-12)


def test_alignment_accepts_a_network():
    task = MultiIndexTask(6, 2, seed=0)
    net = TwoLayerNet.init(6, 8, seed=1)
    assert metrics.alignment(net, task) == metrics.alignment(net.W, task)


def test_energy_in_subspace_is_one_in_span_U_and_near_r_over_d_at_random():
    task = MultiIndexTask(10, 2, seed=0)
    assert metrics.energy_in_subspace(3 * task.U, task) == pytest.approx(1.0, abs=1e-12)
    X = torch.randn(20_000, 10, generator=torch.Generator().manual_seed(1), dtype=F64)
    # Chance level r/d = 0.2; the ratio of chi^2 sums has sd ~ sqrt(2/(N r)) * 0.2 ~ 0.0014 here.
    assert metrics.energy_in_subspace(X, task) == pytest.approx(0.2, abs=0.01)


def test_principal_angles_are_zero_for_U_and_right_angles_for_its_complement():
    task = MultiIndexTask(6, 2, seed=0)
    torch.testing.assert_close(metrics.principal_angles(task.U, task), torch.zeros(2, dtype=F64),
                               rtol=0, atol=1e-6)  # arccos near 1 loses half the digits
    P_perp = torch.eye(6, dtype=F64) - task.U.T @ task.U
    torch.testing.assert_close(metrics.principal_angles(P_perp, task), torch.full((2,), math.pi / 2, dtype=F64),
                               rtol=0, atol=1e-10)


def test_test_mse_of_the_zero_predictor_is_mean_square_over_variance():
    task = MultiIndexTask(6, 2, "he2", noise=0.1, seed=0)
    net = TwoLayerNet.init(6, 8, seed=1)  # f == 0 at theta0
    _, y = task.sample(3000, seed=5)
    assert metrics.test_mse(net, task, 3000, seed=5) == pytest.approx(float((y ** 2).mean() / y.var()), rel=1e-12)


def test_test_mse_clean_uses_the_noiseless_target():
    task = MultiIndexTask(6, 2, "he2", noise=0.5, seed=0)
    net = TwoLayerNet.init(6, 8, seed=1)
    X, _ = task.sample(3000, seed=5)
    f = task.f(X)
    clean = metrics.test_mse(net, task, 3000, seed=5, clean=True)
    assert clean == pytest.approx(float((f ** 2).mean() / f.var()), rel=1e-12)
    assert clean != metrics.test_mse(net, task, 3000, seed=5)  # the noisy target gives another value


def test_test_mse_is_deterministic_given_the_seed():
    task = MultiIndexTask(6, 2, seed=0)
    net = TwoLayerNet.init(6, 8, seed=1).replace(a=torch.linspace(-1, 1, 8, dtype=F64))
    assert metrics.test_mse(net, task, 500, seed=3) == metrics.test_mse(net, task, 500, seed=3)


# ------------------------------------------------------------------------------- bad input
def test_metrics_reject_a_network_of_the_wrong_dimension():
    task = MultiIndexTask(6, 2, seed=0)
    net = TwoLayerNet.init(7, 8, seed=1)
    with pytest.raises(ValueError, match=r"net has input dimension d=7 but the task has d=6"):
        metrics.test_mse(net, task, 100, seed=0)
    with pytest.raises(ValueError, match=r"W must have shape \(k, d=6\), got \(8, 7\)"):
        metrics.alignment(net, task)


def test_energy_in_subspace_rejects_wrong_shapes_and_numpy():
    task = MultiIndexTask(6, 2, seed=0)
    with pytest.raises(ValueError, match=r"X must have shape \(k, d=6\), got \(4, 5\)"):
        metrics.energy_in_subspace(torch.zeros(4, 5, dtype=F64), task)
    with pytest.raises(TypeError, match=r"X must be a torch tensor, got ndarray"):
        metrics.energy_in_subspace(np.zeros((4, 6)), task)


def test_test_mse_rejects_too_few_test_points():
    task = MultiIndexTask(6, 2, seed=0)
    with pytest.raises(ValueError, match=r"n must be >= 2, got 1"):
        metrics.test_mse(TwoLayerNet.init(6, 8, seed=1), task, 1, seed=0)


# ------------------------------------------------------------------------------- the two ratios
def test_gap_to_full_data_and_gain_over_random_are_ratios_of_errors():
    from ddlib.metrics import gain_over_random, gap_to_full_data

    assert gap_to_full_data(0.05, 0.025) == 2.0  # twice the full data's error
    assert gap_to_full_data(0.025, 0.025) == 1.0  # DD-Ranking's HLR = 0
    assert gain_over_random(0.05, 1.0) == 20.0  # 20 times better than random at equal memory
    assert gain_over_random(1.0, 1.0) == 1.0  # IOR = 0
    # Their product is the room between the two references, whatever the set.
    assert gap_to_full_data(0.05, 0.025) * gain_over_random(0.05, 1.0) == pytest.approx(1.0 / 0.025)


@pytest.mark.parametrize("call, match", [
    (lambda f: f.gap_to_full_data(0.0, 1.0), r"set_error must be > 0, got 0.0"),
    (lambda f: f.gap_to_full_data(1.0, -1.0), r"full_error must be > 0, got -1.0"),
    (lambda f: f.gain_over_random(float("nan"), 1.0), r"set_error must be finite"),
    (lambda f: f.gain_over_random(1e-300, 1e300), r"gain_over_random overflows"),
    (lambda f: f.gap_to_full_data(1e300, 1e-300), r"gap_to_full_data overflows"),
])
def test_the_ratios_refuse_errors_that_are_not_positive_and_finite(call, match):
    from ddlib import metrics

    with pytest.raises(ValueError, match=match):
        call(metrics)


def test_participation_ratio_counts_the_directions_a_matrix_spans():
    from ddlib.metrics import participation_ratio

    assert participation_ratio(torch.diag(torch.tensor([1.0, 1.0, 1.0]))) == pytest.approx(3.0)
    assert participation_ratio(torch.diag(torch.tensor([1.0, 0.0, 0.0]))) == pytest.approx(1.0)


def test_top_direction_share_is_one_when_every_row_points_the_same_way():
    from ddlib.metrics import top_direction_share

    assert top_direction_share(torch.ones(4, 3)) == pytest.approx(1.0)
    assert top_direction_share(torch.eye(4)) == pytest.approx(0.25)
