"""Claims as verdicts: a claim is a sentence, the preconditions under which it applies (its
regime), and checks; a check is a quantity measured over repetitions with a confidence
interval, compared with a threshold expressed in the setting's own scale (relative to the
full-data learner, the zero predictor, chance level, a baseline at equal memory, or a closed
form).  Every claim ends in one of four verdicts:

- **holds**: every check's whole interval lies on the claimed side of its threshold;
- **does not hold**: some check's whole interval lies on the wrong side;
- **inconclusive**: no check fails outright, but some interval straddles its threshold (or
  cannot be formed, e.g. from one repetition);
- **outside regime**: a precondition is not met, so the claim does not apply here.

A verdict is data -- a finding: notebooks render it, write it to their results file, and ``ddlib
run`` turns it into its exit status; nothing here raises on a claim's outcome.  A page at its
defaults compares its verdicts with its committed findings (``ddlib.book.findings``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

from ..stats import DEFAULT_LEVEL, Interval, geometric_interval, mean_interval

__all__ = ["VERDICTS", "Check", "RuleCheck", "CheckSpec", "Precondition", "Claim", "ClaimDecl", "Control", "ORIGINS", "verdicts", "claims_of",
           "verdict_table"]

VERDICTS = ("holds", "does not hold", "inconclusive", "outside regime")
ORIGINS = ("", "paper", "closed form", "convention")  # where a threshold comes from ("": not yet stated)
_COMPARISONS = ("<=", ">=")


def _num(x: float, spec: str = ".3g") -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:{spec}}"


@dataclass(frozen=True)
class Check:
    """One measured quantity against its threshold.

    Attributes:
        name: what is measured, in words a reader can follow ("distilled / full-data test MSE").
        measured: the estimate over repetitions with its confidence interval.
        comparison: "<=" (the claim says the quantity is at most the threshold) or ">=".
        threshold: the threshold, in the quantity's own (relative) scale.
        basis: why this threshold: its scale and where it was calibrated.
    """

    name: str
    measured: Interval
    comparison: str
    threshold: float
    basis: str = ""
    origin: str = ""  # "paper", "closed form" or "convention" (CheckSpec.origin)

    def __post_init__(self) -> None:
        if self.comparison not in _COMPARISONS:
            raise ValueError(f"comparison must be one of {list(_COMPARISONS)}, got {self.comparison!r}")
        if not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be finite, got {self.threshold}")

    @property
    def verdict(self) -> str:
        """holds / does not hold / inconclusive (the interval straddles the threshold)."""
        m = self.measured
        if not m.defined:
            return "inconclusive"
        below, above = m.hi <= self.threshold, m.lo >= self.threshold
        if self.comparison == "<=":
            return "holds" if below else ("does not hold" if m.lo > self.threshold else "inconclusive")
        return "holds" if above else ("does not hold" if m.hi < self.threshold else "inconclusive")

    def line(self) -> str:
        """``"<name> measured 2.1 [1.8, 2.4] vs threshold <= 5"`` (one line)."""
        return f"{self.name} measured {self.measured.format()} vs threshold {self.comparison} {_num(self.threshold)}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "measured": self.measured.as_dict(), "comparison": self.comparison,
                "threshold": self.threshold, "basis": self.basis, "origin": self.origin, "verdict": self.verdict}


@dataclass(frozen=True)
class RuleCheck(Check):
    """A check decided by a pre-registered rule with more outcomes than one threshold gives (the
    memory law's per-term rules, ``ddlib.laws.term_verdicts``): ``outcome`` is the rule's verdict on
    the measured interval, ``holds_when`` / ``fails_when`` the outcomes that make the claim hold /
    fail; any other outcome (a NaN, an interval the rule leaves open) is inconclusive.
    ``comparison`` and ``threshold`` keep the main value the rule is read against; ``marks`` and
    ``band`` are what the verdict plot draws."""

    outcome: str = ""
    holds_when: tuple[str, ...] = ()
    fails_when: tuple[str, ...] = ()
    rule: str = ""
    marks: tuple[float, ...] = ()  # the values the rule reads the interval against (drawn as lines)
    band: tuple[float, float] = ()  # where the rule asks the interval to lie for "holds" (shaded)

    @property
    def verdict(self) -> str:
        if not self.measured.defined:
            return "inconclusive"
        if self.outcome in self.holds_when:
            return "holds"
        return "does not hold" if self.outcome in self.fails_when else "inconclusive"

    def line(self) -> str:
        return f"{self.name} measured {self.measured.format()}: {self.outcome} (rule: {self.rule})"

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "rule": self.rule, "outcome": self.outcome}


@dataclass(frozen=True)
class Precondition:
    """A condition under which the paper's statement applies (part of a claim's regime).

    Attributes:
        name: the condition ("the full-data learner learns: test MSE <= 0.5").
        met: whether it holds in this run.
        detail: the measured value or parameter it was decided on.
    """

    name: str
    met: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "met": bool(self.met), "detail": self.detail}


@dataclass(frozen=True)
class Claim:
    """A statement with its regime and its checks; ``verdict`` combines them (see the module).
    ``source`` says where the data behind it come from: this run, or committed data."""

    id: str
    statement: str
    checks: tuple[Check, ...]
    regime: tuple[Precondition, ...] = field(default_factory=tuple)
    source: str = "this run"  # where its data come from (e.g. "committed paper-scale data")
    control: str = ""  # the negative control under which its check must fail (ddlib.book.controls)
    consistency: str = ""  # non-empty: a consistency check, not a claim -- why no control can flip it

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(self.checks))
        object.__setattr__(self, "regime", tuple(self.regime))
        if not self.checks:
            raise ValueError(f"claim {self.id}: a claim needs at least one check")

    @property
    def verdict(self) -> str:
        if not all(p.met for p in self.regime):
            return "outside regime"
        verdicts = [c.verdict for c in self.checks]
        if "does not hold" in verdicts:
            return "does not hold"
        return "inconclusive" if "inconclusive" in verdicts else "holds"

    def line(self) -> str:
        """One line explaining the verdict: the unmet precondition, or the deciding check(s)."""
        unmet = [p for p in self.regime if not p.met]
        if unmet:
            return "; ".join(f"precondition not met: {p.name} ({p.detail})" for p in unmet)
        deciding = [c for c in self.checks if c.verdict == self.verdict] or list(self.checks)
        return "; ".join(c.line() for c in deciding)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the keys ``ddlib run`` reads (id, verdict, line)."""
        return {"id": self.id, "claim": self.statement, "verdict": self.verdict, "line": self.line(),
                "source": self.source, "control": self.control, "consistency": self.consistency,
                "checks": [c.as_dict() for c in self.checks], "regime": [p.as_dict() for p in self.regime]}

    @property
    def counted(self) -> bool:
        """Whether the claim counts among the page's verdicts (a consistency check does not)."""
        return not self.consistency


@dataclass(frozen=True)
class CheckSpec:
    """A check's definition: what it measures, the comparison, the threshold and why.

    Attributes:
        name: the measured quantity, in words.
        comparison: "<=" or ">=".
        threshold: in the quantity's own relative scale.
        basis: the scale and the reason for this value (shown under the verdict table).
        geometric: summarise the per-repetition values by their geometric mean (ratios of
            errors); otherwise by their arithmetic mean.
        origin: where the threshold comes from, fixed before any data: "paper" (the paper's
            wording), "closed form" (a formula of ``ddlib.theory``) or "convention" (a convention
            of the field, named in ``basis``); never the measurements.
    """

    name: str
    comparison: str
    threshold: float
    basis: str
    geometric: bool = False
    origin: str = ""

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"check {self.name!r}: origin must be one of {list(ORIGINS)}, got {self.origin!r}")

    def check(self, values: Sequence[float], level: float = DEFAULT_LEVEL) -> Check:
        """The ``Check`` of these per-repetition values: an inconclusive one when there are none, or
        when a repetition's value is undefined (NaN or infinite) -- dropping it could bias the
        interval towards the repetitions where the quantity happens to exist."""
        values = [float(v) for v in values]
        if not values or not all(math.isfinite(v) for v in values):
            interval = Interval(math.nan, math.nan, math.nan, len(values), level, "none")
        elif self.geometric:
            interval = geometric_interval(values, level)
        else:
            interval = mean_interval(values, level)
        return Check(self.name, interval, self.comparison, float(self.threshold), self.basis, self.origin)


@dataclass(frozen=True)
class Control:
    """A negative control: what it breaks, how (parameters changed and/or a sabotage), and the
    verdicts its claims must reach (by default "does not hold"; "outside regime" is accepted only
    where a control pushes a claim out of the conditions it is stated for, and says so).

    ``sabotage`` is the name of one of ``ddlib.book.controls.SABOTAGES`` (the library-wide ones), or
    a page's own: a function returning the context manager in force while the experiment runs."""

    what: str
    sabotage: Union[str, Callable[[], Any]] = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    expect: tuple[str, ...] = ("does not hold",)


@dataclass(frozen=True)
class ClaimDecl:
    """A claim declared as a row: what ``verdicts`` needs to decide it.

    Attributes:
        id: "C2.1".
        statement: the sentence at these parameters (thresholds read from the checks' specs).
        checks: the keys of its checks (``CheckSpec`` keys of the experiment; their per-repetition
            values come from the experiment's ``measures``).
        regime: the key of its preconditions in the experiment's ``regimes`` ("" = none).
        source: where its data come from ("this run", "committed paper-scale data").
        control: the name of its negative control in the experiment's ``CONTROLS``: a sabotaged or
            null condition under which the same check must not hold (``ddlib.book.controls``).
        consistency: non-empty for a consistency check (an identity, a bound that holds by
            construction, "found at every size"): the reason no control can flip it. It is
            reported, not counted among the page's claims.
    """

    id: str
    statement: str
    checks: tuple[str, ...]
    regime: str = ""
    source: str = "this run"
    control: str = ""
    consistency: str = ""


Values = Union[Sequence[float], Check]


def verdicts(plan: Sequence[ClaimDecl], spec_of: Callable[[str], CheckSpec], values: Mapping[str, Values],
             regimes: Mapping[str, Sequence[Precondition]], level: float = DEFAULT_LEVEL) -> list[Claim]:
    """The claims of a plan, decided: each declared check is its spec applied to its values (or a
    ``Check`` an experiment built itself), each regime looked up by its key.  Every value counts:
    an undefined repetition (NaN or infinite) makes its check inconclusive (``CheckSpec.check``).

    Raises:
        KeyError: a claim names a check without values or a regime that was not computed.
    """
    out = []
    for decl in plan:
        checks = []
        for key in decl.checks:
            if key not in values:
                raise KeyError(f"claim {decl.id}: no values for its check {key!r}")
            v = values[key]
            checks.append(v if isinstance(v, Check) else spec_of(key).check(list(v), level))
        if decl.regime and decl.regime not in regimes:
            raise KeyError(f"claim {decl.id}: its regime {decl.regime!r} was not computed")
        regime = tuple(regimes[decl.regime]) if decl.regime else ()
        out.append(Claim(decl.id, decl.statement, tuple(checks), regime, decl.source, decl.control, decl.consistency))
    return out


def claims_of(experiment: Any, result: Any, P: Mapping[str, Any]) -> list[Claim]:
    """An experiment's claims on its result: ``verdicts`` of the experiment's declarations.

    An experiment module declares ``CHECKS`` (key -> ``CheckSpec``; or a ``check_spec(key)``
    function for keys made per link), ``plan(P)`` (its ``ClaimDecl`` rows at these parameters),
    ``measures(result, P)`` (key -> per-repetition values) and ``regimes(result, P)`` (regime
    key -> preconditions); this one function turns them into verdicts for every experiment.
    """
    spec_of = getattr(experiment, "check_spec", None) or experiment.CHECKS.__getitem__
    return verdicts(experiment.plan(P), spec_of, experiment.measures(result, P), experiment.regimes(result, P))


def verdict_table(claims: Iterable[Claim]):
    """One row per check: claim id, check, measured [CI], threshold, verdict (a narrow DataFrame)."""
    import pandas as pd

    rows = []
    for c in claims:
        if c.verdict == "outside regime":
            rows.append({"claim": c.id, "check": "; ".join(p.name for p in c.regime if not p.met),
                         "measured [95% CI]": "; ".join(p.detail for p in c.regime if not p.met),
                         "threshold": "precondition", "verdict": c.verdict})
            continue
        for k in c.checks:
            rows.append({"claim": c.id, "check": k.name, "measured [95% CI]": k.measured.format(),
                         "threshold": getattr(k, "rule", "") or f"{k.comparison} {_num(k.threshold)}",
                         "verdict": k.verdict})
    return pd.DataFrame(rows)
