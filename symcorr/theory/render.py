r"""Derived formulas, and their terms by diagram, as text, Markdown or LaTeX (``symcorr derive``).

The derivation engine (:mod:`symcorr.derivation.engine`, docs/theory.md section 4) gives, for
every index pattern of the output cumulants of :math:`y = \phi(z)`, a SymPy
formula in the input cumulants :math:`\mu_i, \Sigma_{ij}, \kappa_{iij}, \dots`
and the activation's parameters. This module lays them out: terms ordered by
their degree in the parameters (:func:`ordered_terms`), long formulas broken
over lines (:func:`latex_lines`), ``align`` environments; every piece of
mathematics is printed by :mod:`symcorr.theory.printers`.

Naming of the output cumulants (docs/theory.md sections 1 and 4): the mean
:math:`\mu_{y,i}` (pattern ``i``), the covariance :math:`\Sigma_{y,ij}`
(``ij``; ``ii`` is the variance) and :math:`\kappa_{y,iij}` for orders
:math:`\ge 3`; in text ``mu_y[i]``, ``Sigma_y[ij]``, ``kappa_y[iij]``.
"""
from __future__ import annotations

import re

import sympy as sp

from symcorr.derivation.activations import Activation
from symcorr.notation.partitions import normalize_pattern
from symcorr.notation.symbols import joint_vertex_symbol, parse_joint_vertex_symbol, parse_vertex_symbol, vertex_symbol
from symcorr.theory.diagrams import Diagram, diagram_caption_latex, terms
from symcorr.theory.printers import (
    FormulaLatexPrinter,
    FormulaStrPrinter,
    activation_equation,
    closure_equation,
    expression_latex,
    expression_text,
    output_symbol,
    parameter_equation,
)


FORMATS = ("text", "markdown", "latex")


# ---------------------------------------------------------------------------
# names of output cumulants, activations, derivations
# ---------------------------------------------------------------------------

def output_latex(pattern: str) -> str:
    r"""LaTeX name of the output cumulant: ``\mu_{y,i}``, ``\Sigma_{y,ij}``, ``\kappa_{y,iij}``."""
    return expression_latex(output_symbol(pattern))


def output_text(pattern: str) -> str:
    """Plain-text name of the output cumulant: ``mu_y[i]``, ``Sigma_y[ij]``, ``kappa_y[iij]``."""
    return expression_text(output_symbol(pattern))


def pattern_title(pattern: str) -> str:
    """``'Covariance'``, ``'Variance'``, ``'Mean'``, ``'Cumulant of order 3'``."""
    if len(pattern) == 1:
        return "Mean"
    if len(pattern) == 2:
        return "Variance" if pattern[0] == pattern[1] else "Covariance"
    return f"Cumulant of order {len(pattern)}"


def math_sections(activation: Activation) -> str:
    """The docs/theory.md sections a derivation for ``activation`` follows (its family's)."""
    return activation.family.theory_sections


def activation_description(activation: Activation) -> str:
    """``quadratic: phi(z) = alpha*z**2 + z``."""
    return f"{activation.name}: {expression_text(activation_equation(activation))}"


def _parameter_values(activation: Activation) -> dict[sp.Symbol, sp.Expr]:
    return {sp.Symbol(name, real=True): sp.Rational(repr(float(value))) for name, value in activation.parameters}


def parameter_values_latex(activation: Activation) -> str:
    r"""``$\alpha = 1$`` or ``$a_{0} = 0$, $a_{1} = 1$, ...``: the kernel's parameter values."""
    return ", ".join(f"${expression_latex(parameter_equation(n, v))}$" for n, v in activation.parameters)


def accuracy_text(derivation) -> str:
    """One sentence (Markdown and LaTeX alike) on what a derivation's formulas neglect (its family's)."""
    return derivation.activation.family.accuracy(derivation)


def closure_text(derivation) -> str:
    """``closure K = 4, series order 2``."""
    text = f"closure K = {derivation.closure}"
    if derivation.series_order is not None:
        text += f", series order {derivation.series_order}"
    return text


def derivation_title(derivation, family: str | None = None) -> str:
    r"""``quadratic: $\phi(z) = \alpha z^{2} + z$, orders 1..2, closure $K = 4$`` (Markdown and
    LaTeX alike; ``family`` replaces the family's name, e.g. escaped for LaTeX)."""
    activation = derivation.activation
    family = activation.name if family is None else family
    series = f", series order {derivation.series_order}" if derivation.series_order is not None else ""
    return (f"{family}: ${expression_latex(activation_equation(activation))}$, orders 1..{derivation.order}, "
            f"closure ${expression_latex(closure_equation(derivation.closure))}${series}")


def derivation_summary(derivation, values: bool = True) -> str:
    r"""``Follows docs/theory.md sections ... Exact for ... Kernel parameter values: $\alpha = 1$.`` (Markdown and
    LaTeX alike; the values only with ``values``)."""
    shown = parameter_values_latex(derivation.activation) if values else ""
    return (f"Follows {math_sections(derivation.activation)}. {accuracy_text(derivation)}"
            + (f" Kernel parameter values: {shown}." if shown else ""))


def _derivation_heading(derivation) -> str:
    activation = derivation.activation
    values = ", ".join(expression_text(parameter_equation(n, v), full_prec=False) for n, v in activation.parameters)
    return (f"{activation_description(activation)}" + (f" ({values})" if values else "")
            + f"; output orders 1..{derivation.order} from input cumulants of orders 1..{derivation.closure} "
            f"({closure_text(derivation)}); follows {math_sections(activation)}")


# ---------------------------------------------------------------------------
# formulas: terms in order, lines
# ---------------------------------------------------------------------------

def formula_expression(derivation, pattern: str, substitute: bool = False, in_vertex_functions: bool = False
                       ) -> sp.Expr:
    """The formula of ``pattern``; with ``substitute`` the activation's parameter values put in; with
    ``in_vertex_functions`` its diagram form (vertex functions :math:`g^{(n)}_{p,a}`, :math:`G^{(n,m)}_{pq,ab}`
    left as symbols, docs/theory.md sections 4.3 and 4.7)."""
    formula = derivation.diagram_form(pattern) if in_vertex_functions else derivation.formula(pattern)
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


def _signed(term: sp.Expr, printer) -> tuple[str, str]:
    if term.could_extract_minus_sign():
        return "-", printer.term(-term)
    return "+", printer.term(term)


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


def latex_pieces(terms: list[sp.Expr], parameters=()) -> list[str]:
    """Each of ``terms`` in LaTeX with its sign (``- body`` or ``body`` first, then ``+ body`` or
    ``- body``), the factors in ``parameters`` (the activation's) first: the printing, done once
    however the pieces are then broken into lines (:func:`broken_lines`)."""
    printer = FormulaLatexPrinter({"leading": tuple(parameters)})
    pieces = []
    for position, term in enumerate(terms):
        sign, body = _signed(term, printer)
        pieces.append((f"- {body}" if sign == "-" else body) if position == 0 else f"{sign} {body}")
    return pieces


def broken_lines(pieces: list[str], width: int | None = None) -> list[str]:
    """``pieces`` (:func:`latex_pieces`) joined into lines of at most about ``width`` printed
    characters (one line if ``width`` is ``None``); continuation lines start with their sign."""
    lines, current, used = [], [], 0
    for piece in pieces:
        size = _visible_width(piece)
        if width is not None and current and used + size > width:
            lines.append(" ".join(current))
            current, used = [], 0
        current.append(piece)
        used += size
    lines.append(" ".join(current))
    return lines


def latex_lines(terms: list[sp.Expr], width: int | None = None, parameters=()) -> list[str]:
    """LaTeX of a sum of ``terms`` as lines of at most about ``width`` printed characters
    (one line if ``width`` is ``None``); continuation lines start with their sign. In each
    term the factors in ``parameters`` (the activation's) come first."""
    return broken_lines(latex_pieces(terms, parameters), width)


def formula_pieces(derivation, pattern: str, substitute: bool = False, in_vertex_functions: bool = False
                   ) -> list[str]:
    """The signed LaTeX terms of ``pattern``'s formula (:func:`latex_pieces`), to be broken into lines
    at any width by :func:`broken_lines`; ``in_vertex_functions`` as in :func:`formula_expression`."""
    pattern = normalize_pattern(pattern)
    parameters = () if substitute else derivation.activation.parameter_symbols
    expression = formula_expression(derivation, pattern, substitute, in_vertex_functions)
    return latex_pieces(ordered_terms(expression, parameters), parameters)


#: What the vertex functions of a formula in vertex functions are (docs/theory.md sections 4.3 and 4.7).
VERTEX_FUNCTIONS_TEXT = (
    "Written in the vertex functions $g^{(n)}_{p,a} = \\partial^n_{\\mu_a} E[\\phi(z_a)^p]$, "
    "$z_a \\sim N(\\mu_a, \\Sigma_{aa})$ (docs/theory.md section 4.3), and the joint vertices "
    "$G^{(n,m)}_{pq,ab} = \\partial^n_{\\mu_a} \\partial^m_{\\mu_b} E[\\phi(z_a)^p \\phi(z_b)^q]$, "
    "$(z_a, z_b)$ jointly Gaussian with the covariance $\\Sigma_{ab}$ (three or four neurons alike; "
    "docs/theory.md section 4.7). Their values without derivatives follow; the others are their "
    "mean-derivatives, and the kernels hold them written out.")


def vertex_functions(derivation, substitute: bool = False) -> dict[sp.Symbol, sp.Expr]:
    r"""The vertex functions that ``derivation``'s diagram forms use, without derivatives
    (:math:`g^{(0)}_{p,a}`, :math:`G^{(0,0)}_{pq,ab}`, ...), one per power and number of neurons, first
    neurons first -> their expressions (the family's ``substitute_vertices``; with ``substitute`` the
    activation's parameter values put in)."""
    used = set().union(*(derivation.diagram_form(p).free_symbols for p in derivation.patterns))
    chosen = {}
    for symbol in sorted(used, key=lambda s: s.name):
        single = parse_vertex_symbol(symbol)
        joint = parse_joint_vertex_symbol(symbol)
        if single is not None:
            label, power, _ = single
            key, base = (1, (power,)), vertex_symbol(label, power, 0)
        elif joint is not None:
            labels, powers, _ = joint
            key, base = (len(labels), powers), joint_vertex_symbol(labels, powers, (0,) * len(powers))
        else:
            continue
        chosen.setdefault(key, base)
    activation = derivation.activation
    values = {base: activation.family.substitute_vertices(activation, base) for _, base in sorted(chosen.items())}
    if substitute:
        values = {base: value.xreplace(_parameter_values(activation)) for base, value in values.items()}
    return values


def vertex_function_pieces(derivation, substitute: bool = False) -> dict[str, list[str]]:
    """:func:`vertex_functions` in LaTeX: the name of each -> its signed terms (:func:`latex_pieces`)."""
    parameters = () if substitute else derivation.activation.parameter_symbols
    return {expression_latex(symbol): latex_pieces(ordered_terms(value, parameters), parameters)
            for symbol, value in vertex_functions(derivation, substitute).items()}


def formula_latex(derivation, pattern: str, width: int | None = None, substitute: bool = False) -> list[str]:
    """The lines of the right-hand side of ``pattern``'s formula in LaTeX (see :func:`latex_lines`)."""
    return broken_lines(formula_pieces(derivation, pattern, substitute), width)


def latex(derivation, pattern: str | None = None) -> str:
    r"""LaTeX of one pattern's formula, ``\Sigma_{y,ij} = ...`` on one line, or of all
    patterns in an ``align*`` environment (``pattern=None``).

    The one-line form parses back with :func:`symcorr.notation.parse.parse_latex`.
    """
    if pattern is not None:
        pattern = normalize_pattern(pattern)
        return f"{output_latex(pattern)} = {formula_latex(derivation, pattern)[0]}"
    rows = [f"{output_latex(p)} &= {formula_latex(derivation, p)[0]}" for p in derivation.patterns]
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


def align_rows(lhs: str, lines: list[str]) -> list[str]:
    """``lhs ={}& line 1``, ``&+ line 2``, ...: the rows of one equation in an ``align`` environment."""
    return [f"{lhs} ={{}}& {lines[0]}"] + [f"&{line if line[0] in '+-' else '+ ' + line}" for line in lines[1:]]


def align_block(lhs: str, lines: list[str], environment: str = "align*") -> str:
    """``lhs ={}& line 1 \\\\ &+ line 2 ...`` in ``environment`` (``align*`` or ``aligned``)."""
    return aligned_rows(align_rows(lhs, lines), environment)


def aligned_rows(rows: list[str], environment: str = "align*") -> str:
    """``rows`` (:func:`align_rows`) in ``environment``, one per line."""
    return f"\\begin{{{environment}}}\n" + " \\\\\n".join(rows) + f"\n\\end{{{environment}}}"


def vertex_function_block(vertex_pieces: dict[str, list[str]], width: int, environment: str = "align*") -> str:
    """The values of :func:`vertex_function_pieces` as one ``environment``, lines of about ``width`` characters."""
    return aligned_rows([row for name, terms in vertex_pieces.items()
                         for row in align_rows(name, broken_lines(terms, width))], environment)


def _sum_text(expression: sp.Expr, parameters) -> str:
    """``expression`` as text, its terms in :func:`ordered_terms` order, the ``parameters`` first in each."""
    printer = FormulaStrPrinter({"leading": tuple(parameters)})
    pieces = []
    for position, term in enumerate(ordered_terms(expression, parameters)):
        sign, body = _signed(term, printer)
        pieces.append((f"-{body}" if sign == "-" else body) if position == 0 else f"{sign} {body}")
    return " ".join(pieces)


def formula_text(derivation, pattern: str, substitute: bool = False, in_vertex_functions: bool = False) -> str:
    """``Sigma_y[ij] = ...`` in SymPy syntax (parses back with :func:`symcorr.notation.parse.parse_sympy`);
    ``in_vertex_functions`` as in :func:`formula_expression`."""
    pattern = normalize_pattern(pattern)
    parameters = () if substitute else derivation.activation.parameter_symbols
    expression = formula_expression(derivation, pattern, substitute, in_vertex_functions)
    return f"{output_text(pattern)} = {_sum_text(expression, parameters)}"


def vertex_functions_text(derivation, substitute: bool = False) -> list[str]:
    """``g1d0_i = ...`` for each of :func:`vertex_functions`, after a comment line saying what they are."""
    parameters = () if substitute else derivation.activation.parameter_symbols
    return (["# " + _VERTEX_LEGEND + "; " + _JOINT_VERTEX_LEGEND + "; their values without derivatives:"]
            + [f"{symbol.name} = {_sum_text(value, parameters)}"
               for symbol, value in vertex_functions(derivation, substitute).items()])


def markdown_section(derivation, patterns, substitute: bool, level: int, pieces=None, vertex_pieces=None,
                     in_vertex_functions: bool = False) -> str:
    """One derivation's formulas as a Markdown section (heading ``level``), each in a ``$$`` block;
    ``pieces`` (pattern -> :func:`formula_pieces`) may hold the formulas' LaTeX printed already;
    ``in_vertex_functions``: the formulas in vertex functions (:func:`formula_expression`), after their values
    (``vertex_pieces``, :func:`vertex_function_pieces`, printed here unless given)."""
    if in_vertex_functions and vertex_pieces is None:
        vertex_pieces = vertex_function_pieces(derivation, substitute)
    hashes = "#" * level
    parts = [f"{hashes} {derivation_title(derivation)}", "", derivation_summary(derivation, not substitute)]
    if vertex_pieces:
        parts += ["", VERTEX_FUNCTIONS_TEXT, "", "$$", vertex_function_block(vertex_pieces, 90, "aligned"), "$$"]
    for p in patterns:
        printed = pieces[p] if pieces is not None else formula_pieces(derivation, p, substitute, in_vertex_functions)
        parts += ["", f"{hashes}# {pattern_title(p)}: ${output_latex(p)}$ (pattern `{p}`)", "",
                  "$$", align_block(output_latex(p), broken_lines(printed, 90), "aligned"), "$$"]
    return "\n".join(parts)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format must be 'text', 'markdown' or 'latex', got {fmt!r}")


def render_derivation(derivation, fmt: str = "text", patterns=None, substitute: bool = False,
                      in_vertex_functions: bool = False) -> str:
    """Every pattern's formula (or those in ``patterns``) as ``fmt``: 'text', 'markdown' or 'latex';
    ``in_vertex_functions``: in the vertex functions, after their values without derivatives (as the formula
    sheets print every family but the polynomials)."""
    _check_format(fmt)
    patterns = [normalize_pattern(p) for p in (patterns or derivation.patterns)]
    if fmt == "text":
        lines = [f"# {_derivation_heading(derivation)}"]
        if in_vertex_functions:
            lines += vertex_functions_text(derivation, substitute)
        lines += [formula_text(derivation, p, substitute, in_vertex_functions) for p in patterns]
        return "\n".join(lines) + "\n"
    if fmt == "markdown":
        return markdown_section(derivation, patterns, substitute, level=2,
                                in_vertex_functions=in_vertex_functions) + "\n"
    blocks = [f"% {_derivation_heading(derivation)}"]
    if in_vertex_functions:
        blocks += [f"% {_VERTEX_LEGEND}; {_JOINT_VERTEX_LEGEND}; their values without derivatives",
                   vertex_function_block(vertex_function_pieces(derivation, substitute), 70)]
    for p in patterns:
        blocks.append(f"% {pattern_title(p)}, pattern {p}")
        lines = broken_lines(formula_pieces(derivation, p, substitute, in_vertex_functions), 70)
        blocks.append(align_block(output_latex(p), lines))
    return "\n".join(blocks) + "\n"


# ---------------------------------------------------------------------------
# terms by diagram
# ---------------------------------------------------------------------------

_VERTEX_LEGEND = "vertex g{p}d{n}_a = d^n/dmu^n E[phi(z)^p] at neuron a (p output slots, n cumulant legs)"
_JOINT_VERTEX_LEGEND = ("joint vertex G{p}x{q}d{n}x{m}_ab = d^n/dmu_a^n d^m/dmu_b^m E[phi(z_a)^p phi(z_b)^q], "
                        "(z_a, z_b) jointly Gaussian (Sigma_ab inside)")
_VERTEX_LEGEND_LATEX = r"vertex $g^{(n)}_{p,a} = \partial^n_\mu E[\phi(z)^p]$ at neuron $a$"


def _multiplicity_markdown(edge) -> str:
    return f"×{edge.multiplicity}" if edge.multiplicity > 1 else ""


def render_terms(derivation, pattern: str, fmt: str = "text", diagrams: list[Diagram] | None = None) -> str:
    """A formula's terms by diagram (:func:`symcorr.theory.diagrams.terms`) as 'text', 'markdown' or 'latex'."""
    _check_format(fmt)
    pattern = normalize_pattern(pattern)
    diagrams = terms(derivation, pattern) if diagrams is None else diagrams
    slots = ", ".join(f"{s} -> {a}" for s, a in enumerate(pattern, start=1))
    contributions = [d.contribution for d in diagrams]
    if all(c is not None for c in contributions):
        total = sp.expand(sp.Add(*contributions) - derivation.formula(pattern))
        closing = ("the contributions add up to the formula" if total == 0 else
                   f"WARNING: the contributions differ from the formula by {expression_text(total)}")
    else:
        closing = "vertex functions of this activation are not available: contributions not evaluated"
    head = (f"{derivation.activation.name}, {output_text(pattern)} ({pattern_title(pattern).lower()}, "
            f"pattern {pattern}), {closure_text(derivation)}: {len(diagrams)} diagram"
            f"{'' if len(diagrams) == 1 else 's'}")
    if fmt == "text":
        lines = [head, f"output slots: {slots}", _VERTEX_LEGEND]
        if any(v.joint for d in diagrams for v in d.vertices):
            lines.append(_JOINT_VERTEX_LEGEND)
        lines.append("")
        lines += [d.describe() + "\n" for d in diagrams]
        lines.append(closing)
        return "\n".join(lines) + "\n"
    if fmt == "markdown":
        lines = [f"**{head}**; output slots {slots}; {_VERTEX_LEGEND_LATEX}.", "",
                 "| # | diagram | cumulants (hyperedges) | vertices: neuron, slots, $p$, $n$ | coefficient "
                 "| contribution |",
                 "|---|---|---|---|---|---|"]
        for d in diagrams:
            edges = "; ".join(f"${e.latex}$" + _multiplicity_markdown(e)
                              + f" ({', '.join(f'{n}@{a}' for a, n in e.legs().items())})"
                              for e in d.edges) or "none"
            vertices = "; ".join(f"{v.neuron}: slots {','.join(map(str, v.slots))}, p={v.power}, n={v.derivative}"
                                 for v in d.vertices)
            contribution = "n/a" if d.contribution is None else f"${expression_latex(d.shown_contribution)}$"
            lines.append(f"| {d.index} | ${diagram_caption_latex(d)}$ ({d.kind}) | {edges} | {vertices} | "
                         f"${expression_latex(d.coefficient)}$ | {contribution} |")
        lines += ["", closing]
        return "\n".join(lines) + "\n"
    lines = [f"% {head}", "\\begin{itemize}"]
    for d in diagrams:
        contribution = "" if d.contribution is None else f" $= {expression_latex(d.shown_contribution)}$"
        edges = ", ".join(f"${e.latex}$" + (f" ($\\times {e.multiplicity}$)" if e.multiplicity > 1 else "")
                          for e in d.edges) or "none"
        lines.append(f"\\item[{{[{d.index}]}}] ${diagram_caption_latex(d)}$ ({d.kind}; cumulants: {edges})"
                     f"{contribution}")
    lines += ["\\end{itemize}", f"% {closing}"]
    return "\n".join(lines) + "\n"


__all__ = ["latex", "output_latex", "output_text", "pattern_title", "math_sections", "activation_description",
           "accuracy_text", "closure_text", "derivation_title", "derivation_summary", "formula_expression",
           "ordered_terms", "latex_pieces", "broken_lines", "latex_lines", "formula_pieces", "formula_latex",
           "align_rows", "align_block", "aligned_rows", "vertex_functions", "vertex_function_pieces",
           "vertex_function_block", "VERTEX_FUNCTIONS_TEXT", "formula_text", "vertex_functions_text",
           "markdown_section", "render_derivation", "render_terms", "parameter_values_latex", "FORMATS"]
