r"""Pointwise activations :math:`\phi(z)`: constructors by name (``symcorr.activations``).

Every family module of :mod:`symcorr.derivation.families` contributes its
constructors to :data:`ACTIVATIONS` (the names the command line's ``-a``
takes):

* ``quadratic(alpha)`` -- the paper's :math:`\phi(z) = z + \alpha z^2`;
* ``polynomial(coeffs)`` -- :math:`\phi(z) = \sum_k a_k z^k` (degree 3 is
  named ``cubic``; ``cubic(a0, a1, a2, a3)``);
* ``erf()`` -- :math:`\phi(z) = \operatorname{erf}(z)` (docs/theory.md section 6);

and :func:`from_expression` turns a formula in ``z`` (a string, parsed by the
whitelist parser and never evaluated, or a SymPy expression) into the
activation it is.
"""
from __future__ import annotations

import sympy as sp

from symcorr.derivation.activation import Activation, ActivationFamily
from symcorr.derivation.families import FAMILY_MODULES
from symcorr.derivation.families.erf import erf  # noqa: F401  (re-exported by name)
from symcorr.derivation.families.gaussian_cdf import gelu, probit  # noqa: F401
from symcorr.derivation.families.piecewise_linear import abs_ as abs  # noqa: A001, F401 (symcorr.activations.abs)
from symcorr.derivation.families.piecewise_linear import heaviside, leaky_relu, relu  # noqa: F401
from symcorr.derivation.families.polynomial import cubic, polynomial, quadratic  # noqa: F401
from symcorr.derivation.families.smooth import elu, gelu_tanh, sigmoid, silu, softplus, tanh  # noqa: F401
from symcorr.derivation.families.trigonometric import cos, sin  # noqa: F401
from symcorr.notation.parse import check_expression_cost, normalize_symbols, parse_expression
from symcorr.notation.symbols import Z

#: Activation constructors by name, from every family module.
ACTIVATIONS = {name: constructor for module in FAMILY_MODULES for name, constructor in module.CONSTRUCTORS.items()}


def from_expression(expression) -> Activation:
    r"""The activation :math:`\phi(z)` given by ``expression``: a string in SymPy or LaTeX syntax
    (parsed by :func:`symcorr.notation.parse.parse_expression`, never evaluated) or a SymPy
    expression, in ``z`` and numbers only.

    Each family is asked in turn (:data:`symcorr.derivation.families.FAMILY_MODULES`):
    a polynomial becomes its own activation (named by a hash of the expression),
    ``erf(z)`` is recognised; anything else is refused with the reason.
    """
    if isinstance(expression, str):
        expression = parse_expression(expression)
    elif isinstance(expression, sp.Basic):
        expression = check_expression_cost(normalize_symbols(expression))
    else:
        raise TypeError(f"an activation expression is a string or a SymPy expression, got {type(expression).__name__}")
    extra = expression.free_symbols - {Z}
    if extra:
        raise ValueError(f"activation expression may only contain z, found {sorted(map(str, extra))}")
    for module in FAMILY_MODULES:
        activation = module.recognize(expression)
        if activation is not None:
            return activation
    raise ValueError(f"unsupported activation {expression}: symcorr derives "
                     f"{', '.join(sorted(ACTIVATIONS))} and polynomials in z")


def get(name: str, **parameters) -> Activation:
    """Look up an activation constructor by name in :data:`ACTIVATIONS`."""
    try:
        constructor = ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unsupported activation {name!r}; known: {sorted(ACTIVATIONS)}") from None
    return constructor(**parameters)


__all__ = ["Activation", "ActivationFamily", "ACTIVATIONS", "from_expression", "get", *ACTIVATIONS]
