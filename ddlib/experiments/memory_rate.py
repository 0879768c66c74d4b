"""The memory law as a rate (notebook 03): each term of the paper's r^2 d + L decided on the
committed paper-scale data by the pre-registered model comparison (``ddlib.laws``;
``data/memory_law/rate_grid/PREREGISTRATION.md``).

``rate_rows`` takes one method's certified floats at one absolute target from a grid table (every
point inside the target's regime, censored points counted and left out), ``compare`` scores the
candidate laws by leave-one-seed-out cross-validation, ``terms`` bootstraps the free law's
exponents over seeds, and ``rate_claims`` turns them into the book's claims, each with a
synthetic-data negative control (``RATE_CONTROLS``: data drawn from a law that violates it, on
the same grid, must make the claim fail).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .. import laws
from ..book.claims import Check, Claim, ClaimDecl, Control, Precondition, RuleCheck
from ..book.controls import claims_under_controls
from ..seeds import generator
from ..stats import Interval
from .memory_search import show

__all__ = ["REGIME_FACTOR", "full_error", "in_regime", "RATE_CHECKS", "RATE_CONTROLS", "TERM_LINE", "TERM_LINES", "rate_rows", "line_counts", "pending_terms", "undecided_terms",
           "compare",
           "terms", "headline", "l_term", "corners", "wide_exponents", "rate_claims", "synthetic_rows", "rate_control_claims", "rate_control_record", "limit_ratio"]

REGIME_FACTOR = 3.0  # a point is in a target's regime when its full-data error is at most target / 3
N_BOOT = 2000        # bootstrap resamples of the seeds (PREREGISTRATION.md)
WIDE = 0.3           # an exponent's interval wider than this after 5 seeds asks for 10 on its line (same)

# claim id -> (statement, [(exponent, comparison, threshold, basis, rule)], control).  A check with a
# rule is decided by the pre-registered rule of its term (``laws.term_verdicts``): (term, the rule's
# outcomes that make the claim hold, those that make it fail, the rule in words); without one, by
# its threshold alone.
_UPPER = "the paper's rate r^2 d + L grows like r^2 in r"
_LIMIT = ("the information limit -- a set that lets the learner find span(U) carries about r(d - r) "
          "floats, so no rate slower than r d is possible")
_BAND = "the +-0.2 band on an exponent fixed before the data (PREREGISTRATION.md)"
_R_FAILS = ("1 (the information limit's rate)", "between 1 and 2", "below 1 (slower than the information limit's rate)",
            "above 2 (faster than the paper's r^2 d)")
INF = math.inf
# (term, outcomes that make the claim hold, outcomes that make it fail, the rule in words, the
# values the rule reads the interval against, the region it asks the interval to lie in)
Rule = Optional[tuple[str, tuple[str, ...], tuple[str, ...], str, tuple[float, ...], tuple[float, float]]]
RATE_CHECKS: dict[str, tuple[str, list[tuple[str, str, float, str, Rule]], str]] = {
    "C3.R1": ("The paper's rate is an upper bound in r: the floats of the certified set grow no faster than r^2 "
              "(exponent alpha <= 2).", [("alpha", "<=", 2.0, _UPPER, None)], "floats grow like r^3"),
    "C3.R2": ("The paper's rate is tight in r: the floats grow like r^2 (the interval of the exponent alpha contains "
              "2 and excludes the information limit's 1).",
              [("alpha", ">=", 2.0, f"{_UPPER}; {_LIMIT}", ("r", ("2 (the paper's r^2 d is tight in r)",), _R_FAILS,
                                              "holds when alpha's interval excludes 1 and contains 2; fails when it "
                                              "excludes 2", (1.0, 2.0), (1.0, INF)))], "floats at the limit's rate"),
    "C3.R3": ("The +L term is present at fixed accuracy: the floats grow with the width L (the intervals of the "
              "paper law's b and of the exponent gamma both lie above 0).",
              [("gamma", ">=", 0.0, "the +L term of r^2 d + L",
                ("L", ("present",), ("absent", "falling with L"),
                 "holds when b's and gamma's intervals lie above 0; fails when gamma's lies within +-0.1 "
                 "(absent) or below -0.1", (-0.1, 0.0, 0.1), (0.0, INF)))], "floats at the limit's rate"),
    "C3.R4": ("The floats grow like d (exponent beta within 0.8-1.2), as both r^2 d and the limit's r d say.",
              [("beta", ">=", 0.8, _BAND, ("d", ("1",), ("not 1",),
                                            "holds when beta's interval lies within 0.8-1.2; fails when it excludes 1",
                                            (0.8, 1.0, 1.2), (0.8, 1.2)))],
              "floats grow like d^2"),
    "C3.R5": ("The floats do not depend on the number of real points n (exponent delta within -0.2-0.2).",
              [("delta", ">=", -0.2, _BAND, ("n", ("0",), ("not 0",),
                                              "holds when delta's interval lies within -0.2-0.2; fails when it "
                                              "excludes 0", (-0.2, 0.0, 0.2), (-0.2, 0.2)))], "floats grow like n^0.5"),
}
_NAMES = {"alpha": "exponent of r", "beta": "exponent of d", "gamma": "exponent of L", "delta": "exponent of n"}
# The lines of the pre-registered grid each exponent needs: the line that varies its factor, and
# the n line wherever n moves along that line (the n-rule makes n grow with r on the r line, and
# n = 4 d^2 grows with d on the d line, so r's and d's exponents are told apart from n's only once
# the n line is in).  A term is decided once its lines are in, and is inconclusive while more than
# half of one of those lines' rows are censored.
TERM_LINE = {"alpha": "r", "beta": "d", "gamma": "L", "delta": "n"}
TERM_LINES = {"alpha": ("r", "n"), "beta": ("d", "n"), "gamma": ("L",), "delta": ("n",)}

# The negative controls: data drawn from a law that violates the claim, on the pre-registered grid's
# points and seeds (log-normal scatter of 20% per point), must make it fail.
_CONTROL_LAWS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "floats grow like r^3": lambda t: 2.0 * t.r.to_numpy(float) ** 3 * t.d.to_numpy(float),
    "floats at the limit's rate": lambda t: 5.0 * t.r.to_numpy(float) * t.d.to_numpy(float),
    "floats grow like d^2": lambda t: 0.1 * t.r.to_numpy(float) * t.d.to_numpy(float) ** 2,
    "floats grow like n^0.5": lambda t: 0.2 * t.r.to_numpy(float) * t.d.to_numpy(float)
    * t.n_train.to_numpy(float) ** 0.5,
}
RATE_CONTROLS: dict[str, Control] = {
    name: Control(f"synthetic floats drawn from a law where {name.replace('floats ', 'they ')}, on the pre-registered "
                  f"grid's points and seeds", expect=("does not hold", "inconclusive") if name ==
                  "floats at the limit's rate" else ("does not hold",))
    for name in _CONTROL_LAWS}


def full_error(table: pd.DataFrame) -> pd.Series:
    """The full-data learner's error each row's regime is read from: on the selection sample where
    the grid has one (the pre-registered grid), else on the test sample (the earlier grid)."""
    return table["full_mse_selection"] if "full_mse_selection" in table else table["full_mse"]


def in_regime(table: pd.DataFrame, target: str) -> pd.Series:
    """Which rows lie inside ``target``'s regime (``"abs0.1"``): full-data error at most
    target / ``REGIME_FACTOR``, per row."""
    return full_error(table) <= float(target[3:]) / REGIME_FACTOR


def rate_rows(table: pd.DataFrame, target: str, *, method: Optional[str] = None) -> tuple[pd.DataFrame, dict[str, int]]:
    """One method's certified floats at one absolute target (``target`` like "abs0.1"): one row per
    task size (r, d, L, n) and seed (a point shared by several lines counted once), every point
    inside the target's regime (full-data error at most target / ``REGIME_FACTOR``, computed per
    point and target); censored points (no certified set within the caps) kept with NaN floats.

    Returns:
        The rows (r, d, width, n_train, seed, floats, censored) and counts {"rows", "censored",
        "outside regime"}."""
    if not target.startswith("abs"):
        raise ValueError(f"the rate is measured at an absolute target (abs...), got {target!r}")
    col = f"floats_{target}"
    if col not in table:
        raise ValueError(f"the table holds no target {target!r} (columns floats_...: "
                         f"{sorted(c[7:] for c in table if c.startswith('floats_'))})")
    t = table if method is None or "method" not in table else table[table.method == method]
    inside = in_regime(t, target)
    rows = t[inside].drop_duplicates(subset=["r", "d", "width", "n_train", "seed"])
    out = pd.DataFrame({"r": rows.r, "d": rows.d, "width": rows.width, "n_train": rows.n_train, "seed": rows.seed,
                        "floats": rows[col].astype(float)})
    out["censored"] = out.floats.isna()
    counts = {"rows": len(out), "censored": int(out.censored.sum()),
              "outside regime": int((~inside).sum() - (t[~inside].duplicated(
                  subset=["r", "d", "width", "n_train", "seed"]).sum()))}
    return out.reset_index(drop=True), counts


def line_counts(table: pd.DataFrame, target: str) -> dict[str, dict[str, int]]:
    """Per line of a grid table (its ``line`` column; one method's rows): the rows inside the
    target's regime and how many of them are censored -- the pre-registered rule makes every term
    a line decides inconclusive when more than half its rows are censored."""
    out = {}
    for line, t in table.groupby("line", sort=False):
        _, counts = rate_rows(t, target)
        out[str(line)] = {"rows": counts["rows"], "censored": counts["censored"]}
    return out


def pending_terms(lines: Optional[Mapping[str, Mapping[str, int]]],
                  every: Optional[Sequence[str]] = None) -> dict[str, str]:
    """The exponents not decided yet, with why (``TERM_LINES``): a line they need is not in, has no
    row inside the target's regime, or has more than half its rows censored (the pre-registered
    rule).  ``lines``: ``line_counts`` of a grid made line by line; None: a grid made at once,
    every term decided by the fit.  ``every``: the grid's lines -- the pre-registered fit is one
    fit on all of them, so each exponent can move when a line joins, and no term is decided before
    they are all in."""
    out = {}
    if lines is None:
        return out
    missing = [line for line in (every or ()) if line not in lines]
    for name, needed in TERM_LINES.items():
        why = [f"grid incomplete: line{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in yet"] if missing \
            else []
        for line in needed:
            own = line == TERM_LINE[name]
            if line not in lines:
                if line in missing:
                    continue
                why.append(f"line {line} not in yet" + ("" if own else f" (n moves with {TERM_LINE[name]} on "
                                                                       f"line {TERM_LINE[name]})"))
            elif lines[line]["rows"] == 0:
                why.append(f"line {line}: no row inside the target's regime")
            elif lines[line]["censored"] > lines[line]["rows"] / 2:
                why.append(f"line {line}: {lines[line]['censored']} of {lines[line]['rows']} rows censored")
        if why:
            out[name] = "; ".join(why)
    return out


def undecided_terms(found: Mapping[str, tuple[float, float, float]],
                    lines: Optional[Mapping[str, Mapping[str, int]]], every: Optional[Sequence[str]] = None,
                    *, n_seeds: int) -> dict[str, str]:
    """``pending_terms``, and on a grid made line by line the pre-registered seed rule: an exponent
    whose interval is wider than ``WIDE`` after fewer than 10 seeds waits for 10 on its line."""
    out = dict(pending_terms(lines, every))
    if lines is not None and n_seeds < 10:
        for name, width in wide_exponents(found).items():
            out.setdefault(name, f"its interval is {width:.2f} wide after {n_seeds} seeds: the pre-registration "
                                 f"asks for 10 on line {TERM_LINE[name]}")
    return out


def compare(rows: pd.DataFrame) -> pd.DataFrame:
    """Every candidate law: its leave-one-seed-out score (mean squared error of log F on held-out
    seeds) with its standard error, and its parameters fitted on every certified row."""
    fit_rows = rows[~rows.censored]
    out = []
    for law in laws.LAWS:
        score, se = laws.cross_validate(fit_rows, law)
        fit = laws.fit_law(fit_rows, law)
        out.append({"law": law, "cv_score": score, "cv_se": se, "in_sample_mse": fit.mse_log,
                    **{k: v for k, v in fit.params.items()}})
    return pd.DataFrame(out).sort_values("cv_score", kind="stable").reset_index(drop=True)


def terms(rows: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """The free law's exponents and the paper law's b with their bootstrap intervals over seeds."""
    return laws.bootstrap_terms(rows[~rows.censored], n_boot=n_boot, seed=seed)


def rate_claims(rows: pd.DataFrame, counts: Mapping[str, int], found: Mapping[str, tuple[float, float, float]],
                *, source: str = "committed paper-scale data",
                lines: Optional[Mapping[str, Mapping[str, int]]] = None,
                every: Optional[Sequence[str]] = None) -> list[Claim]:
    """The claims C3.R1-C3.R5 on these rows: each decided on a bootstrap interval by a rule fixed
    before the data -- a threshold (C3.R1), or its term's pre-registered rule (``laws.term_verdicts``,
    the same rule the page's term table reads); the regime: at least half of the rows certified
    (PREREGISTRATION.md).

    ``lines`` (``line_counts`` of a grid computed line by line): a check whose term is not decided
    yet (``pending_terms``: its line not in, with no row in the regime, or mostly censored) is
    measured as NaN -- inconclusive, with the reason in its name; so is one whose interval is wider
    than the seed rule allows (``undecided_terms``).  None: a grid made at once.
    ``every``: the grid's lines, all of which a term waits for (``pending_terms``)."""
    n_seeds = int(rows.seed.nunique())
    ok = counts["rows"] > 0 and counts["censored"] <= counts["rows"] / 2
    regime = (Precondition("at most half of the rows censored", ok,
                           f"{counts['censored']} of {counts['rows']} censored"),)
    nan = (math.nan, math.nan, math.nan)
    notes = undecided_terms(found, lines, every, n_seeds=n_seeds)
    found = {**found, **{name: nan for name in notes}}
    outcome = laws.term_verdicts(found)
    out = []
    for cid, (statement, specs, control) in RATE_CHECKS.items():
        checks = []
        for name, cmp, thr, basis, rule in specs:
            est, lo, hi = found.get(name, nan)
            label = _NAMES[name] + (f" ({notes[name]})" if name in notes else "")
            measured = Interval(est, lo, hi, n_seeds, 0.95, "bootstrap")
            origin = "convention" if basis == _BAND else "closed form"
            if rule is None:
                checks.append(Check(label, measured, cmp, thr, basis, origin))
            else:
                term, holds_when, fails_when, words, marks, band = rule
                checks.append(RuleCheck(label, measured, cmp, thr, basis, origin, outcome=outcome[term],
                                        holds_when=holds_when, fails_when=fails_when, rule=words, marks=marks,
                                        band=band))
        out.append(Claim(cid, statement, tuple(checks), regime, source, control))
    return out


_UPPER_WORDS = {"holds": "holds as an upper bound in $r$", "does not hold": "does not bound the growth in $r$"}
_TIGHT_WORDS = {"holds": "and is tight in $r$", "does not hold": "but is not tight in $r$"}
_FACTORS = (("r", "alpha"), ("d", "beta"), ("L", "gamma"), ("n", "delta"))


def wide_exponents(found: Mapping[str, tuple[float, float, float]], *, limit: float = WIDE) -> dict[str, float]:
    """The free law's exponents whose 95% interval is wider than ``limit`` (name -> width): the
    pre-registration asks for 10 seeds, not 5, on the line of such an exponent.  A NaN interval
    counts as wide (nothing is known of it)."""
    out = {}
    for name in ("alpha", "beta", "gamma", "delta"):
        if name in found:
            width = found[name][2] - found[name][1]
            if not math.isfinite(width) or width > limit:
                out[name] = width
    return out


def l_term(found: Mapping[str, tuple[float, float, float]], verdicts: Mapping[str, str]) -> str:
    """The L term's verdict in words; "present" whose gamma interval also lies within the +-0.1
    band the pre-registration calls absent says so (the rule decides "present" first: b and gamma
    above 0), with what the band means: a 16-fold range of L changes F by less than 16^0.1."""
    verdict = verdicts["L"]
    if verdict == "present" and "gamma" in found and all(math.isfinite(v) for v in found["gamma"]) \
            and -laws.L_ABSENT <= found["gamma"][1] and found["gamma"][2] <= laws.L_ABSENT:
        return (f"present, but small (the interval of γ lies within the ±{laws.L_ABSENT:g} band too: over a "
                f"16-fold range of L the floats change by less than {16 ** laws.L_ABSENT:.2f}×)")
    return verdict


def headline(found: Mapping[str, tuple[float, float, float]], verdicts: Mapping[str, str],
             pending: Mapping[str, str], claims: Mapping[str, str], *, target: str, source: str) -> str:
    """The sentence the intro, the summary and page 03 lead with (MyST): how the certified floats
    grow at ``target`` (the free law's exponents ``found``), each term's verdict by the pre-registered
    rule (``verdicts``: ``laws.term_verdicts``), and whether the paper's r^2 d + L bounds the growth
    in r and is tight there (``claims``: C3.R1 and C3.R2's verdicts).  A term in ``pending`` (why it
    waits) is reported as provisional, never decided."""
    grows = " ".join(f"{f}^{{{found[e][0]:.2f}}}" for f, e in _FACTORS if e in found)
    start = (f"At the fixed accuracy {target}, on {source}, the certified floats grow like "
             + (f"${grows}$" if grows else "(no factor measured yet)"))
    upper = _UPPER_WORDS.get(claims.get("C3.R1", ""), "is not decided as a bound in $r$")
    tight = _TIGHT_WORDS.get(claims.get("C3.R2", ""), "and its tightness in $r$ is undecided")
    if pending:
        waits = "; ".join(dict.fromkeys(pending.values()))
        decided = [t for t, _ in _FACTORS if t not in pending]
        return (start + f" so far -- provisional ({waits})"
                + (": decided, " + "; ".join(f"{t}: {verdicts[t]}" for t in decided) if decided
                   else ", so no term is decided yet")
                + (". Whether the paper's $r^2 d + L$ bounds the growth in $r$, and is tight there, is not tested yet."
                   if "r" in pending else f". The paper's $r^2 d + L$ {upper} {tight}."))
    return (start + f". By the pre-registered rules, the exponent of $r$: {verdicts['r']}; of $d$: {verdicts['d']}; "
            f"the $L$ term: {l_term(found, verdicts)}; the exponent of $n$: {verdicts['n']}. "
            f"The paper's $r^2 d + L$ {upper} {tight}.")


def _observed(g: pd.DataFrame, target: str, *, regime: bool = True) -> Optional[str]:
    """One method's certified floats at one point and ``target``: the geometric mean over the
    certified seeds inside the target's regime (every seed with ``regime=False``) and their range,
    with the censored ones counted; None when no seed lies inside the regime."""
    floats = g[in_regime(g, target) if regime else np.ones(len(g), bool)][f"floats_{target}"].astype(float)
    if floats.empty:
        return None
    if floats.isna().all():
        return f"censored {len(floats)} of {len(floats)}"
    f = floats.dropna()
    return (f"{math.exp(np.log(f).mean()):,.0f} ({f.min():,.0f}–{f.max():,.0f})"
            + (f"; censored {int(floats.isna().sum())} of {len(floats)}" if floats.isna().any() else ""))


def corners(grid: pd.DataFrame, target: str, fits: Mapping[str, Any], points: Mapping[str, Mapping[str, int]],
            *, looser: Optional[str] = None) -> pd.DataFrame:
    """The grid's corners (one task size each, where one term of r^2 d + L dominates) against the
    laws: per corner line, its size, the target its points are measured at ("regime"), each
    method's certified floats there (geometric mean over the certified seeds inside the regime,
    their range, the censored ones counted; or "not in yet"), and each fitted law's prediction
    (``fits``: law -> ``laws.Fit``).  A corner outside ``target``'s regime (its full-data error
    above target / 3) is measured at the ``looser`` target, and says so; outside both, the cells
    give what the search found at ``target`` all the same, marked outside the regime
    (PREREGISTRATION.md: such a corner is reported, never dropped).  ``points``: corner line -> its
    task size (r, d, width, n_per_d2; ``rate_grid.LINES``).  A corner is where the laws part most:
    r^2 d against r d when r is large, the L term when L is."""
    out = []
    for line, pt in points.items():
        row: dict[str, Any] = {"corner": line, "r": pt["r"], "d": pt["d"], "width": pt["width"],
                               "n_train": pt["n_per_d2"] * pt["d"] ** 2}
        here = grid[grid.line == line] if len(grid) and "line" in grid else grid.iloc[:0]
        full = full_error(here) if len(here) else None
        if here.empty:
            row["regime"], at = "not in yet", None
        elif in_regime(here, target).any():
            row["regime"], at = show(target), target
        elif looser is not None and in_regime(here, looser).any():
            row["regime"], at = f"{show(looser)} only (full-data error {full.min():.3f}–{full.max():.3f})", looser
        else:
            row["regime"], at = f"neither target (full-data error {full.min():.3f}–{full.max():.3f})", None
        for method in (grid.method.unique() if len(grid) and "method" in grid else ()):
            g = here[here.method == method]
            if g.empty:
                row[method] = "not in yet"
            elif at is not None:
                row[method] = _observed(g, at) or "outside the regime"
            else:
                row[method] = f"{_observed(g, target, regime=False)}, outside the regime"
        probe = pd.DataFrame([{k: row[k] for k in ("r", "d", "width", "n_train")}])
        for law, fit in fits.items():
            row[law] = float(np.exp(fit.predict(probe))[0])
        out.append(row)
    return pd.DataFrame(out)


def synthetic_rows(rows: pd.DataFrame, law: str, *, seed: int = 0, scatter: float = 0.2) -> pd.DataFrame:
    """The rows' points and seeds with floats drawn from control law ``law`` (``RATE_CONTROLS``),
    log-normal scatter ``scatter`` per point, seeded."""
    if law not in _CONTROL_LAWS:
        raise ValueError(f"control must be one of {list(_CONTROL_LAWS)}, got {law!r}")
    g = generator(seed)
    import torch

    noise = torch.randn(len(rows), generator=g, dtype=torch.float64).numpy()
    out = rows.copy()
    out["floats"] = _CONTROL_LAWS[law](rows) * np.exp(scatter * noise)
    out["censored"] = False
    return out


def rate_control_claims(rows: pd.DataFrame, *, n_boot: int = 400, seed: int = 0) -> dict[str, dict[str, Claim]]:
    """Each control's claims: control name -> claim id -> the claim decided on its synthetic rows."""
    out = {}
    for name in RATE_CONTROLS:
        fake = synthetic_rows(rows, name, seed=seed)
        counts = {"rows": len(fake), "censored": 0}
        out[name] = {c.id: c for c in rate_claims(fake, counts, terms(fake, n_boot=n_boot, seed=seed),
                                                   source="synthetic control data")}
    return out


def rate_control_record(rows: pd.DataFrame, *, n_boot: int = 400, seed: int = 0) -> dict[str, Any]:
    """Every rate claim under its control, in the format ``ddlib.book.pages.control_block`` shows."""
    plan = [ClaimDecl(cid, text, (), control=control) for cid, (text, _, control) in RATE_CHECKS.items()]
    decided = rate_control_claims(rows, n_boot=n_boot, seed=seed)
    return {"notebook": "03_memory", "profile": "synthetic data on the pre-registered grid's points",
            "seed": seed,
            "claims": claims_under_controls(plan, RATE_CONTROLS, decided),
            "runs": {name: {"what": RATE_CONTROLS[name].what, "sabotage": "", "parameters": {}}
                     for name in RATE_CONTROLS}}


def limit_ratio(rows: pd.DataFrame) -> pd.Series:
    """Floats per r d: how far above the information limit's rate each certified row sits."""
    return rows.floats / (rows.r * rows.d)
