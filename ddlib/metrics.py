"""Metrics measured on a trained network or a set of points: test risk, alignment of the first
layer with span(U), energy of inputs in span(U), principal angles, per-neuron cosines between
two stage-1 gradients, and the two ratios that place a set between random real points and the
full data (``gap_to_full_data``, ``gain_over_random``).  (Closed-form predictions live in
``ddlib.theory``; the effective data size n_eq in ``ddlib.effective_size``.)

The two ratios and DD-Ranking (Li et al. 2025, arXiv:2505.13300).  DD-Ranking scores a distilled
set of images by two differences of test *accuracy*: hard label recovery, HLR = Acc(real, hard
labels) - Acc(synthetic, hard labels), how far the set stays below the full data; and improvement
over random, IOR = Acc(synthetic, any labels) - Acc(random subset at the same compression, the
same evaluation), what the set adds over real points chosen at random.  Here the learner and its
evaluation are fixed, labels are real numbers, and the score is a normalised test *error* that
spans decades, so both become ratios of errors (log-differences):

- ``gap_to_full_data = error(set) / error(full data)``: HLR's analogue.  1 means the set does as
  well as all n real points (HLR = 0); above 1, how many times worse.
- ``gain_over_random = error(random, equal memory) / error(set)``: IOR's analogue.  1 means no
  better than random real points of the same floats (IOR = 0); above 1, how many times better.
  "Equal memory" means equal floats, (m1 + m2)(d + 1), and the random subset gets its best shot
  (its ridge tuned on validation data, ``ddlib.tuning``) -- IOR's "same evaluation".

Both are computed per repetition and summarised by their geometric mean with an interval on
logarithms (``ddlib.stats.geometric_interval``).  log gain + log gap = log(error(random) /
error(full)), the room between the two references, which does not depend on the set.
"""
from __future__ import annotations

from typing import Union

import torch

from .networks import TwoLayerNet, check_net
from .seeds import check_seed
from .tasks import MultiIndexTask, check_task
from .validation import check_float, check_int, check_tensor, require_finite

__all__ = [
    "shared_noise_direction",
    "best_rank_approximation",
    "participation_ratio",
    "top_direction_share",
    "test_mse",
    "alignment",
    "energy_in_subspace",
    "principal_angles",
    "neuron_cosines",
    "gradient_cosine",
    "gap_to_full_data",
    "gain_over_random",
]


def test_mse(net: TwoLayerNet, task: MultiIndexTask, n: int = 10_000, *, seed: int, clean: bool = False) -> float:
    """Test MSE on n fresh samples divided by the empirical Var y (1.0 = the zero predictor).

    With ``clean`` the target is the noiseless f*(x) (excess risk) instead of the noisy label.
    The samples are drawn in the network's dtype; a result that is not finite is a ValueError.
    """
    n = check_int("n", n, min_value=2)
    seed = check_seed("seed", seed)
    net = _check_same_d(net, task)
    X, y = task.sample(n, seed, dtype=net.dtype, device=net.device)
    target = task.f(X) if clean else y
    with torch.no_grad():
        err = ((net(X) - target) ** 2).mean()
    mse = float(err / target.var())
    require_finite(f"test_mse is not finite ({mse}): the network's predictions overflow {net.dtype} on the test "
                   f"sample, or the targets' variance is 0", mse)
    return mse


def _check_same_d(net: TwoLayerNet, task: MultiIndexTask) -> TwoLayerNet:
    check_task(task, net_d=check_net(net).d)
    return net.detach()


def _check_matrix(name: str, M: torch.Tensor, d: int) -> torch.Tensor:
    """M checked: a finite float32/float64 (k, d) tensor, detached."""
    if not isinstance(M, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(M).__name__}")
    if M.ndim != 2 or M.shape[1] != d:
        raise ValueError(f"{name} must have shape (k, d={d}), got {tuple(M.shape)}")
    return check_tensor(name, M).detach()


def _scaled(M: torch.Tensor) -> torch.Tensor:
    """M divided by its largest |entry| when its squares would overflow or underflow its dtype;
    M itself otherwise (and when it is all zeros), so ordinary inputs keep their exact arithmetic.
    Every metric here is invariant to the scale of its inputs."""
    peak = float(M.abs().max()) if M.numel() else 0.0
    info = torch.finfo(M.dtype)
    if peak == 0 or info.tiny ** 0.5 / info.eps <= peak <= (info.max / (4 * M.numel())) ** 0.5:
        return M
    return M / peak


def _nonzero_scaled(name: str, M: torch.Tensor, what: str) -> torch.Tensor:
    """``_scaled(M)``, refused when M is empty or all zeros (``what`` is then undefined)."""
    if not M.numel():
        raise ValueError(f"{name} is empty (shape {tuple(M.shape)}): its {what} is undefined")
    if not bool(M.any()):
        raise ValueError(f"{name} is all zeros: its {what} is undefined")
    return _scaled(M)


def _rows(net_or_W: Union[TwoLayerNet, torch.Tensor], task: MultiIndexTask) -> torch.Tensor:
    """A network's first layer W (or ``net_or_W`` itself), checked to be (k, task.d)."""
    W = net_or_W.W if isinstance(net_or_W, TwoLayerNet) else net_or_W
    return _check_matrix("W", W, check_task(task).d)


def alignment(net_or_W: Union[TwoLayerNet, torch.Tensor], task: MultiIndexTask) -> float:
    """``|W U^T|_F / |W|_F``: 1 when every neuron lies in span(U), about sqrt(r/d) at random.

    An all-zero W has no alignment: ValueError.
    """
    W = _nonzero_scaled("W", _rows(net_or_W, task), "alignment")
    return float((W @ task.U.to(W).T).norm() / W.norm())


def energy_in_subspace(X: torch.Tensor, task: MultiIndexTask) -> float:
    """``|X U^T|_F^2 / |X|_F^2``: the share of the inputs' energy in span(U) (chance level r/d).

    All-zero inputs have no energy to share: ValueError.
    """
    X = _nonzero_scaled("X", _check_matrix("X", X, check_task(task).d), "energy in span(U)")
    return float((X @ task.U.to(X).T).norm() ** 2 / X.norm() ** 2)


def principal_angles(net_or_W: Union[TwoLayerNet, torch.Tensor], task: MultiIndexTask,
                     k: int | None = None) -> torch.Tensor:
    """Principal angles (radians, ascending) between span(U) and the top-k right singular
    subspace of W (k = r by default, at most min(W.shape)).

    An all-zero W has no singular subspace: ValueError.
    """
    W = _nonzero_scaled("W", _rows(net_or_W, task), "singular subspace")
    k = check_int("k", task.r if k is None else k, min_value=1, max_value=min(W.shape))
    V = torch.linalg.svd(W, full_matrices=False).Vh[:k]
    cosines = torch.linalg.svdvals(V @ task.U.to(W).T).clamp(-1.0, 1.0)
    return torch.arccos(cosines).sort().values


def neuron_cosines(G: torch.Tensor, G_ref: torch.Tensor) -> torch.Tensor:
    """cos(G_j, G_ref_j) for every neuron j (row); a zero row counts as cosine 0, not NaN (with very
    few synthetic points some neurons are switched on by none, and their gradient row is 0).

    G and G_ref: finite float32/float64 tensors of one shape (..., L, d), at least 1-D; on the same device.
    """
    G, G_ref = (check_tensor(name, t).detach() for name, t in (("G", G), ("G_ref", G_ref)))
    if G.ndim < 1 or G.shape != G_ref.shape:
        raise ValueError(f"G and G_ref must be tensors of one shape, at least 1-D, got {tuple(G.shape)} and "
                         f"{tuple(G_ref.shape)}")
    G, G_ref = _scaled(G), _scaled(G_ref)
    num = (G * G_ref).sum(-1)
    den = G.norm(dim=-1) * G_ref.norm(dim=-1)
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(G.dtype).tiny), torch.zeros_like(num))


def gradient_cosine(G: torch.Tensor, G_ref: torch.Tensor) -> float:
    """Mean over neurons of cos(G_j, G_ref_j); a zero row counts as cosine 0."""
    cosines = neuron_cosines(G, G_ref)
    if not cosines.numel():
        raise ValueError(f"gradient_cosine needs at least one neuron (row), got G of shape {tuple(G.shape)}")
    return float(cosines.mean())


def _error(name: str, value: float) -> float:
    return check_float(name, value, strictly_positive=True)


def gap_to_full_data(set_error: float, full_error: float) -> float:
    """``set_error / full_error``: 1 when the set does as well as the full data (DD-Ranking's HLR = 0),
    above 1 when worse.  Both are test errors of one repetition (e.g. ``test_mse``), > 0."""
    ratio = _error("set_error", set_error) / _error("full_error", full_error)
    require_finite(f"gap_to_full_data overflows: set_error={set_error!r} / full_error={full_error!r}", ratio)
    return ratio


def gain_over_random(set_error: float, random_error: float) -> float:
    """``random_error / set_error``: above 1 when the set beats random real points of equal memory
    (DD-Ranking's IOR > 0), 1 when it does not.  Both are test errors of one repetition, > 0."""
    ratio = _error("random_error", random_error) / _error("set_error", set_error)
    require_finite(f"gain_over_random overflows: random_error={random_error!r} / set_error={set_error!r}", ratio)
    return ratio


def shared_noise_direction(G: torch.Tensor, X: torch.Tensor, y: torch.Tensor, r: int) -> float:
    """``|cos|`` between the (r+1)-th right singular vector of G and the real data's mean(y x).

    relu' = 1/2 + (an odd function), so every neuron's stage-1 gradient contains
    -(a_j / 2) mean_i(y_i x_i): zero in the population (E[y x] = E[grad g] = 0) but, on n points,
    a noise vector of size about sqrt(d/n) shared by all neurons -- a rank-one term a (x) v that
    shows up as the first singular value after the r of span(U).

    Args:
        G: a stage-1 gradient (width x d).
        X, y: the real data.
        r: rank of U.

    Returns:
        The absolute cosine (1 when that singular direction is exactly mean(y x)).
    """
    v = (y[:, None] * X).mean(0)
    direction = torch.linalg.svd(G, full_matrices=False).Vh[r]
    return float((direction @ v).abs() / v.norm())


def best_rank_approximation(G: torch.Tensor, k: int) -> torch.Tensor:
    """The best rank-k approximation of G (Eckart-Young: its top-k singular triplets).

    The null of the denoising comparison: a distilled gradient on m1 points has rank at most m1,
    and so does this truncation of the real gradient, which keeps its top directions and drops
    the rest -- noise and the population gradient's own small directions alike.
    """
    k = check_int("k", k, min_value=0)
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


def participation_ratio(M: torch.Tensor) -> float:
    """(sum s^2)^2 / sum s^4 over the singular values s of M: how many directions M really spans."""
    s2 = torch.linalg.svdvals(M) ** 2
    return float(s2.sum() ** 2 / (s2 * s2).sum())


def top_direction_share(W: torch.Tensor) -> float:
    """Share of ``|W|_F^2`` in W's top singular direction: 1 when every neuron points the same way."""
    s = torch.linalg.svdvals(W)
    return float(s[0] ** 2 / (s ** 2).sum())
