"""Claims C5 (notebook 05): where distillation breaks, and why -- the information-exponent-3 link
``he3`` (nothing for one gradient step to find, so nothing to distil), label noise (absolute
increments of the test error beside sigma^2 L / n), transfer of a distilled set to other widths,
ridges and initialisations, and very small m1 (the span bound).

Every study returns a tidy table (one row per repetition, condition and method) with every seed
it used; ``run`` runs the three on one set of parameters.  The claims are declared (``plan``,
``regimes``, ``measures`` and ``CHECKS``) and decided by ``ddlib.book.claims.claims_of``; every
threshold has its origin (the paper, a closed form of ``ddlib.theory`` or a convention of the
field), and every claim names its negative control in ``CONTROLS`` (``ddlib.book.controls``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pandas as pd
import torch
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from ..book.claims import CheckSpec, ClaimDecl, Precondition
from ..book.controls import Control
from ..distillers import FAILED_MATCHING_LOSS, DistilledSet, distill, distill_stage1
from ..learners import TwoStageLearner, stage1_gradient
from ..metrics import alignment, energy_in_subspace, gradient_cosine, participation_ratio, test_mse
from ..networks import TwoLayerNet
from ..stats import mean_interval
from ..theory import he3_gradient_energy, he3_noise_energy, noise_excess_risk, population_stage1_gradient, span_bound
from ..validation import check_float, check_int
from .parameters import Parameters
from .problem import Problem
from .regime import enough_stage1_points, full_data_learns
from .repetitions import repetition, summarise as summarise_columns

__all__ = ["PARAMETERS", "PROFILES", "CHECKS", "CONTROLS", "FRESH_THETA0_OFFSET", "NULL_PERMUTATION_OFFSET", "BoundaryTables", "run", "run_boundaries",
           "run_links_and_noise", "run_transfer", "run_small_m1", "target_widths",
           "summarise", "measures", "regimes", "plan"]

# The notebook's parameters, declared once: (name, value at the book profile, help).
PARAMETERS = Parameters(
    ("d", 32, "input dimension"),
    ("r", 2, "intrinsic dimension (he2, he3)"),
    ("hard_link", "he3", "link of the he3 study (information exponent 3; a negative control sets aniso)"),
    ("width", 256, "network width L"),
    ("n_train", 4000, "real training points"),
    ("m1", 8, "stage-1 distilled points"),
    ("m2", 32, "stage-2 distilled points"),
    ("n_seeds", 5, "repetitions"),
    ("noise_grid", [1.0], "label-noise sigmas (besides 0)"),
    ("width_factors", [0.5, 2.0, 4.0], "transfer to widths factor x L"),
    ("ridge_grid", [1e-4, 1e-2], "transfer to these ridges lambda2"),
    ("m1_small_grid", [1, 2], "m1 of the small-m1 study"),
    ("r_small_grid", [2, 3], "r of the small-m1 study"),
    ("steps1", 300, "Adam steps, stage-1 gradient matching (also the small-m1 study)"),
    ("steps2", 200, "Adam steps of KIP (stage 2)"),
    ("lr", 0.05, "Adam learning rate of the distiller"),
    ("restarts", 3, "starts per stage; lowest matching loss kept"),
    ("n_test", 5000, "fresh test points per repetition"),
)
PROFILES: dict[str, dict[str, Any]] = PARAMETERS.profiles(
    smoke={"n_seeds": 3, "width_factors": [0.5, 2.0], "steps2": 100, "restarts": 2, "n_test": 4000},
    paper={"width": 512, "n_train": 8000, "n_seeds": 10, "noise_grid": [0.25, 0.5, 1.0, 2.0],
           "ridge_grid": [1e-5, 1e-4, 1e-2, 1e-1], "m1_small_grid": [1, 2, 3, 4, 6, 8],
           "r_small_grid": [1, 2, 3, 4], "n_test": 20_000},
)

# theta0' of the transfer study: its seed is the base seed + this offset, apart from every stream
# of ddlib.experiments.problem (offsets 0 to 50_000 in steps of 10_000).  Every width L' draws
# from the same seed, so the fresh networks of one repetition share their first rows.
FRESH_THETA0_OFFSET = 60_000
# The label permutation of the transfer study's null (a stage-1 set distilled from the same inputs
# with permuted labels): its seed is the base seed + this offset, apart from every other stream.
NULL_PERMUTATION_OFFSET = 70_000
ARMS = ("full", "distilled", "s1+real")


def target_widths(width: int, width_factors: list[float]) -> list[int]:
    """The widths of the fresh theta0' of the transfer study: L itself and L * factor for each
    factor, rounded to an even width of at least 2 (the symmetric init pairs its neurons)."""
    out = {width}
    for f in width_factors:
        f = check_float("width_factors entry", f, strictly_positive=True)
        out.add(max(2, 2 * round(width * f / 2)))
    return sorted(out)


def _evaluate(net: TwoLayerNet, p: Problem, n_test: int) -> dict[str, float]:
    noisy = test_mse(net, p.task, n_test, seed=p.seeds["test"])
    # Without label noise the clean target is the label itself: the same number, computed once.
    clean = test_mse(net, p.task, n_test, seed=p.seeds["test"], clean=True) if p.task.noise > 0 else noisy
    return {"test_mse": noisy, "test_mse_clean": clean, "alignment": alignment(net, p.task)}


def _gradient_rows(net: TwoLayerNet, p: Problem, G_D: torch.Tensor) -> dict[str, float]:
    """The real-data gradient against the closed forms: its energy in span(U), and its energy
    relative to a pure-noise gradient (``he3_gradient_energy``; 1 when there is no signal)."""
    noise = he3_gradient_energy(p.task.d, net.width, p.X.shape[0])
    return {"grad_energy_span": energy_in_subspace(G_D, p.task), "grad_energy_ratio": float(G_D.norm() ** 2) / noise}


def run_links_and_noise(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, n_seeds: int,
                        noise_grid: list[float], steps1: int, steps2: int, lr: float, restarts: int,
                        n_test: int, seed: int, hard_link: str = "he3", progress: bool = False) -> tuple[pd.DataFrame, dict[int, DistilledSet]]:
    """The ``he3`` control and the label-noise study, at one size (m1, m2).

    Conditions: (he2, noise 0), (``hard_link``, noise 0) -- ``he3`` in the book; a negative
    control sets ``aniso`` -- and (he2, sigma) for every sigma > 0 of ``noise_grid``; each repetition draws one task U, theta0 and X, and the labels of each
    condition from them.  Methods: ``full`` (all n_train points), ``distilled`` (gm+kip) and
    ``s1+real`` (distilled S1, then the real data for stage 2).

    Returns:
        The table -- test MSE against the labels (``test_mse``) and the clean target
        (``test_mse_clean``), alignment, energy of the stage-1 inputs in span(U), the cosine of
        the stage-1 gradient with the population one (``grad_cos_pop``; NaN for he3, where the
        population gradient is 0), the stage-1 matching loss, and on ``full`` rows the real
        gradient's energy in span(U) and relative to pure noise (``_gradient_rows``) -- and the
        distilled sets of (he2, noise 0) by base seed, which ``run_transfer`` reuses.
    """
    n_seeds = check_int("n_seeds", n_seeds, min_value=1)
    noises = [check_float("noise_grid entry", s, min_value=0.0) for s in noise_grid]
    if hard_link == "he2":
        raise ValueError("hard_link must differ from he2, the link of the other conditions")
    conditions = [("he2", 0.0), (hard_link, 0.0)] + [("he2", s) for s in sorted(set(noises)) if s > 0]
    learner = TwoStageLearner()
    rows, sets = [], {}
    for k in tqdm(range(n_seeds), desc="repetitions", disable=not progress):
        for link, noise in conditions:
            rep = repetition(k, seed, d=d, r=r, width=width, n_train=n_train, link=link, noise=noise)
            p, net = rep.problem, rep.problem.net
            G_pop = None if link == "he3" else population_stage1_gradient(net, p.task)
            cos_pop = (lambda G: float("nan")) if G_pop is None else (lambda G: gradient_cosine(G, G_pop))  # noqa: E731
            G_D = stage1_gradient(net.W, net.a, net.b, p.X, p.y)
            rows.append(rep.record(method="full", m1=n_train, m2=n_train,
                                   **_evaluate(learner.fit(net, (p.X, p.y)), p, n_test),
                                   energy_s1=energy_in_subspace(p.X, p.task), grad_cos_pop=cos_pop(G_D),
                                   stage1_matching_loss=float("nan"), **_gradient_rows(net, p, G_D)))
            ds = distill(net, p.X, p.y, m1, m2, learner=learner, steps1=steps1, steps2=steps2, lr=lr,
                         restarts=restarts, seed=p.seeds["distill"], task=p.task)
            if (link, noise) == ("he2", 0.0):
                sets[rep.base_seed] = ds
            s1 = {"energy_s1": energy_in_subspace(ds.stage1[0], p.task),
                  "grad_cos_pop": cos_pop(stage1_gradient(net.W, net.a, net.b, *ds.stage1)),
                  "stage1_matching_loss": ds.metadata["stage1_matching_loss"]}
            rows.append(rep.record(method="distilled", m1=m1, m2=m2, **_evaluate(ds.fit(net, learner), p, n_test),
                                   **s1))
            rows.append(rep.record(method="s1+real", m1=m1, m2=n_train,
                                   **_evaluate(learner.fit(net, ds.stage1, (p.X, p.y)), p, n_test), **s1))
    return pd.DataFrame(rows), sets


def _transfer_targets(p: Problem, widths: list[int], ridge_grid: list[float], fresh_seed: int):
    """(kind, width, ridge, theta, learner) of every place a set distilled at theta0 is reused:
    a fresh theta0' at each width (default ridge), and theta0 itself at each other ridge."""
    default = TwoStageLearner()
    for w in widths:
        yield "width", w, default.ridge, TwoLayerNet.init(p.task.d, w, seed=fresh_seed, dtype=p.net.dtype), default
    for lam in ridge_grid:
        lam = check_float("ridge_grid entry", lam, strictly_positive=True)
        yield "ridge", p.net.width, lam, p.net, TwoStageLearner(ridge=lam)


def _null_stage1(p: Problem, base_seed: int, m1: int, *, steps1: int, lr: float,
                 restarts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """S1 distilled at theta0 by the same distiller and seed from the same inputs, with the labels
    permuted by a fixed permutation (seed base_seed + NULL_PERMUTATION_OFFSET): the null of C5.7."""
    g = torch.Generator().manual_seed(int(base_seed) + NULL_PERMUTATION_OFFSET)
    y = p.y[torch.randperm(len(p.y), generator=g).to(p.y.device)]
    G = stage1_gradient(p.net.W, p.net.a, p.net.b, p.X, y)
    return distill_stage1(p.net, p.X, y, m1, steps=steps1, lr=lr, restarts=restarts, seed=p.seeds["distill"],
                          G_D=G).best()


def run_transfer(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, n_seeds: int,
                 width_factors: list[float], ridge_grid: list[float], steps1: int, steps2: int, lr: float,
                 restarts: int, n_test: int, seed: int, distilled: Optional[dict[int, DistilledSet]] = None,
                 progress: bool = False) -> pd.DataFrame:
    """A set (S1, S2) distilled at theta0 (he2, noise 0, width L, the default ridge), reused
    elsewhere: at a fresh theta0' of every width of ``target_widths`` (seed = base seed +
    FRESH_THETA0_OFFSET, with its own stage-2 biases), and at theta0 with every stage-2 ridge
    lambda2 of ``ridge_grid``.  On each target: ``full`` (the learner on all the real data there),
    ``s1+real`` (S1, then the real data for stage 2) and ``distilled`` (S1, then S2).
    ``grad_cos_data`` is the mean per-neuron cosine between the stage-1 gradient of S1 and that of
    the real data, at the target's initialisation (1 on ``full`` rows): what gradient matching
    maximised, at theta0 only.  At every fresh theta0' a null is measured too (``null s1+real``):
    S1 distilled by the same distiller from the same inputs with the labels permuted (a fixed
    permutation seeded by base seed + NULL_PERMUTATION_OFFSET), then a real stage 2 -- the
    alignment a stage-1 set reaches when its labels carry nothing about span(U).

    Args:
        distilled: sets already distilled at these problems (``run_links_and_noise``'s second
            output), keyed by base seed; any missing one is distilled here.
    """
    n_seeds = check_int("n_seeds", n_seeds, min_value=1)
    widths = target_widths(width, width_factors)
    rows = []
    for k in tqdm(range(n_seeds), desc="transfer", disable=not progress):
        rep = repetition(k, seed, d=d, r=r, width=width, n_train=n_train, link="he2")
        p = rep.problem
        ds = (distilled or {}).get(rep.base_seed)
        if ds is None or ds.metadata["theta0"]["seed"] != p.net.seed or (ds.m1, ds.m2) != (m1, m2):
            ds = distill(p.net, p.X, p.y, m1, m2, steps1=steps1, steps2=steps2, lr=lr, restarts=restarts,
                         seed=p.seeds["distill"], task=p.task)
        fresh_seed = rep.base_seed + FRESH_THETA0_OFFSET
        null_s1 = _null_stage1(p, rep.base_seed, m1, steps1=steps1, lr=lr, restarts=restarts)
        for kind, w, lam, net, learner in _transfer_targets(p, widths, ridge_grid, fresh_seed):
            G_D = stage1_gradient(net.W, net.a, net.b, p.X, p.y)
            cos_s1 = gradient_cosine(stage1_gradient(net.W, net.a, net.b, *ds.stage1), G_D)
            common = rep.record(target=kind, target_width=w, ridge=lam,
                                theta0_seed=fresh_seed if kind == "width" else p.net.seed)
            arms = [("full", learner.fit(net, (p.X, p.y)), 1.0),
                    ("s1+real", learner.fit(net, ds.stage1, (p.X, p.y)), cos_s1),
                    ("distilled", ds.fit(net, learner), cos_s1)]
            if kind == "width":
                arms.append(("null s1+real", learner.fit(net, null_s1, (p.X, p.y)),
                             gradient_cosine(stage1_gradient(net.W, net.a, net.b, *null_s1), G_D)))
            for method, trained, gcos in arms:
                rows.append({**common, "method": method, **_evaluate(trained, p, n_test), "grad_cos_data": gcos})
    return pd.DataFrame(rows)


def run_small_m1(*, d: int, width: int, n_train: int, n_seeds: int, m1_small_grid: list[int],
                 r_small_grid: list[int], steps1: int, lr: float, restarts: int, n_test: int, seed: int,
                 progress: bool = False) -> pd.DataFrame:
    """Stage-1 distillation with very few points, for each r (he2, noise 0).

    Only stage 1 is distilled (``ddlib.distillers.distill_stage1``); stage 2 uses the real data, so
    the test MSE (``s1+real``) isolates what S1 carries, beside ``span_bound(m1, r)``, the least
    error of any predictor that sees the input through m1 directions.  Diagnostics: ``zero_rows``
    (share of neurons no synthetic point switches on: their gradient row and W1 row are 0), the
    stage-1 matching loss and its failure flag (> FAILED_MATCHING_LOSS), and ``w1_dims``, the
    participation ratio of W1's projection on span(U) (1 to r: how many of the r task directions
    the learned neurons cover).
    """
    n_seeds = check_int("n_seeds", n_seeds, min_value=1)
    learner = TwoStageLearner()
    rows = []
    for k in tqdm(range(n_seeds), desc="small m1", disable=not progress):
        for r in r_small_grid:
            rep = repetition(k, seed, d=d, r=r, width=width, n_train=n_train, link="he2")
            p, net = rep.problem, rep.problem.net
            G_D = stage1_gradient(net.W, net.a, net.b, p.X, p.y)
            for m1 in m1_small_grid:
                res = distill_stage1(net, p.X, p.y, m1, steps=steps1, lr=lr, restarts=restarts,
                                     seed=p.seeds["distill"], G_D=G_D)
                (X1, y1), loss1 = res.best(), res.best_loss
                G_S = stage1_gradient(net.W, net.a, net.b, X1, y1)
                trained = learner.fit(net, (X1, y1), (p.X, p.y))
                rows.append(rep.record(m1=m1, method="s1+real", **_evaluate(trained, p, n_test),
                                       span_bound=span_bound(m1, r), stage1_matching_loss=loss1,
                                       stage1_failed=loss1 > FAILED_MATCHING_LOSS,
                                       zero_rows=float((G_S.norm(dim=1) == 0).double().mean()),
                                       w1_dims=participation_ratio(learner.stage1(net, X1, y1) @ p.task.U.T)))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class BoundaryTables:
    """The three tables of notebook 05 (see the study functions for their columns)."""

    links: pd.DataFrame
    transfer: pd.DataFrame
    small_m1: pd.DataFrame


def run_boundaries(*, d: int, r: int, hard_link: str, width: int, n_train: int, m1: int, m2: int, n_seeds: int,
                   noise_grid: list[float], width_factors: list[float], ridge_grid: list[float],
                   m1_small_grid: list[int], r_small_grid: list[int], steps1: int, steps2: int, lr: float,
                   restarts: int, n_test: int, seed: int, progress: bool = False) -> BoundaryTables:
    """Notebook 05's three studies on one set of parameters (the transfer study reuses the sets
    distilled for the (he2, noise 0) condition of the first)."""
    shared = dict(d=d, width=width, n_train=n_train, n_seeds=n_seeds, steps1=steps1, lr=lr, restarts=restarts,
                  n_test=n_test, seed=seed, progress=progress)
    links, sets = run_links_and_noise(**shared, r=r, m1=m1, m2=m2, noise_grid=noise_grid, steps2=steps2,
                                      hard_link=hard_link)
    transfer = run_transfer(**shared, r=r, m1=m1, m2=m2, steps2=steps2, width_factors=width_factors,
                            ridge_grid=ridge_grid, distilled=sets)
    small = run_small_m1(**shared, m1_small_grid=m1_small_grid, r_small_grid=r_small_grid)
    return BoundaryTables(links, transfer, small)


run = run_boundaries


def summarise(tables: BoundaryTables) -> dict[str, Any]:
    """Headline numbers of the three tables: per group, the mean over repetitions with its
    t-interval, min and max."""
    def stats(table: pd.DataFrame, by: list[str], cols: list[str]) -> list[dict[str, Any]]:
        return summarise_columns(table, by, cols).to_dict(orient="records") if len(table) else []

    return {"links_and_noise": stats(tables.links, ["link", "noise", "method"],
                                     ["test_mse", "test_mse_clean", "alignment", "energy_s1", "grad_cos_pop"]),
            "transfer": stats(tables.transfer, ["target", "target_width", "ridge", "method"],
                              ["test_mse", "alignment", "grad_cos_data"]),
            "small_m1": stats(tables.small_m1, ["r", "m1"], ["test_mse", "span_bound", "stage1_matching_loss",
                                                             "zero_rows", "w1_dims"]),
            "failed_matching_loss": FAILED_MATCHING_LOSS}


# ----------------------------------------------------------------------------------------------
# Claims: each check's quantity per repetition (``measures``), the regimes, the plan
# ----------------------------------------------------------------------------------------------

_HE3_SPAN = "he3 real gradient: share in span(U) / (r + 6)/(d + 6)"
_HE3_ENERGY = "he3 real gradient: |G_D|^2 / L(d + 6)/(2n)"
_NOISE_FULL = "full data: increment of the clean test MSE / sigma^2 L/n"
_EQUIVALENT = "within the field's 80-125% equivalence margin"
_SPAN_BASIS = (f"closed form (r + 6)/(d + 6), the share pure he3 sampling noise puts in span(U) "
               f"(ddlib.theory.he3_noise_energy), {_EQUIVALENT} around it")
_ENERGY_BASIS = (f"closed form L(d + 6)/(2n), the energy of a he3 gradient that is pure sampling noise "
                 f"(ddlib.theory.he3_gradient_energy), {_EQUIVALENT} around it")
_NOISE_BASIS = (f"closed form sigma^2 L/n, the variance a ridge on L features adds with n noisy labels "
                f"(ddlib.theory.noise_excess_risk), {_EQUIVALENT} around it (the paper: 'about' it)")
_NOT_LEARN = ("convention: a normalised test MSE of at least 0.5 'does not learn' (it explains at most half "
              "the variance; 1 is the zero predictor)")
_CLOSE = ("convention: within a factor of two of the full-data learner at the same theta0' or ridge "
          "('comes close': the same order)")
CHECKS: dict[str, CheckSpec] = {
    "he3_span_lo": CheckSpec(_HE3_SPAN, ">=", 0.8, _SPAN_BASIS, origin="closed form"),
    "he3_span_hi": CheckSpec(_HE3_SPAN, "<=", 1.25, _SPAN_BASIS, origin="closed form"),
    "he3_energy_lo": CheckSpec(_HE3_ENERGY, ">=", 0.8, _ENERGY_BASIS, origin="closed form"),
    "he3_energy_hi": CheckSpec(_HE3_ENERGY, "<=", 1.25, _ENERGY_BASIS, origin="closed form"),
    "he3_full": CheckSpec("he3: full-data normalised test MSE", ">=", 0.5, _NOT_LEARN, origin="convention"),
    "he3_distilled": CheckSpec("he3: distilled set's normalised test MSE", ">=", 0.5, _NOT_LEARN,
                               origin="convention"),
    "noise_full_lo": CheckSpec(_NOISE_FULL, ">=", 0.8, _NOISE_BASIS, origin="closed form"),
    "noise_full_hi": CheckSpec(_NOISE_FULL, "<=", 1.25, _NOISE_BASIS, origin="closed form"),
    "noise_distilled": CheckSpec("increment of the clean test MSE, distilled / full data", "<=", 1.25,
                                 "convention: non-inferiority at the field's 125% margin, against the full-data "
                                 "learner's own increment at the same sigma", origin="convention"),
    "transfer_fresh": CheckSpec("S1 + real stage 2 / full data, at a fresh theta0' of width L", "<=", 2.0,
                                _CLOSE, geometric=True, origin="convention"),
    "transfer_ridge": CheckSpec("S1 + real stage 2 / full data, at theta0 (worst other ridge)", "<=", 2.0,
                                _CLOSE, geometric=True, origin="convention"),
    "transfer_width": CheckSpec("alignment of W1 with span(U), S1 / full data, at a fresh theta0' (worst width L')",
                                ">=", 0.8, "convention: non-inferiority at the field's 80% margin, against the "
                                "full-data learner's first layer at the same theta0' and width (higher is better)",
                                geometric=True, origin="convention"),
    "transfer_width_null": CheckSpec("alignment of W1 with span(U), S1 / label-shuffled S1, at a fresh theta0' "
                                     "(worst width L')", ">=", 2.0,
                                     "convention: twice the null, the alignment of S1 distilled from the same inputs "
                                     "with permuted labels (measured on the same seeds; he2 has no closed-form "
                                     "pure-noise alignment)", geometric=True, origin="convention"),
    "span": CheckSpec("test MSE / span bound 1 - m1/r (worst m1 < r)", ">=", 1.0,
                      "closed form span_bound(m1, r) (ddlib.theory): no predictor seeing m1 directions does better",
                      geometric=True, origin="closed form"),
}

# The negative controls (ddlib.book.controls): under each, the claims that name it must not hold.
CONTROLS: dict[str, Control] = {
    "aniso link": Control("the he3 study run on the aniso link (information exponent 2: one gradient step finds "
                          "its subspace, so the gradient has a signal)", parameters={"hard_link": "aniso"}),
    "pure noise labels": Control("every label replaced by standard Gaussian noise, so the noisy and noiseless "
                                 "conditions see the same labels: label noise adds nothing",
                                 sabotage="pure noise labels"),
    "no distillation steps": Control("no optimiser step: each distilled set is the real points it starts from "
                                     "(five repetitions: C5.5's ratio of two increments scatters widely between "
                                     "seeds)", sabotage="no distillation steps", parameters={"n_seeds": 5}),
}


def _pivot(table: pd.DataFrame, index: list[str], values: str) -> pd.DataFrame:
    return table.pivot_table(index=index, columns="method", values=values)


def _worst(values: pd.Series, how: str) -> pd.Series:
    """Per repetition, the max or min over the other index levels; a NaN counts (it is the worst)."""
    return values.groupby(level="repetition").agg(lambda s: getattr(s, how)(skipna=False))


def _noise_increments(links: pd.DataFrame) -> Optional[pd.DataFrame]:
    """Per repetition, the clean test MSE's increment from sigma = 0 to the largest sigma of the
    grid, for ``full`` and ``distilled``, with that sigma (None when the grid has no sigma > 0)."""
    he2 = links[links.link == "he2"]
    top = he2.noise.max() if len(he2) else 0.0
    if not top > 0:
        return None
    clean = _pivot(he2, ["noise", "repetition"], "test_mse_clean")
    inc = clean.loc[top] - clean.loc[0.0]
    inc["sigma"] = top
    return inc


def _transfer(transfer: pd.DataFrame) -> dict[str, pd.Series]:
    """Per repetition: S1 + real / full test MSE at the fresh theta0' of width L (``fresh``), the
    worst of it over the other ridges (``ridge``), and the worst over every width L' of the
    alignment of the first layer trained on S1 relative to the full-data learner's (``width``) and
    relative to the label-shuffled S1's (``width_null``)."""
    if transfer.empty:
        empty = pd.Series(dtype=float)
        return {"fresh": empty, "ridge": empty, "width": empty, "width_null": empty}
    t = _pivot(transfer, ["target", "target_width", "ridge", "repetition"], "test_mse")
    gap = t["s1+real"] / t["full"]
    home = int(transfer.width.iloc[0])
    fresh = transfer[transfer.target == "width"]
    align = _pivot(fresh, ["target_width", "repetition"], "alignment")
    ridge = gap.loc["ridge"] if "ridge" in set(transfer.target) else pd.Series(dtype=float)
    null = (align["s1+real"] / align["null s1+real"] if "null s1+real" in align
            else pd.Series(float("nan"), index=align.index))
    return {"fresh": gap.loc["width"].xs(home, level="target_width").droplevel("ridge"),
            "ridge": _worst(ridge, "max") if len(ridge) else ridge,
            "width": _worst(align["s1+real"] / align["full"], "min"), "width_null": _worst(null, "min")}


def measures(tables: BoundaryTables, P: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per repetition (every one, NaN included), the quantity behind each check of ``CHECKS``."""
    links, small = tables.links, tables.small_m1
    clean = links[links.noise == 0]
    hard = P.get("hard_link", "he3")
    he3 = clean[(clean.method == "full") & (clean.link == hard)].set_index("repetition")
    span_share = (he3.grad_energy_span / he3_noise_energy(P["d"], P["r"])).tolist()
    energy = he3.grad_energy_ratio.tolist()
    mse = _pivot(clean, ["link", "repetition"], "test_mse")
    inc = _noise_increments(links)
    noise_full, noise_dist = [], []
    if inc is not None:
        line = noise_excess_risk(float(inc.sigma.iloc[0]), P["width"], P["n_train"])
        noise_full, noise_dist = (inc["full"] / line).tolist(), (inc["distilled"] / inc["full"]).tolist()
    below = small[small.m1 < small.r] if len(small) else small
    span = (_worst((below.test_mse / below.span_bound).set_axis(pd.Index(below.repetition, name="repetition")), "min")
            .tolist() if len(below) else [])
    transfer = {k: v.tolist() for k, v in _transfer(tables.transfer).items()}
    return {"he3_span_lo": span_share, "he3_span_hi": span_share, "he3_energy_lo": energy, "he3_energy_hi": energy,
            "he3_full": mse.loc[hard, "full"].tolist(), "he3_distilled": mse.loc[hard, "distilled"].tolist(),
            "noise_full_lo": noise_full, "noise_full_hi": noise_full, "noise_distilled": noise_dist,
            "transfer_fresh": transfer["fresh"], "transfer_ridge": transfer["ridge"],
            "transfer_width": transfer["width"], "transfer_width_null": transfer["width_null"], "span": span}


def regimes(tables: BoundaryTables, P: Mapping[str, Any]) -> dict[str, tuple[Precondition, ...]]:
    """The preconditions of each kind of claim, by the keys ``plan`` names: ``none`` (the he3
    closed forms, and a distilled set against its own learner, apply at any size), ``he2_learns``
    (the he2 full-data learner learns), ``positive`` (it learns and m1 >= r: the paper's regime),
    ``noisy`` (a sigma > 0 in the grid: the ridge's variance sigma^2 L/n does not depend on whether
    the learner learns), ``noise_ratio`` (positive, a sigma > 0, and the full data's increment
    resolved above zero), ``widths`` (positive, and a width L' != L) and ``span`` (an m1 < r point
    in the small-m1 grid)."""
    links, small = tables.links, tables.small_m1
    full = float(links[(links.link == "he2") & (links.noise == 0) & (links.method == "full")].test_mse.mean())
    learns = full_data_learns(full, f"on he2 at n = {P['n_train']}", "on he2")
    enough = enough_stage1_points(P["m1"], P["r"])
    sigma = max([0.0] + [float(s) for s in P["noise_grid"]])
    noisy = Precondition("a label noise sigma > 0 in the grid", sigma > 0, f"noise_grid = {P['noise_grid']}")
    others = [w for w in target_widths(P["width"], P["width_factors"]) if w != P["width"]]
    widths = Precondition("a width L' != L to reuse S1 at", bool(others), f"width_factors = {P['width_factors']}")
    below = bool(len(small)) and bool((small.m1 < small.r).any())
    span = Precondition("an m1 < r point in the small-m1 grid", below,
                        f"m1 grid {P['m1_small_grid']}, r grid {P['r_small_grid']}")
    # A ratio of increments means something only where the denominator is resolved: the full
    # data's increment must be above zero over the repetitions (a small sigma drowns in the
    # seed-to-seed spread, and a ratio to about zero can take any sign).
    inc = _noise_increments(links)
    full_inc = mean_interval(inc["full"].tolist()) if inc is not None and len(inc) > 1 else None
    resolved = Precondition("the full data's increment is resolved (its 95% interval lies above 0)",
                            full_inc is not None and full_inc.lo > 0,
                            "fewer than two repetitions or no sigma > 0" if full_inc is None else
                            f"increment {full_inc.estimate:.3g} [{full_inc.lo:.3g}, {full_inc.hi:.3g}]")
    return {"none": (), "he2_learns": (learns,), "positive": (learns, enough), "noisy": (noisy,),
            "noise_ratio": (learns, enough, noisy, resolved), "widths": (learns, enough, widths), "span": (span,)}


def plan(P: Mapping[str, Any]) -> list[ClaimDecl]:
    """The claims of notebook 05 at these parameters, declared (``ddlib.book.claims.claims_of``
    decides them), each with its negative control (``CONTROLS``) or, for C5.8, the reason it is a
    consistency check."""
    c = {k: v.threshold for k, v in CHECKS.items()}
    sigma = max([0.0] + [float(s) for s in P["noise_grid"]])
    hard = P.get("hard_link", "he3")
    widths = ", ".join(str(w) for w in target_widths(P["width"], P["width_factors"]) if w != P["width"]) or "none"
    return [
        ClaimDecl("C5.1", f"For {hard} the real stage-1 gradient is pure sampling noise: its energy is "
                          f"{c['he3_energy_lo']:g}-{c['he3_energy_hi']:g}x the closed form L(d + 6)/(2n) of a "
                          f"gradient with no signal, and its share in span(U) {c['he3_span_lo']:g}-"
                          f"{c['he3_span_hi']:g}x the closed form (r + 6)/(d + 6).",
                  ("he3_span_lo", "he3_span_hi", "he3_energy_lo", "he3_energy_hi"), "none", control="aniso link"),
        ClaimDecl("C5.2", f"The full-data learner does not learn {hard}: its normalised test MSE is at least "
                          f"{c['he3_full']:g} (where on he2 it learns).",
                  ("he3_full",), "he2_learns", control="aniso link"),
        ClaimDecl("C5.3", f"Distillation cannot create what the learner does not find: on {hard} the distilled set "
                          f"does not learn either (normalised test MSE at least {c['he3_distilled']:g}).",
                  ("he3_distilled",), "none", control="aniso link"),
        ClaimDecl("C5.4", f"Label noise sigma = {sigma:g} raises the full-data learner's clean test error by about "
                          f"the ridge's variance sigma^2 L/n: between {c['noise_full_lo']:g}x and "
                          f"{c['noise_full_hi']:g}x of it.",
                  ("noise_full_lo", "noise_full_hi"), "noisy", control="pure noise labels"),
        ClaimDecl("C5.5", f"Label noise sigma = {sigma:g} raises the distilled set's clean test error by at most "
                          f"{c['noise_distilled']:g}x what it adds to the full data's.",
                  ("noise_distilled",), "noise_ratio", control="no distillation steps"),
        ClaimDecl("C5.6", f"S1 transfers to a fresh theta0' and to other stage-2 ridges: there, with a real stage 2, "
                          f"it trains to within {c['transfer_fresh']:g}x of the full-data learner at the same "
                          f"theta0' or ridge.",
                  ("transfer_fresh", "transfer_ridge"), "positive", control="no distillation steps"),
        ClaimDecl("C5.7", f"S1 encodes span(U), which does not depend on the width: at a fresh theta0' of width L' = "
                          f"{widths} (and L = {P['width']}) the first layer it trains is aligned with span(U) at "
                          f"least {c['transfer_width_null']:g}x as well as that of a label-shuffled S1, and at least "
                          f"{c['transfer_width']:g}x as well as the full-data learner's.",
                  ("transfer_width_null", "transfer_width"), "widths", control="no distillation steps"),
        ClaimDecl("C5.8", "Below r stage-1 points the error respects the span bound 1 - m1/r.", ("span",), "span",
                  consistency="the bound holds by construction for the population error of any predictor that sees "
                              "the input through m1 directions, so only test-sample noise or a bug can fail it"),
    ]
