"""erf beyond the Gaussian closed forms (issue 3, item 3; MATH.md sections 4 and 6).

* output orders 1..2 with non-Gaussian input: Gaussian part resummed exactly
  (joint reference), kappa_3 / kappa_4 corrections to second order; checked
  on a weakly non-Gaussian 2-D Gaussian mixture against tensor-product
  Gauss-Hermite quadrature of the mixture (converged to ~1e-15);
* output orders 3..4 (independent reference, Price series, numeric
  E[erf^p] vertices for p >= 3) against 3-D quadrature: the truncation error
  falls with the series order as rho_eff^(S+1).
Kernels are compiled on first use into a temporary cache.
"""
import itertools

import numpy as np
import pytest
from scipy.special import erf

from symcorr import Cumulants, activations, pointwise
from symcorr.quadrature import cumulants_of_samples, hermite_rule, quadrature_cumulants
from symcorr.vertex_functions import default_series_order

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


def _gaussian_quadrature_cumulants(mean, cov, n_nodes, order=4):
    nodes, weights = hermite_rule(n_nodes)
    grid = np.array(list(itertools.product(nodes, repeat=len(mean))))
    probabilities = np.prod(np.array(list(itertools.product(weights, repeat=len(mean)))), axis=1)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    points = mean + grid @ (eigenvectors * np.sqrt(eigenvalues)).T
    return cumulants_of_samples(erf(points), probabilities, order)


def test_orders_3_and_4_converge_with_the_series_order():
    # three neurons, Gaussian input; effective correlations rho = 2 Sigma_ij / (s_i s_j) up to ~0.2
    mean = np.array([0.2, -0.5, 0.7])
    sd = np.sqrt(np.array([0.3, 0.5, 0.4]))
    corr = np.array([[1.0, 0.45, -0.3], [0.45, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    cov = corr * np.outer(sd, sd)
    truth = _gaussian_quadrature_cumulants(mean, cov, 48)
    assert np.max(np.abs(truth.kappa(4) - _gaussian_quadrature_cumulants(mean, cov, 40).kappa(4))) < 1e-10
    inputs = Cumulants(mean, cov)
    errors = {}
    for series in (2, 4, 6):
        out = pointwise(inputs, activations.erf(), order=4, closure=2, series_order=series)
        errors[series] = [np.max(np.abs(out.kappa(k) - truth.kappa(k))) for k in (1, 2, 3, 4)]
    print("\nerf, orders 3..4 of a Gaussian (3 neurons, max |rho_eff| = "
          f"{np.max(np.abs(2 * cov / np.outer(1 + 2 * sd**2, 1 + 2 * sd**2) ** 0.5 - np.diag(np.diag(2 * cov / (1 + 2 * sd**2)))) ):.2f}):")
    for series, errs in errors.items():
        print(f"  series order {series}: mean {errs[0]:.1e} cov {errs[1]:.1e} kappa3 {errs[2]:.1e} kappa4 {errs[3]:.1e}")
    for series in (2, 4, 6):
        assert errors[series][0] < 1e-14 and errors[series][1] < 1e-14      # orders 1..2: resummed, exact
    assert errors[4][2] < errors[2][2] / 10 and errors[6][2] < errors[4][2] / 10
    assert errors[4][3] < errors[2][3] / 10 and errors[6][3] < errors[4][3] / 10
    assert errors[6][2] < 1e-5 and errors[6][3] < 1e-5
    assert errors[2][3] > 1e-5                                                # truncation is visible: can fail


def test_default_series_orders():
    erf_activation = activations.erf()
    assert default_series_order(erf_activation, 2, 2) is None          # exact: Owen's T, nothing truncated
    assert default_series_order(erf_activation, 2, 4) == 2             # kappa_3, kappa_4 to second order
    assert default_series_order(erf_activation, 4, 2) == 6
    assert default_series_order(erf_activation, 4, 4) == 3
