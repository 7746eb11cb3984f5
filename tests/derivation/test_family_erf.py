"""erf vertex functions (issue 3, item 1; docs/theory.md sections 4 and 6) and the engine's joint reference.

References: mpmath at raised precision (quadrature with the derivatives moved
onto the Gaussian, numerical differentiation of the mpmath covariance),
scipy.special.owens_t, closed forms checked against each other by two
different symbolic routes, and the brute-force polynomial reference.
"""
import itertools

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy.special import erf, owens_t

from symcorr.codegen import runtime
from symcorr.codegen.printer import KernelPrinter
from symcorr.codegen.runtime import erf_power_moment
from symcorr.derivation import activations
from symcorr.derivation.brute_force import brute_force_formula
from symcorr.derivation.engine import derive, resolve_reference
from symcorr.derivation.families.erf import erf_covariance_derivative, erf_mean_derivative, erf_power_expectation
from symcorr.derivation.families.erf_functions import (
    PRINTED_FUNCTIONS,
    ErfGaussianCovariance,
    ErfGaussianMoment,
    ErfPowerMoment,
    mp_erf_gaussian_covariance,
    mp_erf_power_moment,
)
from symcorr.derivation.families.gaussian_functions import ExpNeg, OwensT
from symcorr.derivation.families.erf import ERF
from symcorr.notation.symbols import (
    cumulant_symbol,
    joint_vertex_symbol,
    parse_joint_vertex_symbol,
    parse_vertex_symbol,
    vertex_symbol,
)
from symcorr.numeric.erf_gaussian import price_series_covariance

MU_A, MU_B, V_A, V_B, C = (cumulant_symbol(k) for k in ("i", "j", "ii", "jj", "ij"))
NAMESPACE = [{"_support": runtime}, "scipy", "numpy"]


def numeric(expression, symbols=(MU_A, MU_B, V_A, V_B, C)):
    """The expression as a NumPy function, printed the way kernels print it."""
    return sp.lambdify(symbols, expression, modules=NAMESPACE, printer=KernelPrinter)


# -- printing -------------------------------------------------------------------

def test_custom_functions_print_to_scipy_and_the_support_module():
    printer = KernelPrinter()
    h, a = sp.symbols("h a", real=True)
    assert printer.doprint(OwensT(h, a)) == "scipy.special.owens_t(h, a)"
    assert printer.doprint(ErfGaussianCovariance(MU_A, MU_B, V_A, V_B, C)) == \
        "_support.erf_gaussian_covariance(mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij)"
    assert printer.doprint(ErfPowerMoment(3, 2, MU_A, V_A)) == "_support.erf_power_moment(3, 2, mu_i, Sigma_ii)"
    assert printer.doprint(ExpNeg(MU_A**2)) == "numpy.exp(-(mu_i**2))"
    moment = ErfGaussianMoment(sp.Tuple(2, 1), sp.Tuple(MU_A, MU_B), sp.Tuple(V_A, V_B), sp.Tuple(C))
    assert printer.doprint(moment) == \
        "_support.erf_gaussian_moment((2, 1), (mu_i, mu_j,), (Sigma_ii, Sigma_jj,), (Sigma_ij,))"
    assert set(PRINTED_FUNCTIONS) == {OwensT, ErfGaussianCovariance, ErfPowerMoment, ErfGaussianMoment, ExpNeg}
    for function in PRINTED_FUNCTIONS:          # LaTeX for the formula sheets
        if function is ErfGaussianMoment:
            assert sp.latex(moment) == r"E_{\mathrm{erf}}^{(2,1)}\left(\mu_{i},\mu_{j}\right)"
            continue
        assert sp.latex(function(*([sp.Integer(3)] * function.nargs.args[0])) if function is ErfPowerMoment
                        else function(*sp.symbols(f"x0:{function.nargs.args[0]}")))


# -- Owen's T -------------------------------------------------------------------

def test_owens_t_values_and_derivatives():
    h, a = sp.symbols("h a", real=True)
    f = numeric(OwensT(h, a), (h, a))
    points = [(0.3, 0.7), (-1.2, 2.5), (2.0, -0.4), (0.0, 3.0)]
    for hv, av in points:
        assert abs(f(hv, av) - owens_t(hv, av)) < 1e-16
        assert abs(float(OwensT(sp.Float(hv), sp.Float(av)).evalf(30)) - owens_t(hv, av)) < 1e-15
        with mpmath.workdps(30):
            def t(x, y):
                return mpmath.quad(lambda s: mpmath.exp(-x**2 * (1 + s**2) / 2) / (1 + s**2), [0, y]) / (2 * mpmath.pi)
            d_h = mpmath.diff(lambda x: t(x, av), hv)
            d_a = mpmath.diff(lambda y: t(hv, y), av)
        assert abs(float(sp.diff(OwensT(h, a), h).subs({h: hv, a: av})) - float(d_h)) < 1e-14
        assert abs(float(sp.diff(OwensT(h, a), a).subs({h: hv, a: av})) - float(d_a)) < 1e-14
    assert OwensT(h, 0) == 0 and OwensT(0, a) == sp.atan(a) / (2 * sp.pi)


# -- the Gaussian covariance function -------------------------------------------

POINTS = [(0.3, -0.8, 0.7, 1.3, 0.4), (1.1, 0.9, 0.2, 0.5, -0.25), (-0.5, -1.5, 2.0, 0.8, 1.1),
          (0.0, 0.6, 0.4, 0.9, 0.3), (0.8, 0.8, 0.6, 0.6, 0.6)]


def test_covariance_rewrites_to_owens_t():
    rewritten = ErfGaussianCovariance(MU_A, MU_B, V_A, V_B, C).rewrite(OwensT)
    assert rewritten.has(OwensT) and not rewritten.has(ErfGaussianCovariance)
    f, g = numeric(rewritten), numeric(ErfGaussianCovariance(MU_A, MU_B, V_A, V_B, C))
    for point in POINTS[:3] + [(-0.4, 1.2, 0.5, 0.9, 0.3)]:    # h_a h_b > 0 and < 0
        assert abs(f(*point) - g(*point)) < 1e-15


def test_covariance_evaluates_at_zero_correlation_and_zero_means():
    assert ErfGaussianCovariance(MU_A, MU_B, V_A, V_B, 0) == 0
    value = ErfGaussianCovariance(0, 0, V_A, V_B, C)
    assert not value.has(ErfGaussianCovariance)      # the arcsin kernel
    assert abs(float(value.subs({V_A: 1, V_B: 2, C: 0.5})) - 2 / np.pi * np.arcsin(1 / np.sqrt(15))) < 1e-15


@pytest.mark.parametrize("argindex", [1, 2, 3, 4, 5])
def test_covariance_derivatives_match_mpmath(argindex):
    expression = ErfGaussianCovariance(MU_A, MU_B, V_A, V_B, C).fdiff(argindex)
    f = numeric(expression)
    for point in POINTS[:3]:
        def shifted(x):
            args = list(point)
            args[argindex - 1] = x
            return mp_erf_gaussian_covariance(*args, prec=mpmath.mp.prec + 20)   # diff raises the precision
        with mpmath.workprec(150):
            reference = float(mpmath.diff(shifted, mpmath.mpf(point[argindex - 1])))
        assert abs(f(*point) - reference) < 1e-14, (argindex, point)


@pytest.mark.parametrize("n, m", [(1, 0), (0, 2), (3, 0), (1, 1), (2, 1), (1, 3), (2, 2)])
def test_closed_form_derivatives_equal_sympy_differentiation(n, m):
    # two symbolic routes: the Hermite/Leibniz closed forms and SymPy's chain rule on the declared fdiff
    closed = numeric(erf_covariance_derivative(n, m, MU_A, MU_B, V_A, V_B, C))
    differentiated = numeric(sp.diff(ErfGaussianCovariance(MU_A, MU_B, V_A, V_B, C), MU_A, n, MU_B, m))
    for point in POINTS:
        assert abs(closed(*point) - differentiated(*point)) < 1e-13 * max(1.0, abs(differentiated(*point)))


def _mp_conditional_joint_moment(n, m, mu_a, mu_b, v, r):
    """E[erf^(n)(z_a) erf^(m)(z_b)], v_a = v_b = v, correlation r: condition on z_a, integrate in mpmath."""
    with mpmath.workdps(30):
        mu_a, mu_b, v, r = (mpmath.mpf(str(t)) for t in (mu_a, mu_b, v, r))
        slope, scale = r * mpmath.sqrt(v), mpmath.sqrt(1 + 2 * v * (1 - r * r))

        def erf_n(x, k):
            if k == 0:
                return mpmath.erf(x)
            return (-1) ** (k - 1) * 2 / mpmath.sqrt(mpmath.pi) * mpmath.hermite(k - 1, x) * mpmath.exp(-x * x)

        def integrand(x):
            inner = erf_n((mu_b + slope * x) / scale, m) / scale**m        # E[erf^(m)(z_b) | z_a], Hermite form
            return mpmath.npdf(x) * erf_n(mu_a + mpmath.sqrt(v) * x, n) * inner

        x0, x1 = -mu_a / mpmath.sqrt(v), -mu_b / slope
        width = 1 / mpmath.sqrt(v)
        points = sorted({-14, 14, x0, x0 - 6 * width, x0 + 6 * width, x1})
        return mpmath.quad(integrand, [p for p in points if -14 <= p <= 14])


@pytest.mark.parametrize("n, m, mu_a, mu_b, v, r", [
    (1, 0, 0.7, -1.1, 0.5, 0.3), (2, 0, -0.4, 0.9, 20.0, -0.9), (1, 1, 0.7, -1.1, 1e4, 0.3),
    (2, 2, 0.7, -1.1, 1e4, 0.3), (2, 1, 0.0, 0.3, 1e4, 0.999), (3, 2, 1.2, 0.5, 3.0, 0.8), (4, 0, 0.3, 0.2, 1e4, 0.99),
    (1, 3, -2.0, 0.3, 0.05, -0.5)])
def test_joint_vertex_derivatives_match_mpmath(n, m, mu_a, mu_b, v, r):
    # including large variance and near-degenerate pairs, against an independent conditional integral
    vertex = numeric(erf_covariance_derivative(n, m, MU_A, MU_B, V_A, V_B, C)
                     + erf_mean_derivative(n, MU_A, V_A) * erf_mean_derivative(m, MU_B, V_B))
    reference = float(_mp_conditional_joint_moment(n, m, mu_a, mu_b, v, r))
    assert abs(vertex(mu_a, mu_b, v, v, r * v) - reference) < 1e-13 * max(abs(reference), 1e-3 / v ** ((n + m) / 2))


@pytest.mark.slow
def test_first_closed_form_derivatives_match_mpmath():
    for (n, m), point in itertools.product([(1, 0), (2, 0), (1, 1), (2, 1)], POINTS[:2]):
        f = numeric(erf_covariance_derivative(n, m, MU_A, MU_B, V_A, V_B, C))
        with mpmath.workprec(200):
            reference = mpmath.diff(lambda x, y: mp_erf_gaussian_covariance(x, y, *point[2:], prec=mpmath.mp.prec + 20),
                                    (mpmath.mpf(point[0]), mpmath.mpf(point[1])), (n, m))
        assert abs(f(*point) - float(reference)) < 1e-13, (n, m, point)


# -- E[erf(z)^p] and its derivatives --------------------------------------------

def test_hermite_form_of_the_mean_derivatives():
    mu, v = sp.symbols("mu v", positive=True)
    for n in range(0, 7):
        f = sp.lambdify((mu, v), erf_mean_derivative(n, mu, v), modules=NAMESPACE, printer=KernelPrinter)
        for mv, vv in [(0.3, 0.5), (-1.4, 2.0), (0.0, 1e4)]:
            with mpmath.workdps(40):
                reference = mpmath.diff(lambda x: mpmath.erf(x / mpmath.sqrt(1 + 2 * mpmath.mpf(vv))), mv, n)
            assert abs(f(mv, vv) - float(reference)) < 1e-14 * max(1, abs(float(reference)))


def test_square_vertex_derivatives_match_mpmath():
    mu, v = sp.symbols("mu v", positive=True)
    for n in (0, 1, 2, 4):
        f = sp.lambdify((mu, v), erf_power_expectation(2, n, mu, v), modules=NAMESPACE, printer=KernelPrinter)
        for mv, vv in [(0.3, 0.5), (-1.4, 3.0), (0.0, 0.1)]:
            reference = float(mp_erf_power_moment(2, n, mv, vv, prec=80))
            assert abs(f(mv, vv) - reference) < 1e-13 * max(1, abs(reference)), (n, mv, vv)


def test_numeric_power_moment_reproduces_the_closed_forms():
    # p = 1 (Hermite form) and p = 2 (Owen's-T pair formula on the diagonal), every regime of v
    mu = np.array([0.0, 0.4, -1.7, 4.0, 12.0])[:, None]
    v = np.array([0.0, 1e-10, 1e-3, 0.2, 0.2000001, 1.0, 50.0, 1e4, 1e6])[None, :]
    mu_s, v_s = sp.symbols("mu v", nonnegative=True)
    for p, n in itertools.product((1, 2), (0, 1, 2, 3, 5)):
        closed = sp.lambdify((mu_s, v_s), erf_power_expectation(p, n, mu_s, v_s), modules=NAMESPACE,
                             printer=KernelPrinter)(mu, v)
        got = erf_power_moment(p, n, mu, v)
        scale = np.max(np.abs(closed), axis=0)       # the function's size at that variance
        assert np.all(np.abs(got - closed) <= 3e-13 * scale + 1e-300), (p, n)


POWER_CASES = [(3, 0, 0.4, 1e4), (3, 0, -0.3, 1e6), (4, 0, 0.0, 50.0), (3, 1, 0.3, 50.0), (3, 3, 0.4, 1e-8),
               (4, 2, 0.0, 1e-3), (3, 2, -1.7, 0.19), (3, 2, -1.7, 0.21), (4, 6, -1.7, 0.2), (3, 6, 4.0, 1.0),
               (4, 4, 2.5, 1e4), (3, 5, 0.7, 3.0), (4, 1, 12.0, 0.5), (3, 8, 0.4, 1.0), (4, 3, -0.2, 1e-10)]


@pytest.mark.parametrize("p, n, mu, v", POWER_CASES)
def test_numeric_power_moment_against_mpmath(p, n, mu, v):
    reference = float(mp_erf_power_moment(p, n, mu, v, prec=80))
    # the function's scale at this variance (largest |value| over a few means) sets the absolute tolerance
    scale = max(abs(float(erf_power_moment(p, n, m, v))) for m in (0.0, 0.5, -1.0, mu))
    assert abs(float(erf_power_moment(p, n, mu, v)) - reference) < 2e-13 * max(scale, abs(reference))


def test_fixed_gauss_hermite_fails_at_large_variance_where_the_numeric_rule_does_not():
    from symcorr.numeric.quadrature import hermite_rule

    mu, v = 0.3, 1e4
    reference = float(mp_erf_power_moment(3, 0, mu, v, prec=80))
    nodes, weights = hermite_rule(100)
    gauss_hermite = float(np.sum(weights * erf(mu + np.sqrt(v) * nodes) ** 3))
    assert abs(gauss_hermite - reference) > 1e-3          # nodes ~sqrt(v) apart: the transition is missed
    assert abs(float(erf_power_moment(3, 0, mu, v)) - reference) < 1e-15
    # derivatives too: the fixed rule has the wrong sign, the numeric rule is exact to rounding
    reference = float(mp_erf_power_moment(3, 2, mu, v, prec=80))
    x = nodes
    gauss_hermite = float(np.sum(weights * erf(mu + np.sqrt(v) * x) ** 3 * (x * x - 1))) / v
    assert abs(gauss_hermite / reference - 1) > 0.1
    assert abs(float(erf_power_moment(3, 2, mu, v)) / reference - 1) < 1e-12


def test_power_moment_refuses_bad_arguments():
    with pytest.raises(ValueError, match="power p"):
        erf_power_moment(0, 1, 0.0, 1.0)
    with pytest.raises(ValueError, match="derivative order"):
        erf_power_moment(3, -1, 0.0, 1.0)
    with pytest.raises(ValueError, match="negative"):
        erf_power_moment(3, 0, 0.0, -1.0)
    with pytest.raises(ValueError, match="non-finite"):
        erf_power_moment(3, 0, np.nan, 1.0)
    with pytest.raises(ValueError, match="non-negative integer"):
        ErfPowerMoment(sp.Rational(1, 2), 0, MU_A, V_A)


def test_power_moment_function_differentiates_by_raising_the_order():
    f = ErfPowerMoment(3, 1, MU_A, V_A)
    assert sp.diff(f, MU_A) == ErfPowerMoment(3, 2, MU_A, V_A)
    assert sp.diff(f, V_A) == ErfPowerMoment(3, 3, MU_A, V_A) / 2     # heat equation


# -- substitution and the engine ------------------------------------------------

def test_every_vertex_symbol_is_replaced():
    erf_activation = activations.erf()
    for out, closure, series in ((2, 4, 2), (4, 2, 2)):
        derivation = derive(erf_activation, out, closure, series_order=series)
        for pattern in derivation.patterns:
            formula = derivation.formula(pattern)
            for symbol in formula.free_symbols:
                assert parse_vertex_symbol(symbol) is None and parse_joint_vertex_symbol(symbol) is None
                assert symbol.name.split("_")[0] in ("mu", "Sigma", "kappa"), (pattern, symbol)


def test_a_family_without_vertex_functions_is_named():
    from symcorr.derivation.activation import Activation, ActivationFamily
    from symcorr.notation.symbols import Z

    class Unfinished(ActivationFamily):
        name = "tanh"

    tanh = Activation("tanh", sp.tanh(Z), Unfinished())
    with pytest.raises(NotImplementedError, match="tanh family defines no vertex functions"):
        derive(tanh, 1, 2, series_order=1)


def test_joint_vertex_symbols_round_trip():
    symbol = joint_vertex_symbol("ij", (1, 1), (3, 12))
    assert symbol.name == "G1x1d3x12_ij"
    assert parse_joint_vertex_symbol(symbol) == ("ij", (1, 1), (3, 12))
    assert parse_vertex_symbol(symbol) is None and parse_joint_vertex_symbol(vertex_symbol("i", 1, 2)) is None


def test_reference_resolution():
    erf_activation, quadratic = activations.erf(), activations.quadratic()
    patterns = ("i", "ii", "ij", "iij", "ijk", "iijj", "ijkl")
    # closure 2: every block is a joint vertex (numerical beyond two neurons / powers (1, 1))
    assert [resolve_reference(erf_activation, p, 2) for p in patterns] == ["joint"] * 7
    # beyond: only the closed-form ones, which have derivatives
    assert [resolve_reference(erf_activation, p, 3) for p in patterns] == \
        ["joint", "joint", "joint", "independent", "independent", "independent", "independent"]
    assert resolve_reference(quadratic, "ij", 4) == "independent"
    assert resolve_reference(quadratic, "iijj", 4, "joint") == "joint"
    with pytest.raises(ValueError, match="joint"):
        resolve_reference(erf_activation, "iij", 3, "joint")
    with pytest.raises(ValueError, match="joint"):
        resolve_reference(quadratic, "ijk", 3, "joint")
    with pytest.raises(ValueError, match="reference must be"):
        resolve_reference(erf_activation, "ij", 2, "resummed")


def test_joint_reference_equals_brute_force_for_polynomials():
    quadratic, cubic = activations.quadratic(), activations.cubic()
    for activation, closure in ((quadratic, 4), (cubic, 3)):
        derivation = derive(activation, 2, closure, reference="joint")
        assert derivation.key.endswith("|Rjoint")
        for pattern in derivation.patterns:
            assert sp.expand(derivation.formula(pattern) - brute_force_formula(activation, pattern, closure)) == 0
    # and the default for polynomials is unchanged
    assert derive(quadratic, 2, 2).key == "quadratic|" + sp.srepr(quadratic.expression) + "|out2|K2|SNone"


def test_erf_mean_and_covariance_at_closure_2_are_the_closed_forms():
    derivation = derive(activations.erf(), 2, 2)
    assert derivation.series_order is None
    assert derivation.formula("i") == sp.erf(MU_A / sp.sqrt(2 * V_A + 1))
    assert derivation.formula("ij") == ErfGaussianCovariance(MU_A, MU_B, V_A, V_B, C)
    assert derivation.formula("ii") == ErfGaussianCovariance(MU_A, MU_A, V_A, V_A, V_A)


def test_series_order_is_required_where_the_series_is_infinite():
    with pytest.raises(ValueError, match="series_order"):
        derive(activations.erf(), 3, 3)
    with pytest.raises(ValueError, match="series_order"):
        derive(activations.erf(), 2, 2, reference="independent")


@pytest.mark.parametrize("order", [1, 3, 6])
def test_independent_reference_is_the_price_series(order):
    derivation = derive(activations.erf(), 2, 2, series_order=order, reference="independent")
    f = numeric(derivation.formula("ij"))
    for point in POINTS[:4]:
        assert abs(f(*point) - float(price_series_covariance(*point, order))) < 1e-15


def test_non_gaussian_order_caps_the_cumulant_factors():
    erf_activation = activations.erf()
    capped = derive(erf_activation, 2, 4, series_order=3, non_gaussian_order=1)
    assert capped.key.endswith("|NG1")
    kappa = [cumulant_symbol(m) for m in ("iii", "iij", "ijj", "jjj", "iiii", "iiij", "iijj", "ijjj", "jjjj")]
    polynomial = sp.Poly(capped.diagram_form("ij"), *kappa)
    assert max(sum(monomial) for monomial in polynomial.monoms()) == 1
    default = derive(erf_activation, 2, 4, series_order=3)
    assert max(sum(m) for m in sp.Poly(default.diagram_form("ij"), *kappa).monoms()) == 2


def test_truncated_price_series_is_flagged_where_correlations_are_strong():
    family, erf = ERF, activations.erf()
    strong = np.array([[4.0, 3.8], [3.8, 4.0]])            # effective correlation 7.6 / 9 = 0.84
    weak = np.array([[0.5, 0.05], [0.05, 0.5]])             # 0.05
    message = family.truncation_warning(erf, 4, 4, 3, strong)
    assert "Price series to order 3" in message and "r = 0.84" in message and "5e-01" in message
    assert family.truncation_warning(erf, 4, 4, 3, weak) is None
    assert family.truncation_warning(erf, 4, 2, None, strong) is None       # closure 2: exact, nothing truncated
    assert family.truncation_warning(erf, 2, 4, 2, strong) is None          # orders 1..2: Gaussian part resummed
