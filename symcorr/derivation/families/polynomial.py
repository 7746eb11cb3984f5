r"""Polynomial activations :math:`\phi(z) = \sum_{k=0}^{d} a_k z^k`: exact (docs/theory.md section 5).

The vertex functions are polynomials in :math:`\mu_a, \Sigma_{aa}`, from the
Gaussian moments

.. math::

    E_{N(\mu, v)}[z^k] = \sum_{j=0}^{\lfloor k/2\rfloor} \binom{k}{2j} (2j-1)!!\, v^j \mu^{k-2j},
    \qquad g^{(n)}_p = \partial^n_\mu E[\phi(z)^p] = 0 \quad (n > p\,d),

so the expansion terminates and every formula is exact for the given input
cumulants. An output cumulant of order :math:`m` depends on the input cumulants
of orders :math:`1..m\,d` (docs/theory.md section 9).

Constructors: :func:`quadratic` (the paper's :math:`z + \alpha z^2`),
:func:`polynomial` (coefficients symbolic in the derivation, numbers at run
time; degree 3 is named ``cubic``), :func:`cubic`.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import sympy as sp
from sympy.polys.rings import PolyRing

from symcorr.derivation.activation import Activation, ActivationFamily, finite_parameter
from symcorr.derivation.algebra import gaussian_moment, moment_in_cumulants
from symcorr.notation.symbols import ALPHA, Z, coefficient_symbols, cumulant_symbol, joint_vertex_symbol, \
    parse_joint_vertex_symbol, parse_vertex_symbol, vertex_symbol


class PolynomialFamily(ActivationFamily):
    """Polynomials of any degree, with symbolic or numeric coefficients (module docstring)."""

    name = "polynomial"
    theory_sections = "docs/theory.md sections 4 (cumulant expansion) and 5 (polynomial activations, exact)"
    #: the vertex functions are polynomials in the mean and variance: the substituted formulas are the short,
    #: exact polynomials of docs/theory.md section 5 that one checks by hand
    sheet_in_vertex_functions = False
    formulas_are_polynomials = True

    @staticmethod
    def degree(activation: Activation) -> int:
        """The polynomial degree :math:`d` of :math:`\\phi`."""
        return sp.Poly(activation.expression, Z).degree()

    def derivative_bound(self, activation, power):
        return power * self.degree(activation)

    def joint_supported(self, activation, powers, closure):
        return len(powers) <= 2

    def input_orders_needed(self, activation, order):
        return order * self.degree(activation)

    def preserves_gaussianity(self, activation):
        return self.degree(activation) <= 1

    def command_spec(self, activation):
        if activation.name in ("quadratic", "cubic"):
            return activation.name
        if activation.parameters:
            # symbolic coefficients a0..ad: the printed formula does not depend on the values
            return "polynomial --coeffs " + " ".join("1" for _ in activation.parameters)
        return super().command_spec(activation)

    def formula(self, activation, diagram_form, ring, vertex_keys, joint_keys):
        r"""Substitutes the vertex values as elements of ``ring`` (polynomial composition, fast)."""
        substitutions = []
        if vertex_keys:
            values = _vertex_values(activation, ring, sorted({a for a, _, _ in vertex_keys}),
                                    max(p for _, p, _ in vertex_keys), max(n for _, _, n in vertex_keys))
            substitutions += [(ring(vertex_symbol(*key)), values[key]) for key in sorted(vertex_keys)]
        if joint_keys:
            joint_values = _joint_vertex_values(activation, ring, sorted(joint_keys))
            substitutions += [(ring(joint_vertex_symbol(*key)), joint_values[key]) for key in sorted(joint_keys)]
        return diagram_form.compose(substitutions).as_expr()

    def substitute_vertices(self, activation, expression):
        r"""Every single-neuron vertex symbol of ``expression`` replaced by its polynomial, expanded."""
        replacements = {}
        for symbol in expression.free_symbols:
            parsed = parse_vertex_symbol(symbol)
            if parsed is not None:
                replacements[symbol] = vertex_value(activation, *parsed)
            elif parse_joint_vertex_symbol(symbol) is not None:
                raise ValueError(f"{symbol}: joint vertices of polynomials are substituted by the engine only")
        return sp.expand(expression.xreplace(replacements))


#: The polynomial family (one object for every degree).
POLYNOMIAL = PolynomialFamily()


@lru_cache(maxsize=None)
def vertex_value(activation: Activation, neuron: str, power: int, derivative: int) -> sp.Expr:
    r""":math:`g^{(n)}_{p,a} = \partial^n_{\mu_a} E_{N(\mu_a, \Sigma_{aa})}[\phi(z)^p]` as a SymPy expression."""
    mu, v = cumulant_symbol(neuron), cumulant_symbol(neuron * 2)
    poly = sp.Poly(sp.expand(activation.expression ** power), Z)
    expectation = sp.Add(*[c * gaussian_moment(k, mu, v) for (k,), c in poly.terms()])
    return sp.expand(sp.diff(expectation, mu, derivative))


def _vertex_values(activation: Activation, ring: PolyRing, labels, max_power, max_derivative):
    r"""Ring elements of :math:`g^{(n)}_p(\mu_a, \Sigma_{aa}) = \partial^n_\mu E[\phi(z)^p]`."""
    phi = sp.Poly(activation.expression, Z)
    values = {}
    for a in labels:
        mu = ring(cumulant_symbol(a))
        v = ring(cumulant_symbol(a + a))
        moments = {}
        for p in range(1, max_power + 1):
            phi_p = phi ** p
            expectation = ring(0)
            for (k,), c in phi_p.terms():
                if k not in moments:
                    moments[k] = gaussian_moment(k, mu, v)
                expectation += ring.from_expr(c) * moments[k]
            for n in range(0, max_derivative + 1):
                values[(a, p, n)] = expectation
                expectation = expectation.diff(mu)
    return values


def _joint_vertex_values(activation: Activation, ring: PolyRing, keys):
    r"""Ring elements of :math:`\partial^n_{\mu_a}\partial^m_{\mu_b} E_{N(\mu,\Sigma)}[\phi(z_a)^p \phi(z_b)^q]`."""
    phi = sp.Poly(activation.expression, Z)
    za, zb = sp.Dummy("za"), sp.Dummy("zb")
    values = {}
    for labels, (p, q), (n, m) in keys:
        a, b = labels
        product = sp.Poly(phi.as_expr().subs(Z, za) ** p * phi.as_expr().subs(Z, zb) ** q, za, zb)
        expectation = ring(0)
        for (k, l), coefficient in product.terms():
            moment = moment_in_cumulants(a * k + b * l, closure=2) if k + l else sp.Integer(1)
            expectation += ring.from_expr(coefficient) * ring.from_expr(moment)
        for _ in range(n):
            expectation = expectation.diff(ring(cumulant_symbol(a)))
        for _ in range(m):
            expectation = expectation.diff(ring(cumulant_symbol(b)))
        values[(labels, (p, q), (n, m))] = expectation
    return values


# ---------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------

def quadratic(alpha: float = 1.0) -> Activation:
    r"""The paper's activation :math:`\phi(z) = z + \alpha z^2` (docs/theory.md section 5)."""
    return Activation("quadratic", Z + ALPHA * Z**2, POLYNOMIAL, (("alpha", finite_parameter("alpha", alpha)),))


def polynomial(coeffs) -> Activation:
    r""":math:`\phi(z) = \sum_{k=0}^{d} a_k z^k` with ``coeffs = [a_0, ..., a_d]``.

    The coefficients stay symbolic in the derivation (one kernel per degree,
    the coefficients are runtime arguments); degree 3 is named ``cubic``.
    """
    coeffs = [finite_parameter(f"a{k}", c) for k, c in enumerate(coeffs)]
    if len(coeffs) < 2:
        raise ValueError("polynomial needs at least coefficients [a0, a1]")
    degree = len(coeffs) - 1
    symbols = coefficient_symbols(degree)
    name = "cubic" if degree == 3 else f"polynomial{degree}"
    expression = sum(a * Z**k for k, a in enumerate(symbols))
    return Activation(name, expression, POLYNOMIAL, tuple((s.name, c) for s, c in zip(symbols, coeffs)))


def cubic(a0: float = 0.0, a1: float = 1.0, a2: float = 0.0, a3: float = 1.0) -> Activation:
    r"""The general cubic :math:`a_0 + a_1 z + a_2 z^2 + a_3 z^3`."""
    return polynomial([a0, a1, a2, a3])


#: Constructors by the name the command line's ``-a`` takes.
CONSTRUCTORS = {"quadratic": quadratic, "cubic": cubic, "polynomial": polynomial}


def recognize(expression: sp.Expr) -> Activation | None:
    """The polynomial activation ``expression`` is (named by a hash of it), or ``None``."""
    if not expression.is_polynomial(Z):
        return None
    digest = hashlib.sha256(sp.srepr(expression).encode()).hexdigest()[:10]
    return Activation(f"polynomial_{digest}", expression, POLYNOMIAL)
