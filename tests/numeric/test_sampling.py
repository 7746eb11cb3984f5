"""k-statistics, their standard errors, mixture cumulants, and streaming Monte Carlo."""
import itertools
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import symcorr
from symcorr.networks import modules as snn
from symcorr.networks.montecarlo import monte_carlo
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.distributions import Gaussian, GaussianMixture, gaussian_mixture, xor_class_mixture
from symcorr.numeric.kstatistics import (
    CumulantEstimator,
    PowerSums,
    SampleCumulants,
    from_samples,
)
from symcorr.numeric.quadrature import quadrature_cumulants
from symcorr.numeric.tensors import cumulants_from_moments


def _outer_power(x, r):
    out = x
    for _ in range(r - 1):
        out = np.multiply.outer(out, x)
    return out


def _discrete_cumulants(points, probabilities, order):
    moments = [sum(p * _outer_power(x, r) for p, x in zip(probabilities, points)) for r in range(1, order + 1)]
    return cumulants_from_moments(moments)


# ---------------------------------------------------------------------------
# k-statistics
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [4, 5])
def test_kstatistics_are_exactly_unbiased(n):
    """E[k] = kappa, computed exactly over every n-sample of a 3-point distribution in 2-D."""
    points = np.array([[0.0, 1.0], [1.5, -0.5], [-1.0, 2.0]])
    probabilities = np.array([0.2, 0.5, 0.3])
    expected = [np.zeros((2,) * r) for r in range(1, 5)]
    for draw in itertools.product(range(3), repeat=n):
        weight = np.prod(probabilities[list(draw)])
        sums = PowerSums(2, 4, shift=[0.3, 0.1]).update(points[list(draw)])
        for acc, k in zip(expected, sums.kstatistics()):
            acc += weight * k
    for acc, true in zip(expected, _discrete_cumulants(points, probabilities, 4)):
        np.testing.assert_allclose(acc, true, atol=1e-13)


def _reference_kstatistics(X, order):
    """k-statistics from full power-sum tensors (einsum) and the textbook formulas, written out."""
    n = float(len(X))
    Y = X - X.mean(axis=0)
    S1, S2 = Y.sum(0), np.einsum("si,sj->ij", Y, Y)
    S3, S4 = np.einsum("si,sj,sk->ijk", Y, Y, Y), np.einsum("si,sj,sk,sl->ijkl", Y, Y, Y, Y)

    tensors = {1: S1, 2: S2, 3: S3}

    def split(*labels):
        """Sum over the ways to split the indices: ``split("ij,k", "ik,j", "jk,i")``."""
        return sum(np.einsum(term + "->" + "".join(sorted(term.replace(",", ""))),
                             *(tensors[len(part)] for part in term.split(","))) for term in labels)

    out = [S1 / n + X.mean(axis=0), (n * S2 - np.outer(S1, S1)) / (n * (n - 1))]
    if order >= 3:
        out.append((n * n * S3 - n * split("ij,k", "ik,j", "jk,i") + 2 * np.einsum("i,j,k->ijk", S1, S1, S1))
                   / (n * (n - 1) * (n - 2)))
    if order >= 4:
        s3s1 = split("ijk,l", "ijl,k", "ikl,j", "jkl,i")
        s2s2 = split("ij,kl", "ik,jl", "il,jk")
        s2s1s1 = split("ij,k,l", "ik,j,l", "il,j,k", "jk,i,l", "jl,i,k", "kl,i,j")
        out.append(((n**3 + n**2) * S4 - (n**2 + n) * s3s1 - (n**2 - n) * s2s2 + 2 * n * s2s1s1
                    - 6 * np.einsum("i,j,k,l->ijkl", S1, S1, S1, S1)) / (n * (n - 1) * (n - 2) * (n - 3)))
    return out


def _reference_from_samples(X, order, groups, seed):
    """from_samples written the straightforward way: full tensors per batch-means group."""
    n = len(X)
    groups = min(groups, n // (2 * order + 2))
    size = -(-n // groups)
    rows = X[np.random.default_rng(seed).permutation(n)]
    chunks = [rows[start:start + size] for start in range(0, n, size)]
    counted = [c for c in chunks if len(c) == size or len(c) >= max(size // 2, order + 2)]
    per_group = [_reference_kstatistics(c, order) for c in counted]
    weights = np.array([len(c) for c in counted], dtype=float)
    stderr = []
    for r in range(order):
        values = np.array([k[r] for k in per_group])
        mean = np.tensordot(weights, values, axes=1) / weights.sum()
        spread = np.tensordot(weights, (values - mean) ** 2, axes=1)
        stderr.append(np.sqrt(spread / (len(counted) - 1) / n))
    return _reference_kstatistics(X, order), stderr


@pytest.mark.parametrize("n_samples", [600, 601])        # 601: a short last group, in the standard errors
def test_from_samples_equals_the_full_tensor_reference(n_samples):
    rng = np.random.default_rng(12)
    X = rng.gamma(2.0, size=(n_samples, 4)) @ rng.normal(size=(4, 4)) + [3.0, -1.0, 0.5, 10.0]
    estimate = from_samples(X, 4, groups=8, seed=3)
    tensors, stderr = _reference_from_samples(X, 4, groups=8, seed=3)
    for r in range(4):
        for mine, reference in ((estimate.tensors[r], tensors[r]), (estimate.stderr[r], stderr[r])):
            np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-12 * np.max(np.abs(reference)))


def test_power_sums_merge_recentre_and_stream_in_any_batches():
    X = np.random.default_rng(1).normal(size=(300, 3)) * [1, 2, 0.5] + 5.0
    whole = PowerSums(3, 4, shift=np.zeros(3)).update(X).kstatistics()
    parts = PowerSums(3, 4).update(X[:100])           # shift = mean of its first batch
    other = PowerSums(3, 4).update(X[100:170]).update(X[170:])
    parts.merge(other)                                # different shifts: recentred exactly
    for a, b in zip(parts.kstatistics(), whole):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    # brute-force sums
    Y = X - 5.0
    direct = PowerSums(3, 4, shift=np.full(3, 5.0)).update(X)
    np.testing.assert_allclose(direct.sums[3], np.einsum("bi,bj,bk,bl->ijkl", Y, Y, Y, Y), rtol=1e-12)
    np.testing.assert_allclose(direct.sums[2], np.einsum("bi,bj,bk->ijk", Y, Y, Y), rtol=1e-12)


def test_estimator_is_independent_of_batching_and_mergeable():
    X = np.random.default_rng(2).normal(size=(2000, 2))
    one = CumulantEstimator(2, 3, group_size=100).update(X).result()
    many = CumulantEstimator(2, 3, group_size=100)
    for start in range(0, 2000, 37):
        many.update(X[start:start + 37])
    many = many.result()
    a = CumulantEstimator(2, 3, group_size=100).update(X[:1000])
    b = CumulantEstimator(2, 3, group_size=100).update(X[1000:])
    merged = a.merge(b).result()
    for r in (one, many, merged):
        assert r.n_samples == 2000 and r.groups == 20
    for n in range(3):
        np.testing.assert_allclose(many.tensors[n], one.tensors[n], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(many.stderr[n], one.stderr[n], rtol=1e-8)
        np.testing.assert_allclose(merged.tensors[n], one.tensors[n], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(merged.stderr[n], one.stderr[n], rtol=1e-8)


def test_standard_errors_match_gaussian_theory():
    """Var(k_ij) = (S_ii S_jj + S_ij^2)/(n-1), Var(k_iii) ~ 6 s^6/n, Var(k_iiii) ~ 24 s^8/n."""
    cov = np.array([[1.0, 0.5], [0.5, 1.5]])
    X = np.random.default_rng(3).multivariate_normal([0.3, -1.0], cov, size=200_000)
    est = from_samples(X, 4, groups=64)
    n = est.n_samples
    ratio2 = est.stderr[1] ** 2 * n / (np.outer(np.diag(cov), np.diag(cov)) + cov**2)
    ratio3 = est.stderr[2][0, 0, 0] ** 2 * n / (6 * cov[0, 0] ** 3)
    ratio4 = est.stderr[3][1, 1, 1, 1] ** 2 * n / (24 * cov[1, 1] ** 4)
    # 63 degrees of freedom: a variance estimate is within +-50 % with overwhelming probability
    assert np.all((ratio2 > 0.5) & (ratio2 < 1.5)), ratio2
    assert 0.5 < ratio3 < 1.5 and 0.5 < ratio4 < 1.5, (ratio3, ratio4)


def test_standard_errors_are_right_over_repeated_seeds():
    """z = (k - kappa)/se over 60 seeds: mean z^2 near 1 (t_63: 1.03) at every order."""
    mixture = GaussianMixture([0.3, 0.7], [[1.0, 0.0], [-0.5, 0.5]], [0.5 * np.eye(2), [[1.0, 0.4], [0.4, 0.6]]])
    truth = mixture.cumulants(4)
    z2 = {n: [] for n in range(1, 5)}
    for seed in range(60):
        X = mixture.sample(4000, np.random.default_rng(seed))
        est = from_samples(X, 4, groups=32, seed=seed)
        for n in range(1, 5):
            z2[n].append(est.z_scores(truth, n) ** 2)
    for n in range(1, 5):
        mean_z2 = float(np.mean(z2[n]))
        assert 0.7 < mean_z2 < 1.4, (n, mean_z2)


def test_from_samples_checks_and_the_removed_classmethods_name_their_replacements():
    X = np.random.default_rng(4).normal(size=(500, 3))
    est = symcorr.from_samples(X, 3)
    assert isinstance(est, Cumulants) and isinstance(est, SampleCumulants)
    assert est.order == 3 and [s.shape for s in est.stderr] == [(3,), (3, 3), (3, 3, 3)]
    assert est.dof == est.groups - 1
    np.testing.assert_allclose(est.cov, np.cov(X.T), rtol=1e-12)
    with pytest.raises(ValueError, match="orders 1..4"):
        from_samples(X, 5)
    with pytest.raises(ValueError, match="non-finite entry"):
        from_samples(np.where(np.arange(1500).reshape(500, 3) == 7, np.nan, X), 2)
    with pytest.raises(ValueError, match="2-D array"):
        from_samples(X[:, 0], 2)
    with pytest.raises(ValueError, match="at least"):
        from_samples(X[:5], 2)
    with pytest.raises(AttributeError, match=r"Cumulants.from_samples was removed, use symcorr.from_samples\(X, order"):
        Cumulants.from_samples(X, 3)
    with pytest.raises(AttributeError, match=r"use symcorr.gaussian_mixture\(weights, means, covs, order\)"):
        Cumulants.gaussian_mixture([1.0], [[0.0]], np.eye(1))
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'$"):
        SampleCumulants.no_such_thing


# ---------------------------------------------------------------------------
# mixtures
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("label, m", [(1, [1.0, 1.0]), (0, [1.0, -1.0])])
def test_xor_class_cumulants_closed_form(label, m):
    """Clusters at +-m with noise s^2 I: kappa2 = m m^T + s^2 I, kappa3 = 0, kappa4 = -2 m^{x4}."""
    m, s2 = np.array(m), 0.09
    weights, means, covs = xor_class_mixture(label, 0.3)
    np.testing.assert_array_equal(weights, [0.5, 0.5])
    np.testing.assert_array_equal(means, [m, -m])
    np.testing.assert_allclose(covs, [s2 * np.eye(2)] * 2, rtol=1e-15)
    c = gaussian_mixture(weights, means, covs, order=4)
    np.testing.assert_allclose(c.mean, 0, atol=1e-15)
    np.testing.assert_allclose(c.cov, np.outer(m, m) + s2 * np.eye(2), atol=1e-15)
    np.testing.assert_allclose(c.kappa(3), 0, atol=1e-15)
    np.testing.assert_allclose(c.kappa(4), -2 * _outer_power(m, 4), atol=1e-14)
    with pytest.raises(ValueError, match="labels are 0 and 1"):
        xor_class_mixture(2, 0.3)
    with pytest.raises(ValueError, match="width must be positive"):
        xor_class_mixture(label, 0.0)


def test_mixture_cumulants_match_quadrature_and_reduce_to_gaussian():
    weights = [0.2, 0.5, 0.3]
    means = [[0.0, 1.0], [1.0, -1.0], [-2.0, 0.5]]
    covs = [[[1.0, 0.2], [0.2, 0.5]], [[0.3, 0.0], [0.0, 0.3]], [[0.6, -0.1], [-0.1, 0.9]]]
    exact = gaussian_mixture(weights, means, covs, order=5)
    reference = quadrature_cumulants(lambda x: x, weights, means, covs, order=5, n_nodes=8)
    for n in range(1, 6):
        np.testing.assert_allclose(exact.kappa(n), reference.kappa(n), atol=1e-12)
    single = gaussian_mixture([1.0], [[0.5, -0.5]], [covs[0]], order=4)
    np.testing.assert_allclose(single.cov, covs[0], atol=1e-15)
    np.testing.assert_allclose(single.kappa(3), 0, atol=1e-14)
    np.testing.assert_allclose(single.kappa(4), 0, atol=1e-14)


def test_mixture_argument_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        gaussian_mixture([0.5, 0.6], [[0.0], [1.0]], np.eye(1))
    with pytest.raises(ValueError, match="non-negative"):
        gaussian_mixture([-0.5, 1.5], [[0.0], [1.0]], np.eye(1))
    with pytest.raises(ValueError, match=r"means must have shape \(2, N\)"):
        gaussian_mixture([0.5, 0.5], [0.0, 1.0], np.eye(1))
    with pytest.raises(ValueError, match="positive semi-definite"):
        gaussian_mixture([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match="order must be"):
        gaussian_mixture([1.0], [[0.0]], np.eye(1), order=1)


# ---------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------

def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), snn.Quadratic(0.5), nn.Linear(3, 2)).double()


def test_monte_carlo_streams_any_number_of_samples_independently_of_batch_size():
    model = _model()
    source = Gaussian([0.1, -0.2], [[1.0, 0.3], [0.3, 0.5]])
    a = monte_carlo(model, source, 10_007, order=3, batch_size=4096, seed=5)
    b = monte_carlo(model, source, 10_007, order=3, batch_size=999, seed=5)
    assert len(a) == 3 and a.n_samples == 10_007 and a[0].groups == 64
    for la, lb in zip(a, b):
        for n in range(3):
            np.testing.assert_allclose(la.tensors[n], lb.tensors[n], rtol=1e-10, atol=1e-12)
    merged = a.merge(monte_carlo(model, source, 5_000, order=3, seed=6))
    assert merged.n_samples == 15_007 and merged.output.n_samples == 15_007


def test_monte_carlo_on_data_equals_k_statistics_of_the_pushed_data():
    X = np.random.default_rng(7).normal(size=(3000, 1, 2))
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2), snn.Polynomial([0.0, 1.0, 0.2, 0.1])).double()
    result = monte_carlo(model, X, order=4, input_order=2, groups=16)
    with torch.no_grad():
        pushed = model(torch.from_numpy(X)).numpy()
    reference = from_samples(pushed, 4, groups=16)
    for n in range(4):
        np.testing.assert_allclose(result.output.tensors[n], reference.tensors[n], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.input.cov, np.cov(X.reshape(3000, 2).T), rtol=1e-12)
    every = monte_carlo(model, X, order=2, input_order=2, groups=16)
    layers = [every.input, *every.layers]
    assert len(layers) == 4 and layers[0].dim == 2
    # a torch tensor of data is taken as its rows (symcorr.numeric tells tensors by their methods)
    from_tensor = monte_carlo(model, torch.from_numpy(X), order=4, input_order=2, groups=16)
    for n in range(4):
        np.testing.assert_array_equal(from_tensor.output.tensors[n], result.output.tensors[n])


def test_numeric_runs_without_importing_torch():
    """symcorr.numeric takes torch tensors by duck typing: importing and using it loads no torch."""
    code = ("import sys, numpy as np, symcorr\n"
            "from symcorr.numeric import distributions, kstatistics\n"
            "X = np.random.default_rng(0).normal(size=(200, 2))\n"
            "kstatistics.from_samples(X, 2); distributions.as_source(X)\n"
            "assert 'torch' not in sys.modules, 'symcorr.numeric imported torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_monte_carlo_mixture_and_callable_sources_agree_with_exact_input_cumulants():
    mixture = GaussianMixture([0.5, 0.5], [[1.0, 1.0], [-1.0, -1.0]], 0.1 * np.eye(2))
    exact = mixture.cumulants(4)
    identity = nn.Sequential(nn.Identity())
    for source in (mixture, lambda n, rng: mixture.sample(n, rng)):
        est = monte_carlo(identity, source, 40_000, order=4, seed=1)[0]
        for n in range(1, 5):
            assert np.max(np.abs(est.z_scores(exact, n))) < 5.5


def test_monte_carlo_errors():
    model = _model()
    source = Gaussian([0.0, 0.0], np.eye(2))
    with pytest.raises(ValueError, match="n_samples is required"):
        monte_carlo(model, source)
    with pytest.raises(ValueError, match="too few"):
        monte_carlo(model, source, 100, order=4)
    with pytest.raises(ValueError, match="one entry per layer"):
        monte_carlo(model, source, 10_000, order=[2, 2])
    with pytest.raises(ValueError, match="exceeds the 50 rows"):
        monte_carlo(model, np.zeros((50, 2)), 60)
    with pytest.raises(ValueError, match="non-zero cumulants above order 2"):
        monte_carlo(model, gaussian_mixture([0.5, 0.5], [[1, 1], [-1, -1]], np.eye(2)), 10_000)
    blow_up = nn.Sequential(nn.Linear(2, 2), snn.Quadratic(1.0)).double()
    with torch.no_grad():
        blow_up[0].weight.fill_(1e200)
    with pytest.raises(FloatingPointError, match="layer 0 \\(Linear\\): power sums of order 2 overflowed"):
        monte_carlo(blow_up, source, 10_000)
