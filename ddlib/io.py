"""Saved artefacts: atomic writes, a format version and a checksum on every file ddlib writes,
so an interrupted run never leaves a half-written file and a corrupted one is never trusted."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ._version import __version__
from .validation import one_line

__all__ = [
    "FORMAT_VERSION",
    "ArtifactError",
    "atomic_write_bytes",
    "save_artifact",
    "load_artifact",
    "write_json",
    "read_json",
    "checksum",
]

FORMAT_VERSION = 1
_MAGIC = "ddlib-artifact"


class ArtifactError(ValueError):
    """A file is not a ddlib artefact of the expected kind, is truncated, corrupted or too new."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename (all or nothing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def checksum(meta: dict, tensors: dict[str, torch.Tensor] | None = None) -> str:
    """sha256 over canonical JSON metadata and every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256(_canonical_json(meta).encode())
    for name in sorted(tensors or {}):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # reshape(-1): a 0-dim tensor cannot be viewed as bytes; the bytes are the same otherwise.
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_artifact(path: str | os.PathLike, kind: str, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Save named tensors and JSON-able metadata as one checksummed file, atomically."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    payload = {"magic": _MAGIC, "kind": kind, "format_version": FORMAT_VERSION,
               "written_by": __version__,  # the writing ddlib, outside the checksummed metadata
               "meta_json": _canonical_json(meta), "tensors": tensors,
               "sha256": checksum(meta, tensors)}
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_artifact(path: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Load what ``save_artifact`` wrote; raise ArtifactError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise ArtifactError(f"{path} is not a readable ddlib {kind} file (truncated, corrupted "
                            f"or another format): {type(exc).__name__}: {one_line(exc, 200)}") from None
    if not isinstance(payload, dict) or payload.get("magic") != _MAGIC:
        raise ArtifactError(f"{path} is not a ddlib artefact (expected a {kind} file)")
    if payload.get("kind") != kind:
        raise ArtifactError(f"{path} holds a {payload.get('kind')!r}, expected a {kind}")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtifactError(f"{path} has format version {version!r}; this ddlib reads versions "
                            f"<= {FORMAT_VERSION}: upgrade ddlib")
    try:
        meta = json.loads(payload["meta_json"])
        tensors = dict(payload["tensors"])
    except Exception as exc:
        raise ArtifactError(f"{path}: malformed ddlib {kind} file: {one_line(exc, 200)}") from None
    if checksum(meta, tensors) != payload.get("sha256"):
        raise ArtifactError(f"{path}: checksum mismatch, the file is corrupted")
    return tensors, meta


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically, with a format version and a sha256 of the content under '_integrity'."""
    if not isinstance(obj, dict):
        raise TypeError(f"obj must be a dict, got {type(obj).__name__}")
    body = {k: v for k, v in obj.items() if k != "_integrity"}
    body_json = _canonical_json(body)
    record = dict(body)
    record["_integrity"] = {"format_version": FORMAT_VERSION,
                            "sha256": hashlib.sha256(body_json.encode()).hexdigest()}
    text = json.dumps(record, indent=2, sort_keys=True, default=str) + "\n"
    return atomic_write_bytes(path, text.encode())


def read_json(path: str | os.PathLike, verify: bool = True) -> dict:
    """Read a JSON file written by ``write_json``; with ``verify`` check version and checksum."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not readable JSON ({one_line(exc, 200)})") from None
    if not verify:
        return record
    integrity = record.pop("_integrity", None) if isinstance(record, dict) else None
    if not isinstance(integrity, dict):
        raise ArtifactError(f"{path}: no integrity record; not written by ddlib.io.write_json")
    if not isinstance(integrity.get("format_version"), int) or integrity["format_version"] > FORMAT_VERSION:
        raise ArtifactError(f"{path}: format version {integrity.get('format_version')!r} is newer "
                            f"than this ddlib reads ({FORMAT_VERSION})")
    if hashlib.sha256(_canonical_json(record).encode()).hexdigest() != integrity.get("sha256"):
        raise ArtifactError(f"{path}: checksum mismatch, the file is corrupted")
    return record
