"""The results folder of a sweep: one checksummed JSON file per point, named by a hash of the
experiment, the point and the ddlib version; a failures file; the gathered table; a manifest.

A results folder belongs to one experiment and records, in ``sweep.json``, every grid run in it
(each with its own table and failures file).  ddlib never works in a folder it did not make:
an existing folder is used only if it is empty or a sweep folder of the same experiment (and, if
asked, the same grid) holding nothing but ddlib's own files; only ddlib's own temporaries
(``.<name>.<random>.tmp`` next to a file ddlib writes) are ever removed.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .._version import __version__
from ..io import ArtifactError, atomic_write_bytes, read_json, write_json
from .grid import SCALAR_TYPES

__all__ = ["point_key", "grid_id", "ResultStore", "RECORD_KIND", "MANIFEST_KIND", "SweepFolderError", "GridFiles"]

RECORD_KIND = "ddlib-sweep-point"
MANIFEST_KIND = "ddlib-sweep"
log = logging.getLogger("ddlib.sweep")

_KEY = r"[0-9a-f]{20}"
_GID = r"[0-9a-f]{12}"
_OWN_ROOT = re.compile(rf"^(sweep\.json|table\.csv|table\.parquet|failures\.json|\.lock|"
                       rf"table-{_GID}\.(csv|parquet)|failures-{_GID}\.json)$")
_OWN_POINT = re.compile(rf"^{_KEY}\.json$")
_TMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")  # ddlib.io.atomic_write_bytes (mkstemp)


class SweepFolderError(ValueError):
    """A results folder that a sweep must not write to (foreign files, another experiment or
    grid, not a folder, not writable)."""


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def point_key(experiment: str, point: dict) -> str:
    """A 20-hex-digit sha256 of the experiment name, the canonical point and the ddlib version."""
    blob = _canonical({"experiment": experiment, "point": point, "ddlib_version": __version__})
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def grid_id(grid_record: dict) -> str:
    """A 12-hex-digit sha256 of a grid's canonical record (params, seeds, fixed)."""
    return hashlib.sha256(_canonical(grid_record).encode()).hexdigest()[:12]


def _own_tmp(name: str, own: re.Pattern) -> bool:
    m = _TMP.match(name)
    return bool(m and own.match(m.group("name")))


@dataclass(frozen=True)
class GridFiles:
    """The files of one grid in a results folder: its id, table and failures file names."""

    id: str
    table: str
    failures: str

    @property
    def parquet(self) -> str:
        return self.table[: -len(".csv")] + ".parquet"


class ResultStore:
    """Reads and writes ``<root>/points/<key>.json``, the failures file, the table, ``sweep.json``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.points_dir = self.root / "points"
        self.failures_path = self.root / "failures.json"
        self.table_path = self.root / "table.csv"
        self.manifest_path = self.root / "sweep.json"

    # ------------------------------------------------------------------ the folder contract
    def _foreign(self, limit: int = 3) -> list[str]:
        """Up to ``limit`` entries of the folder that ddlib did not write."""
        foreign: list[str] = []
        for entry in sorted(os.listdir(self.root)):
            if entry == "points" and self.points_dir.is_dir() and not self.points_dir.is_symlink():
                for name in os.listdir(self.points_dir):
                    if not (_OWN_POINT.match(name) or _own_tmp(name, _OWN_POINT)):
                        foreign.append(f"points/{name}")
                        if len(foreign) >= limit:
                            return foreign
            elif not (_OWN_ROOT.match(entry) or _own_tmp(entry, _OWN_ROOT)):
                foreign.append(entry)
            if len(foreign) >= limit:
                break
        return foreign

    def _holds_results(self) -> bool:
        """True if the folder holds more than a lock file, temporaries and an empty points/."""
        for entry in os.listdir(self.root):
            if entry == "points":
                if any(not _own_tmp(n, _OWN_POINT) for n in os.listdir(self.points_dir)):
                    return True
            elif entry != ".lock" and not _own_tmp(entry, _OWN_ROOT):
                return True
        return False

    def read_manifest(self) -> dict | None:
        """The folder's manifest (older single-grid manifests converted), None if absent."""
        if not self.manifest_path.exists():
            return None
        try:
            record = read_json(self.manifest_path)
        except ArtifactError as exc:
            raise SweepFolderError(f"{self.manifest_path} is not a readable sweep manifest ({exc})") from None
        if not isinstance(record, dict) or not isinstance(record.get("experiment"), str):
            raise SweepFolderError(f"{self.manifest_path} is not a sweep manifest")
        if "grids" not in record and isinstance(record.get("grid"), dict):  # written by ddlib <= 0.x
            old = {k: v for k, v in record.items() if k not in ("experiment", "grid")}
            record = {"kind": MANIFEST_KIND, "experiment": record["experiment"],
                      "grids": {grid_id(record["grid"]): {"grid": record["grid"], "table": "table.csv",
                                                          "failures": "failures.json", **old}}}
        if not isinstance(record.get("grids"), dict):
            raise SweepFolderError(f"{self.manifest_path} is not a sweep manifest (no grids)")
        return record

    def check_folder(self, experiment: str, grid_record: dict, same_grid: bool) -> None:
        """Refuse (SweepFolderError) a results folder this sweep must not write to.

        Accepted: a folder that does not exist yet, an empty one, or a sweep folder of
        ``experiment`` (and of this grid when ``same_grid``) that holds only ddlib's files.
        Nothing is written.
        """
        root = self.root
        if root.is_symlink() and not root.exists():
            raise SweepFolderError(f"results folder {root} is a broken symbolic link")
        if not root.exists():
            parent = next((p for p in root.parents if p.exists()), None)
            if parent is not None and not parent.is_dir():
                raise SweepFolderError(f"cannot create results folder {root}: {parent} is not a folder")
            if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
                raise SweepFolderError(f"cannot create results folder {root}: {parent} is not writable")
            return
        if not root.is_dir():
            raise SweepFolderError(f"results folder {root} exists and is not a folder")
        if not os.access(root, os.W_OK | os.X_OK):
            raise SweepFolderError(f"results folder {root} is not writable")
        if self.points_dir.exists() and (not self.points_dir.is_dir() or self.points_dir.is_symlink()):
            raise SweepFolderError(f"results folder {root} has a 'points' that is not a folder; choose "
                                   f"an empty or new results folder")
        foreign = self._foreign()
        if foreign:
            raise SweepFolderError(f"results folder {root} holds files ddlib did not write ({', '.join(foreign)}"
                                   f"{', ...' if len(foreign) >= 3 else ''}); a sweep only writes to an empty "
                                   f"folder or its own sweep folder: choose another results folder")
        manifest = self.read_manifest()
        if manifest is None:
            if self._holds_results():
                raise SweepFolderError(f"results folder {root} is not a sweep folder (no sweep.json) and is "
                                       f"not empty; choose an empty or new results folder")
            return
        if manifest["experiment"] != experiment:
            raise SweepFolderError(f"results folder {root} holds a sweep of experiment {manifest['experiment']!r}, "
                                   f"not {experiment!r}; choose another results folder")
        if same_grid and grid_id(grid_record) not in manifest["grids"]:
            raise SweepFolderError(f"results folder {root} holds a sweep of another grid of {experiment!r}; "
                                   f"its table would be mixed with this one: choose another results folder")

    def register_grid(self, experiment: str, grid_record: dict) -> GridFiles:
        """Record the grid in the manifest (status "running") and name its files: the folder's
        first grid gets ``table.csv``/``failures.json``, later ones ``table-<id>.csv`` and
        ``failures-<id>.json``, so no grid's table or failures are overwritten by another's."""
        manifest = self.read_manifest() or {"kind": MANIFEST_KIND, "experiment": experiment, "grids": {}}
        gid = grid_id(grid_record)
        entry = manifest["grids"].get(gid)
        if entry is None:
            taken = {g.get("table") for g in manifest["grids"].values()}
            first = "table.csv" not in taken and not self.table_path.exists()
            entry = {"grid": grid_record, "table": "table.csv" if first else f"table-{gid}.csv",
                     "failures": "failures.json" if first else f"failures-{gid}.json"}
        entry["status"] = "running"
        manifest["grids"][gid] = entry
        self.write_manifest(manifest)
        return GridFiles(gid, entry["table"], entry["failures"])

    def finish_grid(self, files: GridFiles, record: dict) -> Path:
        """Mark the grid done in the manifest, with the run's record (counts, provenance)."""
        manifest = self.read_manifest()
        assert manifest is not None
        manifest["grids"][files.id].update(record, status="done")
        return self.write_manifest(manifest)

    def prepare(self) -> None:
        """Create the folders and remove ddlib's own temporaries left by a killed run (call under
        the lock); any other file is left alone."""
        self.points_dir.mkdir(parents=True, exist_ok=True)
        for folder, own in ((self.points_dir, _OWN_POINT), (self.root, _OWN_ROOT)):
            for name in os.listdir(folder):
                if _own_tmp(name, own):
                    (folder / name).unlink(missing_ok=True)

    # ------------------------------------------------------------------ points
    def path(self, key: str) -> Path:
        return self.points_dir / f"{key}.json"

    def write(self, key: str, experiment: str, point: dict, result: dict, *, attempt: int,
              wall_time_s: float) -> Path:
        """Write one point's result atomically, with a format version and a checksum."""
        record = {"kind": RECORD_KIND, "key": key, "experiment": experiment,
                  "ddlib_version": __version__, "point": point, "result": result,
                  "result_columns": list(result), "attempt": attempt, "wall_time_s": wall_time_s}
        return write_json(self.path(key), record)

    def read(self, key: str, experiment: str, point: dict) -> dict | None:
        """The stored result of a point, or None when absent or not trustworthy (then logged).

        A file is trusted only if its checksum verifies and it records this key, experiment and
        point with a flat dict of scalar results; anything else is recomputed.
        """
        path = self.path(key)
        if not path.exists():
            return None
        try:
            record = read_json(path)
        except ArtifactError as exc:
            log.warning("recomputing point %s: %s", key, exc)
            return None
        problem = self._schema_problem(record, key, experiment, point)
        if problem:
            log.warning("recomputing point %s: %s fails the schema check (%s)", key, path, problem)
            return None
        result = record["result"]
        return {k: result[k] for k in record["result_columns"]}  # the function's own order

    @staticmethod
    def _schema_problem(record: Any, key: str, experiment: str, point: dict) -> str | None:
        if not isinstance(record, dict) or record.get("kind") != RECORD_KIND:
            return f"kind is not {RECORD_KIND!r}"
        if record.get("key") != key or record.get("experiment") != experiment:
            return "it belongs to another point or experiment"
        if _canonical(record.get("point")) != _canonical(point):
            return "its point differs from the grid's"
        result = record.get("result")
        if not isinstance(result, dict) or not all(
                isinstance(k, str) and k not in point and isinstance(v, SCALAR_TYPES) for k, v in result.items()):
            return "its result is not a flat dict of scalars"
        columns = record.get("result_columns")
        if (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)
                or len(columns) != len(result) or set(columns) != set(result)):
            return "its result_columns do not list the result's keys"
        return None

    # ------------------------------------------------------------------ per-grid outputs
    def write_failures(self, experiment: str, failures: list[dict], name: str = "failures.json") -> Path:
        """Record this run's failed points with their tracebacks in the grid's failures file,
        replacing the previous run's (removed when none failed: they were recomputed)."""
        path = self.root / name
        if failures:
            write_json(path, {"experiment": experiment, "ddlib_version": __version__, "failures": failures})
        else:
            path.unlink(missing_ok=True)
        return path

    def write_table(self, table, name: str = "table.csv") -> list[Path]:
        """The tidy table as CSV (and parquet when pyarrow is installed), written atomically."""
        path = self.root / name
        written = [atomic_write_bytes(path, table.to_csv(index=False).encode())]
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return written
        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        written.append(atomic_write_bytes(path.with_suffix(".parquet"), buf.getvalue()))
        return written

    def write_manifest(self, record: dict) -> Path:
        return write_json(self.manifest_path, record)


def gather(rows: Iterable[tuple[dict, dict]]):
    """One row per point: its parameters, its seed, then its returned values."""
    import pandas as pd

    return pd.DataFrame([{**point, **result} for point, result in rows])
