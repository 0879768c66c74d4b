"""Key the book's notebook execution cache on the library's source, not only on the notebooks.

jupyter-cache re-executes a notebook only when the notebook itself changes, so after an edit to
``ddlib`` a local ``make book`` would serve outputs computed with the old library. Before each
build, ``make book`` runs::

    python -m booksite.cache_stamp --cache _build/.jupyter_cache

which hashes ``ddlib/**/*.py``, the data ddlib ships (``ddlib/**/*.json``: the calibration records
the pages show), the committed paper-scale data (``data/**``) and ``requirements-lock.txt``
(sha256 over their paths and bytes),
compares the digest with the stamp left by the previous build (``<cache>.source-sha256``) and, when
they differ or no stamp exists, deletes the cache so every notebook executes again. Cost of a
change: one full execution (about 3 minutes); cost of no change: nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path
from typing import Iterable, Optional, Sequence

DEFAULT_SOURCES = ("ddlib",)
DEFAULT_EXTRA = ("requirements-lock.txt",)
DATA_FOLDERS = ("data",)  # committed data the pages read (each file, recursively)
_SUFFIXES = (".py", ".json")


def source_files(root: Path, packages: Iterable[str] = DEFAULT_SOURCES,
                 extra: Iterable[str] = DEFAULT_EXTRA) -> list[Path]:
    """The files the digest covers: every ``*.py`` and ``*.json`` under each package, every file of
    the committed data folders, then the extra files."""
    files: list[Path] = []
    for package in packages:
        folder = root / package
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder")
        files += sorted(p for p in folder.rglob("*") if p.suffix in _SUFFIXES and p.is_file()
                        and "__pycache__" not in p.parts)
    for folder in DATA_FOLDERS:
        if (root / folder).is_dir():
            files += sorted(p for p in (root / folder).rglob("*") if p.is_file())
    files += [root / name for name in extra if (root / name).is_file()]
    return files


def source_digest(root: Path, packages: Iterable[str] = DEFAULT_SOURCES,
                  extra: Iterable[str] = DEFAULT_EXTRA) -> str:
    """sha256 over the relative path and the bytes of each file of :func:`source_files`."""
    digest = hashlib.sha256()
    for path in source_files(root, packages, extra):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def stamp_path(cache: Path) -> Path:
    """Where the digest of the last build is kept: beside the cache, so clearing it keeps the stamp."""
    return cache.with_name(cache.name + ".source-sha256")


def refresh_cache(cache: Path, digest: str) -> Optional[str]:
    """Clear ``cache`` unless its stamp equals ``digest``; then stamp it. Returns why it was cleared
    (None when the stamp matched; the reason also when there was no cache to clear)."""
    stamp = stamp_path(cache)
    previous = stamp.read_text().strip() if stamp.is_file() else None
    if previous == digest:
        return None
    reason = ("no stamp of the library source" if previous is None
              else f"library source changed ({previous[:12]} -> {digest[:12]})")
    if cache.exists():
        shutil.rmtree(cache)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest + "\n")
    return reason


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booksite.cache_stamp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("_build/.jupyter_cache"), help="jupyter-cache folder")
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root")
    parser.add_argument("--package", action="append", help=f"source folder to hash (default {DEFAULT_SOURCES[0]})")
    args = parser.parse_args(argv)
    try:
        digest = source_digest(args.root, args.package or DEFAULT_SOURCES)
    except OSError as exc:
        print(f"cache stamp: {exc}", file=sys.stderr)
        return 2
    had_cache = args.cache.exists()
    reason = refresh_cache(args.cache, digest)
    if reason is None:
        print(f"cache stamp: library source unchanged ({digest[:12]}): cached notebook outputs are reused")
    elif had_cache:
        print(f"cache stamp: {reason}: cleared {args.cache}, every notebook executes again")
    else:
        print(f"cache stamp: no cache yet; stamped {digest[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
