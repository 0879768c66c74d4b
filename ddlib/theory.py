"""Closed forms the book sets beside its measurements -- one home for all of them.

Each has a Monte-Carlo test (``tests/test_theory.py``: the analytic value against a sampled
estimate whose error shrinks like 1/sqrt(N), and a perturbed formula that must fail).

- ``population_stage1_gradient``: the learner's stage-1 gradient at theta0 with infinite data,
  for every registered link that declares its closed form (Hermite expansion of the ReLU step +
  Stein's lemma: the He2 part through the expected Hessian H, the rest from ``Link.beyond_he2``);
  ``population_first_layer``
  and its alignment with span(U): the infinite-data learner's W1.
- ``he3_noise_energy``, ``he3_noise_alignment``, ``he3_gradient_energy``: what the full-data learner finds for the
  information-exponent-3 link, whose population gradient is 0 (pure sampling noise).
- ``span_bound``: the error floor of a first layer spanning fewer directions than r.
- ``noise_excess_risk``: sigma^2 L / n, what label noise costs a ridge on L features.
- ``memory_report``: floats stored by a distilled set, beside r^2 d + L, the network and the data.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .learners import TwoStageLearner, normalize_rows
from .networks import TwoLayerNet, check_net
from .tasks import MultiIndexTask, check_task, no_part_beyond_he2
from .validation import check_float, check_int, require_finite

__all__ = ["STEP_HERMITE", "population_stage1_gradient", "population_first_layer", "population_learner", "population_alignment",
           "he3_noise_energy", "he3_noise_alignment", "he3_gradient_energy", "span_bound", "noise_excess_risk", "memory_report"]

# Counts (d, r, width, n, m) stay below 2^53, the integers a float64 holds exactly: beyond, the
# closed forms' float arithmetic would overflow or round, and no such problem fits in memory.
MAX_COUNT = 2 ** 53
PHI0 = 1.0 / math.sqrt(2.0 * math.pi)  # the standard normal density at 0
# The ReLU step relu'(t) = 1[t > 0] in probabilists' Hermite polynomials, sum_k c_k He_k(t):
# c_0 = 1/2 and c_k = He_{k-1}(0) phi(0) / k! (c_1 = phi(0), c_3 = -phi(0)/6, c_5 = phi(0)/40;
# even k >= 2 vanish).  These are the coefficients the closed forms below use.
STEP_HERMITE = (0.5, PHI0, 0.0, -PHI0 / 6.0, 0.0, PHI0 / 40.0)


def _count(name: str, value: int, min_value: int, max_value: int = MAX_COUNT) -> int:
    return check_int(name, value, min_value=min_value, max_value=max_value)


def _check(net: TwoLayerNet, task: MultiIndexTask) -> None:
    check_task(task, net_d=check_net(net).d)
    if bool((net.b != 0).any()):
        raise ValueError("the closed form holds at theta0 (first-layer biases b = 0); this net has b != 0")


def _scaled_rows(W: torch.Tensor) -> torch.Tensor:
    """W, with each row divided by its largest |entry| when some nonzero row's norm leaves
    [1e-30, 1e150] (where ``normalize_rows`` would not reach unit norm, or |w|^2 over/underflows);
    only directions matter here, and ordinary rows keep their exact arithmetic."""
    norms = W.norm(dim=1)
    if bool(((norms >= 1e-30) & (norms <= 1e150) | (W == 0).all(1)).all()):
        return W
    return W / W.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(W.dtype).tiny)


def population_stage1_gradient(net: TwoLayerNet, task: MultiIndexTask) -> torch.Tensor:
    """The infinite-data stage-1 gradient at theta0, ``G_pop,j = -a_j E[y relu'(w_j . x) x]``.

    For a unit-norm w and z = u . x with rho = u . w, the Hermite expansion of the step gives

    - ``E[He2(z) relu'(w.x) x] = phi(0) (2 rho u - rho^2 w)``, so the He2 part of any link, with
      expected Hessian H, contributes ``phi(0) (H w - 1/2 (w^T H w) w)``;
    - ``E[He4(z) relu'(w.x) x] = phi(0) (3 rho^4 w - 4 rho^3 u)`` (the He4 part of ``aniso``);
    - ``E[He_k(z) relu'(w.x) x] = 0`` for odd k >= 3: ``he3``'s population gradient vanishes exactly.

    Every registered link supplies its part beyond He2 (``Link.beyond_he2``); a link that
    declares none (None: its closed form is unknown) is refused with a ValueError.  Rows of W need
    not be unit norm (the step only sees directions; the rows are normalised).

    Returns:
        (width, d), in the network's dtype.
    """
    _check(net, task)
    link = task.link_spec
    if link.beyond_he2 is None:
        raise ValueError(f"population_stage1_gradient: no closed form is known for the link {task.link!r} beyond "
                         f"its He2 part (its Link has beyond_he2=None): register it with one, see ddlib.tasks.Link")
    H = task.expected_hessian()
    if link.beyond_he2 is no_part_beyond_he2 and not bool(H.any()):
        return torch.zeros_like(net.W)  # he3: G_pop = 0 exactly
    W = normalize_rows(_scaled_rows(net.W.detach()))
    HW = W @ H.to(W)
    quad = (HW * W).sum(1, keepdim=True)
    E = (HW - 0.5 * quad * W) * PHI0
    if link.beyond_he2 is not no_part_beyond_he2:  # e.g. + c He4(u_1 . x) / sqrt(24) for aniso
        E = E + link.beyond_he2(W, task.U)
    G = -net.a.detach()[:, None] * E
    require_finite(f"population_stage1_gradient: the gradient overflows {net.dtype}: the second layer's scale "
                   f"(max |a| = {float(net.a.detach().abs().max()):.3g}) or the link's closed form is too large", G)
    return G


def population_first_layer(net: TwoLayerNet, task: MultiIndexTask) -> torch.Tensor:
    """W1 of the infinite-data learner: rownorm(-G_pop) (zero rows for ``he3``)."""
    return normalize_rows(-population_stage1_gradient(net, task))


def population_learner(net: TwoLayerNet, task: MultiIndexTask, X: torch.Tensor, y: torch.Tensor,
                       learner: TwoStageLearner) -> TwoLayerNet:
    """The infinite-data stage 1 (W1 = rownorm(-G_pop)), then stage 2 on the real (X, y).

    Args:
        net: theta0.
        task: supplies the population gradient (``population_first_layer``).
        X, y: the real points the stage-2 ridge is fitted on.
        learner: supplies the ridge.

    Returns:
        The trained network; its test error isolates what a finite stage-1 sample costs.
    """
    W1 = population_first_layer(net, task)
    return net.replace(W=W1, a=learner.stage2(net, W1, X, y), b=net.stage2_bias.clone())


def population_alignment(net: TwoLayerNet, task: MultiIndexTask) -> float:
    """``|W1 U^T|_F / |W1|_F`` of the infinite-data first layer: the best alignment one step
    can reach at this theta0.

    Each row of G_pop is ``H w_j - (w_j^T H w_j / 2) w_j`` (plus the He4 part for ``aniso``): a
    vector in span(U) and a multiple of w_j itself, so the alignment stays below 1 even with
    infinite data.  Undefined for ``he3`` (G_pop = 0: no direction at all), and for a first layer
    that is all zeros: ValueError.
    """
    W1 = population_first_layer(net, task)
    if task.link == "he3" or not bool(W1.any()):
        exactly = ", exactly, for he3" if task.link == "he3" else ""
        raise ValueError(f"the population first layer is all zeros for this net and the {task.link!r} link "
                         f"(G_pop = 0{exactly}): its alignment is undefined")
    return float((W1 @ task.U.to(W1).T).norm() / W1.norm())


def he3_noise_energy(d: int, r: int) -> float:
    """Share of a ``he3`` stage-1 gradient's expected energy in span(U): (r + 6) / (d + 6).

    For ``he3`` the population gradient is exactly 0, so G_D is pure sampling noise, with
    covariance proportional to E[y^2 relu'(w.x) x x^T].  The weight y^2 is even in x and
    relu'(t) + relu'(-t) = 1, so the step halves E[y^2 x x^T] exactly, whatever w: with
    E[y^2 z_1^2] = E[He3(z)^2 z^2]/6 = 7 along u_1 and E[y^2] = 1 along every other direction, the
    ratio of expected energies E|G U^T|^2 / E|G|^2 is exactly (7 + r - 1) / (7 + d - 1), whatever
    n: what the full-data learner finds.  One draw scatters around it (heavy-tailed).
    """
    d = _count("d", d, 1)
    r = _count("r", r, 1, max_value=d)
    return (r + 6) / (d + 6)


def he3_noise_alignment(d: int, r: int) -> float:
    """Alignment with span(U) of a first layer made of pure sampling noise, for the ``he3`` link.

    Each row of G_D is the noise (1/n) sum_i y_i relu'(w.x_i) x_i, with 7 times the variance
    along u_1 that it has along any other direction (see ``he3_noise_energy``), whatever n is.
    For a Gaussian row xi with that covariance (lambda = 7, 1, ..., 1),
    ``E[|U xi|^2 / |xi|^2] = int_0^inf sum_{i<=r} lambda_i / (1 + 2 t lambda_i)
    prod_k (1 + 2 t lambda_k)^(-1/2) dt``, evaluated by Gauss-Legendre quadrature after
    t = s / (1 - s).

    Returns:
        The square root of that expectation (above the isotropic chance level sqrt(r / d), flat in n).
    """
    d = _count("d", d, 1)
    r = _count("r", r, 1, max_value=d)
    if r == d:
        return 1.0
    s, w = np.polynomial.legendre.leggauss(400)
    s, w = (s + 1) / 2, w / 2
    t = s / (1 - s)
    density = (1 + 14 * t) ** -0.5 * (1 + 2 * t) ** (-(d - 1) / 2) / (1 - s) ** 2
    in_span = 7 / (1 + 14 * t) + (r - 1) / (1 + 2 * t)
    return float(np.sqrt((in_span * density * w).sum()))


def span_bound(m1: int, r: int) -> float:
    """Lower bound max(0, 1 - m1/r) on the normalised test MSE of any predictor that sees the
    input only through m1 directions, for the ``he2`` link.

    Each of the r terms He2(z_k) carries 1/r of Var g, and ``sum_k He2(z_k) = |z|^2 - r`` is
    rotation invariant, so the best function of an m1-dimensional projection of span(U)
    explains m1/r of it, and no m1-dimensional subspace explains more.  A first layer learned
    from m1 points spans at most m1 directions.
    """
    m1 = _count("m1", m1, 1)
    r = _count("r", r, 1)
    return max(0.0, 1.0 - m1 / r)


def he3_gradient_energy(d: int, width: int, n: int) -> float:
    """``E||G_D||_F^2`` of the ``he3`` stage-1 gradient at theta0 on n points: ``width (d + 6) / (2n)``.

    For an odd link the population gradient is 0 and G_D is a mean of n centred terms
    ``-a_j y_i relu'(w_j . x_i) x_i``, so ``E||G_j||^2 = E[y^2 relu'(w.x) ||x||^2] / n``.  The weight
    ``y^2 ||x||^2`` is even in x and ``relu'(t) + relu'(-t) = 1``, so the step halves it exactly:
    ``E[y^2 ||x||^2] / 2 = (7 + d - 1) / 2`` (7 along u_1, 1 along each other direction, as in
    ``he3_noise_energy``).  A gradient with any signal would sit above it.
    """
    d = _count("d", d, 1)
    width = _count("width", width, 1)
    n = _count("n", n, 1)
    return width * (d + 6) / (2 * n)


def noise_excess_risk(sigma: float, width: int, n: int) -> float:
    """sigma^2 L / n: the test error label noise of standard deviation sigma adds to a least-squares
    fit of L features on n >> L points (the variance term; exactly sigma^2 L / (n - L - 1) for
    Gaussian features), in units of the labels' variance before noise.  The learner's ridge is not
    exactly least squares (its penalty, and features that are not Gaussian), so for it this is the
    order of the cost rather than a bound; notebook 05 measures the ratio."""
    sigma = check_float("sigma", sigma, min_value=0.0)
    width = _count("width", width, 1)
    n = _count("n", n, 1)
    risk = sigma * sigma * width / n
    require_finite(f"noise_excess_risk overflows: sigma={sigma!r} is too large (sigma^2 L / n = {risk})", risk)
    return risk


def memory_report(*, m1: int, m2: int, d: int, r: int, width: int, n: int) -> dict[str, int]:
    """Floats stored by a distilled set of m1 + m2 points, beside r^2 d + L, the trained network
    L(d + 2) (W, b and a) and the real data n(d + 1) (each point is d inputs and one label)."""
    m1 = _count("m1", m1, 0)
    m2 = _count("m2", m2, 0)
    d = _count("d", d, 1)
    r = _count("r", r, 1, max_value=d)
    width = _count("width", width, 1)
    n = _count("n", n, 0)
    return {"distilled": (m1 + m2) * (d + 1), "r2d_plus_L": r * r * d + width, "network": width * (d + 2),
            "data": n * (d + 1)}
