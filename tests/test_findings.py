"""ddlib.book.findings: a page's verdicts at its defaults must equal its committed findings; a
changed verdict fails until its record changes in the same commit; a finding of "does not hold" is
recorded like any other; at other parameters nothing is compared."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ddlib.book.claims import Check, Claim
from ddlib.book.findings import (FindingChanged, check_findings, expected_findings, findings_path,
                                 record_findings)
from ddlib.book.notebooks import NOTEBOOKS
from ddlib.stats import Interval

ROOT = Path(__file__).resolve().parent.parent


def _claim(cid: str, lo: float, hi: float) -> Claim:
    return Claim(cid, "s", (Check("q", Interval((lo + hi) / 2, lo, hi, 3, 0.95, "t"), "<=", 2.0),))


HOLDS, FAILS, UNSURE = _claim("C1", 0.5, 1.5), _claim("C2", 3.0, 4.0), _claim("C3", 1.0, 3.0)


@pytest.fixture()
def root(tmp_path):
    record_findings("00_learner", "smoke", {"C1": "holds", "C2": "does not hold", "C3": "inconclusive"}, tmp_path)
    return tmp_path


def test_verdicts_equal_to_the_record_pass_whatever_they_are(root):
    line = check_findings("00_learner", [HOLDS, FAILS, UNSURE], profile="smoke", defaults=True, root=root)
    assert line == "1 holds, 1 does not hold, 1 inconclusive (as recorded)"


def test_a_flipped_verdict_fails_naming_the_claim_and_how_to_record_it(root):
    flipped = _claim("C2", 0.5, 1.5)  # C2 now holds: a changed finding
    with pytest.raises(FindingChanged, match=r"C2: recorded 'does not hold', found 'holds'.*record it") as exc:
        check_findings("00_learner", [HOLDS, flipped, UNSURE], profile="smoke", defaults=True, root=root)
    assert "\n" not in str(exc.value)


def test_a_claim_that_appears_or_disappears_is_a_change(root):
    with pytest.raises(FindingChanged, match="C3: recorded 'inconclusive', found 'absent'"):
        check_findings("00_learner", [HOLDS, FAILS], profile="smoke", defaults=True, root=root)


def test_nothing_is_compared_away_from_the_defaults_or_without_a_record(root):
    assert "not compared" in check_findings("00_learner", [FAILS], profile="smoke", defaults=False, root=root)
    assert "not compared" in check_findings("00_learner", [FAILS], profile="paper", defaults=True, root=root)
    with pytest.raises(FindingChanged, match="no recorded findings at the book profile"):
        check_findings("00_learner", [FAILS], profile="book", defaults=True, root=root)


def test_recording_one_profile_keeps_the_other(root):
    record_findings("00_learner", "book", {"C1": "holds"}, root)
    found = expected_findings("00_learner", root)
    assert found["smoke"]["C2"] == "does not hold" and found["book"] == {"C1": "holds"}
    with pytest.raises(ValueError, match="not verdicts"):
        record_findings("00_learner", "book", {"C1": "fine"}, root)


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_every_page_has_committed_findings_at_both_profiles(notebook):
    found = expected_findings(notebook)
    assert set(found) == {"smoke", "book"} and found["smoke"] and found["book"]


def test_a_page_whose_verdict_changed_without_its_record_fails_its_run(tmp_path):
    """What CI sees: notebook 00 at the smoke defaults against a record in which one verdict is
    flipped fails (exit 1, naming the claim), and passes against the committed record."""
    import os
    import shutil

    recorded = json.loads(findings_path("00_learner").read_text())
    cid = sorted(recorded["profiles"]["smoke"])[0]
    flipped = dict(recorded["profiles"]["smoke"])
    flipped[cid] = "does not hold" if flipped[cid] != "does not hold" else "holds"
    shutil.copytree(findings_path("00_learner").parent, tmp_path / "findings")
    record_findings("00_learner", "smoke", flipped, tmp_path / "findings")
    run = [str(Path(sys.executable).parent / "ddlib"), "run", str(ROOT / "notebooks/00_learner.md"), "--profile",
           "smoke", "--no-progress"]
    env = {**os.environ, "DDLIB_FINDINGS_DIR": str(tmp_path / "findings")}
    env.pop("DDLIB_RECORDING_FINDINGS", None)
    out = subprocess.run(run + ["--output-dir", str(tmp_path / "a")], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 1 and "FindingChanged" in out.stderr and f"{cid}: recorded" in out.stderr, out.stderr
    env.pop("DDLIB_FINDINGS_DIR")
    out = subprocess.run(run + ["--output-dir", str(tmp_path / "b")], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode in (0, 3), out.stderr
