"""Claim C1 (notebook 01): the distilled data carry span(U).  How much of the distilled inputs'
energy lies in span(U), how well the W1 they produce aligns with U, what the points look like in
U-coordinates, the spectra of the stage-1 gradients, and whether the distilled stage-1 gradient
is closer to the population gradient than the real-data gradient it was distilled from."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import pandas as pd
import torch

from ..baselines import random_subset
from ..distillers import distill_stage1, distill_state
from ..learners import TwoStageLearner, stage1_gradient
from ..metrics import alignment, energy_in_subspace, gradient_cosine, neuron_cosines, principal_angles
from ..tasks import MultiIndexTask
from ..theory import population_first_layer, population_stage1_gradient
from ..validation import check_int
from .repetitions import repetitions

__all__ = ["PROFILES", "EncodingTables", "run_encoding", "shared_noise_direction"]

_BASE = dict(d=32, r=2, width=512, n_train=8000, m1=8, m2=32, link="he2", n_seeds=3, steps1=300,
             steps2=200, lr=0.05, restarts=3, n_subsets=5, n_points_shown=300,
             denoise_n_grid=[2000, 8000, 32000], denoise_m1_grid=[8, 16])
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {**_BASE, "d": 16, "width": 256, "n_train": 3000, "m1": 8, "m2": 16, "n_seeds": 2,
              "steps1": 150, "steps2": 100, "n_points_shown": 200,
              "denoise_n_grid": [1000, 3000, 12000], "denoise_m1_grid": [8]},
    "book": dict(_BASE),
    "paper": {**_BASE, "n_seeds": 10, "denoise_n_grid": [1000, 2000, 4000, 8000, 16000, 32000, 64000],
              "denoise_m1_grid": [4, 8, 16, 32]},
}


@dataclass(frozen=True)
class EncodingTables:
    """The tidy tables of notebook 01.

    Attributes:
        sets: one row per (repetition, source[, subset]): energy of the points in span(U), the
            alignment and principal angles of the W1 they produce, cosine with G_pop.
        points: one row per point shown: U-coordinates, norm inside and outside span(U), label.
        spectra: one row per (repetition, matrix, k): eigenvalues of H, singular values of the
            stage-1 gradients G_pop, G_D and G_S, raw and relative to the largest.
        denoising: one row per (repetition, n, source, points): per-neuron cosine with G_pop of
            the real-data gradient on n points and of the distilled gradient on m1 points, the
            distilled gradient's cosine with the real one it matched, and the null level
            mean_j cos(G_S,j, G_D,j) cos(G_D,j, G_pop,j) it would have if its mismatch were noise-blind.
    """

    sets: pd.DataFrame
    points: pd.DataFrame
    spectra: pd.DataFrame
    denoising: pd.DataFrame


def shared_noise_direction(G: torch.Tensor, X: torch.Tensor, y: torch.Tensor, r: int) -> float:
    """|cos| between the (r+1)-th right singular vector of G and the real data's mean(y x).

    relu' = 1/2 + (an odd function), so every neuron's stage-1 gradient contains
    -(a_j / 2) mean_i(y_i x_i): zero in the population (E[y x] = E[grad g] = 0) but, on n points,
    a noise vector of size about sqrt(d/n) shared by all neurons -- a rank-one term a (x) v that
    shows up as the first singular value after the r of span(U).

    Args:
        G: a stage-1 gradient (width x d).
        X, y: the real data.
        r: rank of U.

    Returns:
        The |cosine| (1: that singular direction is exactly mean(y x)).
    """
    v = (y[:, None] * X).mean(0)
    direction = torch.linalg.svd(G, full_matrices=False).Vh[r]
    return float((direction @ v).abs() / v.norm())


def _describe(task: MultiIndexTask, G_pop: torch.Tensor, *, points: Optional[torch.Tensor] = None,
              start: Optional[torch.Tensor] = None, W1: Optional[torch.Tensor] = None,
              G: Optional[torch.Tensor] = None,
              real: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> dict[str, float]:
    """The measurements of one source; NaN where the source has no such object.  ``real`` (the
    real data) is given where G's shared noise direction is of interest (S1 and full data)."""
    nan = float("nan")
    out = dict.fromkeys(["energy", "start_energy", "displacement_energy", "displacement_ratio", "alignment",
                         "smallest_angle_deg", "largest_angle_deg", "cos_pop", "shared_noise_cos"], nan)
    if points is not None:
        out["energy"] = energy_in_subspace(points, task)
    if start is not None:
        out["start_energy"] = energy_in_subspace(start, task)
        out["displacement_energy"] = energy_in_subspace(points - start, task)
        out["displacement_ratio"] = float((points - start).norm() / start.norm())
    if W1 is not None:
        angles = torch.rad2deg(principal_angles(W1, task))
        out.update(alignment=alignment(W1, task), smallest_angle_deg=float(angles[0]),
                   largest_angle_deg=float(angles[-1]))
    if G is not None:
        out["cos_pop"] = gradient_cosine(G, G_pop)
    if real is not None:
        out["shared_noise_cos"] = shared_noise_direction(G, *real, task.r)
    return out


def _point_rows(Xs: torch.Tensor, ys: torch.Tensor, task: MultiIndexTask, which: str,
                common: dict[str, Any]) -> list[dict[str, Any]]:
    Z = Xs @ task.U.to(Xs).T
    orth = (Xs - Z @ task.U.to(Xs)).norm(dim=1)
    return [{**common, "set": which, "point": i, **{f"z{k + 1}": float(Z[i, k]) for k in range(task.r)},
             "norm_in": float(Z[i].norm()), "norm_orth": float(orth[i]), "label": float(ys[i])}
            for i in range(Xs.shape[0])]


def _spectrum_rows(values: torch.Tensor, matrix: str, common: dict[str, Any]) -> list[dict[str, Any]]:
    top = float(values[0])
    return [{**common, "matrix": matrix, "k": k + 1, "value": float(v), "relative": float(v) / top}
            for k, v in enumerate(values)]


def run_encoding(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, link: str, n_seeds: int,
                 steps1: int, steps2: int, lr: float, restarts: int, n_subsets: int, n_points_shown: int,
                 denoise_n_grid: list[int], denoise_m1_grid: list[int], seed: int,
                 progress: bool = False) -> EncodingTables:
    """Distil each repetition's real data with ``gm+kip`` and measure what the points encode.

    Sources in ``sets``: ``S1`` and ``S2`` (the distilled points), ``full data`` (all n_train real
    points), ``random m1 subset`` (``n_subsets`` random real subsets of m1 points, each used as
    stage-1 data) and ``population`` (W1 = rownorm(-G_pop), the infinite-data learner; no points).
    ``denoising`` distils stage 1 alone (``ddlib.distillers.distill_stage1``, the same S1 as ``distill``) from
    n real points for every n of ``denoise_n_grid`` and m1 of ``denoise_m1_grid``.

    Args:
        d, r, width, n_train, m1, m2, link: the problem and the headline distilled sizes.
        n_seeds: repetitions; repetition k uses base seed ``seed + k`` (``make_problem``).
        steps1, steps2, lr, restarts: distillation hyper-parameters (``ddlib.distill``).
        n_subsets: random real m1-subsets per repetition.
        n_points_shown: real points stored in ``points`` beside the distilled ones.
        denoise_n_grid, denoise_m1_grid: sizes of the denoising comparison.
        seed: base seed.
        progress: show a tqdm bar.

    Returns:
        ``EncodingTables`` of tidy DataFrames.
    """
    n_seeds = check_int("n_seeds", n_seeds, min_value=1)
    n_subsets = check_int("n_subsets", n_subsets, min_value=1)
    if not denoise_n_grid or not denoise_m1_grid:
        raise ValueError(f"denoise_n_grid and denoise_m1_grid must be non-empty lists, got "
                         f"{denoise_n_grid!r} and {denoise_m1_grid!r}")
    learner = TwoStageLearner()
    sets, points, spectra, denoising = [], [], [], []
    for rep in repetitions(seed=seed, n_seeds=n_seeds, d=d, r=r, width=width, n_train=n_train, link=link,
                           progress=progress):
        p = rep.problem
        task, net = p.task, p.net
        common = rep.record(m1=m1, m2=m2)
        G_pop = population_stage1_gradient(net, task)
        G_D = stage1_gradient(net.W, net.a, net.b, p.X, p.y, learner.chunk_size)

        state = distill_state(net, p.X, p.y, m1, m2, learner=learner, steps1=steps1, steps2=steps2, lr=lr,
                              restarts=restarts, seed=p.seeds["distill"], task=task)
        ds = state.distilled
        (X1, y1), (X2, y2) = ds.stage1, ds.stage2
        X1_start, X2_start = state.stage1.best_start().X, state.stage2.best_start().X
        G_S = stage1_gradient(net.W, net.a, net.b, X1, y1, None)
        W1 = {"S1": state.W1, "full data": learner.stage1(net, p.X, p.y),
              "population": population_first_layer(net, task)}
        base = {**common, "chance_energy": r / d, "chance_alignment": math.sqrt(r / d),
                "stage1_matching_loss": ds.metadata["stage1_matching_loss"]}
        real = (p.X, p.y)
        sets.append({**base, "source": "S1", "subset": 0, "n_points": m1,
                     **_describe(task, G_pop, points=X1, start=X1_start, W1=W1["S1"], G=G_S, real=real)})
        sets.append({**base, "source": "S2", "subset": 0, "n_points": m2,
                     **_describe(task, G_pop, points=X2, start=X2_start)})
        sets.append({**base, "source": "full data", "subset": 0, "n_points": n_train,
                     **_describe(task, G_pop, points=p.X, W1=W1["full data"], G=G_D, real=real)})
        sets.append({**base, "source": "population", "subset": 0, "n_points": 0,
                     **_describe(task, G_pop, W1=W1["population"], G=G_pop)})
        for j in range(n_subsets):
            Xr, yr = random_subset(p.X, p.y, m1, seed=p.seeds["subset"] + j)
            sets.append({**base, "source": "random m1 subset", "subset": j, "n_points": m1,
                         **_describe(task, G_pop, points=Xr, W1=learner.stage1(net, Xr, yr),
                                     G=stage1_gradient(net.W, net.a, net.b, Xr, yr, None))})

        shown = min(n_points_shown, n_train)
        points += _point_rows(X1, y1, task, "S1", common) + _point_rows(X2, y2, task, "S2", common)
        points += _point_rows(p.X[:shown], p.y[:shown], task, "real", common)

        H_eigenvalues = torch.linalg.eigvalsh(task.expected_hessian()).flip(0)
        spectra += _spectrum_rows(H_eigenvalues, "H (expected Hessian)", common)
        for name, G in [("G_pop (population)", G_pop), ("G_D (real, n)", G_D), ("G_S (distilled, m1)", G_S)]:
            spectra += _spectrum_rows(torch.linalg.svdvals(G), name, common)

        dcommon = {key: v for key, v in common.items() if key not in ("n_train", "m1", "m2")}
        for n in denoise_n_grid:
            Xn, yn = (p.X, p.y) if n == n_train else task.sample(n, seed=p.seeds["data"])
            G_n = G_D if n == n_train else stage1_gradient(net.W, net.a, net.b, Xn, yn, learner.chunk_size)
            cos_real_pop = neuron_cosines(G_n, G_pop)
            denoising.append({**dcommon, "n": n, "source": "real", "points": n, "cos_pop": gradient_cosine(G_n, G_pop),
                              "cos_real": 1.0, "cos_pop_null": float("nan"), "stage1_matching_loss": float("nan")})
            for a in denoise_m1_grid:
                if n == n_train and a == m1:
                    S, loss = (X1, y1), ds.metadata["stage1_matching_loss"]
                else:
                    res = distill_stage1(net, Xn, yn, a, steps=steps1, lr=lr, restarts=restarts,
                                         seed=p.seeds["distill"], learner=learner)
                    S, loss = res.best(), res.best_loss
                G = stage1_gradient(net.W, net.a, net.b, *S, None)
                cos_real = neuron_cosines(G, G_n)
                # If what G misses of G_n were unrelated to G_pop, cos(G, G_pop) would be about
                # cos(G, G_n) cos(G_n, G_pop), neuron by neuron: the null of "no denoising".
                denoising.append({**dcommon, "n": n, "source": "distilled", "points": a,
                                  "cos_pop": gradient_cosine(G, G_pop), "cos_real": float(cos_real.mean()),
                                  "cos_pop_null": float((cos_real * cos_real_pop).mean()),
                                  "stage1_matching_loss": loss})
    return EncodingTables(pd.DataFrame(sets), pd.DataFrame(points), pd.DataFrame(spectra), pd.DataFrame(denoising))
