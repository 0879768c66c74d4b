"""The book's notebooks, listed once: each page's name, the experiment module behind it
(``ddlib.experiments.<module>``) and its rank in cost at the book profile (the build starts the
slowest first, so that two workers finish together), in the order the book shows them."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ["Notebook", "NOTEBOOK_LIST", "NOTEBOOKS", "NOTEBOOK_PAGES", "SLOWEST_FIRST", "experiment_module"]


@dataclass(frozen=True)
class Notebook:
    name: str        # the page: notebooks/<name>.md
    experiment: str  # its module: ddlib.experiments.<experiment>
    cost_rank: int   # 0 = the slowest page at the book profile


NOTEBOOK_LIST: tuple[Notebook, ...] = (
    Notebook("00_learner", "learner", 5),
    Notebook("01_encoding", "encoding", 4),
    Notebook("02_generalization", "generalization", 1),
    Notebook("03_memory", "memory", 0),
    Notebook("04_algorithms", "algorithms", 3),
    Notebook("05_boundaries", "boundaries", 2),
    Notebook("06_stages", "stages", 6),
)
NOTEBOOKS: dict[str, str] = {nb.name: nb.experiment for nb in NOTEBOOK_LIST}  # page -> experiment module
NOTEBOOK_PAGES: tuple[str, ...] = tuple(NOTEBOOKS)
SLOWEST_FIRST: tuple[str, ...] = tuple(nb.name for nb in sorted(NOTEBOOK_LIST, key=lambda nb: nb.cost_rank))


def experiment_module(notebook: str) -> ModuleType:
    """The experiment module of a notebook page (ValueError for an unknown page)."""
    if notebook not in NOTEBOOKS:
        raise ValueError(f"notebook must be one of {list(NOTEBOOKS)}, got {notebook!r}")
    return importlib.import_module(f"ddlib.experiments.{NOTEBOOKS[notebook]}")
