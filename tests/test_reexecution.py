"""The re-execution matrix (booksite.reexecution): it covers every notebook at both profiles
with at least 20 changes, some of them out of a claim's regime; and a few of its smoke rows,
run here for real, end in verdicts (exit status 0 or 3), never in a crash."""
from __future__ import annotations

from pathlib import Path

import pytest

from booksite.reexecution import MATRIX, VERDICT_STATUSES, run_one

ROOT = Path(__file__).resolve().parent.parent


def test_the_matrix_covers_every_notebook_at_both_profiles():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.md")}
    assert len(MATRIX) >= 20
    assert {r.notebook for r in MATRIX} == notebooks
    assert {r.profile for r in MATRIX} == {"smoke", "book"}
    assert sum("out of regime" in r.why for r in MATRIX) >= 2


CI_ROWS = [r for r in MATRIX if r.profile == "smoke" and r.notebook in ("02_generalization", "05_boundaries")][:3]


@pytest.mark.parametrize("row", CI_ROWS, ids=lambda r: f"{r.notebook}:{r.label}")
def test_a_re_execution_ends_in_verdicts_not_a_crash(row, tmp_path):
    out = run_one(row, tmp_path)
    assert out["status"] in VERDICT_STATUSES and not out["traceback"], out
    assert sum(out["verdicts"].values()) > 0, out
