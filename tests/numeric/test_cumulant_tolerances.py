"""Cumulants' checks follow the numbers (issue "hostile and careless input", items 5 and 6): a negative
variance is always refused, rounding noise is measured against the natural scale of its order and the
input's own precision, and a genuinely indefinite covariance is refused with the remedies."""
import numpy as np
import pytest

from symcorr import Cumulants, activations, from_samples, pointwise
from symcorr.numeric.tensors import cumulants_from_moments, is_symmetric, moments_from_cumulants, nearest_psd


def symmetric_mixture_cumulants(seed, N=3):
    """Cumulants of 1/2 N(c+m, C) + 1/2 N(c-m, C) from its moments: kappa(3) is 0 up to rounding."""
    rng = np.random.default_rng(seed)
    c, m = 3 * rng.standard_normal(N), rng.standard_normal(N)
    A = rng.standard_normal((N, N))
    C = A @ A.T / N
    components = [moments_from_cumulants([c + s * m, C, np.zeros((N,) * 3), np.zeros((N,) * 4)]) for s in (1, -1)]
    return cumulants_from_moments([0.5 * (a + b) for a, b in zip(*components)])


def test_a_negative_variance_is_refused_whatever_the_other_scales():
    # accepted before (the tolerance was relative to the largest eigenvalue), and a quadratic gave variance -1
    with pytest.raises(ValueError, match=r"cov\[1, 1\] = -1 is a negative variance"):
        Cumulants(np.zeros(2), np.diag([1e12, -1.0]))
    with pytest.raises(ValueError, match=r"cov\[0, 0\] = -1e-300 is a negative variance"):
        Cumulants(np.zeros(1), [[-1e-300]])


@pytest.mark.parametrize("seed", range(4))
def test_a_third_cumulant_zero_up_to_rounding_is_accepted(seed):
    kappa = symmetric_mixture_cumulants(seed)
    assert 0 < np.abs(kappa[2]).max() < 1e-12
    assert not is_symmetric(kappa[2])  # what the old check measured: noise against itself
    x = Cumulants(*kappa)
    np.testing.assert_array_equal(x.kappa(3), kappa[2])


def test_asymmetry_beyond_rounding_is_still_refused():
    kappa = symmetric_mixture_cumulants(0)
    kappa[2][0, 1, 2] += 1e-6  # far above rounding at the natural scale (variance ~ 1)
    with pytest.raises(ValueError, match=r"kappa\(3\) is not symmetric .*natural scale"):
        Cumulants(*kappa)


def test_a_large_fourth_cumulant_is_measured_against_itself():
    kappa = symmetric_mixture_cumulants(1)
    heavy = 1e8 * np.ones((3,) * 4)
    heavy[0, 0, 0, 1] += 1e-3  # 1e-11 relative to the tensor, 1e-3 absolute (>> its variance scale)
    Cumulants(kappa[0], kappa[1], kappa[2], heavy)


def float32_sample_covariance(seed=0, n=20, N=50):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, N)) * rng.uniform(0.1, 10, N)).astype(np.float32)
    cov = np.cov(X, rowvar=False).astype(np.float32)
    return X, (cov + cov.T) / 2  # rank n-1 < N: zero eigenvalues come out as +-1e-7 relative


def test_a_float32_sample_covariance_passes_at_float32_precision():
    X, cov = float32_sample_covariance()
    eigenvalues = np.linalg.eigvalsh(cov.astype(np.float64))
    assert eigenvalues[0] < -1e-10 * eigenvalues[-1]  # refused before ("smallest eigenvalue -1.2e-06")
    x = Cumulants(X.mean(axis=0), cov)
    assert x.cov.dtype == np.float64
    with pytest.raises(ValueError, match="pass a float32 covariance as float32.*from_samples.*nearest_psd"):
        Cumulants(X.mean(axis=0), cov.astype(np.float64))  # float64 claims float64 precision


def test_an_indefinite_covariance_names_the_remedies_and_the_projection_works():
    cov = np.array([[1e12, 4e4], [4e4, 1e-3]])  # correlation 1.26 > 1, whatever the scales
    with pytest.raises(ValueError, match=r"correlation matrix has smallest eigenvalue -6.976e-02 .*"
                                         r"symcorr.from_samples .*nearest_psd\(cov\)"):
        Cumulants(np.zeros(2), cov)
    Cumulants(np.zeros(2), nearest_psd(cov)[0])
    # on a well-scaled example: the negative eigenvalue is removed, nothing else moves
    cov = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues -1 (vector (1, -1)) and 3 (vector (1, 1))
    projected, distance = nearest_psd(cov)
    np.testing.assert_allclose(projected, 1.5 * np.ones((2, 2)), rtol=1e-15)
    assert distance == pytest.approx(1.0, rel=1e-15)
    Cumulants(np.zeros(2), projected)
    same, moved = nearest_psd(np.eye(3))
    np.testing.assert_array_equal(same, np.eye(3))
    assert moved == 0.0


def test_the_fixed_checks_keep_the_propagated_numbers_right():
    """The accepted float32 covariance gives the quadratic's output variance of docs/theory.md section 5."""
    X, cov = float32_sample_covariance(N=4, n=40)
    x = Cumulants(X.mean(axis=0), cov)
    out = pointwise(x, activations.quadratic(0.5), order=2)
    mu, var = x.mean, np.diag(x.cov)
    np.testing.assert_allclose(np.diag(out.cov), (1 + mu) ** 2 * var + 0.5 * var**2, rtol=1e-12)
    assert np.all(np.diag(out.cov) >= 0)
    # from_samples, the first remedy, gives a PSD covariance from the same data
    estimate = from_samples(X.astype(np.float64), order=2)
    assert np.linalg.eigvalsh(estimate.cov)[0] > 0
