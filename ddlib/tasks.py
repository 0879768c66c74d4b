"""Multi-index tasks: x ~ N(0, I_d), y = g(Ux) + noise, with U (r x d, orthonormal rows) known.

Every link has E g = 0, E grad g = 0 (information exponent >= 2) and Var g = 1, so a
normalised MSE of 1.0 is the zero predictor.  ``he3`` has information exponent 3: its
expected Hessian is zero and one gradient step cannot find U (the negative control).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from .seeds import check_seed, generator
from .validation import (check_choice, check_device, check_dtype, check_float, check_int, check_tensor, peak,
                         require_finite)

__all__ = ["MultiIndexTask", "LINKS", "check_task"]

LINKS = ("he2", "aniso", "he3")
ANISO_C = 0.3  # weight of the He4 term in the ``aniso`` link
MAX_NOISE = 1e150  # beyond it the labels' variance 1 + noise^2 overflows float64


def _he2(z: torch.Tensor) -> torch.Tensor:
    return z * z - 1.0


def _he3(z: torch.Tensor) -> torch.Tensor:
    return z ** 3 - 3.0 * z


def _he4(z: torch.Tensor) -> torch.Tensor:
    z2 = z * z
    return z2 * z2 - 6.0 * z2 + 3.0


@dataclass(frozen=True)
class MultiIndexTask:
    """A multi-index regression task with known subspace U and expected Hessian H.

    Args:
        d: input dimension.
        r: intrinsic dimension, 1 <= r <= d.
        link: one of ``LINKS``.
        noise: standard deviation of the Gaussian label noise, in [0, ``MAX_NOISE``].
        seed: seed of U (Q factor of a d x r Gaussian matrix), in [0, 2^63).
    """

    d: int
    r: int
    link: str = "he2"
    noise: float = 0.0
    seed: int = 0
    U: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = check_int("d", self.d, min_value=1)
        r = check_int("r", self.r, min_value=1)
        if r > d:
            raise ValueError(f"r must satisfy 1 <= r <= d={d}, got r={r}")
        check_choice("link", self.link, LINKS)
        noise = check_float("noise", self.noise, min_value=0.0, max_value=MAX_NOISE)
        seed = check_seed("seed", self.seed)
        # Store the validated Python numbers (a numpy int would otherwise leak into params()/JSON).
        for name, value in (("d", d), ("r", r), ("noise", noise), ("seed", seed)):
            object.__setattr__(self, name, value)
        A = torch.randn(d, r, generator=generator(seed), dtype=torch.float64)
        Q, R = torch.linalg.qr(A)
        Q = Q * torch.sign(torch.diagonal(R))  # unique QR: deterministic across LAPACKs
        object.__setattr__(self, "U", Q.T.contiguous())

    # ------------------------------------------------------------------ link
    @property
    def link_weights(self) -> torch.Tensor:
        """lambda of the ``aniso`` link (linspace(1, 2, r) normalised); ones/sqrt(r) otherwise."""
        if self.link == "aniso":
            lam = torch.linspace(1.0, 2.0, self.r, dtype=torch.float64)
            return lam / lam.norm()
        return torch.full((self.r,), 1.0 / math.sqrt(self.r), dtype=torch.float64)

    def g(self, Z: torch.Tensor) -> torch.Tensor:
        """The link g applied to latent coordinates Z = X U^T (n x r)."""
        if self.link == "he2":
            return _he2(Z).sum(dim=1) / math.sqrt(2 * self.r)
        if self.link == "aniso":
            lam = self.link_weights.to(Z)
            quad = (_he2(Z) * lam).sum(dim=1) / math.sqrt(2.0)
            return math.sqrt(1 - ANISO_C ** 2) * quad + ANISO_C * _he4(Z[:, 0]) / math.sqrt(24.0)
        return _he3(Z[:, 0]) / math.sqrt(6.0)

    def f(self, X: torch.Tensor) -> torch.Tensor:
        """Noiseless target f*(x) = g(Ux), in X's dtype (float32 or float64; differentiable in X)."""
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"X must be a torch tensor of shape (n, d={self.d}), got {type(X).__name__}")
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"X must be a tensor of shape (n, d={self.d}), got {tuple(X.shape)}")
        y = self.g(check_tensor("X", X) @ self.U.to(X).T)
        require_finite(lambda: f"MultiIndexTask.f: the targets overflow {X.dtype}: the inputs are too large "
                               f"(max |X| = {peak(X):.3g}) for the polynomial link {self.link!r}", y)
        return y

    def latent_hessian(self) -> torch.Tensor:
        """E[grad^2 g(z)] for z ~ N(0, I_r), in closed form (r x r)."""
        if self.link == "he2":
            return math.sqrt(2.0 / self.r) * torch.eye(self.r, dtype=torch.float64)
        if self.link == "aniso":
            # He2'' = 2; E He4'' = 12 E He2 = 0.
            return torch.diag(math.sqrt(1 - ANISO_C ** 2) * math.sqrt(2.0) * self.link_weights)
        return torch.zeros(self.r, self.r, dtype=torch.float64)  # E He3'' = 6 E z = 0

    def expected_hessian(self) -> torch.Tensor:
        """H = E[grad^2 f*(x)] = U^T E[grad^2 g] U (d x d), in closed form."""
        return self.U.T @ self.latent_hessian() @ self.U

    # ---------------------------------------------------------------- sample
    def sample(self, n: int, seed: int, dtype: torch.dtype = torch.float64,
               device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Draw n i.i.d. pairs (X, y); the same (task, n, seed) gives bit-identical tensors.

        Drawn in float64, then converted to ``dtype`` (float32 or float64) on ``device``.
        """
        n = check_int("n", n, min_value=1)
        to = dict(dtype=check_dtype("dtype", dtype), device=check_device("device", device))
        gen = generator(seed)
        X = torch.randn(n, self.d, generator=gen, dtype=torch.float64)
        y = self.f(X)
        if self.noise > 0:
            y = y + self.noise * torch.randn(n, generator=gen, dtype=torch.float64)
        X, y = X.to(**to), y.to(**to)
        require_finite(f"MultiIndexTask.sample: the labels overflow {to['dtype']} (noise={self.noise!r})", y)
        return X, y

    @property
    def label_variance(self) -> float:
        """Var y = Var g + noise^2 = 1 + noise^2."""
        return 1.0 + self.noise ** 2

    def params(self) -> dict:
        """The constructor arguments, for provenance records."""
        return {"d": self.d, "r": self.r, "link": self.link, "noise": self.noise, "seed": self.seed}


def check_task(task: Any, *, net_d: Optional[int] = None) -> MultiIndexTask:
    """``task`` if it is a MultiIndexTask -- of a network's input dimension ``net_d``, when given."""
    if not isinstance(task, MultiIndexTask):
        raise TypeError(f"task must be a MultiIndexTask, got {type(task).__name__}")
    if net_d is not None and net_d != task.d:
        raise ValueError(f"net has input dimension d={net_d} but the task has d={task.d}")
    return task
