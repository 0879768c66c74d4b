"""Candidate memory laws and their pre-registered comparison: which law describes how the floats F
of the smallest certified distilled set grow with the task's size (r, d, L, n), and a verdict per
term of the paper's rate r^2 d + L.

The laws (``LAWS``): the paper's ``a r^2 d + b L``, ``a r d + b L``, the information limit's rate
``a r d``, and the free power law ``c r^alpha d^beta L^gamma n^delta``.  Laws with a sum are fitted by
least squares on log F with a, b >= 0; the power law by ordinary least squares on log F.  Laws are
scored by leave-one-seed-out cross-validation (``cross_validate``), and the terms are decided by
the intervals of the power law's exponents (and of the paper law's b) over bootstrap resamples of
the seeds (``term_verdicts``), with the rules written in ``data/memory_law/rate_grid/PREREGISTRATION.md``
before the data (and its amendment 1, also before the data).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .seeds import check_seed

__all__ = ["LAWS", "FACTORS", "Fit", "fit_law", "cross_validate", "bootstrap_terms", "term_verdicts",
           "R_RULE", "L_ABSENT", "D_BAND", "N_BAND"]

FACTORS = ("r", "d", "width", "n_train")  # the columns of the task's size: r, d, L, n
EXPONENTS = {"r": "alpha", "d": "beta", "width": "gamma", "n_train": "delta"}

# The verdict rules, fixed before the data (PREREGISTRATION.md).
R_RULE = (1.0, 2.0)   # the r exponent is decided against 1 (the limit) and 2 (the paper)
L_ABSENT = 0.1        # the L term is absent when gamma's interval lies within +-0.1
D_BAND = (0.8, 1.2)   # d's exponent is 1 when its interval lies within this band
N_BAND = (-0.2, 0.2)  # n's exponent is 0 when its interval lies within this band


def _sum_law(x1: Callable[[pd.DataFrame], np.ndarray], x2: Optional[Callable[[pd.DataFrame], np.ndarray]]):
    def design(t: pd.DataFrame) -> np.ndarray:
        cols = [x1(t)] + ([x2(t)] if x2 is not None else [])
        return np.column_stack(cols).astype(float)
    return design


LAWS: dict[str, Optional[Callable[[pd.DataFrame], np.ndarray]]] = {
    "a r^2 d + b L": _sum_law(lambda t: t.r ** 2 * t.d, lambda t: t.width),
    "a r d + b L": _sum_law(lambda t: t.r * t.d, lambda t: t.width),
    "a r d": _sum_law(lambda t: t.r * t.d, None),
    "power law": None,  # c r^alpha d^beta L^gamma n^delta
}


@dataclass(frozen=True)
class Fit:
    """A fitted law: its name, its parameters (a, b; or log c and the exponents that the rows
    identify -- a factor that does not vary gets none), and its mean squared error of log F."""

    law: str
    params: Mapping[str, float]
    mse_log: float

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        """log F predicted at the rows of ``table``."""
        if LAWS[self.law] is None:
            out = np.full(len(table), self.params["log_c"])
            for col, name in EXPONENTS.items():
                if name in self.params:
                    out = out + self.params[name] * np.log(table[col].to_numpy(float))
            return out
        X = LAWS[self.law](table)
        coef = np.array([self.params["a"]] + ([self.params["b"]] if X.shape[1] > 1 else []))
        return np.log(np.maximum(X @ coef, np.finfo(float).tiny))


def _rows(table: pd.DataFrame, y: str) -> pd.DataFrame:
    t = table.dropna(subset=[y])
    if len(t) < 2:
        raise ValueError(f"a law needs at least 2 rows with a finite {y!r}, got {len(t)}")
    if (t[y] <= 0).any():
        raise ValueError(f"{y!r} must be positive to fit on log scale")
    return t


def fit_law(table: pd.DataFrame, law: str, y: str = "floats") -> Fit:
    """Fit ``law`` (a key of ``LAWS``) to the rows of ``table`` with a finite ``y``, on log scale."""
    from scipy.optimize import least_squares, nnls

    if law not in LAWS:
        raise ValueError(f"law must be one of {list(LAWS)}, got {law!r}")
    t = _rows(table, y)
    logF = np.log(t[y].to_numpy(float))
    if LAWS[law] is None:
        cols, names = [np.ones(len(t))], ["log_c"]
        for col, name in EXPONENTS.items():
            v = np.log(t[col].to_numpy(float))
            if np.ptp(v) > 0:  # a factor that does not vary identifies no exponent
                cols.append(v)
                names.append(name)
        A = np.column_stack(cols)
        coef, *_ = np.linalg.lstsq(A, logF, rcond=None)
        params = dict(zip(names, map(float, coef)))
        fit = Fit(law, params, math.nan)
    else:
        X = LAWS[law](t)
        scale = X.max(0)
        start, _ = nnls(X / scale, t[y].to_numpy(float))
        start = np.maximum(start, 1e-12 * max(1.0, float(start.max())))

        def resid(c: np.ndarray) -> np.ndarray:
            return np.log(np.maximum((X / scale) @ c, np.finfo(float).tiny)) - logF

        sol = least_squares(resid, start, bounds=(0.0, np.inf), method="trf")
        coef = sol.x / scale
        params = {"a": float(coef[0])} | ({"b": float(coef[1])} if len(coef) > 1 else {})
        fit = Fit(law, params, math.nan)
    mse = float(np.mean((fit.predict(t) - logF) ** 2))
    return Fit(law, fit.params, mse)


def cross_validate(table: pd.DataFrame, law: str, *, y: str = "floats", group: str = "seed") -> tuple[float, float]:
    """Leave-one-seed-out score of ``law``: the mean over folds of the held-out seed's mean squared
    error of log F, and its standard error over the folds."""
    t = _rows(table, y)
    scores = []
    for g in sorted(t[group].unique()):
        train, held = t[t[group] != g], t[t[group] == g]
        if len(train) < 2 or held.empty:
            continue
        fit = fit_law(train, law, y)
        scores.append(float(np.mean((fit.predict(held) - np.log(held[y].to_numpy(float))) ** 2)))
    if len(scores) < 2:
        return math.nan, math.nan
    s = np.array(scores)
    return float(s.mean()), float(s.std(ddof=1) / math.sqrt(len(s)))


def bootstrap_terms(table: pd.DataFrame, *, y: str = "floats", group: str = "seed", n_boot: int = 2000,
                    seed: int = 0, level: float = 0.95) -> dict[str, tuple[float, float, float]]:
    """The power law's exponents and the paper law's b: estimate and percentile interval over
    ``n_boot`` resamples of the seeds (a seed's rows resampled together). {name: (est, lo, hi)}."""
    seed = check_seed("seed", seed)
    t = _rows(table, y)
    groups = sorted(t[group].unique())
    if len(groups) < 2:
        raise ValueError(f"bootstrapping over {group!r} needs at least 2 of them, got {len(groups)}")
    by = {g: t[t[group] == g] for g in groups}
    rng = np.random.default_rng(seed)
    power, paper = fit_law(t, "power law", y).params, fit_law(t, "a r^2 d + b L", y).params
    names = [k for k in power if k != "log_c"]
    draws: dict[str, list[float]] = {k: [] for k in names + ["b"]}
    for _ in range(n_boot):
        sample = pd.concat([by[g] for g in rng.choice(groups, size=len(groups), replace=True)])
        p = fit_law(sample, "power law", y).params
        for k in names:
            draws[k].append(p.get(k, math.nan))
        draws["b"].append(fit_law(sample, "a r^2 d + b L", y).params["b"])
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out = {}
    for k, v in draws.items():
        v = np.array(v, dtype=float)
        est = power.get(k, paper.get(k, math.nan)) if k != "b" else paper["b"]
        lo, hi = (np.percentile(v, q) if np.isfinite(v).all() else (math.nan, math.nan))
        out[k] = (float(est), float(lo), float(hi))
    return out


def _within(iv: tuple[float, float, float], lo: float, hi: float) -> bool:
    return lo <= iv[1] and iv[2] <= hi


def _contains(iv: tuple[float, float, float], v: float) -> bool:
    return iv[1] <= v <= iv[2]


def term_verdicts(terms: Mapping[str, tuple[float, float, float]]) -> dict[str, str]:
    """Each term's verdict from its interval, by the pre-registered rules (``R_RULE``, ``L_ABSENT``,
    ``D_BAND``, ``N_BAND``); a term the data do not identify is "not measured", a NaN interval
    "inconclusive"."""
    def defined(k: str) -> bool:
        return k in terms and all(math.isfinite(v) for v in terms[k])

    out: dict[str, str] = {}
    if "alpha" not in terms:
        out["r"] = "not measured"
    elif not defined("alpha"):
        out["r"] = "inconclusive"
    else:
        a, (one, two) = terms["alpha"], R_RULE
        if not _contains(a, one) and _contains(a, two):
            out["r"] = "2 (the paper's r^2 d is tight in r)"
        elif _contains(a, one) and not _contains(a, two):
            out["r"] = "1 (the information limit's rate)"
        elif one < a[1] and a[2] < two:
            out["r"] = "between 1 and 2"
        elif a[2] < one:
            out["r"] = "below 1 (slower than the information limit's rate)"
        elif a[1] > two:
            out["r"] = "above 2 (faster than the paper's r^2 d)"
        else:
            out["r"] = "inconclusive"
    if "gamma" not in terms:
        out["L"] = "not measured"
    elif defined("b") and defined("gamma") and terms["b"][1] > 0 and terms["gamma"][1] > 0:
        out["L"] = "present"
    elif defined("gamma") and _within(terms["gamma"], -L_ABSENT, L_ABSENT):
        out["L"] = "absent"
    elif defined("gamma") and terms["gamma"][2] < -L_ABSENT:
        out["L"] = "falling with L"
    else:
        out["L"] = "inconclusive"
    for col, name, band, value, yes, no in (("d", "beta", D_BAND, 1.0, "1", "not 1"),
                                             ("n", "delta", N_BAND, 0.0, "0", "not 0")):
        if name not in terms:
            out[col] = "not measured"
        elif not defined(name):
            out[col] = "inconclusive"
        elif _within(terms[name], *band):
            out[col] = yes
        elif not _contains(terms[name], value):
            out[col] = no
        else:
            out[col] = "inconclusive"
    return out
