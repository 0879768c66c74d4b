"""The distill pipeline's method registry: the three methods, what each records in the metadata,
how tm_steps and the meta hyper-parameters are resolved, and the errors for misuse."""
from __future__ import annotations

import pytest
import torch

from ddlib.distillers import METHODS, META_DEFAULTS, DistilledSet, distill, distill_stage1, distill_state, meta_refine
from ddlib.learners import TwoStageLearner

FAST = dict(steps1=15, steps2=10, restarts=2, seed=3)


def test_the_registry_holds_the_three_methods():
    assert METHODS == ("gm+kip", "tm+kip", "meta")


def test_an_unknown_method_is_rejected_with_the_valid_ones_listed(net, data):
    with pytest.raises(ValueError, match=r"method must be one of \['gm\+kip', 'tm\+kip', 'meta'\], got 'kip'"):
        distill(net, *data, 4, 6, method="kip")


def test_gm_kip_metadata_has_no_tm_or_meta_entries(net, data):
    meta = distill(net, *data, 4, 6, **FAST).metadata
    assert meta["method"] == "gm+kip" and meta["matching"] == "cos"
    assert not [k for k in meta if k.startswith(("tm_", "meta_"))]


def test_tm_kip_records_t_and_uses_the_t_step_learner(net, data):
    ds = distill(net, *data, 4, 6, method="tm+kip", tm_steps=2, **FAST)
    meta = ds.metadata
    assert (meta["method"], meta["matching"], meta["tm_steps"]) == ("tm+kip", "trajectory", 2)
    assert meta["learner"]["stage1_steps"] == 2
    assert len(meta["stage1_restart_losses"]) == 2
    fitted = ds.fit(net)  # DistilledSet.fit rebuilds the learner from the metadata
    expected = TwoStageLearner(stage1_steps=2).fit(net, ds.stage1, ds.stage2)
    assert torch.equal(fitted.W, expected.W) and torch.equal(fitted.a, expected.a)


def test_tm_steps_defaults_to_the_given_learners_t(net, data):
    learner = TwoStageLearner(stage1_steps=3, stage1_lr=0.5, stage1_weight_decay=1.0)
    a = distill(net, *data, 4, 6, method="tm+kip", learner=learner, **FAST)
    b = distill(net, *data, 4, 6, method="tm+kip", learner=learner, tm_steps=3, **FAST)
    assert a.metadata["tm_steps"] == 3 and a.metadata["learner"] == learner.params()
    assert a.equal(b)


def test_tm_steps_contradicting_the_learner_is_rejected(net, data):
    with pytest.raises(ValueError, match="tm_steps=2 contradicts learner.stage1_steps=1"):
        distill(net, *data, 4, 6, method="tm+kip", learner=TwoStageLearner(), tm_steps=2)


@pytest.mark.parametrize("method", ["gm+kip", "meta"])
def test_tm_steps_with_another_method_is_rejected(net, data, method):
    with pytest.raises(ValueError, match="tm_steps applies to method='tm\\+kip' only"):
        distill(net, *data, 4, 6, method=method, tm_steps=2)


def test_tm_kip_rejects_a_non_default_matching_loss(net, data):
    with pytest.raises(ValueError, match="method='tm\\+kip' takes the default 'cos', got 'frobenius'"):
        distill(net, *data, 4, 6, method="tm+kip", matching="frobenius")


def test_tm_steps_must_be_a_positive_integer(net, data):
    with pytest.raises(ValueError, match="tm_steps must be >= 1, got 0"):
        distill(net, *data, 4, 6, method="tm+kip", tm_steps=0)


def test_meta_is_gm_kip_then_meta_refine(net, data, task):
    kw = dict(meta_steps=6, meta_lr=0.02, meta_batch=40)
    got = distill(net, *data, 4, 6, method="meta", task=task, **kw, **FAST)
    start = distill(net, *data, 4, 6, method="gm+kip", task=task, **FAST)
    expected = meta_refine(start, net, *data, steps=6, lr=0.02, batch=40, seed=FAST["seed"])
    assert got.equal(expected)
    meta = got.metadata
    assert (meta["method"], meta["meta_init_method"]) == ("meta", "gm+kip")
    assert (meta["meta_steps"], meta["meta_lr"], meta["meta_batch"]) == (6, 0.02, 40)
    assert meta["meta_final_real_loss"] < meta["meta_initial_real_loss"]


def test_meta_fills_in_its_default_hyper_parameters(net, data):
    meta = distill(net, *data, 4, 6, method="meta", meta_steps=2, **FAST).metadata
    assert (meta["meta_lr"], meta["meta_batch"]) == (META_DEFAULTS["meta_lr"], META_DEFAULTS["meta_batch"])


@pytest.mark.parametrize("method", ["gm+kip", "tm+kip"])
def test_meta_hyper_parameters_with_another_method_are_rejected(net, data, method):
    with pytest.raises(ValueError, match=r"\['meta_lr'\] apply to method='meta' only"):
        distill(net, *data, 4, 6, method=method, meta_lr=0.1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(meta_steps=-1), "meta_steps must be >= 0, got -1"),
    (dict(meta_lr=0.0), "meta_lr must be > 0, got 0.0"),
    (dict(meta_batch=0), "meta_batch must be >= 1, got 0"),
])
def test_bad_meta_hyper_parameters_are_rejected(net, data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        distill(net, *data, 4, 6, method="meta", **kwargs)


@pytest.mark.parametrize("method, extra", [("tm+kip", dict(tm_steps=2)), ("meta", dict(meta_steps=2))])
def test_new_methods_sets_survive_a_save_and_load(net, data, tmp_path, method, extra):
    ds = distill(net, *data, 4, 6, method=method, **extra, **FAST)
    loaded = DistilledSet.load(ds.save(tmp_path / f"{method}.dd"))
    assert loaded.equal(ds)


# ------------------------------------------------------------------------ stages and state
def test_distill_is_the_state_s_distilled_set(net, data):
    ds = distill(net, *data, 3, 4, **FAST)
    state = distill_state(net, *data, 3, 4, **FAST)
    assert ds.equal(state.distilled)
    assert torch.equal(state.stage1.best().X, ds.stage1[0]) and torch.equal(state.stage2.best().y, ds.stage2[1])
    assert torch.equal(state.W1, TwoStageLearner().stage1(net, *ds.stage1))


def test_the_state_keeps_where_the_kept_restarts_started(net, data):
    # With zero optimisation steps the distilled points are their starting points.
    state = distill_state(net, *data, 3, 4, steps1=0, steps2=0, restarts=3, seed=7)
    assert torch.equal(state.stage1.best_start().X, state.distilled.stage1[0])
    assert torch.equal(state.stage2.best_start().X, state.distilled.stage2[0])


def test_distill_stage1_returns_the_restarts_of_distills_stage1(net, data):
    ds = distill(net, *data, 3, 4, steps1=15, steps2=5, restarts=3, seed=7)
    res = distill_stage1(net, *data, 3, steps=15, lr=0.05, restarts=3, seed=7)
    assert torch.equal(res.best().X, ds.stage1[0]) and torch.equal(res.best().y, ds.stage1[1])
    assert res.best_loss == ds.metadata["stage1_matching_loss"] and res.losses == ds.metadata["stage1_restart_losses"]


def test_a_misspelt_keyword_is_a_type_error_naming_it(net, data):
    with pytest.raises(TypeError, match="stpes1"):
        distill(net, *data, 3, 4, stpes1=10)


def test_distill_stage1_validates_whatever_the_route(net, data):
    with pytest.raises(ValueError, match=r"m1 must be >= 1, got 0"):
        distill_stage1(net, *data, 0)
    with pytest.raises(ValueError, match=r"matching must be one of \['cos', 'frobenius'\], got 'bogus'"):
        distill_stage1(net, *data, 3, matching="bogus")
