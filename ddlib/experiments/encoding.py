"""Claim C1 (notebook 01): the distilled data carry span(U).  How much of the distilled inputs'
energy lies in span(U), how well the W1 they produce aligns with U, what the points look like in
U-coordinates, the spectra of the stage-1 gradients, and how close the distilled stage-1 gradient
comes to the population gradient beside the best rank-m1 approximation of the real-data gradient
it was distilled from (the null of "distillation denoises").  The encoding claims are run again on
further links (``links``) on the same repetitions' seeds: ``aniso``; ``quad``, whose spread spectrum
of H adds a claim on its weakest direction (principal angles beside the infinite-data first
layer's); and ``he3``, against the closed-form pure-noise share of ``ddlib.theory``.

Every energy claim compares S1 with its link's **pure-noise level**, not with the chance share
r/d (distilling from a gradient that is pure sampling noise already puts more than chance in
span(U)): for ``he3`` the closed form ``ddlib.theory.he3_noise_energy``; for every other link the
energy of the S1 that the same distiller gives on the same inputs with the labels permuted by a
fixed seeded permutation (``null_energy``, measured in the same repetition).  Every threshold is
fixed before the data (``CheckSpec.origin``), and every claim names its negative control
(``CONTROLS``, ``ddlib.book.controls``).

The claims are declared (``plan``: one ``ClaimDecl`` per claim, its checks keyed per link as
``"energy@aniso"``, its regime as ``"headline"``, ``"link:aniso"``, ``"weakest:quad"`` or
``"control:he3"``), and decided by ``ddlib.book.claims.claims_of`` from ``measures``, ``regimes``
and ``check_spec``."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pandas as pd
import torch

from ..baselines import random_subset
from ..book.claims import CheckSpec, ClaimDecl, Precondition
from ..book.controls import Control
from ..distillers import distill_stage1, distill_state
from ..learners import TwoStageLearner, stage1_gradient
from ..metrics import (alignment, best_rank_approximation, energy_in_subspace, gradient_cosine, principal_angles,
                       shared_noise_direction, test_mse)
from ..tasks import QUAD_CONDITION, MultiIndexTask, get_link
from ..theory import he3_noise_alignment, he3_noise_energy, population_first_layer, population_stage1_gradient
from ..validation import check_int
from .parameters import Parameters
from .regime import LEARNS, enough_stage1_points, full_data_learns, learnable_link
from .repetitions import repetition, repetitions

__all__ = ["PARAMETERS", "PROFILES", "CHECKS", "CONTROLS", "DENOISING", "NULL_PERMUTATION_OFFSET", "LEARNS",
           "CALIBRATED_LINKS", "WEAKEST", "CONTROL", "WEAKEST_RECOVERED_DEG",
           "EncodingTables", "run", "run_encoding", "further_links", "summarise", "measures", "link_values",
           "denoising_checks", "check_spec",
           "regimes", "plan"]

# The notebook's parameters, declared once: (name, value at the book profile, help).
PARAMETERS = Parameters(
    ("d", 32, "input dimension"),
    ("r", 2, "intrinsic dimension, rank of U"),
    ("width", 512, "network width L"),
    ("n_train", 8000, "real training points"),
    ("m1", 8, "stage-1 distilled points"),
    ("m2", 32, "stage-2 distilled points"),
    ("link", "he2", '"he2" | "aniso" | "quad" | "he3"'),
    ("n_seeds", 5, "repetitions"),
    ("steps1", 300, "stage-1 distillation steps"),
    ("steps2", 200, "stage-2 distillation steps"),
    ("lr", 0.05, "distillation learning rate"),
    ("restarts", 3, "distillation restarts"),
    ("n_subsets", 5, "random real m1-subsets per repetition"),
    ("n_points_shown", 300, "real points stored beside the distilled ones (points table)"),
    ("n_test", 5000, "test points for the full-data learner"),
    ("denoise_n_grid", [2000, 8000, 32000], "n of the denoising grid"),
    ("denoise_m1_grid", [8, 16], "m1 of the denoising grid"),
    ("links", ["aniso", "quad", "he3"], "further links run beside link"),
)
PROFILES: dict[str, dict[str, Any]] = PARAMETERS.profiles(
    smoke={"d": 16, "width": 256, "n_train": 3000, "m2": 16, "n_seeds": 3, "steps1": 150, "steps2": 100,
           "n_points_shown": 200, "n_test": 2000, "denoise_n_grid": [1000, 3000, 12000], "denoise_m1_grid": [8]},
    paper={"n_seeds": 10, "denoise_n_grid": [1000, 2000, 4000, 8000, 16000, 32000, 64000],
           "denoise_m1_grid": [4, 8, 16, 32]},
)


@dataclass(frozen=True)
class EncodingTables:
    """The tidy tables of notebook 01.

    Attributes:
        sets: one row per (repetition, source[, subset]): energy of the points in span(U), the
            alignment and principal angles of the W1 they produce, cosine with G_pop (for S1 also
            that of the rank-m1 truncation of the real gradient, and the link's measured pure-noise
            level: ``null_energy`` and ``null_alignment`` of the S1 distilled from shuffled labels,
            ``_shuffled_null``, on every link but he3; for the full data the learner's test MSE).
            A set the optimiser left where it started has displacement ratio 0 and NaN
            displacement energy.
        points: one row per point shown: U-coordinates, norm inside and outside span(U), label.
        spectra: one row per (repetition, matrix, k): eigenvalues of H, singular values of the
            stage-1 gradients G_pop, G_D and G_S, raw and relative to the largest.
        denoising: one row per (repetition, n, source, points): per-neuron cosine with G_pop of
            the real-data gradient on n points and of the distilled gradient on m1 points, the
            distilled gradient's cosine with the real one it matched, and (``cos_pop_trunc``) the
            cosine with G_pop of the best rank-m1 approximation of that real gradient: the null a
            denoising claim must beat.
        links: the ``sets`` rows of the further links (column ``link``), on the same repetitions'
            seeds (same U, theta0 and inputs; the labels differ): sources ``S1``, ``full data``,
            ``random m1 subset`` and ``population`` (no stage 2), with the closed forms the link
            has (``noise_energy``, ``noise_alignment``: what pure sampling noise gives, for ``he3``),
            and on the other links S1's measured pure-noise level (``null_energy``, ``null_alignment``).
    """

    sets: pd.DataFrame
    points: pd.DataFrame
    spectra: pd.DataFrame
    denoising: pd.DataFrame
    links: pd.DataFrame

    def as_tables(self) -> dict[str, pd.DataFrame]:
        """The five tables by name, ``sets`` first (``provenance.write_notebook_results``)."""
        return {"sets": self.sets, "points": self.points, "spectra": self.spectra, "denoising": self.denoising,
                "links": self.links}


def _describe(task: MultiIndexTask, G_pop: torch.Tensor, *, points: Optional[torch.Tensor] = None,
              start: Optional[torch.Tensor] = None, W1: Optional[torch.Tensor] = None,
              G: Optional[torch.Tensor] = None,
              real: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> dict[str, float]:
    """The measurements of one source; NaN where the source has no such object.  ``real`` (the
    real data) is given where the shared noise direction mean(y x) is of interest (S1 and full
    data): as G's singular direction r + 1, and as W1's r-th, the slot of the weakest direction.

    Points an optimiser left where they started (``points == start``, e.g. with no distillation
    step) are a measurement, not an error: their displacement ratio is 0 and the energy of their
    displacement, which has no direction, is NaN; the energy of the set itself is measured as ever."""
    nan = float("nan")
    out = dict.fromkeys(["energy", "start_energy", "displacement_energy", "displacement_ratio", "alignment",
                         "smallest_angle_deg", "largest_angle_deg", "cos_pop", "shared_noise_cos",
                         "weak_slot_noise_cos"], nan)
    if points is not None:
        out["energy"] = energy_in_subspace(points, task)
    if start is not None:
        out["start_energy"] = energy_in_subspace(start, task)
        moved = points - start
        out["displacement_energy"] = energy_in_subspace(moved, task) if bool(moved.any()) else nan
        out["displacement_ratio"] = float(moved.norm() / start.norm())
    if W1 is not None and bool(W1.any()):
        angles = torch.rad2deg(principal_angles(W1, task))
        out.update(alignment=alignment(W1, task), smallest_angle_deg=float(angles[0]),
                   largest_angle_deg=float(angles[-1]))
    if G is not None:
        out["cos_pop"] = gradient_cosine(G, G_pop)
    if real is not None and task.r < min(G.shape):
        out["shared_noise_cos"] = shared_noise_direction(G, *real, task.r)
    if real is not None and W1 is not None and bool(W1.any()):
        # Which direction holds W1's r-th (weakest) singular slot: |cos| with the shared noise mean(y x).
        out["weak_slot_noise_cos"] = shared_noise_direction(W1, *real, task.r - 1)
    return out


def _point_rows(Xs: torch.Tensor, ys: torch.Tensor, task: MultiIndexTask, which: str,
                common: dict[str, Any]) -> list[dict[str, Any]]:
    Z = Xs @ task.U.to(Xs).T
    orth = (Xs - Z @ task.U.to(Xs)).norm(dim=1)
    return [{**common, "set": which, "point": i, **{f"z{k + 1}": float(Z[i, k]) for k in range(task.r)},
             "norm_in": float(Z[i].norm()), "norm_orth": float(orth[i]), "label": float(ys[i])}
            for i in range(Xs.shape[0])]


def _spectrum_rows(values: torch.Tensor, matrix: str, common: dict[str, Any]) -> list[dict[str, Any]]:
    top = float(values[0])  # 0 for he3's population gradient: no relative spectrum
    return [{**common, "matrix": matrix, "k": k + 1, "value": float(v),
             "relative": float(v) / top if top > 0 else float("nan")}
            for k, v in enumerate(values)]


def _reference_rows(p, learner: TwoStageLearner, G_pop: torch.Tensor, G_D: torch.Tensor, *, m1: int,
                    n_subsets: int, n_test: int) -> list[dict[str, Any]]:
    """The ``sets`` rows of the references of one repetition: the full-data learner (with its test
    MSE), the infinite-data first layer rownorm(-G_pop) (zero rows, hence NaN, for ``he3``) and
    ``n_subsets`` random real m1-subsets used as stage-1 data."""
    task, net = p.task, p.net
    full = learner.fit(net, (p.X, p.y))
    rows = [{"source": "full data", "subset": 0, "n_points": p.X.shape[0],
             "test_mse": test_mse(full, task, n_test, seed=p.seeds["test"]),
             **_describe(task, G_pop, points=p.X, W1=full.W, G=G_D, real=(p.X, p.y))},
            {"source": "population", "subset": 0, "n_points": 0,
             **_describe(task, G_pop, W1=population_first_layer(net, task), G=G_pop)}]
    for j in range(n_subsets):
        Xr, yr = random_subset(p.X, p.y, m1, seed=p.seeds["subset"] + j)
        rows.append({"source": "random m1 subset", "subset": j, "n_points": m1,
                     **_describe(task, G_pop, points=Xr, W1=learner.stage1(net, Xr, yr),
                                 G=stage1_gradient(net.W, net.a, net.b, Xr, yr, None))})
    return rows


def _s1_row(p, G_pop: torch.Tensor, G_D: torch.Tensor, S1, start: torch.Tensor, W1: torch.Tensor,
            m1: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """S1's stage-1 gradient and its ``sets`` row (with the cosine with G_pop of the rank-m1
    truncation of the real gradient beside its own)."""
    task, net = p.task, p.net
    G_S = stage1_gradient(net.W, net.a, net.b, *S1, None)
    return G_S, {"source": "S1", "subset": 0, "n_points": m1,
                 "cos_pop_trunc": gradient_cosine(best_rank_approximation(G_D, m1), G_pop),
                 **_describe(task, G_pop, points=S1[0], start=start, W1=W1, G=G_S, real=(p.X, p.y))}


NULL_PERMUTATION_OFFSET = 7_919  # the null's permutation seed: the repetition's distillation seed plus this


def _shuffled_null(p, learner: TwoStageLearner, *, m1: int, steps: int, lr: float,
                   restarts: int) -> dict[str, float]:
    """The link's pure-noise level, measured: the same stage-1 distiller (same seed, same restarts,
    same inputs) run on the repetition's real data with its labels permuted by a fixed seeded
    permutation, so that no input carries information about its label.  Returns the energy in
    span(U) of that S1 (``null_energy``) and the alignment of the W1 it gives (``null_alignment``)."""
    task, net = p.task, p.net
    g = torch.Generator().manual_seed(int(p.seeds["distill"]) + NULL_PERMUTATION_OFFSET)
    y = p.y[torch.randperm(len(p.y), generator=g).to(p.y.device)]
    G = stage1_gradient(net.W, net.a, net.b, p.X, y, learner.chunk_size)
    S = distill_stage1(net, p.X, y, m1, steps=steps, lr=lr, restarts=restarts, seed=p.seeds["distill"],
                       learner=learner, G_D=G).best()
    W1 = learner.stage1(net, *S)
    return {"null_energy": energy_in_subspace(S[0], task),
            "null_alignment": alignment(W1, task) if bool(W1.any()) else float("nan")}


def _headline(p, learner: TwoStageLearner, G_pop: torch.Tensor, G_D: torch.Tensor, *, m1: int, m2: int,
              n_subsets: int, n_test: int, distill_options: dict[str, Any]):
    """One repetition at the headline sizes: the distillation state, G_S and the ``sets`` rows."""
    task, net = p.task, p.net
    state = distill_state(net, p.X, p.y, m1, m2, learner=learner, seed=p.seeds["distill"], task=task,
                          **distill_options)
    ds = state.distilled
    G_S, s1 = _s1_row(p, G_pop, G_D, ds.stage1, state.stage1.best_start().X, state.W1, m1)
    s2 = {"source": "S2", "subset": 0, "n_points": m2,
          **_describe(task, G_pop, points=ds.stage2[0], start=state.stage2.best_start().X)}
    return state, G_S, [s1, s2] + _reference_rows(p, learner, G_pop, G_D, m1=m1, n_subsets=n_subsets,
                                                  n_test=n_test)


def _closed_forms(task: MultiIndexTask) -> dict[str, float]:
    """What pure sampling noise gives for ``he3`` (G_pop = 0): the energy share of the real
    gradient in span(U) and the alignment of its first layer (``ddlib.theory``); NaN otherwise."""
    he3 = task.link == "he3"
    return {"noise_energy": he3_noise_energy(task.d, task.r) if he3 else float("nan"),
            "noise_alignment": he3_noise_alignment(task.d, task.r) if he3 else float("nan")}


def _further_link(p, learner: TwoStageLearner, *, m1: int, n_subsets: int, n_test: int, steps: int, lr: float,
                  restarts: int) -> list[dict[str, Any]]:
    """One repetition on a further link: stage 1 of ``gm+kip`` alone (``distill_stage1``, the S1
    ``distill`` would give for the same seed) and the references -- what the encoding claims
    read; stage 2 is not run."""
    G_pop = population_stage1_gradient(p.net, p.task)
    G_D = stage1_gradient(p.net.W, p.net.a, p.net.b, p.X, p.y, learner.chunk_size)
    res = distill_stage1(p.net, p.X, p.y, m1, steps=steps, lr=lr, restarts=restarts, seed=p.seeds["distill"],
                         learner=learner, G_D=G_D)
    S1 = res.best()
    _, s1 = _s1_row(p, G_pop, G_D, S1, res.best_start().X, learner.stage1(p.net, *S1), m1)
    if p.task.link != CONTROL:  # he3's pure-noise level is a closed form (``_closed_forms``)
        s1.update(_shuffled_null(p, learner, m1=m1, steps=steps, lr=lr, restarts=restarts))
    rows = [s1] + _reference_rows(p, learner, G_pop, G_D, m1=m1, n_subsets=n_subsets, n_test=n_test)
    return [{**_closed_forms(p.task), "stage1_matching_loss": res.best_loss, **row} for row in rows]


def _denoising(p, learner: TwoStageLearner, G_pop: torch.Tensor, G_D: torch.Tensor, S1, *, m1: int,
               n_grid: list[int], m1_grid: list[int], steps: int, lr: float, restarts: int) -> list[dict[str, Any]]:
    """One repetition's ``denoising`` rows: for each n, the real gradient on the first n points;
    for each m1 of the grid, stage 1 distilled from them and the rank-m1 truncation of the real
    gradient, each with its per-neuron cosine with G_pop."""
    task, net = p.task, p.net
    n_train = p.X.shape[0]
    rows = []
    for n in n_grid:
        Xn, yn = (p.X, p.y) if n == n_train else task.sample(n, seed=p.seeds["data"])
        G_n = G_D if n == n_train else stage1_gradient(net.W, net.a, net.b, Xn, yn, learner.chunk_size)
        rows.append({"n": n, "source": "real", "points": n, "cos_pop": gradient_cosine(G_n, G_pop),
                     "cos_real": 1.0, "cos_pop_trunc": float("nan"), "stage1_matching_loss": float("nan")})
        for a in m1_grid:
            if n == n_train and a == m1:
                (S, loss) = S1
            else:
                res = distill_stage1(net, Xn, yn, a, steps=steps, lr=lr, restarts=restarts,
                                     seed=p.seeds["distill"], learner=learner, G_D=G_n)
                S, loss = res.best(), res.best_loss
            G = stage1_gradient(net.W, net.a, net.b, *S, None)
            rows.append({"n": n, "source": "distilled", "points": a, "cos_pop": gradient_cosine(G, G_pop),
                         "cos_real": gradient_cosine(G, G_n),
                         "cos_pop_trunc": gradient_cosine(best_rank_approximation(G_n, a), G_pop),
                         "stage1_matching_loss": loss})
    return rows


_LINK_COLUMNS = ["link", "repetition", "source", "subset", "energy", "alignment", "smallest_angle_deg",
                 "largest_angle_deg", "test_mse", "chance_energy", "chance_alignment", "noise_energy",
                 "noise_alignment", "null_energy", "null_alignment"]


def further_links(link: str, links: list[str]) -> list[str]:
    """The further links to run beside the headline ``link``: ``links`` in order, each registered
    (ValueError otherwise, listing them), without ``link`` itself and without repeats."""
    if not isinstance(links, (list, tuple)):
        raise TypeError(f"links must be a list of link names, got {type(links).__name__}")
    for name in links:
        get_link(name)
    return [name for name in dict.fromkeys(links) if name != link]


def run_encoding(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, link: str, n_seeds: int,
                 steps1: int, steps2: int, lr: float, restarts: int, n_subsets: int, n_points_shown: int,
                 n_test: int, denoise_n_grid: list[int], denoise_m1_grid: list[int], links: list[str], seed: int,
                 progress: bool = False) -> EncodingTables:
    """Distil each repetition's real data with ``gm+kip`` and measure what the points encode.

    Sources in ``sets``: ``S1`` and ``S2`` (the distilled points), ``full data`` (all n_train real
    points; its row carries the full-data learner's test MSE), ``random m1 subset`` (``n_subsets``
    random real subsets of m1 points, each used as stage-1 data) and ``population`` (W1 =
    rownorm(-G_pop), the infinite-data learner; no points).  ``S1``'s row also carries
    ``cos_pop_trunc``, the cosine with G_pop of the best rank-m1 approximation of the real gradient,
    and on every link but ``he3`` the link's pure-noise level, measured: the same stage-1 distiller
    on the same inputs with the labels permuted (``_shuffled_null``).
    ``denoising`` distils stage 1 alone (``ddlib.distillers.distill_stage1``, the same S1 as
    ``distill``) from the first n real points of the repetition's draw for every n of
    ``denoise_n_grid`` and m1 of ``denoise_m1_grid``.  ``links`` holds the rows of the further
    links (``further_links``), each run on the same repetitions' seeds: stage 1 alone and the
    references, no stage 2, no spectra, no denoising grid.

    Args:
        d, r, width, n_train, m1, m2, link: the problem and the headline distilled sizes.
        n_seeds: repetitions; repetition k uses base seed ``seed + k`` (``make_problem``).
        steps1, steps2, lr, restarts: distillation hyper-parameters (``ddlib.distill``).
        n_subsets: random real m1-subsets per repetition.
        n_points_shown: real points stored in ``points`` beside the distilled ones.
        n_test: fresh test points for the full-data learner's test MSE.
        denoise_n_grid, denoise_m1_grid: sizes of the denoising comparison.
        links: further links run beside ``link`` (registered names; ``link`` itself and repeats
            are skipped).
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
    others = further_links(link, links)
    learner = TwoStageLearner()
    options = dict(steps1=steps1, steps2=steps2, lr=lr, restarts=restarts)
    sets, points, spectra, denoising, further = [], [], [], [], []
    for rep in repetitions(seed=seed, n_seeds=n_seeds, d=d, r=r, width=width, n_train=n_train, link=link,
                           progress=progress):
        p = rep.problem
        common = rep.record(m1=m1, m2=m2)
        G_pop = population_stage1_gradient(p.net, p.task)
        G_D = stage1_gradient(p.net.W, p.net.a, p.net.b, p.X, p.y, learner.chunk_size)
        state, G_S, rows = _headline(p, learner, G_pop, G_D, m1=m1, m2=m2, n_subsets=n_subsets, n_test=n_test,
                                     distill_options=options)
        ds = state.distilled
        if p.task.link != CONTROL:  # the S1 row: beside it, the link's pure-noise level, measured
            rows[0].update(_shuffled_null(p, learner, m1=m1, steps=steps1, lr=lr, restarts=restarts))
        base = {**common, "chance_energy": r / d, "chance_alignment": math.sqrt(r / d),
                "stage1_matching_loss": ds.metadata["stage1_matching_loss"]}
        sets += [{**base, "test_mse": float("nan"), "cos_pop_trunc": float("nan"), **row} for row in rows]

        shown = min(n_points_shown, n_train)
        (X1, y1), (X2, y2) = ds.stage1, ds.stage2
        points += _point_rows(X1, y1, p.task, "S1", common) + _point_rows(X2, y2, p.task, "S2", common)
        points += _point_rows(p.X[:shown], p.y[:shown], p.task, "real", common)

        H_eigenvalues = torch.linalg.eigvalsh(p.task.expected_hessian()).flip(0)
        spectra += _spectrum_rows(H_eigenvalues, "H (expected Hessian)", common)
        for name, G in [("G_pop (population)", G_pop), ("G_D (real, n)", G_D), ("G_S (distilled, m1)", G_S)]:
            spectra += _spectrum_rows(torch.linalg.svdvals(G), name, common)

        dcommon = {key: v for key, v in common.items() if key not in ("n_train", "m1", "m2")}
        S1 = (ds.stage1, ds.metadata["stage1_matching_loss"])
        denoising += [{**dcommon, **row} for row in _denoising(
            p, learner, G_pop, G_D, S1, m1=m1, n_grid=denoise_n_grid, m1_grid=denoise_m1_grid, steps=steps1, lr=lr,
            restarts=restarts)]
        for other in others:
            again = repetition(rep.index, seed, d=d, r=r, width=width, n_train=n_train, link=other)
            further += [{**again.record(m1=m1, m2=m2), "chance_energy": r / d, "chance_alignment": math.sqrt(r / d),
                         "test_mse": float("nan"), "cos_pop_trunc": float("nan"), **row}
                        for row in _further_link(again.problem, learner, m1=m1, n_subsets=n_subsets, n_test=n_test,
                                                 steps=steps1, lr=lr, restarts=restarts)]
    return EncodingTables(pd.DataFrame(sets), pd.DataFrame(points), pd.DataFrame(spectra), pd.DataFrame(denoising),
                          pd.DataFrame(further, columns=list(further[0]) if further else _LINK_COLUMNS))


# ----------------------------------------------------------------------------------------------
# Claims: each check's quantity per repetition (``measures``), the regimes, the declarations
# ----------------------------------------------------------------------------------------------

run = run_encoding
CALIBRATED_LINKS = ("aniso", "quad")  # further links with their own encoding checks (``_spec``; named per link)
WEAKEST = ("quad",)  # further links whose weakest direction of H gets its own claim (spread spectrum)
CONTROL = "he3"  # the further link with a closed-form pure-noise share (``ddlib.theory.he3_noise_energy``)
WEAKEST_RECOVERED_DEG = 45.0  # a direction is recovered when the subspace holds more than half of it (cos^2 > 1/2)

# Every threshold is fixed before the data, by its origin (``CheckSpec.origin``), the same on every page.
_NULL = ("twice the link's pure-noise level, the convention for 'carries span(U)': the energy of S1 over that of the "
         "S1 the same distiller gives on the same inputs and seeds with the labels permuted by a fixed seeded "
         "permutation (a label-shuffled distillation)")
_NONINF = ("non-inferiority at the field's 80-125% equivalence margin ('not worse than'): the ratio, higher being "
           "better, at least 1/1.25 = 0.8")
_NONINF_ERR = ("non-inferiority at the field's 80-125% equivalence margin ('without adding to it'): the ratio of "
               "angles, lower being better, at most 1.25")
_SUPER = ("superiority over a baseline ('better than'): the ratio above 1 with its whole 95% interval; the paper "
          "names no factor")
_HALF = ("'does not recover' as 'does not learn' (captures at most half): cos^2 of the largest principal angle at "
         "most 1/2, i.e. the angle at least 45 degrees")
_TOST = ("equivalence to the closed form at the field's 80-125% margin ('holds the share noise puts there'): two "
         "checks, >= 0.8 and <= 1.25")


def _encoding_specs(prefix: str = "") -> dict[str, CheckSpec]:
    return {"energy": CheckSpec(f"{prefix}energy of S1 in span(U) / that of S1 distilled from shuffled labels", ">=",
                                2.0, _NULL, geometric=True, origin="convention"),
            "align_full": CheckSpec(f"{prefix}alignment of W1 from S1 / from all n real points", ">=", 0.8, _NONINF,
                                    origin="convention"),
            "align_random": CheckSpec(f"{prefix}alignment of W1 from S1 / from m1 random real points", ">=", 1.0,
                                      _SUPER, origin="convention")}


CHECKS: dict[str, CheckSpec] = {
    **_encoding_specs(),
    "truncation": CheckSpec("cos with G_pop: distilled / rank-m1 truncation of G_D, at n_train", ">=", 0.8, _NONINF,
                            origin="convention"),
    **{f"{k}_{link}": spec for link in CALIBRATED_LINKS for k, spec in _encoding_specs(f"{link}: ").items()},
    "weakest_data": CheckSpec("quad: largest principal angle to U of W1 from all n real points (deg)", ">=",
                              WEAKEST_RECOVERED_DEG, _HALF, origin="convention"),
    "weakest_s1": CheckSpec("quad: largest principal angle to U of W1 from S1 (deg)", ">=", WEAKEST_RECOVERED_DEG,
                            _HALF, origin="convention"),
    "weakest_full": CheckSpec("quad: largest principal angle to U, W1 from S1 / from all n real points", "<=", 1.25,
                              _NONINF_ERR, geometric=True, origin="convention"),
    "noise_hi": CheckSpec("he3: energy of S1 in span(U) / pure-noise share (r+6)/(d+6)", "<=", 1.25, _TOST,
                          geometric=True, origin="convention"),
    "noise_lo": CheckSpec("he3: energy of S1 in span(U) / pure-noise share (r+6)/(d+6)", ">=", 0.8, _TOST,
                          geometric=True, origin="convention"),
}
# The denoising comparison along n, in the direction a denoising claim asserts (the distilled
# gradient closer to G_pop than the truncated real gradient: superiority).  Reported beside the
# claims, with the verdict it would get, and not counted: it is not a claim this page makes.
DENOISING = CheckSpec("cos with G_pop: distilled / rank-m1 truncation of G_D", ">=", 1.0, _SUPER, origin="convention")

# The negative controls (``ddlib.book.controls``; they run at the smoke profile).  With every
# distiller's optimiser step disabled, S1 is the real points it started from, and so is the S1 of
# the shuffled-label null: every encoding claim must fail.  Ten repetitions, because the energy of
# a set of m1 random points scatters by tens of percent, so that three would leave a ratio near 1
# undecided.  With 32 times the smoke profile's real points the full-data learner recovers quad's
# weakest direction, so the claim that it is lost with the data must fail.
CONTROLS: dict[str, Control] = {
    "no distillation steps": Control(
        "no distillation steps (10 repetitions): S1 is the real points the distiller started from",
        sabotage="no distillation steps", parameters={"n_seeds": 10}),
    "more real data": Control("96,000 real points (32x the smoke profile's): enough for the full-data learner "
                              "to recover quad's weakest direction", parameters={"n_train": 96_000}),
}
_CONTROL_OF = {"weakest": "more real data"}  # a claim's control by its kind; "no distillation steps" otherwise


def _spec(key: str, link: str) -> CheckSpec:
    """The check ``key`` on a further ``link``: the spec named for that link where there is one (the
    default links), the headline's otherwise (a reader's link; the thresholds are the same)."""
    return CHECKS.get(f"{key}_{link}", CHECKS[key])


def check_spec(key: str) -> CheckSpec:
    """The spec of a check of ``plan``: ``CHECKS[key]`` for a headline check; for a check on a
    further link, keyed ``"<check>@<link>"``, the link's own spec of an encoding check where there
    is one (``_spec``: ``energy_aniso`` for ``"energy@aniso"``), the shared spec otherwise (the
    headline's for a reader's link, the weakest-direction and he3 checks)."""
    check, _, link = key.partition("@")
    return _spec(check, link) if link and check in _KEYS["encoding"] else CHECKS[check]


def _by_repetition(sets: pd.DataFrame, source: str) -> pd.DataFrame:
    return sets[sets.source == source].groupby("repetition").mean(numeric_only=True)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """``frame[name]``, or NaN for every row where the table has no such column (e.g. no null
    distillation on the he3 link, no closed form on the others)."""
    return frame[name] if name in frame else pd.Series(math.nan, index=frame.index, dtype=float)


def _values(series: pd.Series) -> list[float]:
    """Every repetition's value, undefined ones included (a NaN makes its check inconclusive)."""
    return [float(x) for x in series]


def _encoding_values(sets: pd.DataFrame) -> dict[str, pd.Series]:
    """Per repetition, the encoding quantities of one link's rows: S1's energy over the link's
    measured pure-noise level (the energy of S1 distilled from shuffled labels, ``null_energy``),
    and the alignment of S1's W1 over the full-data learner's and over the random subsets' (mean)."""
    s1, full = _by_repetition(sets, "S1"), _by_repetition(sets, "full data")
    rand = _by_repetition(sets, "random m1 subset")
    return {"energy": s1.energy / _column(s1, "null_energy"), "align_full": s1.alignment / full.alignment,
            "align_random": s1.alignment / rand.alignment}


_LINK_VALUES = ("energy", "align_full", "align_random", "weakest_full", "weakest_data", "weakest_s1", "noise")


def link_values(tables: EncodingTables, link: str) -> dict[str, list[float]]:
    """Per repetition, every quantity a claim on the further ``link`` reads: the encoding ones
    (``energy``, ``align_full``, ``align_random``), the largest principal angle to U in degrees of
    the full-data learner's and S1's first layers (``weakest_data``, ``weakest_s1``) and their
    ratio, paired by repetition (``weakest_full``: S1 over full data), and S1's energy over the
    closed-form pure-noise share (``noise``; NaN where the link has none).  Empty lists for a link that was not run."""
    rows = tables.links[tables.links.link == link] if len(tables.links) else tables.links
    if rows.empty:
        return {k: [] for k in _LINK_VALUES}
    s1, full = _by_repetition(rows, "S1"), _by_repetition(rows, "full data")
    values = {**_encoding_values(rows),
              "weakest_full": s1.largest_angle_deg / full.largest_angle_deg,
              "weakest_data": full.largest_angle_deg, "weakest_s1": s1.largest_angle_deg,
              "noise": s1.energy / _column(s1, "noise_energy")}
    return {k: _values(v) for k, v in values.items()}


def measures(tables: EncodingTables, P: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per repetition, the quantity behind each check of ``CHECKS`` (every repetition, undefined
    ones included; a further link that was not run gives an empty list), and under
    ``"<check>@<link>"`` that of each check ``plan`` makes on a further link of ``P``
    (``link_values``; the he3 claim's two checks both read ``noise``)."""
    s1 = _by_repetition(tables.sets, "S1")
    values = {k: _values(v) for k, v in _encoding_values(tables.sets).items()}
    values["truncation"] = _values(s1.cos_pop / s1.cos_pop_trunc)
    for link in CALIBRATED_LINKS:
        values.update({f"{k}_{link}": v for k, v in link_values(tables, link).items()
                       if f"{k}_{link}" in CHECKS})
    weakest, control = link_values(tables, WEAKEST[0]), link_values(tables, CONTROL)
    values.update({k: weakest[k] for k in _KEYS["weakest"]})
    values.update(noise_hi=control["noise"], noise_lo=control["noise"])
    per_link: dict[str, dict[str, list[float]]] = {}
    for kind, link in _kinds(P):
        if kind not in _HEADLINE:
            lv = per_link.setdefault(link, link_values(tables, link))
            values.update({f"{k}@{link}": lv["noise" if kind == "control" else k] for k in _KEYS[kind]})
    return values


def denoising_checks(tables: EncodingTables) -> pd.DataFrame:
    """The reported denoising comparison: per (n, m1), ``DENOISING`` on the per-repetition
    ratios cos(G_S, G_pop) / cos(SVD_m1(G_D), G_pop) (every repetition: an undefined one makes the
    comparison inconclusive), with its interval and the verdict it would get (columns n, m1, check)."""
    dist = tables.denoising[tables.denoising.source == "distilled"]
    rows = []
    for (n, a), g in dist.groupby(["n", "points"]):
        rows.append({"n": int(n), "m1": int(a), "check": DENOISING.check(_values(g.cos_pop / g.cos_pop_trunc))})
    return pd.DataFrame(rows, columns=["n", "m1", "check"])


def summarise(tables: EncodingTables) -> dict[str, Any]:
    """Headline numbers: per source, the mean over repetitions of energy, alignment, largest
    principal angle, cosine with G_pop (and its truncation's) and test MSE; the same per further
    link (with the smallest angle and the closed forms); and the reported denoising comparison
    per (n, m1), with its interval and the verdict it would get."""
    columns = ["energy", "alignment", "largest_angle_deg", "cos_pop", "cos_pop_trunc", "test_mse", "null_energy",
               "null_alignment"]

    def means(table: pd.DataFrame, cols: list[str]) -> dict[str, dict[str, float]]:
        by_source = table.groupby("source")[[c for c in cols if c in table]].mean()
        return {src: {c: float(v) for c, v in row.items() if math.isfinite(v)} for src, row in by_source.iterrows()}

    link_columns = ["energy", "alignment", "smallest_angle_deg", "largest_angle_deg", "test_mse", "noise_energy",
                    "noise_alignment", "null_energy", "null_alignment"]
    return {"by_source": means(tables.sets, columns),
            "links": {link: means(g, link_columns) for link, g in tables.links.groupby("link", sort=False)}
            if len(tables.links) else {},
            "denoising": [{"n": row.n, "m1": row.m1, **row.check.as_dict()}
                          for row in denoising_checks(tables).itertuples()]}


def _regime(link: str, full_mse: float, P: Mapping[str, Any]) -> tuple[Precondition, ...]:
    """Where the paper's statement applies on ``link``: a link of information exponent 2, enough
    real data for the full-data learner to learn, and at least r stage-1 points (fewer span fewer
    than r directions: ``ddlib.theory.span_bound``)."""
    return (learnable_link(link), full_data_learns(full_mse, f"on {link} at n = {P['n_train']}"),
            enough_stage1_points(P["m1"], P["r"]))


def _full_mse(sets: pd.DataFrame) -> float:
    full = sets[sets.source == "full data"].test_mse if len(sets) else pd.Series(dtype=float)
    return float(full.mean()) if len(full) else float("nan")


def _control_regime(link: str) -> tuple[Precondition, ...]:
    return (Precondition(f"a closed-form pure-noise share is known (link {CONTROL})", link == CONTROL,
                         f"link = {link}"),)


_HEADLINE = ("energy", "alignment", "truncation")  # the headline link's claims, in order
_KEYS = {"energy": ("energy",), "alignment": ("align_full", "align_random"), "truncation": ("truncation",),
         "encoding": ("energy", "align_full", "align_random"),
         "weakest": ("weakest_data", "weakest_s1", "weakest_full"),
         "control": ("noise_hi", "noise_lo")}
# The regime key of each kind of claim on a further link (the headline's three share "headline").
_REGIME = {"encoding": "link:{}", "weakest": "weakest:{}", "control": "control:{}"}
_ABOUT = {"aniso": "unequal directions and a He4 term", "quad": f"H of condition number {QUAD_CONDITION:g}"}


def _kinds(P: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, link) of every claim at these parameters, in order: the headline's three, then for
    each further link an encoding claim (information exponent 2; and a weakest-direction claim for
    the links of ``WEAKEST``) or a negative-control claim (information exponent >= 3)."""
    kinds = [(kind, P["link"]) for kind in _HEADLINE]
    for link in further_links(P["link"], P["links"]):
        if get_link(link).information_exponent == 2:
            kinds += [("encoding", link)] + ([("weakest", link)] if link in WEAKEST else [])
        else:
            kinds.append(("control", link))
    return kinds


def regimes(tables: EncodingTables, P: Mapping[str, Any]) -> dict[str, tuple[Precondition, ...]]:
    """Where the claims apply, by the regime keys of ``plan``: ``"headline"`` and ``"link:<link>"``
    (``_regime`` on the headline link, or on a further link with its own full-data learner's test
    MSE); ``"weakest:<link>"``, the further link's regime, r >= 2, and an infinite-data first layer
    that recovers the weakest direction (its largest principal angle to U below 45 degrees, mean
    over the repetitions: what the data could lose); ``"control:<link>"``, a closed-form pure-noise
    share known for the link (``CONTROL`` only)."""
    out = {"headline": _regime(P["link"], _full_mse(tables.sets), P)}
    for kind, link in _kinds(P):
        if kind in ("encoding", "weakest"):
            rows = tables.links[tables.links.link == link] if len(tables.links) else tables.links
            out[f"link:{link}"] = _regime(link, _full_mse(rows), P)
            if kind == "weakest":
                pop = rows[rows.source == "population"].largest_angle_deg if len(rows) else pd.Series(dtype=float)
                angle = float(pop.mean()) if len(pop) else float("nan")
                out[f"weakest:{link}"] = out[f"link:{link}"] + (
                    Precondition("r >= 2 (H has a weakest direction apart from its strongest)", P["r"] >= 2,
                                 f"r = {P['r']}"),
                    Precondition(f"the infinite-data first layer recovers the weakest direction (largest principal "
                                 f"angle to U < {WEAKEST_RECOVERED_DEG:g} degrees)",
                                 bool(angle < WEAKEST_RECOVERED_DEG), f"{angle:.1f} degrees"))
        elif kind == "control":
            out[f"control:{link}"] = _control_regime(link)
    return out


def _statement(kind: str, link: str, P: Mapping[str, Any]) -> str:
    C, m1, n = CHECKS, P["m1"], f"{P['n_train']:,}"
    if kind == "energy":
        return (f"The {m1} distilled stage-1 points hold at least {C['energy'].threshold:g}x the energy in span(U) of "
                f"the {m1} points the same distiller gives from the same data with shuffled labels (the link's "
                f"pure-noise level).")
    if kind == "alignment":
        return (f"The first layer learned from the {m1} distilled points is aligned with span(U) not worse than the "
                f"one learned from all {n} real points (ratio at least {C['align_full'].threshold:g}), and better "
                f"than one learned from {m1} random real points (ratio above {C['align_random'].threshold:g}).")
    if kind == "truncation":
        return (f"The distilled stage-1 gradient is not worse than the best rank-{m1} approximation of the real "
                f"gradient it matches: its per-neuron cosine with the population gradient is at least "
                f"{C['truncation'].threshold:g} times that approximation's, at n = {n}.")
    if kind == "encoding":
        about = f" ({_ABOUT[link]})" if link in _ABOUT else ""
        return (f"On the {link} link{about} too, the {m1} distilled stage-1 points hold at least "
                f"{_spec('energy', link).threshold:g}x the energy in span(U) of the points distilled from shuffled "
                f"labels, and the first layer they give is aligned with span(U) not worse than the full-data "
                f"learner's (ratio at least {_spec('align_full', link).threshold:g}) and better than {m1} random real "
                f"points' (ratio above {_spec('align_random', link).threshold:g}).")
    if kind == "weakest":
        return (f"On {link}, the weakest direction of H, which the infinite-data learner recovers, is lost with the "
                f"{n} real points, not by distillation: the largest principal angle to U of the full-data learner's "
                f"first layer and of the distilled points' is at least {C['weakest_data'].threshold:g} degrees (at "
                f"most half of that direction held), and the distilled points' angle is not worse than the full-data "
                f"learner's (ratio at most {C['weakest_full'].threshold:g}).")
    share = f" = {he3_noise_energy(P['d'], P['r']):.3f}" if link == CONTROL else ""
    return (f"On {link} (information exponent {get_link(link).information_exponent}: the population gradient is zero, "
            f"so one step has no span(U) to find) the {m1} distilled stage-1 points hold the share of their energy "
            f"in span(U) that sampling noise puts there: between {C['noise_lo'].threshold:g} and "
            f"{C['noise_hi'].threshold:g} times the closed-form pure-noise share (r+6)/(d+6){share}.")


def plan(P: Mapping[str, Any]) -> list[ClaimDecl]:
    """The claims of notebook 01 at these parameters, declared (``ddlib.book.claims.claims_of``
    decides them): the headline link's three (checks keyed as in ``CHECKS``, regime
    ``"headline"``), then one per kind and further link (``_kinds``), its checks keyed
    ``"<check>@<link>"`` (``check_spec``) and its regime ``"link:<link>"``, ``"weakest:<link>"``
    or ``"control:<link>"`` (``regimes``).  Every claim names its negative control (``CONTROLS``):
    with no distillation step (S1 is the real points it started from) for every claim but the
    weakest direction's, whose control is more real data (the full-data learner recovers it)."""
    out = []
    for i, (kind, link) in enumerate(_kinds(P), 1):
        if kind in _HEADLINE:
            checks, regime = _KEYS[kind], "headline"
        else:
            checks, regime = tuple(f"{k}@{link}" for k in _KEYS[kind]), _REGIME[kind].format(link)
        out.append(ClaimDecl(f"C1.{i}", _statement(kind, link, P), checks, regime,
                             control=_CONTROL_OF.get(kind, "no distillation steps")))
    return out
