r"""The derivation engine: output cumulants of a pointwise layer (docs/theory.md section 4).

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
(docs/theory.md section 2); disconnected diagrams cancel there.

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
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from itertools import combinations

import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.rings import PolyRing

from symcorr.derivation.activation import Activation
from symcorr.notation.symbols import cumulant_symbol
from symcorr.notation.partitions import index_patterns, mobius_weight, set_partitions
from symcorr.notation.partitions import normalize_pattern
from symcorr.notation.symbols import joint_vertex_symbol, vertex_symbol


#: Reference modes of the expansion (see :func:`derive`).
REFERENCES = ("independent", "joint", "auto")


def perturbation_multisets(labels: str, closure: int, bounds: dict[str, int | None],
                           min_size: int = 2) -> list[str]:
    """Multisets ``M`` of ``labels`` (as sorted strings) entering :math:`D`.

    ``min_size <= |M| <= closure`` (``min_size`` 2, or 3 in the joint
    reference where all covariances are in the reference), not of the form
    ``aa``, and no neuron more often than its derivative bound allows.
    """
    out = []

    def rec(position, prefix):
        if max(2, min_size) <= len(prefix) and not (len(prefix) == 2 and prefix[0] == prefix[1]):
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
             bounds: tuple[int | None, ...], series_order: int | None, min_size: int = 2,
             non_gaussian_order: int | None = None):
    r"""Terms of :math:`e^{D}\prod_a g_a` for neurons with ``powers`` ((label, p), ...).

    Returns a tuple of ``(coefficient, {M: r_M}, {label: n_a})`` with a
    :class:`fractions.Fraction` coefficient; ``bounds`` are the per-neuron
    derivative bounds (``None`` = unbounded), ``series_order`` caps
    :math:`\sum_M r_M`; ``min_size = 3`` drops the covariances from
    :math:`D` (joint reference); ``non_gaussian_order`` caps
    :math:`\sum_{|M| \ge 3} r_M` (the factors that are cumulants of order >= 3).
    """
    labels = "".join(a for a, _ in powers)
    bound_of = dict(zip(labels, bounds))
    multisets = perturbation_multisets(labels, closure, bound_of, min_size)
    weights = [Fraction(1, math.prod(math.factorial(m.count(a)) for a in set(m))) for m in multisets]
    terms = []

    # choose r_M = 0, 1, 2, ... for each M in turn, within bounds and budgets
    def choose(t, used, budget, ng_budget, chosen, coefficient):
        if t == len(multisets):
            terms.append((coefficient, dict(chosen), dict(used)))
            return
        m = multisets[t]
        counts = {a: m.count(a) for a in set(m)}
        non_gaussian = len(m) >= 3
        r = 0
        current = dict(used)
        while True:
            choose(t + 1, current, budget if budget is None else budget - r,
                   ng_budget if (ng_budget is None or not non_gaussian) else ng_budget - r,
                   chosen + ([(m, r)] if r else []), coefficient * weights[t] ** r / math.factorial(r))
            r += 1
            if budget is not None and r > budget:
                return
            if non_gaussian and ng_budget is not None and r > ng_budget:
                return
            current = {a: used[a] + counts.get(a, 0) * r for a in used}
            if any(bound_of[a] is not None and current[a] > bound_of[a] for a in counts):
                return

    choose(0, {a: 0 for a in labels}, series_order, non_gaussian_order, [], Fraction(1))
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
    ``reference``: ``'independent'`` or ``'joint'`` (see :func:`derive`).
    """

    pattern: str
    diagram_form: sp.Expr
    formula: sp.Expr
    reference: str = "independent"


#: Methods that moved to the theory layer (the derivation layer does not import it).
_MOVED_TO_THEORY = {"latex": "symcorr.theory.latex(derivation, pattern=None)",
                    "terms": "symcorr.theory.terms(derivation, pattern)",
                    "check": "symcorr.theory.check(derivation, pattern, expression)"}


@dataclass
class Derivation:
    r"""Output cumulants of orders ``1..order`` of :math:`\phi(z)` from the input
    cumulants of orders ``1..closure`` (docs/theory.md section 4).

    Printing, terms by diagram and checking a hand-written formula are the
    theory tools' (:func:`symcorr.theory.latex`, :func:`symcorr.theory.terms`,
    :func:`symcorr.theory.check`).
    """

    activation: Activation
    order: int
    closure: int
    series_order: int | None
    patterns: dict[str, PatternDerivation] = field(default_factory=dict)
    reference: str | None = None
    non_gaussian_order: int | None = None

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
                f"pattern {pattern!r} not in this derivation (output orders 1..{self.order}: "
                f"{', '.join(self.patterns)})"
            )
        return self.patterns[pattern]

    @property
    def out_order(self) -> int:
        """Deprecated spelling of :attr:`order`."""
        warnings.warn("Derivation.out_order is now Derivation.order (docs/theory.md section 9)",
                      DeprecationWarning, stacklevel=2)
        return self.order

    def __getattr__(self, name):
        if name in _MOVED_TO_THEORY:
            raise AttributeError(f"Derivation.{name} moved to {_MOVED_TO_THEORY[name]} (the derivation layer "
                                 f"does not import the theory tools)")
        raise AttributeError(f"'Derivation' object has no attribute {name!r}")

    @property
    def key(self) -> str:
        """A string that identifies the derivation (see :func:`derivation_key`)."""
        return derivation_key(self.activation, self.order, self.closure, self.series_order, self.reference,
                              self.non_gaussian_order)


def derivation_key(activation: Activation, order: int, closure: int, series_order: int | None,
                   reference: str | None = None, non_gaussian_order: int | None = None) -> str:
    """A string that identifies a derivation without running it (keys compiled kernels).

    The defaults (``reference=None``: independent for polynomials, auto for
    other activations; ``non_gaussian_order=None``: the activation's default,
    see :func:`derive`) add nothing to the key.
    """
    suffix = "" if reference is None else f"|R{reference}"
    suffix += "" if non_gaussian_order is None else f"|NG{non_gaussian_order}"
    return (f"{activation.name}|{sp.srepr(activation.expression)}|"
            f"out{order}|K{closure}|S{series_order}{suffix}")


def _joint_key(powers, used) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    """(labels, powers, derivative orders) of the joint vertex of a block of neurons."""
    return ("".join(a for a, _ in powers), tuple(p for _, p in powers), tuple(used.get(a, 0) for a, _ in powers))


def _joint_supported(activation: Activation, powers: tuple[int, ...], closure: int) -> bool:
    """Whether the activation has a joint vertex of this block (powers per neuron) at this closure."""
    return activation.family.joint_supported(activation, powers, closure)

def resolve_reference(activation: Activation, pattern: str, closure: int, reference: str | None = None) -> str:
    """``'independent'`` or ``'joint'`` for one pattern (see :func:`derive` for the rule)."""
    if reference is None:
        reference = activation.family.reference
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if reference == "independent":
        return reference
    pattern = normalize_pattern(pattern)
    blocks = {_slot_blocks(pattern, block) for partition in set_partitions(len(pattern)) for block in partition}
    supported = closure >= 2 and all(
        len(powers) < 2 or _joint_supported(activation, tuple(p for _, p in powers), closure) for powers in blocks)
    if reference == "joint" and not supported:
        raise ValueError(
            f"reference='joint' is not available for pattern {pattern!r} of {activation.name} at closure "
            f"{closure} (polynomials: at most 2 distinct neurons; erf: output orders <= 2, or orders 3..4 "
            f"at closure 2)")
    return "joint" if supported else "independent"


def default_non_gaussian_order(activation: Activation) -> int | None:
    """The cap on non-Gaussian factors used when none is given: the family's default
    (none for polynomials, which are exact)."""
    return activation.family.non_gaussian_order

def derive_pattern(activation: Activation, pattern: str, closure: int,
                   series_order: int | None = None, reference: str | None = None,
                   non_gaussian_order: int | None = None) -> PatternDerivation:
    """Derive one output-cumulant pattern (see the module docstring and :func:`derive`)."""
    pattern = normalize_pattern(pattern)
    order = len(pattern)
    mode = resolve_reference(activation, pattern, closure, reference)
    min_size = 3 if mode == "joint" else 2
    if non_gaussian_order is None:
        non_gaussian_order = default_non_gaussian_order(activation)
    moment_terms = {}
    kappa_names, vertex_keys, joint_keys = set(), set(), set()
    for partition in set_partitions(order):
        for block in partition:
            powers = _slot_blocks(pattern, block)
            if powers in moment_terms:
                continue
            bounds = tuple(activation.derivative_bound(p) for _, p in powers)
            if series_order is None and any(bound is None for bound in bounds):
                multisets = perturbation_multisets("".join(a for a, _ in powers), closure,
                                                   dict(zip((a for a, _ in powers), bounds)), min_size)
                if any(len(m) == 2 for m in multisets) or (multisets and non_gaussian_order is None):
                    raise ValueError(
                        f"the expansion of {activation.name} does not terminate and pattern {pattern!r} (closure "
                        f"{closure}, {mode} reference) has perturbations: give a series_order")
            terms = diagrams(powers, closure, bounds, series_order, min_size, non_gaussian_order)
            moment_terms[powers] = terms
            power_of = dict(powers)
            for _, chosen, used in terms:
                kappa_names.update(chosen)
                if mode == "joint" and len(powers) >= 2:
                    joint_keys.add(_joint_key(powers, used))
                else:
                    vertex_keys.update((a, power_of[a], n) for a, n in used.items())

    labels = sorted(set(pattern))
    kappa_symbols = [cumulant_symbol(m) for m in sorted(kappa_names, key=lambda m: (len(m), m))]
    vertex_symbols = [vertex_symbol(*key) for key in sorted(vertex_keys)]
    vertex_symbols += [joint_vertex_symbol(*key) for key in sorted(joint_keys)]
    reference_symbols = [cumulant_symbol(a) for a in labels] + [cumulant_symbol(a + a) for a in labels]
    if joint_keys:
        reference_symbols += [cumulant_symbol(a + b) for a, b in
                              sorted({(a, b) for block, _, _ in joint_keys for a, b in combinations(block, 2)})]
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
            if mode == "joint" and len(powers) >= 2:
                exponents[index[joint_vertex_symbol(*_joint_key(powers, used))]] += 1
            else:
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
    if series_order is not None or non_gaussian_order is not None:
        # truncate the cumulant, not only each moment: products of moments in the Moebius sum
        # carry more factors than any one moment; dropped consistently, the disconnected
        # diagrams cancel exactly at every kept order
        positions = [index[cumulant_symbol(m)] for m in kappa_names]
        non_gaussian = [index[cumulant_symbol(m)] for m in kappa_names if len(m) >= 3]
        result = ring.from_dict({
            monomial: coefficient for monomial, coefficient in result.items()
            if (series_order is None or sum(monomial[t] for t in positions) <= series_order)
            and (non_gaussian_order is None or sum(monomial[t] for t in non_gaussian) <= non_gaussian_order)})
    diagram_form = result.as_expr()

    formula = activation.family.formula(activation, result, ring, vertex_keys, joint_keys)
    if closure < 2:
        formula = sp.expand(formula.xreplace({cumulant_symbol(a + a): 0 for a in labels}))
    return PatternDerivation(pattern, diagram_form, formula, mode)


def derive(activation: Activation, order: int | None = None, closure: int | None = None, *,
           series_order: int | None = None, progress=None, reference: str | None = None,
           non_gaussian_order: int | None = None, out_order: int | None = None) -> Derivation:
    r"""Derive every output-cumulant pattern of orders ``1..order`` of :math:`\phi(z)`
    from input cumulants of orders ``1..closure`` (docs/theory.md section 4).

    ``order`` is the highest output cumulant order, ``closure`` the highest
    input cumulant order kept (docs/theory.md section 9); ``out_order`` is the
    deprecated spelling of ``order``.

    ``series_order`` (number of perturbation factors kept in :math:`e^D`) is
    needed for non-polynomial activations whenever a pattern has
    perturbations; for polynomials it truncates an otherwise exact result.
    ``progress`` (a file such as ``sys.stderr``) receives one line per pattern.

    ``reference`` chooses what :math:`e^D` expands around:

    * ``'independent'`` (docs/theory.md section 4; the default for polynomials):
      independent Gaussians :math:`N(\mu_a, \Sigma_{aa})`, every
      :math:`\Sigma_{ab}` and every cumulant of order >= 3 a perturbation;
    * ``'joint'``: a block of several neurons has one joint Gaussian vertex
      :math:`E_{N(\mu, \Sigma)}[\phi(z_a)^p\phi(z_b)^q\cdots]` (symbol
      :func:`joint_vertex_symbol`) holding its whole covariance; only
      cumulants of order >= 3 are perturbations, so the Gaussian part is
      resummed exactly and ``series_order`` counts non-Gaussian factors;
    * ``'auto'`` (the default for non-polynomial activations): ``'joint'``
      for every pattern whose blocks have joint vertices (erf: output orders
      1..2 in closed form with derivatives; orders 3..4 at closure 2, by
      numerical joint moments), ``'independent'`` for the others.

    ``non_gaussian_order`` caps, within the series, the number of factors
    that are cumulants of order >= 3 (the order in non-Gaussianity; 2 keeps
    :math:`\kappa_3, \kappa_4, \kappa_3^2, \kappa_3\kappa_4, \kappa_4^2`).
    ``None``: no cap for polynomials (exact), the family's default otherwise
    (the family's ``non_gaussian_order``, e.g.
    :attr:`symcorr.derivation.families.resummed.ResummedGaussianFamily.non_gaussian_order`); a
    value other than the default enters :attr:`Derivation.key`.
    """
    if out_order is not None:
        warnings.warn("derive(..., out_order=M) is now derive(..., order=M) (docs/theory.md section 9)",
                      DeprecationWarning, stacklevel=2)
        if order is not None and order != out_order:
            raise ValueError(f"derive got order={order!r} and its deprecated spelling out_order={out_order!r}")
        order = out_order
    if not isinstance(activation, Activation):
        raise TypeError(f"activation must be a symcorr Activation, got {type(activation).__name__}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order (the highest output cumulant order) must be an integer >= 1, got {order!r}")
    if isinstance(closure, bool) or not isinstance(closure, int) or closure < 1:
        raise ValueError(f"closure (the highest input cumulant order kept) must be an integer >= 1, got {closure!r}")
    if series_order is not None and (isinstance(series_order, bool) or not isinstance(series_order, int)
                                     or series_order < 0):
        raise ValueError(f"series_order (perturbation factors kept in exp(D)) must be None or an integer >= 0, "
                         f"got {series_order!r}")
    default_reference = activation.family.reference
    default_cap = default_non_gaussian_order(activation)
    derivation = Derivation(activation, order, closure, series_order,
                            reference=None if reference in (None, default_reference) else reference,
                            non_gaussian_order=None if non_gaussian_order in (None, default_cap)
                            else non_gaussian_order)
    cap = default_cap if non_gaussian_order is None else non_gaussian_order
    for output_order in range(1, order + 1):
        for pattern in index_patterns(output_order):
            start = time.perf_counter()
            derivation.patterns[pattern] = derive_pattern(activation, pattern, closure, series_order, reference, cap)
            if progress is not None:
                print(f"  derived {activation.name} pattern {pattern:<6} (K={closure}) "
                      f"in {time.perf_counter() - start:.2f} s", file=progress, flush=True)
    return derivation


__all__ = ["derive", "derive_pattern", "derivation_key", "Derivation", "PatternDerivation", "diagrams",
           "perturbation_multisets", "resolve_reference", "REFERENCES", "default_non_gaussian_order"]
