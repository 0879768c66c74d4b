"""The state the stages pass along: the initial draw keeps distill's historic draw order (stage 1's
K permutations, then stage 2's, from one generator), sizes are prefixes of one another, and
the kept restart is the one of lowest loss."""
from __future__ import annotations

import pytest
import torch

from ddlib.data import Data
from ddlib.distillers import InitialDraw, Restarts


def test_the_draw_is_k_permutations_for_stage1_then_k_for_stage2_from_one_seed(data):
    X, y = data
    draw = InitialDraw.draw(X.shape[0], 3, seed=5)
    gen = torch.Generator().manual_seed(5)
    expected = [torch.randperm(X.shape[0], generator=gen) for _ in range(6)]
    for k in range(3):
        assert torch.equal(draw.stage1_order[k], expected[k])
        assert torch.equal(draw.stage2_order[k], expected[3 + k])
    r = draw.stage2(Data(X, y), 4)
    assert torch.equal(r.X0[1], X[expected[4][:4]]) and torch.equal(r.y0[1], y[expected[4][:4]])


def test_smaller_sets_are_prefixes_of_larger_ones_and_a_prefix_draw_agrees(data):
    X, y = data
    full = InitialDraw.draw(X.shape[0], 2, seed=1)
    short = InitialDraw.draw(X.shape[0], 2, seed=1, prefix=8)
    small, big = full.stage1(data, 3), short.stage1(data, 8)
    assert torch.equal(small.X0, big.X0[:, :3])
    assert torch.equal(short.stage2(data, 8).X0, full.stage2(data, 8).X0)
    with pytest.raises(ValueError, match=r"m must be <= 8, got 9"):
        short.stage1(data, 9)


def test_best_is_the_lowest_loss_and_start_is_kept():
    X0 = torch.arange(12, dtype=torch.float64).reshape(3, 2, 2)
    y0 = torch.zeros(3, 2, dtype=torch.float64)
    r = Restarts.start(X0, y0)
    with pytest.raises(ValueError, match="no losses yet"):
        r.best_index
    moved = r.moved(X0 + 1, y0 + 1, torch.tensor([0.3, 0.1, 0.1], dtype=torch.float64))
    assert moved.best_index == 1  # ties: the first
    assert torch.equal(moved.best().X, X0[1] + 1) and torch.equal(moved.best_start().X, X0[1])
    assert moved.best_loss == pytest.approx(0.1) and moved.losses == pytest.approx([0.3, 0.1, 0.1])


def test_a_bad_draw_is_refused():
    with pytest.raises(ValueError, match=r"restarts must be >= 1, got 0"):
        InitialDraw.draw(10, 0, seed=0)
    with pytest.raises(ValueError, match=r"seed must be >= 0, got -1"):
        InitialDraw.draw(10, 2, seed=-1)
