"""Two-layer ReLU networks f(x) = sum_j a_j relu(w_j . x + b_j) and their symmetric init theta0."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .validation import check_int

__all__ = ["TwoLayerNet"]


@dataclass(frozen=True)
class TwoLayerNet:
    """A width-L two-layer ReLU network.

    At the symmetric init theta0 (``TwoLayerNet.init``) half the rows of W are drawn uniformly
    on the sphere and duplicated, a = (+1..+1, -1..-1) and b = 0, so f == 0.  ``stage2_bias``
    holds the biases b ~ N(0, 1) that the second stage of the learner uses; they are part of
    the init, drawn from the same seed, and shared by distiller and learner.

    Attributes:
        W: (width, d) first-layer weights.
        a: (width,) second-layer weights.
        b: (width,) first-layer biases (zero at theta0).
        stage2_bias: (width,) biases installed by stage 2.
        seed: the seed theta0 was drawn from (None for a hand-made network).
    """

    W: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    stage2_bias: torch.Tensor
    seed: int | None = None

    @classmethod
    def init(cls, d: int, width: int, seed: int, dtype: torch.dtype = torch.float64,
             device: str | torch.device = "cpu") -> "TwoLayerNet":
        """The symmetric init theta0 (f == 0) with its stage-2 biases, all from ``seed``.

        Use a seed different from the data's: ``MultiIndexTask.sample`` with the same seed draws
        the same Gaussian stream, so its first points would be parallel to the neurons
        (``ddlib.experiments.problem.make_problem`` derives distinct seeds for you).
        """
        d = check_int("d", d, min_value=1)
        width = check_int("width", width, min_value=2, even=True)
        seed = check_int("seed", seed)
        gen = torch.Generator()
        gen.manual_seed(seed)
        half = width // 2
        W_half = torch.randn(half, d, generator=gen, dtype=torch.float64)
        W_half = W_half / W_half.norm(dim=1, keepdim=True)
        W = torch.cat([W_half, W_half])
        a = torch.cat([torch.ones(half, dtype=torch.float64), -torch.ones(half, dtype=torch.float64)])
        stage2_bias = torch.randn(width, generator=gen, dtype=torch.float64)
        to = dict(dtype=dtype, device=device)
        return cls(W=W.to(**to), a=a.to(**to), b=torch.zeros(width, **to),
                   stage2_bias=stage2_bias.to(**to), seed=seed)

    @property
    def d(self) -> int:
        return self.W.shape[1]

    @property
    def width(self) -> int:
        return self.W.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.W.dtype

    @property
    def device(self) -> torch.device:
        return self.W.device

    def features(self, X: torch.Tensor) -> torch.Tensor:
        """Hidden activations relu(X W^T + b), shape (n, width)."""
        self._check_input(X)
        return torch.relu(X @ self.W.T + self.b)

    def stage2_features(self, X: torch.Tensor, W1: torch.Tensor) -> torch.Tensor:
        """``relu(X W1^T + b2)``: the features stage 2 fits its ridge on, for a first layer W1
        and this init's stage-2 biases b2.  Batched: X (..., n, d) with W1 (L, d) or (..., L, d)."""
        return torch.relu(X @ W1.transpose(-2, -1) + self.stage2_bias)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Predictions f(X), shape (n,)."""
        return self.features(X) @ self.a

    def replace(self, **changes: torch.Tensor) -> "TwoLayerNet":
        """A copy with some parameters replaced (the original is left untouched)."""
        return replace(self, **changes)

    def to(self, dtype: torch.dtype | None = None, device: str | torch.device | None = None) -> "TwoLayerNet":
        """A copy on another dtype/device."""
        conv = lambda t: t.to(dtype=dtype or t.dtype, device=device or t.device)  # noqa: E731
        return TwoLayerNet(conv(self.W), conv(self.a), conv(self.b), conv(self.stage2_bias), self.seed)

    def num_parameters(self) -> int:
        """Floats needed to store the trained network: L(d + 2) (W, b and a)."""
        return self.width * (self.d + 2)

    def _check_input(self, X: torch.Tensor) -> None:
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"X must be a torch tensor of shape (n, d={self.d}), got {type(X).__name__}")
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"X must be a tensor of shape (n, d={self.d}), got {tuple(X.shape)}")
