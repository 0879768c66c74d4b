"""Seeds the book does not choose: every page's claims decided on two more disjoint blocks of
repetitions at the book profile, beside the book's own (base seeds 0, 1, ...).

A verdict that changes between blocks depends on which seeds were drawn; the page shows each
block's verdict and the summary page marks such a claim *seed-dependent*.  The two extra blocks
are committed data (``ddlib/experiments/blocks/<notebook>.json``, ``make blocks``), each with its
provenance, and kept current by behaviour: the record stores the check values of one repetition
of its first block, and today's code must recompute them bit for bit (``check_sentinel``).

    python -m ddlib.book.blocks [NOTEBOOK ...]            # regenerate the records
    python -m ddlib.book.blocks --status                  # current? (sentinels recomputed)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..experiments.parameters import resolve_parameters
from ..experiments.sentinels import SentinelCheck, recompute
from ..io import read_json, write_json
from ..provenance import provenance
from .claims import claims_of
from .notebooks import NOTEBOOKS, experiment_module

__all__ = ["BLOCK_SEEDS", "BLOCK_PROFILE", "BLOCKS_DIR", "block_record", "load_blocks", "blocks_path",
           "seed_dependent", "check_sentinel", "main"]

BLOCK_PROFILE = "book"
BLOCK_SEEDS = (100, 200)  # base seeds of the two extra blocks: disjoint from the book's, CI's and calibration's
BLOCKS_DIR = Path(__file__).resolve().parents[1] / "experiments" / "blocks"


def blocks_path(notebook: str, root: Path = BLOCKS_DIR) -> Path:
    if notebook not in NOTEBOOKS:
        raise ValueError(f"notebook must be one of {list(NOTEBOOKS)}, got {notebook!r}")
    return Path(root) / f"{notebook}.json"


def _sentinel_values(notebook: str) -> dict[str, list[float]]:
    """The check values of the first repetition of the first extra block, run alone."""
    module = experiment_module(notebook)
    P = resolve_parameters(module.PROFILES, BLOCK_PROFILE, seed=BLOCK_SEEDS[0], n_seeds=1)
    values = module.measures(module.run(**P, progress=False), P)
    return {key: [float(v) for v in values.get(key, [])] for key in module.CHECKS}


def block_record(notebook: str, seeds: Sequence[int] = BLOCK_SEEDS) -> dict[str, Any]:
    """A page's claims decided on each extra block (the book profile at each base seed)."""
    module = experiment_module(notebook)
    record: dict[str, Any] = {"notebook": notebook, "profile": BLOCK_PROFILE, "blocks": {}, "provenance": provenance()}
    for seed in seeds:
        P = resolve_parameters(module.PROFILES, BLOCK_PROFILE, seed=seed)
        start = time.perf_counter()
        claims = claims_of(module, module.run(**P, progress=False), P)
        record["blocks"][str(seed)] = {"seed": seed, "n_seeds": P["n_seeds"], "wall_time_s": time.perf_counter() - start,
                                       "verdicts": {c.id: c.verdict for c in claims},
                                       "lines": {c.id: c.line() for c in claims}}
    record["sentinel"] = {"seed": seeds[0], "repetition": 0, "values": _sentinel_values(notebook)}
    return record


def load_blocks(notebook: str, root: Path = BLOCKS_DIR) -> dict[str, Any]:
    """The committed block record of a page (checksum-verified); {} when none is committed."""
    path = blocks_path(notebook, root)
    return read_json(path) if path.is_file() else {}


def seed_dependent(book: Mapping[str, str], record: Mapping[str, Any]) -> dict[str, list[str]]:
    """Claims whose verdict differs between the book's block and the extra ones: id -> the
    verdicts, the book's first."""
    blocks = [b["verdicts"] for b in record.get("blocks", {}).values()]
    out = {}
    for cid, verdict in book.items():
        verdicts = [verdict] + [b.get(cid, "absent") for b in blocks]
        if len(set(verdicts)) > 1:
            out[cid] = verdicts
    return out


def check_sentinel(notebook: str) -> SentinelCheck:
    """Recompute the block record's sentinel repetition and compare it bit for bit."""
    expected = load_blocks(notebook).get("sentinel")
    if not expected:
        return SentinelCheck(notebook, False, "no committed block record: make blocks", 0.0)
    return recompute(notebook, lambda: _sentinel_values(notebook), expected["values"])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddlib.book.blocks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", default=list(NOTEBOOKS))
    parser.add_argument("--status", action="store_true", help="recompute each record's sentinel (exit 1 if stale)")
    args = parser.parse_args(argv)
    if args.status:
        checks = [check_sentinel(nb) for nb in args.notebooks]
        for c in checks:
            print(c.line())
        return 0 if all(c.current for c in checks) else 1
    for notebook in args.notebooks:
        start = time.perf_counter()
        path = write_json(blocks_path(notebook), block_record(notebook))
        print(f"{notebook}: {path} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
