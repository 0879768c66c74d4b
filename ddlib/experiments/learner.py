"""Background (notebook 00): the two-stage learner on all of its real data -- test MSE and the
alignment of W1 with span(U) as n grows, beside the infinite-data learner (W1 from the population
gradient) and two controls that must fail: random features (no stage 1) and the ``he3`` link."""
from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from ..book.claims import CheckSpec, ClaimDecl, Precondition
from ..learners import TwoStageLearner, random_features_learner
from ..metrics import alignment, test_mse
from ..theory import he3_noise_alignment, population_alignment, population_learner, population_stage1_gradient
from ..validation import check_int
from .parameters import Parameters
from .regime import full_data_learns, learnable_link
from .repetitions import repetition, summarise as summarise_columns

__all__ = ["PARAMETERS", "PROFILES", "LEARNERS", "CHECKS", "run", "run_learner", "sample_complexity", "summarise",
           "learner_point", "measures", "regimes", "plan"]

# Methods, in the order of the figures: the learner A(D), the infinite-data learner (theory line),
# and the two controls (run at the first (d, r) pair only).
LEARNERS = ("learner", "population W1", "random features", "he3 learner")

# The notebook's parameters, declared once: (name, value at the book profile, help).
PARAMETERS = Parameters(
    ("dr_grid", [[32, 2], [64, 2]], "[d, r] pairs: input dimension and rank of U"),
    ("width", 512, "network width L"),
    ("n_grid", [250, 500, 1000, 2000, 4000, 8000], "training-set sizes n"),
    ("link", "he2", '"he2" | "aniso" | "quad" | "he3"'),
    ("n_seeds", 5, "repetitions"),
    ("n_test", 5000, "fresh test points per repetition"),
)
PROFILES: dict[str, dict[str, Any]] = PARAMETERS.profiles(
    smoke={"dr_grid": [[32, 2], [16, 2]], "width": 256, "n_seeds": 3, "n_grid": [250, 1000, 4000]},
    paper={"dr_grid": [[32, 2], [64, 2], [128, 2], [32, 1], [32, 3], [32, 4]], "n_seeds": 10, "n_test": 20_000,
           "n_grid": [250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000]},
)


def _fits(rep, n_grid: list[int], name: str, controls: bool, learner: TwoStageLearner,
          n_test: int) -> list[dict[str, Any]]:
    """The rows of one repetition's problem at every n: the learner (``name``), and for a task
    with a population gradient the infinite-data learner, plus random features when ``controls``."""
    p = rep.problem
    # The infinite-data learner needs a known, non-zero population gradient (he3's is exactly 0;
    # a reader's link registered without its part beyond He2 has no closed form).
    population = p.task.link_spec.beyond_he2 is not None and bool(population_stage1_gradient(p.net, p.task).any())
    pop_align = population_alignment(p.net, p.task) if population else float("nan")
    chance = math.sqrt(p.task.r / p.task.d)
    rows = []
    for n in n_grid:
        X, y = p.X[:n], p.y[:n]
        nets = {name: learner.fit(p.net, (X, y))}
        if population:
            nets["population W1"] = population_learner(p.net, p.task, X, y, learner)
        if controls:
            nets["random features"] = random_features_learner(p.net, X, y, learner)
        for method, net in nets.items():
            rows.append(rep.record(method=method, n=n, n_train=n, chance_alignment=chance,
                                   population_alignment=pop_align,
                                   test_mse=test_mse(net, p.task, n_test, seed=p.seeds["test"]),
                                   alignment=alignment(net, p.task)))
    return rows


def run_learner(*, dr_grid: list[list[int]], width: int, n_grid: list[int], link: str, n_seeds: int,
                n_test: int, seed: int, progress: bool = False) -> pd.DataFrame:
    """One row per (repetition, d, r, n, method): normalised test MSE, alignment of W1, seeds.

    For each (d, r) pair and repetition k one problem is drawn from base seed ``seed + k`` with
    max(n_grid) real points; size n uses the first n of them (nested training sets, one shared
    test set), so the curves in n are paired.  ``learner`` is A(D) on those n points;
    ``population W1`` uses the infinite-data first layer and fits stage 2 on the same n points
    (not for a ``he3`` task, whose population gradient is 0); the controls ``random features``
    (stage 2 only) and ``he3 learner`` (same U, theta0 and X, labels from the ``he3`` link;
    skipped when ``link`` is ``he3`` itself) run at the first (d, r) pair only.  Every row carries
    the closed forms it is compared with: ``chance_alignment`` sqrt(r/d) and
    ``population_alignment`` (``ddlib.theory.population_alignment`` at this theta0; NaN for he3).

    Args:
        dr_grid: list of [d, r] pairs.
        width: network width L.
        n_grid: training-set sizes.
        link: the task's link (the controls add ``he3``).
        n_seeds: repetitions.
        n_test: fresh test points per repetition.
        seed: base seed; repetition k uses seed + k.
        progress: show a tqdm bar.

    Returns:
        A tidy DataFrame (columns listed in ``tests/test_experiments_learner.py``).
    """
    if not dr_grid or any(not isinstance(p, (list, tuple)) or len(p) != 2 for p in dr_grid):
        raise ValueError(f"dr_grid must be a non-empty list of [d, r] pairs, got {dr_grid!r}")
    if not n_grid:
        raise ValueError(f"n_grid must be a non-empty list of training-set sizes, got {n_grid!r}")
    n_grid = sorted({check_int("n_grid entry", n, min_value=1) for n in n_grid})
    n_seeds = check_int("n_seeds", n_seeds, min_value=1)
    learner = TwoStageLearner()
    rows: list[dict[str, Any]] = []
    jobs = [(i, d, r, k) for i, (d, r) in enumerate(dr_grid) for k in range(n_seeds)]
    for i, d, r, k in tqdm(jobs, desc="(d, r, repetition)", disable=not progress):
        # The learner on the notebook's link, then (first pair only) the he3 control.
        runs = [(link, "learner")] + ([("he3", "he3 learner")] if i == 0 and link != "he3" else [])
        for task_link, name in runs:
            rep = repetition(k, seed, d=d, r=r, width=width, n_train=n_grid[-1], link=task_link)
            rows += _fits(rep, n_grid, name, controls=(i == 0 and name == "learner"), learner=learner,
                          n_test=n_test)
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> dict[str, Any]:
    """Headline numbers at the largest n: per (d, r) and method, mean with t-interval, min and max
    over repetitions of test MSE and alignment, beside the closed forms (infinite-data alignment,
    its mean over repetitions; pure-noise he3 alignment; chance sqrt(r/d))."""
    last = table[table.n == table.n.max()]
    stats = summarise_columns(last, ["d", "r", "method"], ["test_mse", "alignment"])
    out: dict[str, Any] = {"n": int(table.n.max()), "methods": {}}
    for row in stats.to_dict(orient="records"):
        key = f"d={row['d']}, r={row['r']}, {row['method']}"
        out["methods"].setdefault(key, {})[row["quantity"]] = {k: row[k] for k in ("mean", "lo", "hi", "min", "max")}
    out["closed_forms"] = {f"d={d}, r={r}": {"population_alignment": float(g.population_alignment.mean()),
                                             "he3_noise_alignment": he3_noise_alignment(int(d), int(r)),
                                             "chance_alignment": math.sqrt(r / d)}
                           for (d, r), g in table.groupby(["d", "r"])}
    return out


def sample_complexity(table: pd.DataFrame, target: float, method: str = "learner") -> pd.DataFrame:
    """Smallest n of the grid at which ``method`` reaches test MSE <= ``target``, per (d, r, repetition).

    Returns:
        Columns d, r, repetition, n_star (NaN where no n of the grid reaches the target).
    """
    rows = []
    for (d, r, k), g in table[table.method == method].groupby(["d", "r", "repetition"]):
        reached = g[g.test_mse <= target].n
        rows.append({"d": d, "r": r, "repetition": k, "n_star": float(reached.min()) if len(reached) else float("nan")})
    return pd.DataFrame(rows)


def learner_point(*, d: int, r: int, width: int, n_train: int, link: str = "he2", noise: float = 0.0,
                  n_test: int = 4000, seed: int) -> dict[str, float]:
    """One sweep point of this notebook's setting: the learner on ``n_train`` real samples.

    The problem comes from ``seed`` like every repetition (``ddlib.experiments.problem``).

    Returns:
        ``test_mse`` (normalised, 1.0 = zero predictor), ``alignment`` of W1 with span(U) and
        ``random_features_mse`` (stage 2 only, W1 = W0: the control without feature learning).
    """
    p = repetition(0, seed, d=d, r=r, width=width, n_train=n_train, link=link, noise=noise).problem
    learner = TwoStageLearner()
    trained = learner.fit(p.net, (p.X, p.y))
    control = random_features_learner(p.net, p.X, p.y, learner)
    return {"test_mse": test_mse(trained, p.task, n_test, seed=p.seeds["test"]),
            "alignment": alignment(trained, p.task),
            "random_features_mse": test_mse(control, p.task, n_test, seed=p.seeds["test"])}


# ----------------------------------------------------------------------------------------------
# Claims: each check's quantity per repetition (``measures``), the regime, the verdicts
# ----------------------------------------------------------------------------------------------

run = run_learner
CHECKS: dict[str, CheckSpec] = {
    "learns": CheckSpec("full-data test MSE at the largest n, worst (d, r)", "<=", 0.1,
                        "normalised test MSE: 1 is the zero predictor", geometric=True),
    "data": CheckSpec("test MSE at the largest / the smallest n, worst (d, r)", "<=", 0.1,
                      "the same learner on the fewest points of the grid", geometric=True),
    "bound": CheckSpec("learner / infinite-data alignment, largest over n and (d, r)", "<=", 1.0,
                       "the closed-form alignment of the infinite-data first layer (population_alignment)"),
    "approach": CheckSpec("learner / infinite-data alignment at the largest n, worst (d, r)", ">=", 0.55,
                          "the closed-form alignment of the infinite-data first layer (population_alignment)"),
    "closing": CheckSpec("shortfall from the infinite-data alignment, largest / smallest n, worst (d, r)", "<=",
                         0.7, "the learner's own shortfall on the fewest points of the grid"),
    "rf_mse": CheckSpec("random-features test MSE at the largest n", ">=", 0.4,
                        "normalised test MSE: 1 is the zero predictor", geometric=True),
    "rf_gap": CheckSpec("random-features / learner test MSE at the largest n", ">=", 10.0,
                        "the full-data learner (with its feature-learning step) on the same points",
                        geometric=True),
    "he3_high": CheckSpec("he3 alignment / pure-noise closed form, mean over n", "<=", 1.6,
                          "the closed-form alignment of a pure-noise first layer (he3_noise_alignment)"),
    "he3_low": CheckSpec("he3 alignment / pure-noise closed form, mean over n", ">=", 0.625,
                         "the closed-form alignment of a pure-noise first layer (he3_noise_alignment)"),
    "he3_flat": CheckSpec("he3 alignment at the largest / the smallest n", "<=", 1.5,
                          "the same control on the fewest points of the grid"),
    "he3_mse": CheckSpec("he3 test MSE, smallest over n", ">=", 0.3,
                         "normalised test MSE: 1 is the zero predictor", geometric=True),
}


def _per_rep(frame: pd.DataFrame, column: str, how: str) -> pd.Series:
    """One value per repetition: ``how`` ("max" or "min") of ``column`` over the other rows."""
    return frame.groupby("repetition")[column].agg(how)


def _ends(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per (repetition, d, r) of ``method``: its rows at the smallest and the largest n (columns
    prefixed ``first_`` and ``last_``), nested training sets so the two are paired."""
    rows = table[table.method == method].sort_values("n")
    g = rows.groupby(["repetition", "d", "r"])
    first, last = g.first(), g.last()
    out = pd.concat([first.add_prefix("first_"), last.add_prefix("last_")], axis=1).reset_index()
    out["several_n"] = out.first_n < out.last_n
    return out


def _he3_rows(table: pd.DataFrame, P: Mapping[str, Any]) -> pd.DataFrame:
    """The he3 learner's rows: the control, or the learner itself at the first pair when the
    notebook's link is he3."""
    if P["link"] == "he3":
        d0, r0 = P["dr_grid"][0]
        return table[(table.method == "learner") & (table.d == d0) & (table.r == r0)]
    return table[table.method == "he3 learner"]


def measures(table: pd.DataFrame, P: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per repetition, the quantity behind each check of ``CHECKS`` (empty where it is undefined:
    one n only, or no closed form for this link)."""
    out: dict[str, list[float]] = {}
    ends = _ends(table, "learner")
    out["learns"] = _per_rep(ends, "last_test_mse", "max").tolist()
    several = ends[ends.several_n].assign(ratio=lambda t: t.last_test_mse / t.first_test_mse)
    out["data"] = _per_rep(several, "ratio", "max").tolist()
    lrn = table[(table.method == "learner") & table.population_alignment.notna()]
    lrn = _ends(lrn.assign(ratio=lrn.alignment / lrn.population_alignment), "learner")
    out["bound"] = _per_rep(table[(table.method == "learner")].assign(
        ratio=lambda t: t.alignment / t.population_alignment).dropna(subset=["ratio"]), "ratio", "max").tolist()
    out["approach"] = _per_rep(lrn, "last_ratio", "min").tolist()
    closing = lrn[lrn.several_n].assign(q=lambda t: (1 - t.last_ratio) / (1 - t.first_ratio))
    out["closing"] = _per_rep(closing, "q", "max").tolist()
    rf = _ends(table, "random features").set_index("repetition")
    d0, r0 = P["dr_grid"][0]
    first = ends[(ends.d == d0) & (ends.r == r0)].set_index("repetition").last_test_mse
    out["rf_mse"] = rf.last_test_mse.tolist()
    out["rf_gap"] = (rf.last_test_mse / first.reindex(rf.index)).tolist()
    he3 = _he3_rows(table, P)
    he3 = he3.assign(ratio=[a / he3_noise_alignment(int(d), int(r)) for a, d, r in zip(he3.alignment, he3.d, he3.r)])
    out["he3_high"] = out["he3_low"] = he3.groupby("repetition").ratio.mean().tolist()
    h = _ends(he3, he3.method.iloc[0]) if len(he3) else None
    out["he3_flat"] = [] if h is None else (h.last_alignment / h.first_alignment)[h.several_n].tolist()
    out["he3_mse"] = _per_rep(he3, "test_mse", "min").tolist()
    return out


def regimes(table: pd.DataFrame, P: Mapping[str, Any]) -> dict[str, tuple[Precondition, ...]]:
    """Where the claims apply: a link of information exponent 2 for the positive claims (one
    gradient step learns nothing from he3); the random-features control says something about
    feature learning only where the full-data learner learns (test MSE <= ``LEARNS`` at the
    largest n, first pair); the he3 control needs nothing."""
    ie2 = learnable_link(P["link"])
    d0, r0 = P["dr_grid"][0]
    first = _ends(table, "learner").set_index(["d", "r"]).loc[[(d0, r0)]]
    mse = float(first.last_test_mse.mean())
    learns = full_data_learns(mse, f"at n = {int(first.last_n.max())}, d = {d0}, r = {r0}", "at the largest n")
    return {"learnable": (ie2,), "learnable, learns": (ie2, learns)}


def plan(P: Mapping[str, Any]) -> list[ClaimDecl]:
    """The claims of notebook 00 at these parameters, declared (``ddlib.book.claims.claims_of``
    decides them)."""
    C = CHECKS
    pairs = ", ".join(f"({d}, {r})" for d, r in P["dr_grid"])
    n, n0 = max(P["n_grid"]), min(P["n_grid"])
    d0, r0 = P["dr_grid"][0]
    return [
        ClaimDecl("C0.1", f"With n = {n:,} real points the learner reaches a normalised test MSE of at most "
                          f"{C['learns'].threshold:g} (the zero predictor scores 1) at every (d, r) of {pairs}, and at "
                          f"most {C['data'].threshold:g} times its error on the fewest points of the grid (n = {n0:,}).",
                  ("learns", "data"), "learnable"),
        ClaimDecl("C0.2", f"The closed-form infinite-data first layer bounds the learner's alignment with span(U) at "
                          f"every n (ratio at most {C['bound'].threshold:g}); the learner reaches at least "
                          f"{C['approach'].threshold:g} of it at n = {n:,}, its shortfall at most "
                          f"{C['closing'].threshold:g} of the one at n = {n0:,}.",
                  ("bound", "approach", "closing"), "learnable"),
        ClaimDecl("C0.3", f"Without the feature-learning step (random features, d = {d0}, r = {r0}) the ridge does "
                          f"not learn: its test MSE at n = {n:,} is at least {C['rf_mse'].threshold:g} and at least "
                          f"{C['rf_gap'].threshold:g}x the learner's.",
                  ("rf_mse", "rf_gap"), "learnable, learns"),
        ClaimDecl("C0.4", f"With the he3 link (d = {d0}, r = {r0}) the learner finds only noise: its alignment, "
                          f"averaged over n, is within a factor {C['he3_high'].threshold:g} of the closed-form "
                          f"pure-noise level (the same at every n), grows at most {C['he3_flat'].threshold:g}x from "
                          f"n = {n0:,} to {n:,}, and its test MSE never falls below {C['he3_mse'].threshold:g}.",
                  ("he3_low", "he3_high", "he3_flat", "he3_mse")),
    ]
