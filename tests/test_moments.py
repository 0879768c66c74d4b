"""ddlib.moments: the label-weighted second moment is the brute-force sum, chunking changes nothing,
and it converges to the task's expected Hessian like 1/sqrt(n) (Stein's identity)."""
from __future__ import annotations

import pytest
import torch

from ddlib import MultiIndexTask, moments
from ddlib.moments import empirical_hessian

F64 = torch.float64


def test_it_is_the_label_weighted_second_moment_and_chunks_change_nothing(monkeypatch):
    X, y = MultiIndexTask(5, 2, "aniso", seed=0).sample(50, seed=1)
    brute = sum(y[i] * (torch.outer(X[i], X[i]) - torch.eye(5, dtype=F64)) for i in range(50)) / 50
    H = empirical_hessian(X, y)
    torch.testing.assert_close(H, brute, rtol=1e-12, atol=1e-14)
    assert torch.equal(H, H.T)
    monkeypatch.setattr(moments, "_CHUNK", 7)
    torch.testing.assert_close(empirical_hessian(X, y), H, rtol=1e-12, atol=1e-14)
    assert empirical_hessian(X.float(), y.float()).dtype == torch.float32


def test_it_converges_to_the_expected_hessian_like_one_over_sqrt_n():
    # 16x the samples: the error's Frobenius norm shrinks ~4x (measured 0.27 here); a biased
    # estimate would stall.
    task = MultiIndexTask(8, 2, "quad", seed=3)
    errors = [float((empirical_hessian(*task.sample(n, seed=4)) - task.expected_hessian()).norm())
              for n in (4_000, 64_000)]
    assert 0.15 < errors[1] / errors[0] < 0.4, errors


@pytest.mark.parametrize("X, y, error, match", [
    (torch.zeros(3, 2, dtype=F64), torch.zeros(2, dtype=F64), ValueError, r"y must be 1-D with one label per row"),
    (torch.zeros(3, 2, dtype=torch.int64), torch.zeros(3), TypeError, r"X must be floating point"),
    (torch.full((3, 2), 1e200, dtype=F64), torch.ones(3, dtype=F64), ValueError,
     r"empirical_hessian overflows torch.float64"),
])
def test_bad_input_is_refused_by_name(X, y, error, match):
    with pytest.raises(error, match=match):
        empirical_hessian(X, y)
