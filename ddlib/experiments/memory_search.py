"""The minimal certified distilled set of one task size and repetition: the point function of
notebook 03's grids (``memory_point``) and the stage-1 curve behind it.

Every committed data point of the memory law is this module's ``memory_point``: the data are
current when today's code recomputes their sentinel points bit for bit
(``ddlib.experiments.memory_law.check_sentinels``), so an edit anywhere that changes what a point
computes marks them stale, and a move that changes no number does not.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from ..data import Data
from ..distillers import FAILED_MATCHING_LOSS, InitialDraw, match_gradients, match_performance
from ..learners import TwoStageLearner, ridge_from_statistics, stage1_gradient, stage2_statistics
from ..metrics import test_mse
from ..search import minimal_size
from ..theory import memory_report
from ..validation import check_choice, check_float, check_int
from .repetitions import repetition

__all__ = ["SELECTIONS", "parse_targets", "show", "certified_search", "memory_point", "stage1_curve_point"]


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


class _Probes:
    """The error of every distilled set one repetition's search asks for, each computed once.

    Every size draws its initial points from one ``InitialDraw`` (the first m points of the same
    K permutations), exactly as ``distill`` at that size with the repetition's distillation seed,
    and every probe is scored on the same sample; so sizes compare like with like, and a pair
    (m1, m2) scores what ``distill(..., m1, m2)`` would.

    ``selection="separate"``: the search's choices are scored on a *selection sample* of its own
    (``SELECTION_OFFSET``), and only the certified pair and the full-data learner are scored on the
    test sample the results report -- no choice reads the reported sample.  ``"test"``: every probe
    on the test sample, as the committed memory-law grid was made (its sentinel points recompute it).
    """

    def __init__(self, p, *, steps1: int, steps2: int, lr: float, restarts: int, n_test: int, prefix: int,
                 selection: str = "separate") -> None:
        self.p, self.steps1, self.steps2, self.lr, self.n_test = p, steps1, steps2, lr, n_test
        self.select_seed = p.seeds["test"] + (SELECTION_OFFSET if selection == "separate" else 0)
        self.learner = TwoStageLearner()
        self.data = Data(p.X, p.y)
        self.draw = InitialDraw.draw(p.X.shape[0], restarts, p.seeds["distill"], prefix=prefix)
        self.G_D = stage1_gradient(p.net.W, p.net.a, p.net.b, p.X, p.y, self.learner.chunk_size)
        full = self.learner.fit(p.net, self.data)
        self.full_mse = self.test_mse(full)  # reported
        self.full_mse_selection = self.full_mse if selection == "test" else self.mse(full)  # sets relative targets
        self._s1: dict[int, tuple[Data, float, Any, Any]] = {}
        self._pairs: dict[tuple[int, int], Any] = {}
        self.stage1_mse: dict[int, float] = {}  # S1 of size m1, then the ridge on all the real data
        self.pair_mse: dict[tuple[int, int], float] = {}  # S1 of size m1, S2 of size m2

    def mse(self, trained) -> float:
        """The error the search's choices read: on the selection sample."""
        return test_mse(trained, self.p.task, self.n_test, seed=self.select_seed)

    def test_mse(self, trained) -> float:
        """The error the results report: on the test sample."""
        return test_mse(trained, self.p.task, self.n_test, seed=self.p.seeds["test"])

    def reported(self, m1: int, m2: int) -> float:
        """The test-sample error of a pair the search has chosen."""
        self.distilled(m1, m2)
        return self.pair_mse[(m1, m2)] if self.select_seed == self.p.seeds["test"] else self.test_mse(self._pairs[(m1, m2)])

    def stage1(self, m1: int) -> tuple[Data, float, Any, Any]:
        """S1 of size m1, its matching loss, the W1 it trains and the real data's statistics for W1."""
        if m1 not in self._s1:
            res = match_gradients(self.p.net, self.G_D, self.draw.stage1(self.data, m1), steps=self.steps1, lr=self.lr)
            W1 = self.learner.stage1(self.p.net, *res.best())
            stats = stage2_statistics(W1, self.p.net.stage2_bias, *self.data, self.learner.chunk_size)
            self._s1[m1] = (res.best(), res.best_loss, W1, stats)
        return self._s1[m1]

    def with_real_stage2(self, m1: int) -> float:
        if m1 not in self.stage1_mse:
            S1, _, W1, stats = self.stage1(m1)
            a = ridge_from_statistics(stats, self.learner.ridge)
            net = self.p.net
            self.stage1_mse[m1] = self.mse(net.replace(W=W1, a=a, b=net.stage2_bias.clone()))
        return self.stage1_mse[m1]

    def distilled(self, m1: int, m2: int) -> float:
        if (m1, m2) not in self.pair_mse:
            S1, _, W1, stats = self.stage1(m1)
            S2 = match_performance(self.p.net, W1, stats, self.draw.stage2(self.data, m2), steps=self.steps2,
                                   lr=self.lr, ridge=self.learner.ridge).best()
            self._pairs[(m1, m2)] = trained = self.learner.fit(self.p.net, S1, S2)
            self.pair_mse[(m1, m2)] = self.mse(trained)
        return self.pair_mse[(m1, m2)]


def certified_search(probes: _Probes, target: float, *, m1_max: int, m2_max: int,
                     m1_factors: tuple[int, ...] = (1, 2, 4)) -> dict[str, Any]:
    """The smallest certified distilled set for ``target``: the pair (m1, m2) whose own test MSE
    reaches it, with the fewest points m1 + m2 among the stage-1 sizes tried.

    m1* is the smallest m1 whose S1, with the ridge fitted on all the real data, reaches the target
    (stage 2 out of the question): no fully distilled set with fewer stage-1 points can.  For m1 in
    (1, 2, 4) x m1* the smallest m2 that reaches the target with that S1 is searched; at m1* itself
    stage 1 has spent most of the error budget, so a larger S1 often needs far fewer S2 points.
    A larger m1 is not tried once m1 alone is no smaller than the best total found.  Every m1
    tried is also scored with the ridge on all the real data (one more evaluation on an S1
    already matched): the stage-1 plateau beyond m1* that the page reads the targets against.
    Every choice reads the probes' selection error; the certified pair's reported ``mse`` is its
    error on the test sample (``_Probes``).
    """
    s1 = minimal_size(lambda m: probes.with_real_stage2(m) <= target, max_size=m1_max)
    best: Optional[tuple[int, int]] = None
    if s1.size is not None:
        for m1 in sorted({min(f * s1.size, m1_max) for f in m1_factors}):
            if best is not None and m1 >= sum(best):
                break
            probes.with_real_stage2(m1)  # the stage-1-only error at this m1 too (the plateau beyond m1*)
            s2 = minimal_size(lambda m, m1=m1: probes.distilled(m1, m) <= target, max_size=m2_max)
            if s2.size is not None and (best is None or m1 + s2.size < sum(best)):
                best = (m1, s2.size)
    return {"m1_star": s1.size, "cert_m1": best[0] if best else None, "cert_m2": best[1] if best else None,
            "points": sum(best) if best else None,
            "mse": probes.reported(*best) if best else None,
            "stage1_failed": bool(s1.size is not None and probes.stage1(best[0] if best else s1.size)[1]
                                  > FAILED_MATCHING_LOSS)}


def memory_point(*, r: int, d: int, width: int, seed: int, link: str = "he2", n_per_d2: int = 4,
                 steps1: int = 300, steps2: int = 200, lr: float = 0.05, restarts: int = 3,
                 n_test: int = 10_000, targets: str = "rel:4,abs:0.1", m1_max: int = 128,
                 m2_max: int = 512, selection: str = "separate") -> dict[str, Any]:
    """The smallest certified distilled sets of one repetition, for ``ddlib.sweep.run_sweep``.

    The problem (task, theta0, n_train = n_per_d2 * d^2 real points) comes from ``seed`` like any
    repetition.  For every target of ``targets`` (``parse_targets``), ``certified_search`` finds
    the pair (m1, m2) with the fewest points whose own distilled learner reaches it.  All targets
    share the probes (a size's error does not depend on the target).  ``selection``: "separate"
    (the search chooses on a selection sample, a relative target is set from the full-data error
    on it, and the test sample is only reported), or "test" (everything on the test sample: how the
    committed grid was made).

    Returns:
        A flat dict of n_train, full_mse; per target label T, target_T (the MSE to reach), m1_star_T,
        cert_m1_T, cert_m2_T, points_T (m1 + m2), floats_T ((m1 + m2)(d + 1)), mse_T (the
        certified pair's test MSE) and stage1_failed_T (None where no pair reached the target up
        to m1_max / m2_max); the memory references r^2 d + L, the network L(d + 2) and the data
        n(d + 1); the probe traces (JSON {m1: mse} and {"m1,m2": mse}); the derived seeds.
    """
    r = check_int("r", r, min_value=1)
    d = check_int("d", d, min_value=r)
    width = check_int("width", width, min_value=2, even=True)
    n_train = check_int("n_per_d2", n_per_d2, min_value=1) * d * d
    m1_max = check_int("m1_max", m1_max, min_value=1, max_value=n_train)
    m2_max = check_int("m2_max", m2_max, min_value=1, max_value=n_train)
    check_choice("selection", selection, SELECTIONS)
    parsed = parse_targets(targets)
    p = repetition(0, seed, d=d, r=r, width=width, n_train=n_train, link=link).problem
    probes = _Probes(p, steps1=steps1, steps2=steps2, lr=lr, restarts=restarts, n_test=n_test,
                     prefix=max(m1_max, m2_max), selection=selection)
    ref = memory_report(m1=0, m2=0, d=d, r=r, width=width, n=n_train)
    out: dict[str, Any] = {"n_train": n_train, "full_mse": probes.full_mse}
    if selection == "separate":  # the error the relative targets and the traces below are on
        out["full_mse_selection"] = probes.full_mse_selection
    for label, kind, value in parsed:
        target = value * probes.full_mse_selection if kind == "rel" else value
        found = certified_search(probes, target, m1_max=m1_max, m2_max=m2_max)
        floats = None if found["points"] is None else found["points"] * (d + 1)
        out.update({f"target_{label}": target, f"m1_star_{label}": found["m1_star"],
                    f"cert_m1_{label}": found["cert_m1"], f"cert_m2_{label}": found["cert_m2"],
                    f"points_{label}": found["points"], f"floats_{label}": floats, f"mse_{label}": found["mse"],
                    f"stage1_failed_{label}": found["stage1_failed"] if found["points"] else None})
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
    probes = _Probes(p, steps1=steps1, steps2=0, lr=lr, restarts=restarts, n_test=n_test, prefix=m1, selection="test")
    return {"n_train": n_train, "full_mse": probes.full_mse, "mse": probes.with_real_stage2(m1),
            "matching_loss": probes.stage1(m1)[1], "seed_distill": p.seeds["distill"], "seed_test": p.seeds["test"]}


# ----------------------------------------------------------------------------------------------
# The grid: one line per factor through the base point, each line a ddlib.sweep run
# ----------------------------------------------------------------------------------------------
