"""Boundary checks: each bad value raises a ValueError/TypeError naming the parameter, the
allowed range and the value received."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddlib.validation import (check_choice, check_data, check_device, check_dtype, check_float, check_int, check_labels,
                              check_tensor, require_finite, short_repr)

F64 = torch.float64


# ------------------------------------------------------------------------------- check_int
def test_check_int_returns_python_int_for_ints_numpy_ints_and_integral_floats():
    for value in (5, np.int64(5), np.int32(5), 5.0):
        out = check_int("n", value)
        assert out == 5 and type(out) is int


@pytest.mark.parametrize("value", [2.5, "3", None, True, np.array([3]), torch.tensor(3)])
def test_check_int_rejects_non_integers_with_a_type_error(value):
    with pytest.raises(TypeError, match=r"n must be an integer, got"):
        check_int("n", value)


def test_check_int_enforces_the_range_naming_it():
    with pytest.raises(ValueError, match=r"m1 must be >= 1, got 0"):
        check_int("m1", 0, min_value=1)
    with pytest.raises(ValueError, match=r"k must be <= 4, got 5"):
        check_int("k", 5, max_value=4)
    assert check_int("k", 4, min_value=4, max_value=4) == 4


def test_check_int_even_rejects_odd_values():
    with pytest.raises(ValueError, match=r"width must be even .*got 5"):
        check_int("width", 5, even=True)
    assert check_int("width", 6, even=True) == 6


# ------------------------------------------------------------------------------- check_float
def test_check_float_returns_float_for_ints_floats_and_numpy_scalars():
    for value in (2, 2.0, np.float32(2.0), np.float64(2.0), np.int64(2)):
        out = check_float("lr", value)
        assert out == 2.0 and type(out) is float


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_float_rejects_non_finite_values(value):
    with pytest.raises(ValueError, match=r"lr must be finite"):
        check_float("lr", value)


@pytest.mark.parametrize("value", ["0.1", None, False, [0.1], torch.tensor(0.1)])
def test_check_float_rejects_non_numbers_with_a_type_error(value):
    with pytest.raises(TypeError, match=r"lr must be a number, got"):
        check_float("lr", value)


def test_check_float_enforces_positivity_and_range():
    with pytest.raises(ValueError, match=r"ridge must be > 0, got 0.0"):
        check_float("ridge", 0.0, strictly_positive=True)
    with pytest.raises(ValueError, match=r"noise must be >= 0.0, got -1.0"):
        check_float("noise", -1.0, min_value=0.0)
    with pytest.raises(ValueError, match=r"c must be <= 1.0, got 2.0"):
        check_float("c", 2.0, max_value=1.0)


# ------------------------------------------------------------------------------- check_choice
def test_check_choice_lists_the_valid_values():
    assert check_choice("link", "he2", ("he2", "he3")) == "he2"
    with pytest.raises(ValueError, match=r"link must be one of \['he2', 'he3'\], got 'he4'"):
        check_choice("link", "he4", ("he2", "he3"))


# ------------------------------------------------------------------------------- check_data
def _data(n=5, d=3):
    return torch.zeros(n, d, dtype=F64), torch.zeros(n, dtype=F64)


def test_check_data_accepts_a_valid_pair_and_returns_it():
    X, y = _data()
    X2, y2 = check_data("D", (X, y), d=3, min_n=5)
    assert X2 is X and y2 is y
    assert check_data("D", [X, y])[0] is X  # a list pair is fine too


@pytest.mark.parametrize("data, error, pattern", [
    (torch.zeros(5, 3), TypeError, r"D must be a tuple \(X, y\), got Tensor"),
    ((torch.zeros(5, 3),), TypeError, r"D must be a tuple \(X, y\), got tuple"),
    ((np.zeros((5, 3)), torch.zeros(5)), TypeError, r"D: X and y must be torch tensors, got ndarray and Tensor"),
    ((torch.zeros(5), torch.zeros(5)), ValueError, r"D: X must be 2-D \(n, d\), got shape \(5,\)"),
    ((torch.zeros(5, 3), torch.zeros(5, 1)), ValueError, r"D: y must be 1-D with one label per row of X \(5\)"),
    ((torch.zeros(5, 3), torch.zeros(4)), ValueError, r"got shape \(4,\)"),
    ((torch.zeros(5, 4), torch.zeros(5)), ValueError, r"D: X has dimension 4 but the network expects d=3"),
    ((torch.zeros(2, 3), torch.zeros(2)), ValueError, r"D: needs at least 3 points, got n=2"),
    ((torch.zeros(5, 3, dtype=torch.int32), torch.zeros(5)), TypeError,
     r"D: X must be floating point, one of torch.float32, torch.float64, got torch.int32"),
    ((torch.full((5, 3), math.nan), torch.zeros(5)), ValueError, r"D: X contains non-finite values"),
    ((torch.zeros(5, 3), torch.full((5,), math.inf)), ValueError, r"D: y contains non-finite values"),
])
def test_check_data_rejects_bad_data_naming_it(data, error, pattern):
    with pytest.raises(error, match=pattern):
        check_data("D", data, d=3, min_n=3)


# ------------------------------------------------------------------------------- dtypes, devices, tensors
def test_check_dtype_accepts_float32_and_float64_only_listing_them():
    assert check_dtype("dtype", torch.float32) is torch.float32 and check_dtype("dtype", F64) is F64
    for bad in (torch.float16, torch.bfloat16, torch.int64, torch.bool, torch.complex128):
        with pytest.raises(TypeError, match=rf"dtype must be one of torch.float32, torch.float64, got {bad}$"):
            check_dtype("dtype", bad)
    with pytest.raises(TypeError, match=r"dtype must be one of torch.float32, torch.float64, got 'float32' \(str\)"):
        check_dtype("dtype", "float32")


def test_check_device_refuses_meta_unknown_and_unavailable_devices():
    assert check_device("device", "cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"device must be a device that holds values, not 'meta'"):
        check_device("device", "meta")
    with pytest.raises(ValueError, match=r"device must be a device such as 'cpu' or 'cuda', got 'gpu0'"):
        check_device("device", "gpu0")
    with pytest.raises(TypeError, match=r"device must be a device name or torch.device"):
        check_device("device", None)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cuda' is not available on this machine"):
            check_device("device", "cuda")


@pytest.mark.parametrize("value, error, pattern", [
    (np.zeros(3), TypeError, r"t must be a torch tensor, got array"),
    (torch.zeros(3, dtype=torch.float16), TypeError, r"t must be floating point, one of .* got torch.float16"),
    (torch.zeros(3, dtype=torch.complex64), TypeError, r"got torch.complex64"),
    (torch.zeros(3, dtype=torch.int64), TypeError, r"got torch.int64"),
    (torch.zeros(3, dtype=F64, device="meta"), ValueError, r"t is a 'meta' tensor"),
    (torch.zeros(3, dtype=F64), ValueError, r"t must be 2-D, got shape \(3,\)"),
    (torch.tensor([[1.0, math.inf]], dtype=F64), ValueError, r"t contains non-finite values"),
])
def test_check_tensor_refuses_what_is_not_a_finite_real_float_tensor(value, error, pattern):
    with pytest.raises(error, match=pattern):
        check_tensor("t", value, ndim=2)


def test_check_data_detaches_tensors_that_require_grad_unless_told_not_to():
    X, y = torch.zeros(4, 2, dtype=F64, requires_grad=True), torch.zeros(4, dtype=F64)
    Xd, yd = check_data("D", (X, y))
    assert not Xd.requires_grad and yd is y
    assert check_data("D", (X, y), detach=False)[0] is X


def test_check_labels_refuses_zero_and_constant_labels_saying_why():
    check_labels("real", torch.tensor([1.0, 2.0]), why="-", constant=True)
    with pytest.raises(ValueError, match=r"degenerate labels: all real labels are 0, so nothing to do"):
        check_labels("real", torch.zeros(3), why="nothing to do")
    check_labels("real", torch.ones(3), why="-")  # constant labels are fine unless asked
    with pytest.raises(ValueError, match=r"all real labels are equal \(constant y = 2\), so Var y = 0"):
        check_labels("real", torch.full((3,), 2.0), why="Var y = 0", constant=True)


def test_require_finite_raises_its_message_and_builds_a_callable_one_only_on_failure():
    require_finite(lambda: pytest.fail("built"), 1.0, torch.ones(2))
    with pytest.raises(ValueError, match=r"^boom$"):
        require_finite("boom", torch.tensor([1.0, math.nan]))
    with pytest.raises(ValueError, match=r"^late$"):
        require_finite(lambda: "late", math.inf)


def test_messages_quote_long_values_truncated_on_one_line():
    assert short_repr("x" * 500).endswith("...") and len(short_repr("x" * 500)) == 100
    assert short_repr("a\nb") == repr("a\nb") and "\n" not in short_repr(["a", "\n" * 3])
    assert short_repr(10 ** 5000) == "<int>"  # too long for repr: never an error inside the error
    with pytest.raises(TypeError, match=r"n must be an integer, got '(y){90,}\.\.\. \(str\)$"):
        check_int("n", "y" * 1000)
    with pytest.raises(ValueError, match=r"lr must be finite, got 1000.*\(beyond the float range\)"):
        check_float("lr", 10 ** 400)
