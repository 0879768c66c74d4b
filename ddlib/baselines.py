"""Baselines for distillation: m real points chosen without optimising them -- a random subset,
a greedy k-center coreset (Sener & Savarese 2018) and a herding coreset (Welling 2009, in the
greedy mean-matching form of Rebuffi et al. 2017).  Each returns (X_m, y_m), real points the
learner is then trained on."""
from __future__ import annotations

from typing import Optional

import torch

from .seeds import generator
from .validation import check_data, check_int, check_tensor, peak

__all__ = ["random_subset", "kcenter_coreset", "herding_coreset"]

Data = tuple[torch.Tensor, torch.Tensor]


def random_subset(X: torch.Tensor, y: torch.Tensor, m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """m real points drawn without replacement (seeded)."""
    m = check_int("m", m, min_value=1)
    X, y = check_data("(X, y)", (X, y), min_n=m)
    gen = generator(seed)
    idx = torch.randperm(X.shape[0], generator=gen)[:m].to(X.device)
    return X[idx], y[idx]


def kcenter_coreset(X: torch.Tensor, y: torch.Tensor, m: int, seed: int) -> Data:
    """Greedy k-center: a seeded random first point, then each next point is the one farthest
    (Euclidean, in input space) from all points chosen so far -- a 2-approximation of the
    minimax cover of the data by m balls.

    No row is returned twice: once every row not yet chosen coincides with a chosen one (all
    distances 0, as with duplicated rows), the next is the lowest-index row not yet chosen.

    Args:
        X, y: real data, (n, d) and (n,).
        m: coreset size, 1 <= m <= n.
        seed: seed of the first point.

    Returns:
        (X_m, y_m), the m chosen real points in the order they were chosen.
    """
    m = check_int("m", m, min_value=1)
    X, y = check_data("(X, y)", (X, y), min_n=m)
    gen = generator(seed)
    first = int(torch.randint(X.shape[0], (1,), generator=gen))
    idx = [first]
    dist = ((X - X[first]) ** 2).sum(1)  # squared distance to the nearest chosen point
    taken = torch.zeros(X.shape[0], dtype=torch.bool, device=X.device)
    taken[first] = True
    for _ in range(m - 1):
        # argmax takes the first of tied maxima; chosen rows sit below every other (-1 < 0)
        nxt = int(torch.argmax(dist.masked_fill(taken, -1.0)))
        idx.append(nxt)
        taken[nxt] = True
        dist = torch.minimum(dist, ((X - X[nxt]) ** 2).sum(1))
    sel = torch.tensor(idx, device=X.device)
    return X[sel], y[sel]


def herding_coreset(X: torch.Tensor, y: torch.Tensor, m: int,
                    features: Optional[torch.Tensor] = None) -> Data:
    """Herding (Welling 2009; the greedy form used for coresets by Rebuffi et al. 2017): pick
    points one at a time so that the mean of the chosen feature vectors tracks the data's mean
    feature mu -- step t adds the point that minimises ``|mu - mean of the chosen phi's|``, i.e. the
    MMD of the linear kernel on ``features`` (e.g. a random-feature embedding; the inputs
    themselves by default).  With c_t = (t + 1) mu - (sum of the t chosen phi's) this is
    ``argmin_i |phi_i|^2 - 2 <c_t, phi_i>``; Welling's herding step is ``argmax_i <c_t, phi_i>``, the same
    rule when every ``|phi_i|`` is equal (Chen et al. 2010).  Deterministic: ties go to the lowest index.

    Args:
        X, y: real data, (n, d) and (n,).
        m: coreset size, 1 <= m <= n.
        features: (n, p) embedding of the points (default: X).

    Returns:
        (X_m, y_m), the m chosen real points in the order they were chosen.
    """
    m = check_int("m", m, min_value=1)
    X, y = check_data("(X, y)", (X, y), min_n=m)
    phi = X if features is None else features
    if not isinstance(phi, torch.Tensor):
        raise TypeError(f"features must be a torch tensor of shape (n={X.shape[0]}, p), got {type(phi).__name__}")
    if phi.ndim != 2 or phi.shape[0] != X.shape[0]:
        raise ValueError(f"features must have shape (n={X.shape[0]}, p), got {tuple(phi.shape)}")
    phi = check_tensor("features", phi).detach()
    mu = phi.mean(0)
    sq_norms = (phi * phi).sum(1)
    target = mu.clone()  # c_t: what the next point's phi should be to hit mu exactly
    taken = torch.zeros(phi.shape[0], dtype=torch.bool, device=phi.device)
    idx = []
    for _ in range(m):
        cost = sq_norms - 2 * (phi @ target)
        if not bool(torch.isfinite(cost).all()):
            raise ValueError(f"herding_coreset: the features' scale (max |phi| = {peak(phi):.3g}) overflows "
                             f"{phi.dtype} in |phi_i|^2 - 2 <c_t, phi_i>: rescale them")
        i = int(torch.argmin(cost.masked_fill(taken, float("inf"))))
        idx.append(i)
        taken[i] = True
        target = target + mu - phi[i]
    sel = torch.tensor(idx, device=X.device)
    return X[sel], y[sel]
