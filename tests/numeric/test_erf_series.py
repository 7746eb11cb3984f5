"""erf beyond the Gaussian closed forms (issue 3, item 3; docs/theory.md sections 4 and 6).

* output orders 1..2 with non-Gaussian input: Gaussian part resummed exactly
  (joint reference), kappa_3 / kappa_4 corrections to second order; checked
  on a weakly non-Gaussian 2-D Gaussian mixture against tensor-product
  Gauss-Hermite quadrature of the mixture (converged to ~1e-15);
* output orders 3..4 of a Gaussian (closure 2): exact, through the numerical
  joint moments, against 3-D quadrature;
* output orders 3..4 beyond (independent reference, Price series, numeric
  E[erf^p] vertices for p >= 3): the truncation error falls with the series
  order as rho_eff^(S+1) towards the exact result.
Kernels are compiled on first use into a temporary cache.
"""
import numpy as np
import pytest
from scipy.special import erf

from symcorr import Cumulants, pointwise
from symcorr.derivation import activations
from symcorr.codegen.loader import default_series_order
from symcorr.numeric.quadrature import quadrature_cumulants

WEIGHTS = [0.5, 0.5]
MEANS = np.array([[0.3, -0.2], [0.8, 0.25]])
COVS = np.array([[[0.6, 0.25], [0.25, 0.5]], [[0.45, 0.1], [0.1, 0.7]]])


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))


def test_mixture_closure_4_is_much_closer_to_quadrature_than_closure_2():
    inputs = quadrature_cumulants(lambda x: x, WEIGHTS, MEANS, COVS, order=4, n_nodes=12)   # exact (polynomial)
    truth = quadrature_cumulants(erf, WEIGHTS, MEANS, COVS, order=2, n_nodes=120)
    check = quadrature_cumulants(erf, WEIGHTS, MEANS, COVS, order=2, n_nodes=90)
    assert np.max(np.abs(truth.cov - check.cov)) < 1e-13                                    # the reference converged
    errors = {}
    for closure in (2, 3, 4):
        out = pointwise(inputs, activations.erf(), order=2, closure=closure)
        errors[closure] = (np.max(np.abs(out.mean - truth.mean)), np.max(np.abs(out.cov - truth.cov)))
    print("\nerf of a 2-D Gaussian mixture, max |theory - quadrature|:")
    for closure, (mean_error, cov_error) in errors.items():
        print(f"  closure K={closure}: mean {mean_error:.2e}  cov {cov_error:.2e}")
    (mean2, cov2), (mean4, cov4) = errors[2], errors[4]
    assert mean4 < mean2 / 10 and cov4 < cov2 / 10
    assert mean2 > 1e-3 and cov2 > 1e-3            # the mixture is non-Gaussian enough to matter: the test can fail


def test_mixture_corrections_shrink_with_the_non_gaussianity():
    # components moved together by eps: kappa_3 ~ eps^3, kappa_4 ~ eps^4; the closure-4 error (from
    # kappa_5, kappa_6 and the neglected third-order terms) must fall faster than the closure-2 error
    def errors(eps):
        centre = MEANS.mean(axis=0)
        means = centre + eps * (MEANS - centre) / np.linalg.norm(MEANS[0] - MEANS[1])
        inputs = quadrature_cumulants(lambda x: x, WEIGHTS, means, COVS, order=4, n_nodes=12)
        truth = quadrature_cumulants(erf, WEIGHTS, means, COVS, order=2, n_nodes=120)
        out2 = pointwise(inputs, activations.erf(), order=2, closure=2)
        out4 = pointwise(inputs, activations.erf(), order=2, closure=4)
        return (np.max(np.abs(out2.cov - truth.cov)), np.max(np.abs(out4.cov - truth.cov)))

    (big2, big4), (small2, small4) = errors(1.0), errors(0.5)
    assert small4 / big4 < (small2 / big2) / 2


def test_orders_3_and_4_of_a_gaussian_are_exact():
    # closure 2: the Gaussian part resummed (numerical joint moments) -- no series, against 3-D quadrature
    mean = np.array([0.2, -0.5, 0.7])
    sd = np.sqrt(np.array([0.3, 0.5, 0.4]))
    for c in (0.45, 0.85):
        corr = np.array([[1.0, c, -0.3], [c, 1.0, 0.2], [-0.3, 0.2, 1.0]])
        cov = corr * np.outer(sd, sd)
        truth = quadrature_cumulants(erf, [1.0], [mean], [cov], order=4, n_nodes=60)
        assert np.max(np.abs(truth.kappa(4) - quadrature_cumulants(erf, [1.0], [mean], [cov], order=4, n_nodes=50).kappa(4))) < 1e-12
        out = pointwise(Cumulants(mean, cov), activations.erf(), order=4)
        errors = [np.max(np.abs(out.kappa(k) - truth.kappa(k))) for k in (1, 2, 3, 4)]
        print(f"\nerf of a 3-D Gaussian (corr {c}), closure 2, max |theory - quadrature| orders 1..4: "
              + " ".join(f"{e:.1e}" for e in errors))
        assert max(errors) < 1e-12


def _price_series_kernel(series):
    """The erf kernel of output orders 1..4 around independent Gaussians (the Price series in the
    off-diagonal Sigma_ab, docs/theory.md section 4) -- the expansion closure >= 3 uses for orders 3..4."""
    from symcorr.codegen.printer import kernel_module_source
    from symcorr.derivation.engine import derive

    derivation = derive(activations.erf(), 4, 2, series_order=series, reference="independent")
    source = kernel_module_source(derivation, "test")
    namespace = {}
    exec(compile(source, f"<Price series, order {series}>", "exec"), namespace)
    return namespace


def test_price_series_converges_to_the_exact_orders_3_and_4():
    # the truncation error falls as rho_eff^(S+1) towards the exact (closure-2, resummed) result
    mean = np.array([0.2, -0.5, 0.7])
    sd = np.sqrt(np.array([0.3, 0.5, 0.4]))
    corr = np.array([[1.0, 0.45, -0.3], [0.45, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    cov = corr * np.outer(sd, sd)
    exact = pointwise(Cumulants(mean, cov), activations.erf(), order=4)
    errors = {}
    for series in (2, 4, 6):
        kernel = _price_series_kernel(series)
        errors[series] = [np.max(np.abs(kernel[f"cumulant_{k}"]((mean, cov)) - exact.kappa(k))) for k in (3, 4)]
    print("\nerf, Price series vs the exact orders 3..4 (max |rho_eff| = 0.19):")
    for series, (e3, e4) in errors.items():
        print(f"  series order {series}: kappa3 {e3:.1e} kappa4 {e4:.1e}")
    for k in (0, 1):
        assert errors[4][k] < errors[2][k] / 10 and errors[6][k] < errors[4][k] / 10
    assert errors[6][0] < 1e-5 and errors[6][1] < 1e-5
    assert errors[2][1] > 1e-5                                                # truncation is visible: can fail


def test_zero_higher_cumulants_do_not_cost_exactness():
    # a Gaussian padded with zero cumulants of orders 3, 4 (as propagate passes it) gives the exact result
    mean, cov = np.array([0.3, -0.4]), np.array([[0.6, 0.3], [0.3, 0.9]])
    padded = Cumulants(mean, cov).truncated(4)
    a = pointwise(padded, activations.erf(), order=4)
    b = pointwise(Cumulants(mean, cov), activations.erf(), order=4, closure=2)
    for k in (1, 2, 3, 4):
        np.testing.assert_array_equal(a.kappa(k), b.kappa(k))


def test_default_series_orders():
    erf_activation = activations.erf()
    assert default_series_order(erf_activation, 2, 2) is None          # exact: Owen's T, nothing truncated
    assert default_series_order(erf_activation, 2, 4) == 2             # kappa_3, kappa_4 to second order
    assert default_series_order(erf_activation, 4, 2) is None          # exact: numerical joint moments
    assert default_series_order(erf_activation, 4, 3) == 6
    assert default_series_order(erf_activation, 4, 4) == 3
