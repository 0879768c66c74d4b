"""The minimal certified distilled set of one task size and repetition: the point function of
notebook 03's grids (``memory_point``) and the stage-1 curve behind it.

The sets are made by one pair of registered methods (``ddlib.methods``: stage 1 "gm-cos" and stage 2
"kip" by default, any other pair by name), composed as ``compose`` composes them, so the search
certifies whatever ``distill`` or ``compose`` would return at the sizes it reports.

Every committed data point of the memory law is this module's ``memory_point``: the data are
current when today's code recomputes their sentinel points bit for bit
(``ddlib.experiments.memory_law.check_sentinels``), so an edit anywhere that changes what a point
computes marks them stale, and a move that changes no number does not.
"""
from __future__ import annotations

import json
from typing import Any, Optional

import torch

from ..distillers import FAILED_MATCHING_LOSS
from ..learners import TwoStageLearner, normalize_rows, ridge_from_statistics
from ..methods import REUSE_STAGE1, STAGE1, STAGE2, Config, Points, RealData, compose_parts, stage1_points
from ..networks import TwoLayerNet
from ..search import minimal_size
from ..tasks import MultiIndexTask
from ..theory import memory_report
from ..validation import check_choice, check_float, check_int, require_finite
from .repetitions import repetition

__all__ = ["SELECTIONS", "SEARCHES", "CENSORED", "parse_targets", "show", "certified_search", "memory_point",
           "stage1_curve_point"]


def parse_targets(spec: str) -> list[tuple[str, str, float]]:
    """Targets of the search from a spec like ``"rel:4,abs:0.1"``: (label, kind, value) each.

    ``rel:c`` is c times the full-data learner's test MSE (c >= 1); ``abs:e`` is a normalised
    test MSE e in (0, 1).  Labels (``rel4``, ``abs0.1``) name the result columns.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"targets must be a non-empty string like 'rel:4,abs:0.1', got {spec!r}")
    out = []
    for part in spec.split(","):
        kind, _, value = part.strip().partition(":")
        if kind not in ("rel", "abs"):
            raise ValueError(f"a target is 'rel:FACTOR' or 'abs:MSE', got {part.strip()!r}")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"target {part.strip()!r}: {value!r} is not a number") from None
        if kind == "rel":
            check_float("relative target", v, min_value=1.0)
        else:
            check_float("absolute target", v, strictly_positive=True, max_value=1.0)
        out.append((f"{kind}{v:g}", kind, v))
    if len({label for label, _, _ in out}) != len(out):
        raise ValueError(f"targets must be distinct, got {spec!r}")
    return out


def show(label: str) -> str:
    """A target label as the spec writes it: ``abs0.1`` -> ``abs:0.1``."""
    return label[:3] + ":" + label[3:]


SELECTIONS = ("separate", "test")  # where the search's choices are scored (see _Probes)
SELECTION_OFFSET = 5_000  # the selection sample's seed: the test seed plus this (no other derived seed)
SEARCHES = ("lean", "exhaustive")  # the probe schedules of certified_search
CENSORED = ("m1_max", "m2_max", "fixed_m1")  # why a search found no certified set (memory_point's censored_T)
_FEATURE_CACHE = 2  # first layers whose sample features are kept (82 MB each at n_test 10,000, L 1,024)


class _Sample:
    """One sample of the task (the test or the selection sample), drawn once, and the hidden
    features of the last first layers scored on it: ``mse(net)`` is ``ddlib.metrics.test_mse(net,
    task, n, seed=seed)`` bit for bit (the same sample and the same operations), without drawing the
    sample again or recomputing the features of a W1 whose probes follow one another (the m2 of one
    m1)."""

    def __init__(self, task: MultiIndexTask, n: int, seed: int, net: TwoLayerNet) -> None:
        self.seed = seed
        self.X, self.y = task.sample(n, seed, dtype=net.dtype, device=net.device)
        self.var = self.y.var()
        self._features: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def features(self, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """relu(X W^T + b) on this sample, as ``TwoLayerNet.features`` computes it (cached by W)."""
        key = (W.data_ptr(), tuple(W.shape), tuple(W.stride()), W.dtype)
        hit = self._features.get(key)
        if hit is None or not torch.equal(hit[1], b):
            with torch.no_grad():  # not checked here: a feature that is not finite makes the output so (mse)
                H = (self.X @ W.T + b).relu_()  # relu in place on the fresh sum: the same values
            if len(self._features) >= _FEATURE_CACHE:
                del self._features[next(iter(self._features))]
            self._features[key] = hit = (W, b, H)  # W held: its storage, hence the key, stays its own
        return hit[2]

    def mse(self, net: TwoLayerNet) -> float:
        """The test MSE of ``net`` on this sample over the sample's Var y (``ddlib.metrics.test_mse``)."""
        with torch.no_grad():
            out = self.features(net.W, net.b) @ net.a
            require_finite("a probe's predictions on the test sample are not finite", out)
            err = ((out - self.y) ** 2).mean()
        mse = float(err / self.var)
        require_finite(f"test_mse is not finite ({mse})", mse)
        return mse


class _Probes:
    """The error of every distilled set one repetition's search asks for, each computed once.

    Every set is composed by ``ddlib.methods`` from one ``RealData`` (theta0 and the real data, with
    G_D, the initial draw and the ridge statistics of each W1 computed once): stage 1 by the
    registered method ``stage1`` (its points and W1 by ``stage1_points``, made once per size and
    shared by every m2), the pair by ``compose_parts`` with ``stage2``, both with the repetition's
    distillation seed and ``Config(steps1, steps2, lr, restarts, r)``.  So every size draws its
    initial points as ``distill`` at that size does (the first m points of the same K
    permutations), every probe is scored on the same sample, and a pair (m1, m2) scores what
    ``compose(real, stage1, stage2, m1, m2)`` -- for the default pair ``distill(..., m1, m2)`` --
    returns.  A stage-1 method of fixed size (the spectral set's 2r points) is probed at its own size
    (``fixed_size``).

    ``selection="separate"``: the search's choices are scored on a *selection sample* of its own
    (``SELECTION_OFFSET``), and only the certified pair and the full-data learner are scored on the
    test sample the results report -- no choice reads the reported sample.  ``"test"``: every probe
    on the test sample, as the committed memory-law grid was made (its sentinel points recompute it).
    Each sample is drawn once and the features of a W1 on it are reused by the probes that follow
    (``_Sample``), bit for bit the errors ``ddlib.metrics.test_mse`` gives.

    ``prefix`` is accepted for older callers and unused: the draw is ``RealData``'s, of which every
    size takes a prefix.
    """

    def __init__(self, p, *, steps1: int, steps2: int, lr: float, restarts: int, n_test: int,
                 prefix: Optional[int] = None, selection: str = "separate", stage1: str = "gm-cos",
                 stage2: str = "kip") -> None:
        check_choice("selection", selection, SELECTIONS)
        self.method1, self.method2 = STAGE1.lookup(stage1), STAGE2.lookup(stage2)
        if stage2 == REUSE_STAGE1:
            raise ValueError(f"the memory search certifies pairs (S1, S2) of sizes (m1, m2); stage 2 "
                             f"{REUSE_STAGE1!r} (one set for both stages) has one size: search it as "
                             f"stage1={stage1!r} with stage2='random' or 'select' instead")
        self.p, self.n_test = p, n_test
        self.learner = TwoStageLearner()
        self.config = Config(learner=self.learner, steps1=steps1, steps2=steps2, lr=lr, restarts=restarts,
                             r=p.task.r)
        self.seed = p.seeds["distill"]
        self.real = RealData(p.net, p.X, p.y)
        self.select_seed = p.seeds["test"] + (SELECTION_OFFSET if selection == "separate" else 0)
        self._test = _Sample(p.task, n_test, p.seeds["test"], self.real.net)
        self._selection = self._test if selection == "test" else _Sample(p.task, n_test, self.select_seed,
                                                                         self.real.net)
        full = self._full_fit()
        self.full_mse = self.test_mse(full)  # reported
        self.full_mse_selection = self.full_mse if selection == "test" else self.mse(full)  # sets relative targets
        self._pairs: dict[tuple[int, int], TwoLayerNet] = {}
        self.stage1_mse: dict[int, float] = {}  # S1 of size m1, then the ridge on all the real data
        self.pair_mse: dict[tuple[int, int], float] = {}  # S1 of size m1, S2 of size m2
        # where the lean search starts looking (certified_search): m1 at r + 1 (the span bound's r,
        # plus one), m2 at m1 + 1, then each search at the last answer found for it
        self.hint1: int = p.task.r + 1
        self.hint2: dict[int, int] = {}

    @property
    def n(self) -> int:
        return self.real.n

    def mse(self, trained: TwoLayerNet) -> float:
        """The error the search's choices read: on the selection sample."""
        return self._selection.mse(trained)

    def test_mse(self, trained: TwoLayerNet) -> float:
        """The error the results report: on the test sample."""
        return self._test.mse(trained)

    def reported(self, m1: int, m2: int) -> float:
        """The test-sample error of a pair the search has chosen."""
        self.distilled(m1, m2)
        return self.pair_mse[(m1, m2)] if self._selection is self._test else self.test_mse(self._pairs[(m1, m2)])

    def fixed_size(self, m1_max: int) -> Optional[int]:
        """The size of S1 for a stage-1 method of fixed size (``Method.fixed_size``: it makes its own
        number of points, at most the m1 asked, here m1_max); None for a method that makes m1."""
        if not self.method1.fixed_size:
            return None
        pts, _ = stage1_points(self.real, self.method1.name, m1_max, self.config, self.seed)
        return pts.data.X.shape[0]

    def stage1(self, m1: int) -> tuple[Points, torch.Tensor]:
        """S1 of size m1 (its ``Points``: the points and matching loss) and the W1 it trains."""
        return stage1_points(self.real, self.method1.name, m1, self.config, self.seed)

    def stage1_loss(self, m1: int) -> float:
        return self.stage1(m1)[0].loss

    def _full_fit(self) -> TwoLayerNet:
        """The learner trained on all the real data, ``TwoStageLearner.fit`` bit for bit; with one
        stage-1 step its W1 is that step from the G_D stage 1 computes anyway (one pass over the
        data fewer)."""
        net, learner = self.real.net, self.learner
        if learner.stage1_steps == 1:
            G_D = self.real.gradient(learner.chunk_size)
            W1 = normalize_rows((1.0 - learner.stage1_lr * learner.weight_decay) * net.W - learner.stage1_lr * G_D)
            require_finite("the full-data learner's W1 is not finite", W1)
        else:
            W1 = learner.stage1(net, *self.real.data)
        return self._trained(W1, learner.stage2(net, W1, *self.real.data))

    def _trained(self, W1: torch.Tensor, a: torch.Tensor) -> TwoLayerNet:
        net = self.real.net
        return net.replace(W=W1, a=a, b=net.stage2_bias.clone())

    def with_real_stage2(self, m1: int) -> float:
        """The error of S1 of size m1 with the ridge on all the real data (stage 2 out of the question)."""
        if m1 not in self.stage1_mse:
            _, W1 = self.stage1(m1)
            a = ridge_from_statistics(self.real.statistics(W1, self.learner), self.learner.ridge)
            self.stage1_mse[m1] = self.mse(self._trained(W1, a))
        return self.stage1_mse[m1]

    def distilled(self, m1: int, m2: int) -> float:
        """The error of the composed pair (m1, m2): the learner trained on (S1, S2)."""
        if (m1, m2) not in self.pair_mse:
            made = compose_parts(self.real, self.method1.name, self.method2.name, m1, m2, self.config,
                                 seed=self.seed)
            S2 = made.distilled.stage2
            self._pairs[(m1, m2)] = trained = self._trained(made.W1, self.learner.stage2(self.real.net, made.W1,
                                                                                         *S2))
            self.pair_mse[(m1, m2)] = self.mse(trained)
        return self.pair_mse[(m1, m2)]


def certified_search(probes: _Probes, target: float, *, m1_max: int, m2_max: int,
                     m1_factors: tuple[int, ...] = (1, 2, 4), search: str = "lean") -> dict[str, Any]:
    """The smallest certified distilled set for ``target``: the pair (m1, m2) whose own error
    reaches it, with the fewest points m1 + m2 among the stage-1 sizes tried.

    m1* is the smallest m1 whose S1, with the ridge on all the real data, reaches the target
    (stage 2 out of the question): no fully distilled set with fewer stage-1 points can.  For m1 in
    (1, 2, 4) x m1* the smallest m2 that reaches the target with that S1 is searched; at m1* itself
    stage 1 has spent most of the error budget, so a larger S1 often needs far fewer S2 points.
    A larger m1 is not tried once it cannot beat the best total found.  Every m1 tried is also
    scored with the ridge on all the real data (one more evaluation on an S1 already matched): the
    stage-1 plateau beyond m1* that the page reads the targets against.  Every choice reads the
    probes' selection error; the certified pair's reported ``mse`` is its error on the test sample.

    A stage-1 method of fixed size k (the spectral set) has one S1: m1* is k when that S1 with the
    ridge on all the real data reaches the target, and only m1 = k is tried (a larger m1 would give
    its spare points to stage 2: the pair (k, m2 + spare)).

    ``search`` picks the probe schedule; for a monotone error both certify the same pair:

    - "exhaustive": the search of the committed grid: every size search doubles from 1, then
      bisects, and every m2 search runs up to m2_max; an m1 is tried unless it alone is no smaller
      than the best total found.
    - "lean": each size search starts at a guess (``minimal_size(guess=...)``: m1 at r + 1 -- the
      span bound r, plus one -- then at the last m1* found; m2 at the last m2 found for that m1,
      else at m1 + 1, the median of m2 - m1* over the committed grid's certified sets) and
      certifies its answer by the size below it; the m2 search at a later m1 runs
      only up to the sizes that could beat the best total, and an m1 that cannot (m1 + 1 >= best)
      is not tried.  Fewer probes: about 2 per size search when the guess is right.

    Returns {"m1_star", "cert_m1", "cert_m2", "points", "mse", "stage1_failed", "censored"}:
    ``censored`` None when a set was found, else why not: "m1_max" (stage 1 alone does not reach
    the target up to m1_max), "fixed_m1" (a fixed-size stage 1 does not reach it alone), "m2_max"
    (no m2 up to m2_max reaches it with any m1 tried).
    """
    check_choice("search", search, SEARCHES)
    lean = search == "lean"
    fixed = probes.fixed_size(m1_max)
    if fixed is not None:
        m1_star = fixed if probes.with_real_stage2(fixed) <= target else None
        tried = [fixed] if m1_star is not None else []
    else:
        m1_star = minimal_size(lambda m: probes.with_real_stage2(m) <= target, max_size=m1_max,
                               guess=probes.hint1 if lean else None).size
        tried = sorted({min(f * m1_star, m1_max) for f in m1_factors}) if m1_star is not None else []
        if lean and m1_star is not None:
            probes.hint1 = m1_star
    best: Optional[tuple[int, int]] = None
    for m1 in tried:
        if best is not None and (m1 + 1 >= sum(best) if lean else m1 >= sum(best)):
            break
        cap = min(m2_max, probes.n - m1)  # compose refuses m1 + m2 > n
        if lean and best is not None:
            cap = min(cap, sum(best) - m1 - 1)
        if cap < 1:
            continue
        probes.with_real_stage2(m1)  # the stage-1-only error at this m1 too (the plateau beyond m1*)
        guess = min(probes.hint2.get(m1, m1 + 1), cap) if lean else None
        s2 = minimal_size(lambda m, m1=m1: probes.distilled(m1, m) <= target, max_size=cap, guess=guess)
        if s2.size is not None:
            if lean:
                probes.hint2[m1] = s2.size
            if best is None or m1 + s2.size < sum(best):
                best = (m1, s2.size)
    censored = (None if best is not None else "m2_max" if m1_star is not None
                else "fixed_m1" if fixed is not None else "m1_max")
    return {"m1_star": m1_star, "cert_m1": best[0] if best else None, "cert_m2": best[1] if best else None,
            "points": sum(best) if best else None,
            "mse": probes.reported(*best) if best else None,
            "stage1_failed": bool(m1_star is not None and probes.stage1_loss(best[0] if best else m1_star)
                                  > FAILED_MATCHING_LOSS),
            "censored": censored}


def memory_point(*, r: int, d: int, width: int, seed: int, link: str = "he2", n_per_d2: int = 4,
                 steps1: int = 300, steps2: int = 200, lr: float = 0.05, restarts: int = 3,
                 n_test: int = 10_000, targets: str = "rel:4,abs:0.1", m1_max: int = 128,
                 m2_max: int = 512, selection: str = "separate", stage1: str = "gm-cos", stage2: str = "kip",
                 search: str = "lean") -> dict[str, Any]:
    """The smallest certified distilled sets of one repetition, for ``ddlib.sweep.run_sweep``.

    The problem (task, theta0, n_train = n_per_d2 * d^2 real points) comes from ``seed`` like any
    repetition.  For every target of ``targets`` (``parse_targets``), ``certified_search`` finds
    the pair (m1, m2) with the fewest points whose own distilled learner reaches it, the sets made
    by the registered methods ``stage1`` and ``stage2`` (``ddlib.methods``: "gm-cos" + "kip" is
    ``distill``; "spectral" + "kip" the theorist's set with a KIP stage 2; "select" + "select" or
    "random" + "random" real points).  All targets share the probes (a size's error does not depend
    on the target).  ``selection``: "separate" (the search chooses on a selection sample, a relative
    target is set from the full-data error on it, and the test sample is only reported), or "test"
    (everything on the test sample: how the committed grid was made).  ``search``: the probe
    schedule (``certified_search``): "lean", or "exhaustive", the committed grid's, whose record has
    its columns exactly (no ``censored_T``).

    Returns:
        A flat dict of n_train, full_mse; per target label T, target_T (the MSE to reach), m1_star_T,
        cert_m1_T, cert_m2_T, points_T (m1 + m2), floats_T ((m1 + m2)(d + 1)), mse_T (the
        certified pair's test MSE), stage1_failed_T (None where no pair reached the target up
        to m1_max / m2_max) and, with the lean search, censored_T (None, or which cap stopped the
        search: ``CENSORED``); the memory references r^2 d + L, the network L(d + 2) and the data
        n(d + 1); the probe traces (JSON {m1: mse} and {"m1,m2": mse}); the derived seeds.
    """
    r = check_int("r", r, min_value=1)
    d = check_int("d", d, min_value=r)
    width = check_int("width", width, min_value=2, even=True)
    n_train = check_int("n_per_d2", n_per_d2, min_value=1) * d * d
    m1_max = check_int("m1_max", m1_max, min_value=1, max_value=n_train)
    m2_max = check_int("m2_max", m2_max, min_value=1, max_value=n_train)
    check_choice("selection", selection, SELECTIONS)
    check_choice("search", search, SEARCHES)
    STAGE1.lookup(stage1), STAGE2.lookup(stage2)  # an unknown method fails here, before any work
    parsed = parse_targets(targets)
    p = repetition(0, seed, d=d, r=r, width=width, n_train=n_train, link=link).problem
    probes = _Probes(p, steps1=steps1, steps2=steps2, lr=lr, restarts=restarts, n_test=n_test,
                     selection=selection, stage1=stage1, stage2=stage2)
    ref = memory_report(m1=0, m2=0, d=d, r=r, width=width, n=n_train)
    out: dict[str, Any] = {"n_train": n_train, "full_mse": probes.full_mse}
    if selection == "separate":  # the error the relative targets and the traces below are on
        out["full_mse_selection"] = probes.full_mse_selection
    for label, kind, value in parsed:
        target = value * probes.full_mse_selection if kind == "rel" else value
        found = certified_search(probes, target, m1_max=m1_max, m2_max=m2_max, search=search)
        floats = None if found["points"] is None else found["points"] * (d + 1)
        out.update({f"target_{label}": target, f"m1_star_{label}": found["m1_star"],
                    f"cert_m1_{label}": found["cert_m1"], f"cert_m2_{label}": found["cert_m2"],
                    f"points_{label}": found["points"], f"floats_{label}": floats, f"mse_{label}": found["mse"],
                    f"stage1_failed_{label}": found["stage1_failed"] if found["points"] else None})
        if search == "lean":
            out[f"censored_{label}"] = found["censored"]
    out.update({"r2d_plus_L": ref["r2d_plus_L"], "network_floats": ref["network"], "data_floats": ref["data"],
                "stage1_trace": json.dumps(probes.stage1_mse),
                "pair_trace": json.dumps({f"{a},{b}": v for (a, b), v in probes.pair_mse.items()}),
                **{f"seed_{k}": v for k, v in p.seeds.items()}})
    return out


def stage1_curve_point(*, r: int, d: int, width: int, m1: int, seed: int, link: str = "he2",
                       n_per_d2: int = 4, steps1: int = 300, lr: float = 0.05, restarts: int = 3,
                       n_test: int = 10_000) -> dict[str, Any]:
    """Test MSE of stage 1 on m1 gradient-matched points + the ridge on all the real data.

    The curve in m1 behind m1*: it shows where a target sits on it (the problem, the stage-1
    sets and the test sample are those of ``memory_point`` with the same arguments).

    Returns:
        {"n_train", "full_mse", "mse" (at m1), "matching_loss", "seed_distill", "seed_test"}.
    """
    r = check_int("r", r, min_value=1)
    d = check_int("d", d, min_value=r)
    n_train = check_int("n_per_d2", n_per_d2, min_value=1) * d * d
    m1 = check_int("m1", m1, min_value=1, max_value=n_train)
    p = repetition(0, seed, d=d, r=r, width=width, n_train=n_train, link=link).problem
    # a curve to report, not a choice: every point on the test sample
    probes = _Probes(p, steps1=steps1, steps2=0, lr=lr, restarts=restarts, n_test=n_test, selection="test")
    return {"n_train": n_train, "full_mse": probes.full_mse, "mse": probes.with_real_stage2(m1),
            "matching_loss": probes.stage1_loss(m1), "seed_distill": p.seeds["distill"],
            "seed_test": p.seeds["test"]}
