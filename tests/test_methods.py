"""ddlib.methods: the contract test runs over every registered method (ddlib's and a user's), a
composed pair spends m1 + m2 points, a set used for both stages is counted once, and bad
registrations and bad compositions are refused in one line."""
from __future__ import annotations

import pytest
import torch

from ddlib import MultiIndexTask, TwoLayerNet
from ddlib.data import Data
from ddlib.methods import (REUSE_STAGE1, STAGE1, STAGE2, Config, Points, RealData, check_method, compose,
                           register_stage1, register_stage2)
from ddlib.seeds import generator


@pytest.mark.parametrize("name", STAGE1.names())
def test_every_registered_stage1_method_keeps_the_contract(name):
    check_method(1, name)


@pytest.mark.parametrize("name", STAGE2.names())
def test_every_registered_stage2_method_keeps_the_contract(name):
    check_method(2, name)


def _gaussian_stage1(real: RealData, m1: int, config: Config, seed: int) -> Points:
    """A user's method: m1 Gaussian points labelled by the nearest real point's label."""
    X = torch.randn(m1, real.net.d, generator=generator(seed), dtype=real.data.X.dtype)
    nearest = torch.cdist(X, real.data.X).argmin(1)
    return Points(Data(X, real.data.y[nearest]), info={"scale": 1.0})


@pytest.fixture
def user_method():
    register_stage1("gaussian", _gaussian_stage1, what="Gaussian points with nearest-neighbour labels")
    yield "gaussian"
    STAGE1.unregister("gaussian")


def test_a_user_registered_method_is_contract_checked_and_composed(user_method):
    check_method(1, user_method)
    task = MultiIndexTask(6, 2, "he2", seed=0)
    real = RealData(TwoLayerNet.init(6, 16, seed=1), *task.sample(200, seed=2))
    ds = compose(real, user_method, "kip", 4, 6, Config(steps2=3), seed=5)
    assert ds.metadata["stage1_method"] == "gaussian" and ds.metadata["stage1_scale"] == 1.0
    assert (ds.m1, ds.m2) == (4, 6)


def test_the_contract_test_fails_a_method_that_breaks_it():
    def unseeded(real, m1, config, seed):  # ignores its seed: two calls differ
        return Points(Data(torch.randn(m1, real.net.d, dtype=torch.float64), torch.zeros(m1, dtype=torch.float64)))

    def too_many(real, m1, config, seed):
        return Points(Data(real.data.X[: m1 + 1], real.data.y[: m1 + 1]))

    register_stage1("unseeded", unseeded, what="breaks the seed rule")
    register_stage1("too-many", too_many, what="makes more points than asked")
    try:
        with pytest.raises(AssertionError, match="the same seed gave different points"):
            check_method(1, "unseeded")
        with pytest.raises(ValueError, match=r"made 5 points, asked for 4 \(no method may make more than asked\)"):
            check_method(1, "too-many")
    finally:
        STAGE1.unregister("unseeded")
        STAGE1.unregister("too-many")


def test_one_set_for_both_stages_is_stored_once():
    task = MultiIndexTask(6, 2, "he2", seed=0)
    real = RealData(TwoLayerNet.init(6, 16, seed=1), *task.sample(200, seed=2))
    both = compose(real, "random", REUSE_STAGE1, 4, 6, seed=3)
    apart = compose(real, "random", "random", 4, 6, seed=3)
    assert both.shared and both.m1 == both.m2 == 10 and both.memory_floats == 10 * 7
    assert not apart.shared and apart.memory_floats == 10 * 7


def test_a_stage1_is_made_once_and_shared_by_every_stage2():
    task = MultiIndexTask(6, 2, "he2", seed=0)
    real = RealData(TwoLayerNet.init(6, 16, seed=1), *task.sample(200, seed=2))
    config = Config(steps1=5, steps2=3, restarts=2)
    kip = compose(real, "gm-cos", "kip", 4, 6, config, seed=3)
    labels = compose(real, "gm-cos", "labels", 4, 6, config, seed=3)
    assert kip.stage1.X is labels.stage1.X or torch.equal(kip.stage1.X, labels.stage1.X)
    assert sum(1 for k in real._cache if k[0] == "stage1") == 1


@pytest.mark.parametrize("call, error, match", [
    (lambda: register_stage1("gm-cos", _gaussian_stage1, what="x"), ValueError,
     r"a stage-1 method named 'gm-cos' is already registered \(a built-in stage-1 method cannot be replaced\)"),
    (lambda: register_stage1("a+b", _gaussian_stage1, what="x"), ValueError, r"may not contain '\+'"),
    (lambda: register_stage2("x", 3, what="x"), TypeError, r"a stage-2 method must be callable, got int"),
    (lambda: register_stage2("x", _gaussian_stage1, what=""), ValueError, r"give a one-line description"),
    (lambda: register_stage1("x", _gaussian_stage1, what="x", family="fake"), ValueError, r"family must be one of"),
    (lambda: compose(RealData(TwoLayerNet.init(6, 8, seed=0), torch.ones(5, 6, dtype=torch.float64),
                              torch.ones(5, dtype=torch.float64)), "nope", "kip", 2, 2), ValueError,
     r"stage-1 method must be one of \['gm-cos'"),
    (lambda: compose(RealData(TwoLayerNet.init(6, 8, seed=0), torch.ones(5, 6, dtype=torch.float64),
                              torch.ones(5, dtype=torch.float64)), "random", "random", 3, 3), ValueError,
     r"m1 \+ m2 = 6 points exceed the n = 5 real points"),
    (lambda: compose("data", "random", "random", 3, 3), TypeError, r"real must be a ddlib.methods.RealData"),
    (lambda: Config(restarts=0), ValueError, r"restarts must be >= 1, got 0"),
    (lambda: Config(options=[1]), TypeError, r"Config.options must be a mapping"),
    (lambda: RealData(TwoLayerNet.init(6, 8, seed=0), torch.ones(5, 6, dtype=torch.float64),
                      torch.zeros(5, dtype=torch.float64)), ValueError, r"all real labels are 0"),
])
def test_bad_input_is_refused_in_one_line(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_ddlib_run_lets_a_page_import_only_the_modules_it_allows(tmp_path, monkeypatch):
    import subprocess
    import sys

    from ddlib.methods import ALLOWED_MODULES_ENV, import_allowed_modules

    (tmp_path / "my_stage1.py").write_text(
        "from ddlib.methods import Points, register_stage1\n"
        "register_stage1('mine-x', lambda real, m1, config, seed: Points(real.data[:0]), what='a test method')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(ALLOWED_MODULES_ENV, "my_stage1")
    try:
        assert import_allowed_modules() == ["my_stage1"] and "mine-x" in STAGE1
    finally:
        STAGE1.unregister("mine-x")
    refused = subprocess.run([sys.executable, "-m", "ddlib.cli", "run", "notebooks/06_stages.md", "--dry-run",
                              "--allow-module", "no_such_module_here"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--allow-module 'no_such_module_here': no such module" in refused.stderr
