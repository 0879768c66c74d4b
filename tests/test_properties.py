"""The public numeric API, property-based (Hypothesis): whatever the shapes, dtypes, devices,
sizes and values -- inside or far beyond the documented ranges (huge and tiny floats, zeros,
constant labels, duplicated rows, NaN, wrong dtypes, 'meta' tensors, tensors that require grad,
negative and huge seeds, non-integers) -- the only exceptions that escape are ddlib's own
ValueError / TypeError (``ddlib.io.ArtifactError`` is a ValueError), raised by a ``raise`` in
ddlib with a one-line message, and everything returned is finite.

Profiles (``tests/conftest.py``): the default runs 50 derandomised examples per property
(the whole file in a few seconds on one core); ``HYPOTHESIS_PROFILE=thorough`` runs many more."""
from __future__ import annotations

import dataclasses
import linecache
import math
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

import ddlib
from ddlib import baselines, metrics, theory
from ddlib.distillers import (DistilledSet, InitialDraw, Restarts, distill, expert_trajectory, match_gradients,
                              match_performance, match_trajectories, meta_finetune)
from ddlib import methods
from ddlib import effective, evaluation, moments, selection, spectral, tuning
from ddlib.cli import evaluate as cli_evaluate
from ddlib.methods import distill_moments
from ddlib.distillers import match_moments, optimal_labels, solve_labels
from ddlib.learners import TwoStageLearner, stage2_statistics
from ddlib.networks import TwoLayerNet
from ddlib.tasks import BUILTIN_LINKS, Link, MultiIndexTask, link_moments

DDLIB_ROOT = Path(ddlib.__file__).resolve().parent


# ------------------------------------------------------------------------------- the contract
def _raised_by_ddlib(exc: BaseException) -> bool:
    """The innermost frame is a ``raise`` statement in ddlib (not torch or Python failing inside a call)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    path = Path(tb.tb_frame.f_code.co_filename).resolve()
    return DDLIB_ROOT in path.parents and linecache.getline(str(path), tb.tb_lineno).strip().startswith("raise")


def _leaves(value: Any):
    """Every tensor and float inside ``value`` (tuples, lists, dicts, ddlib dataclasses)."""
    if isinstance(value, (torch.Tensor, float)):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _leaves(getattr(value, f.name))


def _finite(value: Any) -> bool:
    return all(bool(torch.isfinite(v.detach()).all()) if isinstance(v, torch.Tensor) else math.isfinite(v)
               for v in _leaves(value))


def _no_grad(value: Any) -> bool:
    """Nothing returned by an entry point that is not differentiated requires grad."""
    return not any(isinstance(v, torch.Tensor) and v.requires_grad for v in _leaves(value))


def outcome(call: Callable[[], Any]) -> Any:
    """Run ``call``: a ValueError/TypeError raised by ddlib with a one-line message, or a finite result."""
    try:
        result = call()
    except (ValueError, TypeError) as exc:
        assert _raised_by_ddlib(exc), f"{type(exc).__name__} escaped from outside ddlib: {exc}"
        message = str(exc)
        assert message and "\n" not in message and len(message) < 600, message
        return exc
    assert _finite(result), f"non-finite result: {result!r}"[:2000]
    return result


# ------------------------------------------------------------------------------- strategies
# Every example draws at most one fault -- an argument of a wrong type, dtype, device or range --
# and otherwise valid arguments; the valid ones range over extreme values (huge and tiny
# scales, zeros, constant labels, duplicated rows, tensors that require grad), so an example
# either reaches the arithmetic or stops at the one check it is meant to meet.
ODD_INTEGERS = [-1, 0, -2 ** 63, 2.5, "3", None, True, [3]]
HUGE_INTEGERS = [2 ** 53, 2 ** 63 - 1, 2 ** 63, 2 ** 64, 10 ** 30, 10 ** 400]
SPECIAL_FLOATS = [0.0, 5e-324, 1e-310, 1e-300, 1e-30, 1e-8, 0.05, 1.0, 1e8, 1e30, 1e154, 1e200, 1e308]
ODD_FLOATS = [-1.0, -1e308, math.nan, math.inf, -math.inf, "0.1", None, [0.1], 10 ** 400]
BAD_DTYPES = [torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.bool, torch.complex64,
              torch.complex128, "float32", np.float64, None]
BAD_DEVICES = ["meta", "cuda", "bogus", 0, None]
SCALES = [1.0] * 6 + [1e-300, 1e-30, 1e30, 1e154, 1e200, 1e308]
KINDS = ["gauss"] * 6 + ["zeros", "constant", "duplicated"]
FAULTY_TENSORS = ["nan", "inf", "dtype", "meta", "numpy"]


class Args:
    """Draws arguments for one example: valid ones, except for (at most) one fault, chosen
    among ``names`` (half of the examples have none)."""

    def __init__(self, draw: Callable, names: list[str]) -> None:
        self.draw = draw
        self.fault = draw(st.sampled_from(names + [None] * len(names)))

    def __call__(self, name: str, valid: st.SearchStrategy, odd: st.SearchStrategy) -> Any:
        return self.draw(odd if self.fault == name else valid)

    def size(self, name: str, lo: int, hi: int, *, huge: bool = False) -> Any:
        return self(name, st.integers(lo, hi), st.sampled_from(ODD_INTEGERS + (HUGE_INTEGERS if huge else [])))

    def seed(self, name: str = "seed") -> Any:
        return self(name, st.integers(0, 50) | st.sampled_from([0, 2 ** 63 - 1]), st.sampled_from(ODD_INTEGERS +
                                                                                                  HUGE_INTEGERS[2:]))

    def number(self, name: str, valid: list[float]) -> Any:
        return self(name, st.sampled_from(valid), st.sampled_from(ODD_FLOATS))

    def dtype(self, name: str = "dtype") -> Any:
        return self(name, st.sampled_from([torch.float64, torch.float32]), st.sampled_from(BAD_DTYPES))

    def device(self, name: str = "device") -> Any:
        return self(name, st.sampled_from(["cpu", torch.device("cpu")]), st.sampled_from(BAD_DEVICES))

    def tensor(self, name: str, shape: tuple[int, ...]) -> Any:
        return self.draw(tensors(shape, fault=self.draw(st.sampled_from(FAULTY_TENSORS))
                                 if self.fault == name else None))

    def data(self, name: str, n: int, d: int, *, pair: bool = True) -> Any:
        """(X, y) with X (n, d) and y (n,); the fault (if it is ``name``) in X, y, their shapes or
        (with ``pair``) the pair itself."""
        if self.fault != name:
            return self.draw(tensors((n, d))), self.draw(tensors((n,)))
        where = self.draw(st.sampled_from(["X", "y", "shape"] + ["pair"] * pair))
        if where == "pair":
            return self.draw(st.sampled_from([None, 3, "Xy"])) if n else None
        X = self.draw(tensors((n, d + (where == "shape")), fault=self.draw(st.sampled_from(FAULTY_TENSORS))
                              if where == "X" else None))
        y = self.draw(tensors((n,), fault=self.draw(st.sampled_from(FAULTY_TENSORS)) if where == "y" else None))
        return X, y


@st.composite
def tensors(draw, shape: tuple[int, ...], *, fault: str | None = None) -> Any:
    """A float64/float32 tensor of ``shape``: Gaussian at a drawn scale (1 or up to 1e+-300),
    zeros, constant or duplicated rows, requiring grad one time in five; or, with ``fault``, one
    holding a NaN or an inf, of a wrong dtype, a 'meta' tensor, or a numpy array."""
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 16)))
    scale, kind = draw(st.sampled_from(SCALES)), draw(st.sampled_from(KINDS))
    t = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    if kind == "zeros":
        t = torch.zeros(shape, dtype=torch.float64)
    elif kind == "constant":
        t = torch.full(shape, scale, dtype=torch.float64)
    elif kind == "duplicated" and len(shape) >= 1 and shape[0] > 0:
        t = t[:1].expand(shape).clone()
    if fault in ("nan", "inf") and t.numel():
        t.view(-1)[draw(st.integers(0, t.numel() - 1))] = math.nan if fault == "nan" else math.inf
    if scale == 1.0 or 1e-30 <= scale <= 1e30:  # float32 holds the value (as float64 does)
        t = t.to(draw(st.sampled_from([torch.float64, torch.float64, torch.float32])))
    if fault == "dtype":
        return t.to(draw(st.sampled_from(BAD_DTYPES[:7])))
    if fault == "meta":
        return t.to("meta")
    if fault == "numpy":
        return t.numpy()
    return t.requires_grad_(draw(st.integers(0, 4)) == 0)


@st.composite
def tasks(draw) -> MultiIndexTask:
    d = draw(st.integers(1, 6))
    return MultiIndexTask(d, draw(st.integers(1, d)), draw(st.sampled_from(BUILTIN_LINKS)),
                          draw(st.sampled_from([0.0, 0.0, 0.1, 1.0])), draw(st.integers(0, 100)))


@st.composite
def nets(draw, d: int, *, odd: bool = True) -> TwoLayerNet:
    """theta0 of a small even width in float64/float32, or (one time in four, with ``odd``) one
    with W rescaled to an extreme and nonzero biases."""
    width = draw(st.sampled_from([2, 4, 6]))
    net = TwoLayerNet.init(d, width, seed=draw(st.integers(0, 100)),
                           dtype=draw(st.sampled_from([torch.float64, torch.float32])))
    if odd and draw(st.integers(0, 3)) == 0:
        scale = draw(st.sampled_from([1e-30, 1e30] + [1e-300, 1e200] * (net.dtype == torch.float64)))
        net = net.replace(W=net.W * scale, b=net.b + draw(st.sampled_from([0.0, 1.0, -1e30])))
    return net


def refused(value: Any) -> bool:
    return isinstance(value, Exception)


# ------------------------------------------------------------------------------- tasks, networks
@given(draw=st.data())
def test_tasks_build_sample_and_evaluate_or_refuse_by_name(draw):
    a = Args(draw.draw, ["d", "r", "link", "noise", "seed", "n", "sample_seed", "dtype", "device", "X"])
    d = a.size("d", 1, 6)
    task = outcome(lambda: MultiIndexTask(d, a.size("r", 1, d if isinstance(d, int) and d > 0 else 1),
                                          a("link", st.sampled_from(BUILTIN_LINKS), st.sampled_from(["he4", None, 2])),
                                          a.number("noise", [0.0, 0.1, 1.0, 1e150, 1e200]), a.seed()))
    if refused(task):
        return
    n = a.size("n", 1, 8)
    out = outcome(lambda: task.sample(n, a.seed("sample_seed"), dtype=a.dtype(), device=a.device()))
    if not refused(out):
        assert out[0].shape == (n, task.d) and out[0].dtype == out[1].dtype
    outcome(lambda: task.f(a.tensor("X", (3, task.d))))
    outcome(lambda: (task.expected_hessian(), task.label_variance))


@given(draw=st.data())
def test_networks_build_and_predict_or_refuse_by_name(draw):
    a = Args(draw.draw, ["d", "width", "seed", "dtype", "device", "X", "to", "W", "a"])
    net = outcome(lambda: TwoLayerNet.init(a.size("d", 1, 5), a.size("width", 2, 6), a.seed(), dtype=a.dtype(),
                                           device=a.device()))
    if refused(net):
        return
    X = a.tensor("X", (draw.draw(st.integers(0, 5)), net.d))
    out = outcome(lambda: net(X))
    if not refused(out):
        assert out.dtype == net.dtype and out.shape == (X.shape[0],)
    outcome(lambda: net.to(dtype=a.dtype("to"), device=a.device("to")))
    W, b = a.tensor("W", (net.width, net.d)), a.tensor("a", (net.width,))
    outcome(lambda: TwoLayerNet(W, b, torch.zeros_like(net.a), net.stage2_bias, seed=a.seed()))
    outcome(lambda: net.replace(W=W))


# ------------------------------------------------------------------------------- learner
@given(draw=st.data())
def test_the_learner_trains_or_refuses_by_name(draw):
    a = Args(draw.draw, ["ridge", "steps", "stage1_lr", "wd", "chunk", "stage1", "stage2"])
    learner = outcome(lambda: TwoStageLearner(
        a.number("ridge", [1e-3, 1e-300, 1e-20, 1.0, 1e30, 1e308]), a.size("steps", 1, 3),
        a.number("stage1_lr", [1.0, 0.5, 1e-320, 1e-300, 1e30, 1e308]),
        a("wd", st.sampled_from([None, None, 0.0, 0.75, 1e308]), st.sampled_from([-1.0, math.nan, "1"])),
        a.size("chunk", 1, 4)))
    if refused(learner):
        return
    net = draw.draw(nets(draw.draw(st.integers(1, 4))))
    stage1 = a.data("stage1", draw.draw(st.integers(1, 8)), net.d)
    stage2 = draw.draw(st.none() | st.just(a.data("stage2", draw.draw(st.integers(1, 8)), net.d)))
    trained = outcome(lambda: learner.fit(net, stage1, stage2))
    if not refused(trained):
        assert trained.dtype == net.dtype and _no_grad(trained)


# ------------------------------------------------------------------------------- distillers
@given(draw=st.data(), method=st.sampled_from(ddlib.distillers.METHODS))
def test_distill_returns_finite_points_or_refuses_by_name(draw, method):
    a = Args(draw.draw, ["m1", "m2", "steps", "lr", "restarts", "seed", "dtype", "data", "method", "matching"])
    net = draw.draw(nets(draw.draw(st.integers(1, 4))))
    n = draw.draw(st.integers(2, 10))
    m1, m2 = a.size("m1", 1, min(n, 3)), a.size("m2", 1, min(n, 3))
    options = dict(method=a("method", st.just(method), st.sampled_from(["dc", None, "GM+KIP"])),
                   steps1=a.size("steps", 0, 2), steps2=draw.draw(st.integers(0, 2)),
                   lr=a.number("lr", [0.05, 1e-300, 1e30, 1e308]), restarts=a.size("restarts", 1, 2),
                   seed=a.seed(), dtype=a("dtype", st.sampled_from([None, torch.float32, torch.float64]),
                                          st.sampled_from(BAD_DTYPES[:-1])),
                   matching=a("matching", st.just("cos" if method == "tm+kip" else draw.draw(
                       st.sampled_from(["cos", "frobenius"]))), st.sampled_from(["l2", None])))
    if method == "meta":
        options.update(meta_steps=draw.draw(st.integers(0, 2)), meta_batch=draw.draw(st.sampled_from([2, 100])))
    out = outcome(lambda: distill(net, *a.data("data", n, net.d, pair=False), m1, m2, **options))
    if not refused(out):
        assert out.stage1[0].shape == (m1, net.d) and out.stage2[0].shape == (m2, net.d)
        assert _finite(out.metadata) and _no_grad(out)


@given(draw=st.data())
def test_stages_called_directly_return_finite_points_or_refuse_by_name(draw):
    a = Args(draw.draw, ["steps", "lr", "ridge", "X0", "y0", "G_D", "W1", "loss", "data"])
    net = draw.draw(nets(draw.draw(st.integers(1, 4)), odd=False))
    K, m = draw.draw(st.integers(1, 2)), draw.draw(st.integers(1, 3))
    restarts = outcome(lambda: Restarts.start(a.tensor("X0", (K, m, net.d)), a.tensor("y0", (K, m))))
    if refused(restarts):
        return
    steps, lr = a.size("steps", 0, 2), a.number("lr", [0.05, 1.0, 1e30, 1e308])
    outcome(lambda: match_gradients(net, a.tensor("G_D", (net.width, net.d)), restarts, steps=steps, lr=lr,
                                    loss=a("loss", st.sampled_from(["cos", "frobenius"]), st.just("l2"))))
    W1 = a.tensor("W1", (net.width, net.d))
    X, y = draw.draw(tensors((draw.draw(st.integers(1, 6)), net.d))), draw.draw(tensors((1,)))
    stats = outcome(lambda: stage2_statistics(net.W, net.stage2_bias, X.detach().to(net.dtype),
                                              y.detach().to(net.dtype).expand(X.shape[0])))
    if not refused(stats):
        outcome(lambda: match_performance(net, W1, stats, restarts, steps=steps, lr=lr,
                                          ridge=a.number("ridge", [1e-3, 1e-300, 1e308])))
    outcome(lambda: match_trajectories(net, W1, restarts, learner=TwoStageLearner(), steps=steps, lr=lr))
    outcome(lambda: expert_trajectory(net, *a.data("data", 4, net.d, pair=False), TwoStageLearner()))


@given(draw=st.data())
def test_meta_finetune_returns_finite_sets_or_refuses_by_name(draw):
    a = Args(draw.draw, ["steps", "lr", "batch", "seed", "real", "S1", "S2"])
    net = draw.draw(nets(draw.draw(st.integers(1, 3)), odd=False))
    real = a.data("real", draw.draw(st.integers(2, 6)), net.d, pair=False)
    S1, S2 = a.data("S1", 2, net.d), a.data("S2", 3, net.d)
    outcome(lambda: meta_finetune(net, *real, S1, S2, learner=TwoStageLearner(), steps=a.size("steps", 0, 2),
                                  lr=a.number("lr", [0.01, 1e30, 1e308]), batch=a.size("batch", 1, 8), seed=a.seed()))


@given(draw=st.data())
def test_distilled_sets_and_draws_are_checked_on_construction_and_load(draw):
    a = Args(draw.draw, ["S1", "S2", "n", "restarts", "seed", "prefix"])
    d = draw.draw(st.integers(1, 3))
    outcome(lambda: DistilledSet(a.data("S1", 2, d), a.data("S2", 3, d)))
    prefix = a("prefix", st.none() | st.integers(1, 5), st.sampled_from(ODD_INTEGERS))
    outcome(lambda: InitialDraw.draw(a.size("n", 1, 5), a.size("restarts", 1, 2), a.seed(), prefix=prefix))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "set.pt"
        path.write_bytes(draw.draw(st.binary(max_size=64)))
        outcome(lambda: DistilledSet.load(path))


# ------------------------------------------------------------------------------- baselines
@given(draw=st.data(), make=st.sampled_from(["random", "kcenter", "herding", "herding-features"]))
def test_baselines_return_m_real_rows_or_refuse_by_name(draw, make):
    a = Args(draw.draw, ["m", "seed", "data", "features"])
    n = draw.draw(st.integers(1, 8))
    X, y = a.data("data", n, draw.draw(st.integers(1, 3)), pair=False)
    m, seed = a.size("m", 1, n), a.seed()
    calls = {"random": lambda: baselines.random_subset(X, y, m, seed),
             "kcenter": lambda: baselines.kcenter_coreset(X, y, m, seed),
             "herding": lambda: baselines.herding_coreset(X, y, m),
             "herding-features": lambda: baselines.herding_coreset(X, y, m, features=a.tensor("features", (n, 2)))}
    out = outcome(calls[make])
    if not refused(out):
        assert out[0].shape == (m, X.shape[1]) and out[1].shape == (m,) and _no_grad(out)


# ------------------------------------------------------------------------------- metrics, theory
@given(draw=st.data(), task=tasks())
def test_metrics_are_finite_or_refuse_by_name(draw, task):
    a = Args(draw.draw, ["n", "seed", "W", "k", "G", "G_ref"])
    net = draw.draw(nets(task.d))
    outcome(lambda: metrics.test_mse(net, task, a.size("n", 2, 20), seed=a.seed(), clean=draw.draw(st.booleans())))
    W = a.tensor("W", (draw.draw(st.integers(0, 4)), task.d))
    outcome(lambda: metrics.alignment(W, task))
    outcome(lambda: metrics.energy_in_subspace(W, task))
    outcome(lambda: metrics.principal_angles(W, task, a("k", st.none() | st.integers(1, 3),
                                                        st.sampled_from(ODD_INTEGERS))))
    outcome(lambda: metrics.gradient_cosine(a.tensor("G", (3, 2)), a.tensor("G_ref", (3, 2))))
    outcome(lambda: metrics.alignment(net, task))


@given(draw=st.data(), task=tasks())
def test_closed_forms_are_finite_or_refuse_by_name(draw, task):
    a = Args(draw.draw, ["sigma", "d", "r", "width", "n", "m"])
    net = draw.draw(nets(task.d))
    outcome(lambda: theory.population_stage1_gradient(net, task))
    outcome(lambda: theory.population_first_layer(net, task))
    outcome(lambda: theory.population_alignment(net, task))
    d, r = a.size("d", 1, 8, huge=True), a.size("r", 1, 8, huge=True)
    outcome(lambda: theory.he3_noise_energy(d, r))
    outcome(lambda: theory.he3_noise_alignment(d, r))
    outcome(lambda: theory.span_bound(a.size("m", 1, 8, huge=True), r))
    outcome(lambda: theory.noise_excess_risk(a.number("sigma", SPECIAL_FLOATS), a.size("width", 1, 8, huge=True),
                                             a.size("n", 1, 8, huge=True)))
    outcome(lambda: theory.memory_report(m1=a.size("m", 0, 8, huge=True), m2=3, d=d, r=r,
                                         width=a.size("width", 1, 8, huge=True), n=a.size("n", 0, 8, huge=True)))



# ------------------------------------------------------------------------------- links
@given(draw=st.data())
def test_links_are_built_or_refused_by_name(draw):
    a = Args(draw.draw, ["name", "g", "exponent", "hessian", "beyond", "r", "n", "seed"])
    link = outcome(lambda: Link(a("name", st.sampled_from(["mine", "x2"]), st.sampled_from(["", "a b", None, 3])),
                                a("g", st.just(lambda Z: Z[:, 0] * Z[:, -1]), st.sampled_from([None, 3, "g"])),
                                a.size("exponent", 1, 4),
                                a("hessian", st.just(lambda r: torch.zeros(r, r, dtype=torch.float64)),
                                  st.sampled_from([None, 1.0])),
                                a("beyond", st.sampled_from([None, ddlib.tasks.no_part_beyond_he2]),
                                  st.sampled_from([1, "zero"]))))
    if refused(link):
        return
    outcome(lambda: link_moments(draw.draw(st.sampled_from(list(BUILTIN_LINKS) + ["nope"])), a.size("r", 1, 3),
                                 n=a.size("n", 2, 50), seed=a.seed()))


# ------------------------------------------------------------------------------- tuning, selection
@given(draw=st.data())
def test_ridge_tuning_returns_a_finite_choice_or_refuses_by_name(draw):
    a = Args(draw.draw, ["S1", "S2", "validation", "grid", "split"])
    net = draw.draw(nets(draw.draw(st.integers(1, 3)), odd=False))
    grid = a("grid", st.lists(st.sampled_from([1e-6, 1e-3, 1.0, 1e300, 5e-324]), min_size=1, max_size=3),
             st.sampled_from([[], [-1.0], [math.nan], "1e-3", None, [1e-3] * 65]))
    out = outcome(lambda: tuning.tune_ridge(net, a.data("S1", draw.draw(st.integers(1, 4)), net.d),
                                            a.data("S2", draw.draw(st.integers(1, 6)), net.d),
                                            a.data("validation", draw.draw(st.integers(1, 6)), net.d), grid=grid))
    if not refused(out):
        assert out.ridge in out.grid and _no_grad(out.net)
    outcome(lambda: tuning.validation_split(*a.data("split", draw.draw(st.integers(1, 6)), net.d, pair=False),
                                            draw.draw(st.integers(0, 6)), seed=0))


@given(draw=st.data(), stage=st.sampled_from(["1", "2", "both"]))
def test_selections_return_real_rows_or_refuse_by_name(draw, stage):
    a = Args(draw.draw, ["m", "pool", "seed", "data", "W1", "ridge"])
    net = draw.draw(nets(draw.draw(st.integers(1, 3))))
    n = draw.draw(st.integers(1, 8))
    X, y = a.data("data", n, net.d, pair=False)
    m, pool, seed = a.size("m", 1, n), a.size("pool", 1, 10), a.seed()
    calls = {"1": lambda: selection.select_stage1(net, X, y, m, seed=seed, pool=pool),
             "2": lambda: selection.select_stage2(net, a.tensor("W1", (net.width, net.d)), X, y, m, seed=seed,
                                                  pool=pool, ridge=a.number("ridge", [1e-3, 1e-300, 1e308])),
             "both": lambda: methods.select(net, X, y, m, m, seed=seed, pool=pool)}
    out = outcome(calls[stage])
    if not refused(out) and stage != "both":
        assert out.data.X.shape == (m, net.d) and len(set(out.indices)) == m and _no_grad(out.data)


# ------------------------------------------------------------------------------- spectral, moments
@given(draw=st.data(), variant=st.sampled_from(spectral.VARIANTS))
def test_spectral_sets_are_finite_or_refused_by_name(draw, variant):
    a = Args(draw.draw, ["data", "r", "m1", "seed", "m2", "factor"])
    d, n = draw.draw(st.integers(1, 4)), draw.draw(st.integers(1, 8))
    X, y = a.data("data", n, d, pair=False)
    r = a("r", st.none() | st.integers(1, d), st.sampled_from(ODD_INTEGERS))
    outcome(lambda: moments.empirical_hessian(X, y))
    outcome(lambda: spectral.estimate_rank(X, y, factor=a.number("factor", [2.0, 1e-300, 1e300]), seed=a.seed()))
    extra = dict(m1=a.size("m1", 1, 4), seed=a.seed()) if variant == "directions" else {}
    out = outcome(lambda: spectral.spectral_points(X, y, r, variant=variant, **extra))
    if not refused(out):
        assert out.X.shape[1] == X.shape[1] and _no_grad(out)


@given(draw=st.data(), stage2=st.sampled_from(["kip", "labels"]))
def test_moment_matching_and_label_solves_are_finite_or_refuse_by_name(draw, stage2):
    a = Args(draw.draw, ["data", "m1", "m2", "steps", "lr", "seed", "X2", "W1", "ridge", "M_D"])
    net = draw.draw(nets(draw.draw(st.integers(1, 3)), odd=False))
    n = draw.draw(st.integers(2, 8))
    X, y = a.data("data", n, net.d, pair=False)
    out = outcome(lambda: distill_moments(net, X, y, a.size("m1", 1, min(n, 3)), a.size("m2", 1, min(n, 3)),
                                          stage2=stage2, steps1=a.size("steps", 0, 2), steps2=1, restarts=1,
                                          lr=a.number("lr", [0.05, 1e-300, 1e30, 1e308]), seed=a.seed()))
    if not refused(out):
        assert _finite(out.metadata) and _no_grad(out)
    gen = torch.Generator().manual_seed(draw.draw(st.integers(0, 99)))
    real = (torch.randn(4, net.d, generator=gen, dtype=torch.float64).to(net.dtype),
            torch.randn(4, generator=gen, dtype=torch.float64).to(net.dtype))
    restarts = InitialDraw.draw(4, 1, seed=0).stage1(real, 2)
    outcome(lambda: match_moments(net, a.tensor("M_D", (net.d, net.d)), restarts, steps=1, lr=0.1))
    Xr, yr = draw.draw(tensors((draw.draw(st.integers(1, 5)), net.d))), draw.draw(tensors((1,)))
    stats = outcome(lambda: stage2_statistics(net.W, net.stage2_bias, Xr.detach().to(net.dtype),
                                              yr.detach().to(net.dtype).expand(Xr.shape[0])))
    if refused(stats):
        return
    W1, ridge = a.tensor("W1", (net.width, net.d)), a.number("ridge", [1e-3, 1e-300, 1e308])
    outcome(lambda: optimal_labels(net, W1, stats, a.tensor("X2", (draw.draw(st.integers(1, 4)), net.d)), ridge))
    outcome(lambda: solve_labels(net, W1, stats, restarts, ridge=ridge))


# ------------------------------------------------------------------------------- effective size, ratios
@given(draw=st.data())
def test_effective_sizes_and_ratios_are_finite_or_refuse_by_name(draw):
    a = Args(draw.draw, ["n", "errors", "error", "d", "memory", "ratio"])
    sizes = a("n", st.lists(st.integers(1, 10 ** 6), min_size=2, max_size=5, unique=True).map(sorted),
              st.sampled_from([[3], [5, 5], [10, 2], "ab", [1.5, 2]]))
    errs = a("errors", st.lists(st.sampled_from(SPECIAL_FLOATS[1:]), min_size=2, max_size=5),
             st.sampled_from([[0.0, 1.0], [math.nan, 1.0], [-1.0, 0.5], None]))
    curve = outcome(lambda: effective.LearningCurve(tuple(sizes), tuple(errs[:len(sizes)]) if isinstance(
        errs, list) and isinstance(sizes, list) else errs))
    error = a.number("error", SPECIAL_FLOATS[1:])
    if not refused(curve):
        out = outcome(lambda: effective.effective_size(error, curve))
        if not refused(out) and out.n_eq is not None:
            assert curve.n[0] <= out.n_eq <= curve.n[-1] * (1 + 1e-12)
            outcome(lambda: effective.compression(out.n_eq, a.size("d", 1, 64, huge=True),
                                                  a.size("memory", 1, 10 ** 6, huge=True)))
    ratio = a.number("ratio", SPECIAL_FLOATS[1:])
    outcome(lambda: metrics.gap_to_full_data(error, ratio))
    outcome(lambda: metrics.gain_over_random(error, ratio))


# ------------------------------------------------------------------------------- evaluation
@given(draw=st.data())
def test_evaluations_score_finitely_or_refuse_by_name(draw):
    a = Args(draw.draw, ["task", "theta0", "learner", "k", "widths", "ridges", "spec"])
    d = draw.draw(st.integers(1, 3))
    X = torch.randn(5, d, generator=torch.Generator().manual_seed(draw.draw(st.integers(0, 99))), dtype=torch.float64)
    meta = {"task": a("task", st.just({"d": d, "r": 1, "link": "he2", "noise": 0.0, "seed": 0}) | st.none(),
                      st.sampled_from([{"d": d + 1, "r": 1}, {"r": 1, "link": "zz", "d": d}, "he2", {"q": 1}])),
            "theta0": a("theta0", st.just({"d": d, "width": 4, "seed": 1}) | st.none(),
                        st.sampled_from([{"d": d}, {"d": d, "width": 3, "seed": 1}, {"d": d, "width": 4, "seed": -1},
                                         [1], {"d": d + 1, "width": 4, "seed": 0}])),
            "learner": a("learner", st.just({"ridge": 1e-3}), st.sampled_from([{"ridge": -1.0}, "x", {"ridge": "a"}]))}
    ds = DistilledSet((X[:2], X[:2, 0]), (X[2:], X[2:, 0] + 1.0), meta)
    spec = a("spec", st.none() | st.just(f"r=1,link=he2,seed=0,d={d}"),
             st.sampled_from(["r=1", "r=a,link=he2,seed=0", "link=he2", "x=1", f"r=1,link=he2,seed=0,d={d + 1}"]))
    task = outcome(lambda: None if spec is None else cli_evaluate.parse_task_spec(spec, d))
    if refused(task):
        return
    # The recorded theta0's row holds one value: its interval is undefined (NaN ends, ddlib.stats'
    # convention), so the contract is checked on the scores.
    out = outcome(lambda: [v for row in evaluation.evaluate(ds, task=task, k=a.size("k", 1, 2), n_test=10,
                                              widths=a("widths", st.none() | st.just([2]), st.sampled_from([[3], "4",
                                                                                                            []])),
                                              ridges=a("ridges", st.none() | st.just([1e-3, 1.0]),
                                                       st.sampled_from([[0.0], [math.nan], "1"]))).rows
                           for v in row.test_mse])
    if not refused(out):
        assert out
