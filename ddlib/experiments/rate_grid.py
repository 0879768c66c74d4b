"""The pre-registered grid of the memory law as a rate (``data/memory_law/rate_grid/``; its design is in
``PREREGISTRATION.md`` there, committed before any point): lines through the base point, corners
where one term dominates, three methods on every point, computed and committed **line by line**.

    python -m ddlib.experiments.rate_grid regenerate --line L [--workers 2]   # one line, resumable
    python -m ddlib.experiments.rate_grid status                              # lines in, checksums, sentinels

Each line is its own folder (``lines/<line>/``: the sweep's checksummed point files, ``table.csv``
and ``manifest.json``); a line's manifest says "done" only once every point of every method and
seed is in, with the line's sentinel point (its cheapest point, recomputed bit for bit by
``check_sentinels``) and the sha256 of every file.  ``load_lines`` reads the lines that are done.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from ..io import ArtifactError, read_json, write_json
from ..provenance import provenance
from ..sweep import Grid, run_sweep
from .memory_search import memory_point
from .sentinels import SentinelCheck, recompute

__all__ = ["DATA_DIR", "BASE", "SEARCH", "METHODS", "LINES", "SEEDS", "n_rule", "line_points", "design_rows",
           "regenerate_line", "load_lines", "line_status", "check_sentinels", "main"]

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "memory_law" / "rate_grid"
BASE = {"r": 2, "d": 64, "width": 1024}
SEEDS = [0, 1, 2, 3, 4]  # 5 per point (PREREGISTRATION.md: 10 where an exponent's interval is wider than 0.3)
# The search: the memory search's defaults (a selection sample of its own, the lean schedule), the
# pre-registered targets and caps.
SEARCH = {"link": "he2", "steps1": 300, "steps2": 200, "lr": 0.05, "restarts": 3, "n_test": 10_000,
          "targets": "abs:0.1,abs:0.2", "m1_max": 128, "m2_max": 512, "selection": "separate", "search": "lean"}
METHODS = (("gm-cos", "kip"), ("spectral", "kip"), ("select", "select"))


def n_rule(r: int) -> int:
    """n / d^2 off the n line: 4 max(1, r/2) (the full-data error of he2 grows with r)."""
    return max(4, 2 * int(r))


LINES: dict[str, list[dict[str, int]]] = {
    "r": [{"r": r, "d": 64, "width": 1024, "n_per_d2": n_rule(r)} for r in (1, 2, 3, 4, 6, 8)],
    "d": [{"r": 2, "d": d, "width": 1024, "n_per_d2": n_rule(2)} for d in (32, 64, 128, 256)],
    "L": [{"r": 2, "d": 64, "width": L, "n_per_d2": n_rule(2)} for L in (128, 256, 512, 1024, 2048)],
    "n": [{"r": 2, "d": 64, "width": 1024, "n_per_d2": k} for k in (1, 2, 4, 8, 16)],
    "corner-r2d": [{"r": 8, "d": 256, "width": 128, "n_per_d2": n_rule(8)}],
    "corner-L": [{"r": 1, "d": 32, "width": 2048, "n_per_d2": n_rule(1)}],
}


def line_points(line: str) -> list[dict[str, Any]]:
    """Every (point, method) of a line as ``memory_point`` keyword arguments, seeds aside."""
    if line not in LINES:
        raise ValueError(f"line must be one of {list(LINES)}, got {line!r}")
    return [{**SEARCH, **pt, "stage1": s1, "stage2": s2} for pt in LINES[line] for s1, s2 in METHODS]


def design_rows() -> pd.DataFrame:
    """The pre-registered design itself: every task size of every line, once per seed (r, d,
    width, n_train, seed, line) -- where the negative controls of the rate claims draw their
    synthetic floats, so that a control can fail on a line before that line's data are in."""
    rows = [{"r": pt["r"], "d": pt["d"], "width": pt["width"], "n_train": pt["n_per_d2"] * pt["d"] ** 2,
             "seed": seed, "line": line} for line, pts in LINES.items() for pt in pts for seed in SEEDS]
    return pd.DataFrame(rows).drop_duplicates(subset=["r", "d", "width", "n_train", "seed"]).reset_index(drop=True)


def _line_dir(line: str, root: Path) -> Path:
    return Path(root) / "lines" / line


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def regenerate_line(line: str, *, root: Optional[Path | str] = None, workers: Optional[int] = None,
                    backend: str = "local", progress: bool = True) -> dict[str, Any]:
    """Compute every point of ``line`` (resumable: stored points are reused) and write its table and
    manifest; the manifest says "running" until the last point is in."""
    folder = _line_dir(line, Path(root))
    sweep = folder / "sweep"
    folder.mkdir(parents=True, exist_ok=True)
    points = line_points(line)
    previous = read_json(folder / "manifest.json") if (folder / "manifest.json").is_file() else {}
    earlier = float(previous.get("wall_time_s", 0.0)) if previous.get("status") != "done" else 0.0
    write_json(folder / "manifest.json", {"kind": "ddlib-memory-rate-line", "line": line, "status": "running",
                                          "points": points, "seeds": SEEDS, "wall_time_s": earlier})
    start = time.perf_counter()
    tables = []
    for pt in points:
        grid = Grid(params={}, seeds=list(SEEDS), fixed=pt)
        t = run_sweep(memory_point, grid, results_dir=str(sweep), backend=backend, workers=workers,
                      progress=progress)
        tables.append(t.assign(method=f"{pt['stage1']}+{pt['stage2']}", line=line))
    table = pd.concat(tables, ignore_index=True)
    (folder / "table.csv").write_bytes(table.to_csv(index=False).encode())
    records = {p.stem: read_json(p) for p in sorted((sweep / "points").glob("*.json"))}
    cheapest = min(records, key=lambda k: (float(records[k]["wall_time_s"]), k))
    times = [float(r["wall_time_s"]) for r in records.values()]
    manifest = {
        "kind": "ddlib-memory-rate-line", "line": line, "status": "done", "points": points, "seeds": SEEDS,
        "methods": [f"{a}+{b}" for a, b in METHODS], "n_rows": int(len(table)),
        "sentinel": cheapest, "provenance": provenance(), "workers": workers,
        "wall_time_s": earlier + time.perf_counter() - start,
        "point_time_s": {"total": sum(times), "max": max(times)},
        "files": {p.relative_to(folder).as_posix(): _sha256(p) for p in sorted(folder.rglob("*"))
                  if p.is_file() and p.name not in ("manifest.json",) and not p.name.startswith(".")},
    }
    write_json(folder / "manifest.json", manifest)
    return manifest


def load_lines(root: Optional[Path | str] = None) -> pd.DataFrame:
    """The table of every line whose manifest says "done", its files checked against their sha256
    (a changed file raises ``ArtifactError``); an empty table when no line is in yet.  ``root``:
    default ``DATA_DIR``."""
    tables = []
    for folder in sorted((Path(DATA_DIR if root is None else root) / "lines").glob("*")):
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            continue
        manifest = read_json(manifest_path)
        if manifest.get("status") != "done":
            continue
        for name, digest in manifest["files"].items():
            if _sha256(folder / name) != digest:
                raise ArtifactError(f"{folder / name}: its sha256 differs from the line's manifest")
        tables.append(pd.read_csv(folder / "table.csv"))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def line_status(root: Optional[Path | str] = None) -> dict[str, str]:
    """Each line's state: "done", "running" (some points stored) or "not started"."""
    out = {}
    for line in LINES:
        path = _line_dir(line, Path(DATA_DIR if root is None else root)) / "manifest.json"
        out[line] = read_json(path).get("status", "?") if path.is_file() else "not started"
    return out


def check_sentinels(root: Optional[Path | str] = None) -> list[SentinelCheck]:
    """Recompute each finished line's sentinel point with today's code and compare, bit for bit
    (``root``: default ``DATA_DIR``)."""
    out = []
    for folder in sorted((Path(DATA_DIR if root is None else root) / "lines").glob("*")):
        manifest = read_json(folder / "manifest.json") if (folder / "manifest.json").is_file() else {}
        if manifest.get("status") != "done":
            continue
        record = read_json(folder / "sweep" / "points" / f"{manifest['sentinel']}.json")
        out.append(recompute(f"line {manifest['line']}, point {manifest['sentinel']}",
                             lambda rec=record: memory_point(**rec["point"]), record["result"]))
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddlib.experiments.rate_grid", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("regenerate", help="compute one line (resumable)")
    reg.add_argument("--line", required=True, choices=list(LINES))
    reg.add_argument("--workers", type=int, default=None)
    reg.add_argument("--root", type=Path, default=DATA_DIR)
    st = sub.add_parser("status", help="which lines are in; recompute their sentinels")
    st.add_argument("--root", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    if args.command == "regenerate":
        m = regenerate_line(args.line, root=args.root, workers=args.workers)
        print(f"line {args.line}: {m['n_rows']} rows, {m['wall_time_s']:.0f} s wall")
        return 0
    for line, status in line_status(args.root).items():
        m = read_json(_line_dir(line, args.root) / "manifest.json") if status == "done" else {}
        print(f"line {line}: {status}" + (f" ({m['n_rows']} rows, {m['wall_time_s']:.0f} s wall with "
                                          f"{m.get('workers') or 'all'} workers)" if m else ""))
    checks = check_sentinels(args.root)
    for c in checks:
        print(c.line())
    return 0 if all(c.current for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
