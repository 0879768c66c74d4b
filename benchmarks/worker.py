"""One measurement in a fresh process: distil with one variant, report wall time, peak memory and
the distilled set's test MSE.  ``python -m benchmarks.worker SPEC.json OUT.json``.

With ``spec["whole_process"]`` the worker does what a user's script does -- import, build the
data, distil once -- with no warm-up, and reports the wall-clock moment the distillation ended,
so the driver can time the whole process from its spawn (interpreter start, imports and every
first-call cost included).  Otherwise it warms up first and times the steady state.

A fresh interpreter per measurement makes peak memory comparable: nothing another variant
allocated is still resident.  Peak host memory is the resident-set high-water mark (VmHWM) since
the data were set up, reset through /proc/self/clear_refs where Linux allows it (else the
process's lifetime ru_maxrss); on CUDA also torch.cuda.max_memory_allocated.
"""
from __future__ import annotations

import time

_IMPORT_START = time.time()

import gc  # noqa: E402 -- the imports below are part of what a whole-process run times
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

import ddlib  # noqa: E402
from ddlib.learners import TwoStageLearner  # noqa: E402

from .reference import reference_distill  # noqa: E402

__all__ = ["VARIANTS", "setup", "run_variant", "warm_up", "measure", "main"]

VARIANTS = ("ddlib", "reference")
_MB = 1024.0 * 1024.0


def _status_kb(field: str) -> int | None:
    """A 'VmRSS'/'VmHWM' line of /proc/self/status in kB, or None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the resident-set high-water mark to the current RSS (Linux >= 4.0); True if done."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_kb("VmHWM") is not None
    except OSError:
        return False


def _rss_mb() -> float:
    kb = _status_kb("VmRSS")
    if kb is None:  # pragma: no cover - non-Linux fallback
        import psutil
        return psutil.Process().memory_info().rss / _MB
    return kb / 1024.0


def _peak_rss_mb(reset_done: bool) -> float:
    kb = _status_kb("VmHWM") if reset_done else None
    if kb is None:  # ru_maxrss is kB on Linux, bytes on macOS
        raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return raw / (_MB if sys.platform == "darwin" else 1024.0)
    return kb / 1024.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_variant(variant: str, net: ddlib.TwoLayerNet, X: torch.Tensor, y: torch.Tensor, spec: dict,
                seed: int) -> ddlib.DistilledSet:
    """Distil (X, y) at theta0 = ``net`` with ``variant`` (one of ``VARIANTS``) and ``spec``'s settings."""
    common = dict(steps1=spec["steps1"], steps2=spec["steps2"], lr=spec["lr"],
                  restarts=spec["restarts"], seed=seed)
    if variant == "ddlib":
        return ddlib.distill(net, X, y, spec["m1"], spec["m2"], **common)
    if variant == "reference":
        return reference_distill(net, X, y, spec["m1"], spec["m2"], kip_batch=spec["kip_batch"], **common)
    raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")


def setup(spec: dict, d: int, width: int, n: int) -> tuple[ddlib.MultiIndexTask, ddlib.TwoLayerNet,
                                                         torch.Tensor, torch.Tensor]:
    """The task, theta0 and n real points of ``spec`` (seeds, r, link, dtype, device) at (d, width)."""
    dtype, device = getattr(torch, spec["dtype"]), torch.device(spec["device"])
    task = ddlib.MultiIndexTask(d, spec["r"], spec["link"], seed=spec["task_seed"])
    X, y = task.sample(n, spec["data_seed"], dtype=dtype, device=device)
    net = ddlib.TwoLayerNet.init(d, width, seed=spec["net_seed"], dtype=dtype, device=device)
    return task, net, X, y


def warm_up(variant: str, spec: dict) -> None:
    """Run ``variant`` once at a small size, so one-time costs (the first torch.optim.Adam imports
    torch._dynamo: seconds; thread pools; kernel selection) stay out of the timed run."""
    _, net, X, y = setup(spec, spec["d"], min(spec["width"], 64), min(spec["n"], 256))
    small = {**spec, "m1": min(spec["m1"], 4), "m2": min(spec["m2"], 8), "steps1": 2, "steps2": 2,
             "restarts": 2, "kip_batch": 64}
    run_variant(variant, net, X, y, small, seed=0)


def measure(spec: dict) -> dict[str, Any]:
    """Set up the task, warm up, then time one distillation and record its peak memory and quality.

    ``spec`` holds the Size fields (d, width, n, r, link, m1, m2, steps1, steps2, lr, restarts,
    kip_batch, n_test) and variant, seed, task_seed, data_seed, net_seed, test_seed, dtype,
    device and threads (None: torch's default).
    """
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    device = torch.device(spec["device"])
    variant = spec["variant"]

    whole = bool(spec.get("whole_process"))
    if not whole:
        warm_up(variant, spec)
    task, net, X, y = setup(spec, spec["d"], spec["width"], spec["n"])
    gc.collect()
    _sync(device)
    rss_setup = _rss_mb()
    peak_before = _status_kb("VmHWM")  # the process's peak so far (imports, data)
    reset_done = _reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        cuda_setup = torch.cuda.memory_allocated(device) / _MB

    start = time.perf_counter()
    distilled = run_variant(variant, net, X, y, spec, seed=spec["seed"])
    _sync(device)
    wall = time.perf_counter() - start
    distill_end_epoch = time.time()

    peak = _peak_rss_mb(reset_done)
    lifetime_peak = max(peak, (peak_before or 0) / 1024.0)
    out: dict[str, Any] = {
        "variant": variant, "seed": spec["seed"], "wall_s": wall, "whole_process": whole,
        "import_start_epoch": _IMPORT_START, "distill_end_epoch": distill_end_epoch,
        "peak_rss_mb": peak, "process_peak_rss_mb": lifetime_peak,
        "rss_setup_mb": rss_setup, "peak_above_setup_mb": peak - rss_setup,
        "peak_memory_method": "VmHWM after clear_refs" if reset_done else "ru_maxrss (lifetime)",
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        cuda_peak = torch.cuda.max_memory_allocated(device) / _MB
        out.update(cuda_peak_mb=cuda_peak, cuda_peak_above_setup_mb=cuda_peak - cuda_setup)

    # Quality, after the memory reading: the same learner and test set for every variant.
    fitted = TwoStageLearner().fit(net, distilled.stage1, distilled.stage2)
    out["test_mse"] = ddlib.test_mse(fitted, task, spec["n_test"], seed=spec["test_seed"])
    out["stage1_matching_loss"] = float(distilled.metadata["stage1_matching_loss"])
    out["stage2_loss"] = float(distilled.metadata["stage2_loss"])
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        raise SystemExit("usage: python -m benchmarks.worker SPEC.json OUT.json")
    spec = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(json.dumps(measure(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
