"""Saved artefacts: atomic writes, a format version and a checksum on every file ddlib writes,
so an interrupted run never leaves a half-written file and a corrupted one is never trusted."""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ._version import __version__
from .validation import one_line
from .values import INT_BOUND, short_repr

__all__ = [
    "FORMAT_VERSION",
    "ArtifactError",
    "atomic_write_bytes",
    "save_artifact",
    "load_artifact",
    "write_json",
    "read_json",
    "checksum",
    "check_metadata",
]

FORMAT_VERSION = 1
_MAGIC = "ddlib-artifact"


class ArtifactError(ValueError):
    """A file is not a ddlib artefact of the expected kind, is truncated, corrupted or too new;
    or what is to be saved cannot be stored as one (metadata that is not JSON data, an entry of
    the tensors that is not a tensor)."""


_JSON_TYPES = "None, bool, int, finite float, str, list, dict with str keys"
MAX_METADATA_DEPTH = 64  # nesting of lists and dicts in metadata (ddlib's own use 2 or 3 levels)


def _shown(path: str | os.PathLike) -> str:
    """A path for a message: as is, or quoted if it holds a line break (messages are one line)."""
    text = str(path)
    return text if text.isprintable() else short_repr(text)


def check_metadata(meta: Any, where: str = "metadata") -> dict:
    """``meta`` if it is JSON data all the way down, so that it is saved exactly and read back
    equal; else ArtifactError (one line) naming the offending key and its type.

    Accepted: a dict with str keys whose values are None, bool, int in [-2**63, 2**63), finite
    float, str, or lists and str-keyed dicts of those (at most MAX_METADATA_DEPTH levels deep).
    Refused: tensors, arrays and numpy scalars, sets, tuples (JSON reads them back as lists),
    bytes, NaN and +-inf, non-string keys, a list or dict that contains itself.
    """
    if not isinstance(meta, dict):
        raise ArtifactError(f"{where} must be a dict, got {type(meta).__name__}")
    on_path: set[int] = set()

    def walk(v: Any, at: str, depth: int) -> None:
        if v is None or isinstance(v, (bool, str)):
            return
        if isinstance(v, int):
            if not -INT_BOUND <= v < INT_BOUND:
                raise ArtifactError(f"{at}: integers must lie in [-2**63, 2**63), got {short_repr(v, 80)}")
            return
        if isinstance(v, float):
            if not math.isfinite(v):
                raise ArtifactError(f"{at}: numbers must be finite (NaN and inf are not JSON), got {v!r}")
            return
        if isinstance(v, (list, dict)):
            if id(v) in on_path:
                raise ArtifactError(f"{at}: the {type(v).__name__} contains itself")
            if depth >= MAX_METADATA_DEPTH:
                raise ArtifactError(f"{at}: nested more than {MAX_METADATA_DEPTH} levels deep")
            on_path.add(id(v))
            if isinstance(v, list):
                for i, x in enumerate(v):
                    walk(x, f"{at}[{i}]", depth + 1)
            else:
                for k, x in v.items():
                    if not isinstance(k, str):
                        raise ArtifactError(f"{at}: the key {short_repr(k, 80)} has type {type(k).__name__}; "
                                            f"metadata keys must be strings (JSON object keys)")
                    walk(x, f"{at}[{short_repr(k, 60)}]", depth + 1)
            on_path.discard(id(v))
            return
        hint = " (use a list)" if isinstance(v, tuple) else ""
        raise ArtifactError(f"{at} has type {type(v).__name__}{hint}, not JSON data ({_JSON_TYPES}): "
                            f"{short_repr(v, 80)}")

    walk(meta, where, 0)
    return meta


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


def _check_tensors(tensors: Any, where: str) -> None:
    """``tensors`` is a dict of str -> tensor, else a one-line ArtifactError starting with ``where``."""
    if not isinstance(tensors, dict):
        raise ArtifactError(f"{where} its tensors have type {type(tensors).__name__}, not a dict name -> tensor")
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise ArtifactError(f"{where} the tensor name {short_repr(name, 80)} has type {type(name).__name__}, "
                                f"not a str")
        if not isinstance(t, torch.Tensor):
            raise ArtifactError(f"{where} the entry {short_repr(name, 60)} of its tensors has type "
                                f"{type(t).__name__}, not a tensor")


def save_artifact(path: str | os.PathLike, kind: str, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Save named tensors and JSON metadata as one checksummed file, atomically.

    Raises:
        ArtifactError: ``tensors`` is not a dict of str -> tensor, or ``meta`` is not JSON data
            (``check_metadata``); nothing is written then.
    """
    if not isinstance(kind, str) or not kind:
        raise ArtifactError(f"kind must be a non-empty str, got {short_repr(kind, 80)}")
    _check_tensors(tensors, f"{kind} tensors:")
    check_metadata(meta, f"{kind} metadata")
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    # Checked above, so no default= and no NaN: the text is the one _canonical_json gives.
    meta_json = json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False)
    payload = {"magic": _MAGIC, "kind": kind, "format_version": FORMAT_VERSION,
               "written_by": __version__,  # the writing ddlib, outside the checksummed metadata
               "meta_json": meta_json, "tensors": tensors,
               "sha256": checksum(meta, tensors)}
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_artifact(path: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Load what ``save_artifact`` wrote; raise ArtifactError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    at = _shown(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise ArtifactError(f"{at} is not a readable ddlib {kind} file (truncated, corrupted "
                            f"or another format): {type(exc).__name__}: {one_line(exc, 200)}") from None
    if not isinstance(payload, dict) or payload.get("magic") != _MAGIC:
        raise ArtifactError(f"{at} is not a ddlib artefact (expected a {kind} file)")
    if payload.get("kind") != kind:
        raise ArtifactError(f"{at} holds a {short_repr(payload.get('kind'), 80)}, expected a {kind}")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtifactError(f"{at} has format version {short_repr(version, 80)}; this ddlib reads versions "
                            f"<= {FORMAT_VERSION}: upgrade ddlib")
    malformed = f"{at}: malformed ddlib {kind} file:"
    meta_json, tensors = payload.get("meta_json"), payload.get("tensors")
    if not isinstance(meta_json, str):
        raise ArtifactError(f"{malformed} its metadata has type {type(meta_json).__name__}, not JSON text")
    try:
        meta = json.loads(meta_json)
    except Exception as exc:  # JSONDecodeError, RecursionError, an over-long integer
        raise ArtifactError(f"{malformed} its metadata is not valid JSON: {one_line(exc, 200)}") from None
    if not isinstance(meta, dict):
        raise ArtifactError(f"{malformed} its metadata has type {type(meta).__name__}, not a JSON object")
    _check_tensors(tensors, malformed)
    tensors = dict(tensors)
    try:
        digest = checksum(meta, tensors)
    except Exception as exc:  # a tensor whose bytes cannot be read (sparse, quantised, ...)
        raise ArtifactError(f"{malformed} {type(exc).__name__}: {one_line(exc, 200)}") from None
    if digest != payload.get("sha256"):
        raise ArtifactError(f"{at}: checksum mismatch, the file is corrupted")
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
