"""Background (notebook 00): the two-stage learner on all of its real data -- test MSE and the
alignment of W1 with span(U) as n grows, beside the infinite-data learner (W1 from the population
gradient) and two controls that must fail: random features (no stage 1) and the ``he3`` link."""
from __future__ import annotations

from typing import Any

import pandas as pd
import torch
from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

from ..learners import TwoStageLearner
from ..metrics import alignment, test_mse
from ..networks import TwoLayerNet
from ..tasks import MultiIndexTask
from ..theory import population_first_layer
from ..validation import check_int
from .repetitions import repetition

__all__ = ["PROFILES", "METHODS", "run_learner", "population_learner", "random_features_learner",
           "sample_complexity", "learner_point"]

# Methods, in the order of the figures: the learner A(D), the infinite-data learner (theory line),
# and the two controls (run at the first (d, r) pair only).
METHODS = ("learner", "population W1", "random features", "he3 learner")

_BASE = dict(dr_grid=[[32, 2], [64, 2], [32, 1]], width=512, link="he2", n_seeds=2, n_test=5000,
             n_grid=[250, 500, 1000, 2000, 4000, 8000, 16000])
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {**_BASE, "dr_grid": [[32, 2], [16, 2]], "width": 256,
              "n_grid": [250, 1000, 4000]},
    "book": dict(_BASE),
    "paper": {**_BASE, "dr_grid": [[32, 2], [64, 2], [128, 2], [32, 1], [32, 3], [32, 4]], "n_seeds": 5,
              "n_test": 20_000, "n_grid": [250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000]},
}


def population_learner(net: TwoLayerNet, task: MultiIndexTask, X: torch.Tensor, y: torch.Tensor,
                       learner: TwoStageLearner) -> TwoLayerNet:
    """The infinite-data stage 1 (W1 = rownorm(-G_pop)), then stage 2 on the real (X, y).

    Args:
        net: theta0.
        task: supplies the population gradient (``ddlib.theory.population_first_layer``).
        X, y: the real points the stage-2 ridge is fitted on.
        learner: supplies the ridge.

    Returns:
        The trained network; its test error isolates what a finite stage-1 sample costs.
    """
    W1 = population_first_layer(net, task)
    return net.replace(W=W1, a=learner.stage2(net, W1, X, y), b=net.stage2_bias.clone())


def random_features_learner(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor,
                            learner: TwoStageLearner) -> TwoLayerNet:
    """The random-features control: no stage 1 (W1 = W0, theta0's rows), stage 2 on (X, y)."""
    return net.replace(W=net.W, a=learner.stage2(net, net.W, X, y), b=net.stage2_bias.clone())


def run_learner(*, dr_grid: list[list[int]], width: int, n_grid: list[int], link: str, n_seeds: int,
                n_test: int, seed: int, progress: bool = False) -> pd.DataFrame:
    """One row per (repetition, d, r, n, method): normalised test MSE, alignment of W1, seeds.

    For each (d, r) pair and repetition k one problem is drawn from base seed ``seed + k`` with
    max(n_grid) real points; size n uses the first n of them (nested training sets, one shared
    test set), so the curves in n are paired.  ``learner`` is A(D) on those n points;
    ``population W1`` uses the infinite-data first layer and fits stage 2 on the same n points;
    the controls ``random features`` (stage 2 only) and ``he3 learner`` (same U, theta0 and X,
    labels from the ``he3`` link; skipped when ``link`` is ``he3`` itself) run at the first
    (d, r) pair only.

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
    n_grid = sorted(check_int("n_grid entry", n, min_value=1) for n in n_grid)
    n_seeds = check_int("n_seeds", n_seeds, min_value=1)
    learner = TwoStageLearner()
    rows = []
    jobs = [(i, d, r, k) for i, (d, r) in enumerate(dr_grid) for k in range(n_seeds)]
    for i, d, r, k in tqdm(jobs, desc="(d, r, repetition)", disable=not progress):
        # The learner on the notebook's link, then (first pair only) the he3 control.
        runs = [(link, "learner")] + ([("he3", "he3 learner")] if i == 0 and link != "he3" else [])
        for task_link, name in runs:
            rep = repetition(k, seed, d=d, r=r, width=width, n_train=n_grid[-1], link=task_link)
            p = rep.problem
            for n in n_grid:
                X, y = p.X[:n], p.y[:n]
                nets = {name: learner.fit(p.net, (X, y))}
                if name == "learner":
                    nets["population W1"] = population_learner(p.net, p.task, X, y, learner)
                    if i == 0:
                        nets["random features"] = random_features_learner(p.net, X, y, learner)
                for method, net in nets.items():
                    rows.append(rep.record(method=method, n=n, n_train=n, chance_alignment=(r / d) ** 0.5,
                                           test_mse=test_mse(net, p.task, n_test, seed=p.seeds["test"]),
                                           alignment=alignment(net, p.task)))
    return pd.DataFrame(rows)


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
