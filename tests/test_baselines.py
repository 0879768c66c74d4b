"""Baselines: random subsets, greedy k-center and kernel herding return real points, are seeded or
deterministic, follow their greedy rules (checked by brute force), and reject bad input."""
from __future__ import annotations

import itertools

import pytest
import torch

from ddlib.baselines import herding_coreset, kcenter_coreset, random_subset

F64 = torch.float64


def _data(n=40, d=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=F64)
    return X, X.sum(1) ** 2


def _row_indices(X, X_m):
    """Index in X of every row of X_m (each must be an exact row of X)."""
    idx = []
    for row in X_m:
        hits = (X == row).all(1).nonzero().flatten()
        assert len(hits) == 1, "not a row of X"
        idx.append(int(hits[0]))
    return idx


@pytest.mark.parametrize("make", [
    lambda X, y, m: random_subset(X, y, m, seed=3),
    lambda X, y, m: kcenter_coreset(X, y, m, seed=3),
    lambda X, y, m: herding_coreset(X, y, m),
    lambda X, y, m: herding_coreset(X, y, m, features=torch.relu(X @ X[:5].T)),
], ids=["random", "k-center", "herding", "herding-features"])
def test_coresets_return_m_distinct_real_points_with_their_labels(make):
    X, y = _data()
    X_m, y_m = make(X, y, 7)
    idx = _row_indices(X, X_m)
    assert len(set(idx)) == 7
    assert torch.equal(y_m, y[idx])


# The three selection baselines, called the same way (seeded where they draw).
CORESETS = [lambda X, y, m: random_subset(X, y, m, seed=0),
            lambda X, y, m: kcenter_coreset(X, y, m, seed=0),
            lambda X, y, m: herding_coreset(X, y, m)]
CORESET_IDS = ["random", "k-center", "herding"]


@pytest.mark.parametrize("make", CORESETS, ids=CORESET_IDS)
def test_coresets_never_return_one_row_twice_even_when_rows_are_duplicated(make):
    # Rows carry their index as label: three copies of one point, two of another.  k-center sees
    # distance 0 everywhere once both points are chosen, and then takes the unchosen rows in order.
    X = torch.tensor([[1.0, 2.0]] * 3 + [[5.0, 5.0]] * 2, dtype=F64)
    y = torch.arange(5, dtype=F64)
    _, labels = make(X, y, 5)
    assert sorted(labels.tolist()) == [0, 1, 2, 3, 4]


def test_kcenter_on_identical_rows_takes_the_unchosen_rows_in_index_order():
    X, y = torch.ones(6, 2, dtype=F64), torch.arange(6, dtype=F64)
    _, labels = kcenter_coreset(X, y, 4, seed=0)
    first = int(labels[0])
    assert labels[1:].tolist() == [i for i in range(6) if i != first][:3]


def test_random_subset_and_kcenter_are_reproducible_and_depend_on_the_seed():
    X, y = _data()
    for make in (random_subset, kcenter_coreset):
        assert torch.equal(make(X, y, 5, seed=1)[0], make(X, y, 5, seed=1)[0])
        assert not torch.equal(make(X, y, 5, seed=1)[0], make(X, y, 5, seed=2)[0])


def test_kcenter_adds_the_point_farthest_from_those_chosen():
    X, y = _data()
    idx = _row_indices(X, kcenter_coreset(X, y, 6, seed=0)[0])
    for t in range(1, 6):
        dist = torch.cdist(X, X[idx[:t]]).min(1).values
        assert dist[idx[t]] == dist.max()


def test_kcenter_cover_radius_is_within_twice_the_optimum():
    # Gonzalez's greedy is a 2-approximation of the minimax cover; brute force on 12 points.
    X, y = _data(n=12, d=2, seed=4)
    for m in (2, 3):
        chosen = kcenter_coreset(X, y, m, seed=0)[0]
        radius = torch.cdist(X, chosen).min(1).values.max()
        best = min(torch.cdist(X, X[list(c)]).min(1).values.max() for c in itertools.combinations(range(12), m))
        assert radius <= 2 * best + 1e-12


def _welling_herding(phi, m):
    """Welling's herding step argmax <w, phi_i>, w <- w + mu - phi_i, without replacement."""
    mu, w, idx = phi.mean(0), phi.mean(0), []
    for _ in range(m):
        score = phi @ w
        score[idx] = float("-inf")
        idx.append(int(torch.argmax(score)))
        w = w + mu - phi[idx[-1]]
    return idx


@pytest.mark.parametrize("equal_norms", [True, False])
def test_herding_is_the_greedy_mean_matcher(equal_norms):
    # Each next point minimises |mu - mean of the chosen phi's| -- checked against a brute-force
    # greedy, with features of equal norm (where it is also Welling's herding) and without.
    X, y = _data(n=30, d=4, seed=5)
    phi = torch.randn(30, 6, generator=torch.Generator().manual_seed(6), dtype=F64)
    if equal_norms:
        phi = phi / phi.norm(dim=1, keepdim=True)
    else:
        phi = phi * torch.linspace(0.2, 3.0, 30, dtype=F64)[:, None]
    mu = phi.mean(0)
    idx = _row_indices(X, herding_coreset(X, y, 8, features=phi)[0])
    chosen: list[int] = []
    for t in range(8):
        rest = [i for i in range(30) if i not in chosen]
        gaps = [float((mu - phi[chosen + [i]].mean(0)).norm()) for i in rest]
        chosen.append(rest[min(range(len(rest)), key=gaps.__getitem__)])
    assert idx == chosen
    if equal_norms:
        assert idx == _welling_herding(phi, 8)
    else:
        assert idx != _welling_herding(phi, 8)  # the |phi_i|^2 term matters here


def test_herding_matches_the_mean_feature_better_than_random_subsets():
    X, y = _data(n=400, d=5, seed=7)
    phi = torch.relu(X @ torch.randn(5, 20, generator=torch.Generator().manual_seed(8), dtype=F64))
    mu = phi.mean(0)
    X_h, _ = herding_coreset(X, y, 10, features=phi)
    gap_h = float((mu - phi[_row_indices(X, X_h)].mean(0)).norm())
    gaps_r = [float((mu - phi[_row_indices(X, random_subset(X, y, 10, seed=s)[0])].mean(0)).norm())
              for s in range(20)]
    assert gap_h < min(gaps_r), (gap_h, sorted(gaps_r)[:3])  # measured: 0.48 vs best 1.12


def test_herding_defaults_to_the_inputs_as_features_and_is_deterministic():
    X, y = _data()
    a = herding_coreset(X, y, 6)
    assert torch.equal(a[0], herding_coreset(X, y, 6, features=X)[0])
    assert torch.equal(a[0], herding_coreset(X, y, 6)[0])


@pytest.mark.parametrize("make", CORESETS, ids=CORESET_IDS)
def test_coresets_reject_m_outside_one_to_n(make):
    X, y = _data(n=10)
    with pytest.raises(ValueError, match="m must be >= 1, got 0"):
        make(X, y, 0)
    with pytest.raises(ValueError, match="needs at least 11 points, got n=10"):
        make(X, y, 11)
    with pytest.raises(TypeError, match="m must be an integer"):
        make(X, y, 2.5)


def test_coresets_reject_mismatched_labels():
    X, y = _data(n=10)
    with pytest.raises(ValueError, match="y must be 1-D with one label per row"):
        kcenter_coreset(X, y[:9], 3, seed=0)
    with pytest.raises(ValueError, match="y must be 1-D with one label per row"):
        herding_coreset(X, y[:9], 3)


def test_kcenter_rejects_a_non_integer_seed():
    X, y = _data(n=10)
    with pytest.raises(TypeError, match="seed must be an integer"):
        kcenter_coreset(X, y, 3, seed="0")


def test_herding_rejects_bad_features():
    X, y = _data(n=10)
    with pytest.raises(ValueError, match=r"features must have shape \(n=10, p\), got \(9, 3\)"):
        herding_coreset(X, y, 3, features=X[:9])
    with pytest.raises(TypeError, match="features must be a torch tensor"):
        herding_coreset(X, y, 3, features=X.numpy())
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="features contains non-finite values"):
        herding_coreset(X, y, 3, features=bad)
