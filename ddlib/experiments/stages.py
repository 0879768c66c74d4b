"""Claims C6 (notebook 06): which part of distillation does the work -- every stage-1 method
crossed with every stage-2 method (``ddlib.methods``), at equal memory, with the ridge of every
arm tuned on a validation split, over links, label noise and two ranks.

Each arm is a pair (stage 1, stage 2) composed by ``ddlib.methods.compose`` with m1 + m2 points
in all (the spectral set makes 2r points and gives its spare ones to stage 2).  Within a
repetition every arm sees the same task, theta0, training data, validation split and test sample,
so the arms' errors are compared as per-repetition ratios (geometric means with intervals).

The questions, each a claim with a margin fixed before the data (``CHECKS``):

- C6.1 does gradient matching beat the spectral set as stage 1 (both with KIP)? superiority;
- C6.2 does KIP beat the closed-form label solve as stage 2 (both on the gradient-matched S1)?
- C6.3 does KIP beat random real points as stage 2?
- C6.4 is the theorist's set (spectral + KIP) equivalent to gradient matching + KIP? (TOST)

Each is decided in every condition (link, r, sigma) the run holds; a claim holds when it holds in
every one, and the page shows each condition's verdict.  Every claim names its negative control.
Stage-1 and stage-2 lists are parameters: a user's registered method joins the comparison by name.
"""
from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pandas as pd
import torch

from ..book.claims import CheckSpec, ClaimDecl, Control, Precondition
from ..data import Data
from ..io import ArtifactError, read_json, write_json
from ..provenance import provenance
from ..methods import STAGE1, STAGE2, Config, RealData, compose
from ..metrics import alignment, principal_angles, test_mse
from ..stats import geometric_interval, geometric_mean
from ..tuning import tune_ridge, validation_split
from ..validation import check_float, check_int
from .parameters import Parameters, resolve_parameters
from .repetitions import repetitions
from .sentinels import recompute

__all__ = ["PARAMETERS", "PROFILES", "REQUIRED_STAGE1", "REQUIRED_STAGE2", "CHECKS", "CONTROLS", "StageTables",
           "run", "conditions", "condition_label", "arm", "ratios", "measures", "effects", "check_spec", "regimes", "plan",
           "summarise", "best_arm", "DATA_DIR", "regenerate", "load_paper", "check_sentinel", "main"]

PARAMETERS = Parameters(
    ("d", 32, "input dimension"),
    ("r_grid", [2], "intrinsic dimensions r (rank of U)", "list[int]"),
    ("width", 256, "network width L"),
    ("n_train", 4000, "real points (a validation split is held out of them)"),
    ("validation_share", 0.2, "share of the real points held out to tune every arm's ridge"),
    ("m1", 8, "stage-1 points of every arm"),
    ("m2", 24, "stage-2 points of every arm (m1 + m2 in all; a fixed-size S1 gives its spare points here)"),
    ("links", ["he2"], 'links: "he2", "aniso", "quad" (or a registered one)', "list[str]"),
    ("noise_grid", [0.0], "label-noise levels sigma", "list[float]"),
    ("stage1", ["gm-cos", "spectral", "random"], "stage-1 methods (registered names)", "list[str]"),
    ("stage2", ["kip", "labels", "random"], "stage-2 methods (registered names)", "list[str]"),
    ("n_seeds", 5, "repetitions"),
    ("steps1", 200, "Adam steps of an optimising stage 1"),
    ("steps2", 100, "Adam steps of KIP"),
    ("lr", 0.05, "Adam learning rate"),
    ("restarts", 2, "starts per optimising stage; lowest matching loss kept"),
    ("n_test", 4000, "fresh test points per repetition"),
)
PROFILES: dict[str, dict[str, Any]] = PARAMETERS.profiles(
    smoke={"width": 128, "n_train": 2000, "n_seeds": 3, "steps1": 100, "steps2": 50, "n_test": 2000},
    paper={"d": 64, "r_grid": [2, 4], "width": 1024, "n_train": 16_384, "m1": 16, "m2": 48,
           "links": ["he2", "aniso", "quad"], "noise_grid": [0.0, 0.5],
           "stage1": ["gm-cos", "gm-frobenius", "moments", "spectral", "select", "k-center", "herding", "random"],
           "stage2": ["kip", "labels", "random", "select"], "steps1": 300, "steps2": 200, "restarts": 3,
           "n_test": 10_000},
)

# The arms the claims compare; every run holds them (the lists may add more).
REQUIRED_STAGE1 = ("gm-cos", "spectral")
REQUIRED_STAGE2 = ("kip", "labels", "random")
FULL = "full data"


def arm(stage1: str, stage2: str) -> str:
    return f"{stage1}+{stage2}"


def condition_label(link: str, r: int, noise: float) -> str:
    return f"{link}, r={r}, sigma={noise:g}"


def conditions(P: Mapping[str, Any]) -> list[tuple[str, int, float]]:
    """Every (link, r, sigma) of the run, in the order the page lists them."""
    return [(link, int(r), float(s)) for link in P["links"] for r in P["r_grid"] for s in P["noise_grid"]]


@dataclass(frozen=True)
class StageTables:
    """One row per repetition, condition and arm (and the full-data learner): its test MSE on the
    test sample, the ridge chosen on the validation split, the W1's alignment with span(U) and
    largest principal angle, the points and floats it stores, and every seed."""

    rows: pd.DataFrame


def _check(P: Mapping[str, Any]) -> None:
    for key, registry, required in (("stage1", STAGE1, REQUIRED_STAGE1), ("stage2", STAGE2, REQUIRED_STAGE2)):
        names = list(P[key])
        for name in names:
            registry.lookup(name)  # a one-line error listing the registered names
        missing = [n for n in required if n not in names]
        if missing:
            raise ValueError(f"{key} must include {list(required)} (the arms the claims compare); missing {missing}")
        if len(set(names)) != len(names):
            raise ValueError(f"{key} names a method twice: {names}")
    check_float("validation_share", P["validation_share"], strictly_positive=True, max_value=0.9)
    if not P["links"] or not P["r_grid"] or not P["noise_grid"]:
        raise ValueError("links, r_grid and noise_grid must each hold at least one value")
    for r in P["r_grid"]:
        check_int("r", r, min_value=1, max_value=P["d"])


def run(*, d: int, r_grid: Sequence[int], width: int, n_train: int, validation_share: float, m1: int, m2: int,
        links: Sequence[str], noise_grid: Sequence[float], stage1: Sequence[str], stage2: Sequence[str],
        n_seeds: int, steps1: int, steps2: int, lr: float, restarts: int, n_test: int, seed: int = 0,
        progress: bool = False) -> StageTables:
    """Every arm (stage 1 x stage 2) in every condition, ``n_seeds`` repetitions each.

    An arm that a method refuses (a ValueError: e.g. the spectral set's 2r points exceed m1) is a
    row with NaN error and the reason: counted, never dropped (its checks become inconclusive)."""
    P = dict(d=d, r_grid=r_grid, width=width, n_train=n_train, validation_share=validation_share, m1=m1, m2=m2,
             links=links, noise_grid=noise_grid, stage1=stage1, stage2=stage2)
    _check(P)
    n_val = min(max(2, round(validation_share * n_train)), n_train - 2)
    rows = []
    for link, r, noise in conditions(P):
        config = Config(steps1=steps1, steps2=steps2, lr=lr, restarts=restarts, r=r)
        for rep in repetitions(seed=seed, n_seeds=n_seeds, d=d, r=r, width=width, n_train=n_train, link=link,
                               noise=noise, progress=progress, desc=condition_label(link, r, noise)):
            p = rep.problem
            train, val = validation_split(p.X, p.y, n_val, seed=p.seeds["subset"])
            base = rep.record(condition=condition_label(link, r, noise), n_validation=n_val)
            full = tune_ridge(p.net, train, train, val)
            rows.append({**base, **_scored(full, p, n_test), "arm": FULL, "stage1": FULL, "stage2": FULL,
                         "points": train.X.shape[0], "floats": train.X.shape[0] * (d + 1), "error": ""})
            real = RealData(p.net, *train)
            for s1 in stage1:
                for s2 in stage2:
                    row = {**base, "arm": arm(s1, s2), "stage1": s1, "stage2": s2}
                    try:
                        ds = compose(real, s1, s2, m1, m2, config, seed=p.seeds["distill"], task=p.task)
                        tuned = tune_ridge(p.net, ds.stage1, ds.stage2, val, learner=config.learner)
                        row.update(_scored(tuned, p, n_test), points=ds.m1 + (0 if ds.shared else ds.m2),
                                   m1_made=ds.m1, m2_made=ds.m2, floats=ds.memory_floats, error="")
                    except ValueError as exc:
                        row.update(test_mse=math.nan, ridge=math.nan, alignment=math.nan, max_angle_deg=math.nan,
                                   points=m1 + m2, floats=(m1 + m2) * (d + 1), error=str(exc).splitlines()[0])
                    rows.append(row)
    return StageTables(pd.DataFrame(rows))


def _scored(tuned: Any, p: Any, n_test: int) -> dict[str, float]:
    """The tuned network's test MSE (on the test sample), its ridge and its first layer's geometry."""
    W1 = tuned.net.W
    return {"test_mse": test_mse(tuned.net, p.task, n_test, seed=p.seeds["test"]), "ridge": tuned.ridge,
            "alignment": alignment(W1, p.task),
            "max_angle_deg": float(principal_angles(W1, p.task).max()) * 180.0 / math.pi}


def ratios(tables: StageTables, numerator: str, denominator: str, condition: str) -> list[float]:
    """Per repetition of one condition: the test MSE of arm ``numerator`` over arm ``denominator``
    (NaN where either is missing)."""
    t = tables.rows[tables.rows.condition == condition]
    num = t[t.arm == numerator].set_index("repetition").test_mse
    den = t[t.arm == denominator].set_index("repetition").test_mse
    reps = sorted(set(t.repetition))
    return [float(num.get(k, math.nan)) / float(den.get(k, math.nan)) for k in reps]


# ------------------------------------------------------------------------------------------------
# The claims
# ------------------------------------------------------------------------------------------------

_SUPERIOR = ("convention: superiority -- the 95% interval of the geometric-mean error ratio lies wholly below 1 "
             "(the two-sided 5% test of no difference, the field's default)")
_EQUIVALENT = ("convention: equivalence by two one-sided tests (TOST) at the field's 80%-125% margin on a ratio "
               "(the bioequivalence convention): the interval must lie within it")
# key prefix -> (what is measured, numerator arm, denominator arm, comparison, threshold, basis)
_KINDS: dict[str, tuple[str, str, str, str, float, str]] = {
    "gm_vs_spectral": ("GM + KIP / spectral + KIP", arm("gm-cos", "kip"), arm("spectral", "kip"), "<=", 1.0, _SUPERIOR),
    "kip_vs_labels": ("GM + KIP / GM + label solve", arm("gm-cos", "kip"), arm("gm-cos", "labels"), "<=", 1.0,
                      _SUPERIOR),
    "kip_vs_real": ("GM + KIP / GM + random real S2", arm("gm-cos", "kip"), arm("gm-cos", "random"), "<=", 1.0,
                    _SUPERIOR),
    "theorist_lo": ("spectral + KIP / GM + KIP", arm("spectral", "kip"), arm("gm-cos", "kip"), ">=", 0.8, _EQUIVALENT),
    "theorist_hi": ("spectral + KIP / GM + KIP", arm("spectral", "kip"), arm("gm-cos", "kip"), "<=", 1.25,
                    _EQUIVALENT),
}
CHECKS: dict[str, CheckSpec] = {
    kind: CheckSpec(what, cmp, thr, basis, geometric=True, origin="convention")
    for kind, (what, _, _, cmp, thr, basis) in _KINDS.items()}


def check_spec(key: str) -> CheckSpec:
    """The spec of a per-condition key ``"<kind>@<condition>"``: the kind's, named for its condition."""
    kind, _, condition = key.partition("@")
    spec = CHECKS[kind]
    return CheckSpec(f"{spec.name} ({condition})", spec.comparison, spec.threshold, spec.basis, spec.geometric,
                     spec.origin)


def measures(tables: StageTables, P: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per condition and per repetition (every one, NaN included), the ratio behind each check
    (``<kind>@<condition>``, what the claims decide on), and per kind the worst condition's ratio of
    each repetition (``<kind>``: the calibration record's quantity -- a claim holds only where it
    holds in every condition)."""
    out = {}
    for cond in (condition_label(*c) for c in conditions(P)):
        for kind, (_, num, den, _, _, _) in _KINDS.items():
            out[f"{kind}@{cond}"] = ratios(tables, num, den, cond)
    for kind, (_, _, _, cmp, _, _) in _KINDS.items():
        per = [out[f"{kind}@{condition_label(*c)}"] for c in conditions(P)]
        worst = max if cmp == "<=" else min
        out[kind] = [worst(vals) if all(math.isfinite(v) for v in vals) else math.nan for vals in zip(*per)]
    return out


def regimes(tables: StageTables, P: Mapping[str, Any]) -> dict[str, tuple[Precondition, ...]]:
    """Every claim needs the full-data learner to learn in every condition (mean normalised test MSE
    at most 0.5: half the zero predictor's error, the book's convention for "learns")."""
    full = tables.rows[tables.rows.arm == FULL].groupby("condition", sort=False).test_mse.mean()
    worst = float(full.max()) if len(full) else math.nan
    return {"learns": (Precondition("the full-data learner learns in every condition: mean test MSE <= 0.5",
                                    bool(worst <= 0.5), f"worst condition {worst:.3g}"),)}


# The negative control: without optimiser steps gradient matching's S1 and KIP's S2 are the random
# real points they start from, while the spectral set and the label solve (no optimiser) are
# untouched -- what the claims credit to the optimisation is gone, so no superiority or equivalence
# of the optimised arms may be shown: each claim must end "does not hold" or "inconclusive".
CONTROLS: dict[str, Control] = {
    "no distillation steps": Control("no optimiser step: gradient matching's S1 and KIP's S2 are the random real "
                                     "points they start from (the spectral set and the label solve are unchanged), "
                                     "so no superiority or equivalence of the optimised arms may be shown",
                                     sabotage="no distillation steps", expect=("does not hold", "inconclusive")),
}


def plan(P: Mapping[str, Any]) -> list[ClaimDecl]:
    """The claims of notebook 06 at these parameters, each decided in every condition."""
    conds = [condition_label(*c) for c in conditions(P)]
    keys = lambda *kinds: tuple(f"{k}@{c}" for c in conds for k in kinds)  # noqa: E731
    where = "every condition" if len(conds) > 1 else conds[0]
    return [
        ClaimDecl("C6.1", f"Gradient matching is the better stage 1: with KIP as stage 2, its test error is below the "
                          f"spectral set's (the theorist's S1 from the empirical Hessian, with the task's r) in "
                          f"{where}.", keys("gm_vs_spectral"), "learns", control="no distillation steps"),
        ClaimDecl("C6.2", f"KIP is the better stage 2: on the gradient-matched S1, its test error is below the "
                          f"closed-form label solve's in {where}.", keys("kip_vs_labels"), "learns",
                  control="no distillation steps"),
        ClaimDecl("C6.3", f"KIP beats real points as stage 2: on the gradient-matched S1, its test error is below "
                          f"that of random real stage-2 points in {where}.", keys("kip_vs_real"), "learns",
                  control="no distillation steps"),
        ClaimDecl("C6.4", f"The theorist's set does as well: spectral + KIP is equivalent to gradient matching + KIP "
                          f"(error ratio within {CHECKS['theorist_lo'].threshold:g}-"
                          f"{CHECKS['theorist_hi'].threshold:g}) in {where}.", keys("theorist_lo", "theorist_hi"),
                  "learns", control="no distillation steps"),
    ]


def effects(tables: StageTables, P: Mapping[str, Any]) -> pd.DataFrame:
    """Per condition and per claim's ratio: its geometric mean over repetitions with the 95% interval
    the claims decide on (``measures``), and the largest principal angle of each arm's W1 (the
    "why": how far from span(U) each S1 puts the first layer).  NaN where a repetition is missing."""
    m = measures(tables, P)
    rows = tables.rows
    out = []
    for c in conditions(P):
        cond = condition_label(*c)
        angle = rows[rows.condition == cond].groupby("arm").max_angle_deg.mean()
        for kind, (what, num, den, _, _, _) in _KINDS.items():
            if kind == "theorist_hi":  # the same ratio as theorist_lo (two one-sided tests of one interval)
                continue
            vals = m[f"{kind}@{cond}"]
            ok = bool(vals) and all(math.isfinite(v) and v > 0 for v in vals)
            iv = geometric_interval(vals) if ok else None
            out.append({"condition": cond, "link": c[0], "r": c[1], "sigma": c[2],
                        "ratio": "spectral + KIP / GM + KIP" if kind == "theorist_lo" else what,
                        "estimate": iv.estimate if iv else math.nan, "lo": iv.lo if iv else math.nan,
                        "hi": iv.hi if iv else math.nan, "n": len(vals),
                        "angle_num_deg": float(angle.get(num, math.nan)),
                        "angle_den_deg": float(angle.get(den, math.nan))})
    return pd.DataFrame(out)


def summarise(tables: StageTables) -> pd.DataFrame:
    """Per condition and arm: the geometric mean test MSE over repetitions, and its ratio to the
    full-data learner's (the heat map's cells)."""
    rows = tables.rows
    out = []
    for (cond, name), g in rows.groupby(["condition", "arm"], sort=False):
        full = rows[(rows.condition == cond) & (rows.arm == FULL)].set_index("repetition").test_mse
        mine = g.set_index("repetition").test_mse
        ratio = [float(mine[k]) / float(full[k]) for k in mine.index if k in full.index]
        out.append({"condition": cond, "arm": name, "stage1": g.stage1.iloc[0], "stage2": g.stage2.iloc[0],
                    "test_mse": geometric_mean(mine.to_numpy()) if mine.notna().all() else math.nan,
                    "ratio_to_full": geometric_mean(ratio) if ratio and all(math.isfinite(v) for v in ratio)
                    else math.nan, "alignment": float(g.alignment.mean()),
                    "max_angle_deg": float(g.max_angle_deg.mean()), "floats": int(g.floats.iloc[0]),
                    "refused": int((g.error != "").sum())})
    return pd.DataFrame(out)


def best_arm(summary: pd.DataFrame) -> tuple[str, float]:
    """The arm with the lowest geometric mean of its ratio to the full-data learner over the
    conditions (the arm a reader should pick here), and that mean."""
    arms = summary[summary.arm != FULL].groupby("arm", sort=False).ratio_to_full.apply(
        lambda v: geometric_mean(v.to_numpy()) if v.notna().all() else math.nan).dropna()
    if arms.empty:
        return "", math.nan
    return str(arms.idxmin()), float(arms.min())


# ------------------------------------------------------------------------------------------------
# The full factorial at the paper profile: committed data, one condition at a time
# ------------------------------------------------------------------------------------------------

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "stages"
_KEYS = ["condition", "repetition", "arm"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _condition_file(root: Path, link: str, r: int, noise: float) -> Path:
    return root / "conditions" / f"{link}-r{r}-sigma{noise:g}.csv"


def regenerate(*, root: Path | str = DATA_DIR, progress: bool = True, only: Optional[Sequence[str]] = None
               ) -> dict[str, Any]:
    """Run the paper profile condition by condition into ``root`` (resumable: a condition whose file
    is stored is skipped), rewriting the manifest after each one: which conditions are in, the
    sha256 of every file, the parameters, provenance and wall times.  ``only``: condition labels to
    run (default: all)."""
    root = Path(root)
    P = resolve_parameters(PROFILES, "paper", seed=0)
    manifest_path = root / "manifest.json"
    manifest = read_json(manifest_path) if manifest_path.is_file() else {
        "kind": "ddlib-stages", "parameters": P, "conditions": {}, "wall_time_s": 0.0}
    for link, r, noise in conditions(P):
        label = condition_label(link, r, noise)
        path = _condition_file(root, link, r, noise)
        if (only and label not in only) or label in manifest["conditions"]:
            continue
        start = time.perf_counter()
        t = run(**{**P, "links": [link], "r_grid": [r], "noise_grid": [noise]}, progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(t.rows.to_csv(index=False).encode())
        wall = time.perf_counter() - start
        manifest["conditions"][label] = {"file": path.relative_to(root).as_posix(), "sha256": _sha256(path),
                                         "wall_time_s": wall}
        manifest.update(wall_time_s=manifest["wall_time_s"] + wall, provenance=provenance(),
                        complete=len(manifest["conditions"]) == len(conditions(P)),
                        sentinel={"condition": next(iter(manifest["conditions"])), "repetition": 0,
                                  "arm": arm("gm-cos", "kip")})
        write_json(manifest_path, manifest)
    return manifest


def load_paper(root: Path | str = DATA_DIR) -> tuple[StageTables, dict[str, Any]]:
    """The committed conditions (each file checked against its sha256) and the manifest; an empty
    table when none is committed."""
    root = Path(root)
    if not (root / "manifest.json").is_file():
        return StageTables(pd.DataFrame()), {}
    manifest = read_json(root / "manifest.json")
    parts = []
    for label, entry in manifest["conditions"].items():
        path = root / entry["file"]
        if _sha256(path) != entry["sha256"]:
            raise ArtifactError(f"{path}: its sha256 differs from the manifest (condition {label})")
        part = pd.read_csv(path, dtype={"error": "object"})
        parts.append(part.assign(error=part["error"].astype(object).where(part["error"].notna(), "")))
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return StageTables(rows), manifest


def check_sentinel(root: Path | str = DATA_DIR) -> Optional[Any]:
    """Recompute the committed data's sentinel -- the first condition's first repetition, every arm
    -- with today's code and compare its test errors with the stored ones, bit for bit
    (``SentinelCheck``; None when nothing is committed)."""
    tables, manifest = load_paper(root)
    if not manifest:
        return None
    P = manifest["parameters"]
    label = manifest["sentinel"]["condition"]
    link, r, noise = next(c for c in conditions(P) if condition_label(*c) == label)
    stored = tables.rows[(tables.rows.condition == label) & (tables.rows.repetition == 0)]
    expected = {a: float(v) for a, v in zip(stored.arm, stored.test_mse)}

    def compute() -> dict[str, float]:
        t = run(**{**P, "links": [link], "r_grid": [r], "noise_grid": [noise], "n_seeds": 1})
        return {a: float(v) for a, v in zip(t.rows.arm, t.rows.test_mse)}
    return recompute(f"condition {label}, repetition 0", compute, expected)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddlib.experiments.stages",
                                     description="The full factorial of notebook 06 at the paper profile "
                                                 "(data/stages/), condition by condition, resumable.")
    sub = parser.add_subparsers(dest="command", required=True)
    reg = sub.add_parser("regenerate")
    reg.add_argument("--only", action="append", default=None, help="a condition label to run (repeatable)")
    sub.add_parser("status")
    args = parser.parse_args(argv)
    if args.command == "regenerate":
        m = regenerate(only=args.only)
        print(f"{len(m['conditions'])} conditions in, {m['wall_time_s']:.0f} s")
        return 0
    tables, manifest = load_paper()
    print(f"{len(manifest.get('conditions', {}))} of {len(conditions(resolve_parameters(PROFILES, 'paper', seed=0)))}"
          f" conditions in")
    check = check_sentinel()
    if check is not None:
        print(check.line())
    return 0 if check is None or check.current else 1


if __name__ == "__main__":
    sys.exit(main())
