r"""For theorists: read, check and picture every derived formula.

The derivation engine (:mod:`symcorr.derivation.engine`, MATH.md section 4) gives, for
every index pattern of the output cumulants of :math:`y = \phi(z)`, a SymPy
formula in the input cumulants :math:`\mu_i, \Sigma_{ij}, \kappa_{iij}, \dots`
and the activation's parameters. This module

* prints them as text, Markdown or LaTeX (:func:`derivation_latex`,
  :func:`render_derivation`; ``symcorr derive``);
* checks a hand-written formula against them (:func:`check_formula`;
  ``symcorr check``), parsing strings safely (:mod:`symcorr.notation.parse`);
* lists each formula's terms grouped by diagram and draws them
  (:func:`derivation_terms`, :mod:`symcorr.theory.diagrams`; ``symcorr terms``);
* writes the formula sheets of all shipped formulas
  (:func:`formula_sheet_markdown`, :func:`formula_sheet_latex`).

Naming of the output cumulants (MATH.md sections 1 and 4): the mean
:math:`\mu_{y,i}` (pattern ``i``), the covariance :math:`\Sigma_{y,ij}`
(``ij``; ``ii`` is the variance) and :math:`\kappa_{y,iij}` for orders
:math:`\ge 3`; in text ``mu_y[i]``, ``Sigma_y[ij]``, ``kappa_y[iij]``.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from symcorr.derivation import activations
from symcorr.derivation.activations import Activation
from symcorr.notation.symbols import NEURON_LABELS, cumulant_symbol, symbol_labels
from symcorr.theory.diagrams import Diagram, diagram_caption_latex, diagram_terms, draw_diagrams, term_latex
from symcorr.notation.partitions import normalize_pattern
from symcorr.notation.symbols import parse_vertex_symbol, vertex_symbol
from symcorr.notation.parse import ExpressionError, normalize_symbols, parse_expression



# ---------------------------------------------------------------------------
# names of output cumulants and activations
# ---------------------------------------------------------------------------

def output_latex(pattern: str) -> str:
    r"""LaTeX name of the output cumulant: ``\mu_{y,i}``, ``\Sigma_{y,ij}``, ``\kappa_{y,iij}``."""
    stem = {1: r"\mu", 2: r"\Sigma"}.get(len(pattern), r"\kappa")
    return f"{stem}_{{y,{pattern}}}"


def output_text(pattern: str) -> str:
    """Plain-text name of the output cumulant: ``mu_y[i]``, ``Sigma_y[ij]``, ``kappa_y[iij]``."""
    stem = {1: "mu", 2: "Sigma"}.get(len(pattern), "kappa")
    return f"{stem}_y[{pattern}]"


def pattern_title(pattern: str) -> str:
    """``'Covariance'``, ``'Variance'``, ``'Mean'``, ``'Cumulant of order 3'``."""
    if len(pattern) == 1:
        return "Mean"
    if len(pattern) == 2:
        return "Variance" if pattern[0] == pattern[1] else "Covariance"
    return f"Cumulant of order {len(pattern)}"


def math_sections(activation: Activation) -> str:
    """The MATH.md sections a derivation for ``activation`` follows."""
    return activation.family.theory_sections


def activation_description(activation: Activation) -> str:
    """``quadratic: phi(z) = alpha*z**2 + z``."""
    return f"{activation.name}: phi(z) = {sp.sstr(activation.expression)}"


def _parameter_values(activation: Activation) -> dict[sp.Symbol, sp.Expr]:
    return {sp.Symbol(name, real=True): sp.Rational(repr(float(value))) for name, value in activation.parameters}


def accuracy_text(derivation) -> str:
    """One sentence (Markdown and LaTeX alike) on what a derivation's formulas neglect."""
    return derivation.activation.family.accuracy(derivation)


def _closure_text(derivation) -> str:
    text = f"closure K = {derivation.closure}"
    if derivation.series_order is not None:
        text += f", series order {derivation.series_order}"
    return text


# ---------------------------------------------------------------------------
# formulas as text / LaTeX
# ---------------------------------------------------------------------------

def formula_expression(derivation, pattern: str, substitute: bool = False) -> sp.Expr:
    """The formula of ``pattern``; with ``substitute`` the activation's parameter values put in."""
    formula = derivation.formula(pattern)
    if substitute:
        formula = sp.expand(formula.xreplace(_parameter_values(derivation.activation)))
    return formula


def ordered_terms(expression: sp.Expr, parameters=()) -> list[sp.Expr]:
    """The additive terms of ``expression``, lowest total degree in ``parameters`` first
    (for :math:`z + \\alpha z^2`: the linear part, then order :math:`\\alpha`, ...), ties in SymPy's order."""
    # expanding is for polynomial formulas; an erf formula (Owen's T, exp) is kept as derived
    terms = sp.Add.make_args(sp.expand(expression) if expression.is_polynomial() else expression)
    ordered = sp.Add(*terms).as_ordered_terms() if len(terms) > 1 else list(terms)
    parameters = list(parameters)

    def degree(term):
        powers = term.as_powers_dict()
        return sum(int(powers[p]) for p in parameters if p in powers and sp.sympify(powers[p]).is_Integer)

    keyed = sorted((degree(t), n, t) for n, t in enumerate(ordered))
    return [t for _, _, t in keyed] if keyed else [sp.Integer(0)]


def _split_term(term: sp.Expr, parameters) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """``4*alpha**2*Sigma_ij*mu_i`` -> ``(4, alpha**2, Sigma_ij*mu_i)``: number, parameters, the rest."""
    coefficient, rest = term.as_coeff_Mul()
    parameters = set(parameters)
    factors = sp.Mul.make_args(rest)
    own = [f for f in factors if f.free_symbols and f.free_symbols <= parameters]
    others = [f for f in factors if f not in own]
    return coefficient, sp.Mul(*own), sp.Mul(*others)


def _term_printer(parameters, style: str):
    """A printer of one positive term: number, then activation parameters, then cumulants."""
    def latex(term):
        coefficient, own, others = _split_term(term, parameters)
        parts = [] if coefficient == 1 else [sp.latex(coefficient)]
        parts += [term_latex(f) for f in (own, others) if f != 1]
        return " ".join(parts) or "1"

    def text(term):
        coefficient, own, others = _split_term(term, parameters)
        numerator = coefficient.p if coefficient.is_Rational else coefficient
        denominator = coefficient.q if coefficient.is_Rational else 1
        parts = [] if numerator == 1 else [sp.sstr(numerator)]
        parts += [sp.sstr(f) for f in (own, others) if f != 1]
        body = "*".join(parts) or "1"
        return body if denominator == 1 else f"{body}/{denominator}"

    return latex if style == "latex" else text


def _signed(term: sp.Expr, printer) -> tuple[str, str]:
    if term.could_extract_minus_sign():
        return "-", printer(-term)
    return "+", printer(term)


def _visible_width(latex: str) -> float:
    r"""Rough printed width of a LaTeX snippet in characters: a command counts one,
    sub- and superscripts 0.7 a character, braces and spaces nothing, binary operators two."""
    text = re.sub(r"\\(left|right)", "", latex)
    text = re.sub(r"\\[A-Za-z]+", "X", text)
    width = 0.0
    for script in re.findall(r"[_^]\{([^{}]*)\}", text):
        width += 0.7 * len(script)
    text = re.sub(r"[_^]\{[^{}]*\}", "", text)
    width += 0.7 * len(re.findall(r"[_^].", text))
    text = re.sub(r"[_^].", "", text)
    width += sum(2 if c in "+-=" else 1 for c in text if c not in "{} ")
    return width


def latex_lines(terms: list[sp.Expr], width: int | None = None, parameters=()) -> list[str]:
    """LaTeX of a sum of ``terms`` as lines of at most about ``width`` printed characters
    (one line if ``width`` is ``None``); continuation lines start with their sign. In each
    term the factors in ``parameters`` (the activation's) come first."""
    printer = _term_printer(parameters, "latex")
    lines, current, used = [], [], 0
    for position, term in enumerate(terms):
        sign, body = _signed(term, printer)
        piece = (f"- {body}" if sign == "-" else body) if position == 0 else f"{sign} {body}"
        size = _visible_width(piece)
        if width is not None and current and used + size > width:
            lines.append(" ".join(current))
            current, used = [], 0
        current.append(piece)
        used += size
    lines.append(" ".join(current))
    return lines


def formula_latex(derivation, pattern: str, width: int | None = None, substitute: bool = False) -> list[str]:
    """The lines of ``lhs = rhs`` in LaTeX (see :func:`latex_lines`)."""
    pattern = normalize_pattern(pattern)
    parameters = () if substitute else derivation.activation.parameter_symbols
    terms = ordered_terms(formula_expression(derivation, pattern, substitute), parameters)
    return latex_lines(terms, width, parameters)


def derivation_latex(derivation, pattern: str | None = None) -> str:
    r"""LaTeX of one pattern's formula, ``\Sigma_{y,ij} = ...`` on one line, or of all
    patterns in an ``align*`` environment (``pattern=None``).

    The one-line form parses back with :func:`symcorr.notation.parse.parse_latex`.
    """
    if pattern is not None:
        pattern = normalize_pattern(pattern)
        return f"{output_latex(pattern)} = {formula_latex(derivation, pattern)[0]}"
    rows = [f"{output_latex(p)} &= {formula_latex(derivation, p)[0]}" for p in derivation.patterns]
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


def _align_block(lhs: str, lines: list[str], environment: str = "align*") -> str:
    body = [f"{lhs} ={{}}& {lines[0]}"] + [f"&{line if line[0] in '+-' else '+ ' + line}" for line in lines[1:]]
    return f"\\begin{{{environment}}}\n" + " \\\\\n".join(body) + f"\n\\end{{{environment}}}"


def formula_text(derivation, pattern: str, substitute: bool = False) -> str:
    """``Sigma_y[ij] = ...`` in SymPy syntax (parses back with :func:`symcorr.notation.parse.parse_sympy`)."""
    pattern = normalize_pattern(pattern)
    parameters = () if substitute else derivation.activation.parameter_symbols
    terms = ordered_terms(formula_expression(derivation, pattern, substitute), parameters)
    printer = _term_printer(parameters, "text")
    pieces = []
    for position, term in enumerate(terms):
        sign, body = _signed(term, printer)
        pieces.append((f"-{body}" if sign == "-" else body) if position == 0 else f"{sign} {body}")
    return f"{output_text(pattern)} = {' '.join(pieces)}"


def _derivation_heading(derivation) -> str:
    activation = derivation.activation
    values = ", ".join(f"{n} = {v:g}" for n, v in activation.parameters)
    return (f"{activation_description(activation)}" + (f" ({values})" if values else "")
            + f"; output orders 1..{derivation.order} from input cumulants of orders 1..{derivation.closure} "
            f"({_closure_text(derivation)}); follows {math_sections(activation)}")


def render_derivation(derivation, fmt: str = "text", patterns=None, substitute: bool = False) -> str:
    """Every pattern's formula (or those in ``patterns``) as ``fmt``: 'text', 'markdown' or 'latex'."""
    patterns = [normalize_pattern(p) for p in (patterns or derivation.patterns)]
    if fmt == "text":
        lines = [f"# {_derivation_heading(derivation)}"]
        lines += [formula_text(derivation, p, substitute) for p in patterns]
        return "\n".join(lines) + "\n"
    if fmt == "markdown":
        return _markdown_section(derivation, patterns, substitute, level=2) + "\n"
    if fmt == "latex":
        blocks = [f"% {_derivation_heading(derivation)}"]
        for p in patterns:
            blocks.append(f"% {pattern_title(p)}, pattern {p}")
            blocks.append(_align_block(output_latex(p), formula_latex(derivation, p, 70, substitute)))
        return "\n".join(blocks) + "\n"
    raise ValueError(f"format must be 'text', 'markdown' or 'latex', got {fmt!r}")


def _markdown_section(derivation, patterns, substitute: bool, level: int) -> str:
    hashes = "#" * level
    activation = derivation.activation
    parts = [f"{hashes} {activation.name}: $\\phi(z) = {sp.latex(activation.expression)}$, "
             f"orders 1..{derivation.order}, closure $K = {derivation.closure}$"
             + (f", series order {derivation.series_order}" if derivation.series_order is not None else ""),
             ""]
    values = ", ".join(f"${sp.latex(sp.Symbol(n))} = {v:g}$" for n, v in activation.parameters)
    parts.append(f"Follows {math_sections(activation)}. {accuracy_text(derivation)}"
                 + (f" Kernel parameter values: {values}." if values and not substitute else ""))
    for p in patterns:
        parts += ["", f"{hashes}# {pattern_title(p)}: ${output_latex(p)}$ (pattern `{p}`)", "",
                  "$$", _align_block(output_latex(p), formula_latex(derivation, p, 90, substitute), "aligned"),
                  "$$"]
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# terms by diagram
# ---------------------------------------------------------------------------

def derivation_terms(derivation, pattern: str) -> list[Diagram]:
    """The terms of ``pattern``'s formula grouped by diagram (:func:`symcorr.theory.diagrams.diagram_terms`)."""
    return diagram_terms(derivation, pattern)


def render_terms(derivation, pattern: str, fmt: str = "text", diagrams: list[Diagram] | None = None) -> str:
    """A formula's terms by diagram as 'text', 'markdown' or 'latex'."""
    pattern = normalize_pattern(pattern)
    diagrams = derivation_terms(derivation, pattern) if diagrams is None else diagrams
    slots = ", ".join(f"{s} -> {a}" for s, a in enumerate(pattern, start=1))
    contributions = [d.contribution for d in diagrams]
    if all(c is not None for c in contributions):
        total = sp.expand(sp.Add(*contributions) - derivation.formula(pattern))
        closing = ("the contributions add up to the formula" if total == 0 else
                   f"WARNING: the contributions differ from the formula by {total}")
    else:
        closing = "vertex functions of this activation are not available: contributions not evaluated"
    head = (f"{derivation.activation.name}, {output_text(pattern)} ({pattern_title(pattern).lower()}, "
            f"pattern {pattern}), {_closure_text(derivation)}: {len(diagrams)} diagram"
            f"{'' if len(diagrams) == 1 else 's'}")
    if fmt == "text":
        lines = [head, f"output slots: {slots}",
                 "vertex g{p}d{n}_a = d^n/dmu^n E[phi(z)^p] at neuron a (p output slots, n cumulant legs)"]
        if any(v.joint for d in diagrams for v in d.vertices):
            lines.append("joint vertex G{p}x{q}d{n}x{m}_ab = d^n/dmu_a^n d^m/dmu_b^m E[phi(z_a)^p phi(z_b)^q], "
                         "(z_a, z_b) jointly Gaussian (Sigma_ab inside)")
        lines.append("")
        lines += [d.describe() + "\n" for d in diagrams]
        lines.append(closing)
        return "\n".join(lines) + "\n"
    if fmt == "markdown":
        lines = [f"**{head}**; output slots {slots}; vertex $g^{{(n)}}_{{p,a}} = \\partial^n_\\mu "
                 "E[\\phi(z)^p]$ at neuron $a$.", "",
                 "| # | diagram | cumulants (hyperedges) | vertices: neuron, slots, $p$, $n$ | coefficient "
                 "| contribution |",
                 "|---|---|---|---|---|---|"]
        for d in diagrams:
            edges = "; ".join(f"${e.latex}$" + (f"×{e.multiplicity}" if e.multiplicity > 1 else "")
                              + f" ({', '.join(f'{n}@{a}' for a, n in e.legs().items())})"
                              for e in d.edges) or "none"
            vertices = "; ".join(f"{v.neuron}: slots {','.join(map(str, v.slots))}, p={v.power}, n={v.derivative}"
                                 for v in d.vertices)
            contribution = "n/a" if d.contribution is None else f"${sp.latex(d.shown_contribution)}$"
            lines.append(f"| {d.index} | ${diagram_caption_latex(d)}$ ({d.kind}) | {edges} | {vertices} | "
                         f"${sp.latex(d.coefficient)}$ | {contribution} |")
        lines += ["", closing]
        return "\n".join(lines) + "\n"
    if fmt == "latex":
        lines = [f"% {head}", "\\begin{itemize}"]
        for d in diagrams:
            contribution = "" if d.contribution is None else f" $= {sp.latex(d.shown_contribution)}$"
            edges = ", ".join(f"${e.latex}$" + (f" ($\\times {e.multiplicity}$)" if e.multiplicity > 1 else "")
                              for e in d.edges) or "none"
            lines.append(f"\\item[{{[{d.index}]}}] ${diagram_caption_latex(d)}$ ({d.kind}; cumulants: {edges})"
                         f"{contribution}")
        lines += ["\\end{itemize}", f"% {closing}"]
        return "\n".join(lines) + "\n"
    raise ValueError(f"format must be 'text', 'markdown' or 'latex', got {fmt!r}")


def draw_terms(derivation, pattern: str, paths, diagrams: list[Diagram] | None = None):
    """Draw ``pattern``'s diagrams to ``paths`` (PNG/SVG/PDF by suffix); see :func:`draw_diagrams`."""
    pattern = normalize_pattern(pattern)
    diagrams = derivation_terms(derivation, pattern) if diagrams is None else diagrams
    title = (f"{derivation.activation.name}: {pattern_title(pattern).lower()} ${output_latex(pattern)}$ "
             f"(pattern {pattern}, $K = {derivation.closure}$) = sum of {len(diagrams)} diagrams")
    return draw_diagrams(diagrams, paths, title=title)


# ---------------------------------------------------------------------------
# checking a hand-written formula
# ---------------------------------------------------------------------------

@dataclass
class CheckResult:
    r"""The verdict of :func:`check_formula`; true when the formulas are equal.

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
        lines.append(f"given - derived = {sp.sstr(self.difference)}")

        def source(term):
            names = self.sources.get(term)
            return f"    <- diagram {', '.join(names)}" if names else ""

        if self.missing:
            lines.append(f"missing terms ({len(self.missing)}; in the derived formula, not in yours):")
            lines += [f"  {sp.sstr(t)}{source(t)}" for t in self.missing]
        if self.extra:
            lines.append(f"extra terms ({len(self.extra)}; in yours, not in the derived formula):")
            lines += [f"  {sp.sstr(t)}" for t in self.extra]
        if self.wrong_coefficient:
            lines.append(f"wrong coefficients ({len(self.wrong_coefficient)}; yours vs derived):")
            lines += [f"  {sp.sstr(g)}  vs  {sp.sstr(d)}{source(d)}" for g, d in self.wrong_coefficient]
        if self.foreign_symbols:
            lines.append("symbols the derived formula does not contain: "
                         + ", ".join(map(str, self.foreign_symbols)))
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
            return sp.factor(difference)
        except (sp.PolynomialError, NotImplementedError):  # pragma: no cover - factor handles expressions
            return difference
    return difference


def check_formula(derivation, pattern: str, expression, syntax: str = "auto") -> CheckResult:
    r"""Compare a hand-written ``expression`` with the derived formula of ``pattern``.

    ``expression`` is a SymPy expression or a string in SymPy or LaTeX syntax
    (parsed safely, :func:`symcorr.notation.parse.parse_expression`); ``lhs = rhs``
    is read as ``rhs``. ``pattern`` may use any neuron labels (``'ji'``,
    ``'jji'``): the derived formula is relabelled to match. For example,
    MATH.md section 5 for :math:`\phi(z) = z + \alpha z^2`,

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
        given = normalize_symbols(expression)
    elif isinstance(expression, (int, float)) and not isinstance(expression, bool):
        given = sp.Rational(repr(expression))
    else:
        raise TypeError(f"a formula is a string or a SymPy expression, got {type(expression).__name__}")
    difference = sp.expand(given - derived)
    equal = difference == 0
    if not equal and not difference.is_polynomial(*difference.free_symbols):
        equal = sp.simplify(difference) == 0
    user_pattern = "".join(mapping.get(a, a) for a in canonical)
    title = (f"check {derivation.activation.name}, {output_text(user_pattern)} "
             f"({pattern_title(canonical).lower()}, pattern {user_pattern}), {_closure_text(derivation)}")
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
        for diagram in derivation_terms(derivation, canonical):
            if diagram.contribution is None:
                break
            for monomial in _term_table(relabel(diagram.contribution, mapping)):
                if monomial in wanted:
                    sources.setdefault(wanted[monomial], []).append(
                        f"[{diagram.index}] {relabel(diagram.term, mapping)}")
    foreign = sorted(given.free_symbols - derived.free_symbols, key=lambda s: s.name)
    return CheckResult(user_pattern, False, derived, given, _simplified(difference), missing, extra, wrong,
                       sources, foreign, title)


# ---------------------------------------------------------------------------
# formula sheets
# ---------------------------------------------------------------------------

_NOTATION_MD = (
    "Output cumulants of a pointwise layer $y_i = \\phi(z_i)$ in terms of the cumulants of its input $z$ "
    "(MATH.md section 1): mean $\\mu_i$, covariance $\\Sigma_{ij}$ ($\\Sigma_{ii}$ the variance), "
    "higher cumulants $\\kappa_{iij}, \\kappa_{iijj}, \\dots$. An output cumulant depends only on which of "
    "its slots share a neuron, its index pattern (MATH.md section 4): $\\mu_{y,i}$, $\\Sigma_{y,ii}$, "
    "$\\Sigma_{y,ij}$, $\\kappa_{y,iij}$, ... with $i, j, k, l$ distinct neurons. Every formula is derived "
    "by the cumulant expansion around independent Gaussians $N(\\mu_a, \\Sigma_{aa})$ (MATH.md section 4) "
    "and the Moebius formula over the output slots (MATH.md section 2); input cumulants above the closure "
    "order $K$ are taken as zero. For erf (MATH.md section 6) the Gaussian part is resummed instead: "
    "$C_{\\mathrm{erf}}(\\mu_a, \\mu_b, \\Sigma_{aa}, \\Sigma_{bb}, \\Sigma_{ab}) = "
    "\\mathrm{Cov}(\\operatorname{erf} z_a, \\operatorname{erf} z_b)$ (Owen's T) and "
    "$E_{\\mathrm{erf}}^{(p_a, p_b, \\dots)}(\\mu_a, \\mu_b, \\dots) = "
    "E[\\operatorname{erf}(z_a)^{p_a} \\operatorname{erf}(z_b)^{p_b} \\cdots]$ for $z$ Gaussian with the "
    "means and covariances of those neurons (evaluated numerically). Regenerate with "
    "`python -m derivations`; list the terms of a formula by diagram with `symcorr terms`."
)




def formula_sheet_markdown(derivations, header: str | None = None) -> str:
    """A Markdown document of every formula of ``derivations`` (deterministic output).

    One section per derivation, in the given order (activation, output orders, closure), naming
    the MATH.md sections it follows; each formula in LaTeX math (``$$``
    blocks with ``aligned`` line breaks).
    """
    derivations = list(derivations)
    parts = []
    if header:
        parts += [f"<!-- {header} -->", ""]
    parts += ["# symcorr formula sheet", "", _NOTATION_MD, "", "## Contents", ""]
    for number, d in enumerate(derivations, start=1):
        parts.append(f"{number}. {d.activation.name}: $\\phi(z) = {sp.latex(d.activation.expression)}$, "
                     f"orders 1..{d.order}, closure $K = {d.closure}$"
                     + (f", series order {d.series_order}" if d.series_order is not None else ""))
    for d in derivations:
        parts += ["", _markdown_section(d, list(d.patterns), False, level=2)]
    return "\n".join(parts) + "\n"


def _latex_escape(text: str) -> str:
    return (text.replace("\\", "\\textbackslash{}").replace("_", "\\_").replace("#", "\\#")
            .replace("%", "\\%").replace("&", "\\&").replace("$", "\\$"))


def formula_sheet_latex(derivations, header: str | None = None) -> str:
    """A standalone LaTeX document (article, amsmath, geometry) of every formula of ``derivations``.

    Deterministic output; long formulas are broken over lines and pages
    (``align*`` with ``\\allowdisplaybreaks``). Compiles with ``pdflatex``
    from ``texlive-latex-base``.
    """
    derivations = list(derivations)
    lines = []
    if header:
        lines.append(f"% {header}")
    lines += [
        "\\documentclass[10pt]{article}",
        "\\usepackage[a4paper,margin=2cm]{geometry}",
        "\\usepackage{amsmath}",
        "\\allowdisplaybreaks",
        "\\setlength{\\parindent}{0pt}",
        "\\title{symcorr formula sheet}",
        "\\date{}",
        "\\begin{document}",
        "\\maketitle",
        "",
        _NOTATION_MD.replace("`python -m derivations`", "\\texttt{python -m derivations}")
                    .replace("`symcorr terms`", "\\texttt{symcorr terms}"),
        "",
        "\\tableofcontents",
    ]
    for d in derivations:
        activation = d.activation
        series = f", series order {d.series_order}" if d.series_order is not None else ""
        lines += ["", f"\\section{{{_latex_escape(activation.name)}: $\\phi(z) = {sp.latex(activation.expression)}$, "
                      f"orders 1..{d.order}, closure $K = {d.closure}${series}}}", ""]
        values = ", ".join(f"${sp.latex(sp.Symbol(n))} = {v:g}$" for n, v in activation.parameters)
        lines.append(f"Follows {math_sections(activation)}. {accuracy_text(d)}"
                     + (f" Kernel parameter values: {values}." if values else ""))
        for p in d.patterns:
            lines += ["", f"\\subsection*{{{pattern_title(p)}: ${output_latex(p)}$ (pattern {p})}}",
                      _align_block(output_latex(p), formula_latex(d, p, 68))]
    lines += ["", "\\end{document}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------

def activation_from_spec(spec: str, alpha: float | None = None, coefficients=None) -> Activation:
    """An activation from the command line: a name in :data:`symcorr.derivation.activations.ACTIVATIONS`
    (``quadratic`` with ``alpha``, ``cubic``/``polynomial`` with ``coefficients``, ``erf``) or a
    SymPy expression in ``z`` (parsed safely, e.g. ``"z + z**2/2"``)."""
    name = spec.strip()
    if name in activations.ACTIVATIONS:
        if name == "quadratic":
            if coefficients:
                raise ValueError("quadratic takes --alpha, not --coeffs (use polynomial for general coefficients)")
            return activations.quadratic(1.0 if alpha is None else alpha)
        if alpha is not None:
            raise ValueError(f"--alpha applies to quadratic only, not {name}")
        if name == "cubic":
            if coefficients and len(coefficients) != 4:
                raise ValueError(f"cubic takes 4 coefficients a0 a1 a2 a3, got {len(coefficients)}")
            return activations.cubic(*coefficients) if coefficients else activations.cubic()
        if name == "polynomial":
            if not coefficients:
                raise ValueError("polynomial needs its coefficients: --coeffs a0 a1 ... ad")
            return activations.polynomial(coefficients)
        if coefficients:
            raise ValueError(f"{name} takes no coefficients")
        return activations.get(name)
    if alpha is not None or coefficients:
        raise ValueError("--alpha and --coeffs apply to named activations, not to an expression in z")
    expression = parse_expression(name, "sympy" if "\\" not in name else "latex")
    return activations.from_expression(expression)


class _DeprecatedOption(argparse.Action):
    """An old option spelling that still works and says what replaced it."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: {option_string} is deprecated, use {self.metavar}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _add_order_argument(parser):
    parser.add_argument("--order", "-M", type=int, default=2,
                        help="highest output cumulant order returned (default 2; docs/theory.md section 9)")
    parser.add_argument("--out-order", dest="order", type=int, action=_DeprecatedOption, metavar="--order",
                        help=argparse.SUPPRESS)


def _add_activation_arguments(parser, closure_required: bool = False):
    parser.add_argument("--activation", "-a", required=True,
                        help="quadratic | cubic | polynomial | erf, or an expression in z such as 'z + z**2/2'")
    parser.add_argument("--alpha", type=float, help="alpha of quadratic z + alpha z^2 (default 1)")
    parser.add_argument("--coeffs", type=float, nargs="+", metavar="A",
                        help="coefficients a0 a1 ... of polynomial (or cubic)")
    parser.add_argument("--closure", "-K", type=int,
                        help="highest input cumulant order kept (default for polynomials: order x degree, "
                             "which is exact; docs/theory.md section 9)")
    parser.add_argument("--series-order", "-S", type=int,
                        help="perturbation factors kept in exp(D) (MATH.md section 6); default for erf: "
                             "exact at closure 2 for orders 1..2, else the documented default "
                             "(symcorr.derivation.families.erf.default_series_order)")


def _derive_from_args(args, out_order: int):
    from symcorr.derivation.engine import derive

    activation = activation_from_spec(args.activation, args.alpha, args.coeffs)
    closure = args.closure
    if closure is None:
        closure = activation.family.input_orders_needed(activation, out_order)
        if closure is None:
            raise ValueError(f"the expansion of {activation.name} does not terminate: give --closure K (the input "
                             "cumulant orders to keep)")
    series_order = args.series_order
    if series_order is None:
        series_order = activation.family.default_series_order(activation, out_order, closure)
    return derive(activation, out_order, closure, series_order=series_order)


def _fail(prog: str, error: Exception) -> int:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2


def derive_main(argv) -> int:
    """``symcorr derive``: print the formula of every index pattern (exit 0, or 2 on an error)."""
    parser = argparse.ArgumentParser(
        prog="symcorr derive",
        description="Print the derived formula of every output-cumulant index pattern (MATH.md sections 4-6).")
    _add_activation_arguments(parser)
    _add_order_argument(parser)
    parser.add_argument("--format", "-f", choices=("text", "markdown", "latex"), default="text")
    parser.add_argument("--pattern", "-p", action="append", help="only this index pattern (repeatable)")
    parser.add_argument("--substitute", action="store_true",
                        help="put the activation's parameter values (alpha, coefficients) into the formulas")
    args = parser.parse_args(argv)
    try:
        out_order = args.order
        if args.pattern:
            out_order = max(out_order, *(len(p) for p in args.pattern))
        derivation = _derive_from_args(args, out_order)
        patterns = [normalize_pattern(p) for p in args.pattern] if args.pattern else None
        sys.stdout.write(render_derivation(derivation, args.format, patterns, args.substitute))
    except (ValueError, KeyError, ExpressionError) as error:
        return _fail("symcorr derive", error)
    return 0


def check_main(argv) -> int:
    """``symcorr check``: exit 0 when the hand-written formula equals the derived one,
    1 when it does not (printing the difference and the missing/extra terms), 2 on an error."""
    parser = argparse.ArgumentParser(
        prog="symcorr check",
        description="Check a hand-written formula for one output-cumulant pattern against the derivation. "
                    "Exit status: 0 equal, 1 not equal, 2 error.")
    _add_activation_arguments(parser)
    parser.add_argument("--pattern", "-p", required=True, help="index pattern, e.g. ij, ii, iij (any labels)")
    parser.add_argument("--syntax", choices=("auto", "sympy", "latex"), default="auto",
                        help="syntax of the formula (auto: LaTeX if it contains a backslash, '{' or '$')")
    parser.add_argument("expression", nargs="?", help="the formula (or use --file); 'lhs = rhs' reads rhs")
    parser.add_argument("--file", type=Path, help="read the formula from this file ('-' for stdin)")
    args = parser.parse_args(argv)
    if (args.expression is None) == (args.file is None):
        return _fail("symcorr check", ValueError("give the formula either as an argument or with --file"))
    try:
        if args.file is not None:
            text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text()
        else:
            text = args.expression
        derivation = _derive_from_args(args, len(args.pattern))
        result = check_formula(derivation, args.pattern, text, args.syntax)
    except (ValueError, KeyError, OSError, ExpressionError) as error:
        return _fail("symcorr check", error)
    sys.stdout.write(result.report())
    return 0 if result.equal else 1


def terms_main(argv) -> int:
    """``symcorr terms``: list a formula's terms by diagram; ``--draw`` saves the diagrams as pictures."""
    parser = argparse.ArgumentParser(
        prog="symcorr terms",
        description="List each formula's terms grouped by diagram (MATH.md section 4) and draw them.")
    _add_activation_arguments(parser)
    parser.add_argument("--pattern", "-p", action="append",
                        help="index pattern (repeatable; default: all patterns up to --out-order)")
    _add_order_argument(parser)
    parser.add_argument("--format", "-f", choices=("text", "markdown", "latex"), default="text")
    parser.add_argument("--draw", action="append", type=Path, metavar="FILE",
                        help="save a picture of the diagrams (.png, .svg or .pdf; repeatable); with several "
                             "patterns the pattern is appended to the file name")
    args = parser.parse_args(argv)
    try:
        patterns = [normalize_pattern(p) for p in args.pattern] if args.pattern else None
        out_order = max(len(p) for p in patterns) if patterns else args.order
        derivation = _derive_from_args(args, out_order)
        patterns = patterns or list(derivation.patterns)
        for pattern in patterns:
            diagrams = derivation_terms(derivation, pattern)
            sys.stdout.write(render_terms(derivation, pattern, args.format, diagrams))
            if args.draw:
                paths = [p if len(patterns) == 1 else p.with_name(f"{p.stem}_{pattern}{p.suffix}")
                         for p in args.draw]
                for path in draw_terms(derivation, pattern, paths, diagrams):
                    print(f"wrote {path}", file=sys.stderr)
    except (ValueError, KeyError, ImportError, ExpressionError) as error:
        return _fail("symcorr terms", error)
    return 0


__all__ = ["output_latex", "output_text", "pattern_title", "derivation_latex", "formula_text", "formula_latex",
           "render_derivation", "derivation_terms", "render_terms", "draw_terms", "CheckResult",
           "check_formula", "relabel", "pattern_label_mapping", "formula_sheet_markdown",
           "formula_sheet_latex", "activation_from_spec", "derive_main", "check_main", "terms_main"]
