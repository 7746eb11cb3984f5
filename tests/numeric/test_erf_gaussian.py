"""Exact Gaussian transfer through erf (issue 3, item 2; docs/theory.md section 6).

References, all independent of the code under test:
* the arcsin kernel (2/pi) arcsin(rho) at zero means (exact);
* tensor-product Gauss-Hermite quadrature in 2-D (moderate variances);
* "2-D quadrature with the inner dimension done analytically": condition on
  z_a, E[erf z_b | z_a] = erf(m_{b|a} / sqrt(1 + 2 v_{b|a})), and integrate over
  z_a adaptively (scipy.integrate.quad, breakpoints at both erf transitions),
  valid at every variance incl. 1e4 and at |rho| -> 1;
* the Price / Drezner-Wesolowsky angle integral in mpmath at 40 digits (slow test);
* for the joint moments of 2..4 neurons (erf_gaussian_moment): conditioning on
  one neuron, the rest in closed form, the outer integral adaptive; and 4-D
  Gauss-Hermite at moderate variances.
"""
import itertools

import numpy as np
import pytest
from scipy import integrate
from scipy.special import erf

from symcorr.codegen.runtime import erf_covariance, erf_gaussian_covariance, erf_gaussian_moment, erf_power_moment
from symcorr.codegen.runtime.arrays import legendre_unit
from symcorr.derivation.families.erf_functions import mp_erf_gaussian_covariance
from symcorr.numeric.erf_gaussian import (
    erf_gaussian_mean,
    erf_gaussian_transfer,
    format_price_series_table,
    price_series_covariance,
    price_series_table,
)
from symcorr.numeric.quadrature import hermite_rule

MEANS = (0.0, 0.3, -0.3, 1.5, -2.5)
VARIANCES = (1e-12, 0.3, 1.0, 5.0, 1e4)
CORRELATIONS = (0.0, 0.3, -0.3, 0.9, -0.999999, 1.0)   # r = c / sqrt(v_a v_b)


def _grid(means=MEANS, variances=VARIANCES, correlations=CORRELATIONS):
    mu_a, mu_b, v_a, v_b, r = (g.ravel() for g in np.meshgrid(means, means, variances, variances, correlations,
                                                               indexing="ij"))
    return mu_a, mu_b, v_a, v_b, r * np.sqrt(v_a * v_b), r


def conditional_reference(mu_a, mu_b, v_a, v_b, r):
    """Cov(erf z_a, erf z_b) by conditioning on z_a = mu_a + sqrt(v_a) x and adaptive quadrature over x."""
    m_a, m_b = erf(mu_a / np.sqrt(1 + 2 * v_a)), erf(mu_b / np.sqrt(1 + 2 * v_b))
    slope, v_cond = r * np.sqrt(v_b), v_b * (1 - r * r)

    def integrand(x):
        inner = erf((mu_b + slope * x) / np.sqrt(1 + 2 * v_cond))
        return np.exp(-x * x / 2) / np.sqrt(2 * np.pi) * (erf(mu_a + np.sqrt(v_a) * x) - m_a) * (inner - m_b)

    points = []
    if v_a > 0:
        points.append(-mu_a / np.sqrt(v_a))
    if slope != 0:
        points.append(-mu_b / slope)
    points = sorted(p for p in points if -12 < p < 12)
    value, _ = integrate.quad(integrand, -12, 12, points=points or None, limit=400, epsabs=1e-17, epsrel=1e-14)
    return value


def test_mean_is_erf_of_the_scaled_mean():
    # 1-D adaptive quadrature of erf(mu + sqrt(v) x) phi(x), incl. v = 1e4 and v -> 0
    worst = 0.0
    for mu, v in itertools.product(MEANS, VARIANCES):
        ref, _ = integrate.quad(lambda x: erf(mu + np.sqrt(v) * x) * np.exp(-x * x / 2) / np.sqrt(2 * np.pi),
                                -12, 12, points=[-mu / np.sqrt(v)] if abs(mu / np.sqrt(v)) < 12 else None,
                                limit=400, epsabs=1e-17, epsrel=1e-14)
        worst = max(worst, abs(float(erf_gaussian_mean(mu, v)) - ref))
    assert worst < 1e-13


def test_zero_means_give_the_arcsin_kernel():
    mu_a, mu_b, v_a, v_b, c, r = _grid(means=(0.0,))
    got = erf_gaussian_covariance(mu_a, mu_b, v_a, v_b, c)
    rho = 2 * c / np.sqrt((1 + 2 * v_a) * (1 + 2 * v_b))
    assert np.max(np.abs(got - 2 / np.pi * np.arcsin(rho))) < 1e-14
    # and on the diagonal: Var erf(z) = (2/pi) arcsin(2v / (1 + 2v))
    v = np.array(VARIANCES)
    assert np.max(np.abs(erf_gaussian_covariance(0.0, 0.0, v, v, v) - 2 / np.pi * np.arcsin(2 * v / (1 + 2 * v)))) < 1e-14


def test_agrees_with_2d_gauss_hermite_at_moderate_variance():
    # tensor-product Gauss-Hermite converges for erf when the Gaussian is not much wider than erf's transition
    nodes, weights = hermite_rule(80)
    x, y = np.meshgrid(nodes, nodes, indexing="ij")
    w = np.outer(weights, weights)
    worst = 0.0
    for mu_a, mu_b, v_a, v_b, r in itertools.product(MEANS, MEANS, (1e-12, 0.05, 0.3), (1e-12, 0.05, 0.3),
                                                       CORRELATIONS):
        z_a = mu_a + np.sqrt(v_a) * x
        z_b = mu_b + np.sqrt(v_b) * (r * x + np.sqrt(1 - r * r) * y)
        f_a, f_b = erf(z_a), erf(z_b)
        ref = np.sum(w * (f_a - np.sum(w * f_a)) * (f_b - np.sum(w * f_b)))
        got = erf_gaussian_covariance(mu_a, mu_b, v_a, v_b, r * np.sqrt(v_a * v_b))
        worst = max(worst, abs(float(got) - ref))
    assert worst < 1e-13


def test_agrees_with_conditional_quadrature_over_the_edge_case_grid():
    # zero means, h_a h_b < 0, |rho| -> 1, variances 1e-12 .. 1e4: every combination
    mu_a, mu_b, v_a, v_b, c, r = _grid()
    got = erf_gaussian_covariance(mu_a, mu_b, v_a, v_b, c)
    ref = np.array([conditional_reference(*args) for args in zip(mu_a, mu_b, v_a, v_b, r)])
    error = np.abs(got - ref)
    assert error.max() < 1e-13, (error.max(), np.argmax(error))
    # the covariance matrix of each pair is positive semi-definite: |Cov| <= sqrt(Var Var)
    var_a = erf_gaussian_covariance(mu_a, mu_a, v_a, v_a, v_a)
    var_b = erf_gaussian_covariance(mu_b, mu_b, v_b, v_b, v_b)
    assert np.all(got * got <= var_a * var_b * (1 + 1e-12) + 1e-300)


def test_relative_accuracy_when_the_covariance_is_tiny():
    # large means and weak correlation: Cov ~ 1e-20 .. 1e-60; relative error vs mpmath at 40 digits
    cases = [(5.0, 3.0, 0.3, 0.6, 0.01), (-6.0, 8.0, 0.5, 0.2, -0.2), (4.0, -4.0, 1e-6, 1e-6, 1e-6),
             (2.5, 2.5, 0.01, 0.01, 0.001), (7.0, 7.0, 2.0, 2.0, 1.9)]
    for mu_a, mu_b, v_a, v_b, c in cases:
        ref = float(mp_erf_gaussian_covariance(mu_a, mu_b, v_a, v_b, c, prec=140))
        got = float(erf_gaussian_covariance(mu_a, mu_b, v_a, v_b, c))
        rho = 2 * c / np.sqrt((1 + 2 * v_a) * (1 + 2 * v_b))
        m2 = mu_a ** 2 / (1 + 2 * v_a) + mu_b ** 2 / (1 + 2 * v_b)
        if abs(rho) < 0.925:  # Gauss-Legendre classes: relative accuracy ~1e-14 (1 + m_a^2 + m_b^2)
            assert abs(got / ref - 1) < 1e-14 * (1 + m2), (mu_a, mu_b, v_a, v_b, c, got, ref)
        else:                 # Owen's-T class: absolute accuracy
            assert abs(got - ref) < 1e-15


def test_owens_t_and_quadrature_forms_agree_where_both_apply():
    rng = np.random.default_rng(7)
    n = 400
    mu_a, mu_b = rng.normal(size=(2, n)) * 1.5
    v_a, v_b = 10 ** rng.uniform(-2, 2, size=(2, n))
    rho = rng.uniform(0.4, 0.98, size=n) * rng.choice([-1, 1], size=n)
    c = rho * np.sqrt((1 + 2 * v_a) * (1 + 2 * v_b)) / 2
    ok = c * c <= v_a * v_b
    mu_a, mu_b, v_a, v_b, c = mu_a[ok], mu_b[ok], v_a[ok], v_b[ok], c[ok]
    s2_a, s2_b = 1 + 2 * v_a, 1 + 2 * v_b
    sqrt_d = np.sqrt(1 + 2 * (v_a + v_b) + 4 * (v_a * v_b - c * c))
    owen = erf_covariance._erf_cov_owens_t(mu_a, mu_b, s2_a, s2_b, c, sqrt_d)
    u_max = 2 * c / (np.sqrt(s2_a * s2_b) + sqrt_d)
    fine = erf_covariance._erf_cov_theta_rule(mu_a / np.sqrt(s2_a), mu_b / np.sqrt(s2_b), u_max,
                                                 legendre_unit(200))
    assert np.max(np.abs(owen - fine)) < 1e-14


def test_accuracy_classes_are_converged():
    # the class rules (8..48 nodes, chosen by |rho| and the integrand's log-variation) against a 300-node rule:
    # relative error below 1e-14 (1 + m_a^2 + m_b^2), the rounding floor of the Gaussian exponent
    rng = np.random.default_rng(11)
    n = 40000
    m_a, m_b = rng.uniform(-10, 10, size=(2, n)) * rng.uniform(0, 1, size=n)
    rho = rng.uniform(-0.9249, 0.9249, size=n)
    ref = erf_covariance._erf_cov_theta_rule(m_a, m_b, np.tan(np.arcsin(rho) / 2), legendre_unit(300))
    v = 20.0                                  # s^2 = 41: c = rho s^2 / 2 keeps |c| <= v for |rho| < 0.975
    got = erf_gaussian_covariance(m_a * np.sqrt(41.0), m_b * np.sqrt(41.0), v, v, rho * 41.0 / 2)
    live = np.abs(ref) > 1e-290
    relative = np.abs(got[live] / ref[live] - 1) / (1 + m_a[live] ** 2 + m_b[live] ** 2)
    assert relative.max() < 1e-14
    # a single class for everything (8 nodes) would not do: the test can fail
    crude = erf_covariance._erf_cov_theta_rule(m_a, m_b, np.tan(np.arcsin(rho) / 2), legendre_unit(8))
    assert np.max(np.abs(crude[live] / ref[live] - 1)) > 1e-6


def test_transfer_matches_the_pairwise_function_and_is_symmetric():
    rng = np.random.default_rng(3)
    n = 37
    a = rng.normal(size=(n, n))
    cov = a @ a.T / n * np.linspace(0.1, 30, n)[:, None] ** 0.5 * np.linspace(0.1, 30, n)[None, :] ** 0.5
    mean = rng.normal(size=n)
    mean[:3] = 0.0
    m, c = erf_gaussian_transfer(mean, cov)
    assert np.array_equal(c, c.T)                # even if cov is symmetric only to rounding
    cov = np.triu(cov) + np.triu(cov, 1).T
    m, c = erf_gaussian_transfer(mean, cov)
    v = np.diag(cov)
    # element by element (flat arrays: the general path, not the symmetric-grid one)
    rows, cols = (t.ravel() for t in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    ref = erf_gaussian_covariance(mean[rows], mean[cols], v[rows], v[cols], cov[rows, cols]).reshape(n, n)
    assert np.max(np.abs(c - ref) / np.maximum(np.abs(ref), 1e-300)) < 1e-14
    # and the symmetric neuron grid a generated kernel passes gives the same matrix
    grid = erf_gaussian_covariance(mean[:, None], mean[None, :], v[:, None], v[None, :], cov)
    assert np.array_equal(grid, c)
    assert np.max(np.abs(m - erf(mean / np.sqrt(1 + 2 * v)))) < 1e-15
    assert np.linalg.eigvalsh(c)[0] > -1e-12


def test_weakly_correlated_pairs_rule_matches_the_general_rules():
    # a wide layer: most pairs take the 4-node rule in r = sin t; compare with the per-element rules
    rng = np.random.default_rng(5)
    n = 300
    a = rng.normal(size=(n, n)) / np.sqrt(n)
    cov = a @ a.T * np.geomspace(0.05, 40, n)[:, None] ** 0.5 * np.geomspace(0.05, 40, n)[None, :] ** 0.5
    cov = np.triu(cov) + np.triu(cov, 1).T
    mean = rng.normal(size=n) * np.linspace(0, 4, n)
    v = np.diag(cov)
    matrix = erf_covariance.erf_covariance_matrix(mean, v, cov)
    rows, cols = (t.ravel() for t in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    general = erf_covariance.erf_covariance_block(mean[rows], mean[cols], v[rows], v[cols], cov[rows, cols]).reshape(n, n)
    s = np.sqrt(1 + 2 * v)
    rho = 2 * cov / np.outer(s, s)
    weak = np.abs(rho) < erf_covariance._ERF_COV_WEAK_RHO
    assert weak.mean() > 0.5                                  # the fast rule is exercised
    m2 = (mean / s) ** 2
    bound = 1e-14 * (1 + m2[:, None] + m2[None, :]) * np.abs(general) + 1e-300
    assert np.all(np.abs(matrix - general) <= bound)


def test_kernel_grid_tolerates_rounding_asymmetry_and_refuses_to_guess_otherwise():
    rng = np.random.default_rng(8)
    n = 60
    w = rng.normal(size=(n, n)) / np.sqrt(n)
    cov = w @ np.diag(rng.uniform(0.2, 2, n)) @ w.T          # symmetric only to rounding
    mean, v = rng.normal(size=n), np.diag(cov)
    grid = erf_gaussian_covariance(mean[:, None], mean[None, :], v[:, None], v[None, :], cov)
    assert np.array_equal(grid, grid.T)
    rows, cols = np.triu_indices(n)
    upper = erf_gaussian_covariance(mean[rows], mean[cols], v[rows], v[cols], cov[rows, cols])
    assert np.max(np.abs(grid[rows, cols] - upper) / np.abs(upper)) < 1e-14
    # a clearly asymmetric Sigma_ij is evaluated element by element, not symmetrised
    skew = cov.copy()
    skew[0, 1] += 0.01
    grid = erf_gaussian_covariance(mean[:, None], mean[None, :], v[:, None], v[None, :], skew)
    assert grid[0, 1] != grid[1, 0]


@pytest.mark.parametrize("mean, cov, message", [
    (np.zeros((2, 2)), np.eye(2), "1-D"),
    (np.zeros(2), np.eye(3), "shape"),
    (np.zeros(2), np.array([[1.0, 0.5], [0.4, 1.0]]), "symmetric"),
    (np.zeros(2), np.array([[-1.0, 0.0], [0.0, 1.0]]), "negative variance"),
    (np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), "positive semi-definite"),
    (np.array([np.nan, 0.0]), np.eye(2), "non-finite"),
    (np.zeros(3), np.array([[1.0, np.nan, 0.0], [np.nan, 1.0, 0.0], [0.0, 0.0, 1.0]]), "non-finite"),
    (np.zeros(3), np.array([[1.0, 0.0, np.inf], [0.0, 1.0, 0.0], [np.inf, 0.0, 1.0]]), "non-finite"),
    (np.zeros(3), np.array([[1.0, 0.0, 0.0], [np.nan, 1.0, 0.0], [0.0, 0.0, 1.0]]), "non-finite"),  # lower triangle only
])
def test_bad_input_is_refused_with_the_reason(mean, cov, message):
    with pytest.raises(ValueError, match=message):
        erf_gaussian_transfer(mean, cov)


def test_pairwise_function_refuses_bad_input():
    with pytest.raises(ValueError, match="negative"):
        erf_gaussian_covariance(0.0, 0.0, -1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="positive semi-definite"):
        erf_gaussian_covariance(0.0, 0.0, 1.0, 1.0, 1.5)
    with pytest.raises(ValueError, match="non-finite"):
        erf_gaussian_covariance(np.inf, 0.0, 1.0, 1.0, 0.5)


def test_price_series_converges_to_the_closed_form():
    # docs/theory.md section 6: sum_n Sigma^n/n! g^(n) g^(n) -> Owen's-T covariance, geometrically in |rho|
    table = price_series_table(orders=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
    print("\nPrice series: max |series - closed form| over means x variances\n" + format_price_series_table(table))
    for rho, rows in table.items():
        errors = list(rows.values())
        assert all(b <= a * 1.0001 + 1e-15 for a, b in zip(errors, errors[1:])), rho   # monotone
    assert table[0.2][32] < 1e-15 and table[0.6][64] < 1e-14
    assert table[0.95][512] < 1e-12 and table[0.95][16] > 1e-3     # slow at |rho| = 0.95
    # order 1 is the linear response Sigma_ab g'_a g'_b, wrong at O(rho^2): the test can fail
    assert table[0.6][1] > 1e-2


def test_price_series_reproduces_the_arcsin_series_at_zero_mean():
    rho = 0.7
    c = rho * 3.0 / 2                                    # v = 1: s^2 = 3
    series = price_series_covariance(0.0, 0.0, 1.0, 1.0, c, 7)
    k = np.arange(4)
    from scipy.special import factorial
    arcsin_terms = factorial(2 * k) / (4.0 ** k * factorial(k) ** 2 * (2 * k + 1)) * rho ** (2 * k + 1)
    assert abs(float(series) - 2 / np.pi * arcsin_terms.sum()) < 1e-15


@pytest.mark.slow
def test_agrees_with_mpmath_over_the_edge_case_grid():
    mu_a, mu_b, v_a, v_b, c, r = _grid()
    got = erf_gaussian_covariance(mu_a, mu_b, v_a, v_b, c)
    ref = np.array([float(mp_erf_gaussian_covariance(*args, prec=133)) for args in zip(mu_a, mu_b, v_a, v_b, c)])
    assert np.max(np.abs(got - ref)) < 1e-14


# -- joint moments of 2..4 neurons (orders 3..4 at closure 2) ---------------------

def _moment_by_conditioning(powers, mean, cov):
    """E[prod_a erf(z_a)^p_a] by conditioning on the neuron with the largest power: the rest (at most
    two erf factors) in closed form under the conditional Gaussian, the outer integral adaptive
    (scipy.integrate.quad, breakpoints at erf's transition and where the conditional means cross 0)."""
    order = np.argsort([-p for p in powers], kind="stable")
    powers, mean, cov = [powers[o] for o in order], mean[order], cov[np.ix_(order, order)]
    v0, rest = cov[0, 0], [x for x in range(1, len(powers)) for _ in range(powers[x])]
    beta, conditional = cov[0, 1:] / v0, cov[1:, 1:] - np.outer(cov[0, 1:], cov[0, 1:]) / v0

    def inner(z):
        m = mean[1:] + beta * (z - mean[0])
        if len(rest) == 1:
            x = rest[0] - 1
            return erf(m[x] / np.sqrt(1 + 2 * max(conditional[x, x], 0.0)))
        x, y = (r - 1 for r in rest)
        vx, vy = max(conditional[x, x], 0.0), max(conditional[y, y], 0.0)
        c = vx if x == y else float(np.clip(conditional[x, y], -np.sqrt(vx * vy), np.sqrt(vx * vy)))
        return (erf_gaussian_covariance(m[x], m[y], vx, vy, c)
                + erf(m[x] / np.sqrt(1 + 2 * vx)) * erf(m[y] / np.sqrt(1 + 2 * vy)))

    def integrand(z):
        return erf(z) ** powers[0] * inner(z) * np.exp(-(z - mean[0]) ** 2 / (2 * v0)) / np.sqrt(2 * np.pi * v0)

    lo, hi = mean[0] - 12 * np.sqrt(v0), mean[0] + 12 * np.sqrt(v0)
    # breakpoints around every transition (centre, width): erf(z) at 0, each conditional erf where
    # its conditional mean crosses 0
    transitions = [(0.0, 1.0)] + [(mean[0] - mean[x] * v0 / cov[0, x],
                                   np.sqrt(1 + 2 * max(conditional[x - 1, x - 1], 0.0)) / abs(beta[x - 1]))
                                  for x in range(1, len(powers)) if cov[0, x]]
    points = [mean[0]] + [centre + width * step for centre, width in transitions for step in (-6, -3, -1, 0, 1, 3, 6)]
    with np.errstate(all="ignore"):
        value, _ = integrate.quad(integrand, lo, hi, points=sorted(p for p in set(points) if lo < p < hi),
                                  limit=2000, epsabs=1e-15, epsrel=1e-13)
    return value


def _moment(powers, mean, cov):
    pairs = [(a, b) for a in range(len(powers)) for b in range(a + 1, len(powers))]
    return float(erf_gaussian_moment(powers, list(mean), list(np.diag(cov)),
                                                    [cov[a, b] for a, b in pairs]))


@pytest.mark.parametrize("powers", [(1, 1), (2, 1), (3, 1), (2, 2), (1, 1, 1), (2, 1, 1), (1, 2, 1)])
def test_joint_moments_agree_with_conditional_quadrature_over_the_edge_cases(powers):
    # zero and large means, opposite signs, variances 1e-6..1e4, correlations up to -0.99
    k, worst = len(powers), []
    for mean_scale, variance, rho in itertools.product((0.0, 1.0, -2.5), (1e-6, 0.3, 30.0, 1e4), (0.3, 0.9, -0.99)):
        corr = np.full((k, k), rho)
        np.fill_diagonal(corr, 1.0)
        if k == 3:
            corr[0, 2] = corr[2, 0] = abs(rho) * 0.5
            if np.linalg.eigvalsh(corr)[0] < 0:
                continue
        mean = mean_scale * np.array([1.0, -0.6, 0.4][:k])
        variances = variance * np.array([1.0, 0.5, 2.0][:k])
        cov = corr * np.sqrt(np.outer(variances, variances))
        worst.append((abs(_moment(powers, mean, cov) - _moment_by_conditioning(powers, mean, cov)),
                      mean_scale, variance, rho))
    worst.sort(reverse=True)
    print(f"\n{powers}: worst |moment - conditional quadrature| {worst[0][0]:.1e} at (mean scale, v, rho) "
          f"= {worst[0][1:]}")
    assert worst[0][0] < 1e-11, worst[:3]


def test_joint_moments_of_four_neurons_agree_with_gauss_hermite():
    nodes, weights = hermite_rule(36)                # converged to ~1e-17 here (24 nodes: 6e-13)
    grid = np.array(list(itertools.product(nodes, repeat=4)))
    probabilities = np.prod(np.array(list(itertools.product(weights, repeat=4))), axis=1)
    rng = np.random.default_rng(11)
    for _ in range(3):
        a = rng.normal(size=(4, 4))
        cov = a @ a.T * 0.08 + 0.02 * np.eye(4)       # moderate variances: Gauss-Hermite converges
        mean = rng.normal(size=4) * 0.5
        eigenvalues, eigenvectors = np.linalg.eigh(cov)
        values = erf(mean + grid @ (eigenvectors * np.sqrt(eigenvalues)).T)
        for powers in ((1, 1, 1, 1), (2, 1, 1)):
            k = len(powers)
            truth = np.sum(probabilities * np.prod(values[:, :k] ** np.array(powers), axis=1))
            assert abs(_moment(powers, mean[:k], cov[:k, :k]) - truth) < 1e-13


def test_a_single_neuron_and_independent_neurons_factorise():
    mu, v = np.array([0.4, -1.2]), np.array([0.7, 3.0])
    assert abs(_moment((3, 1), mu, np.diag(v)) - erf_power_moment(3, 0, mu[0], v[0])
               * erf(mu[1] / np.sqrt(1 + 2 * v[1]))) < 1e-15


@pytest.mark.parametrize("powers, means, variances, covariances, message", [
    ((1, 1, 1, 1, 1), [0] * 5, [1] * 5, [0] * 10, "summing to <= 4"),
    ((3, 2), [0, 0], [1, 1], [0], "summing to <= 4"),
    ((1, 1), [0, 0], [1, 1], [0, 0], "covariances"),
    ((1, 1), [0, np.nan], [1, 1], [0], "non-finite"),
    ((1, 1), [0, 0], [1, -1], [0], "negative"),
    ((1, 1), [0, 0], [1, 1], [2.0], "positive semi-definite"),
])
def test_joint_moment_refuses_bad_input(powers, means, variances, covariances, message):
    with pytest.raises(ValueError, match=message):
        erf_gaussian_moment(powers, means, variances, covariances)
