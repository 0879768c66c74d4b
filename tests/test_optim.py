"""The one optimiser loop: its Adam is torch.optim.Adam's arithmetic, bit for bit, and batched
restarts (summed losses) follow exactly the paths they follow alone."""
from __future__ import annotations

import subprocess
import sys

import torch

from ddlib.optim import adam_init, adam_update, autograd_value_and_grad, minimise

F64 = torch.float64


def _loss(X, y):
    A = torch.linspace(-1, 1, 16, dtype=F64).reshape(4, 4)
    return ((X @ A).tanh().sum((-2, -1)) + (y ** 3).sum(-1)) ** 2  # one value per restart


def _start():
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 5, 4, generator=g, dtype=F64), torch.randn(3, 5, generator=g, dtype=F64)


def test_minimise_is_bit_identical_to_torch_optim_adam():
    X0, y0 = _start()
    X, y = X0.clone().requires_grad_(True), y0.clone().requires_grad_(True)
    opt = torch.optim.Adam([X, y], lr=0.05)
    for _ in range(60):
        opt.zero_grad(set_to_none=True)
        _loss(X, y).sum().backward()
        opt.step()
    (Xm, ym), history = minimise(autograd_value_and_grad(_loss), (X0, y0), steps=60, lr=0.05)
    assert torch.equal(Xm, X.detach()) and torch.equal(ym, y.detach())
    assert len(history) == 60 and history[0].shape == (3,)


def test_minimise_leaves_its_inputs_alone_and_zero_steps_return_copies():
    X0, y0 = _start()
    X0c = X0.clone()
    (X, _), history = minimise(autograd_value_and_grad(_loss), (X0, y0), steps=0, lr=0.05)
    assert torch.equal(X, X0) and X is not X0 and history == []
    minimise(autograd_value_and_grad(_loss), (X0, y0), steps=3, lr=0.05)
    assert torch.equal(X0, X0c)


def test_batched_restarts_follow_their_solo_paths():
    X0, y0 = _start()
    (Xb, yb), _ = minimise(autograd_value_and_grad(_loss), (X0, y0), steps=25, lr=0.05)
    for k in range(3):
        (Xk, yk), _ = minimise(autograd_value_and_grad(_loss), (X0[k:k + 1], y0[k:k + 1]), steps=25, lr=0.05)
        torch.testing.assert_close(Xb[k:k + 1], Xk, rtol=1e-12, atol=1e-14)


def test_adam_update_first_step_moves_each_entry_by_lr_against_the_gradient_sign():
    p = torch.tensor([1.0, -2.0, 3.0], dtype=F64)
    g = torch.tensor([0.5, -4.0, 1e-3], dtype=F64)
    state = adam_init([p])
    adam_update([p], [g], state, lr=0.1)
    # After one step m/sqrt(v) (bias-corrected) is g/|g|: every entry moves by lr (up to eps).
    torch.testing.assert_close(p, torch.tensor([0.9, -1.9, 2.9], dtype=F64), rtol=0, atol=1e-6)
    assert state.count == 1


def test_distillation_does_not_import_torch_dynamo():
    # torch.optim's first Adam imports torch._dynamo (about a second per process); ddlib's own
    # optimiser keeps it out of every notebook kernel and sweep worker.
    code = ("import sys, torch, ddlib\n"
            "task = ddlib.MultiIndexTask(4, 1, seed=0); X, y = task.sample(64, seed=1)\n"
            "ddlib.distill(ddlib.TwoLayerNet.init(4, 8, seed=2), X, y, 2, 2, steps1=2, steps2=2, method='meta',"
            " meta_steps=2)\n"
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
