"""Methods of distillation, on one contract: a *stage-1 method* makes the points S1 the learner's
feature step sees, a *stage-2 method* makes the points S2 its ridge sees for the W1 that S1 trains,
and ``compose`` turns a pair of them into a ``DistilledSet``.  Every distiller and baseline of ddlib
is a pair of registered stages; ``distill``, the experiments, the memory search and the benchmarks
all make their sets through ``compose``.

The contract::

    stage1(real: RealData, m1: int, config: Config, seed: int) -> Points
    stage2(real: RealData, W1: Tensor, m2: int, config: Config, seed: int) -> Points

``RealData`` is theta0 and the real data, with what several stages derive from them computed once
(the real stage-1 gradient G_D, the label-weighted second moment, the learner's trajectory, the
initial draw of every restart, the ridge's sufficient statistics for a W1).  ``Config`` holds the
budget every method shares (Adam steps, learning rate, restarts, the learner) and the options some
use (the task's rank r, a selection pool, a user method's own ``options``).  ``Points`` is the set
made, its matching loss (NaN for a method that minimises none) and a JSON record of how.

A method whose size is its own (``fixed_size``: the spectral set makes 2r points) takes them out of
the pair's m1 + m2 points and stage 2 gets the rest: ``compose`` asks stage 2 for m1 + m2 - len(S1)
points (at least one), so every pair spends m1 + m2 points -- the spectral set's spare stage-1
floats go to stage 2 (and, where 2r > m1, it borrows from stage 2's).
The stage-2 method ``"stage-1 points"`` reuses S1 (a set of real points used for both stages); the
set is stored once, which ``DistilledSet.memory_floats`` counts.

Users add their own methods from their own code (``register_stage1`` / ``register_stage2``); a
registered method is composed, compared and contract-checked like ddlib's own
(``check_method``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Optional

import torch

from ._version import __version__
from .baselines import herding_coreset, kcenter_coreset, random_subset
from .data import Data
from .distillers.distilled_set import DistilledSet
from .distillers.gradient_matching import match_gradients
from .distillers.label_solve import solve_labels
from .distillers.moment_matching import match_moments
from .distillers.performance_matching import match_performance
from .distillers.restarts import InitialDraw, Restarts
from .distillers.trajectory import expert_trajectory, match_trajectories
from .learners import Stage2Statistics, TwoStageLearner, check_learner, stage1_gradient, stage2_statistics
from .moments import empirical_hessian
from .networks import TwoLayerNet, check_net
from .registry import Registry
from .seeds import MAX_SEED, check_seed, generator
from .selection import DEFAULT_POOL, GreedyStage2, _check_common, select_stage1
from .spectral import spectral_basis, spectral_points_of
from .tasks import MultiIndexTask, check_task
from .validation import check_choice, check_float, check_int, check_labels, peak, require_finite

__all__ = ["Config", "RealData", "Points", "Method", "Composed", "STAGE1", "STAGE2", "REUSE_STAGE1",
           "register_stage1", "register_stage2", "compose", "compose_parts", "stage1_points", "check_method",
           "distill_moments", "select", "STAGE2_CHOICES", "ALLOWED_MODULES_ENV",
           "import_allowed_modules"]

ALLOWED_MODULES_ENV = "DDLIB_ALLOWED_MODULES"  # modules ``ddlib run --allow-module`` lets a page import
REUSE_STAGE1 = "stage-1 points"  # the stage-2 method that stores S1 once and uses it for both stages


@dataclass(frozen=True)
class Config:
    """The budget and options every method of one comparison shares.

    Attributes:
        learner: the learner the sets are made for.
        steps1, steps2: Adam steps of an optimising stage 1 / stage 2.
        lr: their learning rate.
        restarts: K initialisations per optimising stage (the lowest matching loss is kept).
        r: the task's rank, for a method that uses it (the spectral set; None: estimated from the data).
        pool: candidates scored per step of a greedy selection.
        options: a user method's own options (JSON-able values), read by name.
        progress: show the optimising stages' progress bars (not part of the record).
    """

    learner: TwoStageLearner = field(default_factory=TwoStageLearner)
    steps1: int = 300
    steps2: int = 200
    lr: float = 0.05
    restarts: int = 3
    r: Optional[int] = None
    pool: int = 64
    options: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "learner", check_learner(self.learner))
        object.__setattr__(self, "steps1", check_int("steps1", self.steps1, min_value=0))
        object.__setattr__(self, "steps2", check_int("steps2", self.steps2, min_value=0))
        object.__setattr__(self, "lr", check_float("lr", self.lr, strictly_positive=True))
        object.__setattr__(self, "restarts", check_int("restarts", self.restarts, min_value=1))
        if self.r is not None:
            object.__setattr__(self, "r", check_int("r", self.r, min_value=1))
        object.__setattr__(self, "pool", check_int("pool", self.pool, min_value=1))
        if not isinstance(self.options, Mapping):
            raise TypeError(f"Config.options must be a mapping of option names to values, got "
                            f"{type(self.options).__name__}")
        object.__setattr__(self, "options", dict(self.options))

    def record(self) -> dict[str, Any]:
        """The config as JSON data, for a set's metadata."""
        return {"steps1": self.steps1, "steps2": self.steps2, "lr": self.lr, "restarts": self.restarts,
                "r": self.r, "pool": self.pool, "learner": self.learner.params(), **({"options": dict(self.options)}
                                                                                     if self.options else {})}

    def key(self) -> str:
        return repr(sorted(self.record().items()))


class RealData:
    """theta0 and the real data of one distillation, with what stages derive from them, each computed
    once: ``gradient()`` (G_D, the real stage-1 gradient at theta0), ``moment()`` (the label-weighted
    second moment), ``expert(learner)`` (the learner's stage-1 trajectory end W_T), ``draw(restarts,
    seed)`` (the initial real points of every restart), ``statistics(W1)`` (the ridge's sufficient
    statistics) and ``stage1(...)`` (a stage-1 method's points, shared by every stage 2 it feeds).

    The real data are checked once here (finite, in theta0's dtype, labels not all 0)."""

    def __init__(self, net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, *, min_n: int = 1,
                 chunk_size: Optional[int] = None) -> None:
        self.net = check_net(net).detach()
        X, y = self.net.check_data("real data (X, y)", (X, y), min_n=min_n)
        check_labels("real", y, why="the real data's stage-1 gradient at theta0 and the KIP normaliser |y|^2/n are "
                                    "both 0: there is nothing to distil")
        self.data = Data(X, y)
        self.chunk_size = chunk_size
        self._cache: dict[Any, Any] = {}

    @property
    def n(self) -> int:
        return self.data.X.shape[0]

    def _memo(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def gradient(self, chunk_size: Optional[int] = None) -> torch.Tensor:
        """G_D, the real data's stage-1 gradient at theta0 (a ValueError when it overflows)."""
        def make() -> torch.Tensor:
            net = self.net
            G = stage1_gradient(net.W, net.a, net.b, *self.data, chunk_size or self.chunk_size or
                                TwoStageLearner().chunk_size)
            require_finite(lambda: f"the real data's stage-1 gradient at theta0 is not finite: the data's scale "
                                   f"(max |X| = {peak(self.data.X):.3g}, max |y| = {peak(self.data.y):.3g}) "
                                   f"overflows {net.dtype}", G)
            return G
        return self._memo("gradient", make)

    def moment(self) -> torch.Tensor:
        """The label-weighted second moment (1/n) sum_i y_i (x_i x_i^T - I) of the real data."""
        return self._memo("moment", lambda: empirical_hessian(*self.data))

    def expert(self, learner: TwoStageLearner) -> torch.Tensor:
        """W_T, the end of the learner's stage-1 trajectory on the real data."""
        return self._memo(("expert", repr(learner)), lambda: expert_trajectory(self.net, *self.data, learner)[-1])

    def draw(self, restarts: int, seed: int) -> InitialDraw:
        """Every restart's initial real points, for both stages, from ``seed`` (``InitialDraw``)."""
        return self._memo(("draw", restarts, seed), lambda: InitialDraw.draw(self.n, restarts, seed))

    def statistics(self, W1: torch.Tensor, learner: TwoStageLearner) -> Stage2Statistics:
        """The real data's sufficient statistics of the ridge on the features of W1."""
        key = ("statistics", W1.data_ptr(), tuple(W1.shape), learner.chunk_size)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is W1:
            return hit[1]
        stats = stage2_statistics(W1, self.net.stage2_bias, *self.data, learner.chunk_size)
        self._cache[key] = (W1, stats)
        return stats

    def stage1(self, method: str, m1: int, config: Config, seed: int) -> "Points":
        """The points of a registered stage-1 method, made once per (method, m1, config, seed)."""
        key = ("stage1", method, m1, config.key(), seed)
        return self._memo(key, lambda: _checked(STAGE1.lookup(method), self.net, m1,
                                                STAGE1.lookup(method).fn(self, m1, config, seed)))


@dataclass(frozen=True)
class Points:
    """What a stage makes: the points (X, y), their matching loss (NaN when the method minimises
    none), a JSON record of how (``info``) and, for an optimising method, every restart."""

    data: Data
    loss: float = math.nan
    info: Mapping[str, Any] = field(default_factory=dict)
    restarts: Optional[Restarts] = None


@dataclass(frozen=True)
class Method:
    """A registered stage method: its function, what it is (one line), its family ("synthetic":
    points made by the method; "real points": rows of the real data) and whether its size is fixed
    by the method (it may return fewer points than asked; the spectral set's 2r)."""

    name: str
    stage: int
    fn: Callable[..., Points]
    what: str
    family: str = "synthetic"
    fixed_size: bool = False


STAGE1: Registry[Method] = Registry("stage-1 method")
STAGE2: Registry[Method] = Registry("stage-2 method")
_FAMILIES = ("synthetic", "real points")


def _register(registry: Registry[Method], stage: int, name: str, fn: Callable[..., Points], *, what: str,
              family: str, fixed_size: bool, replace: bool, builtin: bool) -> Method:
    if not callable(fn):
        raise TypeError(f"a stage-{stage} method must be callable, got {type(fn).__name__}")
    if not isinstance(what, str) or not what.strip():
        raise ValueError(f"stage-{stage} method {name!r}: give a one-line description (what=...)")
    if family not in _FAMILIES:
        raise ValueError(f"stage-{stage} method {name!r}: family must be one of {list(_FAMILIES)}, got {family!r}")
    if "+" in str(name):
        raise ValueError(f"a method name may not contain '+' (it joins stage names), got {name!r}")
    return registry.register(name, Method(name, stage, fn, what, family, fixed_size), replace=replace, builtin=builtin)


def register_stage1(name: str, fn: Callable[[RealData, int, Config, int], Points], *, what: str,
                    family: str = "synthetic", fixed_size: bool = False, replace: bool = False,
                    builtin: bool = False) -> Method:
    """Register a stage-1 method ``fn(real, m1, config, seed) -> Points`` under ``name``."""
    return _register(STAGE1, 1, name, fn, what=what, family=family, fixed_size=fixed_size, replace=replace,
                     builtin=builtin)


def register_stage2(name: str, fn: Callable[[RealData, torch.Tensor, int, Config, int], Points], *, what: str,
                    family: str = "synthetic", fixed_size: bool = False, replace: bool = False,
                    builtin: bool = False) -> Method:
    """Register a stage-2 method ``fn(real, W1, m2, config, seed) -> Points`` under ``name``."""
    return _register(STAGE2, 2, name, fn, what=what, family=family, fixed_size=fixed_size, replace=replace,
                     builtin=builtin)


def _checked(method: Method, net: TwoLayerNet, m: int, out: Any) -> Points:
    """A stage's output, checked against the contract (a one-line error naming the method)."""
    where = f"stage-{method.stage} method {method.name!r}"
    if not isinstance(out, Points):
        raise TypeError(f"{where} must return ddlib.methods.Points, got {type(out).__name__}")
    X, y = net.check_data(f"{where}: its points", tuple(out.data))
    k = X.shape[0]
    if k > m or (k < m and not method.fixed_size):
        raise ValueError(f"{where} made {k} points, asked for {m}" +
                         ("" if k < m else " (no method may make more than asked)"))
    if not isinstance(out.loss, (int, float)):
        raise TypeError(f"{where}: Points.loss must be a float, got {type(out.loss).__name__}")
    return replace(out, data=Data(X, y), loss=float(out.loss), info=dict(out.info))


def stage1_points(real: RealData, method: str, m1: int, config: Config, seed: int) -> tuple[Points, torch.Tensor]:
    """A stage-1 method's points (made once per arguments, ``RealData.stage1``) and the W1 they train."""
    m1 = check_int("m1", m1, min_value=1, max_value=real.n)
    pts = real.stage1(method, m1, config, check_seed("seed", seed))
    W1 = real._memo(("W1", method, m1, config.key(), seed), lambda: config.learner.stage1(real.net, *pts.data))
    return pts, W1


@dataclass(frozen=True)
class Composed:
    """A composed set and its parts: each stage's ``Points`` (with its restarts) and the W1 S1 trains."""

    distilled: DistilledSet
    stage1: Points
    stage2: Points
    W1: torch.Tensor


def compose(real: RealData, stage1: str, stage2: str, m1: int, m2: int, config: Optional[Config] = None, *,
            seed: int = 0, task: Optional[MultiIndexTask] = None, name: Optional[str] = None,
            extra: Optional[Mapping[str, Any]] = None) -> DistilledSet:
    """The distilled set of the pair (stage1, stage2) with m1 + m2 points in all.

    Stage 1 makes S1 (m1 points; a fixed-size method its own number, the rest going to stage 2), the
    learner's stage 1 on S1 gives W1, stage 2 makes S2 for W1.  With ``stage2="stage-1 points"``
    stage 1 makes m1 + m2 points used for both stages.  Both stages get ``seed`` (a method draws
    what it needs from it); the metadata records both methods, the config, the seed, the losses and
    each stage's ``info`` (key k of stage s as ``stage<s>_<k>``).

    Args:
        real: theta0 and the real data (``RealData``).
        stage1, stage2: registered method names (``STAGE1``, ``STAGE2``).
        m1, m2: the points of each stage (m1 + m2 in all).
        config: the shared budget (default ``Config()``).
        seed: the seed both stages draw from.
        task: optional, recorded in the metadata.
        name: the method's name in the metadata (default "stage1+stage2").
        extra: more metadata (JSON data).
    """
    return compose_parts(real, stage1, stage2, m1, m2, config, seed=seed, task=task, name=name,
                         extra=extra).distilled


def compose_parts(real: RealData, stage1: str, stage2: str, m1: int, m2: int, config: Optional[Config] = None, *,
                  seed: int = 0, task: Optional[MultiIndexTask] = None, name: Optional[str] = None,
                  extra: Optional[Mapping[str, Any]] = None) -> Composed:
    """``compose``, returning the set with its parts (``Composed``) for callers that look inside."""
    config = Config() if config is None else config
    if not isinstance(config, Config):
        raise TypeError(f"config must be a ddlib.methods.Config, got {type(config).__name__}")
    if not isinstance(real, RealData):
        raise TypeError(f"real must be a ddlib.methods.RealData (theta0 and the real data), got {type(real).__name__}")
    s1, s2 = STAGE1.lookup(stage1), STAGE2.lookup(stage2)
    m1, m2 = check_int("m1", m1, min_value=1), check_int("m2", m2, min_value=1)
    seed = check_seed("seed", seed)
    task = None if task is None else check_task(task, net_d=real.net.d)
    shared = stage2 == REUSE_STAGE1
    if m1 + m2 > real.n:
        raise ValueError(f"m1 + m2 = {m1 + m2} points exceed the n = {real.n} real points")
    # a fixed-size method takes its size out of the pair's m1 + m2 points (leaving stage 2 at least one)
    ask = m1 + m2 if shared else (m1 + m2 - 1 if s1.fixed_size else m1)
    pts1, W1 = stage1_points(real, stage1, ask, config, seed)
    k1 = pts1.data.X.shape[0]
    spare = 0 if shared else m1 - k1
    pts2 = pts1 if shared else _checked(s2, real.net, m2 + spare, s2.fn(real, W1, m2 + spare, config, seed))
    metadata = {
        "method": name or f"{stage1}+{stage2}", "stage1_method": stage1, "stage2_method": stage2,
        "m1": k1, "m2": pts2.data.X.shape[0], "spare_to_stage2": spare, "shared_stages": shared, "seed": seed,
        **config.record(), "n_real": real.n,
        "theta0": {"d": real.net.d, "width": real.net.width, "seed": real.net.seed},
        "task": None if task is None else task.params(),
        "stage1_matching_loss": _json_float(pts1.loss), "stage2_loss": _json_float(pts2.loss),
        **{f"stage1_{k}": v for k, v in pts1.info.items()}, **{f"stage2_{k}": v for k, v in pts2.info.items()},
        "dtype": str(real.net.dtype).replace("torch.", ""), "ddlib_version": __version__,
        **(dict(extra) if extra else {})}
    return Composed(DistilledSet(pts1.data, pts2.data, metadata), pts1, pts2, W1)


def import_allowed_modules() -> list[str]:
    """Import the modules ``ddlib run --allow-module`` named (they register a user's methods), in a
    page's kernel before its parameters are checked; the names imported."""
    import importlib
    import os

    names = [n for n in os.environ.get(ALLOWED_MODULES_ENV, "").split(",") if n]
    for name in names:
        importlib.import_module(name)
    return names


def _json_float(v: float) -> Optional[float]:
    return None if not math.isfinite(v) else float(v)


def check_method(stage: int, name: str, *, d: int = 6, n: int = 64, m: int = 4, width: int = 16) -> None:
    """The contract test of one registered method, as scikit-learn's ``check_estimator`` does:
    shapes, dtype and finiteness of what it makes, the same seed giving the same bits, a composed
    set's memory count, and refusal of a bad size.  Raises AssertionError naming the failed check."""
    registry = STAGE1 if stage == 1 else STAGE2
    method = registry.lookup(name)
    gen = generator(7)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = X[:, 0] ** 2 - 1 + 0.5 * X[:, 1] * X[:, 2]
    net = TwoLayerNet.init(d, width, seed=3)
    config = Config(steps1=5, steps2=5, restarts=2, r=2, pool=8)
    other1, other2 = ("random", name) if stage == 2 else (name, "random")
    runs = []
    for _ in range(2):
        real = RealData(net, X, y)
        runs.append(compose(real, other1, other2, m, m, config, seed=11))
    a, b = runs
    assert all(torch.equal(p, q) for p, q in zip(a.stage1 + a.stage2, b.stage1 + b.stage2)), \
        f"{name}: the same seed gave different points"
    for part in a.stage1 + a.stage2:
        assert part.dtype == torch.float64 and bool(torch.isfinite(part).all()), f"{name}: points not finite float64"
    assert a.stage1.X.shape[1] == d and a.stage2.X.shape[1] == d, f"{name}: points of the wrong dimension"
    total = a.m1 + a.m2 if not a.metadata["shared_stages"] else a.m1
    assert a.memory_floats == total * (d + 1), f"{name}: memory count {a.memory_floats} != {total} x (d + 1)"
    assert a.m1 + a.m2 == 2 * m or a.metadata["shared_stages"], f"{name}: the pair spends {a.m1 + a.m2} points, not {2 * m}"
    if not method.fixed_size and not a.metadata["shared_stages"]:
        assert (a.m1 if stage == 1 else a.m2) == m, f"{name}: made a set of another size than asked"
    real = RealData(net, X, y)
    try:
        compose(real, other1, other2, n, n, config, seed=11)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{name}: m1 + m2 > n was not refused")


# ----------------------------------------------------------------------------------------------
# Named pairs with their own front doors
# ----------------------------------------------------------------------------------------------

STAGE2_CHOICES = ("kip", "labels")  # distill_moments' stage 2


def distill_moments(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, m2: int, *,
                    learner: Optional[TwoStageLearner] = None, stage2: str = "kip", steps1: int = 300,
                    steps2: int = 200, lr: float = 0.05, restarts: int = 3, seed: int = 0,
                    task: Optional[MultiIndexTask] = None, progress: bool = False) -> DistilledSet:
    """Moment matching for stage 1, then KIP ("kip") or fixed real inputs with optimal labels
    ("labels") for stage 2; each stage keeps its restart of lowest loss.

    The initial draw is ``distill``'s for the same seed (``InitialDraw``), so the two start from
    the same real points.  Arguments as in ``ddlib.distillers.distill``; ``steps2`` applies to "kip".
    """
    check_choice("stage2", stage2, STAGE2_CHOICES)
    learner = check_learner(TwoStageLearner() if learner is None else learner)
    m1, m2 = check_int("m1", m1, min_value=1), check_int("m2", m2, min_value=1)
    real = RealData(net, X, y, min_n=max(m1, m2))
    steps2 = check_int("steps2", steps2, min_value=0)
    config = Config(learner=learner, steps1=steps1, steps2=steps2 if stage2 == "kip" else 0, lr=lr,
                    restarts=restarts, progress=progress)
    return compose(real, "moments", stage2, m1, m2, config, seed=check_seed("seed", seed), task=task,
                   name=f"mm+{stage2}")


def select(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, m2: int, *, seed: int,
           pool: int = DEFAULT_POOL, learner: Optional[TwoStageLearner] = None,
           task: Optional[MultiIndexTask] = None) -> DistilledSet:
    """Both stages: m1 real points by gradient matching, then m2 by KIP for the W1 they train.

    The stages' pools come from two seeds drawn from ``generator(seed)``.  The result is a
    ``DistilledSet`` of real points (method "select"), so it is trained, tuned, saved and
    evaluated like a distilled one; its metadata records the chosen rows and losses.
    """
    learner = check_learner(TwoStageLearner() if learner is None else learner)
    net, X, y, m1, pool = _check_common(net, X, y, m1, pool, "m1")
    config = Config(learner=learner, pool=pool)
    return compose(RealData(net, X, y), "select", "select", m1, check_int("m2", m2, min_value=1), config,
                   seed=check_seed("seed", seed), task=task, name="select")


# ----------------------------------------------------------------------------------------------
# ddlib's own methods
# ----------------------------------------------------------------------------------------------

def _two_seeds(seed: int) -> list[int]:
    """Two seeds drawn from ``seed``: one per stage, for the methods that draw on their own."""
    return torch.randint(0, MAX_SEED, (2,), generator=generator(seed)).tolist()


def _optimised(res: Restarts, **info: Any) -> Points:
    return Points(res.best(), res.best_loss, {**info, "restart_losses": res.losses}, res)


def _gradient_matching(loss: str) -> Callable[[RealData, int, Config, int], Points]:
    def stage1(real: RealData, m1: int, config: Config, seed: int) -> Points:
        start = real.draw(config.restarts, seed).stage1(real.data, m1)
        res = match_gradients(real.net, real.gradient(config.learner.chunk_size), start, steps=config.steps1,
                              lr=config.lr, loss=loss, progress=config.progress)
        return _optimised(res, matching=loss)
    return stage1


def _trajectory(real: RealData, m1: int, config: Config, seed: int) -> Points:
    start = real.draw(config.restarts, seed).stage1(real.data, m1)
    res = match_trajectories(real.net, real.expert(config.learner), start, learner=config.learner,
                             steps=config.steps1, lr=config.lr, progress=config.progress)
    return _optimised(res, matching="trajectory", tm_steps=config.learner.stage1_steps)


def _moments(real: RealData, m1: int, config: Config, seed: int) -> Points:
    start = real.draw(config.restarts, seed).stage1(real.data, m1)
    return _optimised(match_moments(real.net, real.moment(), start, steps=config.steps1, lr=config.lr,
                                    progress=config.progress), matching="moment")


def _spectral(real: RealData, m1: int, config: Config, seed: int) -> Points:
    basis = spectral_basis(*real.data, config.r)
    if 2 * basis.r > m1:
        raise ValueError(f"the spectral set has 2r = {2 * basis.r} points, more than the {m1} it may take")
    return Points(spectral_points_of(basis), math.nan,
                  {"r": basis.r, "r_estimated": basis.estimated,
                   "eigenvalues": [float(v) for v in basis.eigenvalues]})


def _select1(real: RealData, m1: int, config: Config, seed: int) -> Points:
    s = select_stage1(real.net, *real.data, m1, seed=_two_seeds(seed)[0], pool=config.pool,
                      G_D=real.gradient(config.learner.chunk_size))
    return Points(s.data, s.losses[-1], {"indices": list(s.indices), "pool": config.pool})


def _real1(choose: Callable[[RealData, int, int], Data]) -> Callable[[RealData, int, Config, int], Points]:
    def stage1(real: RealData, m1: int, config: Config, seed: int) -> Points:
        return Points(choose(real, m1, seed))
    return stage1


def _kip(real: RealData, W1: torch.Tensor, m2: int, config: Config, seed: int) -> Points:
    start = real.draw(config.restarts, seed).stage2(real.data, m2)
    res = match_performance(real.net, W1, real.statistics(W1, config.learner), start, steps=config.steps2,
                            lr=config.lr, ridge=config.learner.ridge, progress=config.progress)
    return _optimised(res)


def _labels(real: RealData, W1: torch.Tensor, m2: int, config: Config, seed: int) -> Points:
    start = real.draw(config.restarts, seed).stage2(real.data, m2)
    return _optimised(solve_labels(real.net, W1, real.statistics(W1, config.learner), start,
                                   ridge=config.learner.ridge))


def _random2(real: RealData, W1: torch.Tensor, m2: int, config: Config, seed: int) -> Points:
    return Points(random_subset(*real.data, m2, seed=_two_seeds(seed)[1]))


def _select2(real: RealData, W1: torch.Tensor, m2: int, config: Config, seed: int) -> Points:
    # one greedy run per W1 and seed, extended as a search probes larger m2 (the same points as a
    # fresh run of each size: ``GreedyStage2``)
    s2_seed, ridge = _two_seeds(seed)[1], config.learner.ridge
    key = ("select2", W1.data_ptr(), tuple(W1.shape), s2_seed, config.pool, ridge)
    hit = real._cache.get(key)
    if hit is None or hit[0] is not W1:
        hit = real._cache[key] = (W1, GreedyStage2(real.net, W1, *real.data, seed=s2_seed, pool=config.pool,
                                                   ridge=ridge, stats=real.statistics(W1, config.learner)))
    s = hit[1].select(m2)
    return Points(s.data, s.losses[-1], {"indices": list(s.indices), "pool": config.pool})


def _reuse(real: RealData, W1: torch.Tensor, m2: int, config: Config, seed: int) -> Points:
    raise RuntimeError(f"{REUSE_STAGE1!r} is composed by compose() itself (S2 = S1)")


for _name, _fn, _what, _family, _fixed in (
        ("gm-cos", _gradient_matching("cos"), "matches the stage-1 gradient at theta0 in angle, neuron by neuron",
         "synthetic", False),
        ("gm-frobenius", _gradient_matching("frobenius"), "matches the stage-1 gradient in relative Frobenius norm",
         "synthetic", False),
        ("tm", _trajectory, "matches the end of the learner's T-step stage-1 trajectory (T = learner.stage1_steps)",
         "synthetic", False),
        ("moments", _moments, "matches the label-weighted second moment of the real data (no learner gradient)",
         "synthetic", False),
        ("spectral", _spectral, "2r points on the top-r eigenvectors of the empirical Hessian (r: config.r, or "
                                "estimated)", "synthetic", True),
        ("select", _select1, "real points chosen greedily to match the stage-1 gradient (GradMatch/CRAIG style)",
         "real points", False),
        ("k-center", _real1(lambda real, m, seed: kcenter_coreset(*real.data, m, seed)),
         "greedy k-center coreset of the real inputs", "real points", False),
        ("herding", _real1(lambda real, m, seed: herding_coreset(
            *real.data, m, features=real.net.stage2_features(real.data.X, real.net.W))),
         "herding coreset on theta0's random features", "real points", False),
        ("random", _real1(lambda real, m, seed: random_subset(*real.data, m, seed=_two_seeds(seed)[0])),
         "random real points", "real points", False)):
    register_stage1(_name, _fn, what=_what, family=_family, fixed_size=_fixed, builtin=True)

for _name, _fn, _what, _family in (
        ("kip", _kip, "KIP: minimises the real-data loss of the ridge fitted on S2", "synthetic"),
        ("labels", _labels, "random real inputs with the closed-form optimal labels", "synthetic"),
        ("random", _random2, "random real points", "real points"),
        ("select", _select2, "real points chosen greedily to minimise the KIP loss", "real points"),
        (REUSE_STAGE1, _reuse, "the stage-1 points again (one set for both stages, stored once)", "real points")):
    register_stage2(_name, _fn, what=_what, family=_family, builtin=True)
