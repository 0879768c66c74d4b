"""One optimiser loop for every distillation stage: element-wise Adam on a few tensors.

A stage supplies *what* is minimised -- a function ``value_and_grad(*params) -> (loss, grads)``
whose loss has one entry per restart (restarts are independent: their losses are summed, and
Adam is element-wise, so each restart follows exactly the path it would follow alone) -- and
``minimise`` supplies *how* it steps.  The update is the arithmetic of ``torch.optim.Adam``'s
single-tensor path (betas 0.9 / 0.999, eps 1e-8, bias correction), written out in optax's
``scale_by_adam`` shape with an explicit state.  Owning it keeps the ~1 s import of
``torch._dynamo`` that ``torch.optim`` pays on its first use out of every notebook kernel and
sweep worker.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

__all__ = ["AdamState", "adam_init", "adam_update", "minimise", "autograd_value_and_grad", "ValueAndGrad"]

ValueAndGrad = Callable[..., tuple[torch.Tensor, Sequence[torch.Tensor]]]
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


@dataclass
class AdamState:
    """Adam's running moments of each parameter and the number of steps taken."""

    count: int
    mu: list[torch.Tensor]
    nu: list[torch.Tensor]


def adam_init(params: Sequence[torch.Tensor]) -> AdamState:
    """Zero moments for ``params``."""
    return AdamState(0, [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params])


def adam_update(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], state: AdamState,
                lr: float) -> None:
    """One Adam step, in place on ``params`` and ``state`` (torch.optim.Adam's arithmetic)."""
    state.count += 1
    step_size = lr / (1 - BETA1 ** state.count)
    correction2_sqrt = (1 - BETA2 ** state.count) ** 0.5
    for p, g, mu, nu in zip(params, grads, state.mu, state.nu):
        mu.lerp_(g, 1 - BETA1)
        nu.mul_(BETA2).addcmul_(g, g, value=1 - BETA2)
        p.addcdiv_(mu, (nu.sqrt() / correction2_sqrt).add_(EPS), value=-step_size)


def minimise(value_and_grad: ValueAndGrad, params: Sequence[torch.Tensor], *, steps: int, lr: float,
             desc: str = "", progress: bool = False) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``steps`` Adam steps on copies of ``params``.

    Args:
        value_and_grad: ``(*params) -> (loss, grads)``; ``loss`` holds one value per restart.
        params: the starting tensors (left untouched).
        steps, lr: number of steps and learning rate.
        desc, progress: label and switch of a tqdm bar.

    Returns:
        The optimised tensors and the loss at every step (before that step's update).
    """
    from tqdm import tqdm  # plain text bars: no ipywidgets needed in notebooks

    params = [p.detach().clone() for p in params]
    state = adam_init(params)
    history = []
    for _ in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        loss, grads = value_and_grad(*params)
        adam_update(params, grads, state, lr)
        history.append(loss.detach())
    return params, history


def autograd_value_and_grad(loss_fn: Callable[..., torch.Tensor]) -> ValueAndGrad:
    """``value_and_grad`` of a differentiable ``loss_fn`` by autograd (gradient of its sum)."""
    def value_and_grad(*params: torch.Tensor) -> tuple[torch.Tensor, Sequence[torch.Tensor]]:
        leaves = [p.detach().requires_grad_(True) for p in params]
        loss = loss_fn(*leaves)
        return loss.detach(), torch.autograd.grad(loss.sum(), leaves)

    return value_and_grad
