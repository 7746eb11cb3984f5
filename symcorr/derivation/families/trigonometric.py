r"""Sine and cosine: exact at every order (docs/theory.md section 11).

:math:`\sin z = (e^{iz} - e^{-iz})/2i`, :math:`\cos z = (e^{iz} + e^{-iz})/2`, so every power is a
trigonometric polynomial :math:`\phi^p = \sum_{k=-p}^{p} c_k e^{ikz}`, and a Gaussian expectation of any
product over any number of neurons is a finite sum of characteristic functions,

.. math::

    \partial^{n_1}_{\mu_1}\cdots E\Big[\prod_a \phi(z_a)^{p_a}\Big]
      = \sum_{k} \Big(\prod_a c_{k_a} (i k_a)^{n_a}\Big) e^{i k^\top\mu - \frac12 k^\top\Sigma k},

real after pairing :math:`k` with :math:`-k`. The joint Gaussian vertex of every block therefore
exists in closed form (with derivatives): output cumulants of every order of a Gaussian are exact,
and closures >= 3 add the non-Gaussian corrections. The pair covariance is written with
:math:`\operatorname{expm1}`, e.g.

.. math:: \mathrm{Cov}(\sin z_a, \sin z_b) = \tfrac12 e^{-(v_a + v_b)/2}
          [\cos(\mu_a - \mu_b)(e^{c} - 1) - \cos(\mu_a + \mu_b)(e^{-c} - 1)],

accurate when tiny; the formulas have no singular limits (zero variance, :math:`|\rho| = 1`).
Constructors: :func:`sin`, :func:`cos`.
"""
from __future__ import annotations

import itertools
from functools import lru_cache

import sympy as sp
from sympy.codegen.cfunctions import expm1

from symcorr.derivation.activation import Activation
from symcorr.derivation.families.gaussian_functions import ExpNeg
from symcorr.derivation.families.resummed import ResummedGaussianFamily
from symcorr.notation.symbols import Z, cumulant_symbol, symbol_labels

_FUNCTIONS = {"sin": sp.sin, "cos": sp.cos}


@lru_cache(maxsize=None)
def fourier_coefficients(name: str, p: int) -> dict[int, sp.Expr]:
    r""":math:`\{k: c_k\}` with :math:`\phi(z)^p = \sum_k c_k e^{ikz}` (Gaussian rationals)."""
    x = sp.Symbol("x")              # x = e^{iz}; x^p phi^p is a polynomial of degree 2p
    numerator = (x * x - 1) / (2 * sp.I) if name == "sin" else (x * x + 1) / 2
    return {j - p: c for (j,), c in sp.Poly(sp.expand(numerator**p), x).terms()}


def gaussian_moment(name: str, labels: str, powers, derivatives, covariance_part: bool = False) -> sp.Expr:
    r""":math:`\partial^{n}\cdots E[\prod_a \phi(z_a)^{p_a}]` over the neurons ``labels`` (module docstring);
    with ``covariance_part`` (two neurons, powers (1, 1)) the covariance: each term's
    :math:`e^{-k_ak_b\Sigma_{ab}}` replaced by :math:`\operatorname{expm1}(-k_ak_b\Sigma_{ab})`."""
    mus = [cumulant_symbol(a) for a in labels]
    total = sp.Integer(0)
    series = [fourier_coefficients(name, p) for p in powers]
    for ks in itertools.product(*(sorted(s) for s in series)):
        weight = sp.Integer(1)
        for k, n, coefficients in zip(ks, derivatives, series):
            weight *= coefficients[k] * (sp.I * k) ** n
        if weight == 0:
            continue
        phase = sum(k * mu for k, mu in zip(ks, mus))
        diagonal = sum(k * k * cumulant_symbol(a + a) for k, a in zip(ks, labels)) / 2
        cross = sum(ks[s] * ks[t] * cumulant_symbol(labels[s] + labels[t])
                    for s, t in itertools.combinations(range(len(labels)), 2))
        real, imaginary = sp.re(weight), sp.im(weight)
        oscillation = real * sp.cos(phase) - imaginary * sp.sin(phase)
        if covariance_part:
            total += oscillation * ExpNeg(diagonal) * expm1(-cross)
        else:
            total += oscillation * ExpNeg(diagonal + cross)
    return sp.expand(total)


class TrigonometricFamily(ResummedGaussianFamily):
    """Sine and cosine (module docstring): joint vertices of every block, exact at every order."""

    name = "trigonometric"
    theory_sections = "docs/theory.md section 4 (cumulant expansion) and docs/theory.md section 11.5 (sine and cosine, exact)"
    exact_accuracy = ("Exact for Gaussian input at every order: every joint Gaussian vertex is a finite sum of "
                      "characteristic functions (docs/theory.md section 11).")
    gaussian_exact_order = 10**6

    def joint_supported(self, activation, powers, closure):
        return True

    def default_series_order(self, activation, order, closure):
        return None if closure <= 2 else self.non_gaussian_order

    def mean_derivative(self, activation, n, mu, v):
        return self.power_moment(activation, 1, n, mu, v)

    def power_moment(self, activation, p, n, mu, v):
        return gaussian_moment(activation.name, symbol_labels(mu), (p,), (n,))

    def covariance(self, activation, n, m, mu_a, mu_b, v_a, v_b, c):
        return gaussian_moment(activation.name, symbol_labels(mu_a) + symbol_labels(mu_b), (1, 1), (n, m),
                               covariance_part=True)

    def joint_moment(self, activation, labels, powers, derivatives):
        return gaussian_moment(activation.name, labels, powers, derivatives)


#: The trigonometric family.
TRIGONOMETRIC = TrigonometricFamily()


def sin() -> Activation:
    r""":math:`\phi(z) = \sin z`; a frequency :math:`\sin(\omega z)` comes through the preceding linear layer."""
    return Activation("sin", sp.sin(Z), TRIGONOMETRIC)


def cos() -> Activation:
    r""":math:`\phi(z) = \cos z`."""
    return Activation("cos", sp.cos(Z), TRIGONOMETRIC)


#: Constructors by the name the command line's ``-a`` takes.
CONSTRUCTORS = {"sin": sin, "cos": cos}


def recognize(expression: sp.Expr) -> Activation | None:
    """``sin(z)`` or ``cos(z)``, else ``None``."""
    for name, function in _FUNCTIONS.items():
        if expression == function(Z):
            return CONSTRUCTORS[name]()
    return None
