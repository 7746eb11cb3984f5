r"""Smooth activations without closed Gaussian expectations: tanh, sigmoid, SiLU, softplus, ELU, GELU (tanh
approximation); numerical vertex functions with a stated error (docs/theory.md section 11).

The engine's expansion is the same as for the closed-form families (the Gaussian part of a pair is
resummed in the joint vertex, :class:`~symcorr.derivation.families.resummed.ResummedGaussianFamily`); the
vertex functions are SymPy functions that kernels evaluate numerically:

* :func:`vertex_function` -- :math:`g^{(n)}_p(\mu, v) = \partial^n_\mu E_{N(\mu, v)}[\phi^p]`, printed as
  ``_support.smooth_vertex(name, p, n, mu, v, *parameters)``;
* :func:`covariance_function` -- :math:`\partial^n_{\mu_a}\partial^m_{\mu_b}\mathrm{Cov}(\phi(z_a), \phi(z_b))`,
  printed as ``_support.smooth_covariance(name, n, m, ...)``

(methods and accuracy in :mod:`symcorr.codegen.runtime.smooth`: composite Gauss-Legendre, the Mehler
series with a Parseval tail bound and conditional quadrature where it does not converge; absolute error
below :data:`NUMERICAL_TOLERANCE` of the functions' scale, tested against mpmath). Nothing here is
exact: :attr:`SmoothFamily.numerical_tolerance` says so, and so does every formula sheet.

Constructors: :func:`tanh`, :func:`sigmoid`, :func:`silu`, :func:`softplus` (``beta``, torch's default 1),
:func:`elu` (``alpha``, torch's default 1; closure 2 only),
:func:`gelu_tanh` (torch ``nn.GELU(approximate='tanh')``, also ``gelu(approximate='tanh')``). Evaluating
one of these activations on an array (``activation(z)``) uses overflow-free NumPy forms (``expit``,
``logaddexp``) rather than the printed expression.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp
from scipy import special as _special

from symcorr.derivation.activation import Activation, finite_parameter
from symcorr.derivation.families.gaussian_functions import _print_call
from symcorr.derivation.families.resummed import ResummedGaussianFamily
from symcorr.notation.symbols import ALPHA, Z

#: The error bound the runtime is tested to (symcorr.codegen.runtime.smooth.TOLERANCE, same value).
NUMERICAL_TOLERANCE = 1e-12
BETA = sp.Symbol("beta", real=True)
_Z = Z
_LATEX = {"elu": r"\mathrm{elu}", "tanh": r"\tanh", "sigmoid": r"\sigma", "silu": r"\mathrm{silu}", "softplus": r"\mathrm{softplus}",
          "gelu_tanh": r"\mathrm{gelu}_{\tanh}", "gelu": r"\mathrm{gelu}", "probit": r"\Phi"}


@lru_cache(maxsize=None)
def vertex_function(name: str, n_parameters: int):
    r"""The SymPy function :math:`g^{(n)}_p(\mu, v)` of activation ``name``: arguments ``(p, n, mu, v, *parameters)``;
    :math:`\partial_\mu` raises ``n`` by one, :math:`\partial_v` by two with a factor 1/2 (heat equation)."""

    def fdiff(self, argindex=3):
        p, n, mu, v, *rest = self.args
        if argindex == 3:
            return type(self)(p, n + 1, mu, v, *rest)
        if argindex == 4:
            return type(self)(p, n + 2, mu, v, *rest) / 2
        raise sp.ArgumentIndexError(self, argindex)

    def pythoncode(self, printer, **kwargs):
        p, n, *rest = self.args
        return _print_call(printer, "_support.smooth_vertex", (sp.Symbol(repr(name)), p, n, *rest))

    def latex(self, printer, exp=None):
        p, n, mu, v, *rest = (printer._print(a) for a in self.args)
        body = r"\partial_{\mu}^{%s} E_{N(%s, %s)}\left[%s^{%s}\right]" % (n, mu, v, _LATEX[name], p)
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)

    namespace = {"nargs": 4 + n_parameters, "fdiff": fdiff, "_pythoncode": pythoncode, "_numpycode": pythoncode,
                 "_scipycode": pythoncode, "_latex": latex, "__module__": __name__,
                 "__doc__": f"Numerical vertex function of {name} (module docstring)."}
    return type(f"{name.title().replace('_', '')}Vertex", (sp.Function,), namespace)


@lru_cache(maxsize=None)
def covariance_function(name: str, n_parameters: int):
    r"""The SymPy function :math:`\partial^n_{\mu_a}\partial^m_{\mu_b}\mathrm{Cov}(\phi(z_a), \phi(z_b))`: arguments
    ``(n, m, mu_a, mu_b, v_a, v_b, c, *parameters)``; :math:`\partial_{\mu_a}` raises ``n``, :math:`\partial_{\mu_b}`
    raises ``m``."""

    def fdiff(self, argindex=3):
        n, m, *rest = self.args
        if argindex == 3:
            return type(self)(n + 1, m, *rest)
        if argindex == 4:
            return type(self)(n, m + 1, *rest)
        raise sp.ArgumentIndexError(self, argindex)

    def pythoncode(self, printer, **kwargs):
        return _print_call(printer, "_support.smooth_covariance", (sp.Symbol(repr(name)), *self.args))

    def latex(self, printer, exp=None):
        n, m, *rest = (printer._print(a) for a in self.args)
        body = r"\partial^{%s,%s} C_{%s}\left(%s\right)" % (n, m, _LATEX[name], ", ".join(rest))
        return body if exp is None else r"\left(%s\right)^{%s}" % (body, exp)

    namespace = {"nargs": 7 + n_parameters, "fdiff": fdiff, "_pythoncode": pythoncode, "_numpycode": pythoncode,
                 "_scipycode": pythoncode, "_latex": latex, "__module__": __name__,
                 "__doc__": f"Numerical pair covariance of {name} (module docstring)."}
    return type(f"{name.title().replace('_', '')}Covariance", (sp.Function,), namespace)


class SmoothFamily(ResummedGaussianFamily):
    """tanh, sigmoid, SiLU, softplus, GELU-tanh: numerical vertex functions (module docstring)."""

    name = "smooth"
    theory_sections = ("docs/theory.md section 4 (cumulant expansion) and docs/theory.md section 11.6 (smooth activations, numerical "
                       "vertex functions)")
    numerical_tolerance = NUMERICAL_TOLERANCE
    exact_accuracy = (f"Numerical, not exact: the Gaussian part is resummed through numerically integrated joint "
                      f"vertices, absolute error below {NUMERICAL_TOLERANCE:.0e} of their scale (docs/theory.md section 11).")

    def accuracy(self, derivation):
        text = super().accuracy(derivation)
        return text if derivation.series_order is None else \
            text + f" Vertex functions numerical (error below {NUMERICAL_TOLERANCE:.0e} of their scale)."

    def mean_derivative(self, activation, n, mu, v):
        return self.power_moment(activation, 1, n, mu, v)

    def power_moment(self, activation, p, n, mu, v):
        parameters = activation.parameter_symbols
        return vertex_function(activation.name, len(parameters))(p, n, mu, v, *parameters)

    def covariance(self, activation, n, m, mu_a, mu_b, v_a, v_b, c):
        if activation.name == "elu" and n + m:
            raise ValueError("elu: the non-Gaussian corrections (closure >= 3) need mean-derivatives of the pair "
                             "covariance, which meet the delta of elu's second derivative at 0 and are not available "
                             "numerically; use closure 2 (mean and covariance of the Gaussian part, to 1e-12)")
        parameters = activation.parameter_symbols
        return covariance_function(activation.name, len(parameters))(n, m, mu_a, mu_b, v_a, v_b, c, *parameters)


#: The smooth (numerical) family.
SMOOTH = SmoothFamily()


def tanh() -> Activation:
    r""":math:`\phi(z) = \tanh z` (numerical vertex functions)."""
    return Activation("tanh", sp.tanh(_Z), SMOOTH)


def sigmoid() -> Activation:
    r""":math:`\phi(z) = 1/(1 + e^{-z})` (numerical vertex functions)."""
    return Activation("sigmoid", 1 / (1 + sp.exp(-_Z)), SMOOTH, _numeric=_special.expit)


def silu() -> Activation:
    r""":math:`\phi(z) = z/(1 + e^{-z})` (SiLU, swish; numerical vertex functions)."""
    return Activation("silu", _Z / (1 + sp.exp(-_Z)), SMOOTH, _numeric=lambda z: z * _special.expit(z))


def softplus(beta: float = 1.0) -> Activation:
    r""":math:`\phi(z) = \log(1 + e^{\beta z})/\beta` (torch ``nn.Softplus(beta)``; torch's ``threshold``, a
    switch to the identity where :math:`\beta z > 20`, changes values by less than :math:`10^{-9}` and is not
    modelled). Numerical vertex functions."""
    beta = finite_parameter("beta", beta)
    if beta <= 0:
        raise ValueError(f"softplus needs beta > 0, got {beta}")
    return Activation("softplus", sp.log(1 + sp.exp(BETA * _Z)) / BETA, SMOOTH, (("beta", beta),),
                      _numeric=lambda z: np.logaddexp(0.0, beta * z) / beta)


def elu(alpha: float = 1.0) -> Activation:
    r""":math:`\phi(z) = z` for :math:`z > 0`, :math:`\alpha(e^z - 1)` else (torch ``nn.ELU(alpha)``). Numerical vertex
    functions with the kink at 0 split off; closures >= 3 are refused (the covariance's mean-derivatives of
    order >= 2 meet the kink's delta, which the numerical rules do not carry)."""
    alpha = finite_parameter("alpha", alpha)
    expression = sp.Piecewise((_Z, _Z > 0), (ALPHA * (sp.exp(_Z) - 1), True))
    return Activation("elu", expression, SMOOTH, (("alpha", alpha),),
                      _numeric=lambda z: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0))))


def gelu_tanh() -> Activation:
    r""":math:`\phi(z) = \tfrac z2(1 + \tanh(\sqrt{2/\pi}(z + 0.044715 z^3)))` (torch ``nn.GELU(approximate='tanh')``);
    numerical vertex functions."""
    inner = sp.sqrt(2 / sp.pi) * (_Z + sp.Rational(44715, 1000000) * _Z**3)
    return Activation("gelu_tanh", _Z / 2 * (1 + sp.tanh(inner)), SMOOTH)


#: Constructors by the name the command line's ``-a`` takes.
CONSTRUCTORS = {"tanh": tanh, "sigmoid": sigmoid, "silu": silu, "softplus": softplus, "elu": elu,
                "gelu_tanh": gelu_tanh}


def recognize(expression: sp.Expr) -> Activation | None:
    """tanh, sigmoid, SiLU, softplus (beta = 1) or GELU-tanh written as their constructors write them, else ``None``."""
    for constructor in (tanh, sigmoid, silu, gelu_tanh):
        if sp.simplify(expression - constructor().expression) == 0:
            return constructor()
    if sp.simplify(expression - sp.log(1 + sp.exp(_Z))) == 0:
        return softplus(1.0)
    return None
