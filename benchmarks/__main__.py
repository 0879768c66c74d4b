"""``python -m benchmarks``: measure ddlib side by side with a peer-style reference, with one
streaming pass over the data, across n, width and d, and a certified memory search against one
distillation; write a JSON and print a table.

    python -m benchmarks --size book --repeats 5 --out benchmarks/results/book.json
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from ddlib.experiments.memory_search import SEARCHES
from ddlib.io import write_json
from ddlib.provenance import provenance

from .report import format_report
from .sizes import SIZES
from .suite import SEEDS, Options, compare, limit, scaling, search_cost, selection_cost, targets

PARTS = ("compare", "limit", "scaling", "search_cost", "selection_cost")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=list(SIZES), default="book", help="benchmark size (default: book)")
    p.add_argument("--repeats", type=int, default=5,
                   help="repeats of every figure, >= 5 (fewer only with --size tiny); default 5")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON to write (default: benchmarks/results/<size>.json)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads in every process (default: torch's own choice)")
    p.add_argument("--kip-batch", type=int, default=None,
                   help="real points per KIP step of the peer-style reference (default: the size's)")
    p.add_argument("--only", default=",".join(PARTS),
                   help=f"comma-separated parts to run, of {','.join(PARTS)} (default: all)")
    p.add_argument("--search-schedules", default="lean",
                   help=f"search_cost: comma-separated probe schedules of the memory search to time, of "
                        f"{','.join(SEARCHES)} (default: lean)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    if args.repeats < size.min_repeats:
        parser.error(f"--repeats must be >= {size.min_repeats} at --size {args.size}, got {args.repeats}")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.kip_batch is not None:
        if args.kip_batch < 1:
            parser.error(f"--kip-batch must be >= 1, got {args.kip_batch}")
        size = size.at(kip_batch=args.kip_batch)
    parts = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in parts if s not in PARTS]
    if bad or not parts:
        parser.error(f"--only takes a comma-separated subset of {list(PARTS)}, got {args.only!r}")
    schedules = tuple(dict.fromkeys(s.strip() for s in args.search_schedules.split(",") if s.strip()))
    if not schedules or any(s not in SEARCHES for s in schedules):
        parser.error(f"--search-schedules takes a comma-separated subset of {list(SEARCHES)}, "
                     f"got {args.search_schedules!r}")
    if "search_cost" in parts and args.device != "cpu":
        parser.error("search_cost is measured on the CPU, one thread: leave it out of --only with --device cuda")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was asked for, but torch.cuda.is_available() is False here")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out_path = args.out or Path(__file__).resolve().parent / "results" / f"{args.size}.json"

    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    opts = Options(repeats=args.repeats, dtype=args.dtype, device=args.device, threads=args.threads,
                   log=log, search_schedules=schedules)
    record = {
        "config": {"size": size.params(), "repeats": args.repeats, "device": args.device, "dtype": args.dtype,
                   "threads": args.threads, "torch_threads": torch.get_num_threads(), "parts": parts,
                   "search_schedules": list(schedules),
                   "seeds": {**SEEDS, "distill_seed": "repeat index (0, 1, ...)"}},
        "machine": {"cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "load_average_start": _load_average(),
                    "cuda_device": torch.cuda.get_device_name() if args.device == "cuda" else None},
        "provenance": provenance(),
    }
    start = time.perf_counter()
    compare_ddlib_runs = None
    for name in PARTS:
        if name not in parts:
            continue
        log(f"[{name}] size={args.size} repeats={args.repeats}")
        if name == "compare":
            record[name], runs = compare(size, opts)
            compare_ddlib_runs = runs["ddlib"]
        elif name == "limit":
            record[name] = limit(size, opts)
        elif name == "search_cost":
            record[name] = search_cost(size, opts)
        elif name == "selection_cost":
            record[name] = selection_cost(size, opts)
        else:
            record[name] = scaling(size, opts, base_runs=compare_ddlib_runs)
    record["targets"] = targets(record, args.size)
    record["wall_time_s"] = time.perf_counter() - start
    record["machine"]["load_average_end"] = _load_average()
    write_json(out_path, record)
    print(format_report(record))
    print(f"\nwrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
