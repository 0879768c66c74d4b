"""Small shared fixtures: a tiny he2 task, its theta0 and a real training set (float64, CPU)."""
from __future__ import annotations

import pytest
import torch

from ddlib.networks import TwoLayerNet
from ddlib.tasks import MultiIndexTask


@pytest.fixture(scope="session", autouse=True)
def single_torch_thread():
    """Unit tests use tiny tensors: one intra-op thread avoids OpenMP spin-waiting on a shared
    2-core machine (measured: 8 s of CPU with one thread vs 49 s with two, same tests)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def task() -> MultiIndexTask:
    """d=8, r=2, he2, noiseless."""
    return MultiIndexTask(d=8, r=2, link="he2", seed=11)


@pytest.fixture
def net(task: MultiIndexTask) -> TwoLayerNet:
    """theta0 of width 32 for ``task``."""
    return TwoLayerNet.init(task.d, 32, seed=12)


@pytest.fixture
def data(task: MultiIndexTask) -> tuple[torch.Tensor, torch.Tensor]:
    """200 real points of ``task``."""
    return task.sample(200, seed=13)
