"""ddlib.experiments.memory_law: regeneration into a folder (resumable, cleared when today's code no
longer recomputes its points), sentinel points, the strict reader, the data digest, the paper-scale
claims on synthetic data, and the committed data itself: complete provenance, every file verified,
and every sentinel point recomputed bit for bit."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from ddlib.experiments import memory_law as law
from ddlib.experiments.memory import LINES
from ddlib.experiments.memory_law import (DATA_DIR, MIN_SEEDS, MemoryLawData, MemoryLawDataError, check_sentinels,
                                          data_digest, grid_definition, load, paper_claims, paper_plan, regenerate)
from ddlib.io import read_json, write_json

# A grid of seconds: every line with two values, two repetitions, the searches tiny.
TINY = {**grid_definition(), "r": 1, "d": 8, "width": 32, "n_per_d2": 8, "steps1": 20, "steps2": 20, "restarts": 2,
        "n_test": 500, "m1_max": 16, "m2_max": 32, "r_grid": [1, 2], "d_grid": [8, 12], "width_grid": [16, 32],
        "n_per_d2_grid": [4, 8], "n_seeds": 2, "targets": "rel:4,abs:0.3,abs:0.6"}


# ---- the grid ---------------------------------------------------------------------------------------

def test_the_full_grid_has_every_axis_and_enough_repetitions():
    g = grid_definition()
    assert g["n_seeds"] >= MIN_SEEDS and g["seed"] == 0
    assert g["r_grid"] == [1, 2, 3, 4, 5, 6] and g["d_grid"] == [32, 64, 128, 256]
    assert g["width_grid"] == [256, 512, 1024, 2048, 4096] and g["n_per_d2_grid"] == [1, 4, 16, 64]
    assert (g["r"], g["d"], g["width"], g["n_per_d2"], g["targets"]) == (2, 64, 512, 4, "rel:4,abs:0.1,abs:0.2")
    pilot = grid_definition(pilot=True)
    for param in LINES.values():  # the pilot is a subset: the full regeneration reuses its points
        assert set(pilot[f"{param}_grid"]) <= set(g[f"{param}_grid"])


# ---- regeneration, reading, digest ----------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory_law") / "data"
    regenerate(root=root, grid=TINY, backend="inline", progress=False)
    return root


def _copy(root, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(root, out)
    return out


def test_regenerate_writes_a_verified_folder_with_provenance(tiny_root):
    data = load(tiny_root)
    m = data.manifest
    assert not data.complete and m["status"] == "done"
    assert m["n_points"] == 2 * (1 + 1 + 1 + 1 + 1) and m["seeds"] == [0, 1]
    assert set(m["provenance"]) >= {"ddlib_version", "git_sha", "packages", "platform", "cpu_model"}
    assert m["wall_time_s"] > 0 and m["point_time_s"]["total"] > 0
    assert sorted(s["line"] for s in m["sentinels"]) == sorted(LINES)  # one sentinel point per line
    assert set(data.table.line) == set(LINES) and len(data.long) == 3 * len(data.table)
    assert data.digest == data_digest(tiny_root)


def test_regenerate_resumes_from_the_points_of_the_same_code(tiny_root, tmp_path):
    root = _copy(tiny_root, tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in (root / "sweep" / "points").iterdir()}
    regenerate(root=root, grid=TINY, backend="inline", progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in (root / "sweep" / "points").iterdir()}
    assert before == after  # nothing recomputed
    assert read_json(root / "manifest.json")["wall_time_s"] > load(tiny_root).manifest["wall_time_s"]  # accumulated
    pd.testing.assert_frame_equal(load(root).table, load(tiny_root).table)


def _other_code(monkeypatch):
    """Today's code computes other numbers: every point's full-data error moves by one ulp."""
    real = law.memory_point

    def changed(**point):
        out = real(**point)
        return {**out, "full_mse": float(np.nextafter(out["full_mse"], 1.0))}
    monkeypatch.setattr(law, "memory_point", changed)


def test_regenerate_clears_points_made_by_other_code(tiny_root, tmp_path, monkeypatch):
    root = _copy(tiny_root, tmp_path)
    _other_code(monkeypatch)
    small = {**TINY, "r_grid": [], "d_grid": [], "width_grid": [], "n_per_d2_grid": [], "n_seeds": 1}
    regenerate(root=root, grid=small, backend="inline", progress=False)
    assert len(list((root / "sweep" / "points").glob("*.json"))) == 1  # the old points are gone
    assert len(load(root).table) == 1


def test_data_digest_changes_with_any_data_file(tiny_root, tmp_path):
    root = _copy(tiny_root, tmp_path)
    digest = data_digest(root)
    (root / "sweep" / ".lock").write_text("")  # the sweep's lock is not data
    assert data_digest(root) == digest
    point = next((root / "sweep" / "points").glob("*.json"))
    point.write_text(point.read_text().replace('"attempt": 1', '"attempt": 2'))
    assert data_digest(root) != digest


@pytest.mark.parametrize("damage", ["delete_point", "edit_table", "extra_file", "running", "no_manifest",
                                    "edit_manifest"])
def test_load_refuses_missing_corrupted_or_unfinished_data(tiny_root, tmp_path, damage):
    root = _copy(tiny_root, tmp_path)
    point = next((root / "sweep" / "points").glob("*.json"))
    if damage == "delete_point":
        point.unlink()
    elif damage == "edit_table":
        (root / "memory_law.csv").write_text((root / "memory_law.csv").read_text().replace("0.", "0.9", 1))
    elif damage == "extra_file":
        (root / "sweep" / "points" / "0123456789abcdef0123.json").write_text("{}")
    elif damage == "running":
        write_json(root / "manifest.json", {**read_json(root / "manifest.json"), "status": "running"})
    elif damage == "no_manifest":
        (root / "manifest.json").unlink()
    else:
        (root / "manifest.json").write_text((root / "manifest.json").read_text().replace('"n_rows": ', '"n_rows": 1'))
    with pytest.raises(MemoryLawDataError):
        load(root)


def test_sentinel_points_are_current_for_the_code_that_made_them(tiny_root):
    checks = check_sentinels(tiny_root)
    assert len(checks) == len(LINES) and all(c.current for c in checks), [c.line() for c in checks]


def test_sentinel_points_are_stale_when_the_code_computes_other_numbers(tiny_root, monkeypatch):
    _other_code(monkeypatch)
    checks = check_sentinels(tiny_root, limit=1)
    assert len(checks) == 1 and not checks[0].current and "full_mse" in checks[0].detail
    assert load(tiny_root).origin().startswith("ddlib ")  # stale data are still read


def test_a_refactor_that_moves_code_but_changes_no_number_keeps_the_data_current(tiny_root, monkeypatch):
    # the point function reached by another path (as after a move to another module)
    real = law.memory_point
    monkeypatch.setattr(law, "memory_point", lambda **point: dict(real(**point)))
    assert all(c.current for c in check_sentinels(tiny_root, limit=2))


def test_status_exits_1_on_stale_data_and_0_on_current(tiny_root, monkeypatch, capsys):
    assert law.main(["status", "--root", str(tiny_root)]) == 0
    assert "current: 4 of 4 sentinel points" in capsys.readouterr().out
    _other_code(monkeypatch)
    assert law.main(["status", "--root", str(tiny_root)]) == 1
    assert "STALE" in capsys.readouterr().out


# ---- the paper-scale claims on synthetic data ---------------------------------------------------------

_synthetic = law.synthetic_data  # committed-looking data whose certified points follow a given law
_law = law.follows_the_rate


def test_paper_claims_hold_on_data_that_follows_the_law():
    cls = paper_claims(_synthetic(_law))
    assert [c.id for c in cls] == [c.id for c in paper_plan(grid_definition())]
    assert [c.id for c in cls] == ["C3.P1", "C3.P2", "C3.P3", "C3.P4", "C3.P4a", "C3.P5", "C3.P6", "C3.P6a"]
    assert {c.id: c.verdict for c in cls} == {c.id: "holds" for c in cls}, [c.line() for c in cls]


def test_paper_claims_at_a_fixed_error_are_outside_their_regime_where_the_target_is_below_the_full_data_error():
    cls = {c.id: c for c in paper_claims(_synthetic(_law, full=0.15))}
    assert cls["C3.P1"].verdict == cls["C3.P2"].verdict == "outside regime"
    assert cls["C3.P4"].verdict == "holds"


def test_a_target_counts_only_where_it_lies_above_the_stage1_plateau():
    # at n = d^2 the full-data learner is weak: both fixed targets sit on its plateau there, and the
    # points it would need (here 50x) are left out of the n slope; three sizes over 16x remain
    weak = lambda r, d, w, c: 0.08 if c == 1 else 0.02  # noqa: E731
    grow = lambda r, d, w, c, t: _law(r, d, w, c, t) * (50 if c == 1 and t != "rel4" else 1)  # noqa: E731
    P1 = next(c for c in paper_claims(_synthetic(grow, full_of=weak)) if c.id == "C3.P1")
    assert P1.verdict == "holds" and len(P1.checks) == 4 and "n = [4, 16, 64]" in P1.regime[-1].detail
    # with n = 4 d^2 weak too, two sizes are left: no slope, the claim is outside its regime
    weaker = lambda r, d, w, c: 0.08 if c <= 4 else 0.02  # noqa: E731
    P1 = next(c for c in paper_claims(_synthetic(_law, full_of=weaker)) if c.id == "C3.P1")
    assert P1.verdict == "outside regime" and not P1.regime[-1].met


def test_a_line_claim_checks_only_the_targets_it_can_fit_and_says_where_its_data_come_from():
    # abs:0.1 lies on the plateau wherever n <= 4 d^2: on the n line two sizes are left (no slope), so
    # the n claim checks abs:0.2 alone; without data the plan names every target
    data = _synthetic(_law, full_of=lambda r, d, w, c: 0.04 if c <= 4 else 0.02)
    P1 = next(c for c in paper_claims(data) if c.id == "C3.P1")
    assert P1.verdict == "holds" and {k.name for k in P1.checks} == {"exponent of the certified points in n (abs:0.2)"}
    assert next(d for d in paper_plan(grid_definition(), data) if d.id == "C3.P1").checks == ("n_lo@abs0.2",
                                                                                              "n_hi@abs0.2")
    assert next(d for d in paper_plan(grid_definition()) if d.id == "C3.P1").checks == (
        "n_lo@abs0.1", "n_hi@abs0.1", "n_lo@abs0.2", "n_hi@abs0.2")
    assert {c.source for c in paper_claims(data)} == {"committed paper-scale data"}


def test_the_plateau_precondition_is_decided_per_target_and_point_not_on_the_relative_target():
    # rel:4 lies 4x above the full-data error by construction, at every point; the absolute targets
    # lie below 3x it everywhere (full-data error 0.08: 1.25x and 2.5x), so the claims made at them
    # are outside their regime -- the memory ratios and the target ratio (C3.P5, C3.P6) included,
    # which a precondition read on rel:4 alone (always 4) kept in it
    cls = {c.id: c for c in paper_claims(_synthetic(_law, full=0.08))}
    for cid in ("C3.P1", "C3.P2", "C3.P5", "C3.P6"):
        plateau = next(p for p in cls[cid].regime if "plateau" in p.name)
        assert cls[cid].verdict == "outside regime" and not plateau.met, cid
        assert "abs:0.1: 0 of" in plateau.detail and "target / full-data MSE 1.25 to 1.25" in plateau.detail
        assert "abs:0.2: 0 of" in plateau.detail and "2.5 to 2.5" in plateau.detail, plateau.detail
    assert cls["C3.P4"].verdict == "holds"  # at rel:4, 4x everywhere
    r_plateau = next(p for p in cls["C3.P4"].regime if "plateau" in p.name)
    assert r_plateau.met and "rel:4: 6 of 6 sizes, 30 of 30 points" in r_plateau.detail


def test_the_plateau_precondition_counts_the_points_each_target_keeps():
    weak = lambda r, d, w, c: 0.04 if c == 1 else 0.02  # noqa: E731 -- abs:0.1 is 2.5x at n = d^2
    cls = {c.id: c for c in paper_claims(_synthetic(_law, full_of=weak))}
    plateau = next(p for p in cls["C3.P1"].regime if "plateau" in p.name)
    assert plateau.met and "abs:0.1: 3 of 4 sizes, 15 of 20 points (target / full-data MSE 2.5 to 5)" in plateau.detail
    assert cls["C3.P5"].verdict == "holds"  # the other sizes keep both targets


def test_a_point_stored_without_selection_is_recomputed_as_the_committed_grid_made_it():
    assert law._point_arguments({"r": 2}) == {"r": 2, "selection": "test", "search": "exhaustive"}
    assert law._point_arguments({"r": 2, "selection": "separate"}) == {"r": 2, "selection": "separate"}


def test_paper_claims_do_not_hold_when_points_grow_with_n_and_L():
    cls = {c.id: c for c in paper_claims(_synthetic(lambda r, d, w, c, t: 3 * c ** 0.5 * (w / 256) ** 0.5 + r))}
    assert cls["C3.P1"].verdict == cls["C3.P2"].verdict == "does not hold"
    assert cls["C3.P4"].verdict == "holds"


def test_paper_claims_are_outside_their_regime_on_pilot_data():
    pilot = grid_definition(pilot=True)
    cls = paper_claims(_synthetic(_law, seeds=2, complete=False, grid=pilot))
    assert {c.verdict for c in cls} == {"outside regime"}
    assert "pilot data" in cls[0].line()


def test_paper_check_thresholds_come_from_the_bound_on_the_grid():
    checks = law.paper_checks(grid_definition())
    for t in ("abs0.1", "abs0.2"):  # r^2 d + L is 12x below the network and 211x below the data: floored
        assert checks[f"network@{t}"].threshold == 10.0 and checks[f"data@{t}"].threshold == 100.0
        assert checks[f"n_lo@{t}"].threshold == -0.2 and checks[f"L_hi@{t}"].threshold == 0.2
    assert checks["r_hi@rel4"].threshold == 2.0 and checks["eps_hi"].threshold == 2.0  # abs:0.2 / abs:0.1
    assert {k for k in checks if k.startswith("d_hi@")} == {"d_hi@rel4", "d_hi@abs0.1", "d_hi@abs0.2"}
    assert all(spec.origin for spec in checks.values())  # every threshold states where it comes from
    assert all(spec.origin == "paper" for k, spec in checks.items() if k.split("_")[0] in ("n", "L", "d", "r"))


# ---- the paper-scale claims' negative controls: synthetic data that violate each claim ----------------

def test_every_paper_claim_names_a_synthetic_control_or_is_a_consistency_check_with_its_reason():
    decls = paper_plan(grid_definition())
    for d in decls:
        assert bool(d.control) != bool(d.consistency), d.id
        assert not d.control or d.control in law.PAPER_CONTROLS, d.id
    # the sides that cannot fail are consistency checks; each claim keeps its other side
    by_id = {d.id: d for d in decls}
    assert by_id["C3.P4"].checks == ("r_lo@rel4",) and by_id["C3.P4a"].checks == ("r_hi@rel4",)
    assert by_id["C3.P6"].checks == ("eps_hi",) and by_id["C3.P6a"].checks == ("eps_lo",)
    assert by_id["C3.P4a"].consistency and by_id["C3.P6a"].consistency


@pytest.mark.parametrize("decl", [d for d in paper_plan(grid_definition()) if d.control], ids=lambda d: d.id)
def test_each_paper_claim_does_not_hold_on_the_synthetic_data_of_its_control(decl):
    claim = next(c for c in law.paper_control_claims(decl.control) if c.id == decl.id)
    assert claim.verdict == "does not hold", claim.line()


def test_the_paper_control_record_shows_every_control_failing_as_it_must():
    record = law.paper_control_record()
    assert set(record["claims"]) == {d.id for d in paper_plan(grid_definition())}
    for cid, e in record["claims"].items():
        assert e["consistency"] if not e["control"] else (e["fails"] and e["verdict"] == "does not hold"), cid


def test_a_repetition_without_a_certified_set_is_counted_not_dropped():
    # at L = 1024 no set was found in repetition 0 (its stage-1 search found m1* but no pair): the
    # L slope of that repetition is undefined, so the claim on L cannot be decided
    data = _synthetic(_law)
    rows = (data.table.line == "L") & (data.table.width == 1024) & (data.table.seed == 0)
    table = data.table.copy()
    table.loc[rows, [f"{q}_abs0.1" for q in ("points", "floats", "cert_m1", "cert_m2")]] = np.nan
    damaged = MemoryLawData(table, law.long_table(table), data.manifest, "z")
    measured = law.paper_measures(damaged)
    assert len(measured["L_hi@abs0.1"]) == 5 and np.isnan(measured["L_hi@abs0.1"][0])
    assert next(c for c in paper_claims(damaged) if c.id == "C3.P2").verdict == "inconclusive"


# ---- the committed data -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def committed():
    return load(DATA_DIR)  # raises if anything is missing or corrupted: the book builds strictly


def test_committed_data_is_complete_in_its_provenance(committed):
    m = committed.manifest
    assert m["status"] == "done" and m["seeds"] == list(range(m["grid"]["n_seeds"]))
    assert {"ddlib_version", "git_sha", "cpu_model", "platform"} <= set(m["provenance"])
    assert m["wall_time_s"] > 0 and m["point_time_s"]["total"] > 0
    assert len(list((DATA_DIR / "sweep" / "points").glob("*.json"))) == m["n_points"]  # no orphan point
    if committed.complete:
        per_size = committed.table.groupby(["line", "r", "d", "width", "n_per_d2"]).seed.nunique()
        assert per_size.min() >= MIN_SEEDS and set(committed.table.line) == set(LINES)


def test_every_committed_sentinel_point_recomputes_bit_for_bit(committed):
    """The committed data are current: today's code recomputes the cheapest point of every line of
    the grid exactly as it was stored (a refactor that changes no number keeps this green)."""
    sentinels = committed.manifest["sentinels"]
    assert sorted(s["line"] for s in sentinels) == sorted(LINES)
    checks = check_sentinels(DATA_DIR)
    assert all(c.current for c in checks), [c.line() for c in checks]
