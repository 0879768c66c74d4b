"""The state a distillation passes from stage to stage: K restarts of synthetic points.

Every stage has one shape -- ``stage(net, <real-data summary>, restarts, *, hyper) -> restarts``
-- and takes K candidate sets at once, batched along a leading dimension.  The initial points of
every restart, of both stages, are drawn once (``InitialDraw``): restart k of stage 1 starts from
the first m1 points of the k-th of K random permutations of the real data, restart k of stage 2
from the first m2 of the k-th of K further permutations, all from one generator seeded with the
distillation seed (stage 1's K permutations first).  Because a permutation does not depend on m,
the sets of sizes m < m' are prefixes of one another: an experiment that needs several sizes
draws once and slices.  Which restart is kept is decided by one rule, ``Restarts.best_index``:
the lowest matching loss (never test error).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import torch

from ..data import Data
from ..seeds import check_seed, generator
from ..validation import check_data, check_int, check_tensor

__all__ = ["Restarts", "InitialDraw"]


@dataclass(frozen=True)
class Restarts:
    """K candidate synthetic sets, where they started and, once a stage ran, their losses.

    Attributes:
        X0, y0: the starting points, (K, m, d) and (K, m).
        X, y: the current points, same shapes.
        loss: (K,) final matching loss of each restart; None before any stage ran.

    Every construction checks them: finite float32/float64 tensors of those shapes, one dtype
    and device; they are data, so a tensor that requires grad is stored detached.
    """

    X0: torch.Tensor
    y0: torch.Tensor
    X: torch.Tensor
    y: torch.Tensor
    loss: Optional[torch.Tensor] = None

    def __post_init__(self) -> None:
        names = ("X0", "y0", "X", "y") + (() if self.loss is None else ("loss",))
        for name, ndim in zip(names, (3, 2, 3, 2, 1)):
            t = check_tensor(f"Restarts: {name}", getattr(self, name), ndim=ndim)
            object.__setattr__(self, name, t.detach())
        X = self.X
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"Restarts: X must be (K, m, d) with K, m >= 1, got shape {tuple(X.shape)}")
        shapes = {"X0": X.shape, "y0": X.shape[:2], "y": X.shape[:2], "loss": X.shape[:1]}
        for name in names:
            t = getattr(self, name)
            if name != "X" and t.shape != shapes[name]:
                raise ValueError(f"Restarts: {name} must have shape {tuple(shapes[name])} to match X "
                                 f"{tuple(X.shape)}, got {tuple(t.shape)}")
            if (t.dtype, t.device) != (X.dtype, X.device):
                raise TypeError(f"Restarts: {name} must share X's dtype and device ({X.dtype}, {X.device}), "
                                f"got {t.dtype}, {t.device}")

    @classmethod
    def start(cls, X0: torch.Tensor, y0: torch.Tensor) -> "Restarts":
        """Restarts that have not moved yet."""
        return cls(X0, y0, X0, y0, None)

    def moved(self, X: torch.Tensor, y: torch.Tensor, loss: torch.Tensor) -> "Restarts":
        """The same restarts at new points, with their losses (what a stage returns)."""
        return replace(self, X=X, y=y, loss=loss)

    def to(self, dtype: torch.dtype, device: torch.device) -> "Restarts":
        """The restarts converted to ``dtype`` and ``device`` (``self`` when they are there already)."""
        if (self.X.dtype, self.X.device) == (dtype, device):
            return self
        conv = lambda t: None if t is None else t.to(dtype=dtype, device=device)  # noqa: E731
        return Restarts(conv(self.X0), conv(self.y0), conv(self.X), conv(self.y), conv(self.loss))

    @property
    def count(self) -> int:
        return self.X.shape[0]

    @property
    def best_index(self) -> int:
        """Index of the restart kept, the one of lowest matching loss (the first one on ties)."""
        if self.loss is None:
            raise ValueError("these restarts have no losses yet: run a stage on them first")
        return int(torch.argmin(self.loss))

    def best(self) -> Data:
        """The kept restart's points."""
        k = self.best_index
        return Data(self.X[k], self.y[k])

    def best_start(self) -> Data:
        """Where the kept restart started."""
        k = self.best_index
        return Data(self.X0[k], self.y0[k])

    @property
    def best_loss(self) -> float:
        return float(self.loss[self.best_index])

    @property
    def losses(self) -> list[float]:
        """Every restart's final loss, as Python floats (for metadata)."""
        return [float(v) for v in self.loss]


@dataclass(frozen=True)
class InitialDraw:
    """Every restart's initial real points for both stages, drawn once from one seed.

    Attributes:
        stage1_order: (K, p) the first p entries of K random permutations of range(n).
        stage2_order: (K, p) the first p entries of K further permutations.
        seed: the seed of the generator they came from.
    """

    stage1_order: torch.Tensor
    stage2_order: torch.Tensor
    seed: int

    def __post_init__(self) -> None:
        for name in ("stage1_order", "stage2_order"):
            order = getattr(self, name)
            if not isinstance(order, torch.Tensor) or order.dtype != torch.int64 or order.ndim != 2:
                got = (f"{order.dtype} of shape {tuple(order.shape)}" if isinstance(order, torch.Tensor)
                       else type(order).__name__)
                raise TypeError(f"InitialDraw: {name} must be a 2-D int64 tensor of indices (K, p), got {got}")
            if order.is_meta or order.shape[0] < 1 or order.shape[1] < 1 or bool((order < 0).any()):
                raise ValueError(f"InitialDraw: {name} must hold K, p >= 1 non-negative indices, got shape "
                                 f"{tuple(order.shape)}")
        if self.stage1_order.shape != self.stage2_order.shape:
            raise ValueError(f"InitialDraw: stage1_order and stage2_order must have one shape, got "
                             f"{tuple(self.stage1_order.shape)} and {tuple(self.stage2_order.shape)}")
        object.__setattr__(self, "seed", check_seed("seed", self.seed))

    @classmethod
    def draw(cls, n: int, restarts: int, seed: int, prefix: Optional[int] = None) -> "InitialDraw":
        """K permutations for stage 1, then K for stage 2, from ``generator(seed)``.

        Args:
            n: number of real points.
            restarts: K.
            seed: the distillation seed.
            prefix: keep only the first ``prefix`` entries of each permutation (the largest set
                size that will be asked for); default n.
        """
        n = check_int("n", n, min_value=1)
        restarts = check_int("restarts", restarts, min_value=1)
        keep = n if prefix is None else check_int("prefix", prefix, min_value=1, max_value=n)
        gen = generator(seed)
        orders = [torch.stack([torch.randperm(n, generator=gen)[:keep] for _ in range(restarts)])
                  for _stage in range(2)]
        return cls(orders[0], orders[1], check_seed("seed", seed))

    @property
    def restarts(self) -> int:
        return self.stage1_order.shape[0]

    def stage1(self, data: Data, m: int) -> Restarts:
        """Restarts of m real points each for stage 1 (restart k: the k-th permutation's first m)."""
        return self._take(self.stage1_order, data, m)

    def stage2(self, data: Data, m: int) -> Restarts:
        """Restarts of m real points each for stage 2."""
        return self._take(self.stage2_order, data, m)

    def _take(self, order: torch.Tensor, data: Data, m: int) -> Restarts:
        X, y = check_data("data", data)
        m = check_int("m", m, min_value=1, max_value=order.shape[1])
        idx = order[:, :m]
        if int(idx.max()) >= X.shape[0]:
            raise ValueError(f"this draw indexes {int(idx.max()) + 1} or more points but the data have "
                             f"n={X.shape[0]}: draw it for these data (InitialDraw.draw(n={X.shape[0]}, ...))")
        idx = idx.to(X.device)
        return Restarts.start(X[idx], y[idx])
