"""Claims C2 (notebook 02): whether the network trained on a few distilled points comes within a
factor of two of the one trained on all the real data, beats every selection of real points that
stores as many floats, is not worse than each synthetic arm (which the paper does not claim to
beat), and is worth many more real points than it stores -- on the headline link and on other
links of information exponent 2.

Every method is an arm of ``ddlib.experiments.arms`` -- a pair of registered stage methods made by
``ddlib.methods.compose`` from one ``RealData`` per repetition -- the page's own
(``arms.GENERALIZATION``: the distilled set "gm-cos+kip" and every baseline: random, k-center and
herding real points, greedy gradient-matching selection, the spectral set with random real points
or KIP, moment matching with KIP or closed-form labels) and any given by name in ``extra_arms``.
Every arm gets the same budget for its one free hyper-parameter, the stage-2 ridge lambda2: it is
tuned on a validation split of the real data (``ddlib.tuning``) that no arm has seen, the
full-data learner's too.  The effective data size n_eq of a set is read off the full-data
learner's n-curve on the same repetition (``ddlib.effective``).

The encoding claim compares the energy of the distilled stage-1 points in span(U) with its null:
the same stage-1 distillation on the same inputs with the labels permuted by a fixed seeded
permutation (``null_labels``; no closed form of ``ddlib.theory`` gives this link's pure-noise
level), run on every repetition of the headline link.

The claims are declared (``plan``, ``regimes`` -- one entry per link --, ``measures``, ``CHECKS`` and
``check_spec`` for the per-link checks and those of extra arms), each with its negative control
(``CONTROLS``), and decided by ``ddlib.book.claims.claims_of``.  Every threshold is a convention
fixed before the data (``CheckSpec.origin``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import pandas as pd
import torch

from ..book.claims import Check, CheckSpec, ClaimDecl, Precondition
from ..book.controls import Control
from ..data import Data
from ..distillers import DistilledSet
from ..effective import LearningCurve, compression, effective_size
from ..learners import TwoStageLearner
from ..metrics import alignment, energy_in_subspace, test_mse
from ..theory import memory_report
from ..tuning import tune_ridge, validation_split
from ..methods import Config, RealData
from .arms import ARMS, GENERALIZATION, SELECT_POOL, Arm, compose_arm, labels, resolve_arms
from .parameters import Parameters
from .problem import Problem
from .regime import enough_stage1_points, full_data_learns, learnable_link
from .repetitions import repetitions, summarise as summarise_columns

__all__ = ["PARAMETERS", "PROFILES", "CHECKS", "OPTIONAL_CHECKS", "CONTROLS", "DISTILLED", "CLOSEST", "REAL_POINTS",
           "SYNTHETIC", "LINE_ARMS", "LINE_METHODS", "GeneralizationTables", "run", "run_generalization",
           "arms_of", "validation_size", "curve_sizes", "null_labels", "NULL_SEED_OFFSET", "effective_sizes",
           "summarise", "others", "COMPRESSION_CHECK", "synthetic_key", "measures", "check_spec", "regimes", "plan"]

# The notebook's parameters, declared once: (name, value at the book profile, help).
PARAMETERS = Parameters(
    ("d", 32, "input dimension"),
    ("r", 2, "intrinsic dimension, rank of U"),
    ("width", 512, "network width L"),
    ("n_train", 8000, "real points, validation split included"),
    ("validation_share", 0.125, "share held out to tune lambda2"),
    ("m1", 8, "stage-1 points (headline size)"),
    ("m2", 32, "stage-2 points (headline size)"),
    ("link", "he2", '"he2" | "aniso" | "quad" | "he3"'),
    ("other_links", ["aniso", "quad"], "links also run at (m1, m2)"),
    ("n_seeds", 5, "repetitions"),
    ("m1_grid", [2, 8], "m1 line (m2 fixed), headline link"),
    ("m2_grid", [8, 32, 64], "m2 line (m1 fixed), headline link"),
    ("n_grid", [500, 1000, 2000, 4000], "n of the full-data learner's curve"),
    ("steps1", 300, "Adam steps of stage-1 gradient matching"),
    ("steps2", 200, "Adam steps of KIP (stage 2)"),
    ("lr", 0.05, "Adam learning rate of the distiller and every optimising baseline"),
    ("restarts", 3, "starts per stage; lowest matching loss kept"),
    ("n_test", 5000, "fresh test points per repetition"),
    ("extra_arms", [], "more arms, 'stage1+stage2' of registered methods", "list[str]"),
)
PROFILES: dict[str, dict[str, Any]] = PARAMETERS.profiles(
    smoke={"d": 16, "width": 256, "n_train": 3000, "m1": 8, "m2": 16, "n_seeds": 3, "m1_grid": [2, 8],
           "m2_grid": [4, 16], "n_grid": [125, 250, 500, 1000], "steps1": 150, "steps2": 100, "n_test": 4000},
    paper={"n_seeds": 10, "m1_grid": [1, 2, 4, 8, 16, 32], "m2_grid": [4, 8, 16, 32, 64, 128],
           "n_grid": [125, 250, 500, 1000, 2000, 3000, 4000, 5000, 6000], "n_test": 20_000},
)

DISTILLED = ARMS["gm-cos+kip"].label  # gradient matching (cosine) + KIP, the paper's pipeline
LINE_ARMS = ("gm-cos+kip", "moments+kip", "spectral+random")  # the arms along the m-lines
LINE_METHODS = tuple(ARMS[a].label for a in LINE_ARMS)
_ARMS = resolve_arms(GENERALIZATION)
REAL_POINTS = labels(_ARMS, "real points")  # the page's own arms of real points
SYNTHETIC = labels(_ARMS, "synthetic")  # its own synthetic arms


def arms_of(P: Mapping[str, Any]) -> list[Arm]:
    """The arms compared at these parameters: the page's own and ``P["extra_arms"]``, each checked
    against the registries (a ValueError naming the registered methods before anything runs)."""
    return resolve_arms(GENERALIZATION, P.get("extra_arms", ()))


@dataclass(frozen=True)
class GeneralizationTables:
    """The two tables of notebook 02: ``table`` (one row per repetition, link, method and size) and
    ``curves`` (the full-data learner's n-curve: one row per repetition, link and n)."""

    table: pd.DataFrame
    curves: pd.DataFrame


def validation_size(n_train: int, share: float) -> int:
    """Real points held out for tuning lambda2: ``share`` of n_train, at least 2, leaving at least 2."""
    return min(max(2, round(share * n_train)), n_train - 2)


def curve_sizes(n_grid: list[int], n_fit: int) -> list[int]:
    """The n of the full-data learner's curve: the grid's sizes below n_fit, then n_fit itself."""
    return sorted({n for n in n_grid if 1 <= n < n_fit} | {n_fit})


NULL_SEED_OFFSET = 7919  # the null's permutation seed is the repetition's distillation seed plus this (fixed)


def null_labels(y: torch.Tensor, seed: int) -> torch.Tensor:
    """The labels of the encoding claim's null: ``y`` permuted by the permutation seeded with
    ``seed + NULL_SEED_OFFSET`` (fixed per repetition), so no input carries its own label."""
    g = torch.Generator().manual_seed(int(seed) + NULL_SEED_OFFSET)
    return y[torch.randperm(len(y), generator=g).to(y.device)]


class _Scorer:
    """One repetition's evaluation: trains theta0 on a pair (S1, S2) with lambda2 tuned on the
    validation split, and measures the result."""

    def __init__(self, p: Problem, validation: Data, n_test: int) -> None:
        self.p, self.validation, self.n_test = p, validation, n_test

    def __call__(self, stage1: Data, stage2: Data, memory_floats: int) -> dict[str, float]:
        p = self.p
        tuned = tune_ridge(p.net, stage1, stage2, self.validation)
        return {"test_mse": test_mse(tuned.net, p.task, self.n_test, seed=p.seeds["test"]),
                "ridge": tuned.ridge, "validation_mse": tuned.best_validation_mse,
                "alignment": alignment(tuned.net, p.task), "energy_s1": energy_in_subspace(stage1[0], p.task),
                "memory_floats": memory_floats}

    def set(self, ds: DistilledSet) -> dict[str, float]:
        """The measured row of a composed set (its memory counted by ``DistilledSet.memory_floats``)."""
        return self(ds.stage1, ds.stage2, ds.memory_floats)


def run_generalization(*, d: int, r: int, width: int, n_train: int, validation_share: float, m1: int, m2: int,
                       link: str, other_links: list[str], n_seeds: int, m1_grid: list[int], m2_grid: list[int],
                       n_grid: list[int], steps1: int, steps2: int, lr: float, restarts: int, n_test: int,
                       extra_arms: list[str], seed: int, progress: bool = False) -> GeneralizationTables:
    """The distilled set against the full data and every other arm, on ``n_seeds`` repetitions of
    the headline ``link`` and of each of ``other_links``.

    Each repetition holds out ``validation_share`` of its n_train real points for tuning lambda2;
    every arm is composed (``arms.compose_arm``) from one ``RealData`` of the rest, all with one
    seed (the repetition's distillation seed) and one budget (``steps1``, ``steps2``, ``lr``,
    ``restarts``; the spectral set gets the task's r, an oracle the distillers do not get).  At the
    headline size (m1, m2), every link: the full-data learner and every arm of ``arms_of`` (the
    page's and ``extra_arms``), each with (m1 + m2)(d + 1) floats; the full-data learner's n-curve
    (``n_grid``).  On the headline link only: the arms of ``LINE_ARMS`` along the m1 grid at m2
    fixed and the m2 grid at m1 fixed.

    Returns:
        ``table``: one row per (repetition, link, method, m1, m2): the arm (its label as
        ``method``, its name as ``arm``, its family), test MSE (normalised by Var y), the chosen
        lambda2 and its validation MSE, alignment of the trained W, energy of S1 in span(U), memory
        in floats, the stage-1 matching loss (NaN for a method that minimises none), and for the
        distilled set at (m1, m2) on the headline link ``energy_s1_null``: the energy in span(U) of
        the S1 that the same stage-1 distillation makes from the same inputs with ``null_labels``
        (the encoding claim's null; NaN on every other row).
        ``curves``: one row per (repetition, link, n): the full-data learner's test MSE and lambda2.
    """
    arms = resolve_arms(GENERALIZATION, extra_arms)  # an unknown name stops here, before any work
    line_arms = [ARMS[a] for a in LINE_ARMS]
    learner = TwoStageLearner()
    lines = sorted({(a, m2) for a in m1_grid} | {(m1, b) for b in m2_grid} | {(m1, m2)})
    rows, curve_rows = [], []
    for which in dict.fromkeys([link, *other_links]):
        for rep in repetitions(seed=seed, n_seeds=n_seeds, d=d, r=r, width=width, n_train=n_train, link=which,
                               progress=progress, desc=f"{which} repetitions"):
            p = rep.problem
            train, validation = validation_split(p.X, p.y, validation_size(n_train, validation_share),
                                                 seed=p.seeds["subset"])
            score = _Scorer(p, validation, n_test)
            n_fit = train.X.shape[0]
            for n in curve_sizes(n_grid, n_fit):
                part = Data(train.X[:n], train.y[:n])
                out = score(part, part, n * (d + 1))
                curve_rows.append(rep.record(n=n, test_mse=out["test_mse"], ridge=out["ridge"]))
                if n == n_fit:
                    rows.append(rep.record(method="full data", family="reference", arm="", m1=n_fit, m2=n_fit,
                                           stage1_matching_loss=math.nan, **out))
            real = RealData(p.net, *train)
            config = Config(learner=learner, steps1=steps1, steps2=steps2, lr=lr, restarts=restarts, r=p.task.r,
                            pool=SELECT_POOL)
            for a, b in (lines if which == link else [(m1, m2)]):
                for arm in (arms if (a, b) == (m1, m2) else line_arms):
                    ds = compose_arm(real, arm, a, b, config, seed=p.seeds["distill"], task=p.task).distilled
                    loss = ds.metadata["stage1_matching_loss"]
                    row = {"family": arm.family, "arm": arm.name,
                           "stage1_matching_loss": math.nan if loss is None else loss, **score.set(ds)}
                    if arm.name == "gm-cos+kip" and which == link and (a, b) == (m1, m2):
                        row["energy_s1_null"] = _null_energy(p, train, a, config)
                    rows.append(rep.record(method=arm.label, m1=a, m2=b, **row))
    return GeneralizationTables(pd.DataFrame(rows), pd.DataFrame(curve_rows))


def _null_energy(p: Problem, train: Data, m1: int, config: Config) -> float:
    """The energy in span(U) of the S1 that the distiller's stage 1 ("gm-cos", same seed, same
    budget) makes from ``train``'s inputs with ``null_labels``: the level that stage-1
    distillation reaches when the labels carry no information about the inputs."""
    null = RealData(p.net, train.X, null_labels(train.y, p.seeds["distill"]))
    return energy_in_subspace(null.stage1("gm-cos", m1, config, p.seeds["distill"]).data.X, p.task)


run = run_generalization


# ----------------------------------------------------------------------------------------------
# Effective data size and the headline summary
# ----------------------------------------------------------------------------------------------

def _curves(tables: GeneralizationTables, link: str) -> dict[int, LearningCurve]:
    """Per repetition, the full-data learner's n-curve on ``link`` (only curves of >= 2 sizes)."""
    c = tables.curves
    c = c[c.link == link] if len(c) else c
    return {int(k): LearningCurve(tuple(int(n) for n in g.n), tuple(float(e) for e in g.test_mse))
            for k, g in (c.groupby("repetition") if len(c) else []) if len(g) >= 2}


def effective_sizes(tables: GeneralizationTables, link: str, method: str, m1: int, m2: int) -> pd.DataFrame:
    """Per repetition, n_eq of ``method`` at (m1, m2) on ``link`` (``ddlib.effective.effective_size``
    on that repetition's own curve), with ``side`` ("below": worse than the curve's smallest n,
    "above": better than the full-data learner) and ``n_bound``: n_eq where defined, else the end
    of the curve it lies beyond -- a lower bound for "above", an upper bound for "below".  The
    ``compression`` uses ``n_bound`` only where it cannot flatter the set: n_eq or the lower bound
    ("above"); for "below" it is NaN (an upper bound would count in the set's favour), which makes
    the compression check inconclusive (``compression_bound`` keeps the bound itself)."""
    curves = _curves(tables, link)
    t = tables.table
    rows = t[(t.link == link) & (t.method == method) & (t.m1 == m1) & (t.m2 == m2)]
    out = []
    for _, row in rows.iterrows():
        curve = curves.get(int(row.repetition))
        if curve is None:
            continue
        e = effective_size(float(row.test_mse), curve)
        bound = e.n_eq if e.n_eq is not None else float(curve.n[0] if e.side == "below" else curve.n[-1])
        comp = compression(bound, int(row.d), int(row.memory_floats))
        out.append({"repetition": int(row.repetition), "n_eq": math.nan if e.n_eq is None else e.n_eq,
                    "side": e.side, "n_bound": bound, "compression": math.nan if e.side == "below" else comp,
                    "compression_bound": comp})
    return pd.DataFrame(out, columns=["repetition", "n_eq", "side", "n_bound", "compression", "compression_bound"])


def _compression_check(eff: pd.DataFrame) -> Check:
    """The compression check.  Where the set is worse than the whole curve in some repetitions
    (and better than the full data in none), every ``compression_bound`` is at least the true
    value, so a check that fails on the bounds fails on the truth too; otherwise those
    repetitions make it inconclusive."""
    spec = CHECKS["compression"]
    exact = spec.check(eff.compression.tolist())
    if not (eff.side == "below").any() or (eff.side == "above").any():
        return exact
    bounded = spec.check(eff.compression_bound.tolist())
    return bounded if bounded.verdict == "does not hold" else exact


def summarise(tables: GeneralizationTables, P: Mapping[str, Any]) -> dict[str, Any]:
    """Headline numbers per link at (m1, m2): per method, mean with t-interval, min and max over
    repetitions of test MSE, alignment and energy of S1; the distilled set's n_eq; the memory counts."""
    t = tables.table
    head = t[((t.m1 == P["m1"]) & (t.m2 == P["m2"])) | (t.method == "full data")]
    stats = summarise_columns(head, ["link", "method"], ["test_mse", "alignment", "energy_s1", "ridge"])
    out: dict[str, Any] = {}
    for row in stats.to_dict(orient="records"):
        out.setdefault(row["link"], {}).setdefault(row["method"], {})[row["quantity"]] = {
            k: row[k] for k in ("mean", "lo", "hi", "min", "max")}
    for link in out:
        eff = effective_sizes(tables, link, DISTILLED, P["m1"], P["m2"])
        out[link]["n_eq"] = {"per_repetition": eff.n_bound.tolist(), "side": eff.side.tolist()}
    n_fit = P["n_train"] - validation_size(P["n_train"], P["validation_share"])
    out["memory"] = memory_report(m1=P["m1"], m2=P["m2"], d=P["d"], r=P["r"], width=P["width"], n=n_fit)
    return out


# ----------------------------------------------------------------------------------------------
# Claims: each check's quantity per repetition (``measures``), the regimes, the declarations (``plan``)
# ----------------------------------------------------------------------------------------------

CLOSEST = ARMS["moments+kip"].label  # the closest baseline: the distilled set's stage 2, another stage 1
_EQUAL = "at the same floats, each ridge tuned on the same validation split"
_ON_OTHERS = ", other links"  # in a claim, replaced by the link's name
_SYN = "synthetic/"  # check key prefix of the comparison with one synthetic arm: "synthetic/<label>"
_BEATS = ("Superiority at ratio 1 (the whole 95% interval below 1), the field's convention for 'beats' where the "
          "paper names no factor")
# The margin of every arm the paper does not claim to beat: fixed by the field's equivalence convention, never
# by where the ratios fall.
NOT_WORSE_MARGIN = 1.25
_NOT_WORSE = (f"Non-inferiority (the one-sided half of a TOST equivalence test) at {NOT_WORSE_MARGIN:g}, the upper "
              "end of the field's 80-125% equivalence margin (the bioequivalence convention of the FDA and EMA), "
              "for an arm the paper does not claim to beat: the whole 95% interval of the error ratio at or below "
              "the margin, a one-sided test at 2.5%, stricter than TOST's 5%")


def synthetic_key(baseline: str, other: bool = False) -> str:
    """The check key of the comparison with the synthetic arm labelled ``baseline``: "synthetic/<label>"
    on the headline link, "other_synthetic/<label>" pooled over the other links (per link: ``...:<link>``)."""
    return f"{'other_' if other else ''}{_SYN}{baseline}"


def _why(label: str) -> str:
    """What sets an arm apart, for its check's basis (ddlib's own arms; '' for another)."""
    a = next((x for x in ARMS.values() if x.label == label), None)
    if a is None:
        return ""
    if a.stage1 == "spectral":
        return " (an oracle of the task's r)"
    return " (the same stage 2, another stage 1)" if a.stage2 == "kip" else ""


def _not_worse(baseline: str, where: str = "") -> CheckSpec:
    return CheckSpec(f"distilled / {baseline} test MSE{where}", "<=", NOT_WORSE_MARGIN,
                     f"{_NOT_WORSE} -- here {baseline}{_why(baseline)}, {_EQUAL}.", geometric=True,
                     origin="convention")


CHECKS: dict[str, CheckSpec] = {
    "gap": CheckSpec("distilled / full-data test MSE", "<=", 2.0,
                     "A factor of two, the convention for 'comes close to the full-data learner' (the same order), "
                     "both ridges tuned on the same validation split.", geometric=True, origin="convention"),
    "real": CheckSpec("distilled / best real-point baseline test MSE", "<=", 1.0,
                      f"{_BEATS}, against the best of each repetition's selections of real points {_EQUAL}.",
                      geometric=True, origin="convention"),
    **{synthetic_key(b): _not_worse(b) for b in SYNTHETIC},
    "compression": CheckSpec("n_eq (d + 1) / memory of the distilled set", ">=", 10.0,
                             "An order of magnitude, the convention read into 'worth many more real points than it "
                             "stores' (1: worth what it stores; the paper names no factor).", geometric=True,
                             origin="convention"),
    "energy": CheckSpec("energy of S1 in span(U) / label-shuffled null", ">=", 2.0,
                        "Twice the null, the convention for 'encodes': the null is the same stage-1 distillation on "
                        "the same inputs with the labels permuted by a fixed seeded permutation, paired by repetition "
                        "(no closed form of ddlib.theory gives this link's pure-noise level).", geometric=True,
                        origin="convention"),
    "more_m2": CheckSpec("test MSE at the largest / the smallest m2 of the grid", "<=", 1.0,
                         f"{_BEATS}, against the same learner with the fewest stage-2 points of the grid.",
                         geometric=True, origin="convention"),
    "other_real": CheckSpec(f"distilled / best real-point baseline test MSE{_ON_OTHERS}", "<=", 1.0,
                            f"{_BEATS}, against the best of each repetition's selections of real points {_EQUAL}.",
                            geometric=True, origin="convention"),
    **{synthetic_key(b, other=True): _not_worse(b, _ON_OTHERS) for b in SYNTHETIC},
}
# The other links' checks: their calibration pools the repetitions of every such link.
OPTIONAL_CHECKS = tuple(f"other_{key}" for key in ("real", *(f"{_SYN}{b}" for b in SYNTHETIC)))


def _versus_keys(P: Mapping[str, Any]) -> tuple[str, ...]:
    """The comparisons with the other arms on one link: "real" (the best arm of real points) and one
    per synthetic arm of ``arms_of(P)`` (the other links' keys are these with "other_" before them)."""
    return ("real", *(synthetic_key(b) for b in labels(arms_of(P), "synthetic")))

# The negative controls (``ddlib.book.controls``): under each, the claims naming it must not hold.
CONTROLS: dict[str, Control] = {
    "no distillation steps": Control(
        "no distillation steps: every optimiser step does nothing, so the distilled set (and the null's S1) is the "
        "random real points it starts from; moment matching, which steps through the same optimiser, likewise",
        sabotage="no distillation steps"),
    "no distillation steps, one start": Control(
        "no distillation steps, one start per stage: the distilled S1 and the null's S1 are the same random real "
        "points (with several starts each would keep the start its own matching loss ranks first)",
        sabotage="no distillation steps", parameters={"restarts": 1}),
    "shuffled labels": Control(
        "shuffled labels: no input carries information about its label, so more stage-2 points have nothing to "
        "add; the full-data learner no longer learns either, which also takes the claim out of its regime",
        sabotage="shuffled labels", expect=("does not hold", "outside regime")),
}


def _paired(table: pd.DataFrame, link: str, m1: int, m2: int) -> pd.DataFrame:
    """Test MSE per repetition (rows) and method (columns) on ``link`` at (m1, m2), the full data beside."""
    t = table[(table.link == link) & (((table.m1 == m1) & (table.m2 == m2)) | (table.method == "full data"))]
    return t.pivot_table(index="repetition", columns="method", values="test_mse", dropna=False)


def _versus(table: pd.DataFrame, link: str, P: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per repetition on ``link``: the gap to full data (distilled / full data), distilled / the
    best arm of real points, and distilled / each synthetic arm (key "synthetic/<label>"); an arm
    missing from a repetition leaves its ratio NaN there (counted: its check is inconclusive)."""
    arms = arms_of(P)
    mse = _paired(table, link, P["m1"], P["m2"])
    if DISTILLED not in mse or "full data" not in mse:
        return {key: [] for key in ("gap", *_versus_keys(P))}
    dist = mse[DISTILLED]
    real = mse.reindex(columns=list(labels(arms, "real points"))).min(axis=1, skipna=False)
    out = {"gap": (dist / mse["full data"]).tolist(), "real": (dist / real).tolist()}
    out.update({synthetic_key(b): (dist / mse.reindex(columns=[b])[b]).tolist() for b in labels(arms, "synthetic")})
    return out


def others(P: Mapping[str, Any]) -> list[str]:
    """The links beyond the headline one, in order, without repeats."""
    return [x for x in dict.fromkeys(P["other_links"]) if x != P["link"]]


# The compression claim's check, decided on the effective sizes (``_compression_check``), not a
# ``CheckSpec`` over values: ``measures`` returns it ready under this key, which only ``plan`` names
# (calibration reads the per-repetition values under "compression").
COMPRESSION_CHECK = "compression_check"


def measures(tables: GeneralizationTables, P: Mapping[str, Any]) -> dict[str, list[float] | Check]:
    """Per repetition, the quantity behind each check of ``CHECKS``; for the other links,
    ``other_<check>:<link>`` per link and ``other_<check>`` the repetitions of every other link in turn;
    and under ``COMPRESSION_CHECK`` the compression claim's ready ``Check`` (``_compression_check``).
    Every repetition is kept: an undefined one (NaN) makes its check inconclusive."""
    table, link = tables.table, P["link"]
    dist = table[(table.method == DISTILLED) & (table.link == link)]
    head = dist[(dist.m1 == P["m1"]) & (dist.m2 == P["m2"])].set_index("repetition")
    null = head.energy_s1_null if "energy_s1_null" in head else pd.Series(math.nan, index=head.index)
    by_m2 = dist[dist.m1 == P["m1"]].pivot_table(index="repetition", columns="m2", values="test_mse", dropna=False)
    lo, hi = (min(by_m2.columns), max(by_m2.columns)) if len(by_m2.columns) else (0, 0)
    versus, keys = _versus(table, link, P), _versus_keys(P)
    eff = effective_sizes(tables, link, DISTILLED, P["m1"], P["m2"])
    out = {**{key: versus[key] for key in ("gap", *keys)},
           "compression": eff.compression.tolist(), COMPRESSION_CHECK: _compression_check(eff),
           "energy": (head.energy_s1 / null).tolist(),
           "more_m2": (by_m2[hi] / by_m2[lo]).tolist() if hi > lo else [],
           **{f"other_{key}": [] for key in keys}}
    for other in others(P):
        values = _versus(table, other, P)
        for key in keys:
            out[f"other_{key}:{other}"] = values[key]
            out[f"other_{key}"] = out[f"other_{key}"] + values[key]
    return out


def check_spec(key: str) -> CheckSpec:
    """The spec of a check key: ``CHECKS[key]``, the non-inferiority spec of an extra synthetic arm
    ("synthetic/<label>", "other_synthetic/<label>"), or for a per-link key ``other_<check>:<link>``
    the spec of ``other_<check>`` named for that link."""
    base, _, other = key.partition(":")
    if base in CHECKS:
        spec = CHECKS[base]
    elif base.startswith(_SYN) or base.startswith(f"other_{_SYN}"):
        spec = _not_worse(base.split(_SYN, 1)[1], _ON_OTHERS if base.startswith("other_") else "")
    else:
        raise KeyError(f"no check {key!r}")
    return replace(spec, name=spec.name.replace(_ON_OTHERS, f" on {other}")) if other else spec


def regimes(tables: GeneralizationTables, P: Mapping[str, Any]) -> dict[str, tuple[Precondition, ...]]:
    """Where the paper's statement applies, per link (the headline link and every other one): a link
    of information exponent 2, enough real data for the full-data learner to learn, and at least r
    stage-1 points (fewer span fewer than r directions: ``ddlib.theory.span_bound``)."""
    t = tables.table
    out = {}
    for link in (P["link"], *others(P)):
        full = float(t[(t.method == "full data") & (t.link == link)].test_mse.mean())
        out[link] = (learnable_link(link), full_data_learns(full, f"on {link} at n = {P['n_train']}"),
                     enough_stage1_points(P["m1"], P["r"]))
    return out


def _versus_sentence(link: str, size: str, real: float, arms: list[Arm]) -> str:
    """C2.2's sentence (and each other link's): superiority over every arm of real points,
    non-inferiority to every other arm, each named."""
    syn = labels(arms, "synthetic")
    return (f"On {link}, at equal memory, the distilled set beats every selection of {size} real points in test "
            f"error ({', '.join(labels(arms, 'real points'))}: distilled / best real-point test MSE below {real:g}) "
            f"and is not worse than any other arm ({', '.join(syn)}): non-inferiority, at most "
            f"{NOT_WORSE_MARGIN:g}x each one's error; the paper does not claim it beats them.")


def plan(P: Mapping[str, Any]) -> list[ClaimDecl]:
    """The claims of notebook 02 at these parameters, declared (``ddlib.book.claims.claims_of``
    decides them): C2.1-C2.5 on the headline link, then one claim per other link, each with its
    negative control (``CONTROLS``).  C2.2 and each other link's claim compare the distilled set
    with every arm of ``arms_of(P)``, extra arms included."""
    c = {k: v.threshold for k, v in CHECKS.items()}
    arms = [a for a in arms_of(P) if a.label != DISTILLED]
    keys = _versus_keys(P)
    size, link = f"{P['m1']} + {P['m2']}", P["link"]
    steps = "no distillation steps"
    out = [
        ClaimDecl("C2.1", f"On {link}, a distilled set of {size} points trains the learner to within {c['gap']:g}x "
                          f"of its full-data test error, both ridges tuned on the same validation data.",
                  ("gap",), link, control=steps),
        ClaimDecl("C2.2", _versus_sentence(link, size, c["real"], arms), keys, link, control=steps),
        ClaimDecl("C2.3", f"On {link}, the distilled set is worth at least {c['compression']:g}x its own floats in "
                          f"real data: the full-data learner needs n_eq real points to match its error, with "
                          f"n_eq (d + 1) >= {c['compression']:g} (m1 + m2)(d + 1).",
                  (COMPRESSION_CHECK,), link, control=steps),
        ClaimDecl("C2.4", f"On {link}, the distilled stage-1 points hold at least {c['energy']:g}x the energy in "
                          f"span(U) that the same distillation puts there from label-shuffled data (the null).",
                  ("energy",), link, control=f"{steps}, one start"),
        ClaimDecl("C2.5", f"On {link}, more stage-2 points help: the largest m2 of the grid gives a lower test error "
                          f"than the smallest.",
                  ("more_m2",), link, control="shuffled labels"),
    ]
    out += [ClaimDecl(f"C2.{6 + k}", _versus_sentence(x, size, c["other_real"], arms),
                      tuple(f"other_{key}:{x}" for key in keys), x, control=steps)
            for k, x in enumerate(others(P))]
    return out
