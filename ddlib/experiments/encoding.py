"""Claim C1 (notebook 01): the distilled data carry span(U).  How much of the distilled inputs'
energy lies in span(U), how well the W1 they produce aligns with U, what the points look like in
U-coordinates, the spectra of the stage-1 gradients, and how close the distilled stage-1 gradient
comes to the population gradient beside the best rank-m1 approximation of the real-data gradient
it was distilled from (the null of "distillation denoises")."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pandas as pd
import torch

from ..baselines import random_subset
from ..claims import CheckSpec, Claim, Precondition
from ..distillers import distill_stage1, distill_state
from ..learners import TwoStageLearner, stage1_gradient
from ..metrics import alignment, energy_in_subspace, gradient_cosine, principal_angles, test_mse
from ..tasks import MultiIndexTask
from ..theory import population_first_layer, population_stage1_gradient
from ..validation import check_int
from .repetitions import repetitions

__all__ = ["PROFILES", "CHECKS", "DENOISING", "EncodingTables", "run", "run_encoding", "shared_noise_direction",
           "best_rank_approximation", "summarise", "measures", "denoising_checks", "regime", "statements", "claims"]

_BASE = dict(d=32, r=2, width=512, n_train=8000, m1=8, m2=32, link="he2", n_seeds=5, steps1=300,
             steps2=200, lr=0.05, restarts=3, n_subsets=5, n_points_shown=300, n_test=5000,
             denoise_n_grid=[2000, 8000, 32000], denoise_m1_grid=[8, 16])
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {**_BASE, "d": 16, "width": 256, "n_train": 3000, "m1": 8, "m2": 16, "n_seeds": 3,
              "steps1": 150, "steps2": 100, "n_points_shown": 200, "n_test": 2000,
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
            alignment and principal angles of the W1 they produce, cosine with G_pop (for S1 also
            that of the rank-m1 truncation of the real gradient; for the full data the learner's
            test MSE).
        points: one row per point shown: U-coordinates, norm inside and outside span(U), label.
        spectra: one row per (repetition, matrix, k): eigenvalues of H, singular values of the
            stage-1 gradients G_pop, G_D and G_S, raw and relative to the largest.
        denoising: one row per (repetition, n, source, points): per-neuron cosine with G_pop of
            the real-data gradient on n points and of the distilled gradient on m1 points, the
            distilled gradient's cosine with the real one it matched, and (``cos_pop_trunc``) the
            cosine with G_pop of the best rank-m1 approximation of that real gradient: the null a
            denoising claim must beat.
    """

    sets: pd.DataFrame
    points: pd.DataFrame
    spectra: pd.DataFrame
    denoising: pd.DataFrame

    def as_tables(self) -> dict[str, pd.DataFrame]:
        """The four tables by name, ``sets`` first (``provenance.write_notebook_results``)."""
        return {"sets": self.sets, "points": self.points, "spectra": self.spectra, "denoising": self.denoising}


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
    if W1 is not None and bool(W1.any()):
        angles = torch.rad2deg(principal_angles(W1, task))
        out.update(alignment=alignment(W1, task), smallest_angle_deg=float(angles[0]),
                   largest_angle_deg=float(angles[-1]))
    if G is not None:
        out["cos_pop"] = gradient_cosine(G, G_pop)
    if real is not None and task.r < min(G.shape):
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
    top = float(values[0])  # 0 for he3's population gradient: no relative spectrum
    return [{**common, "matrix": matrix, "k": k + 1, "value": float(v),
             "relative": float(v) / top if top > 0 else float("nan")}
            for k, v in enumerate(values)]


def best_rank_approximation(G: torch.Tensor, k: int) -> torch.Tensor:
    """The best rank-k approximation of G (Eckart-Young: its top-k singular triplets).

    The null of the denoising comparison: a distilled gradient on m1 points has rank at most m1,
    and so does this truncation of the real gradient, which keeps its top directions and drops
    the rest -- noise and the population gradient's own small directions alike.
    """
    k = check_int("k", k, min_value=0)
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


def _headline(p, learner: TwoStageLearner, G_pop: torch.Tensor, G_D: torch.Tensor, *, m1: int, m2: int,
              n_subsets: int, n_test: int, distill_options: dict[str, Any]):
    """One repetition at the headline sizes: the distillation state and the ``sets`` rows."""
    task, net = p.task, p.net
    state = distill_state(net, p.X, p.y, m1, m2, learner=learner, seed=p.seeds["distill"], task=task,
                          **distill_options)
    ds = state.distilled
    (X1, y1), (X2, _) = ds.stage1, ds.stage2
    G_S = stage1_gradient(net.W, net.a, net.b, X1, y1, None)
    full = learner.fit(net, (p.X, p.y))
    W_pop = None if task.link == "he3" else population_first_layer(net, task)  # G_pop = 0 for he3
    real = (p.X, p.y)
    rows = [{"source": "S1", "subset": 0, "n_points": m1, "cos_pop_trunc": gradient_cosine(
                 best_rank_approximation(G_D, m1), G_pop),
             **_describe(task, G_pop, points=X1, start=state.stage1.best_start().X, W1=state.W1, G=G_S, real=real)},
            {"source": "S2", "subset": 0, "n_points": m2,
             **_describe(task, G_pop, points=X2, start=state.stage2.best_start().X)},
            {"source": "full data", "subset": 0, "n_points": p.X.shape[0],
             "test_mse": test_mse(full, task, n_test, seed=p.seeds["test"]),
             **_describe(task, G_pop, points=p.X, W1=full.W, G=G_D, real=real)},
            {"source": "population", "subset": 0, "n_points": 0, **_describe(task, G_pop, W1=W_pop, G=G_pop)}]
    for j in range(n_subsets):
        Xr, yr = random_subset(p.X, p.y, m1, seed=p.seeds["subset"] + j)
        rows.append({"source": "random m1 subset", "subset": j, "n_points": m1,
                     **_describe(task, G_pop, points=Xr, W1=learner.stage1(net, Xr, yr),
                                 G=stage1_gradient(net.W, net.a, net.b, Xr, yr, None))})
    return state, G_S, rows


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


def run_encoding(*, d: int, r: int, width: int, n_train: int, m1: int, m2: int, link: str, n_seeds: int,
                 steps1: int, steps2: int, lr: float, restarts: int, n_subsets: int, n_points_shown: int,
                 n_test: int, denoise_n_grid: list[int], denoise_m1_grid: list[int], seed: int,
                 progress: bool = False) -> EncodingTables:
    """Distil each repetition's real data with ``gm+kip`` and measure what the points encode.

    Sources in ``sets``: ``S1`` and ``S2`` (the distilled points), ``full data`` (all n_train real
    points; its row carries the full-data learner's test MSE), ``random m1 subset`` (``n_subsets``
    random real subsets of m1 points, each used as stage-1 data) and ``population`` (W1 =
    rownorm(-G_pop), the infinite-data learner; no points).  ``S1``'s row also carries
    ``cos_pop_trunc``, the cosine with G_pop of the best rank-m1 approximation of the real gradient.
    ``denoising`` distils stage 1 alone (``ddlib.distillers.distill_stage1``, the same S1 as
    ``distill``) from the first n real points of the repetition's draw for every n of
    ``denoise_n_grid`` and m1 of ``denoise_m1_grid``.

    Args:
        d, r, width, n_train, m1, m2, link: the problem and the headline distilled sizes.
        n_seeds: repetitions; repetition k uses base seed ``seed + k`` (``make_problem``).
        steps1, steps2, lr, restarts: distillation hyper-parameters (``ddlib.distill``).
        n_subsets: random real m1-subsets per repetition.
        n_points_shown: real points stored in ``points`` beside the distilled ones.
        n_test: fresh test points for the full-data learner's test MSE.
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
    options = dict(steps1=steps1, steps2=steps2, lr=lr, restarts=restarts)
    sets, points, spectra, denoising = [], [], [], []
    for rep in repetitions(seed=seed, n_seeds=n_seeds, d=d, r=r, width=width, n_train=n_train, link=link,
                           progress=progress):
        p = rep.problem
        common = rep.record(m1=m1, m2=m2)
        G_pop = population_stage1_gradient(p.net, p.task)
        G_D = stage1_gradient(p.net.W, p.net.a, p.net.b, p.X, p.y, learner.chunk_size)
        state, G_S, rows = _headline(p, learner, G_pop, G_D, m1=m1, m2=m2, n_subsets=n_subsets, n_test=n_test,
                                     distill_options=options)
        ds = state.distilled
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
    return EncodingTables(pd.DataFrame(sets), pd.DataFrame(points), pd.DataFrame(spectra), pd.DataFrame(denoising))


# ----------------------------------------------------------------------------------------------
# Claims: each check's quantity per repetition (``measures``), the regime, the verdicts
# ----------------------------------------------------------------------------------------------

run = run_encoding
INFORMATION_EXPONENT_2 = ("he2", "aniso")  # links one gradient step can learn (he3 cannot)
LEARNS = 0.5  # the full-data learner "learns" when its test MSE is at most half the zero predictor's
CHECKS: dict[str, CheckSpec] = {
    "energy": CheckSpec("energy of S1 in span(U) / chance r/d", ">=", 3.0,
                        "energy relative to chance r/d, the share of an isotropic point"),
    "align_full": CheckSpec("alignment of W1 from S1 / from all n real points", ">=", 0.9,
                            "the full-data learner's first layer"),
    "align_random": CheckSpec("alignment of W1 from S1 / from m1 random real points", ">=", 1.5,
                              "a random real subset of the same m1 points (mean over subsets)"),
    "truncation": CheckSpec("cos with G_pop: distilled minus rank-m1 truncation of G_D, at n_train", ">=", -0.05,
                            "per-neuron cosine with G_pop of the best rank-m1 approximation of the real gradient"),
}
# The denoising comparison along n, in the direction a denoising claim asserts (distilled >=
# truncated real gradient).  Reported beside the claims, with the verdict it would get, and not
# enforced: it is not a claim this page makes (see the page).
DENOISING = CheckSpec("cos with G_pop: distilled minus rank-m1 truncation of G_D", ">=", 0.0,
                      "the best rank-m1 approximation of the real gradient on the same n points")


def _by_repetition(sets: pd.DataFrame, source: str) -> pd.DataFrame:
    return sets[sets.source == source].groupby("repetition").mean(numeric_only=True)


def measures(tables: EncodingTables, P: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per repetition, the quantity behind each check of ``CHECKS`` (non-finite values, e.g. an
    alignment ratio for a first layer of zeros, are left out)."""
    s1, full = _by_repetition(tables.sets, "S1"), _by_repetition(tables.sets, "full data")
    rand = _by_repetition(tables.sets, "random m1 subset")
    values = {"energy": s1.energy / s1.chance_energy, "align_full": s1.alignment / full.alignment,
              "align_random": s1.alignment / rand.alignment, "truncation": s1.cos_pop - s1.cos_pop_trunc}
    return {k: [float(x) for x in v if math.isfinite(x)] for k, v in values.items()}


def denoising_checks(tables: EncodingTables) -> pd.DataFrame:
    """The reported denoising comparison: per (n, m1), ``DENOISING`` on the per-repetition
    differences cos(G_S, G_pop) - cos(SVD_m1(G_D), G_pop), with its interval and the verdict it
    would get (columns n, m1, check)."""
    dist = tables.denoising[tables.denoising.source == "distilled"]
    rows = []
    for (n, a), g in dist.groupby(["n", "points"]):
        diff = (g.cos_pop - g.cos_pop_trunc).dropna()
        rows.append({"n": int(n), "m1": int(a), "check": DENOISING.check(diff[diff.map(math.isfinite)].tolist())})
    return pd.DataFrame(rows, columns=["n", "m1", "check"])


def summarise(tables: EncodingTables) -> dict[str, Any]:
    """Headline numbers: per source, the mean over repetitions of energy, alignment, largest
    principal angle, cosine with G_pop (and its truncation's) and test MSE; and the reported
    denoising comparison per (n, m1), with its interval and the verdict it would get."""
    columns = ["energy", "alignment", "largest_angle_deg", "cos_pop", "cos_pop_trunc", "test_mse"]
    by_source = tables.sets.groupby("source")[columns].mean()
    return {"by_source": {src: {c: float(v) for c, v in row.items() if math.isfinite(v)}
                          for src, row in by_source.iterrows()},
            "denoising": [{"n": row.n, "m1": row.m1, **row.check.as_dict()}
                          for row in denoising_checks(tables).itertuples()]}


def regime(tables: EncodingTables, P: Mapping[str, Any]) -> tuple[Precondition, ...]:
    """Where the paper's statement applies: a link of information exponent 2, enough real data
    for the full-data learner to learn, and at least r stage-1 points (fewer span fewer than r
    directions: ``ddlib.theory.span_bound``)."""
    full = float(_by_repetition(tables.sets, "full data").test_mse.mean())
    return (Precondition(f"link of information exponent 2 ({', '.join(INFORMATION_EXPONENT_2)})",
                         P["link"] in INFORMATION_EXPONENT_2, f"link = {P['link']}"),
            Precondition(f"the full-data learner learns (test MSE <= {LEARNS})", full <= LEARNS,
                         f"full-data test MSE {full:.3g} at n = {P['n_train']}"),
            Precondition("m1 >= r", P["m1"] >= P["r"], f"m1 = {P['m1']}, r = {P['r']}"))


def statements(P: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(id, sentence) of each claim at these parameters (the page's claim block)."""
    C = CHECKS
    return [
        ("C1.1", f"The {P['m1']} distilled stage-1 points hold at least {C['energy'].threshold:g}x the chance share "
                 f"r/d of their energy in span(U)."),
        ("C1.2", f"The first layer learned from the {P['m1']} distilled points is aligned with span(U) at least "
                 f"{C['align_full'].threshold:g} as well as the one learned from all {P['n_train']:,} real points, "
                 f"and at least {C['align_random'].threshold:g}x better than one learned from {P['m1']} random "
                 f"real points."),
        ("C1.3", f"The distilled stage-1 gradient comes close to the best rank-{P['m1']} approximation of the real "
                 f"gradient it matches: its per-neuron cosine with the population gradient is at most "
                 f"{-C['truncation'].threshold:g} below that approximation's, at n = {P['n_train']:,}."),
    ]


def claims(tables: EncodingTables, P: Mapping[str, Any]) -> list[Claim]:
    """The claims of notebook 01, with their verdicts on these tables."""
    values, reg = measures(tables, P), regime(tables, P)
    keys = {"C1.1": ("energy",), "C1.2": ("align_full", "align_random"), "C1.3": ("truncation",)}
    return [Claim(cid, text, tuple(CHECKS[k].check(values[k]) for k in keys[cid]), reg)
            for cid, text in statements(P)]
