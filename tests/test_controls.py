"""Negative controls (ddlib.book.controls): every claim of every page names a control, and under it
the claim's own check fails (rerun here at the smoke size); the committed control records, which
the pages show, say the same; the sabotages do what they say and leave the library as it was."""
from __future__ import annotations

import pytest
import torch

from ddlib import MultiIndexTask, optim
from ddlib.book.controls import SABOTAGES, control_record, load_controls
from ddlib.book.notebooks import NOTEBOOKS, experiment_module
from ddlib.experiments.parameters import resolve_parameters


@pytest.fixture(scope="module", params=sorted(NOTEBOOKS))
def fresh(request):
    return request.param, control_record(request.param)


def test_every_claim_has_a_control_or_is_a_consistency_check_with_its_reason(fresh):
    notebook, record = fresh
    module = experiment_module(notebook)
    plan = module.plan(resolve_parameters(module.PROFILES, "smoke", seed=0))
    for decl in plan:
        assert bool(decl.control) != bool(decl.consistency), (notebook, decl.id)
        if decl.control:
            assert decl.control in module.CONTROLS, (notebook, decl.id, decl.control)


def test_every_control_makes_its_claim_fail(fresh):
    notebook, record = fresh
    wrong = {cid: (e["control"], e["verdict"], e.get("line")) for cid, e in record["claims"].items()
             if e.get("control") and not e["fails"]}
    assert not wrong, (notebook, wrong)


def test_the_committed_control_record_is_current(fresh):
    notebook, record = fresh
    committed = load_controls(notebook)
    assert committed, f"{notebook}: no committed control record (make controls)"
    assert {cid: (e.get("control"), e.get("verdict")) for cid, e in committed["claims"].items()} == \
        {cid: (e.get("control"), e.get("verdict")) for cid, e in record["claims"].items()}


def test_shuffled_labels_break_the_link_between_inputs_and_labels_and_are_undone():
    task = MultiIndexTask(d=8, r=2, link="he2", seed=0)
    X, y = task.sample(500, seed=1)
    with SABOTAGES.lookup("shuffled labels")():
        Xs, ys = task.sample(500, seed=1)
    assert torch.equal(X, Xs) and not torch.equal(y, ys) and torch.equal(y.sort().values, ys.sort().values)
    assert torch.equal(task.sample(500, seed=1)[1], y)  # restored


def test_no_distillation_steps_leave_the_parameters_where_they_started_and_are_undone():
    value_and_grad = lambda x: (x.sum(), [torch.ones(3)])  # noqa: E731
    with SABOTAGES.lookup("no distillation steps")():
        moved, _ = optim.minimise(value_and_grad, [torch.ones(3)], steps=5, lr=0.1)
    assert torch.equal(moved[0], torch.ones(3))
    moved, _ = optim.minimise(value_and_grad, [torch.ones(3)], steps=5, lr=0.1)
    assert not torch.equal(moved[0], torch.ones(3))
