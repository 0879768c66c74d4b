"""ddlib.experiments.memory_search: the search composes its sets through ddlib.methods (a certified
pair is what ``compose`` returns), its cached evaluations are the plain ones bit for bit, the lean
and exhaustive schedules certify the same pair where the errors are monotone (the lean one with
fewer probes), other method pairs are certified -- a fixed-size stage 1 at its own size -- and a
search that hits a cap is reported as censored."""
from __future__ import annotations

import json

import pytest
import torch

from ddlib.experiments.memory_search import CENSORED, _Probes, _Sample, certified_search, memory_point
from ddlib.experiments.repetitions import repetition
from ddlib.learners import TwoStageLearner
from ddlib.methods import REUSE_STAGE1, Config, RealData, compose
from ddlib.metrics import test_mse as measure_test_mse

# A tiny problem of seconds (r = 1, so the spectral set has 2 points).
TINY = dict(r=1, d=8, width=32, n_per_d2=8, steps1=50, steps2=40, lr=0.05, restarts=2, n_test=1000,
            m1_max=16, m2_max=32)


def _problem(seed: int = 3):
    return repetition(0, seed, d=TINY["d"], r=TINY["r"], width=TINY["width"],
                      n_train=TINY["n_per_d2"] * TINY["d"] ** 2).problem


def _probes(seed: int = 3, **kw) -> _Probes:
    keys = ("steps1", "steps2", "lr", "restarts", "n_test")
    return _Probes(_problem(seed), **{k: TINY[k] for k in keys}, **kw)


# ---- evaluations: cached, and bit for bit the plain ones ------------------------------------------

def test_a_sample_scores_a_network_exactly_as_test_mse_does_and_reuses_its_features():
    p = _problem()
    learner = TwoStageLearner()
    nets = [learner.fit(p.net, (p.X[:k], p.y[:k]), (p.X[k:2 * k], p.y[k:2 * k])) for k in (3, 5, 40)]
    sample = _Sample(p.task, 1000, 77, p.net)
    for net in nets + nets[::-1]:  # the second pass hits the cache for the last two
        assert sample.mse(net) == measure_test_mse(net, p.task, 1000, seed=77)
    kept = sample.features(nets[0].W, nets[0].b)
    assert sample.features(nets[0].W, nets[0].b.clone()) is kept  # the same W1 and b: its features again


def test_the_full_data_learner_is_the_learners_fit_bit_for_bit():
    probes = _probes()
    ours = probes._full_fit()
    theirs = TwoStageLearner().fit(probes.real.net, probes.real.data)
    assert torch.equal(ours.W, theirs.W) and torch.equal(ours.a, theirs.a) and torch.equal(ours.b, theirs.b)


def test_a_certified_pair_is_the_set_compose_returns():
    point = memory_point(**TINY, targets="rel:2", seed=3)
    p = _problem()
    m1, m2 = point["cert_m1_rel2"], point["cert_m2_rel2"]
    config = Config(steps1=TINY["steps1"], steps2=TINY["steps2"], lr=TINY["lr"], restarts=TINY["restarts"],
                    r=TINY["r"])
    ds = compose(RealData(p.net, p.X, p.y), "gm-cos", "kip", m1, m2, config, seed=p.seeds["distill"])
    fitted = ds.fit(p.net, TwoStageLearner())
    assert measure_test_mse(fitted, p.task, TINY["n_test"], seed=p.seeds["test"]) == point["mse_rel2"]


# ---- the schedules, on a synthetic error surface ------------------------------------------------------

class _Surface:
    """Probes with errors given by a formula (monotone in m1 and m2), counting every evaluation."""

    def __init__(self, stage1, pair, *, fixed=None, n=10_000, hint1=2):
        self.stage1_f, self.pair_f, self.fixed, self.n = stage1, pair, fixed, n
        self.hint1, self.hint2 = hint1, {}
        self.stage1_mse, self.pair_mse = {}, {}

    def fixed_size(self, m1_max):
        return self.fixed

    def with_real_stage2(self, m1):
        return self.stage1_mse.setdefault(m1, self.stage1_f(m1))

    def distilled(self, m1, m2):
        return self.pair_mse.setdefault((m1, m2), self.pair_f(m1, m2))

    def reported(self, m1, m2):
        return self.distilled(m1, m2)

    def stage1_loss(self, m1):
        return 0.0


def _stage1(m1):
    return 1.0 / m1


def _pair(m1, m2):
    return 1.0 / m1 + 2.0 / m2


def _probes_made(surface: _Surface) -> int:
    return len(surface.stage1_mse) + len(surface.pair_mse)


def test_lean_and_exhaustive_certify_the_same_pair_on_monotone_errors_the_lean_with_fewer_probes():
    made = {"lean": 0, "exhaustive": 0}
    for target in (0.35, 0.5, 0.9, 1.6):
        lean, full = _Surface(_stage1, _pair), _Surface(_stage1, _pair)
        a = certified_search(lean, target, m1_max=64, m2_max=256, search="lean")
        b = certified_search(full, target, m1_max=64, m2_max=256, search="exhaustive")
        assert {k: a[k] for k in b if k != "censored"} == {k: b[k] for k in b if k != "censored"}, target
        assert a["points"] is not None and a["censored"] is None
        assert _probes_made(lean) <= _probes_made(full), target
        made["lean"] += _probes_made(lean)
        made["exhaustive"] += _probes_made(full)
        # a pair probed at a later m1 could beat the best total found at the smaller ones
        reached = [(m1, m2) for (m1, m2), e in lean.pair_mse.items() if e <= target]
        for m1, m2 in lean.pair_mse:
            before = [p + q for p, q in reached if p < m1]
            assert not before or m1 + m2 < min(before), (target, m1, m2)
    assert made["lean"] < 0.8 * made["exhaustive"], made


def test_a_right_guess_certifies_each_size_with_two_probes():
    surface = _Surface(_stage1, _pair, hint1=2)
    found = certified_search(surface, 0.9, m1_max=64, m2_max=256)  # m1* = 2, then m2 = 5 at m1 = 2
    assert found["points"] == 7 and list(surface.stage1_mse)[:2] == [2, 1]
    again = _Surface(_stage1, _pair, hint1=2)
    again.hint2 = {2: 5}
    certified_search(again, 0.9, m1_max=64, m2_max=256)
    assert [pair for pair in again.pair_mse if pair[0] == 2] == [(2, 5), (2, 4)]


def test_a_search_that_hits_a_cap_is_censored_and_says_which():
    s1 = certified_search(_Surface(_stage1, _pair), 0.01, m1_max=16, m2_max=64)  # needs m1 > 100
    assert s1["points"] is None and s1["m1_star"] is None and s1["censored"] == "m1_max"
    s2 = certified_search(_Surface(_stage1, _pair), 0.3, m1_max=16, m2_max=8)  # m1* = 4, needs m2 > 8
    assert s2["points"] is None and s2["m1_star"] == 4 and s2["censored"] == "m2_max"
    assert set(CENSORED) >= {s1["censored"], s2["censored"], "fixed_m1"}


def test_a_fixed_size_stage1_is_searched_at_its_own_size_only():
    surface = _Surface(_stage1, _pair, fixed=4)
    found = certified_search(surface, 0.9, m1_max=64, m2_max=256)
    assert (found["m1_star"], found["cert_m1"]) == (4, 4) and found["cert_m2"] == 4  # 1/4 + 2/4 <= 0.9 < 1/4 + 2/3
    assert set(surface.stage1_mse) == {4} and {m1 for m1, _ in surface.pair_mse} == {4}
    out = certified_search(_Surface(_stage1, _pair, fixed=4), 0.2, m1_max=64, m2_max=256)  # 1/4 > 0.2
    assert out["points"] is None and out["censored"] == "fixed_m1"


# ---- other method pairs, on the tiny problem ----------------------------------------------------------

def test_the_spectral_set_with_a_kip_stage2_is_certified_at_its_2r_points():
    point = memory_point(**TINY, targets="rel:3,abs:0.001", seed=3, stage1="spectral", stage2="kip")
    assert json.loads(point["stage1_trace"]).keys() == {str(2 * TINY["r"])}
    assert {k.split(",")[0] for k in json.loads(point["pair_trace"])} == {str(2 * TINY["r"])}
    assert point["m1_star_rel3"] == point["cert_m1_rel3"] == 2 * TINY["r"] and point["censored_rel3"] is None
    assert point["points_abs0.001"] is None and point["censored_abs0.001"] == "fixed_m1"


@pytest.mark.parametrize("pair", [("select", "select"), ("random", "random")])
def test_real_point_pairs_are_searched_and_censored_at_their_caps(pair):
    point = memory_point(**{**TINY, "m1_max": 4}, targets="rel:2,abs:0.001", seed=3, stage1=pair[0], stage2=pair[1])
    assert point["points_abs0.001"] is None and point["censored_abs0.001"] == "m1_max"
    assert point["stage1_failed_abs0.001"] is None
    found = point["points_rel2"]
    assert (found is None) == (point["censored_rel2"] is not None)


def test_the_exhaustive_search_keeps_the_committed_record_and_the_lean_adds_the_censoring():
    lean = memory_point(**TINY, targets="rel:2", seed=3, selection="test")
    exhaustive = memory_point(**TINY, targets="rel:2", seed=3, selection="test", search="exhaustive")
    assert set(lean) - set(exhaustive) == {"censored_rel2"}


@pytest.mark.parametrize("bad, match", [({"stage1": "nope"}, "nope"), ({"stage2": REUSE_STAGE1}, "one size"),
                                        ({"search": "fast"}, "search")])
def test_memory_point_refuses_an_unknown_method_a_shared_set_or_schedule(bad, match):
    with pytest.raises((KeyError, ValueError), match=match):
        memory_point(**TINY, targets="rel:2", seed=3, **bad)
