"""The re-execution matrix: every notebook re-run the way a reader would, with parameters the book
does not use, at the smoke and book profiles -- including changes that push a claim out of its
regime -- to show that a re-run ends in verdicts (``ddlib run`` exit status 0 or 3), never in a
crash (1) or a refused invocation (2).

    python -m booksite.reexecution --jobs 2          # all runs; writes book/_generated/reexecution.md

The Markdown table it writes is included in the reproduce page; ``tests/test_reexecution.py``
runs a few of the smoke rows in CI.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["Run", "MATRIX", "run_one", "main"]

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "book" / "_generated" / "reexecution.md"
VERDICT_STATUSES = (0, 3)  # every claim holds / some claim does not (reported, not a crash)


@dataclass(frozen=True)
class Run:
    """One re-execution: a notebook, a profile, the parameters changed and why."""

    notebook: str
    profile: str
    parameters: tuple[tuple[str, str], ...]
    why: str

    def args(self) -> list[str]:
        out = ["--profile", self.profile]
        for name, value in self.parameters:
            out += ["-p", name, value]
        return out

    @property
    def label(self) -> str:
        return " ".join(f"-p {n} {v}" for n, v in self.parameters)


def _run(nb: str, profile: str, why: str, **params: object) -> Run:
    return Run(nb, profile, tuple((k, json.dumps(v) if not isinstance(v, str) else v) for k, v in params.items()), why)


MATRIX: tuple[Run, ...] = (
    _run("00_learner", "smoke", "the negative-control link as the main link (out of regime)", link="he3"),
    _run("00_learner", "smoke", "a single repetition (no interval)", n_seeds=1),
    _run("00_learner", "smoke", "the quad link, of information exponent 2 (in the regime)", link="quad"),
    _run("00_learner", "book", "other seeds", seed=7),
    _run("01_encoding", "smoke", "larger input dimension", d=48),
    _run("01_encoding", "smoke", "three task directions", r=3),
    _run("01_encoding", "smoke", "the anisotropic link with its He4 part", link="aniso"),
    _run("01_encoding", "smoke", "the he3 link, whose population gradient is zero (out of regime)", link="he3"),
    _run("03_memory", "smoke", "the search choosing on the test sample, as the committed grid did", selection="test",
         n_seeds=2),
    _run("05_boundaries", "smoke", "the hard study on a learnable link (its negative control)", hard_link="aniso"),
    _run("01_encoding", "book", "other seeds", seed=11),
    _run("02_generalization", "smoke", "d = 40 with seed 9 (once a traceback)", d=40, seed=9),
    _run("02_generalization", "smoke", "one stage-1 point for r = 2 (out of regime)", m1=1),
    _run("02_generalization", "smoke", "the he3 link (out of regime)", link="he3"),
    _run("02_generalization", "smoke", "too little real data for the learner", n_train=300),
    _run("02_generalization", "book", "half the width", width=256),
    _run("02_generalization", "book", "other seeds", seed=5),
    _run("03_memory", "smoke", "a single repetition", n_seeds=1),
    _run("03_memory", "smoke", "other seeds", seed=3),
    _run("03_memory", "smoke", "the quad link (in the regime)", link="quad"),
    _run("04_algorithms", "smoke", "smaller input dimension", d=24),
    _run("04_algorithms", "smoke", "smaller stage-1 set", m1=4),
    _run("04_algorithms", "book", "other seeds", seed=4),
    _run("05_boundaries", "smoke", "smaller input dimension", d=24),
    _run("05_boundaries", "smoke", "other seeds", seed=6),
    _run("05_boundaries", "smoke", "no small-m1 study and a small label noise", m1_small_grid=[], noise_grid=[0.1]),
    _run("05_boundaries", "book", "other seeds", seed=8),
    _run("06_stages", "smoke", "another link and a label noise", links=["aniso"], noise_grid=[0.3]),
    _run("06_stages", "smoke", "more stage-1 methods", stage1=["gm-cos", "spectral", "moments", "k-center"]),
    _run("06_stages", "smoke", "m1 below 2r: the spectral set borrows from stage 2", m1=2, m2=10),
    _run("06_stages", "book", "two ranks", r_grid=[2, 3], seed=4),
)


def run_one(run: Run, workdir: Path) -> dict:
    """Execute one row with ``ddlib run`` in its own output folder; record status and verdicts."""
    out = workdir / f"{run.notebook}-{run.profile}-{abs(hash(run.parameters)) % 10**8}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ddlib"), "run", str(ROOT / "notebooks" / f"{run.notebook}.md"),
                           *run.args(), "--output-dir", str(out), "--no-progress"],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    verdicts: dict[str, int] = {}
    results = out / f"{run.notebook}.json"
    if results.is_file():
        for v in json.loads(results.read_text()).get("verdicts", []):
            verdicts[v["verdict"]] = verdicts.get(v["verdict"], 0) + 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {"notebook": run.notebook, "profile": run.profile, "parameters": run.label, "why": run.why,
            "status": proc.returncode, "verdicts": verdicts, "seconds": round(time.perf_counter() - start, 1),
            "traceback": "Traceback" in proc.stderr, "last_line": lines[-1] if lines else ""}


def _markdown(rows: Sequence[dict], wall: float) -> str:
    crashes = [r for r in rows if r["status"] not in VERDICT_STATUSES or r["traceback"]]
    head = (f"{len(rows)} re-executions, {len(crashes)} crashed; every other one ended in verdicts "
            f"(`ddlib run` exit status 0: every claim holds, 3: some claim does not hold, is inconclusive or "
            f"is outside its regime). Made by `python -m booksite.reexecution` ({wall / 60:.0f} min).\n\n")
    table = "| notebook | profile | change | status | verdicts |\n|---|---|---|---|---|\n"
    for r in rows:
        v = ", ".join(f"{n} {k}" for k, n in sorted(r["verdicts"].items())) or "none"
        table += f"| {r['notebook']} | {r['profile']} | `{r['parameters']}`: {r['why']} | {r['status']} | {v} |\n"
    return head + table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booksite.reexecution", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument("--only-profile", choices=["smoke", "book"], default=None)
    args = parser.parse_args(argv)
    runs = [r for r in MATRIX if args.only_profile in (None, r.profile)]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ddlib-reexec-") as tmp, ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda r: run_one(r, Path(tmp)), runs))
    for r in rows:
        print(f"{r['status']}  {r['notebook']:18s} {r['profile']:5s} {r['parameters']:32s} {r['verdicts']} "
              f"{r['seconds']} s", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_markdown(rows, time.perf_counter() - start))
    (args.out.with_suffix(".json")).write_text(json.dumps(rows, indent=1) + "\n")
    crashed = [r for r in rows if r["status"] not in VERDICT_STATUSES or r["traceback"]]
    print(f"{len(rows)} runs, {len(crashed)} crashed; wrote {args.out}", file=sys.stderr)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
