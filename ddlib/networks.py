"""Two-layer ReLU networks f(x) = sum_j a_j relu(w_j . x + b_j) and their symmetric init theta0."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import torch

from .seeds import check_seed, generator
from .validation import (check_data, check_device, check_dtype, check_int, check_tensor, peak,
                         require_finite)

__all__ = ["TwoLayerNet", "check_net"]


@dataclass(frozen=True)
class TwoLayerNet:
    """A width-L two-layer ReLU network.

    At the symmetric init theta0 (``TwoLayerNet.init``) half the rows of W are drawn uniformly
    on the sphere and duplicated, a = (+1..+1, -1..-1) and b = 0, so f == 0.  ``stage2_bias``
    holds the biases b ~ N(0, 1) that the second stage of the learner uses; they are part of
    the init, drawn from the same seed, and shared by distiller and learner.

    Every construction (``init``, the constructor, ``replace``, ``to``) checks the parameters:
    W is (L, d) and a, b, stage2_bias are (L,), all finite, of one dtype (float32 or float64) on
    one device.  Inputs are converted to the network's dtype and device (``Tensor.to``); the
    forward pass keeps autograd (it is differentiable in X and in the parameters).

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

    def __post_init__(self) -> None:
        W = check_tensor("TwoLayerNet: W", self.W, ndim=2)
        if W.shape[0] < 1 or W.shape[1] < 1:
            raise ValueError(f"TwoLayerNet: W must be (width, d) with width, d >= 1, got shape {tuple(W.shape)}")
        for name in ("a", "b", "stage2_bias"):
            t = check_tensor(f"TwoLayerNet: {name}", getattr(self, name), ndim=1)
            if t.shape[0] != W.shape[0]:
                raise ValueError(f"TwoLayerNet: {name} must have one entry per row of W ({W.shape[0]}), "
                                 f"got shape {tuple(t.shape)}")
            if t.dtype != W.dtype:
                raise TypeError(f"TwoLayerNet: {name} must have W's dtype {W.dtype}, got {t.dtype}")
            if t.device != W.device:
                raise ValueError(f"TwoLayerNet: {name} must be on W's device {W.device}, got {t.device}")
        if self.seed is not None:
            object.__setattr__(self, "seed", check_seed("seed", self.seed))

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
        seed = check_seed("seed", seed)
        to = dict(dtype=check_dtype("dtype", dtype), device=check_device("device", device))
        gen = generator(seed)
        half = width // 2
        W_half = torch.randn(half, d, generator=gen, dtype=torch.float64)
        W_half = W_half / W_half.norm(dim=1, keepdim=True)
        W = torch.cat([W_half, W_half])
        a = torch.cat([torch.ones(half, dtype=torch.float64), -torch.ones(half, dtype=torch.float64)])
        stage2_bias = torch.randn(width, generator=gen, dtype=torch.float64)
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
        """Hidden activations relu(X W^T + b), shape (n, width), in the network's dtype."""
        H = torch.relu(self._input(X) @ self.W.T + self.b)
        self._require_finite("hidden activations are", H, X)
        return H

    def stage2_features(self, X: torch.Tensor, W1: torch.Tensor) -> torch.Tensor:
        """``relu(X W1^T + b2)``: the features stage 2 fits its ridge on, for a first layer W1
        and this init's stage-2 biases b2.  Batched: X (..., n, d) with W1 (L, d) or (..., L, d).
        A building block of the distillers' inner loops: it checks nothing (its callers do)."""
        return torch.relu(X @ W1.transpose(-2, -1) + self.stage2_bias)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Predictions f(X), shape (n,), in the network's dtype."""
        out = self.features(X) @ self.a
        self._require_finite("output is", out, X)
        return out

    def replace(self, **changes: torch.Tensor) -> "TwoLayerNet":
        """A copy with some parameters replaced (the original is left untouched; the copy is checked)."""
        return replace(self, **changes)

    def to(self, dtype: Optional[torch.dtype] = None, device: Optional[str | torch.device] = None) -> "TwoLayerNet":
        """A copy on another dtype (float32 or float64) and/or device; ``self`` when nothing changes."""
        dtype = self.dtype if dtype is None else check_dtype("dtype", dtype)
        device = self.device if device is None else check_device("device", device)
        if (dtype, device) == (self.dtype, self.device):
            return self
        conv = lambda t: t.to(dtype=dtype, device=device)  # noqa: E731
        return TwoLayerNet(conv(self.W), conv(self.a), conv(self.b), conv(self.stage2_bias), self.seed)

    def detach(self) -> "TwoLayerNet":
        """A copy whose parameters carry no autograd history (``self`` when none does): what the
        entry points that are not differentiated (fit, the distillers) work on."""
        params = (self.W, self.a, self.b, self.stage2_bias)
        if not any(t.requires_grad for t in params):
            return self
        return TwoLayerNet(*(t.detach() for t in params), self.seed)

    def check_data(self, name: str, data: Any, *, min_n: int = 1,
                   detach: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``validation.check_data`` for inputs of dimension d, converted to the network's dtype and
        device -- the one path by which data enters anything that holds a network."""
        X, y = check_data(name, data, d=self.d, min_n=min_n, detach=detach)
        return self._own(name, X), self._own(name, y)

    def num_parameters(self) -> int:
        """Floats needed to store the trained network: L(d + 2) (W, b and a)."""
        return self.width * (self.d + 2)

    def check_first_layer(self, name: str, M: Any, *, detach: bool = True) -> torch.Tensor:
        """A finite (width, d) matrix such as W1, G_D or W_T, converted to the network's dtype and
        device (detached with ``detach``) -- the one path by which such a matrix enters."""
        M = check_tensor(name, M, ndim=2)
        if tuple(M.shape) != tuple(self.W.shape):
            raise ValueError(f"{name} must have the network's first-layer shape {tuple(self.W.shape)}, "
                             f"got {tuple(M.shape)}")
        return self._own(name, M.detach() if detach else M)

    def _input(self, X: torch.Tensor) -> torch.Tensor:
        """X checked ((n, d), float32/float64, finite) and converted to the network's dtype and device."""
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"X must be a torch tensor of shape (n, d={self.d}), got {type(X).__name__}")
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"X must be a tensor of shape (n, d={self.d}), got {tuple(X.shape)}")
        return self.check_input("X", X)

    def check_input(self, name: str, t: Any) -> torch.Tensor:
        """``t`` checked (a finite float32/float64 tensor on a real device) and converted to the
        network's dtype and device, with its autograd graph."""
        return self._own(name, check_tensor(name, t))

    def _own(self, name: str, t: torch.Tensor) -> torch.Tensor:
        """A checked tensor converted to the network's dtype and device (``Tensor.to``: a no-op when
        it is there already), refused if the conversion overflows (float64 values beyond float32)."""
        t = t.to(dtype=self.dtype, device=self.device)
        require_finite(f"{name} overflows {self.dtype}, the network's dtype, when converted to it", t)
        return t

    def _require_finite(self, what: str, value: torch.Tensor, X: torch.Tensor) -> None:
        require_finite(lambda: f"TwoLayerNet: the {what} not finite in {self.dtype}: the inputs' scale (max |X| = "
                               f"{peak(X):.3g}) or the parameters' (max |W| = {peak(self.W):.3g}, max |a| = "
                               f"{peak(self.a):.3g}) overflows it", value)


def check_net(net: Any) -> TwoLayerNet:
    """``net`` if it is a TwoLayerNet (whose construction checked its parameters), else a TypeError."""
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a TwoLayerNet, got {type(net).__name__}")
    return net
