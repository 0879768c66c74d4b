"""ddlib.theory: every closed form against a Monte-Carlo estimate of the same quantity (the
neural-tangents pairing), with the sampling error shrinking like 1/sqrt(N), and a perturbed
formula that must fail -- so no check is vacuous."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddlib import theory
from ddlib.distillers import DistilledSet
from ddlib.learners import TwoStageLearner, normalize_rows, stage1_gradient
from ddlib.metrics import alignment
from ddlib.networks import TwoLayerNet
from ddlib.tasks import ANISO_C, MultiIndexTask

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mc_gradient(net: TwoLayerNet, task: MultiIndexTask, N: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The real-data stage-1 gradient on N samples and each entry's standard error."""
    X, y = task.sample(N, seed=seed)
    G = stage1_gradient(net.W, net.a, net.b, X, y)
    mask = (X @ net.W.T > 0).to(F64)
    first = (mask * y[:, None]).T @ X / N
    second = (mask * (y * y)[:, None]).T @ (X * X) / N
    return G, ((second - first ** 2) / N).sqrt()


def _tilted_net(task: MultiIndexTask, width: int, seed: int) -> TwoLayerNet:
    """theta0 with every row leaning towards u_1 (|u_1 . w| ~ 0.7), where the He4 part of
    ``aniso`` is large enough to be resolved by sampling."""
    net = TwoLayerNet.init(task.d, width, seed=seed)
    W = normalize_rows(net.W + 1.2 * task.U[0] * torch.sign(net.W @ task.U[0])[:, None])
    return net.replace(W=W)


# (name, task, net builder): the population gradient of every link.
GRADIENT_CASES = {
    "he2": (MultiIndexTask(8, 2, "he2", seed=1), lambda t: TwoLayerNet.init(8, 16, seed=2)),
    "aniso": (MultiIndexTask(8, 2, "aniso", seed=1), lambda t: _tilted_net(t, 16, seed=2)),
    "he3": (MultiIndexTask(8, 1, "he3", seed=1), lambda t: TwoLayerNet.init(8, 16, seed=2)),
    "quad": (MultiIndexTask(8, 3, "quad", seed=1), lambda t: TwoLayerNet.init(8, 16, seed=2)),
}


@pytest.fixture(scope="module", params=list(GRADIENT_CASES))
def gradient_case(request):
    task, make = GRADIENT_CASES[request.param]
    net = make(task)
    small = _mc_gradient(net, task, 2 ** 16, seed=3)
    large = _mc_gradient(net, task, 2 ** 20, seed=4)
    return request.param, task, net, small, large


def test_population_gradient_matches_monte_carlo_for_every_link(gradient_case):
    _, task, net, _, (G_mc, se) = gradient_case
    G_pop = theory.population_stage1_gradient(net, task)
    # Per entry, in standard errors: 128 entries, so a largest |z| above 5 happens by chance
    # less than once in 10^4 runs of a correct formula.
    assert float(((G_mc - G_pop).abs() / se).max()) < 5.0


def test_monte_carlo_error_shrinks_like_one_over_sqrt_n(gradient_case):
    name, task, net, (G_small, _), (G_large, _) = gradient_case
    G_pop = theory.population_stage1_gradient(net, task)
    ratio = float((G_large - G_pop).norm() / (G_small - G_pop).norm())
    # 16 times the samples: the error's norm shrinks 4x (0.25); over 128 entries it scatters by
    # about 10%, so [0.17, 0.37] holds for a correct formula and fails for a biased one, whose
    # error would stop shrinking.
    assert 0.17 < ratio < 0.37, (name, ratio)


@pytest.mark.parametrize("perturbation", ["no He4 term (aniso)", "no -1/2 (w'Hw) w term (he2)",
                                          "no -1/2 (w'Hw) w term (quad)"])
def test_a_perturbed_formula_is_rejected(perturbation):
    name = "aniso" if "aniso" in perturbation else "quad" if "quad" in perturbation else "he2"
    task, make = GRADIENT_CASES[name]
    net = make(task)
    G_mc, se = _mc_gradient(net, task, 2 ** 20, seed=4)
    W = normalize_rows(net.W)
    H = task.expected_hessian()
    HW = W @ H
    if name == "aniso":  # the quadratic part alone, as ddlib had it before the He4 term
        quad = (HW * W).sum(1, keepdim=True)
        wrong = -net.a[:, None] * (HW - 0.5 * quad * W) / math.sqrt(2 * math.pi)
    else:
        wrong = -net.a[:, None] * HW / math.sqrt(2 * math.pi)
    assert float(((G_mc - wrong).abs() / se).max()) > 10.0


def test_he4_part_has_the_closed_form_direction():
    # w . E[He4(u.x) relu'(w.x) x] = phi(0) (3 rho^4 - 4 rho^4) = -phi(0) rho^4: the aniso
    # gradient's component along each neuron is the He2 part's plus this.
    task = MultiIndexTask(6, 2, "aniso", seed=0)
    net = TwoLayerNet.init(6, 8, seed=1)
    G = theory.population_stage1_gradient(net, task)
    W = net.W
    quad = ((W @ task.expected_hessian()) * W).sum(1)
    rho = W @ task.U[0]
    phi0 = 1 / math.sqrt(2 * math.pi)
    along = -net.a * (0.5 * quad * phi0 - ANISO_C / math.sqrt(24.0) * phi0 * rho ** 4)
    torch.testing.assert_close((G * W).sum(1), along, rtol=1e-12, atol=1e-14)


def test_he3_population_gradient_is_exactly_zero():
    task = MultiIndexTask(6, 1, "he3", seed=0)
    assert torch.equal(theory.population_stage1_gradient(TwoLayerNet.init(6, 8, seed=1), task),
                       torch.zeros(8, 6, dtype=F64))


def test_the_full_data_first_layer_converges_to_the_population_one():
    task = MultiIndexTask(8, 2, "he2", seed=5)
    net = TwoLayerNet.init(8, 32, seed=6)
    W_pop = theory.population_first_layer(net, task)
    errors = []
    for N in (2 ** 14, 2 ** 18):
        W1 = TwoStageLearner().stage1(net, *task.sample(N, seed=7))
        errors.append(float((W1 - W_pop).norm()))
    assert 0.17 < errors[1] / errors[0] < 0.37, errors  # 16x the data: 4x closer
    assert alignment(W1, task) == pytest.approx(theory.population_alignment(net, task), abs=0.01)


def test_he3_noise_alignment_matches_a_gaussian_monte_carlo():
    # Rows with covariance diag(7, 1, ..., 1) in the basis (u_1, ...): E|U xi|^2/|xi|^2.
    for d, r in ((8, 1), (16, 2)):
        xi = torch.randn(200_000, d, generator=_gen(d), dtype=F64)
        xi[:, 0] *= math.sqrt(7.0)
        mc = math.sqrt(float(((xi[:, :r] ** 2).sum(1) / (xi ** 2).sum(1)).mean()))
        assert theory.he3_noise_alignment(d, r) == pytest.approx(mc, abs=3e-3)  # MC error ~5e-4
    assert theory.he3_noise_alignment(3, 3) == 1.0
    assert all(theory.he3_noise_alignment(d, 2) > (2 / d) ** 0.5 for d in (4, 16, 64))


def test_he3_noise_energy_is_the_share_of_the_real_gradient_in_span_u():
    # Over 60 independent draws of G_D (he3 has G_pop = 0), E|G U^T|^2 / E|G|^2 ~ (r + 6)/(d + 6).
    task = MultiIndexTask(32, 2, "he3", seed=0)
    net = TwoLayerNet.init(32, 64, seed=1)
    num = den = 0.0
    for k in range(60):
        G = stage1_gradient(net.W, net.a, net.b, *task.sample(400, seed=100 + k))
        num += float((G @ task.U.T).norm() ** 2)
        den += float(G.norm() ** 2)
    assert abs(num / den - theory.he3_noise_energy(32, 2)) < 0.04
    assert abs(num / den - 2 / 32) > 0.1  # and far from the isotropic chance level r/d


def test_span_bound_is_the_unexplained_share_of_a_he2_link():
    # he2 with r = 3: the best function of the first k latent coordinates is their own He2
    # terms; what is left has variance 1 - k/r (Monte Carlo, N = 2^18: error ~ 0.003).
    task = MultiIndexTask(5, 3, "he2", seed=0)
    X, y = task.sample(2 ** 18, seed=1)
    Z = X @ task.U.T
    for k in (1, 2, 3):
        explained = ((Z[:, :k] ** 2 - 1).sum(1)) / math.sqrt(2 * task.r)
        residual = float(((y - explained) ** 2).mean() / y.var())
        assert residual == pytest.approx(theory.span_bound(k, 3), abs=0.015)
    assert theory.span_bound(4, 3) == 0.0
    with pytest.raises(ValueError, match="m1 must be >= 1, got 0"):
        theory.span_bound(0, 2)


def test_noise_excess_risk_is_the_least_squares_variance_term():
    # Least squares on L Gaussian features and n noisy labels: E excess risk = sigma^2 L/(n-L-1)
    # exactly; sigma^2 L / n is within (L + 1)/(n - L - 1) of it.  200 fits give it to ~2%.
    L, n, sigma = 20, 400, 0.8
    g = _gen(3)
    excess = []
    for _ in range(200):
        Phi = torch.randn(n, L, generator=g, dtype=F64)
        beta = torch.linalg.lstsq(Phi, sigma * torch.randn(n, 1, generator=g, dtype=F64)).solution
        excess.append(float((beta ** 2).sum()))  # test risk over the noise-free target, E|phi|^2 = 1 per feature
    exact = sigma ** 2 * L / (n - L - 1)
    assert np.mean(excess) == pytest.approx(exact, rel=0.06)
    assert theory.noise_excess_risk(sigma, L, n) == pytest.approx(exact, rel=(L + 1) / (n - L - 1))
    assert np.mean(excess) != pytest.approx(2 * exact, rel=0.06)  # the check can fail


def test_memory_counts_are_the_floats_the_objects_hold():
    d, r, L, n, m1, m2 = 32, 2, 512, 8000, 8, 32
    report = theory.memory_report(m1=m1, m2=m2, d=d, r=r, width=L, n=n)
    net = TwoLayerNet.init(d, L, seed=0)
    X = torch.zeros(n, d, dtype=F64)
    ds = DistilledSet((X[:m1], X[:m1, 0]), (X[:m2], X[:m2, 0]))
    assert report["distilled"] == ds.memory_floats == sum(t.numel() for t in ds.stage1 + ds.stage2)
    assert report["network"] == net.num_parameters() == net.W.numel() + net.b.numel() + net.a.numel()
    assert report["data"] == X.numel() + n
    assert report == {"distilled": 1320, "r2d_plus_L": 640, "network": 17_408, "data": 264_000}
    with pytest.raises(ValueError, match=r"m1 must be >= 0, got -1"):
        theory.memory_report(m1=-1, m2=1, d=4, r=1, width=4, n=10)
    with pytest.raises(TypeError, match=r"m1 must be an integer, got 'a'"):
        theory.memory_report(m1="a", m2=1, d=4, r=1, width=4, n=10)


def test_closed_forms_refuse_a_net_that_is_not_at_theta0():
    task = MultiIndexTask(6, 2, seed=0)
    net = TwoLayerNet.init(6, 8, seed=1)
    with pytest.raises(ValueError, match=r"b != 0"):
        theory.population_stage1_gradient(net.replace(b=torch.ones(8, dtype=F64)), task)
    with pytest.raises(ValueError, match=r"net has input dimension d=7 but the task has d=6"):
        theory.population_stage1_gradient(TwoLayerNet.init(7, 8, seed=1), task)


def test_quad_population_gradient_rejects_the_isotropic_hessian_of_the_same_norm():
    # The spread spectrum matters: the same formula with H replaced by the isotropic matrix of
    # equal Frobenius norm on span(U) (the he2 shape) is many standard errors off (measured: largest
    # |z| 100.5 against 2.2 for the closed form; the error ratio at 16x the samples was 0.234, and
    # dropping the -1/2 (w'Hw) w term gives |z| 89).
    task, make = GRADIENT_CASES["quad"]
    net = make(task)
    G_mc, se = _mc_gradient(net, task, 2 ** 20, seed=4)
    W = normalize_rows(net.W)
    H = task.U.T @ task.U * task.expected_hessian().norm() / math.sqrt(task.r)
    HW = W @ H
    wrong = -net.a[:, None] * (HW - 0.5 * (HW * W).sum(1, keepdim=True) * W) / math.sqrt(2 * math.pi)
    assert float(((G_mc - wrong).abs() / se).max()) > 10.0


def test_a_reader_link_with_an_odd_part_uses_the_he2_closed_form_and_one_without_is_refused():
    from ddlib.tasks import Link, register_link, unregister_link

    def g(Z):  # He2(z_1)/2 + He3(z_2)/(2 sqrt 3): the He3 part adds nothing to G_pop
        return (Z[:, 0] ** 2 - 1) / 2 + (Z[:, 1] ** 3 - 3 * Z[:, 1]) / (2 * math.sqrt(3))

    hess = lambda r: torch.diag(torch.tensor([1.0] + [0.0] * (r - 1), dtype=F64))  # noqa: E731
    register_link(Link("he2he3", g, 2, hess))
    register_link(Link("unknown", g, 2, hess, beyond_he2=None))
    try:
        task = MultiIndexTask(8, 2, "he2he3", seed=1)
        net = TwoLayerNet.init(8, 16, seed=2)
        G_mc, se = _mc_gradient(net, task, 2 ** 20, seed=4)
        assert float(((G_mc - theory.population_stage1_gradient(net, task)).abs() / se).max()) < 5.0
        with pytest.raises(ValueError, match=r"population_stage1_gradient: no closed form is known for the link "
                                             r"'unknown' beyond its He2 part"):
            theory.population_stage1_gradient(net, MultiIndexTask(8, 2, "unknown", seed=1))
    finally:
        unregister_link("he2he3")
        unregister_link("unknown")


def test_he3_gradient_energy_is_the_mean_energy_of_the_real_gradient():
    # Monte Carlo over data draws: the mean of |G_D|^2 / (L (d + 6) / (2n)) is 1 (its spread per
    # draw is wide: y^2 |x|^2 is heavy-tailed), and a perturbed closed form is rejected.
    d, r, width, n, draws = 8, 2, 16, 400, 300
    task = MultiIndexTask(d, r, link="he3", seed=1)
    net = TwoLayerNet.init(d, width, seed=2)
    energies = []
    for s in range(draws):
        X, y = task.sample(n, seed=100 + s)
        energies.append(float(stage1_gradient(net.W, net.a, net.b, X, y).norm() ** 2))
    ratio = sum(energies) / draws / theory.he3_gradient_energy(d, width, n)
    assert abs(ratio - 1) < 0.1
    assert abs(sum(energies) / draws / (width * (d + 1) / (2 * n)) - 1) > 0.2
    with pytest.raises(ValueError, match="n"):
        theory.he3_gradient_energy(d, width, 0)


def test_population_learner_takes_the_closed_form_first_layer_and_a_ridge_on_real_points():
    from ddlib import MultiIndexTask, TwoLayerNet, TwoStageLearner
    from ddlib.theory import population_first_layer, population_learner

    task = MultiIndexTask(d=8, r=2, link="he2", seed=0)
    net = TwoLayerNet.init(d=8, width=32, seed=1)
    X, y = task.sample(200, seed=2)
    trained = population_learner(net, task, X, y, TwoStageLearner())
    W1 = population_first_layer(net, task)
    assert torch.equal(trained.W, W1)
    assert torch.allclose(trained.a, TwoStageLearner().stage2(net, W1, X, y))
