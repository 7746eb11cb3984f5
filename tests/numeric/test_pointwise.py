"""pointwise() through the generated kernels against Gauss-Hermite quadrature (docs/theory.md sections 4, 5, 7)."""
import warnings

import numpy as np
import pytest
from builders import random_gaussian, random_layer, random_mixture

from symcorr import Cumulants, linear, pointwise
from symcorr.derivation import activations
from symcorr.numeric.exactness import ApproximationWarning
from symcorr.numeric.quadrature import quadrature_cumulants
from symcorr.numeric.validity import InvalidStatisticsWarning

RTOL = 1e-10


def assert_cumulants_close(actual, expected, orders, rtol=RTOL):
    for n in orders:
        scale = np.max(np.abs(expected.kappa(n)))
        error = np.max(np.abs(actual.kappa(n) - expected.kappa(n))) / scale
        assert error < rtol, f"order {n}: relative error {error:.2e}"


@pytest.mark.parametrize("dim", [2, 3])
def test_quadratic_layer_of_a_gaussian_is_exact_to_order_4(dim):
    mean, cov = random_gaussian(dim, seed=dim)
    act = activations.quadratic(0.7)
    out = pointwise(Cumulants(mean, cov), act, order=4)
    reference = quadrature_cumulants(act, [1.0], [mean], [cov], order=4)
    assert_cumulants_close(out, reference, range(1, 5))


def test_cubic_layer_of_a_gaussian_to_order_4(tmp_path, monkeypatch):
    # no shipped kernel: derived and compiled on first use (Gaussian input: closure 2 is exact)
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))
    mean, cov = random_gaussian(2, seed=11, scale=0.4)
    act = activations.cubic(0.1, 0.9, -0.3, 0.2)
    out = pointwise(Cumulants(mean, cov), act, order=4, closure=2)
    reference = quadrature_cumulants(act, [1.0], [mean], [cov], order=4, n_nodes=24)
    assert_cumulants_close(out, reference, range(1, 5))


@pytest.mark.parametrize("act, closure", [
    (activations.quadratic(-0.6), 4),           # mean/cov of a quadratic need orders 1..4
    (activations.cubic(0.2, 1.0, 0.5, -0.4), 6),  # mean/cov of a cubic need orders 1..6
])
def test_mean_and_covariance_of_a_mixture_are_exact_with_enough_input_orders(act, closure):
    weights, means, covs = random_mixture(2, seed=7)
    x = quadrature_cumulants(lambda p: p, weights, means, covs, order=closure)
    out = pointwise(x, act, order=2, closure=closure)
    reference = quadrature_cumulants(act, weights, means, covs, order=2)
    assert_cumulants_close(out, reference, (1, 2))


def test_a_mixture_is_not_gaussian_so_dropping_its_higher_cumulants_is_visible():
    # the same input with closure 2 misses kappa_3, kappa_4: the test above can fail
    weights, means, covs = random_mixture(2, seed=7)
    act = activations.quadratic(-0.6)
    x = quadrature_cumulants(lambda p: p, weights, means, covs, order=4)
    reference = quadrature_cumulants(act, weights, means, covs, order=2)
    error = np.max(np.abs(pointwise(x, act, order=2).cov - reference.cov)) / np.max(np.abs(reference.cov))
    assert error > 1e-3


@pytest.mark.parametrize("dim", [2, 3])
def test_depth_2_quadratic_network_is_exact_for_mean_and_covariance(dim):
    mean, cov = random_gaussian(dim, seed=20 + dim)
    (W1, b1), (W2, b2) = random_layer(3, dim, seed=1), random_layer(2, 3, seed=2)
    act = activations.quadratic(0.4)
    out = pointwise(linear(pointwise(linear(Cumulants(mean, cov), W1, b1), act, order=4), W2, b2), act, order=4)
    network = lambda x: act(act(x @ W1.T + b1) @ W2.T + b2)  # noqa: E731
    reference = quadrature_cumulants(network, [1.0], [mean], [cov], order=2, n_nodes=20)
    assert_cumulants_close(out, reference, (1, 2))


def test_output_tensors_are_symmetric_to_rounding_and_float64():
    mean, cov = random_gaussian(4, seed=3)
    out = pointwise(Cumulants(mean, cov), activations.quadratic(0.5), order=4)
    for n in range(2, 5):
        tensor = out.kappa(n)
        assert tensor.dtype == np.float64
        for axes in (np.roll(np.arange(n), 1), [1, 0, *range(2, n)]):
            np.testing.assert_allclose(tensor, tensor.transpose(axes), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(order=1), ValueError, r"order \(the highest cumulant order returned, .*\) must be an integer >= 2"),
    (dict(order=2, closure=1), ValueError, r"closure \(the highest input cumulant order kept, .*\) must be an integer >= 2"),
    (dict(order=2.0), ValueError, r"order \(.*\) must be an integer"),
])
def test_orders_out_of_range_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        pointwise(Cumulants(np.zeros(2), np.eye(2)), activations.quadratic(), **kwargs)


def test_wrong_types_are_named():
    with pytest.raises(TypeError, match="symcorr activation"):
        pointwise(Cumulants(np.zeros(2), np.eye(2)), np.tanh, order=2)
    with pytest.raises(TypeError, match="symcorr.Cumulants"):
        pointwise((np.zeros(2), np.eye(2)), activations.quadratic(), order=2)


def test_overflow_is_an_error_not_a_silent_inf():
    with pytest.raises(FloatingPointError, match="not finite"):
        pointwise(Cumulants(np.array([1e200]), np.eye(1)), activations.quadratic(), order=2)


def test_unsupported_activation_expression_is_refused():
    with pytest.raises(ValueError, match="unsupported activation exp"):
        activations.from_expression("exp(z)")          # parsed, but no family derives it


@pytest.mark.filterwarnings("ignore")     # closure 4 on a mixture drops orders 5..8: statistics may be invalid
@pytest.mark.parametrize("representation", ["dense", "factored"])
def test_the_pair_mean_kept_by_closure_3_is_the_mean_pair_entry_of_the_order_4_output(representation):
    """pointwise(..., order=3, closure=3, pair_mean=True) keeps of kappa_y^(4) its diagonal and the mean of
    kappa_y,aabb over a != b: both equal those of the full order-4 output of the closure-4 kernel on the same input
    (a mixture: non-zero input orders 3..4, dense, so closure 3 reads them as held)."""
    from symcorr import gaussian_mixture

    x = gaussian_mixture(*random_mixture(6, seed=5, components=3), order=4)
    act = activations.quadratic(0.8)
    kept = pointwise(x, act, order=3, closure=3, pair_mean=True, representation=representation).tensor(4)
    full = pointwise(x, act, order=4, closure=4, representation="dense").kappa(4)
    pairs = np.einsum("aabb->ab", full)
    mean_pair = pairs[~np.eye(6, dtype=bool)].mean()
    assert abs(kept.pair_mean - mean_pair) < 1e-12 * np.max(np.abs(pairs))
    assert np.allclose(kept.slice("iiii"), np.einsum("aaaa->a", full), rtol=1e-12, atol=0)
    assert np.allclose(kept.slice("iijj")[~np.eye(6, dtype=bool)], mean_pair, rtol=1e-12, atol=0)


def _relu_own_cumulants(mean, variance):
    """Mean, variance and third cumulant of relu(z), z ~ N(mean, variance): the textbook truncated moments (mpmath)."""
    import mpmath

    with mpmath.workdps(40):
        m, s = mpmath.mpf(mean), mpmath.sqrt(mpmath.mpf(variance))
        cdf, pdf = mpmath.ncdf(m / s), mpmath.npdf(m / s)
        e1 = m * cdf + s * pdf
        e2 = (m * m + s * s) * cdf + m * s * pdf
        e3 = (m**3 + 3 * m * s * s) * cdf + s * (m * m + 2 * s * s) * pdf
        return float(e1), float(e2 - e1**2), float(e3 - 3 * e2 * e1 + 2 * e1**3)


@pytest.mark.filterwarnings("ignore:.*Price series")
@pytest.mark.parametrize("representation", ["dense", "factored"])
def test_copies_and_constant_neurons_beyond_the_gaussian_covariance(representation):
    # ReLU's formulas beyond the Gaussian covariance (here its order 3) hold for |rho| < 1 and positive variances;
    # a copy of a neuron (identical weight rows) and a constant one (a zero row) made them non-finite, refused as an
    # "overflow". They are taken out and put back exactly: a copy's entries are its original's, a constant neuron's
    # mean is relu(mu) and its other entries zero (references: mpmath for the neuron's own cumulants, and the
    # layer without the two neurons)
    mean, cov = random_gaussian(3, 5)
    W = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    b = np.array([0.0, 0.0, 0.0, 0.0, 0.4])
    inputs = linear(Cumulants(mean, cov), W, b)            # neuron 3 copies neuron 0, neuron 4 is the constant 0.4
    y = pointwise(inputs, activations.relu(), order=3, representation=representation)
    alone = pointwise(Cumulants(mean, cov), activations.relu(), order=3, representation=representation)
    third, third_alone = (t.to_dense() if hasattr(t, "to_dense") else t for t in (y.tensor(3), alone.tensor(3)))
    copy = [0, 1, 2, 0]
    np.testing.assert_allclose(y.mean[:4], alone.mean[copy], rtol=1e-15)
    np.testing.assert_allclose(y.cov[:4, :4], alone.cov[np.ix_(copy, copy)], rtol=1e-15)
    np.testing.assert_allclose(third[:4, :4, :4], third_alone[np.ix_(copy, copy, copy)], rtol=1e-14, atol=1e-16)
    own = _relu_own_cumulants(mean[0], cov[0, 0])
    assert np.allclose([y.mean[3], y.cov[0, 3], third[0, 3, 3]], own, rtol=1e-13, atol=0)
    assert y.mean[4] == 0.4 and not y.cov[4].any() and not third[4].any()
    assert y.status(3) == alone.status(3)


def test_validity_problems_after_a_constant_neuron_is_taken_out_name_the_layers_own_neurons():
    # neuron 0 is constant and taken out before the layer; a fourth cumulant below Pearson's bound at neuron 2 gives
    # an output below it at neuron 2, which the problem and the one warning name (the kept set's neuron 1 before)
    mean, cov = np.array([0.3, 0.1, 0.2, -0.1]), np.diag([0.0, 1.0, 1.2, 0.8])
    cov[1, 2] = cov[2, 1] = 0.3
    third, fourth = np.zeros((4,) * 3), np.zeros((4,) * 4)
    third[2, 2, 2], fourth[2, 2, 2, 2] = 0.9, -0.99 * 3 * 1.2**2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = pointwise(Cumulants(mean, cov, third, fourth, check=False), activations.relu(), order=4)
    invalid = [str(w.message) for w in caught if issubclass(w.category, InvalidStatisticsWarning)]
    assert [p.text.split(":")[0] for p in y.problems] == ["1 neuron(s) violate Pearson's inequality (kurtosis >= "
                                                          "skewness^2 + 1), e.g. neuron 2"]
    assert len(invalid) == 1 and "e.g. neuron 2:" in invalid[0]
    assert len([w for w in caught if issubclass(w.category, ApproximationWarning)]) == 1


@pytest.mark.filterwarnings("ignore:.*Price series")
def test_copies_taken_out_and_put_back_match_sampling():
    # the other way: 4e5 numpy samples of the singular Gaussian (neuron 3 a copy of neuron 0) through relu, every
    # z-score of the mean and covariance below 5; the constant neuron's mean is relu(0.4) exactly
    from references import sampled_zscores

    mean, cov = random_gaussian(3, 5)
    W = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    inputs = linear(Cumulants(mean, cov), W, np.array([0.0, 0.0, 0.0, 0.0, 0.4]))
    y = pointwise(inputs, activations.relu(), order=3)
    z_mean, z_cov = sampled_zscores(activations.relu(), inputs.mean[:4], inputs.cov[:4, :4], y.mean[:4],
                                    y.cov[:4, :4], seed=7)
    assert np.max(np.abs(z_mean)) < 5 and np.max(np.abs(z_cov)) < 5
    assert y.mean[4] == 0.4
