"""Small shared fixtures: a tiny he2 task, its theta0 and a real training set (float64, CPU), and
the Hypothesis profiles of the property tests.

Profiles: ``ddlib`` (the default: 50 examples per property, derandomised so every run -- and CI
-- sees the same examples, no deadline, no example database) and ``thorough`` (1,000 random
examples per property), chosen with ``HYPOTHESIS_PROFILE=thorough``."""
from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

from ddlib.networks import TwoLayerNet
from ddlib.tasks import MultiIndexTask

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ddlib", max_examples=50, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_SLOW_OK)
settings.register_profile("thorough", max_examples=1000, deadline=None, database=None,
                          suppress_health_check=_SLOW_OK)
settings.load_profile("thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else "ddlib")


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


def under_ci() -> bool:
    """Whether the tests run under CI (CI=1/true/yes), where a missing browser is a failure."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def chromium_path():
    """The system Chromium for the browser tests: skipped without it locally, failed under CI."""
    from booksite.browser import BrowserUnavailable, find_chromium, require_playwright

    try:
        require_playwright()
        return find_chromium()
    except BrowserUnavailable as exc:
        if under_ci():
            pytest.fail(f"CI must run the browser tests, but: {exc}")
        pytest.skip(f"needs a browser: {exc}")

