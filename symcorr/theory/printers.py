r"""SymPy printers that know symcorr's notation (docs/theory.md sections 1 and 4).

:class:`FormulaLatexPrinter` (a :class:`sympy.printing.latex.LatexPrinter`) and
:class:`FormulaStrPrinter` (a :class:`sympy.printing.str.StrPrinter`) print every
piece of mathematics that :mod:`symcorr.theory` shows; the modules above them only
arrange the printed pieces (term order, line breaks, ``align`` environments).
What they know (the tables as data: :data:`CUMULANT_LATEX`, :data:`PARAMETER_LATEX`,
:data:`FUNCTION_LATEX`):

* input cumulants ``mu_i``, ``Sigma_ij``, ``kappa_iij`` -> ``\mu_{i}``, ``\Sigma_{ij}``, ``\kappa_{iij}``;
* vertex functions ``g{p}d{n}_a`` -> ``g^{(n)}_{p,a}``, e.g. ``g1d2_i`` -> ``g^{(2)}_{1,i}``;
* joint vertices ``G{p}x{q}d{n}x{m}_ab`` -> ``G^{(n,m)}_{pq,ab}``, e.g. ``G1x1d3x1_ij`` ->
  ``G^{(3,1)}_{11,ij}``;
* output cumulants (:func:`output_symbol`) ``Sigma_y_ij`` -> ``\Sigma_{y,ij}``, in text ``Sigma_y[ij]``;
* activation parameters ``alpha`` -> ``\alpha``, ``a0, a1, ...`` -> ``a_{0}, a_{1}, ...``;
* the activation ``phi(z)`` -> ``\phi(z)``; an equation prints ``lhs = rhs`` in text too.

In text every other symbol prints as its name.

Custom SymPy functions (``ErfGaussianCovariance``, ``OwensT``, ... of
:mod:`symcorr.derivation.families.erf`) print through their own ``_latex``
methods, which call back into this printer for their arguments. Everything
else prints as SymPy prints it, so ``FormulaLatexPrinter().doprint(x)`` equals
``sympy.latex(x)`` wherever symcorr's notation does not apply.

Both printers also print one *term* of a formula in symcorr's order (setting
``leading``: number, then the activation's parameters, then the cumulants; see
:meth:`FormulaLatexPrinter.term`).
"""
from __future__ import annotations

import re
from typing import Any, ClassVar

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from symcorr.notation.symbols import (
    NEURON_LABELS,
    Z,
    cumulant_symbol,
    parse_joint_vertex_symbol,
    parse_vertex_symbol,
    symbol_labels,
)

#: LaTeX of the input-cumulant stems: ``mu_i`` -> ``\mu_{i}`` (docs/theory.md section 1).
CUMULANT_LATEX = {"mu": r"\mu", "Sigma": r"\Sigma", "kappa": r"\kappa"}

#: LaTeX of named activation parameters; the coefficients ``a0, a1, ...`` print as ``a_{0}, a_{1}, ...``.
PARAMETER_LATEX = {"alpha": r"\alpha"}
_COEFFICIENT = re.compile(r"a(\d+)")

#: Undefined functions of the notation, printed ``\phi(z)`` with plain parentheses.
FUNCTION_LATEX = {"phi": r"\phi"}

#: The activation :math:`\phi` as an undefined SymPy function (for :func:`activation_equation`).
PHI = sp.Function("phi")

#: The closure order :math:`K` (input cumulants of orders above it are taken as zero).
CLOSURE = sp.Symbol("K", integer=True, positive=True)

_OUTPUT = re.compile(r"(mu|Sigma|kappa)_y_([a-z]+)")


# ---------------------------------------------------------------------------
# the output cumulants and small equations
# ---------------------------------------------------------------------------

def output_stem(pattern: str) -> str:
    """``mu`` for a mean (one slot), ``Sigma`` for a covariance (two), ``kappa`` above (as the inputs)."""
    return cumulant_symbol(pattern).name.partition("_")[0]


def output_symbol(pattern: str) -> sp.Symbol:
    r"""The output cumulant of ``pattern`` as a symbol: ``'ij'`` -> ``Sigma_y_ij``, printed
    :math:`\Sigma_{y,ij}` (LaTeX) and ``Sigma_y[ij]`` (text)."""
    return sp.Symbol(f"{output_stem(pattern)}_y_{pattern}", real=True)


def parse_output_symbol(symbol: sp.Symbol) -> tuple[str, str] | None:
    """``Sigma_y_ij`` -> ``('Sigma', 'ij')``; ``None`` for any other symbol."""
    match = _OUTPUT.fullmatch(symbol.name)
    if match is None or not set(match.group(2)) <= set(NEURON_LABELS):
        return None
    stem, pattern = match.groups()
    return (stem, pattern) if output_stem(pattern) == stem else None


def activation_equation(activation) -> sp.Equality:
    r""":math:`\phi(z) = \dots`, the activation's expression (parameters as symbols)."""
    return sp.Eq(PHI(Z), activation.expression, evaluate=False)


def parameter_value(value: float) -> sp.Number:
    """A parameter's number as shown: an integer when it is one, else a float of six
    significant digits (``format(value, 'g')``)."""
    value = float(value)
    return sp.Integer(int(value)) if value.is_integer() else sp.Float(f"{value:g}")


def parameter_equation(name: str, value: float) -> sp.Equality:
    r""":math:`\alpha = 1`: a parameter of an activation and its value (:func:`parameter_value`)."""
    return sp.Eq(sp.Symbol(name, real=True), parameter_value(value), evaluate=False)


def closure_equation(closure: int) -> sp.Equality:
    """:math:`K = 4`."""
    return sp.Eq(CLOSURE, closure, evaluate=False)


def split_term(term: sp.Expr, leading) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """``4*alpha**2*Sigma_ij*mu_i`` -> ``(4, alpha**2, Sigma_ij*mu_i)``: the number, the factors
    in the symbols ``leading`` only, the rest."""
    coefficient, rest = term.as_coeff_Mul()
    leading = set(leading)
    factors = sp.Mul.make_args(rest)
    own = [f for f in factors if f.free_symbols and f.free_symbols <= leading]
    others = [f for f in factors if f not in own]
    return coefficient, sp.Mul(*own), sp.Mul(*others)


# ---------------------------------------------------------------------------
# printers
# ---------------------------------------------------------------------------

class FormulaLatexPrinter(LatexPrinter):
    r"""LaTeX in symcorr's notation (the table in the module docstring).

    Extra settings: ``leading`` (symbols, default none) -- the factors :meth:`term` prints
    right after the number; ``inline_fractions`` (default ``False``) -- rationals as
    ``1/2`` instead of ``\frac{1}{2}`` (figure captions).
    """

    _default_settings: ClassVar[dict[str, Any]] = {**LatexPrinter._default_settings, "leading": (),
                                         "inline_fractions": False}

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        vertex = parse_vertex_symbol(expr)
        if vertex is not None:
            neuron, power, derivative = vertex
            return f"g^{{({derivative})}}_{{{power},{neuron}}}"
        joint = parse_joint_vertex_symbol(expr)
        if joint is not None:
            labels, powers, derivatives = joint
            return f"G^{{({','.join(map(str, derivatives))})}}_{{{''.join(map(str, powers))},{labels}}}"
        output = parse_output_symbol(expr)
        if output is not None:
            stem, pattern = output
            return f"{CUMULANT_LATEX[stem]}_{{y,{pattern}}}"
        if expr.name in PARAMETER_LATEX:
            return PARAMETER_LATEX[expr.name]
        coefficient = _COEFFICIENT.fullmatch(expr.name)
        if coefficient is not None:
            return f"a_{{{coefficient.group(1)}}}"
        try:
            labels = symbol_labels(expr)
        except ValueError:
            return super()._print_Symbol(expr, style)
        if set(labels) <= set(NEURON_LABELS):
            return f"{CUMULANT_LATEX[expr.name.partition('_')[0]]}_{{{labels}}}"
        return super()._print_Symbol(expr, style)

    def _print_Function(self, expr, exp=None) -> str:
        name = FUNCTION_LATEX.get(type(expr).__name__)
        if name is None or not isinstance(expr, AppliedUndef):
            return super()._print_Function(expr, exp)
        call = f"{name}({', '.join(self._print(a) for a in expr.args)})"
        return call if exp is None else f"{self._add_parens(call)}^{{{exp}}}"

    def _print_Rational(self, expr) -> str:
        if self._settings["inline_fractions"] and expr.q != 1:
            return f"{expr.p}/{expr.q}"
        return super()._print_Rational(expr)

    def term(self, term: sp.Expr) -> str:
        r"""One positive term of a formula: number, then the ``leading`` factors (the
        activation's parameters), then the rest, e.g. ``4 \alpha^{2} \Sigma_{ij} \mu_{i}``."""
        coefficient, own, others = split_term(term, self._settings["leading"])
        parts = [] if coefficient == 1 else [self.doprint(coefficient)]
        parts += [self.doprint(f) for f in (own, others) if f != 1]
        return self._settings["mul_symbol_latex"].join(parts) or "1"


class FormulaStrPrinter(StrPrinter):
    """Plain text in symcorr's notation: SymPy's ``str`` except ``Sigma_y[ij]`` for an
    output cumulant (:func:`output_symbol`) and ``lhs = rhs`` for an equation.

    Extra setting ``leading`` as in :class:`FormulaLatexPrinter`.
    """

    _default_settings: ClassVar[dict[str, Any]] = {**StrPrinter._default_settings, "leading": ()}

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        output = parse_output_symbol(expr)
        if output is not None:
            stem, pattern = output
            return f"{stem}_y[{pattern}]"
        return super()._print_Symbol(expr)

    def _print_Equality(self, expr) -> str:
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def term(self, term: sp.Expr) -> str:
        """One positive term: ``4*alpha**2*Sigma_ij*mu_i``, a rational coefficient's
        denominator last (``alpha*kappa_iij/2``), so that it parses back."""
        coefficient, own, others = split_term(term, self._settings["leading"])
        numerator = coefficient.p if coefficient.is_Rational else coefficient
        denominator = coefficient.q if coefficient.is_Rational else 1
        parts = [] if numerator == 1 else [self.doprint(numerator)]
        parts += [self.doprint(f) for f in (own, others) if f != 1]
        body = "*".join(parts) or "1"
        return body if denominator == 1 else f"{body}/{self.doprint(denominator)}"


def expression_latex(expression, **settings) -> str:
    r"""``expression`` in LaTeX, symcorr's notation (:class:`FormulaLatexPrinter`)."""
    return FormulaLatexPrinter(settings).doprint(expression)


def expression_text(expression, **settings) -> str:
    """``expression`` as plain text, symcorr's notation (:class:`FormulaStrPrinter`)."""
    return FormulaStrPrinter(settings).doprint(expression)


__all__ = ["FormulaLatexPrinter", "FormulaStrPrinter", "expression_latex", "expression_text", "output_symbol",
           "parse_output_symbol", "output_stem", "activation_equation", "parameter_equation", "parameter_value",
           "closure_equation", "split_term", "CUMULANT_LATEX", "PARAMETER_LATEX", "FUNCTION_LATEX", "PHI",
           "CLOSURE"]
