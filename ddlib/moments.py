"""The label-weighted second moment of data, ``H_hat = (1/n) sum_i y_i (x_i x_i^T - I)``: Stein's
estimate of the task's expected Hessian, H = E[y (x x^T - I)] for x ~ N(0, I_d).  What the spectral
baseline diagonalises (``ddlib.spectral``) and what moment matching makes a small set reproduce
(``ddlib.distillers.moment_matching``)."""
from __future__ import annotations

import torch

from .validation import check_data, peak, require_finite

__all__ = ["empirical_hessian"]

_CHUNK = 8192  # rows per chunk of the streaming pass


def empirical_hessian(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``H_hat = (1/n) sum_i y_i (x_i x_i^T - I)`` (d x d, symmetric), in one pass over row chunks.

    Args:
        X, y: data, (n, d) and (n,); y is converted to X's dtype (the result's).

    Returns:
        (d, d).
    """
    X, y = check_data("(X, y)", (X, y))
    y = y.to(X.dtype)
    require_finite(f"empirical_hessian: the labels overflow {X.dtype}, the inputs' dtype, when converted to it", y)
    n, d = X.shape
    H = torch.zeros(d, d, dtype=X.dtype, device=X.device)
    for i in range(0, n, _CHUNK):
        H.addmm_((X[i:i + _CHUNK] * y[i:i + _CHUNK, None]).T, X[i:i + _CHUNK])
    H = (H + H.T) / (2 * n) - y.mean() * torch.eye(d, dtype=X.dtype, device=X.device)
    require_finite(lambda: f"empirical_hessian overflows {X.dtype}: the data's scale (max |X| = {peak(X):.3g}, "
                           f"max |y| = {peak(y):.3g}) is too large", H)
    return H
