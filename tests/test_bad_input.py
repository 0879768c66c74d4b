"""Bad input, one row per class (issue #13): each call must raise ddlib's own ValueError or
TypeError whose one-line message names the parameter (or the cause), the expected range or
choices and the value received -- never a NaN handed back, never an error from inside torch or
Python.  The rules the table relies on (float32/float64 only, conversion to the network's dtype,
detaching of tensors that require grad) are pinned by the tests after it."""
from __future__ import annotations

import pytest
import torch

from ddlib import (MultiIndexTask, TwoLayerNet, TwoStageLearner, alignment, distill, energy_in_subspace,
                   herding_coreset, kcenter_coreset, memory_report, random_subset)
from ddlib.distillers import (DistilledSet, InitialDraw, Restarts, match_gradients, match_performance,
                              match_trajectories, meta_finetune)
from ddlib.distillers.meta import real_loss
from ddlib.learners import Stage2Statistics, stage2_statistics
from ddlib.metrics import principal_angles
from ddlib.metrics import test_mse as normalized_test_mse
from ddlib.theory import noise_excess_risk, population_alignment, population_stage1_gradient, span_bound
from ddlib import methods
from ddlib import effective, evaluation, metrics, moments, selection, spectral, tuning
from ddlib.cli import evaluate as cli_evaluate
from ddlib.methods import distill_moments
from ddlib.distillers import match_moments, optimal_labels, solve_labels
from ddlib.tasks import Link, register_link

F64, F32 = torch.float64, torch.float32
TASK = MultiIndexTask(4, 2, seed=1)
NET = TwoLayerNet.init(4, 6, seed=2)
X, Y = TASK.sample(40, seed=3)
SMALL = dict(steps1=2, steps2=2, restarts=1)
BIG_SEED = 2 ** 63
DTYPES = r"must be one of torch.float32, torch.float64, got"


def _restarts(m: int = 2) -> Restarts:
    return InitialDraw.draw(40, 1, seed=0).stage1((X, Y), m)


def _zero_label_stats() -> Stage2Statistics:
    return stage2_statistics(NET.W, NET.stage2_bias, X, torch.zeros_like(Y))


def _population_gradient_without_closed_form():
    """The population gradient for a link that declares no closed form beyond He2 (registered for
    the call only)."""
    from ddlib.tasks import unregister_link
    register_link(Link("nocf", TASK.g, 2, TASK.link_spec.latent_hessian, beyond_he2=None))
    try:
        return population_stage1_gradient(NET, MultiIndexTask(4, 2, "nocf", seed=1))
    finally:
        unregister_link("nocf")


def _meta(y: torch.Tensor = Y, **kwargs):
    S = (X[:2].clone(), Y[:2].clone())
    args = dict(learner=TwoStageLearner(), steps=1, lr=0.01, batch=8, seed=0) | kwargs
    return meta_finetune(NET, X, y, S, S, **args)


ROWS = [
    # --- silent NaN / silent nonsense: now a ValueError naming the cause
    ("zero-labels-distill", lambda: distill(NET, X, torch.zeros_like(Y), 2, 3, **SMALL),
     ValueError, r"degenerate labels: all real labels are 0, so .*nothing to distil"),
    ("huge-lr-distill", lambda: distill(NET, X, Y, 2, 3, lr=1e308, **SMALL),
     ValueError, r"stage 1 \(gradient matching\): the points are not finite after 2 Adam steps \(lr=1e\+308\): "
                 r"the step size is too large for this problem"),
    ("huge-lr-stage2", lambda: match_performance(NET, NET.W, stage2_statistics(NET.W, NET.stage2_bias, X, Y),
                                                 _restarts(), steps=2, lr=1e308, ridge=1e-3),
     ValueError, r"stage 2 \(performance matching\): the points are not finite after 2 Adam steps \(lr=1e\+308\)"),
    ("tiny-stage1-lr", lambda: TwoStageLearner(stage1_lr=1e-320),
     ValueError, r"stage1_lr must be large enough that the default weight decay 1/stage1_lr is finite, "
                 r"got stage1_lr=1e-320"),
    ("overflowing-decay", lambda: TwoStageLearner(stage1_lr=1e300, stage1_weight_decay=1e300),
     ValueError, r"stage1_lr \* stage1_weight_decay must be finite"),
    ("huge-inputs-fit", lambda: TwoStageLearner().fit(NET, (X * 1e200, Y)),
     ValueError, r"TwoStageLearner.stage1: W1 is not finite after 1 step\(s\).*\(max \|X\| = \d.*e\+200"),
    ("huge-inputs-distill", lambda: distill(NET, X * 1e200, Y, 2, 3, **SMALL),
     ValueError, r"the real data's stage-1 gradient at theta0 is not finite: the data's scale \(max \|X\| = "),
    ("huge-inputs-forward", lambda: NET.replace(W=torch.ones_like(NET.W))(torch.full((2, 4), 1e308, dtype=F64)),
     ValueError, r"TwoLayerNet: the hidden activations are not finite in torch.float64"),
    ("huge-inputs-target", lambda: TASK.f(X * 1e200),
     ValueError, r"MultiIndexTask.f: the targets overflow torch.float64"),
    ("tiny-ridge", lambda: TwoStageLearner(ridge=1e-320).fit(NET, (X, Y), (torch.ones(6, 4, dtype=F64), Y[:6])),
     ValueError, r"the ridge solution a is not finite \(ridge=1e-320\): the ridge is too small"),
    ("singular-ridge", lambda: TwoStageLearner(ridge=5e-324).fit(NET, (X, Y), (torch.ones(6, 4, dtype=F64), Y[:6])),
     ValueError, r"the ridge system is singular in working precision \(ridge=5e-324 is too small"),
    ("huge-noise", lambda: MultiIndexTask(4, 2, noise=1e200),
     ValueError, r"noise must be <= 1e\+150, got 1e\+200"),
    ("noise-overflows-float32", lambda: MultiIndexTask(4, 2, noise=1e100).sample(5, 0, dtype=F32),
     ValueError, r"MultiIndexTask.sample: the labels overflow torch.float32 \(noise=1e\+100\)"),
    ("int-sample", lambda: TASK.sample(5, 0, dtype=torch.int64), TypeError, DTYPES + r" torch.int64"),
    ("int-net", lambda: TwoLayerNet.init(4, 6, 0, dtype=torch.int64), TypeError, DTYPES + r" torch.int64"),
    ("complex-net", lambda: TwoLayerNet.init(4, 6, 0, dtype=torch.complex128), TypeError,
     DTYPES + r" torch.complex128"),
    ("complex-data", lambda: TwoStageLearner().fit(NET, (X.to(torch.complex128), Y)),
     TypeError, r"stage1_data: X must be floating point, one of torch.float32, torch.float64, got torch.complex128"),
    ("int-input", lambda: NET(X.long()), TypeError, r"X must be floating point, .* got torch.int64"),
    ("alignment-of-zeros", lambda: alignment(torch.zeros(3, 4, dtype=F64), TASK),
     ValueError, r"W is all zeros: its alignment is undefined"),
    ("energy-of-zeros", lambda: energy_in_subspace(torch.zeros(3, 4, dtype=F64), TASK),
     ValueError, r"X is all zeros: its energy in span\(U\) is undefined"),
    ("angles-of-zeros", lambda: principal_angles(torch.zeros(3, 4, dtype=F64), TASK),
     ValueError, r"W is all zeros: its singular subspace is undefined"),
    ("he3-population-alignment", lambda: population_alignment(NET, MultiIndexTask(4, 1, "he3")),
     ValueError, r"the population first layer is all zeros .* 'he3' link .*its alignment is undefined"),
    ("negative-memory", lambda: memory_report(m1=-1, m2=0, d=3, r=1, width=2, n=0),
     ValueError, r"m1 must be >= 0, got -1"),
    ("overflowing-noise-risk", lambda: noise_excess_risk(1e200, 4, 10),
     ValueError, r"noise_excess_risk overflows: sigma=1e\+200 is too large"),
    ("huge-count", lambda: span_bound(10 ** 400, 2), ValueError, r"m1 must be <= 9007199254740992, got 1000"),
    ("zero-gradient-stage", lambda: match_gradients(NET, torch.zeros_like(NET.W), _restarts(), steps=1, lr=0.1),
     ValueError, r"G_D is all zeros: .*no direction to match"),
    ("zero-labels-stage2", lambda: match_performance(NET, NET.W, _zero_label_stats(), _restarts(), steps=1, lr=0.1,
                                                     ridge=1e-3),
     ValueError, r"degenerate labels: all real labels are 0 \(\|y\|\^2/n = 0\), so the KIP loss"),
    ("expert-at-theta0", lambda: match_trajectories(NET, NET.W, _restarts(), learner=TwoStageLearner(), steps=1,
                                                    lr=0.1),
     ValueError, r"W_T_expert equals theta0's first layer W"),
    ("huge-features-herding", lambda: herding_coreset(X, Y, 3, features=X * 1e300),
     ValueError, r"herding_coreset: the features' scale \(max \|phi\| = .*\) overflows torch.float64"),
    # --- constant labels where a variance normalises
    ("constant-labels-meta", lambda: distill(NET, X, torch.ones_like(Y), 2, 3, method="meta", meta_steps=1, **SMALL),
     ValueError, r"degenerate labels: all real labels are equal \(constant y = 1\), so the meta fine-tune's loss"),
    ("constant-labels-finetune", lambda: _meta(torch.full_like(Y, 2.0)),
     ValueError, r"degenerate labels: all real labels are equal \(constant y = 2\)"),
    ("constant-labels-real-loss", lambda: real_loss(NET, (X[:2], Y[:2]), (X[:2], Y[:2]), X, torch.ones_like(Y),
                                                    TwoStageLearner()),
     ValueError, r"degenerate labels: all real labels are equal"),
    # --- constructors that used to check nothing
    ("net-1d-W", lambda: TwoLayerNet(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(3)),
     ValueError, r"TwoLayerNet: W must be 2-D, got shape \(3,\)"),
    ("net-short-a", lambda: TwoLayerNet(NET.W, NET.a[:2], NET.b, NET.stage2_bias),
     ValueError, r"TwoLayerNet: a must have one entry per row of W \(6\), got shape \(2,\)"),
    ("net-mixed-dtypes", lambda: TwoLayerNet(NET.W, NET.a.float(), NET.b, NET.stage2_bias),
     TypeError, r"TwoLayerNet: a must have W's dtype torch.float64, got torch.float32"),
    ("net-nan", lambda: NET.replace(W=NET.W * float("nan")),
     ValueError, r"TwoLayerNet: W contains non-finite values \(NaN or inf\)"),
    ("net-int", lambda: TwoLayerNet(NET.W.long(), NET.a, NET.b, NET.stage2_bias),
     TypeError, r"TwoLayerNet: W must be floating point"),
    ("net-meta", lambda: TwoLayerNet(*(t.to("meta") for t in (NET.W, NET.a, NET.b, NET.stage2_bias))),
     ValueError, r"TwoLayerNet: W is a 'meta' tensor"),
    ("restarts-shapes", lambda: Restarts.start(torch.zeros(2, 3, 4, dtype=F64), torch.zeros(2, 2, dtype=F64)),
     ValueError, r"Restarts: y0 must have shape \(2, 3\) to match X \(2, 3, 4\), got \(2, 2\)"),
    ("draw-orders", lambda: InitialDraw(torch.zeros(2, 3), torch.zeros(2, 3), 0),
     TypeError, r"InitialDraw: stage1_order must be a 2-D int64 tensor of indices"),
    ("draw-for-more-data", lambda: InitialDraw.draw(40, 1, seed=0).stage1((X[:5], Y[:5]), 3),
     ValueError, r"this draw indexes \d+ or more points but the data have n=5"),
    ("distilled-set-nan", lambda: DistilledSet((X[:2] * float("nan"), Y[:2]), (X[:3], Y[:3])),
     ValueError, r"DistilledSet: stage1: X contains non-finite values"),
    ("statistics", lambda: Stage2Statistics(torch.zeros(2, 3, dtype=F64), torch.zeros(2, dtype=F64),
                                            torch.tensor(1.0, dtype=F64), 5),
     ValueError, r"Stage2Statistics: gram must be square"),
    ("stage-not-restarts", lambda: match_gradients(NET, NET.W, (X, Y), steps=1, lr=0.1),
     TypeError, r"restarts must be a Restarts \(e.g. InitialDraw.stage1\(data, m\)\), got tuple"),
    ("stage-bad-G_D", lambda: match_gradients(NET, NET.W[:, :2], _restarts(), steps=1, lr=0.1),
     ValueError, r"G_D must have the network's first-layer shape \(6, 4\), got \(6, 2\)"),
    ("stage-negative-steps", lambda: match_gradients(NET, NET.W, _restarts(), steps=-1, lr=0.1),
     ValueError, r"steps must be >= 0, got -1"),
    ("stage-bad-stats", lambda: match_performance(NET, NET.W, {"gram": 1}, _restarts(), steps=1, lr=0.1, ridge=1e-3),
     TypeError, r"stats must be a Stage2Statistics \(from stage2_statistics\), got dict"),
    ("learner-stage1-int", lambda: TwoStageLearner().stage1(NET, X.long(), Y),
     TypeError, r"stage-1 data \(X, y\): X must be floating point"),
    ("set-fit-bad-learner", lambda: DistilledSet((X[:2], Y[:2]), (X[:3], Y[:3])).fit(NET, learner="T1"),
     TypeError, r"learner must be a TwoStageLearner, got str"),
    ("distill-bad-task", lambda: distill(NET, X, Y, 2, 3, task="he2", **SMALL),
     TypeError, r"task must be a MultiIndexTask, got str"),
    ("metric-bad-task", lambda: normalized_test_mse(NET, "he2", 10, seed=0),
     TypeError, r"task must be a MultiIndexTask, got str"),
    # --- seeds >= 2^63 (and < 0): every place a seed enters
    ("seed-task", lambda: MultiIndexTask(4, 2, seed=BIG_SEED), ValueError, r"seed must be <= 9223372036854775807"),
    ("seed-sample", lambda: TASK.sample(5, BIG_SEED), ValueError, r"seed must be <= 9223372036854775807"),
    ("seed-net", lambda: TwoLayerNet.init(4, 6, seed=BIG_SEED), ValueError, r"seed must be <= 9223372036854775807"),
    ("seed-hand-made-net", lambda: TwoLayerNet(NET.W, NET.a, NET.b, NET.stage2_bias, seed=-1),
     ValueError, r"seed must be >= 0, got -1"),
    ("seed-random-subset", lambda: random_subset(X, Y, 3, seed=BIG_SEED), ValueError, r"seed must be <= "),
    ("seed-kcenter", lambda: kcenter_coreset(X, Y, 3, seed=2 ** 64), ValueError, r"seed must be <= "),
    ("seed-distill", lambda: distill(NET, X, Y, 2, 3, seed=BIG_SEED, **SMALL), ValueError, r"seed must be <= "),
    ("seed-draw", lambda: InitialDraw.draw(10, 1, seed=BIG_SEED), ValueError, r"seed must be <= "),
    ("seed-meta", lambda: _meta(seed=BIG_SEED), ValueError, r"seed must be <= "),
    ("seed-test-mse", lambda: normalized_test_mse(NET, TASK, 10, seed=BIG_SEED), ValueError, r"seed must be <= "),
    ("seed-non-integer", lambda: TASK.sample(5, 1.5), TypeError, r"seed must be an integer, got 1.5 \(float\)"),
    # --- dtypes: a string, float16, bfloat16 -- and devices: 'meta'
    ("dtype-string-sample", lambda: TASK.sample(5, 0, dtype="float32"), TypeError, DTYPES + r" 'float32' \(str\)"),
    ("dtype-string-distill", lambda: distill(NET, X, Y, 2, 3, dtype="float32", **SMALL), TypeError,
     r"dtype " + DTYPES + r" 'float32' \(str\)"),
    ("dtype-float16-net", lambda: TwoLayerNet.init(4, 6, 0, dtype=torch.float16), TypeError,
     DTYPES + r" torch.float16"),
    ("dtype-bfloat16-to", lambda: NET.to(dtype=torch.bfloat16), TypeError, DTYPES + r" torch.bfloat16"),
    ("dtype-float16-distill", lambda: distill(NET, X, Y, 2, 3, dtype=torch.float16, **SMALL), TypeError,
     DTYPES + r" torch.float16"),
    ("float16-data", lambda: TwoStageLearner().fit(NET, (X.half(), Y.half())), TypeError,
     r"stage1_data: X must be floating point, one of torch.float32, torch.float64, got torch.float16"),
    ("device-meta-sample", lambda: TASK.sample(5, 0, device="meta"), ValueError,
     r"device must be a device that holds values, not 'meta'"),
    ("device-meta-distill", lambda: distill(NET, X, Y, 2, 3, device="meta", **SMALL), ValueError,
     r"device must be a device that holds values, not 'meta'"),
    ("device-unknown", lambda: TwoLayerNet.init(4, 6, 0, device="bogus"), ValueError,
     r"device must be a device such as 'cpu' or 'cuda', got 'bogus'"),
    ("device-not-a-name", lambda: TwoLayerNet.init(4, 6, 0, device=3.5), TypeError,
     r"device must be a device name or torch.device \(e.g. 'cpu'\), got 3.5 \(float\)"),
    ("meta-data-fit", lambda: TwoStageLearner().fit(NET, (X.to("meta"), Y.to("meta"))), ValueError,
     r"stage1_data: X is a 'meta' tensor \(a shape without values\)"),
    ("meta-input", lambda: NET(X.to("meta")), ValueError, r"X is a 'meta' tensor"),
    ("meta-metric", lambda: alignment(NET.W.to("meta"), TASK), ValueError, r"W is a 'meta' tensor"),
    ("complex-metric", lambda: energy_in_subspace(X.to(torch.complex128), TASK), TypeError,
     r"X must be floating point, one of torch.float32, torch.float64, got torch.complex128"),
    # --- long values are quoted truncated, on one line
    ("long-value", lambda: TwoStageLearner(ridge="x" * 500), TypeError, r"ridge must be a number, got 'x{20,}\.\.\."),
    # --- the evidence layer (issue #10): links, tuning, selection, spectral, moments, labels, n_eq, evaluate
    ("link-unknown", lambda: MultiIndexTask(4, 1, link="relu"), ValueError,
     r"link must be one of \['he2', 'aniso', 'he3'\], got 'relu' \(or another registered link: \['quad'"),
    ("link-not-a-link", lambda: register_link("quad"), TypeError, r"link must be a ddlib.tasks.Link, got str"),
    ("link-builtin-replaced", lambda: register_link(Link("he2", TASK.g, 2, TASK.link_spec.latent_hessian),
                                                    replace=True),
     ValueError, r"'he2' is already registered \(a built-in link cannot be replaced\)"),
    ("link-no-closed-form", _population_gradient_without_closed_form, ValueError,
     r"no closed form is known for the link 'nocf' beyond its He2 part"),
    ("tune-empty-grid", lambda: tuning.tune_ridge(NET, (X, Y), (X, Y), (X, Y), grid=[]), ValueError,
     r"grid must hold 1 to 64 ridge values, got 0"),
    ("tune-constant-validation", lambda: tuning.tune_ridge(NET, (X, Y), (X, Y), (X, torch.ones_like(Y))),
     ValueError, r"degenerate labels: all validation labels are equal"),
    ("tune-float16-validation", lambda: tuning.tune_ridge(NET, (X, Y), (X, Y), (X.half(), Y)), TypeError,
     r"validation: X must be floating point, one of torch.float32, torch.float64, got torch.float16"),
    ("split-too-large", lambda: tuning.validation_split(X, Y, 40, seed=0), ValueError,
     r"n_validation must be <= 39, got 40"),
    ("select-zero-labels", lambda: selection.select_stage1(NET, X, torch.zeros_like(Y), 2, seed=0), ValueError,
     r"degenerate labels: all real labels are 0, so the real stage-1 gradient"),
    ("select-seed", lambda: methods.select(NET, X, Y, 2, 2, seed=BIG_SEED), ValueError, r"seed must be <= "),
    ("select-pool", lambda: selection.select_stage2(NET, NET.W, X, Y, 2, seed=0, pool=0), ValueError,
     r"pool must be >= 1, got 0"),
    ("spectral-he3", lambda: spectral.spectral_points(*MultiIndexTask(16, 2, "he3", seed=1).sample(2000, 2)),
     ValueError, r"spectral_basis: no eigenvalue of H_hat exceeds 1.5 x its noise level"),
    ("spectral-variant", lambda: spectral.spectral_points(X, Y, 2, variant="pca"), ValueError,
     r"variant must be one of \['eigen', 'directions'\], got 'pca'"),
    ("moments-overflow", lambda: moments.empirical_hessian(X * 1e200, Y), ValueError,
     r"empirical_hessian overflows torch.float64"),
    ("moments-zero", lambda: match_moments(NET, torch.zeros(4, 4, dtype=F64), _restarts(), steps=1, lr=0.1),
     ValueError, r"M_D is all zeros"),
    ("distill-moments-stage2", lambda: distill_moments(NET, X, Y, 2, 2, stage2="meta"), ValueError,
     r"stage2 must be one of \['kip', 'labels'\], got 'meta'"),
    ("labels-bad-X", lambda: optimal_labels(NET, NET.W, stage2_statistics(NET.W, NET.stage2_bias, X, Y), X[:, :2],
                                            1e-3),
     ValueError, r"X must be \(m, d=4\) or \(K, m, d=4\) with m >= 1, got \(40, 2\)"),
    ("labels-zero-stats", lambda: solve_labels(NET, NET.W, _zero_label_stats(), _restarts(), ridge=1e-3), ValueError,
     r"degenerate labels: all real labels are 0 \(\|y\|\^2/n = 0\)"),
    ("curve-unsorted", lambda: effective.LearningCurve((20, 10), (1.0, 0.5)), ValueError,
     r"LearningCurve: n must be strictly increasing, got \[20, 10\]"),
    ("n-eq-nan-error", lambda: effective.effective_size(float("nan"), effective.LearningCurve((1, 2), (1.0, 0.5))),
     ValueError, r"error must be finite, got nan"),
    ("gap-zero-error", lambda: metrics.gap_to_full_data(0.1, 0.0), ValueError, r"full_error must be > 0, got 0.0"),
    ("gain-overflow", lambda: metrics.gain_over_random(1e-300, 1e300), ValueError, r"gain_over_random overflows"),
    ("evaluate-no-task", lambda: evaluation.evaluate(DistilledSet((X[:2], Y[:2]), (X[:3], Y[:3]))), ValueError,
     r"the set records no task \(it was distilled without task=...\): pass the task"),
    ("evaluate-mismatched-d", lambda: evaluation.evaluate(DistilledSet((X[:2], Y[:2]), (X[:3], Y[:3])),
                                                          task=MultiIndexTask(5, 1)),
     ValueError, r"the set's points have d=4 but the given task has d=5"),
    ("evaluate-not-a-set", lambda: evaluation.evaluate(3), TypeError,
     r"distilled must be a DistilledSet or the path of a saved one, got int"),
    ("task-spec", lambda: cli_evaluate.parse_task_spec("r=two,link=he2,seed=0", 4), ValueError,
     r"--task: r must be int, got 'two'"),
]


@pytest.mark.parametrize("call, error, pattern", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_raises_a_one_line_error_naming_it(call, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message


# ------------------------------------------------------------------------------- the rules
def test_inputs_are_converted_to_the_networks_dtype():
    # The one rule for a tensor of another (float) dtype than the network's: converted with
    # Tensor.to, the result in the network's dtype -- the forward pass, fit and distill alike.
    assert torch.equal(NET(X.float()), NET(X.float().double()))
    assert NET(X.float()).dtype == F64 and NET.to(dtype=F32)(X).dtype == F32
    trained = TwoStageLearner().fit(NET, (X.float(), Y.float()))
    assert trained.dtype == F64
    assert distill(NET, X.float(), Y.float(), 2, 3, **SMALL).stage1[0].dtype == F64


def test_inputs_that_require_grad_are_detached_by_the_entry_points_that_are_not_differentiated():
    Xg, Yg = X.clone().requires_grad_(True), Y.clone().requires_grad_(True)
    net = NET.replace(W=NET.W.clone().requires_grad_(True))
    trained = TwoStageLearner().fit(net, (Xg, Yg))
    assert not any(t.requires_grad for t in (trained.W, trained.a, trained.b))
    torch.testing.assert_close(trained.W, TwoStageLearner().fit(NET, (X, Y)).W, rtol=0, atol=0)
    ds = distill(net, Xg, Yg, 2, 3, **SMALL)
    assert not any(t.requires_grad for t in ds.stage1 + ds.stage2)
    assert not any(t.requires_grad for t in kcenter_coreset(Xg, Yg, 3, seed=0))
    assert alignment(net, TASK) == alignment(NET, TASK)


def test_the_differentiable_building_blocks_keep_the_graph():
    Xg = X[:5].clone().requires_grad_(True)
    assert NET(Xg).requires_grad and TASK.f(Xg).requires_grad
    W1 = TwoStageLearner().stage1(NET, Xg, Y[:5])
    assert W1.requires_grad
    W1.sum().backward()
    assert Xg.grad is not None and torch.isfinite(Xg.grad).all()
