"""What a notebook leaves behind: its tidy tables as CSV and one JSON record (parameters, every
seed, headline numbers, verdicts, provenance), written atomically."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional

from ..io import atomic_write_bytes, write_json
from ..provenance import provenance

__all__ = ["write_notebook_results"]


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
