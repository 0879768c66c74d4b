"""Ready-made sweep points: small real ddlib experiments that a grid file can name by dotted
path, each drawing all its randomness from its ``seed`` argument."""
from __future__ import annotations

import torch

from ..learners import TwoStageLearner
from ..metrics import alignment, test_mse
from ..networks import TwoLayerNet
from ..tasks import MultiIndexTask
from ..validation import check_int

__all__ = ["learner_point"]


def _child_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent seeds derived from ``seed`` (so seeds 0, 1, ... share no stream)."""
    gen = torch.Generator()
    gen.manual_seed(seed)
    return [int(s) for s in torch.randint(0, 2 ** 62, (n,), generator=gen)]


def learner_point(*, d: int, r: int, width: int, n_train: int, link: str = "he2", noise: float = 0.0,
                  n_test: int = 4000, seed: int) -> dict:
    """Train the two-stage learner on ``n_train`` real samples and measure it (notebook 00's setting).

    Args:
        d, r, link, noise: the ``MultiIndexTask``.
        width: the network width L (even).
        n_train: real samples used by both stages.
        n_test: fresh samples for the test MSE.
        seed: source of the task's U, theta0, the training and the test samples.

    Returns:
        ``test_mse`` (normalised, 1.0 = zero predictor), ``alignment`` of W1 with span(U) and
        ``random_features_mse`` (stage 2 only, W1 = W0: the control without feature learning).
    """
    seed = check_int("seed", seed)
    n_train = check_int("n_train", n_train, min_value=1)
    task_seed, init_seed, train_seed, test_seed = _child_seeds(seed, 4)
    task = MultiIndexTask(d=d, r=r, link=link, noise=noise, seed=task_seed)
    net0 = TwoLayerNet.init(d, width, seed=init_seed)
    learner = TwoStageLearner()
    data = task.sample(n_train, seed=train_seed)
    trained = learner.fit(net0, data)
    random_features = net0.replace(a=learner.stage2(net0, net0.W, *data), b=net0.stage2_bias.clone())
    return {"test_mse": test_mse(trained, task, n_test, seed=test_seed),
            "alignment": alignment(trained, task),
            "random_features_mse": test_mse(random_features, task, n_test, seed=test_seed)}
