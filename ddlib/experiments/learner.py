"""Background (notebook 00): the two-stage learner on all of its real data -- test MSE and the
alignment of W1 with span(U) as n grows, beside the infinite-data learner (W1 from the population
gradient) and two controls of the learner: random features (no stage 1) and the ``he3`` link.

Every threshold of ``CHECKS`` is fixed before the data (``CheckSpec.origin``: a closed form of
``ddlib.theory`` or a convention of the field); every claim names its negative control in
``CONTROLS`` (``ddlib.book.controls``), except the bound C0.5, a consistency check."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from ..book.claims import CheckSpec, ClaimDecl, Control, Precondition
from ..learners import TwoStageLearner, random_features_learner
from ..metrics import alignment, test_mse
from ..theory import he3_noise_alignment, population_alignment, population_learner, population_stage1_gradient
from ..validation import check_int
from .parameters import Parameters
from .regime import full_data_learns, learnable_link
from .repetitions import repetition, summarise as summarise_columns

__all__ = ["PARAMETERS", "PROFILES", "LEARNERS", "CHECKS", "CONTROLS", "run", "run_learner", "sample_complexity",
           "summarise", "learner_point", "measures", "regimes", "plan"]

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
_MSE = "normalised test MSE (1 = the zero predictor)"
_POP = "the closed-form alignment of the infinite-data first layer (ddlib.theory.population_alignment)"
_HE3 = "the closed-form alignment of a pure-noise first layer for he3 (ddlib.theory.he3_noise_alignment)"
CHECKS: dict[str, CheckSpec] = {
    "learns": CheckSpec("full-data test MSE at the largest n, worst (d, r)", "<=", 0.1,
                        f"'Learns' is the field's convention R^2 >= 0.9: a {_MSE} of at most 0.1.", geometric=True,
                        origin="convention"),
    "data": CheckSpec("test MSE at the largest / the smallest n, worst (d, r)", "<=", 1.0,
                      "'Beats' is superiority, the whole interval of the error ratio below 1 (the same learner on "
                      "the fewest points of the grid as the baseline).", geometric=True, origin="convention"),
    "bound": CheckSpec("learner / infinite-data alignment, largest over n and (d, r)", "<=", 1.0,
                       f"The ceiling is {_POP}, which the learner's alignment is at most.", origin="closed form"),
    "approach": CheckSpec("learner / infinite-data alignment at the largest n, worst (d, r)", ">=", 0.5,
                          f"The reference is {_POP}; 'comes close' is the field's factor of two (at least half "
                          "of it).", origin="closed form"),
    "closing": CheckSpec("shortfall from the infinite-data alignment, largest / smallest n, worst (d, r)", "<=",
                         1.0, "'Closes' is superiority, the whole interval of the shortfall ratio below 1 (the "
                         "learner's own shortfall on the fewest points of the grid as the baseline).",
                         origin="convention"),
    "rf_mse": CheckSpec("random-features test MSE at the largest n", ">=", 0.5,
                        f"'Does not learn' is the field's convention R^2 <= 0.5: a {_MSE} of at least 0.5.",
                        geometric=True, origin="convention"),
    "rf_gap": CheckSpec("random-features / learner test MSE at the largest n", ">=", 1.0,
                        "'The learner beats random features' is superiority, the whole interval of the error "
                        "ratio above 1.", geometric=True, origin="convention"),
    "he3_low": CheckSpec("he3 alignment / pure-noise closed form, mean over n", ">=", 0.8,
                         f"The null is {_HE3}; 'at that level' is the field's 80-125% equivalence margin (TOST at "
                         "95%).", origin="closed form"),
    "he3_high": CheckSpec("he3 alignment / pure-noise closed form, mean over n", "<=", 1.25,
                          f"The null is {_HE3}; 'at that level' is the field's 80-125% equivalence margin (TOST at "
                          "95%).", origin="closed form"),
    "he3_flat": CheckSpec("he3 alignment: exponent in n (log-log slope over the grid)", "<=", 0.2,
                          "'No growth' is the convention |exponent| <= 0.2 (n^0.2 is at most about 2x over the "
                          "16-64x ranges of n used).", origin="convention"),
    "he3_flat_low": CheckSpec("he3 alignment: exponent in n (log-log slope over the grid)", ">=", -0.2,
                              "'No growth' is the convention |exponent| <= 0.2 (n^0.2 is at most about 2x over the "
                              "16-64x ranges of n used).", origin="convention"),
    "he3_mse": CheckSpec("he3 test MSE, smallest over n", ">=", 0.5,
                         f"'Does not learn' is the field's convention R^2 <= 0.5: a {_MSE} of at least 0.5.",
                         geometric=True, origin="convention"),
}

# The negative controls (ddlib.book.controls), run at the smoke size: under each, the claims that
# name it must not hold.  In low dimension (d = 4, r = 2) a ridge on L random ReLU features of the
# input fits the low-degree link without any feature learning, so "does not learn" must fail there.
_LOW_D = {"dr_grid": [[4, 2]]}

CONTROLS: dict[str, Control] = {
    "shuffled labels": Control("labels permuted across the inputs: no input carries information about its "
                               "label, so there is nothing to learn", sabotage="shuffled labels"),
    "random features in low dimension": Control(
        "d = 4, r = 2: random ReLU features span the low-degree functions of the input, so the ridge learns "
        "without the feature-learning step", parameters=_LOW_D),
    "he3 in low dimension": Control(
        "d = 4, r = 2: the he3 learner's noise rows, like random features, span the low-degree functions of "
        "the input, so its ridge learns the he3 link", parameters=_LOW_D),
}


def _per_rep(frame: pd.DataFrame, column: str, how: str) -> pd.Series:
    """One value per repetition: ``how`` ("max" or "min") of ``column`` over the other rows; NaN
    when any of them is NaN (an undefined value is counted, never skipped)."""
    return frame.groupby("repetition")[column].agg(lambda v: getattr(v, how)(skipna=False))


def _slope(frame: pd.DataFrame, column: str) -> float:
    """Least-squares slope of log ``column`` against log n (NaN propagates)."""
    x, y = np.log(frame.n.to_numpy(float)), np.log(frame[column].to_numpy(float))
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def _ends(table: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per (repetition, d, r) of ``method``: its rows at the smallest and the largest n (columns
    prefixed ``first_`` and ``last_``), nested training sets so the two are paired."""
    keys = ["repetition", "d", "r"]
    rows = table[table.method == method].sort_values("n")
    g = rows.groupby(keys)  # whole rows (head/tail): first()/last() would skip a NaN value
    first, last = g.head(1).set_index(keys).sort_index(), g.tail(1).set_index(keys).sort_index()
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
    one n only; NaN where a closed form is missing for this link).  Every repetition is kept: an
    undefined value makes its check inconclusive."""
    out: dict[str, list[float]] = {}
    ends = _ends(table, "learner")
    out["learns"] = _per_rep(ends, "last_test_mse", "max").tolist()
    several = ends[ends.several_n].assign(ratio=lambda t: t.last_test_mse / t.first_test_mse)
    out["data"] = _per_rep(several, "ratio", "max").tolist()
    lrn = table[table.method == "learner"]
    lrn = lrn.assign(ratio=lrn.alignment / lrn.population_alignment)
    out["bound"] = _per_rep(lrn, "ratio", "max").tolist()
    lrn = _ends(lrn, "learner")
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
    out["he3_high"] = out["he3_low"] = he3.groupby("repetition").ratio.agg(lambda v: v.mean(skipna=False)).tolist()
    slopes = [_slope(g, "alignment") for _, g in he3.groupby("repetition") if g.n.nunique() > 1]
    out["he3_flat"] = out["he3_flat_low"] = slopes
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
                          f"{C['learns'].threshold:g} (the zero predictor scores 1) at every (d, r) of {pairs}, and a "
                          f"lower error than on the fewest points of the grid (n = {n0:,}).",
                  ("learns", "data"), "learnable", control="shuffled labels"),
        ClaimDecl("C0.2", f"At n = {n:,} the learner's alignment with span(U) reaches at least "
                          f"{C['approach'].threshold:g} of the closed-form alignment of the infinite-data first "
                          f"layer, and its shortfall from it is smaller than at n = {n0:,}.",
                  ("approach", "closing"), "learnable", control="shuffled labels"),
        ClaimDecl("C0.3", f"Without the feature-learning step (random features, d = {d0}, r = {r0}) the ridge does "
                          f"not learn: its test MSE at n = {n:,} is at least {C['rf_mse'].threshold:g}, above the "
                          f"learner's.",
                  ("rf_mse", "rf_gap"), "learnable, learns", control="random features in low dimension"),
        ClaimDecl("C0.4", f"With the he3 link (d = {d0}, r = {r0}) the learner finds only noise: its alignment, "
                          f"averaged over n, is within {C['he3_low'].threshold:g}-{C['he3_high'].threshold:g} times "
                          f"the closed-form pure-noise level, does not grow with n (exponent within "
                          f"+/-{C['he3_flat'].threshold:g} from n = {n0:,} to {n:,}), and its test MSE never falls "
                          f"below {C['he3_mse'].threshold:g}.",
                  ("he3_low", "he3_high", "he3_flat", "he3_flat_low", "he3_mse"), control="he3 in low dimension"),
        ClaimDecl("C0.5", f"The closed-form infinite-data first layer bounds the learner's alignment with span(U) at "
                          f"every n (ratio at most {C['bound'].threshold:g}).",
                  ("bound",), "learnable",
                  consistency="the infinite-data first layer is the learner's without sampling noise, and noise in "
                              "the stage-1 gradient only lowers the alignment: no sabotage of the labels or change of "
                              "parameters lifts the learner above the closed form (at d = r both are 1)"),
    ]
