r"""Piecewise-linear activations: ReLU, leaky ReLU, :math:`|z|`, Heaviside (docs/theory.md section 11).

Each is linear on either side of 0, :math:`\phi(z) = P_-(z) + (P_+(z) - P_-(z))\,H(z)`, so
:math:`\phi^p = P_-^p + (P_+^p - P_-^p) H(z)` and every Gaussian expectation the engine needs is a
polynomial times at most two steps: closed forms in :math:`\Phi`, :math:`\varphi` and the
bivariate normal :math:`\Phi_2` (:mod:`~symcorr.derivation.families.gaussian_expectations`), e.g.
for ReLU, :math:`s = \sqrt v`, :math:`h = \mu/s`,

.. math::

    E[\mathrm{relu}(z)] = \mu\Phi(h) + s\varphi(h), \qquad
    \partial_\mu E = \Phi(h), \qquad \partial^{n}_\mu E = s^{1-n}(-1)^{n} He_{n-2}(h)\varphi(h) \ (n \ge 2),

and the pair covariance (Price's theorem; zero means: the arc-cosine kernel
:math:`\frac{s_a s_b}{2\pi}(\sin\theta + (\pi - \theta)\cos\theta) - \frac{s_a s_b}{2\pi}`,
:math:`\cos\theta = \rho`)

.. math:: C_{ab} = c\,\Phi(h_a)\Phi(h_b) + s_a s_b \int_0^\rho (\rho - r)\varphi_2(h_a, h_b; r)\,dr .

The Gaussian part is resummed (:class:`~symcorr.derivation.families.resummed.ResummedGaussianFamily`):
mean and covariance of a Gaussian are exact (closed forms, accurate to rounding), and joint vertices
of two neurons exist for any powers, so output orders 3..4 are exact for patterns on at most two
distinct neurons; patterns on three or four (``ijk``, ``iijk``, ``ijkl``) use the Price series.
Kernels print the mean and covariance as calls to :mod:`symcorr.codegen.runtime.piecewise`
(zero variances, :math:`|\rho| = 1`); the mean-derivatives of closures >= 3 as closed forms,
valid for :math:`v > 0`, :math:`|\rho| < 1`.

Constructors: :func:`relu`, :func:`leaky_relu` (``slope``, torch's ``negative_slope``),
:func:`abs_` (``symcorr.activations.abs``), :func:`heaviside` (:math:`H(0) = 1/2`).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from symcorr.derivation.activation import Activation, finite_parameter
from symcorr.derivation.families.gaussian_expectations import bivariate, expect, univariate
from symcorr.derivation.families.resummed import ResummedGaussianFamily, gaussian_function
from symcorr.notation.symbols import Z, cumulant_symbol

SLOPE = sp.Symbol("slope", real=True)
_POSITIVE = sp.Dummy("p", positive=True)
_Y_A, _Y_B, _STEP_A, _STEP_B = sp.symbols("y_a y_b H_a H_b", real=True)


@lru_cache(maxsize=None)
def pieces(expression: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    r""":math:`(P_-(z), P_+(z))`, the polynomials :math:`\phi` equals for :math:`z < 0` and :math:`z > 0`."""
    upper = sp.expand(expression.subs(Z, _POSITIVE)).subs(_POSITIVE, Z)
    lower = sp.expand(expression.subs(Z, -_POSITIVE)).subs(_POSITIVE, -Z)
    for piece in (upper, lower):
        if not piece.is_polynomial(Z) or piece.has(sp.Max, sp.Min, sp.Abs, sp.Heaviside):
            raise ValueError(f"{expression} is not polynomial on each side of 0")
    return sp.expand(lower), sp.expand(upper)


# standardized coordinates: z = s y, y ~ N(h, 1) (pairs: correlation rho); the piecewise pieces keep
# their form under z -> s y, and d/dmu = (1/s) d/dh keeps the derivatives small
_H_A, _H_B, _RHO = sp.symbols("h_a h_b rho", real=True)
_S_A, _S_B = sp.symbols("s_a s_b", positive=True)


_DELTA_A, _DELTA_B = sp.symbols("delta_a delta_b", real=True)


@lru_cache(maxsize=None)
def derivative_pieces(expression, p: int, n: int) -> tuple[int, sp.Expr, sp.Expr, sp.Expr]:
    r"""The highest :math:`k \le n` with :math:`(\phi^p)^{(k)} = A(z) + B(z)H(z) + c\,\delta(z)` (no
    :math:`\delta'`), and :math:`(k, A, B, c)`.

    From :math:`\phi^p = P_-^p + (P_+^p - P_-^p)H`: :math:`(A + BH + c\delta)' = A' + B'H + B(0)\delta + c\delta'`.
    The remaining :math:`n - k` derivatives act on the expectation (they are mean-derivatives).
    """
    lower, upper = pieces(expression)
    a, b, c = sp.expand(lower**p), sp.expand(upper**p - lower**p), sp.Integer(0)
    k = 0
    while k < n and c == 0:
        a, b, c = sp.diff(a, Z), sp.diff(b, Z), b.subs(Z, 0)
        k += 1
    return k, a, b, c


def _standard_factor(expression, p: int, n: int, y, step, delta, s):
    r""":math:`(\phi^p)^{(k)}(s y)` in the symbols ``y``, ``step`` (:math:`H(y)`), ``delta`` (:math:`\delta(y)`,
    :math:`\delta(s y) = \delta(y)/s`), and the derivative order :math:`k` it carries."""
    k, a, b, c = derivative_pieces(expression, p, n)
    return k, a.subs(Z, s * y) + b.subs(Z, s * y) * step + c * delta / s


@lru_cache(maxsize=None)
def _standard_power(expression, p: int, n: int) -> sp.Expr:
    r""":math:`s^n\,\partial^n_\mu E[\phi(z)^p] = \partial^{n-k}_h E_{y \sim N(h, 1)}[s^k(\phi^p)^{(k)}(s y)]` in
    ``h_a``, ``s_a``."""
    k, _ = _standard_factor(expression, p, n, _Y_A, _STEP_A, _DELTA_A, _S_A)
    return _h_derivative(_standard_expectation, (expression, p, k), n - k, 0)


@lru_cache(maxsize=None)
def _standard_pair(expression, p: int, q: int, n: int, m: int) -> sp.Expr:
    r""":math:`s_a^n s_b^m\,\partial^n_{\mu_a}\partial^m_{\mu_b} E[\phi(z_a)^p\phi(z_b)^q]`, with the derivatives
    taken on :math:`\phi` as far as they stay free of :math:`\delta'` and the rest on the expectation over the
    standard bivariate :math:`y` (means :math:`h`, correlation :math:`\rho`)."""
    k, _ = _standard_factor(expression, p, n, _Y_A, _STEP_A, _DELTA_A, _S_A)
    l, _ = _standard_factor(expression, q, m, _Y_B, _STEP_B, _DELTA_B, _S_B)
    return _h_derivative(_standard_pair_expectation, (expression, p, q, k, l), n - k, m - l)


@lru_cache(maxsize=None)
def _standard_expectation(expression, p: int, k: int) -> sp.Expr:
    r""":math:`E_{y \sim N(h, 1)}[s^k(\phi^p)^{(k)}(s y)]` (``k`` from :func:`derivative_pieces`)."""
    _, factor = _standard_factor(expression, p, k, _Y_A, _STEP_A, _DELTA_A, _S_A)
    return expect(univariate(_H_A, 1), _S_A**k * factor, [_Y_A], {_STEP_A: 0}, {_DELTA_A: 0})


@lru_cache(maxsize=None)
def _standard_pair_expectation(expression, p: int, q: int, k: int, l: int) -> sp.Expr:
    r""":math:`E[s_a^k(\phi^p)^{(k)}(s_a y_a)\, s_b^l(\phi^q)^{(l)}(s_b y_b)]` over the standard bivariate."""
    _, factor_a = _standard_factor(expression, p, k, _Y_A, _STEP_A, _DELTA_A, _S_A)
    _, factor_b = _standard_factor(expression, q, l, _Y_B, _STEP_B, _DELTA_B, _S_B)
    return expect(bivariate(_H_A, _H_B, 1, 1, _RHO), _S_A**k * _S_B**l * factor_a * factor_b, [_Y_A, _Y_B],
                  {_STEP_A: 0, _STEP_B: 1}, {_DELTA_A: 0, _DELTA_B: 1})


@lru_cache(maxsize=None)
def _h_derivative(base, key, i: int, j: int) -> sp.Expr:
    r""":math:`\partial^i_{h_a}\partial^j_{h_b}` of ``base(*key)``, one derivative at a time (cached: SymPy's
    n-th derivative of a product is much slower than n first derivatives)."""
    if i:
        return sp.diff(_h_derivative(base, key, i - 1, j), _H_A)
    if j:
        return sp.diff(_h_derivative(base, key, i, j - 1), _H_B)
    return base(*key)


def gaussian_power(expression, p: int, mu, v, n: int = 0) -> sp.Expr:
    r""":math:`\partial^n_\mu E_{N(\mu, v)}[\phi(z)^p]` in closed form."""
    s = sp.sqrt(v)
    return _standard_power(expression, p, n).xreplace({_H_A: mu / s, _S_A: s}) / s**n


def gaussian_pair(expression, p: int, q: int, mu_a, mu_b, v_a, v_b, c, n: int = 0, m: int = 0) -> sp.Expr:
    r""":math:`\partial^n_{\mu_a}\partial^m_{\mu_b} E[\phi(z_a)^p \phi(z_b)^q]` of a Gaussian pair in closed form."""
    s_a, s_b = sp.sqrt(v_a), sp.sqrt(v_b)
    values = {_H_A: mu_a / s_a, _H_B: mu_b / s_b, _RHO: c / (s_a * s_b), _S_A: s_a, _S_B: s_b}
    return _standard_pair(expression, p, q, n, m).xreplace(values) / (s_a**n * s_b**m)


def gaussian_covariance(expression, mu_a, mu_b, v_a, v_b, c, n: int = 0, m: int = 0) -> sp.Expr:
    r""":math:`\partial^n_{\mu_a}\partial^m_{\mu_b}\mathrm{Cov}(\phi(z_a), \phi(z_b))` in closed form."""
    return (gaussian_pair(expression, 1, 1, mu_a, mu_b, v_a, v_b, c, n, m)
            - gaussian_power(expression, 1, mu_a, v_a, n) * gaussian_power(expression, 1, mu_b, v_b, m))


# ---------------------------------------------------------------------------
# the kernels' named functions: mean and covariance, printed to the runtime
# ---------------------------------------------------------------------------

@lru_cache(maxsize=None)
def named_functions(activation: Activation):
    """(mean class, covariance class) of ``activation``: closed forms printed as runtime calls
    (``ramp_*`` with the slopes :math:`a, b` of :math:`a z + b\\,\\mathrm{relu}(z)`, or ``step_*``)."""
    expression, parameters = activation.expression, activation.parameter_symbols
    lower, upper = pieces(expression)
    a, b = lower.coeff(Z, 1), sp.expand(upper.coeff(Z, 1) - lower.coeff(Z, 1))
    jump = sp.expand(upper.subs(Z, 0) - lower.subs(Z, 0))
    if lower.subs(Z, 0) != 0 or (jump != 0 and (a != 0 or b != 0)) or sp.Poly(upper, Z).degree() > 1 \
            or sp.Poly(lower, Z).degree() > 1:
        raise ValueError(f"{activation.name}: the piecewise runtime serves a z + b relu(z) and H(z) only")
    stem = "".join(part.capitalize() for part in activation.name.split("_"))
    label = activation.name.replace("_", r"\,")

    def mean(mu, v, *values):
        return gaussian_power(expression, 1, mu, v).xreplace(dict(zip(parameters, values)))

    def covariance(mu_a, mu_b, v_a, v_b, c, *values):
        return gaussian_covariance(expression, mu_a, mu_b, v_a, v_b, c).xreplace(dict(zip(parameters, values)))

    def slopes(*values):
        substitution = dict(zip(parameters, values))
        return a.xreplace(substitution), b.xreplace(substitution)

    n = len(parameters)
    if jump == 0:
        mean_class = gaussian_function(f"{stem}GaussianMean", mean, "ramp_gaussian_mean",
                                       rf"E_{{\mathrm{{{label}}}}}", 2 + n,
                                       lambda mu, v, *values: (mu, v, *slopes(*values)))
        covariance_class = gaussian_function(f"{stem}GaussianCovariance", covariance, "ramp_gaussian_covariance",
                                             rf"C_{{\mathrm{{{label}}}}}", 5 + n,
                                             lambda *args: (*args[:5], *slopes(*args[5:])))
    else:
        mean_class = gaussian_function(f"{stem}GaussianMean", mean, "step_gaussian_mean",
                                       rf"E_{{\mathrm{{{label}}}}}", 2 + n, lambda mu, v, *values: (mu, v))
        covariance_class = gaussian_function(f"{stem}GaussianCovariance", covariance, "step_gaussian_covariance",
                                             rf"C_{{\mathrm{{{label}}}}}", 5 + n, lambda *args: args[:5])
    return mean_class, covariance_class


class PiecewiseLinearFamily(ResummedGaussianFamily):
    """ReLU, leaky ReLU, abs and Heaviside (module docstring)."""

    name = "piecewise_linear"
    needs_distinct_random_neurons = True
    theory_sections = ("docs/theory.md section 4 (cumulant expansion) and docs/theory.md section 11.3 (piecewise-linear "
                       "activations, Gaussian part resummed)")
    exact_accuracy = ("Exact for Gaussian input: the Gaussian part is resummed in closed form (normal and "
                      "bivariate normal distribution functions, docs/theory.md section 11).")

    def joint_supported(self, activation, powers, closure):
        """Closed-form joint vertices (with derivatives) for two neurons with any powers."""
        return len(powers) == 2

    def mean_derivative(self, activation, n, mu, v):
        mean_class, _ = named_functions(activation)
        return mean_class(mu, v, *activation.parameter_symbols) if n == 0 else \
            gaussian_power(activation.expression, 1, mu, v, n)

    def power_moment(self, activation, p, n, mu, v):
        return gaussian_power(activation.expression, p, mu, v, n)

    def covariance(self, activation, n, m, mu_a, mu_b, v_a, v_b, c):
        _, covariance_class = named_functions(activation)
        if n == m == 0:
            return covariance_class(mu_a, mu_b, v_a, v_b, c, *activation.parameter_symbols)
        return gaussian_covariance(activation.expression, mu_a, mu_b, v_a, v_b, c, n, m)

    def joint_moment(self, activation, labels, powers, derivatives):
        (a, b), (p, q), (n, m) = labels, powers, derivatives
        return gaussian_pair(activation.expression, p, q, cumulant_symbol(a), cumulant_symbol(b),
                             cumulant_symbol(a + a), cumulant_symbol(b + b), cumulant_symbol(a + b), n, m)


#: The piecewise-linear family.
PIECEWISE_LINEAR = PiecewiseLinearFamily()


def relu() -> Activation:
    r""":math:`\phi(z) = \max(0, z)` (torch ``nn.ReLU``)."""
    return Activation("relu", sp.Max(0, Z), PIECEWISE_LINEAR)


def leaky_relu(slope: float = 0.01) -> Activation:
    r""":math:`\phi(z) = \max(0, z) + \alpha\min(0, z)`, :math:`\alpha` = ``slope`` (torch
    ``nn.LeakyReLU(negative_slope)``, default 0.01); symbolic in the derivation."""
    return Activation("leaky_relu", sp.Max(0, Z) + SLOPE * sp.Min(0, Z), PIECEWISE_LINEAR,
                      (("slope", finite_parameter("slope", slope)),))


def abs_() -> Activation:
    r""":math:`\phi(z) = |z|` (``symcorr.activations.abs``)."""
    return Activation("abs", sp.Abs(Z), PIECEWISE_LINEAR)


def heaviside() -> Activation:
    r""":math:`\phi(z) = H(z)`, the unit step with :math:`H(0) = 1/2` (``torch.heaviside(z, 0.5)``)."""
    return Activation("heaviside", sp.Heaviside(Z), PIECEWISE_LINEAR)


#: Constructors by the name the command line's ``-a`` takes.
CONSTRUCTORS = {"relu": relu, "leaky_relu": leaky_relu, "abs": abs_, "heaviside": heaviside}


def recognize(expression: sp.Expr) -> Activation | None:
    """The activation ``expression`` is (``Max(0, z)``, ``Abs(z)``, ``Heaviside(z)``,
    ``Max(0, z) + s*Min(0, z)`` with a number ``s``), or ``None``."""
    for constructor in (relu, abs_, heaviside):
        if expression == constructor().expression:
            return constructor()
    if expression.has(sp.Max) and expression.free_symbols == {Z}:
        slope = sp.Wild("slope", exclude=[Z])
        match = expression.match(sp.Max(0, Z) + slope * sp.Min(0, Z))
        if match and match[slope].is_Number:
            return leaky_relu(float(match[slope]))
    return None
