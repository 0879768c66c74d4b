"""Notebook 06's experiment: every stage-1 x stage-2 arm at equal memory in every condition, each
arm's ridge tuned; a refused arm counts as missing (its checks inconclusive); a user's registered
method joins by name; bad parameters are refused in one line."""
from __future__ import annotations

import math

import pytest
import torch

from ddlib.book.claims import claims_of
from ddlib.data import Data
from ddlib.experiments import stages
from ddlib.experiments.parameters import resolve_parameters
from ddlib.methods import STAGE1, Points, register_stage1

TINY = dict(d=8, r_grid=[2], width=32, n_train=300, validation_share=0.2, m1=4, m2=6, links=["he2"],
            noise_grid=[0.0], stage1=["gm-cos", "spectral"], stage2=["kip", "labels", "random"], n_seeds=2,
            steps1=10, steps2=5, lr=0.05, restarts=1, n_test=300, seed=0)


def test_every_arm_runs_in_every_condition_at_equal_memory():
    P = {**TINY, "noise_grid": [0.0, 0.3]}
    t = stages.run(**P)
    rows = t.rows
    assert set(rows.condition) == {stages.condition_label("he2", 2, 0.0), stages.condition_label("he2", 2, 0.3)}
    arms = rows[rows.arm != stages.FULL]
    assert len(arms) == 2 * 2 * 2 * 3  # conditions x seeds x stage 1 x stage 2
    assert set(arms.floats) == {(4 + 6) * (8 + 1)}  # equal memory; the spectral set's spare points go to S2
    spectral = arms[arms.stage1 == "spectral"]
    assert set(spectral.m1_made) == {4} and set(spectral.m2_made) == {6}  # 2r = 4 = m1 here
    assert arms.test_mse.notna().all() and (arms.ridge > 0).all()
    claims = claims_of(stages, t, P)
    assert [c.id for c in claims] == ["C6.1", "C6.2", "C6.3", "C6.4"]
    assert all(len(c.checks) >= 2 for c in claims)  # one check per condition
    summary = stages.summarise(t)
    arm, ratio = stages.best_arm(summary)
    assert arm in set(arms.arm) and ratio > 0
    # the per-condition effects: each claim's ratio with the interval its check decides on
    eff = stages.effects(t, P)
    assert len(eff) == 2 * 4 and (eff.n == 2).all()
    for c in claims:
        for k in c.checks:
            cond = k.name.rsplit("(", 1)[1].rstrip(")")
            row = eff[(eff.condition == cond) & (eff.ratio == k.name.rsplit(" (", 1)[0])]
            assert len(row) == 1 and math.isclose(row.estimate.iloc[0], k.measured.estimate)
            assert math.isclose(row.lo.iloc[0], k.measured.lo) and math.isclose(row.hi.iloc[0], k.measured.hi)
    th = eff[eff.ratio == "spectral + KIP / GM + KIP"]
    assert (th.angle_num_deg.between(0, 90)).all() and (th.angle_den_deg.between(0, 90)).all()


def test_a_refused_arm_is_counted_and_makes_its_checks_inconclusive():
    P = {**TINY, "m1": 2, "m2": 2}  # the spectral set's 2r = 4 points exceed the m1 + m2 - 1 = 3 it may take
    t = stages.run(**P)
    spectral = t.rows[t.rows.stage1 == "spectral"]
    assert spectral.test_mse.isna().all() and spectral.error.str.contains("more than the 3 it may take").all()
    claims = {c.id: c for c in claims_of(stages, t, P)}
    assert claims["C6.1"].verdict == "inconclusive" and claims["C6.4"].verdict == "inconclusive"
    eff = stages.effects(t, P)
    assert eff[eff.ratio.str.contains("spectral")].estimate.isna().all()  # missing, never dropped


def test_a_users_registered_method_joins_the_comparison_by_name():
    def first_points(real, m1, config, seed):
        return Points(Data(real.data.X[:m1], real.data.y[:m1]))

    register_stage1("first-points", first_points, what="the first m1 real points", family="real points")
    try:
        t = stages.run(**{**TINY, "stage1": ["gm-cos", "spectral", "first-points"], "n_seeds": 1})
        mine = t.rows[t.rows.stage1 == "first-points"]
        assert len(mine) == 3 and mine.test_mse.notna().all()
    finally:
        STAGE1.unregister("first-points")


@pytest.mark.parametrize("change, match", [
    ({"stage1": ["gm-cos"]}, r"stage1 must include \['gm-cos', 'spectral'\]"),
    ({"stage2": ["kip", "nope", "labels", "random"]}, r"stage-2 method must be one of"),
    ({"stage1": ["gm-cos", "spectral", "gm-cos"]}, r"names a method twice"),
    ({"r_grid": [9]}, r"r must be <= 8"),
    ({"links": []}, r"links, r_grid and noise_grid must each hold at least one value"),
])
def test_bad_parameters_are_refused_in_one_line(change, match):
    with pytest.raises(ValueError, match=match):
        stages.run(**{**TINY, **change})


def test_the_profiles_resolve_and_hold_the_arms_the_claims_compare():
    for profile in ("smoke", "book", "paper"):
        P = resolve_parameters(stages.PROFILES, profile, seed=0)
        assert set(stages.REQUIRED_STAGE1) <= set(P["stage1"]) and set(stages.REQUIRED_STAGE2) <= set(P["stage2"])
    assert len(stages.conditions(resolve_parameters(stages.PROFILES, "paper", seed=0))) == 12


def test_the_paper_factorial_is_committed_condition_by_condition_and_checked(tmp_path, monkeypatch):
    tiny = {**{k: v for k, v in TINY.items() if k != "seed"}, "noise_grid": [0.0, 0.3], "n_seeds": 2}
    monkeypatch.setitem(stages.PROFILES, "paper", tiny)
    first = stages.regenerate(root=tmp_path, progress=False, only=[stages.condition_label("he2", 2, 0.0)])
    assert list(first["conditions"]) == [stages.condition_label("he2", 2, 0.0)] and not first["complete"]
    full = stages.regenerate(root=tmp_path, progress=False)  # resumes: the stored condition is kept
    assert full["complete"] and len(full["conditions"]) == 2
    assert full["conditions"][stages.condition_label("he2", 2, 0.0)] == first["conditions"][
        stages.condition_label("he2", 2, 0.0)]
    tables, manifest = stages.load_paper(tmp_path)
    assert set(tables.rows.condition) == set(manifest["conditions"]) and len(tables.rows) == 2 * 2 * 7
    assert stages.check_sentinel(tmp_path).current
    path = tmp_path / next(iter(manifest["conditions"].values()))["file"]
    path.write_text(path.read_text().replace("0.", "1.", 1))
    with pytest.raises(Exception, match="sha256 differs"):
        stages.load_paper(tmp_path)
