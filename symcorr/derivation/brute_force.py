r"""Brute-force derivation of output cumulants, the engine's independent reference.

For a polynomial :math:`\phi`, expand :math:`\prod_{s \in B} \phi(z_{\ell(s)})`
into monomials :math:`\prod_a z_a^{e_a}`, replace each monomial by its moment
in input cumulants (docs/theory.md section 2, cumulants above the closure set to
zero), and combine the moments over slot partitions by the Moebius formula.
It shares nothing with :mod:`symcorr.derivation.engine` but the set partitions, uses
plain SymPy expressions, and is slow: that is what it is for.
"""
from __future__ import annotations

from functools import lru_cache

import sympy as sp

from symcorr.notation.symbols import Z
from symcorr.derivation.activation import Activation
from symcorr.notation.partitions import mobius_weight, set_partitions
from symcorr.derivation.algebra import moment_in_cumulants
from symcorr.notation.partitions import normalize_pattern


@lru_cache(maxsize=None)
def _monomial_moment(exponents: tuple[tuple[str, int], ...], closure: int) -> sp.Expr:
    labels = "".join(a * e for a, e in exponents)
    return moment_in_cumulants(labels, closure) if labels else sp.Integer(1)


def brute_force_moment(activation: Activation, labels: str, closure: int) -> sp.Expr:
    r""":math:`E[\prod_s \phi(z_{\ell(s)})]` over slots labelled ``labels``, monomial by monomial."""
    if not activation.expression.is_polynomial(Z):
        raise ValueError(f"the brute-force reference needs a polynomial activation, not {activation}")
    neurons = sorted(set(labels))
    zs = {a: sp.Symbol(f"z_{a}") for a in neurons}
    product = sp.Mul(*[activation.expression.xreplace({Z: zs[a]}) for a in labels])
    poly = sp.Poly(sp.expand(product), *[zs[a] for a in neurons])
    total = sp.Integer(0)
    for exponents, coefficient in poly.terms():
        total += coefficient * _monomial_moment(tuple(zip(neurons, exponents)), closure)
    return total


def brute_force_formula(activation: Activation, pattern: str, closure: int) -> sp.Expr:
    """The output cumulant of ``pattern`` by brute force, expanded."""
    pattern = normalize_pattern(pattern)
    moments = {}
    total = sp.Integer(0)
    for partition in set_partitions(len(pattern)):
        factors = []
        for block in partition:
            labels = "".join(sorted(pattern[s] for s in block))
            if labels not in moments:
                moments[labels] = brute_force_moment(activation, labels, closure)
            factors.append(moments[labels])
        total += mobius_weight(len(partition)) * sp.Mul(*factors)
    return sp.expand(total)
