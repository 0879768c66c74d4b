"""Provenance of a result: ddlib version, git SHA, package versions, machine, wall time."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from ._version import __version__
from .io import atomic_write_bytes, write_json

__all__ = ["git_sha", "package_versions", "provenance", "write_results", "write_notebook_results", "Timer"]

_PACKAGES = ("torch", "numpy", "pandas", "matplotlib", "seaborn", "papermill", "jupyter-book")


def git_sha() -> str:
    """The git commit of the ddlib checkout (or 'unknown' outside a git checkout)."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True)
        sha = out.stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance() -> dict[str, Any]:
    """Everything needed to say where a number came from."""
    return {
        "ddlib_version": __version__,
        "git_sha": git_sha(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }


class Timer:
    """Wall-clock timer for provenance records (never used to seed anything)."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def write_results(results_dir: str | os.PathLike, name: str, *, parameters: dict, seeds: list[int],
                  results: dict, wall_time_s: float) -> Path:
    """Write ``<results_dir>/<name>.json`` with parameters, seeds, results and provenance."""
    record = {"name": name, "parameters": parameters, "seeds": list(seeds), "results": results,
              "wall_time_s": wall_time_s, "provenance": provenance()}
    return write_json(Path(results_dir) / f"{name}.json", record)


def _seeds_in(tables: Mapping[str, Any]) -> dict[str, list[int]]:
    """Every seed column (``base_seed``, ``seed_*``) of every table, as sorted lists of ints."""
    seeds: dict[str, set[int]] = {}
    for table in tables.values():
        for col in table.columns:
            if col == "base_seed" or col.startswith("seed_"):
                seeds.setdefault(col, set()).update(int(v) for v in table[col].dropna().unique())
    return {k: sorted(v) for k, v in sorted(seeds.items())}


def write_notebook_results(results_dir: str | os.PathLike, name: str, *, profile: str, parameters: Mapping[str, Any],
                           tables: Mapping[str, Any], headline: Mapping[str, Any],
                           verdicts: Optional[list[dict]] = None, wall_time_s: float) -> list[Path]:
    """What a notebook leaves behind: each tidy table as CSV and one JSON record.

    The first table is ``<name>.csv``, the others ``<name>_<key>.csv``; the JSON
    ``<name>.json`` holds the profile and parameters, every seed found in the tables, the
    headline numbers, the claims' verdicts, every table's rows and the provenance.

    Returns:
        The paths written (CSVs first, then the JSON).
    """
    root = Path(results_dir)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (key, table) in enumerate(tables.items()):
        path = root / (f"{name}.csv" if i == 0 else f"{name}_{key}.csv")
        written.append(atomic_write_bytes(path, table.to_csv(index=False).encode()))
    seeds = _seeds_in(tables)
    results = {"headline": dict(headline), "tables": {k: t.to_dict(orient="records") for k, t in tables.items()}}
    record = {"name": name, "profile": profile, "parameters": dict(parameters), "seeds": seeds,
              "results": results, "verdicts": list(verdicts or []), "wall_time_s": wall_time_s,
              "provenance": provenance()}
    written.append(write_json(root / f"{name}.json", record))
    return written
