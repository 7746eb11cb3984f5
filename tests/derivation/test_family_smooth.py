"""The smooth activations with numerical vertex functions: tanh, sigmoid, SiLU, softplus, GELU-tanh
(docs/theory.md section 11; symcorr.codegen.runtime.smooth).

References: mpmath at raised precision (Taylor coefficients by mpmath.diff, Gaussian expectations by
adaptive quadrature split where phi varies, pairs by conditioning, tests/references.py), numpy sampling
with standard errors, and the mixture error scaling. The stated tolerance is 1e-12 of the scale.
"""
import functools
import itertools
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from family_checks import assert_closure_4_corrects, assert_matches_sampling, gauss_hermite_truth, mixture_errors
from references import mp_pair_covariance, quad_expectation, quad_pair_covariance

from symcorr import activations, derive
from symcorr.codegen.printer import KernelPrinter
from symcorr.codegen.runtime import smooth as runtime
from symcorr.derivation.families.smooth import SMOOTH, covariance_function, vertex_function

NAMES = ["tanh", "sigmoid", "silu", "softplus", "gelu_tanh", "elu"]
PARAMETERS = {"softplus": (1.5,), "elu": (0.7,)}
CONSTRUCTOR_ARGUMENTS = {"softplus": {"beta": 1.5}, "elu": {"alpha": 0.7}}
MP_PHI = {
    "tanh": lambda z: mpmath.tanh(z),
    "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
    "silu": lambda z: z / (1 + mpmath.exp(-z)),
    "softplus": lambda z: mpmath.log(1 + mpmath.exp(1.5 * z)) / 1.5,
    "gelu_tanh": lambda z: z / 2 * (1 + mpmath.tanh(mpmath.sqrt(2 / mpmath.pi) * (z + mpmath.mpf("0.044715") * z**3))),
    "elu": lambda z: z if z > 0 else mpmath.mpf("0.7") * mpmath.expm1(z),
}  # for the Taylor coefficients (mpmath.diff) and one high-precision pair


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))


#: Where each phi varies (the quadrature references split there).
FEATURE = (-20.0, -5.0, -1.0, 0.0, 1.0, 5.0, 20.0)
_Z = sp.Symbol("z", real=True)


#: phi in forms whose SymPy derivatives evaluate without overflow in double precision (through tanh)
_SAFE = {
    "tanh": sp.tanh(_Z),
    "sigmoid": (1 + sp.tanh(_Z / 2)) / 2,
    "silu": _Z * (1 + sp.tanh(_Z / 2)) / 2,
    "softplus": _Z / 2 + sp.log(2 * sp.cosh(sp.Rational(3, 4) * _Z)) / sp.Rational(3, 2),    # beta = 1.5
    "gelu_tanh": _Z / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (_Z + sp.Rational(44715, 1000000) * _Z**3))),
    "elu": sp.Piecewise((_Z, _Z > 0), (sp.Rational(7, 10) * (sp.exp(_Z) - 1), True)),     # alpha = 0.7
}
#: Variances probed (softplus' log cosh overflows beyond |z| ~ 900: its grid stops at v = 100).
VARIANCES = {"softplus": [0.0, 1e-4, 0.3, 4.0, 100.0]}


@functools.lru_cache(maxsize=None)
def _symbolic(name, p, n):
    """F^(n) of F = phi^p as a NumPy function, by SymPy's differentiation (independent of the runtime's series);
    made once per (name, p, n): SymPy's derivative and lambdify were most of the time of the tests that use it."""
    return sp.lambdify(_Z, sp.diff(_SAFE[name] ** p, _Z, n), modules="numpy", cse=True)


def _reference_vertex(name, p, n, mu, v):
    r""":math:`\partial^n_\mu E[F]` by scipy's adaptive quadrature: :math:`E[F^{(n)}]` with SymPy's derivative, or, for
    ELU (whose pointwise derivatives miss the delta of its kink), the derivative on the Gaussian,
    :math:`v^{-n/2}E[F\,He_n(x)]`, split at the kink."""
    if name != "elu" or n == 0 or v == 0:
        return quad_expectation(_symbolic(name, p, n), mu, v, FEATURE)
    s, values, hermite = np.sqrt(v), _symbolic(name, p, 0), np.polynomial.hermite_e.HermiteE.basis(n)
    return quad_expectation(lambda z: values(z) * hermite((z - mu) / s), mu, v, FEATURE) / s**n


@pytest.mark.parametrize("name", NAMES)
def test_taylor_coefficients_match_mpmath(name):
    parameters = PARAMETERS.get(name, ())
    z = np.array([-7.0, -1.3, 0.0, 0.4, 2.2, 15.0]) if name != "elu" else np.array([-7.0, -1.3, -0.2, 0.4, 2.2])
    coefficients = runtime.taylor(name, 2, z, 8, parameters)
    with mpmath.workdps(30):
        for t, point in enumerate(z):
            for k in range(9):
                reference = mpmath.diff(lambda x: MP_PHI[name](x) ** 2, point, k) / math.factorial(k)
                assert abs(coefficients[k, t] - float(reference)) < 1e-13 * max(1, abs(float(reference))), (point, k)


@pytest.mark.parametrize("name", NAMES)
def test_vertex_functions_match_adaptive_quadrature(name):
    # reference: E[F^(n)(z)] with F^(n) from SymPy and scipy's adaptive quadrature split where phi varies
    parameters = PARAMETERS.get(name, ())
    worst = 0.0
    for p, n in itertools.product([1, 2], [0, 1, 4]):
        for mu, v in itertools.product([0.0, 0.3, -2.0, 8.0], VARIANCES.get(name, [0.0, 1e-4, 0.3, 4.0, 100.0, 1e4])):
            if name == "elu" and v == 0 and mu == 0 and n:
                continue                        # the kink itself: the one-sided derivative (documented)
            value = float(runtime.smooth_vertex(name, p, n, mu, v, *parameters))
            reference = _reference_vertex(name, p, n, mu, v)
            scale = max(1.0, abs(reference), abs(mu) ** p) * (max(1.0, v ** (-n / 2)) if v else 1.0)
            worst = max(worst, abs(value - reference) / scale)
            assert abs(value - reference) <= runtime.TOLERANCE * scale, (mu, v, p, n, value, reference)
    print(f"\n{name}: vertex functions, max scaled error {worst:.1e}")


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_vertex_functions_match_mpmath(name):
    # mpmath at 20 digits: the derivative on the Gaussian (Hermite weight), split where phi varies
    worst = 0.0
    for mu, v, p, n in [(0.3, 0.5, 1, 0), (-2.0, 4.0, 2, 1), (8.0, 100.0, 1, 2), (0.0, 1e4, 2, 0), (0.7, 0.01, 1, 3)]:
        with mpmath.workdps(20):
            s = mpmath.sqrt(v)
            points = sorted({-14, 0, 14} | {x for x in ((z - mu) / s for z in (-20, -2, 0, 2, 20)) if abs(x) < 14})
            reference = mpmath.quad(lambda x: MP_PHI[name](mu + s * x) ** p * mpmath.hermite(n, x / mpmath.sqrt(2))
                                    / mpmath.sqrt(2) ** n * mpmath.npdf(x), points) / s**n
        value = float(runtime.smooth_vertex(name, p, n, mu, v))
        scale = max(1.0, v ** (-n / 2))
        worst = max(worst, abs(value - float(reference)) / scale)
        assert abs(value - float(reference)) <= runtime.TOLERANCE * scale, (mu, v, p, n)
    print(f"\n{name}: vertex functions against mpmath, max scaled error {worst:.1e}")


PAIRS = [(0.3, -0.5, 1.2, 0.7, 0.4), (1.0, 0.2, 4.0, 9.0, 0.99), (0.2, -0.1, 25.0, 16.0, 0.999),
         (-2.0, 8.0, 0.5, 100.0, -0.6), (0.4, 0.4, 1.3, 1.3, 1.0), (0.3, 0.9, 2.0, 0.5, 1.0), (0.5, 0.1, 0.0, 3.0, 0.0),
         (30.0, -0.2, 1.0, 1.0, 0.3)]


@pytest.mark.parametrize("name", NAMES)
def test_covariances_match_adaptive_quadrature(name):
    # weak, strong (the conditional fallback), |rho| = 1, zero variance, large mean, large variance
    parameters = PARAMETERS.get(name, ())
    phi = _symbolic(name, 1, 0) if name != "elu" else (lambda z: z if z > 0 else 0.7 * math.expm1(z))
    worst = 0.0
    for m_a, m_b, v_a, v_b, r in PAIRS:
        c = r * np.sqrt(v_a * v_b)
        value = float(runtime.smooth_covariance(name, 0, 0, m_a, m_b, v_a, v_b, c, *parameters))
        reference = quad_pair_covariance(phi, phi, m_a, m_b, v_a, v_b, c, FEATURE)
        scale = max(1.0, abs(m_a), abs(m_b)) ** (1 if name in ("tanh", "sigmoid") else 2)
        worst = max(worst, abs(value - reference) / scale)
        assert abs(value - reference) <= runtime.TOLERANCE * scale, ((m_a, m_b, v_a, v_b, r), value, reference)
    print(f"\n{name}: covariances, max scaled error {worst:.1e}")


@pytest.mark.slow
def test_a_covariance_matches_mpmath_at_raised_precision():
    point = (0.2, -0.1, 25.0, 16.0, 0.999 * 20.0)

    def inner(m, w):
        s = mpmath.sqrt(w)
        points = sorted({-14, 0, 14} | {x for x in ((z - m) / s for z in (-20, 0, 20)) if abs(x) < 14})
        return mpmath.quad(lambda x: mpmath.tanh(m + s * x) * mpmath.npdf(x), points) if w else mpmath.tanh(m)
    reference = mp_pair_covariance(mpmath.tanh, *point, inner=inner, kinks=(-20, 0, 20), dps=20)
    assert abs(float(runtime.smooth_covariance("tanh", 0, 0, *point)) - float(reference)) < 1e-13


@pytest.mark.parametrize("n, m", [(1, 0), (1, 1), (2, 1), (0, 4)])
def test_covariance_derivatives_match_adaptive_quadrature(n, m):
    # E[F^(n)(z_a) F^(m)(z_b)] - g^(n) g^(m), the derivatives by SymPy, the pair by nested quadrature
    for point in [(0.3, -0.5, 1.2, 0.7, 0.6), (1.0, -0.3, 4.0, 2.0, 0.95)]:
        c = point[4] * np.sqrt(point[2] * point[3])
        value = float(runtime.smooth_covariance("tanh", n, m, *point[:4], c))
        reference = quad_pair_covariance(_symbolic("tanh", 1, n), _symbolic("tanh", 1, m), *point[:4], c, FEATURE)
        assert abs(value - reference) < runtime.TOLERANCE * max(1.0, abs(reference)), (n, m, point, value, reference)


def test_mehler_series_and_its_fallback_agree_where_both_apply():
    # a moderately correlated pair: the Mehler series converges (bound below tolerance); the conditional
    # quadrature, forced, gives the same number
    mu_a, mu_b, v_a, v_b, rho = 0.3, -0.5, 1.2, 0.7, 0.5
    series = float(runtime.smooth_covariance("tanh", 0, 0, mu_a, mu_b, v_a, v_b, rho * np.sqrt(v_a * v_b)))
    conditional = runtime._conditional("tanh", 0, 0, mu_a, np.sqrt(v_a), mu_b, np.sqrt(v_b), rho, ())
    assert abs(series - conditional) < 1e-14


def test_kernel_grid_equals_elementwise_and_is_symmetric():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(12, 3))
    cov = a @ a.T + 0.05 * np.eye(12)
    mean = rng.normal(size=12)
    v = np.diag(cov)
    grid = runtime.smooth_covariance("silu", 0, 0, mean[:, None], mean[None, :], v[:, None], v[None, :], cov)
    flat = runtime.smooth_covariance("silu", 0, 0, *np.broadcast_arrays(mean[:, None], mean[None, :], v[:, None],
                                                                       v[None, :]), cov.copy())
    assert np.array_equal(grid, grid.T) and np.max(np.abs(grid - flat)) < 1e-14


def test_family_states_its_tolerance_and_prints_numerical_calls():
    assert SMOOTH.numerical_tolerance == runtime.TOLERANCE == 1e-12
    assert SMOOTH.input_orders_needed(activations.tanh(), 2) is None
    derivation = derive(activations.softplus(2.0), 2, 2)
    assert "Numerical, not exact" in SMOOTH.accuracy(derivation)
    printer = KernelPrinter()
    assert printer.doprint(derivation.formula("ij")) == \
        "_support.smooth_covariance('softplus', 0, 0, mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij, beta)"
    assert printer.doprint(derivation.formula("i")) == "_support.smooth_vertex('softplus', 1, 0, mu_i, Sigma_ii, beta)"
    mu, v = sp.symbols("mu v", real=True)
    vertex = vertex_function("tanh", 0)(2, 1, mu, v)
    assert sp.diff(vertex, mu) == vertex_function("tanh", 0)(2, 2, mu, v)
    assert sp.diff(vertex, v) == vertex_function("tanh", 0)(2, 3, mu, v) / 2
    assert sp.latex(covariance_function("tanh", 0)(1, 0, *sp.symbols("a b c d e")))


def test_elu_refuses_what_its_kink_prevents():
    with pytest.raises(ValueError, match="closure 2"):
        derive(activations.elu(0.7), 2, 4)
    with pytest.raises(ValueError, match="derivative orders"):
        runtime.smooth_covariance("elu", 1, 1, 0.3, 0.3, 1.0, 1.0, 1.0, 0.7)
    np.testing.assert_array_equal(activations.elu(0.5)(np.array([-1e4, 0.0, 2.0])), [-0.5, 0.0, 2.0])


def test_constructors_and_recognition():
    assert activations.gelu(approximate="tanh") == activations.gelu_tanh()
    assert activations.from_expression(sp.tanh(sp.Symbol("z"))) == activations.tanh()
    assert activations.from_expression(sp.log(1 + sp.exp(sp.Symbol("z")))) == activations.softplus(1.0)
    with pytest.raises(ValueError, match="beta > 0"):
        activations.softplus(0.0)
    z = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(activations.softplus(2.0)(z), np.logaddexp(0, 2 * z) / 2, rtol=1e-15)
    np.testing.assert_allclose(activations.silu()(z), z / (1 + np.exp(-z)), rtol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_pointwise_against_sampling(name):
    assert_matches_sampling(activations.get(name, **CONSTRUCTOR_ARGUMENTS.get(name, {})), seed=6)


def test_closure_4_corrects_a_mixture_of_tanh_inputs():
    assert_closure_4_corrects(mixture_errors(activations.tanh(), gauss_hermite_truth(activations.tanh())))
