"""The results folder of a sweep: one checksummed JSON file per point, named by a hash of the
experiment, the point and the ddlib version; a failures file; the gathered table."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

from .._version import __version__
from ..io import ArtifactError, atomic_write_bytes, read_json, write_json
from .grid import SCALAR_TYPES

__all__ = ["point_key", "ResultStore", "RECORD_KIND"]

RECORD_KIND = "ddlib-sweep-point"
log = logging.getLogger("ddlib.sweep")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def point_key(experiment: str, point: dict) -> str:
    """A 20-hex-digit sha256 of the experiment name, the canonical point and the ddlib version."""
    blob = _canonical({"experiment": experiment, "point": point, "ddlib_version": __version__})
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class ResultStore:
    """Reads and writes ``<root>/points/<key>.json``, ``failures.json``, ``table.csv``, ``sweep.json``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.points_dir = self.root / "points"
        self.failures_path = self.root / "failures.json"
        self.table_path = self.root / "table.csv"
        self.manifest_path = self.root / "sweep.json"

    def prepare(self) -> None:
        """Create the folders and remove temporary files left by a killed run (call under the lock)."""
        self.points_dir.mkdir(parents=True, exist_ok=True)
        for tmp in [*self.points_dir.glob(".*.tmp"), *self.root.glob(".*.tmp")]:
            tmp.unlink(missing_ok=True)

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

    def write_failures(self, experiment: str, failures: list[dict]) -> None:
        """Record the failed points with their tracebacks (and remove a stale file when none)."""
        if failures:
            write_json(self.failures_path, {"experiment": experiment, "ddlib_version": __version__,
                                            "failures": failures})
        else:
            self.failures_path.unlink(missing_ok=True)

    def write_table(self, table) -> list[Path]:
        """The tidy table as CSV (and parquet when pyarrow is installed), written atomically."""
        written = [atomic_write_bytes(self.table_path, table.to_csv(index=False).encode())]
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return written
        buf = io.BytesIO()
        table.to_parquet(buf, index=False)
        written.append(atomic_write_bytes(self.root / "table.parquet", buf.getvalue()))
        return written

    def write_manifest(self, record: dict) -> Path:
        return write_json(self.manifest_path, record)


def gather(rows: Iterable[tuple[dict, dict]]):
    """One row per point: its parameters, its seed, then its returned values."""
    import pandas as pd

    return pd.DataFrame([{**point, **result} for point, result in rows])
