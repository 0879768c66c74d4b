"""The analytic spectral baseline: the stage-1 set a theorist would write down by hand.

By Stein's identity the task's expected Hessian is a label-weighted second moment of the inputs,
H = E[y (x x^T - I)], so the data estimate it by ``H_hat = (1/n) sum_i y_i (x_i x_i^T - I)``
(``ddlib.moments.empirical_hessian``), whose top-r eigenvectors estimate span(U).  The baseline
places points on those eigenvectors (``spectral_points``):

- ``"eigen"`` (the issue's variant, default): the 2r points ``+-sqrt(|lambda_k|) v_k`` with label
  ``sign(lambda_k) sqrt(|lambda_k|)``.  Each neuron sees one point of every pair (the one with
  w . x > 0), so the set's stage-1 gradient is ``-a_j/(2r) sum_k lambda_k sign(w_j . v_k) v_k``:
  the population gradient's span(U) part ``sum_k lambda_k (w_j . v_k) v_k`` (up to the factor
  phi(0)) with each projection replaced by its sign; every first-layer row lies in the estimated
  span, with weights in proportion to the eigenvalues.  The rows take at most 2^r distinct
  directions (one per sign pattern), and on ``aniso`` u_1 -- where the He4 part lives -- is not
  among them.
- ``"directions"`` (an earlier probe's variant): m1 points ``sqrt(d) u_i`` with u_i seeded uniform
  unit vectors of the top-r eigenspace, labels ``x^T H_hat x / d = u_i^T H_hat u_i``: up to 2^m1
  distinct rows.

Measured at the book's size (d = 32, r = 2, L = 512, n = 8,000, 3 seeds, stage 2 on 32 random real
points, the ridge tuned on 2,000 validation points, ``ddlib.tuning``): test MSE 0.082-0.121 (he2),
0.17-0.30 (aniso), 0.048-0.078 (quad) for "eigen" (4 points); 0.067-0.089, 0.19-0.25, 0.068-0.118
for "directions" (8 points); alignment 0.96-0.99 for both -- against 0.025-0.030, 0.08-0.15 and
0.022-0.034 for gradient matching + KIP (m1 = 8, m2 = 32), and 1.0-1.1 for 40 random real points.
With stage 2 on all the real data (one draw) "directions" reached 0.029 on he2 and 0.084 on aniso.

Only directions and the products label x norm matter to stage 1 (the step sees relu'(w . x),
which is scale free at theta0, and rows are normalised), so the scales above are one choice
among equivalent ones.  As a stage-1 method ("spectral" in ``ddlib.methods``) it pairs with any
stage 2 -- random real points, KIP, closed-form labels -- and gives its spare points to stage 2.

r is the task's (pass it when known) or estimated (``estimate_rank``): the eigenvalues of H_hat
whose magnitude exceeds ``factor`` times ``noise_level``, the largest spectral norm of
sign-flipped copies ``(1/n) sum_i e_i y_i (x_i x_i^T - I)`` (e_i seeded random signs, ``draws`` of
them).  Flipping signs removes H and keeps the noise's covariance, including its structure: for
the he3 control the noise is 7 times larger along u_1, which a Wigner bulk edge
``2 sqrt(d mean(y^2) / n)`` ignores (with factor 2 on that edge, 15-35% of he3 draws showed a false
spike at d = 8 to 32, n = 400 to 8,000).  Measured with factor 1.5 and 5 draws, 10 seeds each: no
false spike for he3 (d = 8 to 32, n = 400 to 8,000); r found exactly for he2 and aniso (d = 16,
32; r = 2, 4); ``quad``'s weakest direction (eigenvalue 0.14 at r = 2) missed at n = 2,000 and
8,000 (estimate 1) and found at 32,000 in 7 of 10 draws -- a spike that does not clear the noise is
not resolved, and the estimate is then below r.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from .data import Data
from .moments import empirical_hessian
from .seeds import generator
from .validation import check_choice, check_data, check_float, check_int, peak, require_finite

__all__ = ["VARIANTS", "RANK_FACTOR", "NULL_DRAWS", "noise_level", "estimate_rank", "SpectralBasis", "spectral_basis",
           "spectral_points", "spectral_points_of"]

VARIANTS = ("eigen", "directions")
RANK_FACTOR = 1.5
NULL_DRAWS = 5


def noise_level(X: torch.Tensor, y: torch.Tensor, *, draws: int = NULL_DRAWS, seed: int = 0) -> float:
    """The largest spectral norm of ``draws`` sign-flipped copies of H_hat: its noise's scale."""
    X, y = check_data("(X, y)", (X, y))
    draws = check_int("draws", draws, min_value=1, max_value=1000)
    gen = generator(seed)
    level = 0.0
    for _ in range(draws):
        signs = (torch.randint(0, 2, (X.shape[0],), generator=gen) * 2 - 1).to(dtype=y.dtype, device=y.device)
        eig, _ = _eigh(empirical_hessian(X, signs * y))
        level = max(level, float(eig.abs().max()))
    require_finite(f"noise_level overflows: the data's scale (max |y| = {peak(y):.3g}) is too large", level)
    return level


def estimate_rank(X: torch.Tensor, y: torch.Tensor, *, factor: float = RANK_FACTOR, draws: int = NULL_DRAWS,
                  seed: int = 0) -> int:
    """The number of eigenvalues of H_hat with magnitude above ``factor * noise_level(X, y)`` (may be 0)."""
    factor = check_float("factor", factor, strictly_positive=True)
    eig, _ = _eigh(empirical_hessian(X, y))
    return int((eig.abs() > factor * noise_level(X, y, draws=draws, seed=seed)).sum())


def _eigh(H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.eigh`` of H divided by its largest |entry| (eigenvalues scaled back), so the
    eigensolver never meets values near the dtype's range."""
    scale = H.abs().max().clamp_min(torch.finfo(H.dtype).tiny)
    eig, vec = torch.linalg.eigh(H / scale)
    return eig * scale, vec


@dataclass(frozen=True)
class SpectralBasis:
    """The top-r eigenpairs of H_hat by magnitude: ``eigenvalues`` (r,), ``vectors`` (r, d) (orthonormal
    rows), ``r`` and whether it was ``estimated``; ``hessian`` is H_hat."""

    eigenvalues: torch.Tensor
    vectors: torch.Tensor
    r: int
    estimated: bool
    hessian: torch.Tensor


def spectral_basis(X: torch.Tensor, y: torch.Tensor, r: Optional[int] = None) -> SpectralBasis:
    """The top-r eigenpairs of H_hat (r estimated by ``estimate_rank`` when None).

    Raises:
        ValueError: r exceeds d, or (estimated) no eigenvalue stands out of the noise bulk.
    """
    X, y = check_data("(X, y)", (X, y))
    d = X.shape[1]
    estimated = r is None
    if estimated:
        r = estimate_rank(X, y)
        if r == 0:
            raise ValueError(f"spectral_basis: no eigenvalue of H_hat exceeds {RANK_FACTOR} x its noise level "
                             f"{noise_level(X, y):.3g}: nothing to build on (pass r to force it)")
    r = check_int("r", r, min_value=1, max_value=d)
    H = empirical_hessian(X, y)
    eig, vec = _eigh(H)
    top = eig.abs().argsort(descending=True, stable=True)[:r]
    return SpectralBasis(eig[top], vec[:, top].T.contiguous(), r, estimated, H)


def spectral_points(X: torch.Tensor, y: torch.Tensor, r: Optional[int] = None, *, variant: str = "eigen",
                    m1: Optional[int] = None, seed: Optional[int] = None) -> Data:
    """The spectral stage-1 set (see the module docstring for the two variants).

    Args:
        X, y: the real data.
        r: the number of eigenpairs (estimated when None).
        variant: "eigen" (2r points, no seed) or "directions" (m1 points, seeded).
        m1, seed: "directions" only.

    Returns:
        The points and labels (X1, y1), 2r points for "eigen" and m1 for "directions".
    """
    _check_variant(variant, m1, seed)
    return _points(spectral_basis(X, y, r), variant, m1, seed)


def _check_variant(variant: str, m1: Optional[int], seed: Optional[int]) -> None:
    check_choice("variant", variant, VARIANTS)
    if variant == "eigen" and (m1 is not None or seed is not None):
        raise ValueError("m1 and seed apply to variant='directions' only (variant='eigen' has 2r points, no draw)")
    if variant == "directions" and (m1 is None or seed is None):
        raise ValueError("variant='directions' needs m1 (the number of points) and seed (their directions)")


def spectral_points_of(basis: SpectralBasis) -> Data:
    """The "eigen" spectral set of a basis already computed: 2r points (the stage-1 method "spectral"
    of ``ddlib.methods``)."""
    return _points(basis, "eigen", None, None)


def _points(basis: SpectralBasis, variant: str, m1: Optional[int], seed: Optional[int]) -> Data:
    lam, V = basis.eigenvalues, basis.vectors
    require_finite(f"spectral_points: the eigenvalues of H_hat overflow {lam.dtype}: the data's scale is too large",
                   lam)
    if variant == "eigen":
        scale = lam.abs().sqrt()
        return Data(torch.cat([scale[:, None] * V, -scale[:, None] * V]), (torch.sign(lam) * scale).repeat(2))
    m1 = check_int("m1", m1, min_value=1)
    coef = torch.randn(m1, basis.r, generator=generator(seed), dtype=torch.float64).to(V)
    U = coef / coef.norm(dim=1, keepdim=True).clamp_min(torch.finfo(V.dtype).tiny)
    labels = ((U * lam) * U).sum(1)  # u^T H_hat u for u = U @ V (U: its coordinates in the eigenbasis)
    return Data(math.sqrt(V.shape[1]) * (U @ V), labels)
