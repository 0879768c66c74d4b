"""Execute the book's notebooks into jupyter-book's execution cache, several at a time.

jupyter-book executes the notebooks of a ``cache`` build one after another, each in a kernel that
uses one core (the notebooks run with one OpenMP thread: their work is many small tensor
operations). ``make book`` first runs::

    python -m booksite.preexecute --cache _build/.jupyter_cache --jobs 2

which executes every cached-mode notebook of the toc that the cache does not hold yet, ``--jobs``
at a time (longest first), exactly as MyST-NB would (same reader, same working folder, same
cache record), so the build that follows finds every notebook in the cache. A notebook whose
results file (``<folder>/results/<name>.json``) is missing is executed again even on a cache hit:
the pages that read the results (the verdicts page) need them. A failing notebook fails the
command with its error; the build would fail on it anyway.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Optional, Sequence

from ddlib.book.notebooks import SLOWEST_FIRST

from .pages import toc_pages

__all__ = ["cached_notebooks", "execute_into_cache", "main"]



def _read(path: Path):
    """The notebook as MyST-NB reads a MyST Markdown file (so the cache key matches)."""
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(path.read_text(encoding="utf8"), add_source_map=True, path=str(path))


def cached_notebooks(root: Path, toc: Path) -> list[Path]:
    """The toc's MyST notebooks that a ``cache`` build executes (a page with ``execution_mode``
    set in its own metadata, such as the verdicts page, is left to the build), slowest first."""
    out = []
    for page in toc_pages(toc):
        path = root / f"{page}.md"
        if not path.is_file() or "kernelspec:" not in path.read_text(encoding="utf8")[:2000]:
            continue
        if "execution_mode" in (_read(path).metadata.get("mystnb") or {}):
            continue
        out.append(path)
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    return sorted(out, key=lambda p: rank.get(p.stem, len(rank)))


def execute_into_cache(path: Path, cache_path: Path, timeout: int = 600) -> tuple[str, float, Optional[str]]:
    """Execute one notebook into the cache (skipping a hit whose results file exists).

    Returns:
        (name, seconds, error or None); seconds is 0 for a cache hit.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    cache = get_cache(str(cache_path))
    nb = _read(path)
    results = path.parent / "results" / f"{path.stem}.json"
    try:
        hit = cache.match_cache_notebook(nb) is not None
    except KeyError:
        hit = False
    if hit and results.is_file():
        return path.stem, 0.0, None
    stage = cache.add_nb_to_project(str(path), read_data={"type": "plugin", "name": "myst_nb_md"})
    result = single_nb_execution(nb, cwd=str(path.parent.resolve()), allow_errors=False, timeout=timeout,
                                 meta_override=True)
    if result.err is not None:
        return path.stem, result.time, f"{type(result.err).__name__}: {result.exc_string[-2000:]}"
    cache.cache_notebook_bundle(CacheBundleIn(nb, stage.uri, data={"execution_seconds": result.time}),
                                check_validity=False, overwrite=True)
    return path.stem, result.time, None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booksite.preexecute", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("_build/.jupyter_cache"))
    parser.add_argument("--toc", type=Path, default=Path("_toc.yml"))
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at a time (default 2)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    root = args.toc.resolve().parent
    notebooks = cached_notebooks(root, args.toc)
    from jupyter_cache import get_cache

    get_cache(str(args.cache.resolve())).db  # create the cache's database once, before the workers share it
    start, failed = time.perf_counter(), []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(execute_into_cache, nb, args.cache.resolve()) for nb in notebooks]
        for future in as_completed(futures):
            name, seconds, error = future.result()
            status = "cached" if seconds == 0 and error is None else (f"{seconds:.0f} s" if error is None else "FAILED")
            print(f"preexecute: {name}: {status}", file=sys.stderr, flush=True)
            if error:
                failed.append(f"{name}: {error}")
    print(f"preexecute: {len(notebooks)} notebook(s), {args.jobs} at a time, {time.perf_counter() - start:.0f} s",
          file=sys.stderr)
    if failed:
        print("preexecute: failed:\n" + "\n".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
