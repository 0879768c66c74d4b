"""Findings, not gates: each page's verdicts at its default parameters are recorded, one small
committed file per page (``ddlib/experiments/findings/<notebook>.json``, a verdict per claim at
the smoke profile, which CI runs, and at the book profile, which the site runs).

A page at its defaults compares its verdicts with that record (``check_findings``) and stops when
one differs: a change of a finding -- a claim that held and now does not, or the reverse -- must
come with the updated record in the same commit, so every change of a finding is a visible diff.
Nothing fails because a claim of the paper does not hold: "does not hold" is a finding like any
other, recorded and shown.  At any other parameters nothing is compared.

    python -m ddlib.book.findings record RESULTS_DIR --profile smoke   # record from executed pages
    make findings                                                      # run every page, record both
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from ..io import read_json, write_json
from .claims import VERDICTS, Claim
from .notebooks import NOTEBOOKS

__all__ = ["FINDINGS_DIR", "RECORDED_PROFILES", "FindingChanged", "findings_path", "expected_findings",
           "differences", "check_findings", "record_findings", "main"]

# The committed records; DDLIB_FINDINGS_DIR points a run at another folder (to try a record before
# committing it, or in a test).
FINDINGS_DIR = Path(os.environ.get("DDLIB_FINDINGS_DIR") or Path(__file__).resolve().parents[1] / "experiments"
                    / "findings")
RECORDING = "DDLIB_RECORDING_FINDINGS"  # set to 1 by `make findings` while it runs the pages to record
RECORDED_PROFILES = ("smoke", "book")


class FindingChanged(AssertionError):
    """A page's verdicts at its defaults differ from its committed record of findings."""


def findings_path(notebook: str, root: Path = FINDINGS_DIR) -> Path:
    if notebook not in NOTEBOOKS:
        raise ValueError(f"notebook must be one of {list(NOTEBOOKS)}, got {notebook!r}")
    return Path(root) / f"{notebook}.json"


def expected_findings(notebook: str, root: Path = FINDINGS_DIR) -> dict[str, dict[str, str]]:
    """The committed findings of a page: profile -> {claim id: verdict} (empty when none recorded)."""
    path = findings_path(notebook, root)
    if not path.is_file():
        return {}
    record = read_json(path)
    return {profile: dict(record.get("profiles", {}).get(profile, {})) for profile in RECORDED_PROFILES
            if profile in record.get("profiles", {})}


def differences(expected: Mapping[str, str], found: Mapping[str, str]) -> list[str]:
    """One line per claim whose verdict differs (or that appears or disappears)."""
    out = []
    for cid in sorted(set(expected) | set(found)):
        if expected.get(cid) != found.get(cid):
            out.append(f"{cid}: recorded {expected.get(cid, 'absent')!r}, found {found.get(cid, 'absent')!r}")
    return out


def check_findings(notebook: str, claims: Iterable[Claim], *, profile: str, defaults: bool,
                   root: Path = FINDINGS_DIR) -> str:
    """Compare a page's verdicts at its defaults with its committed findings; a one-line summary.

    At the defaults of a recorded profile, every claim's verdict must equal the record; elsewhere
    nothing is compared (a reader's run reports what it finds).

    Raises:
        FindingChanged: a verdict differs from the record, or the record is missing, naming each
            claim and how to record the new finding.
    """
    claims = list(claims)
    found = {c.id: c.verdict for c in claims}
    counts = ", ".join(f"{n} {v}" for v in VERDICTS if (n := sum(c.verdict == v for c in claims)))
    if not (defaults and profile in RECORDED_PROFILES):
        return f"{counts} (not compared: not the {profile} profile's defaults)"
    if os.environ.get(RECORDING) == "1":
        return f"{counts} (not compared: recording new findings)"
    expected = expected_findings(notebook, root).get(profile)
    how = (f"if this is the new finding, record it (make findings, or python -m ddlib.book.findings record "
           f"RESULTS_DIR --profile {profile}) and commit {findings_path(notebook, root).name} with the change")
    if expected is None:
        raise FindingChanged(f"{notebook}: no recorded findings at the {profile} profile; {how}")
    changed = differences(expected, found)
    if changed:
        lines = {c.id: c.line() for c in claims}
        raise FindingChanged(f"{notebook} at the {profile} profile's defaults: " + "; ".join(
            f"{d} ({lines.get(d.split(':')[0], '')})" for d in changed) + f"; {how}")
    return f"{counts} (as recorded)"


def record_findings(notebook: str, profile: str, verdicts: Mapping[str, str], root: Path = FINDINGS_DIR) -> Path:
    """Write a page's verdicts at one profile into its findings file (the other profile kept)."""
    if profile not in RECORDED_PROFILES:
        raise ValueError(f"profile must be one of {list(RECORDED_PROFILES)}, got {profile!r}")
    bad = {cid: v for cid, v in verdicts.items() if v not in VERDICTS}
    if bad:
        raise ValueError(f"not verdicts: {bad}")
    path = findings_path(notebook, root)
    record = read_json(path) if path.is_file() else {"notebook": notebook, "profiles": {}}
    record.pop("_integrity", None)
    record["profiles"][profile] = dict(verdicts)
    return write_json(path, record)


def _results(results_dir: Path, notebook: str) -> Optional[dict[str, Any]]:
    found = sorted(Path(results_dir).rglob(f"{notebook}.json"))
    return json.loads(found[0].read_text()) if found else None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddlib.book.findings", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record the verdicts of executed pages (their results JSON)")
    rec.add_argument("results_dir", type=Path, help="a folder holding <notebook>.json results (searched below)")
    rec.add_argument("--profile", choices=RECORDED_PROFILES, required=True)
    rec.add_argument("notebooks", nargs="*", default=list(NOTEBOOKS))
    args = parser.parse_args(argv)
    status = 0
    for notebook in args.notebooks:
        results = _results(args.results_dir, notebook)
        if results is None or results.get("profile") != args.profile:
            print(f"{notebook}: no results of the {args.profile} profile under {args.results_dir}", file=sys.stderr)
            status = 1
            continue
        verdicts = {v["id"]: v["verdict"] for v in results.get("verdicts", [])}
        before = expected_findings(notebook).get(args.profile, {})
        path = record_findings(notebook, args.profile, verdicts)
        changed = differences(before, verdicts)
        print(f"{notebook} ({args.profile}): {len(verdicts)} verdicts -> {path}"
              + (f"; changed: {'; '.join(changed)}" if changed else "; unchanged"))
    return status


if __name__ == "__main__":
    sys.exit(main())
