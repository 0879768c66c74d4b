"""Benchmark sizes: the task, network and distillation settings of "tiny", "book" and "paper",
and the grid each one sweeps for the scaling figures (one axis at a time around the size)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

__all__ = ["Size", "SIZES", "SCALING_AXES"]

SCALING_AXES = ("n", "width", "d")


@dataclass(frozen=True)
class Size:
    """One benchmark configuration.

    Attributes:
        name: "tiny", "book" or "paper".
        d, r, link: the multi-index task.
        width: L, the network width.
        n: real training points.
        m1, m2: distilled stage-1 and stage-2 sizes.
        steps1, steps2, lr, restarts: the distillation settings (the same for every variant).
        n_test: fresh test points for the normalised test MSE.
        kip_batch: real points per KIP step in the peer-style reference.
        min_repeats: the fewest repeats a run of this size may report.
        scaling: for each axis, the values swept with the other two held at this size.
    """

    name: str
    d: int
    width: int
    n: int
    r: int = 2
    link: str = "he2"
    m1: int = 8
    m2: int = 32
    steps1: int = 300
    steps2: int = 200
    lr: float = 0.05
    restarts: int = 3
    n_test: int = 10_000
    kip_batch: int = 4096
    min_repeats: int = 5
    scaling: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def at(self, **changes: int) -> "Size":
        """This size with some fields changed (a point of the scaling grid, a KIP batch)."""
        return replace(self, **changes)

    def params(self) -> dict:
        """Plain-JSON record of every setting."""
        out = asdict(self)
        out["scaling"] = {k: list(v) for k, v in self.scaling.items()}
        return out


SIZES: dict[str, Size] = {
    # Smoke test: seconds in all, one repeat allowed.
    "tiny": Size("tiny", d=8, width=32, n=1024, m1=4, m2=8, steps1=20, steps2=20, restarts=2,
                 n_test=2000, kip_batch=256, min_repeats=1,
                 scaling={"n": (512, 1024), "width": (32, 64), "d": (8, 16)}),
    # The book profile's setting (d=32, r=2, L=512, n=8000), with a reduced scaling grid.
    "book": Size("book", d=32, width=512, n=8000,
                 scaling={"n": (8000, 16000, 32000), "width": (256, 512, 1024), "d": (32, 64, 128)}),
    # The point of the whole-process comparison (d=64, L=1024, n=32,000): between book and paper.
    "target": Size("target", d=64, width=1024, n=32000,
                   scaling={"n": (16000, 32000, 64000), "width": (512, 1024, 2048), "d": (32, 64, 128)}),
    # The paper-scale setting and the full grid: n 8k -> 128k, width 256 -> 4096, d 32 -> 256.
    "paper": Size("paper", d=128, width=2048, n=64000,
                  scaling={"n": (8000, 16000, 32000, 64000, 128000),
                           "width": (256, 512, 1024, 2048, 4096), "d": (32, 64, 128, 256)}),
}
