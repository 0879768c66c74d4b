"""Outputs of every distillation method for a few seeds, recorded before the stage refactor.

``tests/test_golden.py`` recomputes them with today's code and compares: the refactor keeps
every random draw and every step, so the points agree to float64 rounding (the closed-form
gradients and the element-wise Adam change the order of a few additions, nothing else).
``python -m tests.golden`` rewrites ``tests/data/golden.pt`` and ``golden.json`` -- only ever from the code the
record is meant to pin down.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ddlib import MultiIndexTask, TwoLayerNet, TwoStageLearner, distill

GOLDEN_PATH = Path(__file__).resolve().parent / "data" / "golden.pt"
SEEDS = (0, 1, 2)
LINKS = ("he2", "aniso")
# (name, distill keyword arguments); each runs at every (link, seed).
CASES = (
    ("gm_cos", dict(method="gm+kip")),
    ("gm_frobenius", dict(method="gm+kip", matching="frobenius")),
    ("tm_t1", dict(method="tm+kip")),
    ("tm_t2", dict(method="tm+kip", learner=TwoStageLearner(stage1_steps=2, stage1_lr=1.0,
                                                            stage1_weight_decay=0.75))),
    ("meta", dict(method="meta", meta_steps=15, meta_lr=0.01, meta_batch=128)),
)


def memory_points() -> list[dict]:
    """Notebook 03's stage-1 curve at a tiny size (it used to replay ``distill``'s draws itself).

    (The record also holds two points of the memory search as it was before the certified search
    replaced it; ``tests/test_golden.py`` compares the curve points, whose definition is unchanged.)
    """
    from ddlib.experiments.memory import stage1_curve_point

    small = dict(d=8, width=32, n_per_d2=6, steps1=30, restarts=2, n_test=1000)
    return [stage1_curve_point(r=2, m1=m1, seed=1, **small) for m1 in (2, 4)]


def compute() -> dict[str, torch.Tensor]:
    """Every case at every (link, seed): the four point tensors and the two stage losses."""
    out: dict[str, torch.Tensor] = {}
    for link in LINKS:
        task = MultiIndexTask(d=10, r=2, link=link, seed=3)
        net = TwoLayerNet.init(10, 48, seed=4)
        X, y = task.sample(600, seed=5)
        for name, kwargs in CASES:
            for seed in SEEDS:
                ds = distill(net, X, y, 5, 9, steps1=40, steps2=30, lr=0.05, restarts=3, seed=seed, **kwargs)
                key = f"{link}/{name}/{seed}"
                for part, t in zip(("X1", "y1", "X2", "y2"), ds.stage1 + ds.stage2):
                    out[f"{key}/{part}"] = t.clone()
                out[f"{key}/loss1"] = torch.tensor(ds.metadata["stage1_restart_losses"], dtype=torch.float64)
                out[f"{key}/loss2"] = torch.tensor(ds.metadata["stage2_restart_losses"], dtype=torch.float64)
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    GOLDEN_PATH.parent.mkdir(parents=True, exist_ok=True)
    torch.save(compute(), GOLDEN_PATH)
    # golden.json was written once, before the refactor, with the memory search of that time.
    print(f"wrote {GOLDEN_PATH}")
