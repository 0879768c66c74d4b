"""The memory law at paper scale: the grid behind notebook 03's committed data, the one command
that regenerates it, the checksum-verified reader the page uses, and the paper-scale claims.

    python -m ddlib.experiments.memory_law regenerate   # the full grid, resumable (2 workers: a few hours)
    python -m ddlib.experiments.memory_law status       # complete? current (its sentinels recomputed)? digest

The data lives in ``data/memory_law/`` (see its README.md): the sweep's per-point files
(``sweep/points/*.json``, each checksummed), the stacked table ``memory_law.csv`` and
``manifest.json`` (grid, seeds, provenance, wall times, the sha256 of every data file, and its
*sentinel points*: the cheapest stored point of each line).  The data are current when today's
code recomputes every sentinel point bit for bit (``check_sentinels``; ``ddlib.experiments.sentinels``),
so a refactor that changes no number keeps them current and any change to what the points compute
shows.  The book never recomputes the grid: the page reads it with ``load`` (a missing or corrupted
file raises) and recomputes one sentinel point live.  The paper-scale claims are declared
(``paper_plan``, ``paper_checks``, ``paper_measures``, ``paper_regimes``) and decided by
``ddlib.book.claims.verdicts`` (``paper_claims``).  They are decided on committed data, not by a
run, so each one's negative control (``PAPER_CONTROLS``) is synthetic data on the same grid that
violate it (``synthetic_data``, ``paper_control_record``): the claim must not hold on them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..book.claims import CheckSpec, Claim, ClaimDecl, Control, Precondition, verdicts
from ..book.controls import claims_under_controls
from ..io import ArtifactError, read_json, write_json
from ..provenance import provenance
from ..scaling import FLAT, loglog_slope
from ..stats import Interval
from .memory import (EXECUTION, bound_ratios, floor10, LINES, PLATEAU, PROFILES, X_OF, above_plateau, long_table, memory_point, parse_targets,
                     ratio_at_most, run_memory, seed_slopes_counted, show)
from .parameters import resolve_parameters
from .regime import full_data_learns, learnable_link
from .sentinels import SentinelCheck, recompute

__all__ = ["DATA_DIR", "MIN_SEEDS", "grid_definition", "data_digest", "regenerate", "choose_sentinels",
           "check_sentinels",
           "MemoryLawData", "MemoryLawDataError", "load", "SOURCE", "paper_checks", "paper_plan", "paper_measures",
           "paper_regimes", "paper_claims", "synthetic_data", "follows_the_rate", "PAPER_CONTROLS",
           "paper_control_claims", "paper_control_record", "stage1_plateau", "exponent_reading", "show"]

PACKAGE = Path(__file__).resolve().parents[1]  # .../ddlib
DATA_DIR = PACKAGE.parent / "data" / "memory_law"
SWEEP, TABLE, MANIFEST = "sweep", "memory_law.csv", "manifest.json"
MIN_SEEDS = 5  # repetitions per point the paper-scale claims need
MIN_SIZES, MIN_RANGE = 3, 4.0  # a slope needs at least 3 sizes over at least a 4-fold range
KIND = "ddlib-memory-law"
LEGACY_SELECTION = "test"  # how a point stored without ``selection`` chose its sizes (memory_search.SELECTIONS)
LEGACY_SEARCH = "exhaustive"  # ... and the probe schedule it searched with (memory_search.SEARCHES)
SOURCE = "committed paper-scale data"  # where the paper-scale claims' data come from


class MemoryLawDataError(ArtifactError):
    """The committed data is missing, incomplete, corrupted or does not match its manifest."""


# ----------------------------------------------------------------------------------------------
# The grid and the code that produces it
# ----------------------------------------------------------------------------------------------

def grid_definition(pilot: bool = False) -> dict[str, Any]:
    """The paper-scale grid: notebook 03's paper profile at base seed 0 (its search and learner
    are the book profile's), without the execution options.

    ``pilot``: the same search on the cheap points of each line with 2 repetitions (r in 1..3,
    d in 32, 64, L in 256, 512, n in d^2, 4 d^2) -- a subset of the full grid, so a full
    regeneration with the same code reuses its points.
    """
    P = resolve_parameters(PROFILES, "paper", seed=0)
    grid = {k: v for k, v in P.items() if k not in EXECUTION}
    if pilot:
        grid.update(n_seeds=2, r_grid=[1, 2, 3], d_grid=[32, 64], width_grid=[256, 512], n_per_d2_grid=[1, 4])
    return grid


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _data_files(root: Path) -> list[Path]:
    """The data files of a data folder: the manifest, the table and the sweep folder's files
    (not its lock or ddlib's temporaries)."""
    files = [root / MANIFEST, root / TABLE]
    sweep = root / SWEEP
    if sweep.is_dir():
        files += sorted(p for p in sweep.rglob("*")
                        if p.is_file() and p.name != ".lock" and not p.name.endswith(".tmp"))
    return [p for p in files if p.is_file()]


def data_digest(root: Path | str = DATA_DIR) -> str:
    """sha256 over the relative path and bytes of every committed data file: the key the book's
    execution cache adds for notebook 03, so new data re-executes the page."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in _data_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------
# Regeneration
# ----------------------------------------------------------------------------------------------

def _machine() -> dict[str, Any]:

    model = "unknown"
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), model)
    except OSError:
        pass
    return {**provenance(), "cpu_model": model, "machine": platform.machine()}


def _point_times(sweep: Path) -> list[float]:
    """The wall time of every stored point (each ran on one core)."""
    return [float(read_json(p)["wall_time_s"]) for p in sorted((sweep / "points").glob("*.json"))]


def _point_records(sweep: Path) -> dict[str, dict]:
    """Every stored point record of a sweep folder, by its key."""
    return {p.stem: read_json(p) for p in sorted((sweep / "points").glob("*.json"))}


def _point_arguments(point: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of ``memory_point`` that made a stored point.  A point stored without a
    ``selection`` predates both the selection sample and the lean search (the committed grid): every
    probe on its test sample, the exhaustive schedule.  Any later point made by the defaults it does
    not name."""
    legacy = {} if "selection" in point else {"selection": LEGACY_SELECTION, "search": LEGACY_SEARCH}
    return {**legacy, **point}


def _recompute_point(name: str, record: Mapping[str, Any]) -> SentinelCheck:
    point = _point_arguments(record["point"])
    return recompute(name, lambda: memory_point(**point), record["result"])


def choose_sentinels(table: pd.DataFrame, records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """The sentinel points of a grid: on each line of ``table``, the stored point that took the
    least time to compute (ties: its key).  Returns ``[{"line": ..., "key": ...}]``."""
    by_point = {tuple(rec["point"][k] for k in (*LINES.values(), "seed")): key for key, rec in records.items()}
    chosen = []
    for line in sorted(table.line.unique()):
        rows = table[table.line == line][[*LINES.values(), "seed"]].drop_duplicates()
        keys = [by_point[tuple(row)] for row in rows.itertuples(index=False) if tuple(row) in by_point]
        if keys:
            chosen.append({"line": str(line),
                           "key": min(keys, key=lambda k: (float(records[k]["wall_time_s"]), k))})
    return chosen


def check_sentinels(root: Path | str = DATA_DIR, *, limit: Optional[int] = None) -> list[SentinelCheck]:
    """Recompute the committed sentinel points (the cheapest first; at most ``limit``) with today's
    code and compare each with its stored result, bit for bit.

    Raises:
        MemoryLawDataError: the manifest names no sentinel points, or one is missing.
    """
    root = Path(root)
    manifest = read_json(root / MANIFEST)
    sentinels = manifest.get("sentinels") or []
    if not sentinels:
        raise MemoryLawDataError(f"{root / MANIFEST}: no sentinel points; regenerate the data")
    records = []
    for s in sentinels:
        path = root / SWEEP / "points" / f"{s['key']}.json"
        if not path.is_file():
            raise MemoryLawDataError(f"{path}: the sentinel point of line {s['line']} is missing")
        records.append((s["line"], read_json(path)))
    records.sort(key=lambda lr: float(lr[1]["wall_time_s"]))
    return [_recompute_point(f"line {line}, point {rec['key']}", rec) for line, rec in records[:limit]]


def _stored_points_current(sweep: Path, selection: str) -> tuple[bool, str]:
    """Whether the points stored in ``sweep`` can be reused by a grid whose search chooses on
    ``selection``: made the same way, and recomputed bit for bit by today's code (the cheapest)."""
    records = _point_records(sweep)
    if not records:
        return True, "no stored point"
    key = min(records, key=lambda k: (float(records[k]["wall_time_s"]), k))
    stored = _point_arguments(records[key]["point"])["selection"]
    if stored != selection:
        return False, f"they chose their sizes on selection={stored!r}, the grid on {selection!r}"
    check = _recompute_point(f"point {key}", records[key])
    return check.current, check.detail


def regenerate(*, pilot: bool = False, root: Path | str = DATA_DIR, backend: str = "local",
               workers: Optional[int] = None, progress: bool = True,
               grid: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Compute the grid (``grid_definition(pilot)``, or ``grid``) into ``root`` (resumable) and
    write its table and manifest, with the grid's sentinel points (``choose_sentinels``).

    Points already stored are reused when today's code recomputes the cheapest of them bit for
    bit, so an interrupted regeneration resumes and the full grid reuses the pilot's points;
    otherwise they are stale and the sweep folder is cleared first.  The manifest says "running"
    until every point is in (``load`` refuses the data meanwhile).

    Returns:
        The manifest written.
    """
    root = Path(root)
    grid = dict(grid if grid is not None else grid_definition(pilot))
    sweep = root / SWEEP
    try:
        previous = read_json(root / MANIFEST)
    except (ArtifactError, OSError):
        previous = None
    same = sweep.exists()
    if same:
        same, why = _stored_points_current(sweep, grid.get("selection", LEGACY_SELECTION))
        if not same:
            print(f"memory_law: clearing {sweep} (its points are of other code: {why})", file=sys.stderr)
            shutil.rmtree(sweep)
    earlier = float(previous.get("wall_time_s", 0.0)) if same and previous is not None else 0.0
    root.mkdir(parents=True, exist_ok=True)
    complete = _canonical(grid) == _canonical(grid_definition())
    write_json(root / MANIFEST, {"kind": KIND, "status": "running", "grid": grid, "complete": complete,
                                 "wall_time_s": earlier})
    start = time.perf_counter()
    table = run_memory(grid, results_dir=str(sweep), backend=backend, workers=workers, progress=progress)
    wall = time.perf_counter() - start
    (root / TABLE).write_bytes(table.to_csv(index=False).encode())
    times = _point_times(sweep)
    files = {p.relative_to(root).as_posix(): _sha256(p) for p in _data_files(root) if p.name != MANIFEST}
    manifest = {
        "kind": KIND, "status": "done", "grid": grid, "complete": complete,
        "sentinels": choose_sentinels(table, _point_records(sweep)),
        "seeds": sorted(int(s) for s in table.seed.unique()),
        "n_rows": int(len(table)), "n_points": int(len(table.drop_duplicates([*LINES.values(), "seed"]))),
        "provenance": _machine(), "backend": backend,
        "workers": 1 if backend == "inline" else (workers or os.cpu_count()),
        # the finished runs that computed the points (a resumed run adds to the earlier ones)
        "wall_time_s": earlier + wall,
        "point_time_s": {"total": float(sum(times)), "max": float(max(times)), "median": float(np.median(times))},
        "files": files,
    }
    write_json(root / MANIFEST, manifest)
    return manifest


# ----------------------------------------------------------------------------------------------
# Reading it back
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MemoryLawData:
    """The committed grid as the page reads it.

    Attributes:
        table: ``run_memory``'s stacked table (one row per line and point).
        long: ``long_table(table)``: one row per line, point and target.
        manifest: the manifest (grid, provenance, sentinel points, file checksums).
        digest: ``data_digest`` of the folder.

    Whether the data are current is decided by recomputing their sentinel points
    (``check_sentinels``), not here: reading the data costs nothing.
    """

    table: pd.DataFrame
    long: pd.DataFrame
    manifest: dict
    digest: str

    @property
    def grid(self) -> dict:
        return self.manifest["grid"]

    @property
    def complete(self) -> bool:
        """The full paper-scale grid (not the pilot)."""
        return bool(self.manifest.get("complete"))

    def origin(self) -> str:
        """"ddlib 0.1.0, commit abc123" -- who made the data."""
        prov = self.manifest["provenance"]
        return f"ddlib {prov['ddlib_version']}, commit {prov['git_sha'][:12]}"


def load(root: Path | str = DATA_DIR) -> MemoryLawData:
    """The committed data, every file checked against the manifest's sha256.

    Raises:
        MemoryLawDataError: the manifest is missing, corrupted or of a run still going; a data
            file is missing, altered or unlisted; the table does not match the manifest.
    """
    root = Path(root)
    try:
        manifest = read_json(root / MANIFEST)
    except ArtifactError as exc:
        raise MemoryLawDataError(f"the committed memory-law data is unreadable: {exc}") from None
    if manifest.get("kind") != KIND or manifest.get("status") != "done":
        raise MemoryLawDataError(f"{root / MANIFEST}: not a finished memory-law run (status "
                                 f"{manifest.get('status')!r}); run python -m ddlib.experiments.memory_law regenerate")
    listed = manifest.get("files") or {}
    present = {p.relative_to(root).as_posix() for p in _data_files(root) if p.name != MANIFEST}
    if set(listed) != present:
        missing, extra = sorted(set(listed) - present), sorted(present - set(listed))
        raise MemoryLawDataError(f"{root}: data files do not match the manifest (missing {missing[:3]}, "
                                 f"unlisted {extra[:3]})")
    for rel, sha in listed.items():
        if _sha256(root / rel) != sha:
            raise MemoryLawDataError(f"{root / rel}: checksum mismatch, the file is corrupted or was edited")
    table = pd.read_csv(root / TABLE)
    if len(table) != manifest["n_rows"]:
        raise MemoryLawDataError(f"{root / TABLE}: {len(table)} rows, the manifest says {manifest['n_rows']}")
    return MemoryLawData(table, long_table(table), manifest, data_digest(root))


def stage1_plateau(table: pd.DataFrame) -> pd.DataFrame:
    """Per point: the stage-1-only test MSE (stage 2 on all the real data) at the largest m1 its
    search tried, and its ratio to the full-data error -- where the stage-1 curve flattens."""
    rows = []
    for row in table.drop_duplicates(["r", "d", "width", "n_train", "seed"]).itertuples():
        trace = {int(k): v for k, v in json.loads(row.stage1_trace).items()}
        m1 = max(trace)
        rows.append({"r": row.r, "d": row.d, "width": row.width, "n_train": row.n_train, "seed": row.seed,
                     "m1": m1, "mse": trace[m1], "full_mse": row.full_mse, "ratio": trace[m1] / row.full_mse})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# The paper-scale claims
# ----------------------------------------------------------------------------------------------

def _targets(grid: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, float]], str]:
    """The grid's targets: every label, the absolute ones tightest first as (label, MSE), and the
    relative one the r claim uses (the first relative target, else the first target)."""
    parsed = parse_targets(grid["targets"])
    fixed = sorted(((label, v) for label, kind, v in parsed if kind == "abs"), key=lambda t: t[1])
    relative = next((label for label, kind, _ in parsed if kind == "rel"), parsed[0][0])
    return [label for label, _, _ in parsed], fixed, relative


def _rate_exponent(grid: Mapping[str, Any], line: str) -> float:
    """The log-log slope of the paper's rate r^2 d + L (in floats; in points at fixed d) along one
    line of the grid, the other factors at the base point: the growth a tight rate predicts there."""
    param = LINES[line]
    xs = sorted(grid[f"{param}_grid"])
    size = lambda v: {**{k: grid[k] for k in LINES.values()}, param: v}  # noqa: E731
    rate = [size(v)["r"] ** 2 * size(v)["d"] + size(v)["width"] for v in xs]
    return loglog_slope(xs, rate) if len(set(xs)) >= 2 else math.nan


def paper_checks(grid: Mapping[str, Any]) -> dict[str, CheckSpec]:
    """The checks of the paper-scale claims, keyed ``<quantity>@<target>``, with thresholds from
    the paper's rate r^2 d + L (its exponents, the +-FLAT band of no growth, its own distance from
    the network and the data on this grid, rounded down to a power of ten) and from the targets'
    ratio -- none tuned on the data.  ``r_hi`` and ``eps_lo`` are the consistency sides of C3.P4 and
    C3.P6 (``paper_plan``)."""
    labels, fixed, relative = _targets(grid)
    ratios = bound_ratios(grid)
    band = f"the no-growth band: |exponent| <= {FLAT:g} (x^{FLAT:g} is at most about 2x over the 16-64x ranges)"
    checks: dict[str, CheckSpec] = {}
    for t, _ in fixed:
        name = f"exponent of the certified points in n ({show(t)})"
        basis = f"the paper's rate r^2 d + L does not depend on n (exponent 0), within {band}"
        checks[f"n_lo@{t}"] = CheckSpec(name, ">=", -FLAT, basis, origin="paper")
        checks[f"n_hi@{t}"] = CheckSpec(name, "<=", FLAT, basis, origin="paper")
        name = f"exponent of the certified points in L ({show(t)})"
        basis = (f"no growth in L at a fixed accuracy, {band}; a tight +L term of the paper's rate would give "
                 f"{_rate_exponent(grid, 'L'):.2f} over this range")
        checks[f"L_lo@{t}"] = CheckSpec(name, ">=", -FLAT, basis, origin="paper")
        checks[f"L_hi@{t}"] = CheckSpec(name, "<=", FLAT, basis, origin="paper")
        checks[f"network@{t}"] = CheckSpec(
            f"network L(d+2) / distilled floats, smallest over sizes ({show(t)})", ">=", floor10(ratios["network"]),
            f"the paper's rate r^2 d + L lies >= {ratios['network']:.0f}x below the network L(d+2) on this grid, "
            f"rounded down to a power of ten", geometric=True, origin="paper")
        checks[f"data@{t}"] = CheckSpec(
            f"data n(d+1) / distilled floats, smallest over sizes ({show(t)})", ">=", floor10(ratios["data"]),
            f"the paper's rate r^2 d + L lies >= {ratios['data']:.0f}x below the real data n(d+1) on this grid, "
            f"rounded down to a power of ten", geometric=True, origin="paper")
    for t in labels:
        checks[f"d_hi@{t}"] = CheckSpec(f"exponent of the certified points in d ({show(t)})", "<=", FLAT,
                                        f"the paper's rate in points, (r^2 d + L)/(d + 1), does not grow with d "
                                        f"(exponent <= 0), plus the no-growth band {FLAT:g}", origin="paper")
    name = f"exponent of the certified points in r ({show(relative)})"
    checks[f"r_lo@{relative}"] = CheckSpec(name, ">=", FLAT, f"the paper's rate r^2 d + L grows with r: an exponent "
                                           f"beyond the no-growth band {FLAT:g}", origin="paper")
    checks[f"r_hi@{relative}"] = CheckSpec(name, "<=", 2.0, "the r^2 of the paper's rate r^2 d + L: at most 2",
                                           origin="paper")
    if len(fixed) >= 2:
        (lt, et), (ll, el) = fixed[0], fixed[-1]
        name = f"points at {show(lt)} / points at {show(ll)}, geometric mean over sizes"
        checks["eps_lo"] = CheckSpec(name, ">=", 1.0, "a tighter target never needs fewer points", geometric=True,
                                     origin="closed form")
        checks["eps_hi"] = CheckSpec(name, "<=", el / et, f"the paper's rate r^2 d + L carries no power of the "
                                     f"accuracy: below {el / et:g}, the ratio of the targets, which a memory growing "
                                     f"like 1/eps would need", geometric=True, origin="paper")
    return checks


def _line_targets(grid: Mapping[str, Any]) -> dict[str, list[str]]:
    """The targets each line's claim is made at: the absolute ones on n and L (none without an
    absolute target: no claim), every target on d, the relative one on r."""
    labels, fixed, relative = _targets(grid)
    return {"n": [t for t, _ in fixed], "L": [t for t, _ in fixed], "d": labels, "r": [relative]}


def _slope_keys(line: str, sides: Sequence[str], per_line: Mapping[str, Sequence[str]],
                data: Optional[MemoryLawData]) -> tuple[str, ...]:
    """The check keys of a line's slope claim: every target of the line, or, given ``data``, the
    targets that can be fitted on it (all of them when none can)."""
    targets = per_line[line]
    if data is not None:
        targets = _fit_precondition(data, line, targets)[1] or targets
    return tuple(f"{line}_{side}@{t}" for t in targets for side in sides)


def _paper_claim(cid: str, statement: str, keys: Sequence[str], regime: str, control: str = "",
                 consistency: str = "") -> ClaimDecl:
    """A paper-scale claim: its data are the committed grid."""
    return ClaimDecl(cid, statement, tuple(keys), regime, source=SOURCE, control=control, consistency=consistency)


def paper_plan(grid: Mapping[str, Any], data: Optional[MemoryLawData] = None) -> list[ClaimDecl]:
    """The paper-scale claims (ids C3.P1 ...), declared; their data are the committed grid.

    The paper's rate is the memory that reaches a fixed accuracy, so the claims on n, L and the
    memory ratios are made at the absolute targets; the one on r at the relative target, because a
    fixed accuracy stops being reachable as r grows (the full-data error grows with r).  A target
    counts at a size only where it lies at least PLATEAU times above the full-data error.

    The claims, their thresholds and the ranges they need come from the grid definition, never from
    the data, with one exception: given ``data``, a line's claim checks only the targets that lie
    above the stage-1 plateau at enough sizes of that line to fit a slope (``_fit_precondition``;
    every target when none does, and then the claim is outside its regime, ``paper_regimes``).
    Without ``data`` (the page's claim block), every target of the line.

    Each claim names its negative control (``PAPER_CONTROLS``); the sides no data in the regime can
    fail (the r^2 upper bound of C3.P4, the lower bound 1 of C3.P6) are declared apart as consistency
    checks (C3.P4a, C3.P6a: reported, not counted).
    """
    labels, fixed, relative = _targets(grid)
    checks = paper_checks(grid)
    per_line = _line_targets(grid)
    rng = lambda param: f"{min(grid[param + '_grid']):g} to {max(grid[param + '_grid']):g}"  # noqa: E731
    at = " and ".join(show(t) for t, _ in fixed)
    where = f"at the sizes where it lies >= {PLATEAU:g}x above the full-data error"

    slopes = lambda line, sides: _slope_keys(line, sides, per_line, data)  # noqa: E731
    claim = _paper_claim
    out = []
    if fixed:
        out += [claim("C3.P1", f"At a fixed test error ({at}, {where}) the number of certified points does not grow "
                               f"with the real data: over n = {rng('n_per_d2')} d^2 its exponent lies within "
                               f"+-{FLAT:g} (the paper's rate r^2 d + L does not depend on n).",
                      slopes("n", ("lo", "hi")), "line n", control="points grow with n"),
                claim("C3.P2", f"At a fixed test error ({at}, {where}) the number of certified points does not grow "
                               f"with the width: over L = {rng('width')} its exponent lies within +-{FLAT:g}. This "
                               f"tests the absence of growth in L at a fixed accuracy, not the paper's rate: a tight "
                               f"+L term of r^2 d + L would make it grow with exponent "
                               f"{_rate_exponent(grid, 'L'):.2f} over this range.",
                      slopes("L", ("lo", "hi")), "line L", control="points grow with L")]
    out += [
        claim("C3.P3", f"At every target ({where}) the number of certified points does not grow with d (d = "
                       f"{rng('d')}, exponent <= {FLAT:g}): the floats grow only through the d + 1 floats of each "
                       f"point, as the paper's rate (r^2 d + L)/(d + 1) in points does.", slopes("d", ("hi",)),
              "line d", control="points grow with d"),
        claim("C3.P4", f"To reach {show(relative)} it grows with r (r = {rng('r')}): its exponent is at least "
                       f"{FLAT:g}, beyond the no-growth band (the paper's rate r^2 d + L grows with r).",
              slopes("r", ("lo",)), "line r", control="points flat in r"),
        claim("C3.P4a", f"To reach {show(relative)} its exponent in r (r = {rng('r')}) is at most the 2 that "
                        f"r^2 d + L allows.", slopes("r", ("hi",)), "line r",
              consistency="the most the paper's rate allows, not a test of it: from r = 1 to 6 an exponent of "
                          "2 needs 36 times the points, while the relative target loosens as the full-data error "
                          "grows with r, so no control in the regime comes near it"),
    ]
    if fixed:
        t = fixed[0][0]
        out.append(claim("C3.P5", f"At a fixed test error ({at}, {where}) the distilled set stores at least "
                                  f"{checks[f'network@{t}'].threshold:g}x fewer floats than the trained network and "
                                  f"{checks[f'data@{t}'].threshold:g}x fewer than the real data (the factors by which "
                                  f"the paper's rate r^2 d + L lies below them on this grid).",
                         [f"{q}@{t}" for t, _ in fixed for q in ("network", "data")], "every line",
                         control="memory as large as the network"))
    if "eps_lo" in checks:
        (lt, _), (ll, _) = fixed[0], fixed[-1]
        out.append(claim("C3.P6", f"A tighter target needs fewer additional points than 1/eps would: from {show(ll)} "
                                  f"to {show(lt)} ({where}) the number of points grows by a factor of at most "
                                  f"{checks['eps_hi'].threshold:g}, the ratio of the targets.", ("eps_hi",),
                         "every line", control="points grow like 1/eps"))
        out.append(claim("C3.P6a", f"A tighter target never needs fewer points: from {show(ll)} to {show(lt)} "
                                   f"({where}) the number of points grows by a factor of at least 1.", ("eps_lo",),
                         "every line",
                         consistency="holds by construction: the searches of all targets share their probes, so "
                                     "a set that reaches the tighter target also reaches the looser one"))
    return out


def _line_ready(data: MemoryLawData, line: str, grid: Mapping[str, Any]) -> Precondition:
    """The line was measured over the grid's whole range with at least MIN_SEEDS repetitions per size."""
    param = LINES[line]
    t = data.table[data.table.line == line]
    want = sorted(grid[f"{param}_grid"])
    have = sorted(t[param].unique().tolist())
    per_size = t.groupby(param).seed.nunique()
    seeds = int(per_size.min()) if len(per_size) else 0
    return Precondition(f"{line} line measured at {want}, >= {MIN_SEEDS} repetitions each",
                        have == want and seeds >= MIN_SEEDS,
                        f"{line} at {have or 'none'}, {seeds} repetitions{'' if data.complete else ' (pilot data)'}")


def _fit_rows(data: MemoryLawData, line: str, target: str) -> pd.DataFrame:
    """The rows of one line and target that a slope may use: the sizes where the target lies above
    the stage-1 plateau (``memory.above_plateau``)."""
    rows = data.long[(data.long.line == line) & (data.long.target == target)]
    return rows[above_plateau(rows)]


def _fittable(rows: pd.DataFrame, line: str) -> bool:
    """At least MIN_SIZES sizes over at least a MIN_RANGE-fold range: enough for a slope."""
    xs = rows[X_OF[line]].unique()
    return len(xs) >= MIN_SIZES and float(xs.max()) >= MIN_RANGE * float(xs.min())


def _fit_precondition(data: MemoryLawData, line: str, targets: Sequence[str]) -> tuple[Precondition, list[str]]:
    """Which of ``targets`` lie above the plateau at enough sizes of the line to fit a slope."""
    ok, detail = [], []
    for t in targets:
        rows = _fit_rows(data, line, t)
        if _fittable(rows, line):
            ok.append(t)
        detail.append(f"{show(t)} at {line} = {sorted(rows[LINES[line]].unique().tolist()) or 'none'}")
    name = f"a target >= {PLATEAU:g}x the full-data error at >= {MIN_SIZES} {line} values over >= {MIN_RANGE:g}x"
    return Precondition(name, bool(ok), "; ".join(detail)), ok


def paper_measures(data: MemoryLawData, grid: Optional[Mapping[str, Any]] = None) -> dict[str, list[float]]:
    """Per repetition (seed), the quantity behind each check of ``paper_checks`` (same keys), on the
    sizes where its target lies above the stage-1 plateau; a slope only where enough such sizes
    remain (``_fittable``), a ratio over every such size.  Every repetition counts: a size without a
    certified set makes its repetition's value NaN (``memory.seed_slopes_counted``;
    ``memory.ratio_at_most`` for the memory ratios, which counts a bound where the stage-1 search
    ran out), so the check is inconclusive rather than decided on the other sizes."""
    grid = grid_definition() if grid is None else grid
    labels, fixed, _ = _targets(grid)
    checks = paper_checks(grid)
    keys = ["r", "d", "width", "n_train", "seed"]
    usable = data.long[above_plateau(data.long)]
    m1_max = int(grid["m1_max"])
    out: dict[str, list[float]] = {}
    for t in labels:
        for line in ("n", "L", "d", "r"):
            rows = _fit_rows(data, line, t)
            slopes = seed_slopes_counted(rows, X_OF[line], "points") if _fittable(rows, line) else []
            out[f"{line}_lo@{t}"], out[f"{line}_hi@{t}"] = list(slopes), list(slopes)
        sizes = usable[usable.target == t].drop_duplicates(keys)
        for q, ref in (("network", "network_floats"), ("data", "data_floats")):
            threshold = checks[f"{q}@{t}"].threshold if f"{q}@{t}" in checks else math.inf
            out[f"{q}@{t}"] = [ratio_at_most(g, ref, threshold, m1_max) for _, g in sizes.groupby("seed", sort=True)]
    if len(fixed) >= 2:
        a = usable[usable.target == fixed[0][0]].drop_duplicates(keys).set_index(keys).points
        b = usable[usable.target == fixed[-1][0]].drop_duplicates(keys).set_index(keys).points
        both = a.index.intersection(b.index)  # the sizes where both targets lie above the plateau
        ratio = a[both] / b[both]  # NaN where a target was not reached: its repetition's value is NaN
        logs = np.log(ratio.where(ratio > 0)).groupby(level="seed").agg(lambda v: v.mean(skipna=False))
        out["eps_lo"] = [float(np.exp(v)) for v in logs]
        out["eps_hi"] = list(out["eps_lo"])
    return out


_SIZE_KEYS = ["r", "d", "width", "n_train"]


def _setting(data: MemoryLawData, grid: Mapping[str, Any]) -> tuple[Precondition, ...]:
    """The paper's setting on the committed grid: a link of information exponent 2 and a full-data
    learner that learns at every size (``memory.regimes``' setting, without its plateau condition,
    which the claims here decide per target: ``_plateau_precondition``)."""
    worst = float(data.table.full_mse.max())
    return (learnable_link(grid["link"]), full_data_learns(worst, "(the largest over the sizes)", "at every size"))


def _plateau_precondition(data: MemoryLawData, targets: Sequence[str], line: Optional[str] = None) -> Precondition:
    """Per target and per point: where each target a claim checks lies at least PLATEAU times
    above the full-data error.  A point (size, repetition) is in the regime for a target when its
    target / full-data MSE is >= PLATEAU, a size when every repetition of it is (``above_plateau``,
    the sizes the claims' measures read); the claim needs each of its targets in the regime at one
    size at least.  Over the rows of ``line`` (None: every line)."""
    rows = data.long if line is None else data.long[data.long.line == line]
    rows = rows.drop_duplicates(["target", *_SIZE_KEYS, "seed"])
    ok, detail = True, []
    for t in targets:
        r = rows[rows.target == t]
        ratio = r.target_mse / r.full_mse
        sizes = r.drop_duplicates(_SIZE_KEYS)
        kept = r[above_plateau(r)].drop_duplicates(_SIZE_KEYS)
        ok = ok and len(kept) > 0
        detail.append(f"{show(t)}: {len(kept)} of {len(sizes)} sizes, {int((ratio >= PLATEAU).sum())} of {len(r)} "
                      f"points (target / full-data MSE {ratio.min():.3g} to {ratio.max():.3g})" if len(r) else
                      f"{show(t)}: no data")
    where = "" if line is None else f" of the {line} line"
    return Precondition(f"each target checked lies >= {PLATEAU:g}x above the full-data error (above the stage-1 "
                        f"plateau) at a size{where} at least: per target and point, only such sizes are read",
                        bool(targets) and ok, "; ".join(detail))


def paper_regimes(data: MemoryLawData, grid: Optional[Mapping[str, Any]] = None) -> dict[str, tuple[Precondition, ...]]:
    """Where the paper-scale claims apply, by the regime keys of ``paper_plan``: in the paper's
    setting (``_setting``), where each target a claim checks lies above the stage-1 plateau
    (``PLATEAU`` times the full-data error), decided per target and per point
    (``_plateau_precondition``: the checks read only such sizes), where the data cover a line's
    whole range with MIN_SEEDS repetitions per size (so pilot data is outside every claim's regime)
    and, for a line's claim ("line n", ... ), where at least one of its targets lies above the
    plateau at MIN_SIZES sizes over a MIN_RANGE-fold range; the claims on every line ("every line":
    the memory ratios and the target ratio, at the absolute targets) need every line measured."""
    grid = grid_definition() if grid is None else grid
    setting = _setting(data, grid)
    ready = {line: _line_ready(data, line, grid) for line in LINES}
    out = {}
    for line, targets in _line_targets(grid).items():
        if targets:
            fit, fitted = _fit_precondition(data, line, targets)
            out[f"line {line}"] = setting + (_plateau_precondition(data, fitted or targets, line), ready[line], fit)
    fixed = [t for t, _ in _targets(grid)[1]]
    out["every line"] = setting + ((_plateau_precondition(data, fixed),) if fixed else ()) + tuple(ready.values())
    return out


def paper_claims(data: MemoryLawData, grid: Optional[Mapping[str, Any]] = None) -> list[Claim]:
    """The paper-scale claims decided on the committed data, at the full paper-scale grid unless
    ``grid`` is given: ``verdicts`` of ``paper_plan``, ``paper_checks``, ``paper_measures`` and
    ``paper_regimes``."""
    grid = grid_definition() if grid is None else grid
    return verdicts(paper_plan(grid, data), paper_checks(grid).__getitem__, paper_measures(data, grid),
                    paper_regimes(data, grid))


# ----------------------------------------------------------------------------------------------
# The negative controls of the paper-scale claims: synthetic data that violate each claim
# ----------------------------------------------------------------------------------------------

def synthetic_data(points: Callable[[int, int, int, int, str], float], *, seeds: int = 5, complete: bool = True,
                   full: float = 0.02, grid: Optional[Mapping[str, Any]] = None,
                   full_of: Optional[Callable[[int, int, int, int], float]] = None) -> MemoryLawData:
    """Committed-looking data on ``grid`` (default the full grid) whose certified points follow
    ``points(r, d, L, n_per_d2, target)`` (times 0.98, 1, 1.02 across repetitions), with the
    full-data error ``full`` (or ``full_of(r, d, L, n_per_d2)``): what the paper-scale claims are
    decided on when their negative controls run (``paper_control_record``) and in the tests."""
    grid = dict(grid or grid_definition())
    labels = [label for label, _, _ in parse_targets(grid["targets"])]
    rows = []
    for line, param in LINES.items():
        for v in grid[f"{param}_grid"]:
            size = {k: grid[k] for k in LINES.values()} | {param: v}
            r, d, w, c = size["r"], size["d"], size["width"], size["n_per_d2"]
            for s in range(seeds):
                f = full if full_of is None else full_of(r, d, w, c)
                row = {"line": line, **size, "link": grid.get("link", "he2"), "seed": s, "n_train": c * d * d,
                       "full_mse": f, "r2d_plus_L": r * r * d + w, "network_floats": w * (d + 2),
                       "data_floats": c * d * d * (d + 1),
                       "stage1_trace": json.dumps({"1": 0.9, str(r + 1): 2.5 * f}), "pair_trace": "{}"}
                for t in labels:
                    pts = points(r, d, w, c, t) * (1 + 0.02 * ((s % 3) - 1))
                    row.update({f"target_{t}": 4 * f if t.startswith("rel") else float(t[3:]),
                                f"m1_star_{t}": r + 1, f"cert_m1_{t}": r + 1, f"cert_m2_{t}": pts - r - 1,
                                f"points_{t}": pts, f"floats_{t}": pts * (d + 1), f"mse_{t}": 3 * f,
                                f"stage1_failed_{t}": False})
                rows.append(row)
    table = pd.DataFrame(rows)
    manifest = {"grid": grid, "complete": complete, "provenance": {"ddlib_version": "synthetic", "git_sha": "none"}}
    return MemoryLawData(table, long_table(table), manifest, "synthetic")


def follows_the_rate(r: int, d: int, width: int, n_per_d2: int, target: str) -> float:
    """Synthetic certified points that satisfy every paper-scale claim: growing like r^1.3 (and
    not with d, L or n), 1.4 times more at abs:0.1 than at the other targets."""
    return (3 + r ** 1.3) * (1.4 if target == "abs0.1" else 1.0)


# Each paper-scale claim's negative control: synthetic data that follow the rate except in the one
# respect the claim is about (``synthetic_data``); the claim must not hold on them.
PAPER_CONTROLS: dict[str, Control] = {
    "points grow with n": Control("synthetic data whose certified points grow like n^0.5"),
    "points grow with L": Control("synthetic data whose certified points grow like L^0.5"),
    "points grow with d": Control("synthetic data whose certified points grow like d^0.5"),
    "points flat in r": Control("synthetic data whose certified points do not grow with r"),
    "memory as large as the network": Control("synthetic data whose certified sets store half the network's floats"),
    "points grow like 1/eps": Control("synthetic data needing 2.5x the points when the target halves"),
}
_CONTROL_LAWS: dict[str, Callable[[int, int, int, int, str], float]] = {
    "points grow with n": lambda r, d, w, c, t: follows_the_rate(r, d, w, c, t) * c ** 0.5,
    "points grow with L": lambda r, d, w, c, t: follows_the_rate(r, d, w, c, t) * (w / 256) ** 0.5,
    "points grow with d": lambda r, d, w, c, t: follows_the_rate(r, d, w, c, t) * (d / 32) ** 0.5,
    "points flat in r": lambda r, d, w, c, t: 10.0 * (1.4 if t == "abs0.1" else 1.0),
    "memory as large as the network": lambda r, d, w, c, t: w * (d + 2) / (d + 1) / 2,
    "points grow like 1/eps": lambda r, d, w, c, t: (3 + r ** 1.3) * (2.5 if t == "abs0.1" else 1.0),
}


def paper_control_claims(name: str, grid: Optional[Mapping[str, Any]] = None) -> list[Claim]:
    """The paper-scale claims decided on the synthetic data of control ``name`` (``PAPER_CONTROLS``)."""
    if name not in PAPER_CONTROLS:
        raise KeyError(f"no paper-scale control {name!r}; known: {list(PAPER_CONTROLS)}")
    grid = grid_definition() if grid is None else grid
    return paper_claims(synthetic_data(_CONTROL_LAWS[name], grid=grid), grid)


def paper_control_record(grid: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Every paper-scale claim under its negative control (synthetic data that violate it), in the
    format of ``ddlib.book.controls.control_record`` (so ``ddlib.book.pages.control_block`` shows it)."""
    grid = grid_definition() if grid is None else grid
    plan = paper_plan(grid)
    record: dict[str, Any] = {"notebook": "03_memory", "profile": "synthetic paper-scale data", "seed": 0,
                              "claims": {}, "runs": {}}
    decided = {name: {c.id: c for c in paper_control_claims(name, grid)}
               for name in dict.fromkeys(d.control for d in plan if d.control)}
    record["claims"] = claims_under_controls(plan, PAPER_CONTROLS, decided)
    for name in decided:
        record["runs"][name] = {"what": PAPER_CONTROLS[name].what, "sabotage": "", "parameters": {}}
    return record


def exponent_reading(measured: Interval, factor: str, verdict: str) -> str:
    """A sentence placing an exponent's interval against linear (1) and quadratic (2) growth."""
    est, lo, hi = measured.estimate, measured.lo, measured.hi
    if not math.isfinite(est):
        return (f"In {factor} the exponent of the points is not measured here: fewer than {MIN_SIZES} sizes over a "
                f"{MIN_RANGE:g}-fold range lie above the stage-1 plateau.")
    if not measured.defined:
        return f"In {factor} the exponent of the points is {est:.2f}, with no interval (a single repetition)."
    where = ("below 1: slower than linear" if hi < 1 else
             "about linear: its interval contains 1 and lies below 2" if lo <= 1 <= hi < 2 else
             "compatible with both linear and quadratic growth" if lo <= 1 and hi >= 2 else
             "between linear and quadratic" if 1 < lo and hi < 2 else
             "compatible with the quadratic growth of the bound" if lo <= 2 <= hi else
             "faster than the r^2 of the bound")
    text = (f"In {factor} the number of points grows with exponent {est:.2f} [{lo:.2f}, {hi:.2f}] (95% t-interval "
            f"over repetitions): {where}")
    return text + (" (a reading of pilot data, not a verdict)." if verdict == "outside regime" else ".")


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def _status(root: Path) -> int:
    data = load(root)
    m = data.manifest
    print(f"{root}: {'complete' if data.complete else 'PILOT'} grid, {m['n_points']} points, seeds {m['seeds']}, "
          f"made by {data.origin()}; digest {data.digest}")
    checks = check_sentinels(root)
    for check in checks:
        print("  sentinel " + check.line())
    stale = [c for c in checks if not c.current]
    print(f"{root}: {'STALE' if stale else 'current'}: {len(checks) - len(stale)} of {len(checks)} sentinel points "
          f"recomputed bit for bit")
    return 1 if stale else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddlib.experiments.memory_law",
                                     description="The committed paper-scale data of notebook 03.")
    sub = parser.add_subparsers(dest="command", required=True)
    regen = sub.add_parser("regenerate", help="compute the grid into the data folder (resumable)")
    regen.add_argument("--pilot", action="store_true", help="the pilot grid (2 repetitions, cheap points)")
    regen.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    regen.add_argument("--backend", choices=["local", "inline", "dask"], default="local")
    regen.add_argument("--no-progress", action="store_true")
    status = sub.add_parser("status", help="what is committed: complete or pilot, digest, and whether today's code "
                            "recomputes its sentinel points bit for bit (exit 1 if not)")
    for p in (regen, status):
        p.add_argument("--root", type=Path, default=DATA_DIR, help=f"data folder (default {DATA_DIR})")
    args = parser.parse_args(argv)
    if args.command == "status":
        return _status(args.root)
    m = regenerate(pilot=args.pilot, root=args.root, backend=args.backend, workers=args.workers,
                   progress=not args.no_progress)
    print(f"memory_law: {m['n_points']} points in {m['wall_time_s']:.0f} s "
          f"({m['point_time_s']['total']:.0f} point-seconds); digest {data_digest(args.root)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
