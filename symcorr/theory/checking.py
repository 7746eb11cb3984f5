r"""Check a hand-written formula against the derivation (``symcorr check``, docs/theory.md sections 4-6).

:func:`check` parses the formula safely (:mod:`symcorr.notation.parse`), relabels the
derived formula to the caller's neuron labels, and compares term by term; a
:class:`CheckResult` names the missing, extra and wrongly weighted terms and the
diagrams (:mod:`symcorr.theory.diagrams`) they come from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from symcorr.notation.parse import (BudgetExceededError, check_expression_cost, normalize_symbols, parse_expression,
                                    within_budget)
from symcorr.notation.partitions import normalize_pattern
from symcorr.notation.symbols import (
    NEURON_LABELS,
    cumulant_symbol,
    parse_vertex_symbol,
    symbol_labels,
    vertex_symbol,
)
from symcorr.theory.diagrams import terms
from symcorr.theory.printers import expression_text
from symcorr.theory.render import closure_text, output_text, pattern_title


@dataclass
class CheckResult:
    r"""The verdict of :func:`check`; true when the formulas are equal.

    ``difference`` is *given - derived*, simplified. The expanded terms are
    compared one by one: ``missing`` holds the derived terms absent from the
    given formula, ``extra`` the given terms absent from the derived one,
    ``wrong_coefficient`` pairs (given term, derived term) of the same
    monomial with different coefficients; ``sources`` names, for each missing
    or wrongly weighted term, the diagrams it comes from.
    """

    pattern: str
    equal: bool
    derived: sp.Expr
    given: sp.Expr
    difference: sp.Expr
    missing: list = field(default_factory=list)
    extra: list = field(default_factory=list)
    wrong_coefficient: list = field(default_factory=list)
    sources: dict = field(default_factory=dict)
    foreign_symbols: list = field(default_factory=list)
    title: str = ""

    def __bool__(self) -> bool:
        return self.equal

    def report(self) -> str:
        """The verdict as text (what ``symcorr check`` prints)."""
        verdict = "EQUAL" if self.equal else "NOT EQUAL"
        lines = [f"{self.title}: {verdict}" if self.title else verdict]
        if self.equal:
            lines.append(f"your formula equals the derived {output_text(self.pattern)}")
            return "\n".join(lines) + "\n"
        lines.append(f"given - derived = {expression_text(self.difference)}")

        def source(term):
            names = self.sources.get(term)
            return f"    <- diagram {', '.join(names)}" if names else ""

        if self.missing:
            lines.append(f"missing terms ({len(self.missing)}; in the derived formula, not in yours):")
            lines += [f"  {expression_text(t)}{source(t)}" for t in self.missing]
        if self.extra:
            lines.append(f"extra terms ({len(self.extra)}; in yours, not in the derived formula):")
            lines += [f"  {expression_text(t)}" for t in self.extra]
        if self.wrong_coefficient:
            lines.append(f"wrong coefficients ({len(self.wrong_coefficient)}; yours vs derived):")
            lines += [f"  {expression_text(g)}  vs  {expression_text(d)}{source(d)}"
                      for g, d in self.wrong_coefficient]
        if self.foreign_symbols:
            lines.append("symbols the derived formula does not contain: "
                         + ", ".join(map(expression_text, self.foreign_symbols)))
        return "\n".join(lines) + "\n"


def _relabel_symbol(symbol: sp.Symbol, mapping: dict[str, str]) -> sp.Symbol:
    vertex = parse_vertex_symbol(symbol)
    if vertex is not None:
        label, power, derivative = vertex
        return vertex_symbol(mapping.get(label, label), power, derivative)
    try:
        labels = symbol_labels(symbol)
    except ValueError:
        return symbol
    return cumulant_symbol([mapping.get(a, a) for a in labels])


def relabel(expression: sp.Expr, mapping: dict[str, str]) -> sp.Expr:
    """Rename neuron labels in every cumulant and vertex symbol (simultaneously)."""
    return expression.xreplace({s: _relabel_symbol(s, mapping) for s in expression.free_symbols})


def pattern_label_mapping(pattern: str) -> dict[str, str]:
    """Canonical label -> the caller's label, e.g. ``'jji'`` gives ``{'i': 'j', 'j': 'i'}``."""
    if not isinstance(pattern, str) or not pattern or not set(pattern) <= set(NEURON_LABELS):
        raise ValueError(f"an index pattern uses the neuron labels {NEURON_LABELS!r}, e.g. 'iij'; got {pattern!r}")
    distinct = sorted(dict.fromkeys(pattern), key=lambda a: (-pattern.count(a), pattern.index(a)))
    return {NEURON_LABELS[t]: a for t, a in enumerate(distinct)}


def _term_table(expression: sp.Expr) -> dict[sp.Expr, sp.Expr]:
    table = {}
    for term in sp.Add.make_args(sp.expand(expression)):
        if term == 0:
            continue
        coefficient, monomial = term.as_coeff_Mul()
        table[monomial] = table.get(monomial, 0) + coefficient
    return {m: c for m, c in table.items() if c != 0}


def _simplified(difference: sp.Expr) -> sp.Expr:
    if len(sp.Add.make_args(difference)) <= 60:
        try:
            return within_budget(sp.factor, difference, what="factoring the difference")
        except (sp.PolynomialError, NotImplementedError, BudgetExceededError):
            return difference
    return difference


def elementary_form(expression: sp.Expr) -> sp.Expr:
    r"""``expression`` with the families' named Gaussian functions written out: every function that has
    a ``closed_form`` (:func:`symcorr.derivation.families.resummed.gaussian_function`, e.g.
    ``ReluGaussianMean``) replaced by it, then :math:`\Phi` and :math:`e^{-q}` rewritten through ``erfc``
    and ``exp`` -- the functions a hand-written formula can use. What has no elementary form (the
    bivariate normal CDF :math:`\Phi_2`) stays as it is."""
    def named(e):
        return isinstance(e, sp.Function) and callable(getattr(type(e), "closed_form", None))

    previous = None
    while previous != expression:
        previous, expression = expression, expression.replace(named, lambda e: e.closed_form())
    return expression.rewrite(sp.erfc).rewrite(sp.exp)


def check(derivation, pattern: str, expression, syntax: str = "auto") -> CheckResult:
    r"""Compare a hand-written ``expression`` with the derived formula of ``pattern``.

    ``expression`` is a SymPy expression or a string in SymPy or LaTeX syntax
    (parsed safely, :func:`symcorr.notation.parse.parse_expression`); ``lhs = rhs``
    is read as ``rhs``. ``pattern`` may use any neuron labels (``'ji'``,
    ``'jji'``): the derived formula is relabelled to match. For example,
    docs/theory.md section 5 for :math:`\phi(z) = z + \alpha z^2`,

    .. math::

        \Sigma_{y,ij} = (1 + 2\alpha\mu_i)(1 + 2\alpha\mu_j)\Sigma_{ij} + 2\alpha^2\Sigma_{ij}^2
        + \alpha(\kappa_{iij} + \kappa_{ijj}) + 2\alpha^2(\mu_i\kappa_{ijj} + \mu_j\kappa_{iij})
        + \alpha^2\kappa_{iijj},

    checks equal against ``derive(quadratic(), 2, 4)``.
    """
    mapping = pattern_label_mapping(pattern)
    canonical = normalize_pattern(pattern)
    derived = relabel(derivation.formula(canonical), mapping)
    if isinstance(expression, str):
        given = parse_expression(expression, syntax)
    elif isinstance(expression, sp.Basic):
        given = check_expression_cost(normalize_symbols(expression))
    elif isinstance(expression, (int, float)) and not isinstance(expression, bool):
        given = sp.Rational(repr(expression))
    else:
        raise TypeError(f"a formula is a string or a SymPy expression, got {type(expression).__name__}")
    difference = sp.expand(given - derived)
    equal = difference == 0
    if not equal and not difference.is_polynomial(*difference.free_symbols):
        elementary = elementary_form(given - derived)
        equal = within_budget(sp.simplify, elementary, what="simplifying the difference") == 0
    user_pattern = "".join(mapping.get(a, a) for a in canonical)
    title = (f"check {derivation.activation.name}, {output_text(user_pattern)} "
             f"({pattern_title(canonical).lower()}, pattern {user_pattern}), {closure_text(derivation)}")
    if equal:
        return CheckResult(user_pattern, True, derived, given, sp.Integer(0), title=title)

    derived_terms, given_terms = _term_table(derived), _term_table(given)
    missing, extra, wrong = [], [], []
    for monomial in sorted(set(derived_terms) | set(given_terms), key=sp.default_sort_key):
        d, g = derived_terms.get(monomial, 0), given_terms.get(monomial, 0)
        if d == g:
            continue
        if g == 0:
            missing.append(d * monomial)
        elif d == 0:
            extra.append(g * monomial)
        else:
            wrong.append((g * monomial, d * monomial))

    sources = {}
    wanted = {t.as_coeff_Mul()[1]: t for t in missing + [d for _, d in wrong]}
    if wanted:
        for diagram in terms(derivation, canonical):
            if diagram.contribution is None:
                break
            for monomial in _term_table(relabel(diagram.contribution, mapping)):
                if monomial in wanted:
                    sources.setdefault(wanted[monomial], []).append(
                        f"[{diagram.index}] {expression_text(relabel(diagram.term, mapping))}")
    foreign = sorted(given.free_symbols - derived.free_symbols, key=lambda s: s.name)
    return CheckResult(user_pattern, False, derived, given, _simplified(difference), missing, extra, wrong,
                       sources, foreign, title)


__all__ = ["CheckResult", "check", "relabel", "pattern_label_mapping"]
