"""The repetition scaffold every experiment uses: repetition k of an experiment with base seed
s draws its whole problem from seed s + k (``make_problem`` derives one named seed per random
stream), records those seeds in every row it produces, and its numbers are summarised over
repetitions as a mean with a t-interval."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import pandas as pd

from ..stats import DEFAULT_LEVEL, mean_interval
from ..validation import check_int
from .problem import Problem, make_problem

__all__ = ["Repetition", "repetition", "repetitions", "summarise"]


@dataclass(frozen=True)
class Repetition:
    """One repetition: its index k, its base seed (experiment seed + k) and its problem."""

    index: int
    base_seed: int
    problem: Problem

    def record(self, **extra: Any) -> dict[str, Any]:
        """The columns every row of this repetition carries: index, every seed, the problem's
        size and link, then ``extra``."""
        p = self.problem
        return {"repetition": self.index, "base_seed": self.base_seed,
                **{f"seed_{name}": value for name, value in p.seeds.items()},
                "d": p.task.d, "r": p.task.r, "width": p.net.width, "n_train": p.X.shape[0],
                "link": p.task.link, "noise": p.task.noise, **extra}


def repetition(index: int, seed: int, *, d: int, r: int, width: int, n_train: int, link: str = "he2",
               noise: float = 0.0) -> Repetition:
    """Repetition ``index`` of an experiment with base seed ``seed``: its problem from seed + index."""
    index = check_int("repetition index", index, min_value=0)
    base = check_int("seed", seed, min_value=0) + index
    return Repetition(index, base, make_problem(d=d, r=r, width=width, n_train=n_train, link=link,
                                                noise=noise, seed=base))


def repetitions(*, seed: int, n_seeds: int, d: int, r: int, width: int, n_train: int, link: str = "he2",
                noise: float = 0.0, progress: bool = False, desc: str = "repetitions") -> Iterator[Repetition]:
    """Repetitions 0 .. n_seeds - 1 of one problem size, with a tqdm bar when ``progress``."""
    from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

    n_seeds = check_int("n_seeds", n_seeds, min_value=1)
    for k in tqdm(range(n_seeds), desc=desc, disable=not progress):
        yield repetition(k, seed, d=d, r=r, width=width, n_train=n_train, link=link, noise=noise)


def summarise(table: pd.DataFrame, by: Sequence[str], columns: Sequence[str],
              level: float = DEFAULT_LEVEL) -> pd.DataFrame:
    """Per group of ``by`` and per column: mean over repetitions with its t-interval, min, max, n.

    Returns:
        A tidy table of the ``by`` columns, ``quantity``, ``mean``, ``lo``, ``hi``, ``min``, ``max``, ``n``
        (rows with a missing value are left out of their column's summary).
    """
    rows = []
    for key, group in table.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for col in columns:
            values = group[col].dropna()
            if values.empty:
                continue
            ci = mean_interval(values.astype(float).tolist(), level)
            rows.append({**dict(zip(by, key)), "quantity": col, "mean": ci.estimate, "lo": ci.lo, "hi": ci.hi,
                         "min": float(values.min()), "max": float(values.max()), "n": ci.n})
    return pd.DataFrame(rows)
