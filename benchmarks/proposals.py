"""Proposed replacements for ddlib's two streaming passes over the real data, measured by the
benchmark against the current ones (``--only passes``, and the "ddlib+proposed" variant).  Not
used by ddlib; each returns what the function it would replace returns, to float rounding.

- ``stage1_gradient_nograd`` for ``ddlib.learners.stage1_gradient`` on the real data (which needs
  no gradient): bias folded into ``addmm``, ReLU and mask computed in place, and the residual
  applied to X (n x d) instead of to the mask (n x width): one chunk x width buffer (plus a
  1-byte mask), not four, and freed before the next chunk's is allocated.
- ``stage2_statistics_blocked`` for ``ddlib.learners.stage2_statistics``: features built in
  place (``addmm`` + ``relu_``), and Phi^T Phi accumulated on the upper block triangle only
  (``blocks`` column blocks: (blocks + 1) / (2 blocks) of the multiply-adds), symmetrised once
  in place.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ddlib.learners import DEFAULT_CHUNK, Stage2Statistics

__all__ = ["stage1_gradient_nograd", "stage2_statistics_blocked", "proposed_passes"]


def _chunks(n: int, chunk_size: int | None) -> Iterator[slice]:
    step = n if chunk_size is None else chunk_size
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def stage1_gradient_nograd(W: torch.Tensor, a: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                           chunk_size: int | None = DEFAULT_CHUNK) -> torch.Tensor:
    """The stage-1 gradient of (1/2n) sum_i (f(x_i) - y_i)^2 in W, for 2-D data needing no gradient."""
    n = X.shape[0]
    G = torch.zeros_like(W)
    with torch.no_grad():
        for sl in _chunks(n, chunk_size):
            pre = torch.addmm(b, X[sl], W.T)           # the one chunk x width buffer
            mask = pre > 0                             # 1 byte per entry
            resid = pre.relu_() @ a - y[sl]
            G.addmm_(pre.copy_(mask).T, X[sl] * resid[:, None])
            del pre, mask  # free before the next chunk's buffer is allocated
    return G * (a[:, None] / n)


def stage2_statistics_blocked(W1: torch.Tensor, bias: torch.Tensor, X: torch.Tensor, y: torch.Tensor,
                              chunk_size: int | None = DEFAULT_CHUNK, blocks: int = 4) -> Stage2Statistics:
    """Phi^T Phi / n, Phi^T y / n and |y|^2 / n for Phi = relu(X W1^T + bias), in one pass."""
    n, L = X.shape[0], W1.shape[0]
    blocks = max(1, min(blocks, L))
    edges = [L * i // blocks for i in range(blocks + 1)]
    gram = torch.zeros(L, L, dtype=X.dtype, device=X.device)
    moment = torch.zeros(L, dtype=X.dtype, device=X.device)
    with torch.no_grad():
        for sl in _chunks(n, chunk_size):
            Phi = torch.addmm(bias, X[sl], W1.T).relu_()
            for lo, hi in zip(edges[:-1], edges[1:]):
                gram[lo:hi, lo:].addmm_(Phi[:, lo:hi].T, Phi[:, lo:])
            moment.addmv_(Phi.T, y[sl])
            del Phi  # free before the next chunk's buffer is allocated
        upper = gram.triu(1)
        gram.triu_().add_(upper.T).div_(n)  # symmetrise in place: one extra width x width buffer
    return Stage2Statistics(gram, moment.div_(n), (y @ y) / n, n)


@contextlib.contextmanager
def proposed_passes() -> Iterator[None]:
    """Within the block, ``ddlib.distill`` uses the proposed passes (for benchmark workers only)."""
    from ddlib.distillers import pipeline

    saved = pipeline.stage1_gradient, pipeline.stage2_statistics
    pipeline.stage1_gradient, pipeline.stage2_statistics = stage1_gradient_nograd, stage2_statistics_blocked
    try:
        yield
    finally:
        pipeline.stage1_gradient, pipeline.stage2_statistics = saved
