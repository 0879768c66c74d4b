"""ddlib.experiments.rate_grid: the pre-registered lines (the n-rule, corners, three methods), and
one tiny line computed, resumed, read back with its checksums, and its sentinel recomputed."""
from __future__ import annotations

import pytest

from ddlib.experiments import rate_grid
from ddlib.io import ArtifactError


def test_the_lines_follow_the_preregistration():
    assert [p["r"] for p in rate_grid.LINES["r"]] == [1, 2, 3, 4, 6, 8]
    assert [p["n_per_d2"] for p in rate_grid.LINES["r"]] == [4, 4, 6, 8, 12, 16]  # n = 4 max(1, r/2) d^2
    L = [p["width"] for p in rate_grid.LINES["L"]]
    assert max(L) // min(L) >= 16
    n = [p["n_per_d2"] for p in rate_grid.LINES["n"]]
    assert max(n) // min(n) >= 16
    assert rate_grid.LINES["corner-r2d"][0]["r"] ** 2 * rate_grid.LINES["corner-r2d"][0]["d"] > 100 * \
        rate_grid.LINES["corner-r2d"][0]["width"]
    assert len(rate_grid.line_points("L")) == 5 * len(rate_grid.METHODS)
    with pytest.raises(ValueError, match="line must be one of"):
        rate_grid.line_points("x")


def test_the_design_holds_every_size_of_every_line_once_per_seed():
    rows = rate_grid.design_rows()
    sizes = {(p["r"], p["d"], p["width"], p["n_per_d2"] * p["d"] ** 2) for pts in rate_grid.LINES.values() for p in pts}
    assert len(rows) == len(sizes) * len(rate_grid.SEEDS)  # the base point, on four lines, counted once
    assert set(map(tuple, rows[["r", "d", "width", "n_train"]].to_numpy().tolist())) == sizes
    assert set(rows.line) <= set(rate_grid.LINES)


def test_a_tiny_line_is_computed_read_back_and_its_sentinel_recomputed(tmp_path, monkeypatch):
    monkeypatch.setitem(rate_grid.LINES, "tiny", [{"r": 1, "d": 6, "width": 16, "n_per_d2": 4}])
    monkeypatch.setattr(rate_grid, "SEEDS", [0, 1])
    monkeypatch.setattr(rate_grid, "SEARCH", {**rate_grid.SEARCH, "steps1": 5, "steps2": 5, "restarts": 1,
                                              "n_test": 200, "m1_max": 8, "m2_max": 8, "targets": "abs:0.9"})
    monkeypatch.setattr(rate_grid, "METHODS", (("gm-cos", "kip"),))
    assert rate_grid.line_status(tmp_path)["tiny"] == "not started"
    m = rate_grid.regenerate_line("tiny", root=tmp_path, backend="inline", progress=False)
    assert m["status"] == "done" and m["n_rows"] == 2
    assert rate_grid.line_status(tmp_path)["tiny"] == "done"
    table = rate_grid.load_lines(tmp_path)
    assert set(table.method) == {"gm-cos+kip"} and len(table) == 2
    assert all(c.current for c in rate_grid.check_sentinels(tmp_path))
    again = rate_grid.regenerate_line("tiny", root=tmp_path, backend="inline", progress=False)  # resumes
    assert again["n_rows"] == 2
    (tmp_path / "lines" / "tiny" / "table.csv").write_text("tampered")
    with pytest.raises(ArtifactError, match="sha256 differs"):
        rate_grid.load_lines(tmp_path)
