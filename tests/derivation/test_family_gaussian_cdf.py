"""The Gaussian CDF (probit) and GELU (docs/theory.md section 11).

References: mpmath at raised precision (tests/references.py, the inner conditional mean in its
textbook closed form), erf's own covariance (probit = erf rescaled), the Owen's-T forms of the
closed forms, numpy sampling with standard errors, and the mixture error scaling.
"""
import itertools

import mpmath
import numpy as np
import pytest
import sympy as sp
from family_checks import assert_closure_4_corrects, assert_matches_sampling, gauss_hermite_truth, mixture_errors
from references import mp_mean, mp_pair_covariance

from symcorr import activations, derive
from symcorr.codegen import runtime
from symcorr.codegen.printer import KernelPrinter
from symcorr.derivation.families.erf_functions import ErfGaussianCovariance
from symcorr.derivation.families.gaussian_cdf import GAUSSIAN_CDF, gaussian_covariance, gaussian_power, \
    named_functions
from symcorr.derivation.families.gaussian_functions import BivariateNormalCDF, NormalCDF, OwensT
from symcorr.notation.symbols import Z, cumulant_symbol

MU_A, MU_B, V_A, V_B, C = (cumulant_symbol(k) for k in ("i", "j", "ii", "jj", "ij"))
NAMESPACE = [{"_support": runtime}, "scipy", "numpy"]


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))


def numeric(expression, symbols=(MU_A, MU_B, V_A, V_B, C)):
    return sp.lambdify(symbols, expression, modules=NAMESPACE, printer=KernelPrinter)


def mp_probit():
    return (lambda z: mpmath.ncdf(z)), (lambda m, w: mpmath.ncdf(m / mpmath.sqrt(1 + w)))


def mp_gelu():
    def inner(m, w):
        s = mpmath.sqrt(1 + w)
        return m * mpmath.ncdf(m / s) + w / s * mpmath.npdf(m / s)
    return (lambda z: z * mpmath.ncdf(z)), inner


FAMILY = {"probit": (mp_probit, runtime.probit_gaussian_mean, runtime.probit_gaussian_covariance),
          "gelu": (mp_gelu, runtime.gelu_gaussian_mean, runtime.gelu_gaussian_covariance)}
MEANS = [0.0, 0.3, -1.5, 8.0, -40.0]
VARIANCES = [0.0, 1e-4, 0.5, 2.0, 100.0]
CORRELATIONS = [0.0, 0.3, -0.9, 0.999999, -1.0]


def _points(limit, seed=2):
    points = list(itertools.product(MEANS, MEANS, VARIANCES, VARIANCES, CORRELATIONS))
    if limit is None:
        return points
    rng = np.random.default_rng(seed)
    return [points[t] for t in sorted(rng.choice(len(points), limit, replace=False))] + [
        (0.4, 0.4, 1.3, 1.3, 1.0), (-2.0, -2.0, 100.0, 100.0, 1.0), (0.0, 0.0, 0.0, 0.0, 0.0)]


def _check(name, points):
    mp_functions, mean, covariance = FAMILY[name]
    phi, inner = mp_functions()
    worst_mean = worst_cov = 0.0
    for m_a, m_b, v_a, v_b, r in points:
        c = r * np.sqrt(v_a * v_b)
        scale = 1.0 if name == "probit" else np.sqrt((1 + v_a) * (1 + v_b))
        reference = mp_pair_covariance(phi, m_a, m_b, v_a, v_b, c, inner=inner, dps=25) if v_a * v_b else 0
        error = abs(float(covariance(m_a, m_b, v_a, v_b, c)) - float(reference)) / scale
        worst_cov = max(worst_cov, error)
        assert error < 1e-12, ((m_a, m_b, v_a, v_b, r), error)
        with mpmath.workdps(25):
            reference = inner(mpmath.mpf(m_a), mpmath.mpf(v_a))
        error = abs(float(mean(m_a, v_a)) - float(reference)) / (1.0 if name == "probit" else np.sqrt(1 + v_a))
        worst_mean = max(worst_mean, error)
        assert error < 1e-12, (m_a, v_a)
    print(f"\n{name}: max error mean {worst_mean:.1e}, covariance {worst_cov:.1e} (scaled) over {len(points)} points")


@pytest.mark.parametrize("name", ["probit", "gelu"])
def test_mean_and_covariance_match_mpmath(name):
    _check(name, _points(24))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["probit", "gelu"])
def test_full_grid_against_mpmath(name):
    _check(name, _points(None))


def test_probit_is_erf_rescaled():
    # Phi(z) = (1 + erf(z / sqrt2)) / 2: the covariance is erf's at (mu, v, c) / (sqrt2, 2, 2), over 4
    rng = np.random.default_rng(5)
    mu_a, mu_b = rng.normal(size=(2, 50)) * 2
    v_a, v_b = rng.exponential(size=(2, 50)) * 3
    c = rng.uniform(-1, 1, 50) * np.sqrt(v_a * v_b)
    erf = runtime.erf_gaussian_covariance(mu_a / np.sqrt(2), mu_b / np.sqrt(2), v_a / 2, v_b / 2, c / 2) / 4
    assert np.max(np.abs(runtime.probit_gaussian_covariance(mu_a, mu_b, v_a, v_b, c) - erf)) < 1e-16
    closed = gaussian_covariance("probit", MU_A, MU_B, V_A, V_B, C)
    rescaled = ErfGaussianCovariance(MU_A / sp.sqrt(2), MU_B / sp.sqrt(2), V_A / 2, V_B / 2, C / 2) / 4
    point = {MU_A: sp.Rational(3, 10), MU_B: sp.Rational(-1, 2), V_A: sp.Rational(6, 5), V_B: sp.Rational(7, 10),
             C: sp.Rational(2, 5)}
    assert abs(float((closed - rescaled).xreplace(point).evalf(30))) < 1e-25


@pytest.mark.parametrize("name", ["probit", "gelu"])
def test_closed_forms_equal_their_owens_t_forms_and_the_runtime(name):
    closed = gaussian_covariance(name, MU_A, MU_B, V_A, V_B, C)
    assert closed.has(BivariateNormalCDF)
    owen = closed.replace(BivariateNormalCDF, lambda x, y, r: BivariateNormalCDF(x, y, r).rewrite(OwensT))
    assert owen.has(OwensT) and not owen.has(BivariateNormalCDF)
    f, g = numeric(closed), numeric(owen)
    _, _, covariance = FAMILY[name]
    for point in [(0.3, -0.5, 1.2, 0.7, 0.4), (-1.1, 0.4, 0.3, 2.0, -0.6), (2.0, 1.5, 5.0, 5.0, 4.9)]:
        value = covariance(*point)
        assert abs(f(*point) - value) < 1e-14 and abs(g(*point) - value) < 1e-14, point


@pytest.mark.parametrize("name, n, m", [("gelu", 1, 0), ("gelu", 1, 1), pytest.param("probit", 2, 1, marks=pytest.mark.slow),
                                        pytest.param("gelu", 3, 0, marks=pytest.mark.slow),
                                        pytest.param("gelu", 2, 2, marks=pytest.mark.slow)])
def test_covariance_derivatives_match_mpmath(name, n, m):
    point = (0.3, -0.5, 1.2, 0.7, 0.4)
    phi, inner = FAMILY[name][0]()
    formula = numeric(gaussian_covariance(name, MU_A, MU_B, V_A, V_B, C, n, m))
    with mpmath.workdps(20):
        reference = mpmath.diff(lambda x, y: mp_pair_covariance(phi, x, y, *point[2:], inner=inner, dps=20),
                                (mpmath.mpf(point[0]), mpmath.mpf(point[1])), (n, m))
    assert abs(formula(*point) - float(reference)) < 1e-12 * max(1, abs(float(reference))), (n, m)


@pytest.mark.parametrize("name", ["probit", "gelu"])
def test_power_vertices_match_mpmath(name):
    phi, _ = FAMILY[name][0]()
    mu, v = sp.symbols("mu v", positive=True)
    for p, n in [(1, 0), (1, 3), (2, 0), (2, 2)]:
        f = sp.lambdify((mu, v), gaussian_power(name, p, mu, v, n), modules=NAMESPACE, printer=KernelPrinter)
        with mpmath.workdps(20):
            reference = mpmath.diff(lambda x: mp_mean(lambda z: phi(z) ** p, x, 0.8, dps=20), mpmath.mpf("0.35"), n)
        assert abs(f(0.35, 0.8) - float(reference)) < 1e-13 * max(1, abs(float(reference))), (p, n)


def test_constructors_recognition_and_refusals():
    z = sp.Symbol("z")
    assert activations.gelu().expression == Z * NormalCDF(Z) and activations.probit().expression == NormalCDF(Z)
    assert activations.from_expression(z * (1 + sp.erf(z / sp.sqrt(2))) / 2) == activations.gelu()
    assert activations.from_expression("(1 + erf(z/sqrt(2)))/2") == activations.probit()
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        activations.gelu(approximate="exact")
    # E[gelu^3] has no closed form: a numerical vertex (the smooth family's), the rest as before
    assert "smooth_vertex('gelu', 3, 0, mu_i, Sigma_ii)" in KernelPrinter().doprint(derive(activations.gelu(), 3, 2,
                                                                                           series_order=1).formula("iii"))
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(activations.gelu()(x), x * (1 + np.vectorize(mpmath.erf)(x / np.sqrt(2)).astype(float)) / 2,
                               rtol=1e-15)
    assert GAUSSIAN_CDF.numerical_tolerance is None and GAUSSIAN_CDF.input_orders_needed(activations.gelu(), 2) is None


def test_derive_prints_the_runtime_calls():
    derivation = derive(activations.gelu(), 2, 2)
    assert KernelPrinter().doprint(derivation.formula("ij")) == \
        "_support.gelu_gaussian_covariance(mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij)"
    assert KernelPrinter().doprint(derivation.formula("i")) == "_support.gelu_gaussian_mean(mu_i, Sigma_ii)"
    mean, _ = named_functions("probit")
    assert sp.latex(mean(MU_A, V_A)) == r"E_{\mathrm{probit}}\left(\mu_{i}, \Sigma_{ii}\right)"


@pytest.mark.parametrize("name", ["probit", "gelu"])
def test_pointwise_against_sampling(name):
    assert_matches_sampling(activations.get(name), seed=4)


def test_closure_4_corrects_a_mixture_of_gelu_inputs():
    # the GELU of a Gaussian is smooth: 80-node Gauss-Hermite gives the mixture's truth
    assert_closure_4_corrects(mixture_errors(activations.gelu(), gauss_hermite_truth(activations.gelu())))
