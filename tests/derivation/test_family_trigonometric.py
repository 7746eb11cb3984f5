"""Sine and cosine (docs/theory.md section 11): exact at every order.

References: mpmath quadrature at raised precision (tests/references.py), Gauss-Hermite tensor
quadrature (converges fast for these entire functions at moderate variance), numpy sampling with
standard errors, and the mixture error scaling.
"""
import itertools

import mpmath
import numpy as np
import pytest
import sympy as sp
from builders import random_gaussian
from family_checks import assert_closure_4_corrects, assert_matches_sampling, gauss_hermite_truth, mixture_errors
from references import mp_pair_covariance

from symcorr import Cumulants, activations, derive, pointwise
from symcorr.codegen import runtime
from symcorr.codegen.printer import KernelPrinter
from symcorr.derivation.families.trigonometric import TRIGONOMETRIC, fourier_coefficients, gaussian_moment
from symcorr.notation.symbols import Z, cumulant_symbol
from symcorr.numeric.quadrature import quadrature_cumulants

MU_A, MU_B, V_A, V_B, C = (cumulant_symbol(k) for k in ("i", "j", "ii", "jj", "ij"))
NAMESPACE = [{"_support": runtime}, "scipy", "numpy"]
FUNCTIONS = {"sin": mpmath.sin, "cos": mpmath.cos}


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMCORR_CACHE", str(tmp_path))


def numeric(expression, symbols=(MU_A, MU_B, V_A, V_B, C)):
    return sp.lambdify(symbols, expression, modules=NAMESPACE, printer=KernelPrinter)


def test_fourier_coefficients_reproduce_the_powers():
    z = sp.Symbol("z", real=True)
    for name, function in (("sin", sp.sin), ("cos", sp.cos)):
        for p in range(1, 5):
            series = sum(c * sp.exp(sp.I * k * z) for k, c in fourier_coefficients(name, p).items())
            for value in (0.3, -1.7, 2.2):
                assert abs(complex(series.subs(z, value).evalf()) - float(function(value) ** p)) < 1e-14


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_mean_and_covariance_match_mpmath(name):
    phi = FUNCTIONS[name]
    mean = numeric(gaussian_moment(name, "i", (1,), (0,)), (MU_A, V_A))
    covariance = numeric(gaussian_moment(name, "ij", (1, 1), (0, 0), covariance_part=True))
    worst = 0.0
    points = list(itertools.product([0.0, 0.3, -2.5, 40.0], [0.7, -1.1], [0.0, 1e-4, 0.5, 6.0], [0.8],
                                    [0.0, 0.3, -0.999999, 1.0]))
    def inner(m, w):            # the one-dimensional Gaussian expectation, textbook: E[e^{iz}] = e^{im - w/2}
        return phi(m) * mpmath.exp(-w / 2)

    for m_a, m_b, v_a, v_b, r in points:
        c = r * np.sqrt(v_a * v_b)
        reference = mp_pair_covariance(phi, m_a, m_b, v_a, v_b, c, inner=inner, dps=20)
        worst = max(worst, abs(covariance(m_a, m_b, v_a, v_b, c) - float(reference)))
        with mpmath.workdps(20):
            reference_mean = mpmath.quad(lambda x: phi(m_a + mpmath.sqrt(v_a) * x) * mpmath.npdf(x), [-12, 0, 12]) \
                if v_a else phi(m_a)
        worst = max(worst, abs(mean(m_a, v_a) - float(reference_mean)))
    print(f"\n{name}: max error mean/covariance {worst:.1e} over {len(points)} points")
    assert worst < 1e-13


def test_tiny_covariances_keep_their_relative_accuracy():
    # expm1: Cov(sin z_a, sin z_b) for c = 1e-12 is accurate to rounding, not to 1e-16 absolute
    c = 1e-12
    value = numeric(gaussian_moment("sin", "ij", (1, 1), (0, 0), covariance_part=True))(0.3, -0.5, 1.0, 2.0, c)
    exact = c * np.cos(0.3) * np.cos(-0.5) * np.exp(-1.5)     # first order in c: c E[cos z_a] E[cos z_b]
    assert abs(value / exact - 1) < 1e-11


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_every_order_of_a_gaussian_is_exact(name):
    activation = activations.get(name)
    mean, cov = random_gaussian(3, seed=9)
    y = pointwise(Cumulants(mean, cov), activation, order=4)
    reference = quadrature_cumulants(activation, [1.0], [mean], [cov], order=4, n_nodes=40)
    for n in range(1, 5):
        scale = np.max(np.abs(reference.kappa(n)))
        assert np.max(np.abs(y.kappa(n) - reference.kappa(n))) < 1e-13 * max(scale, 1), n
    derivation = derive(activation, 4, 2)
    assert derivation.series_order is None and {p.reference for p in derivation.patterns.values()} == {"joint"}


def test_joint_vertex_derivatives_are_the_derivatives_of_the_moments():
    expression = gaussian_moment("cos", "ij", (2, 1), (0, 0))
    for n, m in [(1, 0), (2, 1), (0, 3)]:
        assert sp.simplify(sp.diff(expression, MU_A, n, MU_B, m) - gaussian_moment("cos", "ij", (2, 1), (n, m))) == 0


def test_constructors_and_recognition():
    assert activations.from_expression("sin(z)") == activations.sin() if "sin" in _parser_functions() else True
    assert activations.from_expression(sp.cos(sp.Symbol("z"))) == activations.cos()
    assert activations.sin().expression == sp.sin(Z) and TRIGONOMETRIC.numerical_tolerance is None
    assert TRIGONOMETRIC.input_orders_needed(activations.sin(), 2) is None


def _parser_functions():
    from symcorr.notation.parse import FUNCTIONS as parser_functions
    return parser_functions


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_pointwise_against_sampling(name):
    assert_matches_sampling(activations.get(name), seed=5)


def test_closure_4_corrects_a_mixture():
    assert_closure_4_corrects(mixture_errors(activations.sin(), gauss_hermite_truth(activations.sin(), 40)))
