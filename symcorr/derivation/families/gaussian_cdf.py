r"""The Gaussian CDF :math:`\Phi(z)` ("probit") and GELU :math:`z\Phi(z)` (docs/theory.md section 11).

With an independent standard normal :math:`\xi`, :math:`\Phi(z) = E_\xi[H(z - \xi)]`, so powers and
pair products are polynomials times steps of the Gaussians :math:`w = z - \xi`
(:math:`\mathrm{Var}\,w = v + 1`, :math:`\mathrm{Cov}(z, w) = v`, independent :math:`\xi` per factor):

.. math::

    \Phi(z)^p = E\Big[\prod_{k=1}^p H(w_k)\Big], \qquad \mathrm{gelu}(z)^p = E\Big[z^p \prod_{k=1}^p H(w_k)\Big],

closed forms in :math:`\Phi` and :math:`\Phi_2` for :math:`p \le 2`
(:mod:`~symcorr.derivation.families.gaussian_expectations`), e.g. with :math:`\sigma = \sqrt{1+v}`,
:math:`h = \mu/\sigma`: :math:`E[\Phi(z)] = \Phi(h)`, :math:`E[\mathrm{gelu}(z)] = \mu\Phi(h) + (v/\sigma)\varphi(h)`.
Stein's lemma in :math:`\xi` gives :math:`\mathrm{gelu}(z) \simeq \mathrm{relu}(w) - \delta(w)` under the
expectation, hence the covariances (:mod:`symcorr.codegen.runtime.gaussian_cdf`)

.. math::

    \mathrm{Cov}(\Phi(z_a), \Phi(z_b)) = K(h_a, h_b; \rho'), \qquad
    \mathrm{Cov}(\mathrm{gelu}_a, \mathrm{gelu}_b) = \mathrm{Cov}(R_a - \delta_a, R_b - \delta_b)_{w \sim N(\mu, \Sigma + I)},

:math:`\rho' = c/(\sigma_a\sigma_b) < 1`. Probit's covariance equals erf's rescaled,
:math:`\tfrac14 C_{\mathrm{erf}}(\mu_a/\sqrt2, \mu_b/\sqrt2, v_a/2, v_b/2, c/2)`, and both equal their Owen's-T
forms (tests/derivation/test_family_gaussian_cdf.py).

Mean and covariance of a Gaussian are exact (closed forms, accurate to rounding); output orders
:math:`\ge 3` need :math:`E[\phi^p]`, :math:`p \ge 3`, which has no closed form (three steps): those
vertices are numerical (:mod:`symcorr.derivation.families.smooth`, error below :math:`10^{-12}`), and
the patterns on three or more neurons come from the Price series (truncation warning).

Constructors: :func:`probit`, :func:`gelu` (``approximate='none'``, torch's default; ``'tanh'`` is
:func:`symcorr.derivation.families.smooth.gelu_tanh`, numerical).
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from symcorr.derivation.activation import Activation
from symcorr.derivation.families.gaussian_expectations import gaussian_vector
from symcorr.derivation.families.gaussian_functions import NormalCDF
from symcorr.derivation.families.resummed import ResummedGaussianFamily, gaussian_function
from symcorr.notation.symbols import Z

_MU_A, _MU_B = sp.symbols("m_a m_b", real=True)
_V_A, _V_B, _C = sp.symbols("v_a v_b c", real=True)
#: phi as a polynomial in z, P = Phi(z) and D = varphi(z) (per neuron a, b): a class closed under d/dz
_Z_A, _P_A, _D_A, _Z_B, _P_B, _D_B = sp.symbols("z_a P_a D_a z_b P_b D_b", real=True)
_ACTIVATIONS = {"probit": lambda z, cdf, pdf: cdf, "gelu": lambda z, cdf, pdf: z * cdf}


def _derivative(expression, z, cdf, pdf):
    r""":math:`d/dz` of a polynomial in :math:`z, \Phi(z), \varphi(z)`: :math:`\Phi' = \varphi`, :math:`\varphi' = -z\varphi`."""
    return sp.expand(sp.diff(expression, z) + pdf * sp.diff(expression, cdf) - z * pdf * sp.diff(expression, pdf))


@lru_cache(maxsize=None)
def _derived(kind: str, p: int, n: int, side: str = "a") -> sp.Expr:
    r""":math:`(\phi^p)^{(n)}` as a polynomial in :math:`z, \Phi(z), \varphi(z)` of neuron ``side``."""
    z, cdf, pdf = (_Z_A, _P_A, _D_A) if side == "a" else (_Z_B, _P_B, _D_B)
    if n:
        return _derivative(_derived(kind, p, n - 1, side), z, cdf, pdf)
    return sp.expand(_ACTIVATIONS[kind](z, cdf, pdf) ** p)


def _expectation(polynomial, neurons) -> sp.Expr:
    r""":math:`E[\,\cdot\,]` of a polynomial in :math:`z, \Phi(z), \varphi(z)` of the given neurons
    (``(z, P, D, mu, v)`` each, and the covariance ``c`` of a pair): every factor :math:`\Phi(z)` is
    :math:`E_\xi[H(z - \xi)]`, every :math:`\varphi(z)` is :math:`E_\xi[\delta(z - \xi)]`, each with its own
    independent standard normal :math:`\xi`; the Gaussian vector holds the neurons' :math:`z` and the
    :math:`w = z - \xi` (module docstring)."""
    neurons, c = neurons
    generators = [g for z, cdf, pdf, _, _ in neurons for g in (z, cdf, pdf)]
    terms = []
    for monomial, coefficient in sp.Poly(polynomial, *generators).terms():
        owner, is_w, mean, exponents, steps, deltas = [], [], [], [], [], []
        for t, (_, _, _, mu, v) in enumerate(neurons):
            k, i, j = monomial[3 * t:3 * t + 3]
            for coordinate in ["z"] + ["step"] * i + ["delta"] * j:
                {"step": steps, "delta": deltas}.get(coordinate, []).append(len(owner))
                owner.append(t)
                is_w.append(coordinate != "z")
                mean.append(mu)
                exponents.append(k if coordinate == "z" else 0)
        variances = [v for _, _, _, _, v in neurons]

        def cov(x, y):
            if owner[x] != owner[y]:
                return c
            return variances[owner[x]] + (1 if (x == y and is_w[x]) else 0)

        covariance = tuple(tuple(cov(x, y) for y in range(len(owner))) for x in range(len(owner)))
        vector = gaussian_vector(tuple(mean), covariance)
        terms.append(coefficient * vector.expectation(exponents, steps, deltas))
    return sp.Add(*terms)       # (one Add: a growing sum is re-sorted at every +=)


@lru_cache(maxsize=None)
def _power(kind: str, p: int, n: int) -> sp.Expr:
    r""":math:`\partial^n_\mu E_{N(\mu, v)}[\phi^p] = E[(\phi^p)^{(n)}]` in the symbols ``m_a``, ``v_a``."""
    polynomial = _derived(kind, p, n)
    if sp.Poly(polynomial, _P_A).degree() > 2:
        raise ValueError(f"E[{kind}(z)^{p}] has no closed form (a {p}-variate normal probability); {kind} "
                         "derives output orders 1..2 (mean and covariance)")
    return _expectation(polynomial, (((_Z_A, _P_A, _D_A, _MU_A, _V_A),), 0))


@lru_cache(maxsize=None)
def _pair(kind: str, n: int, m: int) -> sp.Expr:
    r""":math:`\partial^n_{\mu_a}\partial^m_{\mu_b} E[\phi(z_a)\phi(z_b)] = E[\phi^{(n)}(z_a)\phi^{(m)}(z_b)]` in
    ``m_a, m_b, v_a, v_b, c``."""
    polynomial = sp.expand(_derived(kind, 1, n, "a") * _derived(kind, 1, m, "b"))
    return _expectation(polynomial, (((_Z_A, _P_A, _D_A, _MU_A, _V_A), (_Z_B, _P_B, _D_B, _MU_B, _V_B)), _C))


def gaussian_power(kind: str, p: int, mu, v, n: int = 0) -> sp.Expr:
    r""":math:`\partial^n_\mu E_{N(\mu, v)}[\phi(z)^p]` in closed form (:math:`p \le 2`)."""
    return _power(kind, p, n).xreplace({_MU_A: mu, _V_A: v})


def gaussian_covariance(kind: str, mu_a, mu_b, v_a, v_b, c, n: int = 0, m: int = 0) -> sp.Expr:
    r""":math:`\partial^n_{\mu_a}\partial^m_{\mu_b}\mathrm{Cov}(\phi(z_a), \phi(z_b))` in closed form."""
    values = {_MU_A: mu_a, _MU_B: mu_b, _V_A: v_a, _V_B: v_b, _C: c}
    return (_pair(kind, n, m).xreplace(values)
            - gaussian_power(kind, 1, mu_a, v_a, n) * gaussian_power(kind, 1, mu_b, v_b, m))


@lru_cache(maxsize=None)
def named_functions(kind: str):
    """(mean class, covariance class) of ``kind``: closed forms printed as ``_support.<kind>_gaussian_*``."""
    stem, label = kind.capitalize(), r"\mathrm{%s}" % kind
    mean = gaussian_function(f"{stem}GaussianMean", lambda mu, v: gaussian_power(kind, 1, mu, v),
                             f"{kind}_gaussian_mean", f"E_{{{label}}}", 2)
    covariance = gaussian_function(f"{stem}GaussianCovariance", lambda *args: gaussian_covariance(kind, *args),
                                   f"{kind}_gaussian_covariance", f"C_{{{label}}}", 5)
    return mean, covariance


class GaussianCdfFamily(ResummedGaussianFamily):
    """Probit and GELU (module docstring)."""

    name = "gaussian_cdf"
    theory_sections = ("docs/theory.md section 4 (cumulant expansion) and docs/theory.md section 11.4 (the Gaussian CDF and GELU, "
                       "Gaussian part resummed)")
    exact_accuracy = ("Exact for Gaussian input: the Gaussian part is resummed in closed form (normal and "
                      "bivariate normal distribution functions, docs/theory.md section 11).")

    def mean_derivative(self, activation, n, mu, v):
        if n == 0:
            return named_functions(activation.name)[0](mu, v)
        return gaussian_power(activation.name, 1, mu, v, n)

    def power_moment(self, activation, p, n, mu, v):
        if p > 2:       # three or more steps: no closed form, the smooth family's numerical vertex function
            from symcorr.derivation.families.smooth import vertex_function

            return vertex_function(activation.name, 0)(p, n, mu, v)
        return gaussian_power(activation.name, p, mu, v, n)

    def covariance(self, activation, n, m, mu_a, mu_b, v_a, v_b, c):
        if n == m == 0:
            return named_functions(activation.name)[1](mu_a, mu_b, v_a, v_b, c)
        return gaussian_covariance(activation.name, mu_a, mu_b, v_a, v_b, c, n, m)


#: The Gaussian-CDF family.
GAUSSIAN_CDF = GaussianCdfFamily()


def probit() -> Activation:
    r""":math:`\phi(z) = \Phi(z) = \tfrac12(1 + \operatorname{erf}(z/\sqrt2))`, the standard normal CDF."""
    return Activation("probit", NormalCDF(Z), GAUSSIAN_CDF)


def gelu(approximate: str = "none") -> Activation:
    r""":math:`\phi(z) = z\Phi(z)` (torch ``nn.GELU()``, ``approximate='none'``); ``approximate='tanh'`` gives
    torch's tanh approximation :math:`\tfrac z2(1 + \tanh(\sqrt{2/\pi}(z + 0.044715 z^3)))`, a numerical family
    (:func:`symcorr.derivation.families.smooth.gelu_tanh`)."""
    if approximate == "tanh":
        from symcorr.derivation.families.smooth import gelu_tanh

        return gelu_tanh()
    if approximate != "none":
        raise ValueError(f"gelu(approximate=...) takes 'none' or 'tanh' (as torch.nn.GELU), got {approximate!r}")
    return Activation("gelu", Z * NormalCDF(Z), GAUSSIAN_CDF)


#: Constructors by the name the command line's ``-a`` takes.
CONSTRUCTORS = {"probit": probit, "gelu": gelu}


def recognize(expression: sp.Expr) -> Activation | None:
    r"""Probit (:math:`\Phi(z)`, also written :math:`(1 + \operatorname{erf}(z/\sqrt2))/2`) or GELU
    (:math:`z\Phi(z)`), or ``None``."""
    cdf = sp.erf(Z / sp.sqrt(2)) / 2 + sp.Rational(1, 2)
    rewritten = sp.expand(expression.rewrite(sp.erfc).rewrite(sp.erf)) if expression.has(NormalCDF) else expression
    if sp.expand(rewritten - cdf) == 0 or expression == NormalCDF(Z):
        return probit()
    if sp.expand(rewritten - Z * cdf) == 0 or expression == Z * NormalCDF(Z):
        return gelu()
    return None
