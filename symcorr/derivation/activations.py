r"""Pointwise activations :math:`\phi(z)` as SymPy expressions with numeric parameters.

An :class:`Activation` carries the SymPy expression of :math:`\phi` in the
symbol :data:`Z` (and in parameter symbols such as :math:`\alpha`), the
numeric values of those parameters, and a ``family`` name that keys the
generated kernels: every member of a family shares one derivation, its
parameters become runtime arguments of the kernel.

Constructors, kept in the registry :data:`ACTIVATIONS`:

* :func:`quadratic` -- the paper's :math:`\phi(z) = z + \alpha z^2`;
* :func:`polynomial` -- :math:`\phi(z) = \sum_k a_k z^k` (degree 3 is the
  family ``cubic``);
* :func:`erf` -- :math:`\phi(z) = \operatorname{erf}(z)` (MATH.md section 6);
* :func:`from_expression` -- any polynomial in ``z`` given as a SymPy expression.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symcorr.notation.symbols import ALPHA, Z, coefficient_symbols


@dataclass(frozen=True)
class Activation:
    r"""A pointwise nonlinearity :math:`\phi`.

    ``family`` keys the kernels; ``expression`` is :math:`\phi(z)` with the
    parameter symbols free; ``parameters`` maps parameter names to numbers (in
    the order the kernels take them); ``degree`` is the polynomial degree or
    ``None`` for a non-polynomial activation.
    """

    family: str
    expression: sp.Expr
    parameters: tuple[tuple[str, float], ...] = ()
    degree: int | None = None
    _numeric: object = field(default=None, compare=False, repr=False, hash=False)

    @property
    def parameter_symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(sp.Symbol(name, real=True) for name, _ in self.parameters)

    @property
    def parameter_values(self) -> dict[str, float]:
        return dict(self.parameters)

    @property
    def numeric_expression(self) -> sp.Expr:
        r""":math:`\phi(z)` with the numeric parameters substituted."""
        return self.expression.xreplace(
            {sp.Symbol(n, real=True): sp.Float(v, 17) for n, v in self.parameters}
        )

    def __call__(self, x):
        """Evaluate :math:`\\phi` elementwise on a NumPy array (float64)."""
        fn = self._numeric
        if fn is None:
            fn = sp.lambdify(Z, self.numeric_expression, modules=["scipy", "numpy"])
            object.__setattr__(self, "_numeric", fn)
        x = np.asarray(x, dtype=np.float64)
        return np.broadcast_to(fn(x), x.shape).astype(np.float64)

    def derivative_bound(self, power: int) -> int | None:
        r"""Highest mean-derivative of :math:`E[\phi(z)^p]` that can be non-zero.

        ``power * degree`` for a polynomial, ``None`` (unbounded) otherwise.
        """
        return None if self.degree is None else power * self.degree

    def __str__(self) -> str:
        values = ", ".join(f"{n}={v:g}" for n, v in self.parameters)
        return f"{self.family}({values})" if values else self.family


def _finite(name: str, value) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"activation parameter {name} must be finite, got {value}")
    return value


def quadratic(alpha: float = 1.0) -> Activation:
    r"""The paper's activation :math:`\phi(z) = z + \alpha z^2` (MATH.md section 5)."""
    return Activation("quadratic", Z + ALPHA * Z**2, (("alpha", _finite("alpha", alpha)),), 2)


def polynomial(coeffs) -> Activation:
    r""":math:`\phi(z) = \sum_{k=0}^{d} a_k z^k` with ``coeffs = [a_0, ..., a_d]``.

    The coefficients stay symbolic in the derivation (one kernel per degree,
    the coefficients are runtime arguments); degree 3 is the family ``cubic``.
    """
    coeffs = [_finite(f"a{k}", c) for k, c in enumerate(coeffs)]
    if len(coeffs) < 2:
        raise ValueError("polynomial needs at least coefficients [a0, a1]")
    degree = len(coeffs) - 1
    symbols = coefficient_symbols(degree)
    family = "cubic" if degree == 3 else f"polynomial{degree}"
    expression = sum(a * Z**k for k, a in enumerate(symbols))
    return Activation(family, expression, tuple((s.name, c) for s, c in zip(symbols, coeffs)), degree)


def cubic(a0: float = 0.0, a1: float = 1.0, a2: float = 0.0, a3: float = 1.0) -> Activation:
    r"""The general cubic :math:`a_0 + a_1 z + a_2 z^2 + a_3 z^3`."""
    return polynomial([a0, a1, a2, a3])


def erf() -> Activation:
    r""":math:`\phi(z) = \operatorname{erf}(z)`; a scale :math:`\operatorname{erf}(\beta z)` comes
    through the preceding linear layer (MATH.md section 6)."""
    return Activation("erf", sp.erf(Z), (), None)


def from_expression(expression) -> Activation:
    r"""An activation from a SymPy expression in ``z`` (numbers only, no other symbols).

    Polynomials become their own family (keyed by a hash of the expression);
    ``erf(z)`` is recognised. Anything else is refused with the reason.
    """
    expression = sp.sympify(expression).xreplace({sp.Symbol("z"): Z})
    extra = expression.free_symbols - {Z}
    if extra:
        raise ValueError(f"activation expression may only contain z, found {sorted(map(str, extra))}")
    if expression == sp.erf(Z):
        return erf()
    if not expression.is_polynomial(Z):
        raise ValueError(
            f"unsupported activation {expression}: symcorr derives polynomial activations and erf(z)"
        )
    poly = sp.Poly(expression, Z)
    digest = hashlib.sha256(sp.srepr(expression).encode()).hexdigest()[:10]
    return Activation(f"polynomial_{digest}", expression, (), poly.degree())


ACTIVATIONS = {
    "quadratic": quadratic,
    "cubic": cubic,
    "polynomial": polynomial,
    "erf": erf,
}


def get(name: str, **parameters) -> Activation:
    """Look up an activation constructor by name in :data:`ACTIVATIONS`."""
    try:
        constructor = ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unsupported activation {name!r}; known: {sorted(ACTIVATIONS)}") from None
    return constructor(**parameters)
