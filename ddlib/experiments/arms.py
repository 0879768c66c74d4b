"""The arms the pages compare: each arm is a pair of registered stage methods (``ddlib.methods``'
``STAGE1`` and ``STAGE2``) named ``"stage1+stage2"`` and made by ``ddlib.methods.compose`` from one
``RealData`` per repetition, so a stage-1 set shared by several arms (GM cos with KIP or with random
real points, moment matching with KIP or with labels) is made once.

This module is the one place that says which arms exist and which each page compares:

- ``ARMS``: ddlib's own arms, each with the label the pages show, its family ("distilled": the
  distillers of the paper; "real points": rows of the real data; "synthetic": points made without
  the learner's stage-1 gradient) and one line on what it is;
- ``GENERALIZATION`` (notebook 02) and ``ALGORITHMS`` (notebook 04): the arms each page compares,
  in the order of its tables;
- ``resolve_arms``: a page's arms plus the names given in its ``extra_arms`` parameter, each checked
  against the registries before anything runs -- so a stage method a user registers
  (``ddlib.methods.register_stage1``) joins a page's comparison and its claims by name.

A pair that ``ARMS`` does not list is an arm too: its label is its name, its family "real points"
when both its stages pick real points (``Method.family``), else "synthetic".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from ..methods import (REUSE_STAGE1, STAGE1, STAGE2, Composed, Config, Points, RealData, compose_parts,
                       stage1_points)
from ..tasks import MultiIndexTask

__all__ = ["Arm", "FAMILIES", "ARMS", "BASELINES", "GENERALIZATION", "ALGORITHMS", "arm", "resolve_arms",
           "compose_arm", "arm_stage1", "stage1_request", "labels", "SELECT_POOL", "SUBSTITUTES"]

FAMILIES = ("distilled", "real points", "synthetic")
SELECT_POOL = 64  # candidates per greedy selection step (32, 64 and 256 gave the same errors at the book's size)


@dataclass(frozen=True)
class Arm:
    """One arm: a stage-1 and a stage-2 method (registered names), the label the pages show, its
    family (``FAMILIES``) and what it is, in one line."""

    stage1: str
    stage2: str
    label: str
    family: str
    what: str

    @property
    def name(self) -> str:
        """``"stage1+stage2"``, the arm's name in the registries' terms."""
        return f"{self.stage1}+{self.stage2}"

    @property
    def shared(self) -> bool:
        """Whether one set of m1 + m2 points serves both stages (stored once)."""
        return self.stage2 == REUSE_STAGE1


def _arms(*arms: Arm) -> dict[str, Arm]:
    return {a.name: a for a in arms}


# ddlib's own arms (keyed by name), each storing (m1 + m2)(d + 1) floats.
ARMS: dict[str, Arm] = _arms(
    Arm("gm-cos", "kip", "GM cos + KIP", "distilled",
        "stage 1 matches the stage-1 gradient at theta0 in angle, neuron by neuron; stage 2 by KIP"),
    Arm("gm-frobenius", "kip", "GM Frobenius + KIP", "distilled",
        "the same, matching the gradient in relative Frobenius norm"),
    Arm("tm", "kip", "TM T=1 + KIP", "distilled", "stage 1 matches the end of the learner's one-step trajectory; "
                                                  "stage 2 by KIP"),
    Arm("gm-cos", "random", "GM cos + real stage 2", "distilled",
        "the GM cos S1, with m2 random real points for the ridge"),
    Arm("random", REUSE_STAGE1, "random", "real points", "m1 + m2 random real points, for both stages"),
    Arm("k-center", REUSE_STAGE1, "k-center", "real points",
        "greedy k-center coreset of m1 + m2 real points (inputs only), both stages"),
    Arm("herding", REUSE_STAGE1, "herding", "real points",
        "herding coreset of m1 + m2 real points on theta0's random features (inputs only), both stages"),
    Arm("select", "select", "greedy selection", "real points",
        "m1 real points chosen greedily to match the stage-1 gradient, then m2 to minimise the KIP loss "
        "(GradMatch/CRAIG style)"),
    Arm("spectral", "random", "spectral", "synthetic",
        "2r points on the top-r eigenvectors of the empirical H (the task's r), and m1 + m2 - 2r random real "
        "points for stage 2"),
    Arm("spectral", "kip", "spectral + KIP", "synthetic",
        "the same 2r spectral points, and m1 + m2 - 2r points by KIP for stage 2"),
    Arm("moments", "kip", "moment matching + KIP", "synthetic",
        "S1 matches the label-weighted second moment of the real data; S2 by KIP"),
    Arm("moments", "labels", "moment matching + labels", "synthetic",
        "the same S1; S2: m2 real inputs with closed-form optimal labels"),
)
# The baselines at equal memory both pages compare the distillers with.
BASELINES = ("random+stage-1 points", "k-center+stage-1 points", "herding+stage-1 points", "select+select",
             "spectral+random", "spectral+kip", "moments+kip", "moments+labels")
GENERALIZATION = ("gm-cos+kip", *BASELINES)  # notebook 02: the distilled set and every baseline
ALGORITHMS = ("gm-cos+kip", "gm-frobenius+kip", "tm+kip", "gm-cos+random", *BASELINES)  # notebook 04


def arm(name: str) -> Arm:
    """The arm named ``"stage1+stage2"``: ddlib's own from ``ARMS``, or any pair of registered
    methods (label: its name; family from the methods' own).

    Raises:
        ValueError: not one '+' between two names, or a name that is not registered (the message
            lists the registered methods of that stage).
    """
    if name in ARMS:
        return ARMS[name]
    parts = name.split("+") if isinstance(name, str) else []
    if len(parts) != 2:
        raise ValueError(f"an arm is named 'stage1+stage2' by two registered methods (e.g. 'gm-cos+kip'), "
                         f"got {name!r}")
    s1, s2 = STAGE1.lookup(parts[0].strip()), STAGE2.lookup(parts[1].strip())
    real = s1.family == "real points" and (s2.family == "real points" or s2.name == REUSE_STAGE1)
    return Arm(s1.name, s2.name, name, "real points" if real else "synthetic",
               f"stage 1: {s1.what}; stage 2: {s2.what}")


def resolve_arms(page: Sequence[str], extra: Iterable[str] = ()) -> list[Arm]:
    """A page's arms and the ``extra`` ones (the page's ``extra_arms`` parameter), each checked
    against the registries; an extra arm the page already compares, or given twice, counts once.

    Raises:
        ValueError: an unknown arm or method name, or two arms with one label.
    """
    out = [arm(name) for name in dict.fromkeys([*page, *extra])]
    seen: dict[str, str] = {}
    for a in out:
        if seen.setdefault(a.label, a.name) != a.name:
            raise ValueError(f"two arms would show the label {a.label!r}: {seen[a.label]!r} and {a.name!r}")
    return out


def labels(arms: Iterable[Arm], family: Optional[str] = None) -> tuple[str, ...]:
    """The labels of ``arms`` (of one family when given), in order."""
    return tuple(a.label for a in arms if family is None or a.family == family)


def _sizes(a: Arm, m1: int, m2: int) -> tuple[int, int]:
    """The sizes ``compose`` is asked for: (m1, m2), except for a stage-1 method of fixed size (the
    spectral set's 2r), asked for up to m1 + m2 - 1 points: it keeps its own size and every point
    it leaves goes to stage 2, so the arm stores m1 + m2 points even where m1 is below that size
    (where m1 covers it, the set is the one ``compose(real, stage1, stage2, m1, m2)`` makes)."""
    if STAGE1.lookup(a.stage1).fixed_size and not a.shared:
        return m1 + m2 - 1, 1
    return m1, m2


def compose_arm(real: RealData, a: Arm, m1: int, m2: int, config: Config, *, seed: int,
                task: Optional[MultiIndexTask] = None) -> Composed:
    """The arm's set with m1 + m2 points in all, composed from ``real`` (``compose_parts``; sizes
    as ``_sizes`` says); a stage-1 set already made on ``real`` for the same method, size, config
    and seed is reused (``RealData.stage1``)."""
    n1, n2 = _sizes(a, m1, m2)
    return compose_parts(real, _running(1, a.stage1), _running(2, a.stage2), n1, n2, config, seed=seed, task=task,
                         name=a.name)


def stage1_request(a: Arm, m1: int, m2: int) -> int:
    """How many points the arm's stage-1 method is asked for (``compose`` asks m1 + m2 of a method
    whose points serve both stages)."""
    n1, n2 = _sizes(a, m1, m2)
    return n1 + n2 if a.shared else n1


def arm_stage1(real: RealData, a: Arm, m1: int, m2: int, config: Config, *, seed: int) -> Points:
    """The arm's stage-1 points alone (made once per ``real``, method, size, config and seed;
    ``compose_arm`` then reuses them), so that a page can time stage 1 apart from stage 2."""
    return stage1_points(real, _running(1, a.stage1), stage1_request(a, m1, m2), config, seed)[0]


# A page's own sabotage (ddlib.book.controls) may run another registered method in one stage's
# place for the length of a control run: (stage, name) -> the name that runs instead.
SUBSTITUTES: dict[tuple[int, str], str] = {}


def _running(stage: int, name: str) -> str:
    """The method that runs for ``name`` at ``stage``: itself, unless a control substitutes it."""
    return SUBSTITUTES.get((stage, name), name)
