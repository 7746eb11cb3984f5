"""The piecewise-linear family (ReLU, leaky ReLU, abs, Heaviside; docs/theory.md section 11).

References: mpmath at raised precision (tests/references.py: quadrature split at the kinks, the
bivariate normal by its angle integral), the arc-cosine kernel, Owen's T (scipy), two symbolic
routes (Stein closed forms evaluated by SymPy/mpmath vs the runtime's Price integrals), numpy
sampling with standard errors, and the error scaling of the non-Gaussian corrections.
"""
import itertools

import mpmath
import numpy as np
import pytest
import sympy as sp
from family_checks import assert_closure_4_corrects, assert_matches_sampling, mixture_errors
from references import mp_mean, mp_pair_covariance, mp_pair_moment

from symcorr import Cumulants, activations, derive, pointwise
from symcorr.codegen import runtime
from symcorr.codegen.printer import KernelPrinter
from symcorr.codegen.runtime.bivariate import _weak_integrals, orthant_integrals
from symcorr.derivation.families.gaussian_expectations import bivariate, univariate
from symcorr.derivation.families.gaussian_functions import BivariateNormalCDF, NormalCDF, OwensT, \
    mp_bivariate_normal_cdf
from symcorr.derivation.families.piecewise_linear import PIECEWISE_LINEAR, gaussian_covariance, gaussian_pair, \
    gaussian_power, named_functions, pieces
from symcorr.notation.symbols import Z, cumulant_symbol

MU_A, MU_B, V_A, V_B, C = (cumulant_symbol(k) for k in ("i", "j", "ii", "jj", "ij"))
NAMESPACE = [{"_support": runtime}, "scipy", "numpy"]
#: (constructor, a, b) of phi = a z + b relu(z); the step has b = None
RAMPS = [(activations.relu, 0.0, 1.0), (lambda: activations.leaky_relu(0.1), 0.1, 0.9), (activations.abs, -1.0, 2.0)]


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))


def numeric(expression, symbols=(MU_A, MU_B, V_A, V_B, C)):
    return sp.lambdify(symbols, expression, modules=NAMESPACE, printer=KernelPrinter)


def mp_ramp(a, b):
    """phi and its textbook Gaussian mean E_{N(m, w)}[a z + b relu(z)] in mpmath."""
    def phi(z):
        return a * z + b * max(z, 0)

    def inner(m, w):
        if w == 0:
            return phi(m)
        s = mpmath.sqrt(w)
        return a * m + b * (m * mpmath.ncdf(m / s) + s * mpmath.npdf(m / s))
    return phi, inner


def mp_step():
    def phi(z):
        return mpmath.mpf(1) if z > 0 else (mpmath.mpf(0) if z < 0 else mpmath.mpf(1) / 2)

    def inner(m, w):
        return phi(m) if w == 0 else mpmath.ncdf(m / mpmath.sqrt(w))
    return phi, inner


# -- the shared SymPy functions and the Stein engine ----------------------------------------

def test_normal_cdfs_print_differentiate_and_rewrite():
    x, y, r = sp.symbols("x y r", real=True)
    printer = KernelPrinter()
    assert printer.doprint(NormalCDF(x)) == "scipy.special.ndtr(x)"
    assert printer.doprint(BivariateNormalCDF(x, y, r)) == "_support.bivariate_normal_cdf(x, y, r)"
    assert sp.latex(BivariateNormalCDF(x, y, r)) == r"\Phi_2\left(x, y; r\right)"
    assert BivariateNormalCDF(x, y, 0) == NormalCDF(x) * NormalCDF(y)
    assert BivariateNormalCDF(0, 0, r) == sp.Rational(1, 4) + sp.asin(r) / (2 * sp.pi)
    f = sp.lambdify((x, y, r), BivariateNormalCDF(x, y, r), modules=NAMESPACE, printer=KernelPrinter)
    owen = sp.lambdify((x, y, r), BivariateNormalCDF(x, y, r).rewrite(OwensT), modules=NAMESPACE,
                       printer=KernelPrinter)
    for point in [(0.3, -0.8, 0.4), (1.1, 0.9, -0.7), (-0.5, -1.5, 0.95), (2.0, -0.3, -0.2)]:
        with mpmath.workdps(30):
            reference = mp_bivariate_normal_cdf(*point)
            derivatives = [mpmath.diff(lambda t: mp_bivariate_normal_cdf(*[t if k == i else point[k] for k in range(3)],
                                                                          prec=150), point[i]) for i in range(3)]
        assert abs(f(*point) - float(reference)) < 2e-16 and abs(owen(*point) - float(reference)) < 2e-16
        assert abs(float(BivariateNormalCDF(*map(sp.Float, point)).evalf(30)) - float(reference)) < 1e-16
        for i, symbol in enumerate((x, y, r)):
            value = float(sp.diff(BivariateNormalCDF(x, y, r), symbol).subs(dict(zip((x, y, r), point))))
            assert abs(value - float(derivatives[i])) < 1e-14, (point, i)


def _mp_truncated(l, m, w):
    """E[z^l H(z)], z ~ N(m, w), l <= 3: the textbook truncated moments (mpmath)."""
    s = mpmath.sqrt(w)
    cdf, pdf = mpmath.ncdf(m / s), mpmath.npdf(m / s)
    return [cdf, m * cdf + s * pdf, (m * m + w) * cdf + m * s * pdf, (m**3 + 3 * m * w) * cdf + (m * m + 2 * w) * s * pdf][l]


def test_stein_engine_truncated_moments_match_mpmath():
    for k in range(5):
        value = float(univariate(sp.Rational(3, 10), sp.Rational(7, 5)).expectation((k,), (0,)))
        reference = mp_mean(lambda z: z**k if z > 0 else 0, 0.3, 1.4, kinks=(0,), dps=20)
        assert abs(value - float(reference)) < 1e-15 * max(1, abs(float(reference)))
    # E[z_a^k z_b^l H(z_a) H(z_b)]: conditioning on z_a, the inner truncated moment in its textbook form
    mu_a, mu_b, v_a, v_b, c = point = (0.3, -0.5, 1.2, 0.7, 0.4)
    pair = bivariate(*map(sp.nsimplify, point))
    for k, l in [(1, 0), (1, 1), (2, 1), (0, 3)]:
        value = float(pair.expectation((k, l), (0, 1)).evalf(30))
        reference = mp_mean(lambda z: z**k * _mp_truncated(l, mu_b + c / v_a * (z - mu_a), v_b - c * c / v_a)
                            if z > 0 else 0, mu_a, v_a, kinks=(0,), dps=20)
        assert abs(value - float(reference)) < 1e-14, (k, l)
    # a delta: E[z_b H(z_b) delta(z_a)] = p_a(0) E[z_b H(z_b) | z_a = 0]
    delta = float(pair.expectation((0, 1), (1,), (0,)).evalf(30))
    with mpmath.workdps(20):
        reference = mpmath.npdf(0, mu_a, mpmath.sqrt(v_a)) * _mp_truncated(1, mu_b - c / v_a * mu_a, v_b - c * c / v_a)
    assert abs(delta - float(reference)) < 1e-15


# -- the bivariate integrals K, J ------------------------------------------------------------

def _mp_integrals(h_a, h_b, rho):
    """K, J by mpmath in the angle t = arcsin r (the density's endpoint behaviour removed)."""
    with mpmath.workdps(30):
        h_a, h_b, rho = (mpmath.mpf(t) for t in (h_a, h_b, rho))
        if abs(rho) == 1:
            rho = rho * (1 - mpmath.mpf(10) ** -35)

        def density(t):
            r = mpmath.sin(t)
            return mpmath.exp(-(h_a**2 - 2 * r * h_a * h_b + h_b**2) / (2 * mpmath.cos(t) ** 2)) / (2 * mpmath.pi)
        points = [mpmath.asin(rho) * k / 8 for k in range(9)]
        return (mpmath.quad(density, points),
                mpmath.quad(lambda t: (rho - mpmath.sin(t)) * density(t), points))


H_VALUES = [0.0, 0.3, -1.2, 2.5, -6.0, 9.0]
RHO_VALUES = [0.0, 0.01, -0.04, 0.3, -0.6, 0.9, -0.93, 0.99, -0.999999, 1 - 1e-7, -1 + 1e-9, 1.0, -1.0]


@pytest.mark.parametrize("h_b", [0.31, pytest.param(1.9, marks=pytest.mark.slow), pytest.param(0.0, marks=pytest.mark.slow),
                                 pytest.param(-0.7, marks=pytest.mark.slow), pytest.param(-4.0, marks=pytest.mark.slow)])
def test_orthant_integrals_match_mpmath_for_every_rule(h_b):
    grid = list(itertools.product(H_VALUES, [h_b], RHO_VALUES))
    k, j = orthant_integrals(*(np.array(t) for t in zip(*grid)))
    worst = 0.0
    for t, point in enumerate(grid):
        reference = [float(x) for x in _mp_integrals(*point)]
        errors = abs(k[t] - reference[0]), abs(j[t] - reference[1])
        worst = max(worst, *errors)
        # absolute 2e-15 (3e-13 within 1e-6 of |rho| = 1, where J's closed form loses digits), and
        # relative 1e-13 (1 + h_a^2 + h_b^2) where the values are tiny
        near_one = 0 < 1 - abs(point[2]) < 1e-6
        assert max(errors) < (3e-13 if near_one else 2e-15), (point, errors)
        for value, ref in zip((k[t], j[t]), reference):
            if abs(ref) > 1e-300 and abs(point[2]) < 0.925:
                assert abs(value - ref) <= 1e-13 * (1 + point[0] ** 2 + point[1] ** 2) * abs(ref) + 1e-300, point
    print(f"\northant integrals K, J (h_b = {h_b}): max |error| {worst:.1e} over {len(grid)} points")


def test_weak_rule_is_as_accurate_as_the_general_rules_where_it_is_used():
    rng = np.random.default_rng(4)
    rho = rng.uniform(-0.05, 0.05, 400)
    h_a, h_b = rng.normal(size=400) * 2, rng.normal(size=400) * 2
    weak = np.abs(rho) * (h_a**2 + h_b**2) < 0.47
    k, j = _weak_integrals(h_a[weak], h_b[weak], rho[weak])
    k_ref, j_ref = orthant_integrals(h_a[weak], h_b[weak], rho[weak])
    spread = 1 + h_a[weak] ** 2 + h_b[weak] ** 2
    assert np.all(np.abs(k - k_ref) <= 1e-14 * spread * np.abs(k_ref) + 1e-300)
    assert np.all(np.abs(j - j_ref) <= 1e-13 * spread * np.abs(j_ref) + 1e-300)


# -- mean and covariance of a Gaussian against mpmath ----------------------------------------

MEANS = [0.0, 0.3, -1.5, 8.0, -40.0]
VARIANCES = [0.0, 1e-4, 0.5, 2.0, 100.0]
CORRELATIONS = [0.0, 0.3, -0.9, 0.999999, -1.0]


def _grid(means, variances, correlations, limit=None):
    rng = np.random.default_rng(1)
    points = [(m_a, m_b, v_a, v_b, r) for m_a, m_b, v_a, v_b, r in
              itertools.product(means, means, variances, variances, correlations)]
    if limit is not None:
        points = [points[t] for t in sorted(rng.choice(len(points), limit, replace=False))]
    return points


def _check_family(runtime_mean, runtime_cov, mp_functions, scale, points, label):
    phi, inner = mp_functions
    worst_mean = worst_cov = 0.0
    for m_a, m_b, v_a, v_b, r in points:
        c = r * np.sqrt(v_a * v_b)
        reference = mp_pair_covariance(phi, m_a, m_b, v_a, v_b, c, kinks=(0,), inner=inner, dps=25)
        value = runtime_cov(m_a, m_b, v_a, v_b, c)
        error = abs(float(value) - float(reference)) / scale(v_a, v_b)
        worst_cov = max(worst_cov, error)
        assert error < 1e-12, ((m_a, m_b, v_a, v_b, r), float(value), float(reference))
        with mpmath.workdps(25):
            mean_ref = inner(mpmath.mpf(m_a), mpmath.mpf(v_a))
        error = abs(float(runtime_mean(m_a, v_a)) - float(mean_ref)) / max(np.sqrt(v_a), 1e-300 if v_a else 1.0)
        worst_mean = max(worst_mean, error)
        assert error < 1e-12, (m_a, v_a)
    print(f"\n{label}: max error mean {worst_mean:.1e}, covariance {worst_cov:.1e} (scaled) over {len(points)} points")


@pytest.mark.parametrize("constructor, a, b", RAMPS)
def test_ramp_mean_and_covariance_match_mpmath(constructor, a, b):
    points = _grid(MEANS, VARIANCES, CORRELATIONS, limit=24) + [
        (0.4, 0.4, 1.3, 1.3, 1.0), (-2.0, -2.0, 0.5, 0.5, 1.0), (0.0, 0.0, 1.0, 1.0, 1.0), (1.0, 0.2, 2.0, 0.5, 1.0)]
    _check_family(lambda m, v: runtime.ramp_gaussian_mean(m, v, a, b),
                  lambda *args: runtime.ramp_gaussian_covariance(*args, a, b), mp_ramp(a, b),
                  lambda v_a, v_b: max(np.sqrt(v_a * v_b), 1e-300) if v_a * v_b else 1.0, points,
                  constructor().name)


def test_step_mean_and_covariance_match_mpmath():
    points = _grid(MEANS, VARIANCES, CORRELATIONS, limit=24) + [(0.4, 0.4, 1.3, 1.3, 1.0), (0.3, -0.2, 1.0, 1.0, -1.0)]
    _check_family(runtime.step_gaussian_mean, runtime.step_gaussian_covariance, mp_step(), lambda v_a, v_b: 1.0,
                  points, "heaviside")


@pytest.mark.slow
@pytest.mark.parametrize("constructor, a, b", RAMPS + [(activations.heaviside, None, None)])
def test_full_grid_against_mpmath(constructor, a, b):
    # every combination of MEANS, VARIANCES, CORRELATIONS (3125 points)
    points = _grid(MEANS, VARIANCES, CORRELATIONS)
    if b is None:
        _check_family(runtime.step_gaussian_mean, runtime.step_gaussian_covariance, mp_step(), lambda v_a, v_b: 1.0,
                      points, "heaviside")
    else:
        _check_family(lambda m, v: runtime.ramp_gaussian_mean(m, v, a, b),
                      lambda *args: runtime.ramp_gaussian_covariance(*args, a, b), mp_ramp(a, b),
                      lambda v_a, v_b: max(np.sqrt(v_a * v_b), 1e-300) if v_a * v_b else 1.0, points,
                      constructor().name)


def test_zero_mean_relu_covariance_is_the_arc_cosine_kernel():
    s_a, s_b = np.sqrt(1.7), np.sqrt(0.4)
    rho = np.array([-1.0, -0.999, -0.6, -0.01, 0.0, 0.2, 0.73, 0.9999, 1.0])
    theta = np.arccos(rho)
    # Cho & Saul's arc-cosine kernel of degree 1 is E[relu relu]; the means are s / sqrt(2 pi)
    kernel = s_a * s_b / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
    covariance = runtime.ramp_gaussian_covariance(0.0, 0.0, s_a**2, s_b**2, rho * s_a * s_b, 0.0, 1.0)
    assert np.max(np.abs(covariance - (kernel - s_a * s_b / (2 * np.pi)))) < 1e-15


def test_closed_forms_and_runtime_agree_two_routes():
    # the Stein closed form (SymPy, Phi_2 by mpmath) against the runtime's Price integral
    point = {MU_A: sp.Rational(3, 10), MU_B: sp.Rational(-1, 2), V_A: sp.Rational(6, 5), V_B: sp.Rational(7, 10),
             C: sp.Rational(2, 5)}
    for constructor in (activations.relu, lambda: activations.leaky_relu(0.1), activations.abs, activations.heaviside):
        activation = constructor()
        mean_class, covariance_class = named_functions(activation)
        values = {sp.Symbol(n, real=True): sp.Float(x, 30) for n, x in activation.parameters}
        function = covariance_class(MU_A, MU_B, V_A, V_B, C, *activation.parameter_symbols)
        closed = float(function.closed_form().xreplace({**point, **values}).evalf(30))
        printed = numeric(function.xreplace(values))(*(float(point[s]) for s in (MU_A, MU_B, V_A, V_B, C)))
        assert abs(closed - printed) < 1e-15, activation
        mean = mean_class(MU_A, V_A, *activation.parameter_symbols)
        closed = float(mean.closed_form().xreplace({**point, **values}).evalf(30))
        printed = numeric(mean.xreplace(values))(0.3, 0, 1.2, 0, 0)
        assert abs(closed - printed) < 1e-15, activation


# -- vertex functions: mean-derivatives ------------------------------------------------------

@pytest.mark.parametrize("n, m", [(1, 0), (1, 1)] + [pytest.param(n, m, marks=pytest.mark.slow) for n, m in
                                                       [(0, 3), (2, 0), (3, 0), (2, 1), (2, 2)]])
def test_covariance_derivatives_match_mpmath(n, m):
    point = (0.3, -0.5, 1.2, 0.7, 0.4)
    phi, inner = mp_ramp(0.1, 0.9)
    formula = numeric(gaussian_covariance(activations.leaky_relu(0.1).numeric_expression, MU_A, MU_B, V_A, V_B, C, n, m))
    with mpmath.workdps(20):
        reference = mpmath.diff(lambda x, y: mp_pair_covariance(phi, x, y, *point[2:], kinks=(0,), inner=inner, dps=20),
                                (mpmath.mpf(point[0]), mpmath.mpf(point[1])), (n, m))
    assert abs(formula(*point) - float(reference)) < 1e-12 * max(1, abs(float(reference))), (n, m)


@pytest.mark.parametrize("constructor", [activations.relu, activations.abs, activations.heaviside])
def test_power_vertices_match_mpmath(constructor):
    expression = constructor().expression
    phi = sp.lambdify(Z, expression, modules="mpmath")
    mu, v = sp.symbols("mu v", positive=True)
    for p, n in [(1, 0), (1, 2), (2, 0), (2, 1), (3, 0), (2, 3)]:
        f = sp.lambdify((mu, v), gaussian_power(expression, p, mu, v, n), modules=NAMESPACE, printer=KernelPrinter)
        with mpmath.workdps(20):
            reference = mpmath.diff(lambda x: mp_mean(lambda z: phi(z) ** p, x, 0.8, kinks=(0,), dps=20),
                                    mpmath.mpf("0.35"), n)
        assert abs(f(0.35, 0.8) - float(reference)) < 1e-13 * max(1, abs(float(reference))), (p, n)


def test_joint_vertices_of_any_pair_powers_match_mpmath():
    phi = lambda z: max(z, 0)                     # noqa: E731
    value = numeric(gaussian_pair(activations.relu().expression, 2, 1, MU_A, MU_B, V_A, V_B, C))(0.3, -0.5, 1.2, 0.7, 0.4)
    with mpmath.workdps(20):
        def inner(z_a):               # E[relu(z_b) | z_a]
            m, w = -0.5 + 0.4 / 1.2 * (z_a - 0.3), 0.7 - 0.16 / 1.2
            return m * mpmath.ncdf(m / mpmath.sqrt(w)) + mpmath.sqrt(w) * mpmath.npdf(m / mpmath.sqrt(w))
        reference = mp_mean(lambda z: phi(z) ** 2 * inner(z), 0.3, 1.2, kinks=(0,), dps=20)
    assert abs(value - float(reference)) < 1e-14


# -- the family through the engine, the kernels and pointwise --------------------------------

def test_constructors_expressions_and_recognition():
    z = sp.Symbol("z")
    assert activations.relu().expression == sp.Max(0, Z)
    assert pieces(activations.leaky_relu().expression) == (sp.Symbol("slope", real=True) * Z, Z)
    assert pieces(activations.abs().expression) == (-Z, Z)
    assert activations.from_expression(sp.Max(z, 0)) == activations.relu()
    assert activations.from_expression(sp.Abs(z)) == activations.abs()
    assert activations.from_expression(sp.Heaviside(z)) == activations.heaviside()
    assert activations.from_expression(sp.Max(0, z) + sp.Rational(1, 5) * sp.Min(0, z)) == activations.leaky_relu(0.2)
    x = np.array([-2.0, 0.0, 1.5])
    assert np.array_equal(activations.leaky_relu(0.1)(x), [-0.2, 0.0, 1.5])
    assert np.array_equal(activations.heaviside()(x), [0.0, 0.5, 1.0])
    assert PIECEWISE_LINEAR.input_orders_needed(activations.relu(), 2) is None
    assert PIECEWISE_LINEAR.numerical_tolerance is None


def test_derive_resums_the_gaussian_part():
    derivation = derive(activations.relu(), 2, 2)
    assert derivation.series_order is None and {p.reference for p in derivation.patterns.values()} == {"joint"}
    assert "ReluGaussianCovariance(mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij)" == str(derivation.formula("ij"))
    assert KernelPrinter().doprint(derivation.formula("ij")) == \
        "_support.ramp_gaussian_covariance(mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij, 0, 1)"
    leaky = derive(activations.leaky_relu(0.3), 2, 2)
    assert KernelPrinter().doprint(leaky.formula("i")) == "_support.ramp_gaussian_mean(mu_i, Sigma_ii, slope, 1 - slope)"


def test_pointwise_gaussian_is_exact_at_the_edges():
    # zero variance, a duplicated neuron (|rho| = 1), large means, opposite signs
    mean = np.array([0.0, 0.7, 0.7, -30.0, 25.0, 0.2])
    w = np.array([[0.0, 0.0], [1.0, 0.5], [1.0, 0.5], [0.3, -1.0], [2.0, 1.0], [-0.4, 0.9]])
    cov = w @ np.array([[1.0, 0.3], [0.3, 0.8]]) @ w.T
    y = pointwise(Cumulants(mean, cov), activations.relu(), order=2)
    phi, inner = mp_ramp(0.0, 1.0)
    for i, j in itertools.combinations_with_replacement(range(6), 2):
        reference = mp_pair_covariance(phi, mean[i], mean[j], cov[i, i], cov[j, j], cov[i, j], kinks=(0,),
                                       inner=inner, dps=25)
        assert abs(y.cov[i, j] - float(reference)) < 1e-12 * max(np.sqrt(cov[i, i] * cov[j, j]), 1e-300), (i, j)
    assert y.mean[0] == 0.0 and y.cov[0, 0] == 0.0 and y.cov[1, 2] == y.cov[1, 1]


@pytest.mark.parametrize("constructor", [activations.relu, lambda: activations.leaky_relu(0.1), activations.abs,
                                         activations.heaviside])
def test_pointwise_against_sampling(constructor):
    # the other, statistical way: 4e5 numpy samples, every z-score of mean and covariance below 5
    assert_matches_sampling(constructor(), seed=3)


def _mixture_truth(weights, means, covs):
    """Mean and covariance of ReLU of a Gaussian mixture, from mpmath per component."""
    phi, inner = mp_ramp(0.0, 1.0)
    d = means.shape[1]
    m = np.zeros(d)
    second = np.zeros((d, d))
    for w, mu, c in zip(weights, means, covs):
        comp_mean = np.array([float(mp_mean(phi, mu[i], c[i, i], kinks=(0,), dps=20)) for i in range(d)])
        comp_cov = np.array([[float(mp_pair_covariance(phi, mu[i], mu[j], c[i, i], c[j, j], c[i, j], kinks=(0,),
                                                        inner=inner, dps=20)) for j in range(d)] for i in range(d)])
        m += w * comp_mean
        second += w * (comp_cov + np.outer(comp_mean, comp_mean))
    return m, second - np.outer(m, m)


def test_closure_4_corrects_a_mixture_as_the_non_gaussianity_shrinks():
    errors = mixture_errors(activations.relu(), _mixture_truth)
    assert_closure_4_corrects(errors)
    assert errors[0.5, 2] / errors[0.25, 2] > 6 and errors[0.5, 4] / errors[0.25, 4] > 25


def _mp_relu_power_mean(m, w, q):
    """E[relu(X)^q], X ~ N(m, w), q <= 3: the textbook truncated moments (mpmath; relu(X)^0 = 1)."""
    s = mpmath.sqrt(w)
    cdf, pdf = mpmath.ncdf(m / s), mpmath.npdf(m / s)
    return (mpmath.mpf(1), m * cdf + s * pdf, (m * m + w) * cdf + m * s * pdf,
            (m**3 + 3 * m * w) * cdf + s * (m * m + 2 * w) * pdf)[q]


@pytest.mark.filterwarnings("ignore:.*Price series")    # on three neurons; this input has two
@pytest.mark.parametrize("representation", ["dense", "factored"])
def test_pair_entries_near_correlation_one_match_mpmath(representation):
    # unequal variances and h_b = h_a (the conditional mean of z_b crosses 0 within the data's spread) as rho -> 1:
    # the pair's Gaussian exponent arrived as three fractions of size h^2 / (1 - rho^2) and lost 1e-7 of order 3's
    # scale at rho = 1 - 1e-8 in both forms (docs/theory.md section 11.2); printed as one fraction, 1e-13
    phi = lambda z: max(z, 0)                     # noqa: E731
    v_a, v_b = 1.0, 1.7
    mean = np.array([0.3, 0.3 * np.sqrt(v_b)])
    worst = 0.0
    for rho in (0.9999, 1 - 1e-6, 1 - 1e-8):
        c = rho * np.sqrt(v_a * v_b)
        cov = np.array([[v_a, c], [c, v_b]])
        y = pointwise(Cumulants(mean, cov), activations.relu(), order=3, representation=representation,
                      keep_next_diagonal=False)
        third = y.tensor(3).to_dense() if representation == "factored" else y.tensor(3)
        with mpmath.workdps(40):
            moment = {(p, q): mp_pair_moment(phi, _mp_relu_power_mean, p, q, *mean, v_a, v_b, c, kinks=(0,), dps=40)
                      for p, q in [(1, 0), (0, 1), (2, 0), (0, 2), (1, 1), (2, 1), (1, 2), (3, 0), (0, 3)]}
            x, y_ = moment[1, 0], moment[0, 1]
            reference = {
                (0, 1): moment[1, 1] - x * y_,
                (0, 0, 1): moment[2, 1] - moment[2, 0] * y_ - 2 * moment[1, 1] * x + 2 * x * x * y_,
                (0, 1, 1): moment[1, 2] - moment[0, 2] * x - 2 * moment[1, 1] * y_ + 2 * x * y_ * y_,
                (0, 0, 0): moment[3, 0] - 3 * moment[2, 0] * x + 2 * x**3,
                (1, 1, 1): moment[0, 3] - 3 * moment[0, 2] * y_ + 2 * y_**3}
        scale = {2: float(moment[2, 0] - x * x), 3: max(abs(float(reference[k])) for k in reference if len(k) == 3)}
        for index, value in reference.items():
            computed = y.cov[index] if len(index) == 2 else third[index]
            error = abs(computed - float(value)) / scale[len(index)]
            worst = max(worst, error)
            assert error < 1e-12, (rho, index, computed, float(value))
    print(f"\n{representation}: largest error {worst:.1e} of the order's scale")


@pytest.mark.parametrize("h_a, h_b, rho", [(2.536, -3.128, -0.98444), (0.3, 0.3, 0.999), (1.5, 1.2, 0.9999)])
def test_joint_vertices_near_correlation_one_as_printed_match_50_digits(h_a, h_b, rho):
    # a joint vertex as the kernels print it (substituted after the diagram form is expanded, docs/theory.md
    # section 11.2) against its standardized closed form at 50 digits; expanded with the diagram form, its terms'
    # powers of 1/(1 - rho^2) cancelled: 1.5e-3 of G2x1d0x6 at the first point, 190 at the second, NaN at the third
    import scipy.constants
    import scipy.special

    from symcorr.codegen.printer import _formula_statements
    from symcorr.derivation.families import piecewise_linear as family
    from symcorr.notation.symbols import joint_vertex_symbol

    expression = activations.relu().expression
    s_a, s_b = 0.279, 0.388
    floats = {MU_A: h_a * s_a, MU_B: h_b * s_b, V_A: s_a**2, V_B: s_b**2, C: rho * s_a * s_b}
    exact = {symbol: sp.Float(repr(value), 60) for symbol, value in floats.items()}
    root_a, root_b = sp.sqrt(exact[V_A]), sp.sqrt(exact[V_B])
    standardized = {family._H_A: exact[MU_A] / root_a, family._H_B: exact[MU_B] / root_b,
                    family._RHO: exact[C] / (root_a * root_b), family._S_A: root_a, family._S_B: root_b}
    for p, q, n, m in [(2, 1, 0, 6), (1, 2, 3, 3), (2, 2, 0, 4), (2, 1, 2, 2), (3, 1, 0, 3)]:
        value = PIECEWISE_LINEAR.substitute_vertices(activations.relu(), joint_vertex_symbol("ij", (p, q), (n, m)))
        arguments = sorted(value.free_symbols, key=lambda s: s.name)
        lines = [f"def vertex({', '.join(a.name for a in arguments)}):"]
        lines += [f"    return {source}" if target is None else f"    {target} = {source}"
                  for target, source in _formula_statements(value, KernelPrinter())]
        namespace = {"numpy": np, "scipy": scipy, "_support": runtime}
        exec("\n".join(lines), namespace)
        printed = namespace["vertex"](*(floats[a] for a in arguments))
        k, _ = family._standard_factor(expression, p, n, family._Y_A, family._STEP_A, family._DELTA_A, family._S_A)
        l, _ = family._standard_factor(expression, q, m, family._Y_B, family._STEP_B, family._DELTA_B, family._S_B)
        closed = family._h_derivative(family._standard_pair_expectation, (expression, p, q, k, l), n - k, m - l)
        reference = float((closed.xreplace(standardized) / (root_a**n * root_b**m)).evalf(50))
        assert abs(printed - reference) < 1e-10 * abs(reference), ((p, q, n, m), printed, reference)
