"""Peer-style reference distiller: ddlib's job done the way public dataset-distillation code
bases do it.  A benchmark baseline only -- not part of ddlib and not used by the book.

What makes it "peer-style" (each choice follows the public code of the method named):
- Stage 1, gradient matching as in DC/DSA (Zhao et al. 2021): the network is an ``nn.Module``;
  the real-data gradient is taken by autograd on the network's loss (full batch, so the n x width
  activations are kept for the backward pass); the synthetic gradient by
  ``torch.autograd.grad(..., create_graph=True)``; the per-neuron cosine distance of DC's
  ``distance_wb``; and ``loss.backward()`` through the double-backward graph into the synthetic
  data.  For one stage-1 step, trajectory matching (MTT, Cazenavette et al. 2022) reduces to the
  same cosine match.
- Restarts run one after another in a Python loop, each with its own Adam.
- Stage 2, KIP (Nguyen et al. 2021): kernel ridge regression from the synthetic support set,
  K_ts (K_ss + reg I)^-1 y_s, scored on a minibatch of target (real) points per step, shuffled
  once per epoch like a DataLoader; the real features Phi_D = relu(X W1^T + b) are computed once
  and kept in memory (n x width).

Everything else is held equal to ``ddlib.distill``: the task, theta0, the learner (one stage-1
step, ridge lambda2 * mean(Phi^2)), steps, learning rate, the initial random real subsets (the
same generator sequence) and the rule "keep the restart with the lowest final matching loss".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ddlib.distillers import DistilledSet
from ddlib.networks import TwoLayerNet
from ddlib.validation import check_data, check_float, check_int

__all__ = ["PeerNet", "dc_distance", "reference_distill", "reference_select_stage2"]


class PeerNet(torch.nn.Module):
    """f(x) = sum_j a_j relu(w_j . x + b_j) as an nn.Module holding theta0's values (no random init)."""

    def __init__(self, net: TwoLayerNet) -> None:
        super().__init__()
        self.W = torch.nn.Parameter(net.W.detach().clone())
        self.b = torch.nn.Parameter(net.b.detach().clone())
        self.a = torch.nn.Parameter(net.a.detach().clone())

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.relu(X @ self.W.T + self.b) @ self.a


def _half_mse(model: PeerNet, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # The learner's stage-1 loss (1/2n) sum_i (f(x_i) - y_i)^2.
    return 0.5 * ((model(X) - y) ** 2).mean()


def dc_distance(gw_syn: torch.Tensor, gw_real: torch.Tensor) -> torch.Tensor:
    """DC's per-output-neuron cosine distance (``distance_wb``), averaged over neurons."""
    cos = (gw_syn * gw_real).sum(-1) / (gw_syn.norm(dim=-1) * gw_real.norm(dim=-1) + 1e-6)
    return (1.0 - cos).mean()


def _gradient_matching(model: PeerNet, gw_real: torch.Tensor, Xs: torch.Tensor, ys: torch.Tensor,
                       steps: int, lr: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    Xs = Xs.clone().requires_grad_(True)
    ys = ys.clone().requires_grad_(True)
    opt = torch.optim.Adam([Xs, ys], lr=lr)
    for _ in range(steps):
        gw_syn = torch.autograd.grad(_half_mse(model, Xs, ys), model.W, create_graph=True)[0]
        loss = dc_distance(gw_syn, gw_real)
        opt.zero_grad()
        loss.backward()
        opt.step()
    gw_syn = torch.autograd.grad(_half_mse(model, Xs, ys), model.W)[0]
    return Xs.detach(), ys.detach(), float(dc_distance(gw_syn, gw_real))


def _kip_predict(Phi_t: torch.Tensor, Phi_s: torch.Tensor, ys: torch.Tensor, ridge: float) -> torch.Tensor:
    # Kernel ridge with the learner's regulariser: K_ts (K_ss + m lambda2 mean(Phi_s^2) I)^-1 y_s,
    # which equals the primal ridge (1/m)|Phi_s a - y_s|^2 + lambda2 mean(Phi_s^2) |a|^2.
    m = Phi_s.shape[0]
    K_ss = Phi_s @ Phi_s.T
    K_ts = Phi_t @ Phi_s.T
    reg = m * ridge * (Phi_s * Phi_s).mean().clamp_min(1e-12)
    eye = torch.eye(m, dtype=Phi_s.dtype, device=Phi_s.device)
    return K_ts @ torch.linalg.solve(K_ss + reg * eye, ys)


def _kip(Phi_D: torch.Tensor, y: torch.Tensor, W1: torch.Tensor, bias: torch.Tensor, Xs: torch.Tensor,
         ys: torch.Tensor, steps: int, lr: float, ridge: float, batch: int,
         gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    n = Phi_D.shape[0]
    y2 = (y * y).mean()
    Xs = Xs.clone().requires_grad_(True)
    ys = ys.clone().requires_grad_(True)
    opt = torch.optim.Adam([Xs, ys], lr=lr)
    order, pos = torch.randperm(n, generator=gen), 0
    for _ in range(steps):
        if pos + batch > n:  # next epoch (drop_last)
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + batch].to(Phi_D.device)
        pos += batch
        Phi_s = torch.relu(Xs @ W1.T + bias)
        pred = _kip_predict(Phi_D[idx], Phi_s, ys, ridge)
        loss = ((pred - y[idx]) ** 2).mean() / y2
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        Phi_s = torch.relu(Xs @ W1.T + bias)
        final = ((_kip_predict(Phi_D, Phi_s, ys, ridge) - y) ** 2).mean() / y2
    return Xs.detach(), ys.detach(), float(final)


def reference_distill(net: TwoLayerNet, X: torch.Tensor, y: torch.Tensor, m1: int, m2: int, *,
                      steps1: int = 300, steps2: int = 200, lr: float = 0.05, restarts: int = 3,
                      seed: int = 0, ridge: float = 1e-3, kip_batch: int = 4096) -> DistilledSet:
    """Distil (X, y) for the default two-stage learner at theta0 = ``net``, peer style.

    Args:
        net: theta0 with its stage-2 biases (X, y and net share dtype and device).
        X, y: the real data, (n, d) and (n,).
        m1, m2: stage-1 and stage-2 synthetic sizes.
        steps1, steps2, lr, restarts, seed: as in ``ddlib.distill``.
        ridge: lambda2 of the learner.
        kip_batch: real (target) points per KIP step; capped at n.

    Returns:
        A DistilledSet whose metadata holds each restart's final matching loss.
    """
    m1 = check_int("m1", m1, min_value=1)
    m2 = check_int("m2", m2, min_value=1)
    X, y = check_data("real data (X, y)", (X, y), d=net.d, min_n=max(m1, m2))
    steps1 = check_int("steps1", steps1, min_value=0)
    steps2 = check_int("steps2", steps2, min_value=0)
    check_float("lr", lr, strictly_positive=True)
    restarts = check_int("restarts", restarts, min_value=1)
    kip_batch = min(check_int("kip_batch", kip_batch, min_value=1), X.shape[0])
    n = X.shape[0]
    gen = torch.Generator()  # CPU generator: the same index sequence on every device
    gen.manual_seed(check_int("seed", seed))
    model = PeerNet(net)

    # Stage 1: real gradient by autograd, then gradient matching restart by restart.
    gw_real = torch.autograd.grad(_half_mse(model, X, y), model.W)[0].detach()
    stage1 = []
    for idx in [torch.randperm(n, generator=gen)[:m1].to(X.device) for _ in range(restarts)]:
        stage1.append(_gradient_matching(model, gw_real, X[idx], y[idx], steps1, lr))
    X1, y1, _ = min(stage1, key=lambda run: run[2])

    # The learner's stage 1 on S1 (one step, weight decay 1/lr): W1 = rownorm(-grad).
    W1 = F.normalize(-torch.autograd.grad(_half_mse(model, X1, y1), model.W)[0], dim=1).detach()
    bias = net.stage2_bias
    with torch.no_grad():
        Phi_D = torch.relu(X @ W1.T + bias)  # n x width, kept in memory for every KIP step

    # Stage 2: KIP on minibatches of Phi_D, restart by restart.
    init2 = [torch.randperm(n, generator=gen)[:m2].to(X.device) for _ in range(restarts)]
    stage2 = [_kip(Phi_D, y, W1, bias, X[idx], y[idx], steps2, lr, ridge, kip_batch, gen) for idx in init2]
    X2, y2, _ = min(stage2, key=lambda run: run[2])

    metadata = {
        "method": "peer-style reference (DC gradient matching + KIP)", "m1": m1, "m2": m2,
        "steps1": steps1, "steps2": steps2, "lr": lr, "restarts": restarts, "seed": seed,
        "kip_batch": kip_batch, "learner": {"ridge": ridge},
        "stage1_matching_loss": min(run[2] for run in stage1),
        "stage1_restart_losses": [run[2] for run in stage1],
        "stage2_loss": min(run[2] for run in stage2),
        "stage2_restart_losses": [run[2] for run in stage2],
    }
    return DistilledSet((X1, y1), (X2, y2), metadata)


def reference_select_stage2(net: TwoLayerNet, W1: torch.Tensor, X: torch.Tensor, y: torch.Tensor, m2: int, *,
                            seed: int, pool: int, ridge: float, stats) -> tuple[int, ...]:
    """Greedy stage-2 selection as ddlib did it before ``GreedyStage2``: every probe starts over,
    and every step scores each candidate set (the chosen points + one) with its own full Gram
    (``kip_loss`` on the batch).  The same candidate pools and rule, so the same points."""
    from ddlib.distillers import kip_loss
    from ddlib.seeds import generator
    from ddlib.selection import _pool

    gen = generator(seed)
    taken = torch.zeros(X.shape[0], dtype=torch.bool)
    chosen: list[int] = []
    for _ in range(m2):
        cand = _pool(taken, pool, gen)
        prev = torch.tensor(chosen, dtype=torch.long)
        Xb = torch.cat([X[prev].expand(len(cand), -1, -1), X[cand][:, None]], dim=1)
        yb = torch.cat([y[prev].expand(len(cand), -1), y[cand][:, None]], dim=1)
        with torch.no_grad():
            loss = kip_loss(net, W1, stats, Xb, yb, ridge)
        k = int(torch.argmin(loss.masked_fill(~torch.isfinite(loss), float("inf"))))
        chosen.append(int(cand[k]))
        taken[cand[k]] = True
    return tuple(chosen)
