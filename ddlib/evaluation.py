"""Re-scoring a saved distilled set: ``ddlib evaluate SET.pt`` and ``ddlib.evaluate(...)``
(this module is ``ddlib.evaluation``: ``ddlib.evaluate`` is its entry point).

A ``DistilledSet`` file records how it was made: its task (``metadata["task"]``, when it was
distilled with ``task=...``), its theta0 (``metadata["theta0"]``: d, width, seed) and its learner.
``evaluate`` trains that learner on the set from k *fresh* initialisations (theta0 seeds
``seed_base, seed_base + 1, ...``, skipping the recorded one), at each width and ridge asked for,
and reports the normalised test MSE as a mean with its t-interval (``ddlib.stats``) beside the
set's memory.  The recorded theta0, when the file names one and its width is asked for, is scored
too, as the reference: a set is distilled for one theta0, so fresh ones measure transfer
(notebook 05_boundaries).

The work is split in two so the command line can tell bad input (exit 2) from a failure while
scoring (exit 1): ``plan_evaluation`` reads and checks everything -- the file (not a ddlib
artefact, corrupted, another kind: ``ddlib.io.ArtifactError``), the task (recorded or given;
a set without a task record needs one), the dimensions -- and ``run_evaluation`` trains and tests.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence, Union

from .distillers.distilled_set import DistilledSet
from .io import ArtifactError
from .learners import TwoStageLearner, check_learner
from .metrics import test_mse
from .networks import TwoLayerNet
from .seeds import MAX_SEED, check_seed
from .stats import DEFAULT_LEVEL, Interval, mean_interval
from .tasks import MultiIndexTask, check_task
from .tuning import check_ridge_grid
from .validation import check_float, check_int, short_repr

__all__ = ["EvaluationPlan", "EvaluationRow", "Evaluation", "plan_evaluation", "run_evaluation", "evaluate",
           "DEFAULT_SEED_BASE", "DEFAULT_TEST_SEED", "MAX_SEEDS", "MAX_WIDTHS"]

DEFAULT_SEED_BASE = 1_000  # the first fresh theta0 seed
DEFAULT_TEST_SEED = 2 ** 31 - 1  # the test sample's seed: far from the small seeds experiments use
MAX_SEEDS = 1_000
MAX_WIDTHS = 64


@dataclass(frozen=True)
class EvaluationPlan:
    """Everything ``run_evaluation`` needs, checked: the set, where it came from, the task (and
    whether it was "recorded" or "given"), the learner, the widths, ridges, fresh seeds, the
    recorded theta0 (width, seed) or None, the test size and seed, and the interval level."""

    distilled: DistilledSet
    source: Optional[str]
    task: MultiIndexTask
    task_source: str
    learner: TwoStageLearner
    widths: tuple[int, ...]
    ridges: tuple[float, ...]
    seeds: tuple[int, ...]
    recorded: Optional[tuple[int, int]]
    n_test: int
    test_seed: int
    level: float


@dataclass(frozen=True)
class EvaluationRow:
    """One (width, ridge, theta0 kind): the seeds, each one's test MSE and their interval."""

    width: int
    ridge: float
    theta0: str
    seeds: tuple[int, ...]
    test_mse: tuple[float, ...]
    interval: Interval


@dataclass(frozen=True)
class Evaluation:
    """The plan and its rows; ``format()`` is what the command line prints."""

    plan: EvaluationPlan
    rows: tuple[EvaluationRow, ...]

    def format(self) -> str:
        """A header (the set, its memory, the task, the test) and one line per row."""
        p, ds = self.plan, self.plan.distilled
        meta = ds.metadata
        n_real = meta.get("n_real")
        data = f"; the real data it came from: {n_real * (ds.d + 1):,} floats (n={n_real:,})" \
            if isinstance(n_real, int) and n_real > 0 else ""
        t = p.task
        lines = [f"set: {p.source or '(in memory)'} ({meta.get('method', 'unknown method')}, m1={ds.m1}, m2={ds.m2}, "
                 f"d={ds.d})",
                 f"memory: {ds.memory_floats:,} floats, (m1 + m2)(d + 1){data}",
                 f"task ({p.task_source}): d={t.d}, r={t.r}, link={t.link}, noise={t.noise}, seed={t.seed}",
                 f"test: normalised MSE on {p.n_test:,} points (seed {p.test_seed}); "
                 f"{p.level:.0%} t-intervals over fresh theta0 seeds",
                 f"{'width':>6}  {'ridge':>8}  {'theta0':<24}  test MSE"]
        for r in self.rows:
            who = (f"recorded (seed {r.seeds[0]})" if r.theta0 == "recorded"
                   else f"{len(r.seeds)} fresh ({r.seeds[0]}..{r.seeds[-1]})")
            value = f"{r.interval.estimate:.4g}" if r.theta0 == "recorded" else r.interval.format(".4g")
            lines.append(f"{r.width:>6}  {r.ridge:>8.3g}  {who:<24}  {value}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the set's sizes and memory, the task, and every row."""
        p, ds = self.plan, self.plan.distilled
        return {"source": p.source, "method": ds.metadata.get("method"), "m1": ds.m1, "m2": ds.m2, "d": ds.d,
                "memory_floats": ds.memory_floats, "task": p.task.params(), "task_source": p.task_source,
                "learner": p.learner.params(), "n_test": p.n_test, "test_seed": p.test_seed,
                "rows": [{"width": r.width, "ridge": r.ridge, "theta0": r.theta0, "seeds": list(r.seeds),
                          "test_mse": list(r.test_mse), "interval": r.interval.as_dict()} for r in self.rows]}


def _load(distilled: Union[DistilledSet, str, os.PathLike]) -> tuple[DistilledSet, Optional[str]]:
    if isinstance(distilled, DistilledSet):
        return distilled, None
    if not isinstance(distilled, (str, os.PathLike)):
        raise TypeError(f"distilled must be a DistilledSet or the path of a saved one, got "
                        f"{type(distilled).__name__}")
    return DistilledSet.load(distilled), str(distilled)


def _task(ds: DistilledSet, source: Optional[str], task: Optional[MultiIndexTask]) -> tuple[MultiIndexTask, str]:
    """The given task, else the recorded one; refused when neither exists or its d is not the set's."""
    where = source or "the set"
    if task is not None:
        task, origin = check_task(task), "given"
    else:
        record = ds.metadata.get("task")
        if record is None:
            raise ValueError(f"{where} records no task (it was distilled without task=...): pass the task "
                             f"(--task r=R,link=NAME,seed=S on the command line)")
        if not isinstance(record, dict):
            raise ArtifactError(f"{where}: its task record must be a dict, got {short_repr(record)}")
        try:
            task = MultiIndexTask(**record)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{where}: its task record {short_repr(record)} is not a valid task: {exc}") from None
        origin = "recorded"
    if task.d != ds.d:
        raise ValueError(f"{where}: the set's points have d={ds.d} but the {origin} task has d={task.d}")
    return task, origin


def _recorded_theta0(ds: DistilledSet, where: str) -> Optional[tuple[int, int]]:
    """(width, seed) of the recorded theta0, None when the set records none (or no seed)."""
    record = ds.metadata.get("theta0")
    if record is None:
        return None
    if not isinstance(record, dict) or not {"d", "width", "seed"} <= set(record):
        raise ArtifactError(f"{where}: its theta0 record must be a dict with d, width and seed, got "
                            f"{short_repr(record)}")
    if record["d"] != ds.d:
        raise ArtifactError(f"{where}: its recorded theta0 has d={short_repr(record['d'])} but its points have "
                            f"d={ds.d}")
    if record["seed"] is None:
        return None
    return check_int("theta0 width", record["width"], min_value=2, even=True), check_seed("theta0 seed", record["seed"])


def _fresh_seeds(k: int, base: int, recorded: Optional[int]) -> tuple[int, ...]:
    seeds, s = [], base
    while len(seeds) < k:
        if s > MAX_SEED:
            raise ValueError(f"seed_base={base} leaves fewer than k={k} seeds below 2^63")
        if s != recorded:
            seeds.append(s)
        s += 1
    return tuple(seeds)


def plan_evaluation(distilled: Union[DistilledSet, str, os.PathLike], *, task: Optional[MultiIndexTask] = None,
                    k: int = 5, widths: Optional[Sequence[int]] = None, ridges: Optional[Sequence[float]] = None,
                    seed_base: int = DEFAULT_SEED_BASE, n_test: int = 10_000, test_seed: int = DEFAULT_TEST_SEED,
                    learner: Optional[TwoStageLearner] = None, level: float = DEFAULT_LEVEL) -> EvaluationPlan:
    """Read and check everything an evaluation needs (arguments as in ``evaluate``)."""
    ds, source = _load(distilled)
    where = source or "the set"
    task, origin = _task(ds, source, task)
    try:
        recorded = _recorded_theta0(ds, where)
        learner = TwoStageLearner.from_params(ds.metadata.get("learner")) if learner is None else learner
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{where}: {exc}") from None
    learner = check_learner(learner)
    if widths is None:
        if recorded is None:
            raise ValueError(f"{where} records no theta0 width: pass widths (--widths on the command line)")
        widths = (recorded[0],)
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not 1 <= len(widths) <= MAX_WIDTHS:
        raise ValueError(f"widths must be a sequence of 1 to {MAX_WIDTHS} even widths, got {short_repr(widths)}")
    widths = tuple(check_int(f"widths[{i}]", w, min_value=2, even=True) for i, w in enumerate(widths))
    ridges = (learner.ridge,) if ridges is None else check_ridge_grid(ridges)
    k = check_int("k", k, min_value=1, max_value=MAX_SEEDS)
    seeds = _fresh_seeds(k, check_seed("seed_base", seed_base), None if recorded is None else recorded[1])
    return EvaluationPlan(ds, source, task, origin, learner, widths, ridges, seeds, recorded,
                          check_int("n_test", n_test, min_value=2), check_seed("test_seed", test_seed),
                          check_float("level", level, min_value=0.5, max_value=0.9999))


def run_evaluation(plan: EvaluationPlan) -> Evaluation:
    """Train and test every (width, ridge, theta0) of the plan."""
    if not isinstance(plan, EvaluationPlan):
        raise TypeError(f"plan must be an EvaluationPlan (from plan_evaluation), got {type(plan).__name__}")
    ds = plan.distilled
    dtype = ds.stage1.X.dtype
    rows = []
    for width in plan.widths:
        for ridge in plan.ridges:
            learner = replace(plan.learner, ridge=ridge)

            def score(seed: int) -> float:
                net = TwoLayerNet.init(ds.d, width, seed=seed, dtype=dtype)
                return test_mse(learner.fit(net, ds.stage1, ds.stage2), plan.task, plan.n_test, seed=plan.test_seed)

            if plan.recorded is not None and plan.recorded[0] == width:
                value = score(plan.recorded[1])
                rows.append(EvaluationRow(width, ridge, "recorded", (plan.recorded[1],), (value,),
                                          mean_interval([value], plan.level)))
            values = tuple(score(s) for s in plan.seeds)
            rows.append(EvaluationRow(width, ridge, "fresh", plan.seeds, values, mean_interval(values, plan.level)))
    return Evaluation(plan, tuple(rows))


def evaluate(distilled: Union[DistilledSet, str, os.PathLike], *, task: Optional[MultiIndexTask] = None,
             k: int = 5, widths: Optional[Sequence[int]] = None, ridges: Optional[Sequence[float]] = None,
             seed_base: int = DEFAULT_SEED_BASE, n_test: int = 10_000, test_seed: int = DEFAULT_TEST_SEED,
             learner: Optional[TwoStageLearner] = None, level: float = DEFAULT_LEVEL) -> Evaluation:
    """Re-score a distilled set (or a saved one) across fresh theta0 seeds, widths and ridges.

    Args:
        distilled: a ``DistilledSet`` or the path of one saved with ``DistilledSet.save``.
        task: the task to test on; default: the one the set records (required when it records none).
        k: fresh theta0 seeds per (width, ridge).
        widths: the network widths (default: the recorded theta0's).
        ridges: the lambda2 values (default: the recorded learner's).
        seed_base: the first fresh theta0 seed (the recorded seed is skipped).
        n_test, test_seed: size and seed of the test sample (one sample for every row).
        learner: the learner (default: the one the set records; its ridge is replaced by each of ``ridges``).
        level: the intervals' confidence level.

    Returns:
        An ``Evaluation``: one row per (width, ridge) for the fresh seeds, plus the recorded theta0's
        row where it applies.
    """
    return run_evaluation(plan_evaluation(distilled, task=task, k=k, widths=widths, ridges=ridges,
                                          seed_base=seed_base, n_test=n_test, test_seed=test_seed, learner=learner,
                                          level=level))
