"""A problem instance -- task, theta0, real training data -- built from one base seed, with every
derived seed recorded, so each repetition of an experiment is reproducible on its own."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..networks import TwoLayerNet
from ..tasks import MultiIndexTask

__all__ = ["Problem", "make_problem", "derived_seeds"]

# Offsets keep the streams of one repetition apart (task U, theta0, training data, distillation,
# baselines, test data); repetition k uses base seed + k.
_OFFSETS = {"task": 0, "theta0": 10_000, "data": 20_000, "distill": 30_000, "subset": 40_000, "test": 50_000}


def derived_seeds(seed: int) -> dict[str, int]:
    """The named seeds of one repetition, derived from its base seed."""
    return {name: int(seed) + offset for name, offset in _OFFSETS.items()}


@dataclass(frozen=True)
class Problem:
    """Task, theta0 and training data of one repetition, with the seeds they came from."""

    task: MultiIndexTask
    net: TwoLayerNet
    X: torch.Tensor
    y: torch.Tensor
    seeds: dict[str, int]


def make_problem(*, d: int, r: int, width: int, n_train: int, link: str = "he2", noise: float = 0.0,
                 seed: int = 0) -> Problem:
    """Build one repetition's task, theta0 and n_train real points from the base ``seed``."""
    seeds = derived_seeds(seed)
    task = MultiIndexTask(d, r, link=link, noise=noise, seed=seeds["task"])
    net = TwoLayerNet.init(d, width, seed=seeds["theta0"])
    X, y = task.sample(n_train, seed=seeds["data"])
    return Problem(task, net, X, y, seeds)
