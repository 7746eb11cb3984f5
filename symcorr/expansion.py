r"""The derivation engine: output cumulants of a pointwise layer (MATH.md section 4).

For a group of distinct neurons :math:`A` with powers :math:`p_a`, the moment
:math:`E[\prod_a \phi(z_a)^{p_a}]` is expanded around independent Gaussians
:math:`N(\mu_a, \Sigma_{aa})`:

.. math::

    E\Big[\prod_a \psi_a(z_a)\Big] = e^{D} \prod_a g_a(\mu_a, \Sigma_{aa}), \qquad
    D = \sum_{M} \kappa_M \prod_a \frac{\partial_{\mu_a}^{m_a}}{m_a!},

the sum running over multisets :math:`M` of neurons of :math:`A` with
:math:`|M| \ge 2` that are not :math:`\{a, a\}` and :math:`|M| \le K` (the
closure order). Since the terms of :math:`D` commute,

.. math::

    e^{D} = \prod_M \sum_{r_M \ge 0} \frac{1}{r_M!}
            \Big(\frac{\kappa_M}{\prod_a m_a!}\Big)^{r_M} \prod_a \partial_{\mu_a}^{r_M m_a},

so each term (a *diagram*) is a choice of multiplicities :math:`r_M`, and
carries :math:`\prod_a g_{a}^{(n_a)}` with :math:`n_a = \sum_M r_M m_a`. The
vertex functions :math:`g^{(n)}_{p} = \partial^n_\mu E_{N(\mu,v)}[\phi^p]`
stay symbols (:func:`vertex_symbol`) until the end. An output cumulant over
slots follows by the Moebius formula over set partitions of the slots
(MATH.md section 2); disconnected diagrams cancel there.

For polynomial activations :math:`g^{(n)}_p = 0` for :math:`n > p\,\deg\phi`,
so the sum is finite and exact. For other activations the number of
perturbation factors :math:`\sum_M r_M` is capped at ``series_order``.

All arithmetic runs in SymPy's sparse polynomial rings over the rationals
(`sympy.polys.rings`), which is what makes the engine fast; the result is
converted to a SymPy expression once per pattern.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.rings import PolyRing

from .activations import Z, Activation
from .cumulant_algebra import (
    cumulant_symbol,
    gaussian_moment,
    index_patterns,
    mobius_weight,
    set_partitions,
)


def vertex_symbol(label: str, power: int, derivative: int) -> sp.Symbol:
    r"""The symbol of :math:`\partial_{\mu}^{n} E_{N(\mu_a, \Sigma_{aa})}[\phi(z)^{p}]` at neuron ``label``.

    Named ``g{p}d{n}_{label}``, e.g. ``g1d2_i`` for :math:`g^{(2)}_1(\mu_i, \Sigma_{ii})`.
    """
    return sp.Symbol(f"g{power}d{derivative}_{label}", real=True)


def parse_vertex_symbol(symbol: sp.Symbol) -> tuple[str, int, int] | None:
    """``g1d2_i`` -> ``('i', 1, 2)``; ``None`` for any other symbol."""
    head, _, label = symbol.name.partition("_")
    if not head.startswith("g") or "d" not in head or not label:
        return None
    power, _, derivative = head[1:].partition("d")
    if not (power.isdigit() and derivative.isdigit()):
        return None
    return label, int(power), int(derivative)


def perturbation_multisets(labels: str, closure: int, bounds: dict[str, int | None]) -> list[str]:
    """Multisets ``M`` of ``labels`` (as sorted strings) entering :math:`D`.

    ``2 <= |M| <= closure``, not of the form ``aa``, and no neuron more often
    than its derivative bound allows.
    """
    out = []

    def rec(position, prefix):
        if 2 <= len(prefix) and not (len(prefix) == 2 and prefix[0] == prefix[1]):
            out.append(prefix)
        if len(prefix) == closure:
            return
        for t in range(position, len(labels)):
            a = labels[t]
            bound = bounds[a]
            if bound is not None and prefix.count(a) + 1 > bound:
                continue
            rec(t, prefix + a)

    rec(0, "")
    return sorted(out, key=lambda m: (len(m), m))


@lru_cache(maxsize=None)
def diagrams(powers: tuple[tuple[str, int], ...], closure: int,
             bounds: tuple[int | None, ...], series_order: int | None):
    r"""Terms of :math:`e^{D}\prod_a g_a` for neurons with ``powers`` ((label, p), ...).

    Returns a tuple of ``(coefficient, {M: r_M}, {label: n_a})`` with a
    :class:`fractions.Fraction` coefficient; ``bounds`` are the per-neuron
    derivative bounds (``None`` = unbounded), ``series_order`` caps
    :math:`\sum_M r_M`.
    """
    labels = "".join(a for a, _ in powers)
    bound_of = dict(zip(labels, bounds))
    multisets = perturbation_multisets(labels, closure, bound_of)
    weights = [Fraction(1, math.prod(math.factorial(m.count(a)) for a in set(m))) for m in multisets]
    terms = []

    # choose r_M = 0, 1, 2, ... for each M in turn, within bounds and budget
    def choose(t, used, budget, chosen, coefficient):
        if t == len(multisets):
            terms.append((coefficient, dict(chosen), dict(used)))
            return
        m = multisets[t]
        counts = {a: m.count(a) for a in set(m)}
        r = 0
        current = dict(used)
        while True:
            choose(t + 1, current, budget if budget is None else budget - r,
                   chosen + ([(m, r)] if r else []), coefficient * weights[t] ** r / math.factorial(r))
            r += 1
            if budget is not None and r > budget:
                return
            current = {a: used[a] + counts.get(a, 0) * r for a in used}
            if any(bound_of[a] is not None and current[a] > bound_of[a] for a in counts):
                return

    choose(0, {a: 0 for a in labels}, series_order, [], Fraction(1))
    return tuple(terms)


def _slot_blocks(pattern: str, block: tuple[int, ...]) -> tuple[tuple[str, int], ...]:
    """Neuron powers of a block of slots: ``'iij'``, (0, 2) -> (('i', 1), ('j', 1))."""
    labels = [pattern[s] for s in block]
    return tuple((a, labels.count(a)) for a in sorted(set(labels)))


@dataclass
class PatternDerivation:
    """The derivation of one index pattern, in two forms.

    ``diagram_form``: polynomial in input cumulants and vertex symbols (the
    diagrams, before the vertex functions are evaluated); ``formula``: the
    same with the vertex functions substituted (polynomial activations) or
    left for the activation's vertex module (non-polynomial ones).
    """

    pattern: str
    diagram_form: sp.Expr
    formula: sp.Expr


@dataclass
class Derivation:
    r"""Output cumulants of orders ``1..out_order`` of :math:`\phi(z)` from the input
    cumulants of orders ``1..closure`` (MATH.md section 4)."""

    activation: Activation
    out_order: int
    closure: int
    series_order: int | None
    patterns: dict[str, PatternDerivation] = field(default_factory=dict)

    def formula(self, pattern: str) -> sp.Expr:
        """The SymPy expression of the output cumulant with index ``pattern`` (e.g. ``'iij'``)."""
        return self._get(pattern).formula

    def diagram_form(self, pattern: str) -> sp.Expr:
        """The formula with vertex functions left as symbols ``g{p}d{n}_a`` (see :func:`vertex_symbol`)."""
        return self._get(pattern).diagram_form

    def _get(self, pattern: str) -> PatternDerivation:
        pattern = normalize_pattern(pattern)
        if pattern not in self.patterns:
            raise KeyError(
                f"pattern {pattern!r} not in this derivation (output orders 1..{self.out_order}: "
                f"{', '.join(self.patterns)})"
            )
        return self.patterns[pattern]

    def latex(self, pattern: str | None = None) -> str:
        """LaTeX of one pattern's formula, or of all of them (see :mod:`symcorr.theory`)."""
        from .theory import derivation_latex

        return derivation_latex(self, pattern)

    def terms(self, pattern: str):
        """The formula's terms grouped by diagram (see :mod:`symcorr.theory`)."""
        from .theory import derivation_terms

        return derivation_terms(self, pattern)

    def check(self, pattern: str, expression):
        """Compare a hand-written ``expression`` with the derived formula (see :mod:`symcorr.theory`)."""
        from .theory import check_formula

        return check_formula(self, pattern, expression)

    @property
    def key(self) -> str:
        """A string that identifies the derivation (see :func:`derivation_key`)."""
        return derivation_key(self.activation, self.out_order, self.closure, self.series_order)


def derivation_key(activation: Activation, out_order: int, closure: int, series_order: int | None) -> str:
    """A string that identifies a derivation without running it (keys compiled kernels)."""
    return (f"{activation.family}|{sp.srepr(activation.expression)}|"
            f"out{out_order}|K{closure}|S{series_order}")


def normalize_pattern(pattern: str) -> str:
    """Relabel an index pattern canonically: ``'jji'`` -> ``'iij'``, ``'ab'`` -> ``'ij'``."""
    from .cumulant_algebra import NEURON_LABELS

    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"an index pattern is a non-empty string such as 'iij', got {pattern!r}")
    counts = {}
    for c in pattern:
        counts[c] = counts.get(c, 0) + 1
    ordered = sorted(counts.values(), reverse=True)
    return "".join(NEURON_LABELS[a] * m for a, m in enumerate(ordered))


def _polynomial_vertex_values(activation: Activation, ring: PolyRing, labels, max_power, max_derivative):
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


def derive_pattern(activation: Activation, pattern: str, closure: int,
                   series_order: int | None = None) -> PatternDerivation:
    """Derive one output-cumulant pattern (see the module docstring)."""
    pattern = normalize_pattern(pattern)
    order = len(pattern)
    moment_terms = {}
    kappa_names, vertex_keys = set(), set()
    for partition in set_partitions(order):
        for block in partition:
            powers = _slot_blocks(pattern, block)
            if powers in moment_terms:
                continue
            bounds = tuple(activation.derivative_bound(p) for _, p in powers)
            terms = diagrams(powers, closure, bounds, series_order)
            moment_terms[powers] = terms
            power_of = dict(powers)
            for _, chosen, used in terms:
                kappa_names.update(chosen)
                vertex_keys.update((a, power_of[a], n) for a, n in used.items())

    labels = sorted(set(pattern))
    kappa_symbols = [cumulant_symbol(m) for m in sorted(kappa_names, key=lambda m: (len(m), m))]
    vertex_symbols = [vertex_symbol(*key) for key in sorted(vertex_keys)]
    reference_symbols = [cumulant_symbol(a) for a in labels] + [cumulant_symbol(a + a) for a in labels]
    symbols = kappa_symbols + vertex_symbols + reference_symbols + list(activation.parameter_symbols)
    ring = PolyRing(symbols, QQ)
    index = {s: t for t, s in enumerate(symbols)}
    ngens = len(symbols)

    moments = {}
    for powers, terms in moment_terms.items():
        power_of = dict(powers)
        coefficients = {}
        for coefficient, chosen, used in terms:
            exponents = [0] * ngens
            for m, r in chosen.items():
                exponents[index[cumulant_symbol(m)]] += r
            for a, n in used.items():
                exponents[index[vertex_symbol(a, power_of[a], n)]] += 1
            key = tuple(exponents)
            coefficients[key] = coefficients.get(key, 0) + QQ(coefficient.numerator, coefficient.denominator)
        moments[powers] = ring.from_dict(coefficients)

    result = ring(0)
    for partition in set_partitions(order):
        product = ring(mobius_weight(len(partition)))
        for block in partition:
            product = product * moments[_slot_blocks(pattern, block)]
        result += product
    diagram_form = result.as_expr()

    if activation.degree is None:
        from .vertex_functions import substitute_vertex_functions

        formula = substitute_vertex_functions(activation, diagram_form)
    else:
        max_power = max(p for _, p, _ in vertex_keys)
        max_derivative = max(n for _, _, n in vertex_keys)
        values = _polynomial_vertex_values(activation, ring, labels, max_power, max_derivative)
        formula_poly = result.compose([(ring(vertex_symbol(*key)), values[key]) for key in sorted(vertex_keys)])
        formula = formula_poly.as_expr()
    if closure < 2:
        formula = sp.expand(formula.xreplace({cumulant_symbol(a + a): 0 for a in labels}))
    return PatternDerivation(pattern, diagram_form, formula)


def derive(activation: Activation, out_order: int, closure: int, *,
           series_order: int | None = None, progress=None) -> Derivation:
    r"""Derive every output-cumulant pattern of orders ``1..out_order`` of :math:`\phi(z)`
    from input cumulants of orders ``1..closure`` (MATH.md section 4).

    ``series_order`` (number of perturbation factors kept in :math:`e^D`) is
    needed for non-polynomial activations and ignored by nothing: for
    polynomials it further truncates an otherwise exact result.
    ``progress`` (a file such as ``sys.stderr``) receives one line per pattern.
    """
    if not isinstance(activation, Activation):
        raise TypeError(f"activation must be a symcorr Activation, got {type(activation).__name__}")
    if not isinstance(out_order, int) or out_order < 1:
        raise ValueError(f"out_order must be an integer >= 1, got {out_order!r}")
    if not isinstance(closure, int) or closure < 1:
        raise ValueError(f"closure must be an integer >= 1, got {closure!r}")
    if activation.degree is None and series_order is None:
        raise ValueError(f"{activation.family} is not polynomial: give a series_order")
    derivation = Derivation(activation, out_order, closure, series_order)
    for order in range(1, out_order + 1):
        for pattern in index_patterns(order):
            start = time.perf_counter()
            derivation.patterns[pattern] = derive_pattern(activation, pattern, closure, series_order)
            if progress is not None:
                print(f"  derived {activation.family} pattern {pattern:<6} (K={closure}) "
                      f"in {time.perf_counter() - start:.2f} s", file=progress, flush=True)
    return derivation


__all__ = ["derive", "derive_pattern", "derivation_key", "Derivation", "PatternDerivation", "diagrams",
           "vertex_symbol", "parse_vertex_symbol", "perturbation_multisets", "normalize_pattern"]
