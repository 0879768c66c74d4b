"""A record of what every page says: each notebook run at a profile's defaults through ``ddlib run``,
its verdicts (claim id, verdict, deciding line) and every glued value (text, Markdown, and a
digest of each glued image), so that two versions of the code can be compared page by page.

    python -m booksite.pagerecord record --profile smoke --out before-smoke.json
    python -m booksite.pagerecord compare before-smoke.json after-smoke.json

A refactor that changes no number leaves the records equal, apart from the values that measure
time (named ``*time*``/``*wall*``/``*_s`` glue keys) and the bytes of glued figures (matplotlib's SVG and PNG
bytes differ between two runs of the same code), which ``compare`` lists apart.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["record_page", "record", "compare", "main"]

ROOT = Path(__file__).resolve().parent.parent
TIMING_MARKS = ("time", "wall", "seconds", "_s", "cost", "minutes")
FIGURE_MIMES = {"image/svg+xml": "svg", "image/png": "png"}  # mime type -> the digest's prefix


def _glued(nb: dict[str, Any]) -> dict[str, str]:
    """Every glued output of an executed notebook: name -> its text (figures as a sha256 of their SVG, or PNG)."""
    found: dict[str, str] = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            meta = out.get("metadata", {}) or {}
            name = (meta.get("scrapbook") or {}).get("name")
            if not name:
                continue
            data = {k.replace("application/papermill.record/", ""): v for k, v in (out.get("data", {}) or {}).items()}
            image = next((k for k in FIGURE_MIMES if k in data), None)
            if image:  # a figure: its digest (SVG first, the site's format; PNG where that is all there is)
                found[name] = FIGURE_MIMES[image] + ":" + hashlib.sha256("".join(data[image]).encode()).hexdigest()[:16]
            elif "text/markdown" in data:
                found[name] = "".join(data["text/markdown"])
            else:
                found[name] = "".join(data.get("text/plain", ""))
    return found


def record_page(notebook: Path, profile: str, workdir: Path) -> dict[str, Any]:
    """Run one notebook at a profile's defaults and read back its verdicts and glued values."""
    out = workdir / notebook.stem
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(Path(sys.executable).parent / "ddlib"), "run", str(notebook), "--profile", profile,
           "--output-dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    page: dict[str, Any] = {"status": proc.returncode, "stderr": proc.stderr.strip().splitlines()[-3:]}
    executed = sorted(out.glob("*.ipynb"))
    if executed:
        page["glue"] = _glued(json.loads(executed[0].read_text()))
    results = sorted(out.rglob(f"{notebook.stem}.json"))
    if results:
        data = json.loads(results[0].read_text())
        page["verdicts"] = {v["id"]: [v["verdict"], v.get("line", "")] for v in data.get("verdicts", [])}
    return page


def record(profile: str, out: Path, jobs: int = 2, notebooks: list[str] | None = None) -> dict[str, Any]:
    """Every notebook (and the summary page) at ``profile``; writes and returns the record."""
    pages = sorted((ROOT / "notebooks").glob("*.md"))
    if notebooks:
        pages = [p for p in pages if p.stem in notebooks]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs) as pool:
        results = dict(zip([p.stem for p in pages],
                           pool.map(lambda p: record_page(p, profile, Path(tmp)), pages)))
    data = {"profile": profile, "pages": results}
    out.write_text(json.dumps(data, indent=1, sort_keys=True))
    return data


def _is_timing(key: str) -> bool:
    return any(mark in key.lower() for mark in TIMING_MARKS)


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(differences, differences in timing values and figure bytes) between two records, one line each."""
    diffs, timing = [], []
    for page in sorted(set(a["pages"]) | set(b["pages"])):
        pa, pb = a["pages"].get(page, {}), b["pages"].get(page, {})
        if pa.get("status") != pb.get("status"):
            diffs.append(f"{page}: exit status {pa.get('status')} -> {pb.get('status')}")
        for claim in sorted(set(pa.get("verdicts", {})) | set(pb.get("verdicts", {}))):
            va, vb = pa.get("verdicts", {}).get(claim), pb.get("verdicts", {}).get(claim)
            if va != vb:
                diffs.append(f"{page} {claim}: {va} -> {vb}")
        ga, gb = pa.get("glue", {}), pb.get("glue", {})
        for key in sorted(set(ga) | set(gb)):
            if ga.get(key) != gb.get(key):
                line = f"{page} glue {key}: {str(ga.get(key))[:120]!r} -> {str(gb.get(key))[:120]!r}"
                figure = all(str(g.get(key, "")).split(":")[0] in FIGURE_MIMES.values() for g in (ga, gb))
                (timing if _is_timing(key) or figure else diffs).append(line)
    return diffs, timing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booksite.pagerecord", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run every notebook at a profile and record what it says")
    rec.add_argument("--profile", choices=("smoke", "book"), required=True)
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--jobs", type=int, default=2)
    rec.add_argument("notebooks", nargs="*", help="notebook names (default: all)")
    cmp_ = sub.add_parser("compare", help="compare two records")
    cmp_.add_argument("before", type=Path)
    cmp_.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        data = record(args.profile, args.out, args.jobs, args.notebooks)
        for page, info in data["pages"].items():
            print(f"{page}: exit {info['status']}, {len(info.get('verdicts', {}))} verdicts, "
                  f"{len(info.get('glue', {}))} glued values")
        return 0
    diffs, timing = compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()))
    print(f"{len(diffs)} differences, {len(timing)} differences in timing values or figure bytes")
    for line in diffs:
        print("  " + line)
    for line in timing:
        print("  (timing or figure bytes) " + line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
