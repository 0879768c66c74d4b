"""ddlib.effective: log-log interpolation recovers n exactly on a power law, the first crossing
counts, errors outside the curve give None with the side and a reason, the interval is taken per
repetition, and the n-curve is the full-data learner on nested prefixes."""
from __future__ import annotations

import math

import pytest

from ddlib import MultiIndexTask, TwoLayerNet, TwoStageLearner
from ddlib.effective import (LearningCurve, compression, effective_size, effective_size_interval,
                             learning_curve)
from ddlib.metrics import test_mse as normalised_test_mse

POWER = LearningCurve((100, 400, 1600, 6400), tuple(3.0 * n ** -0.5 for n in (100, 400, 1600, 6400)))


@pytest.mark.parametrize("n", [100, 150.5, 400, 999.0, 6400])
def test_log_log_interpolation_recovers_n_on_a_power_law(n):
    assert effective_size(3.0 * n ** -0.5, POWER).n_eq == pytest.approx(n, rel=1e-12)


def test_outside_the_curve_n_eq_is_none_with_its_side_and_reason():
    above = effective_size(0.5, POWER)  # worse than the full-data learner at n=100
    assert above.n_eq is None and above.side == "below" and "n_eq < 100 (extend the grid down)" in above.reason
    below = effective_size(0.01, POWER)
    assert below.n_eq is None and below.side == "above" and "n_eq > 6400 (extend the grid up)" in below.reason


def test_the_first_crossing_counts_on_a_curve_that_rises_locally():
    curve = LearningCurve((10, 20, 40, 80), (1.0, 0.5, 0.6, 0.25))
    assert effective_size(0.55, curve).n_eq == pytest.approx(10 * 2 ** (math.log(1 / 0.55) / math.log(2)))
    assert effective_size(0.4, curve).n_eq > 40


def test_compression_and_the_interval_over_repetitions():
    assert compression(1320.0, 32, 1320) == 33.0  # n_eq (d + 1) / memory
    errors = [3.0 * n ** -0.5 for n in (200.0, 800.0)] + [0.01, 0.9]
    summary = effective_size_interval(errors, [POWER] * 4, d=32, memory_floats=1320)
    assert summary.above == 1 and summary.below == 1 and summary.n_eq.n == 2
    assert summary.n_eq.estimate == pytest.approx(400.0, rel=1e-12)  # geometric mean of 200 and 800
    assert summary.compression.estimate == pytest.approx(400.0 * 33 / 1320, rel=1e-12)
    assert summary.n_eq.lo < 400 < summary.n_eq.hi
    assert summary.as_dict()["per_repetition"][2]["n_eq"] is None
    none = effective_size_interval([0.01], [POWER], d=4, memory_floats=10)
    assert none.n_eq is None and none.compression is None and none.above == 1


def test_the_learning_curve_is_the_full_data_learner_on_nested_prefixes():
    task = MultiIndexTask(8, 2, seed=11)
    net = TwoLayerNet.init(8, 32, seed=12)
    curve = learning_curve(net, task, [50, 200, 800], data_seed=14, test_seed=15, n_test=2000)
    X, y = task.sample(800, seed=14)
    for n, err in zip(curve.n, curve.test_mse):
        assert err == normalised_test_mse(TwoStageLearner().fit(net, (X[:n], y[:n])), task, 2000, seed=15)
    # Measured: 1.27, 0.34, 0.20 -- and a point of the curve is worth exactly its own n.
    assert curve.test_mse[0] > curve.test_mse[-1]
    assert effective_size(curve.test_mse[1], curve).n_eq == pytest.approx(200, rel=1e-12)


@pytest.mark.parametrize("call, error, match", [
    (lambda: LearningCurve((10,), (1.0,)), ValueError, r"LearningCurve: needs 2 to 256 points"),
    (lambda: LearningCurve((10, 10), (1.0, 0.5)), ValueError, r"n must be strictly increasing"),
    (lambda: LearningCurve((10, 20), (1.0, 0.0)), ValueError, r"test_mse\[1\] must be > 0, got 0.0"),
    (lambda: LearningCurve((10, 20), (1.0, math.nan)), ValueError, r"test_mse\[1\] must be finite"),
    (lambda: effective_size(-1.0, POWER), ValueError, r"error must be > 0, got -1.0"),
    (lambda: effective_size(0.1, [(1, 1.0)]), TypeError, r"curve must be a LearningCurve, got list"),
    (lambda: effective_size_interval([0.1], [POWER, POWER], d=3, memory_floats=4), ValueError,
     r"errors and curves must be non-empty and of one length, got 1 and 2"),
    (lambda: compression(10.0, 0, 4), ValueError, r"d must be >= 1, got 0"),
    (lambda: learning_curve(TwoLayerNet.init(4, 4, 0), MultiIndexTask(4, 1), "10,20", data_seed=0, test_seed=1),
     TypeError, r"n_grid must be a sequence of sizes"),
    (lambda: learning_curve(TwoLayerNet.init(4, 4, 0), MultiIndexTask(5, 1), [10, 20], data_seed=0, test_seed=1),
     ValueError, r"net has input dimension d=4 but the task has d=5"),
])
def test_bad_input_is_refused_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()
