r"""Safe parsing of hand-written formulas, in SymPy (Python) or LaTeX syntax.

A string given to symcorr (an activation ``--activation "z + z**2/2"``, a formula to
:func:`symcorr.theory.check`) never reaches ``eval`` or ``sympy.sympify`` (which
calls ``eval``). It is

* tokenized and parsed by a grammar of numbers, names, ``+ - * / ** ^``, parentheses and the
  functions of :data:`~symcorr.notation.vocabulary.FUNCTIONS`, with SymPy objects built directly
  (:mod:`symcorr.notation.sympy_syntax` for SymPy syntax, :mod:`symcorr.notation.latex_syntax` for
  LaTeX); anything else is refused with :class:`UnsafeExpressionError` naming it;
* priced before SymPy expands or simplifies it: input size, nesting, digits, float64 range,
  expansion size and degree are bounded, and simplification gets a time budget
  (:mod:`symcorr.notation.limits`, each refusal naming its limit).

The names a formula may use, in both syntaxes, are listed in :mod:`symcorr.notation.vocabulary`
(``mu_i``, ``Sigma_ij``, ``v_i``, ``kappa_iij``, ``alpha``, ``a0``, ``z``, ``pi``, ``E``,
``g1d2_i``). A formula ``lhs = rhs`` is read as its right-hand side. This module is the entry
point and re-exports what callers need.
"""
from __future__ import annotations

import sympy as sp

from symcorr.notation.latex_syntax import parse_latex
from symcorr.notation.limits import (
    BudgetExceededError,
    ExpressionError,
    UnsafeExpressionError,
    check_expression_cost,
    read_expression_file,
    within_budget,
)
from symcorr.notation.sympy_syntax import parse_sympy
from symcorr.notation.vocabulary import FUNCTIONS, normalize_symbols, resolve_name


def parse_expression(text: str, syntax: str = "auto") -> sp.Expr:
    """Parse a hand-written formula safely; ``syntax`` is ``'sympy'``, ``'latex'`` or ``'auto'``.

    ``'auto'`` reads the text as LaTeX when it contains a backslash, ``{`` or
    ``$``, as SymPy syntax otherwise. Raises :class:`UnsafeExpressionError`
    for constructs outside the whitelist or over a limit of :mod:`symcorr.notation.limits`,
    and :class:`ExpressionError` for other problems, each naming it.
    """
    if syntax == "auto":
        syntax = "latex" if isinstance(text, str) and any(c in text for c in "\\{$") else "sympy"
    if syntax == "sympy":
        return parse_sympy(text)
    if syntax == "latex":
        return parse_latex(text)
    raise ValueError(f"syntax must be 'auto', 'sympy' or 'latex', got {syntax!r}")


__all__ = [
    "FUNCTIONS",
    "BudgetExceededError",
    "ExpressionError",
    "UnsafeExpressionError",
    "check_expression_cost",
    "normalize_symbols",
    "parse_expression",
    "parse_latex",
    "parse_sympy",
    "read_expression_file",
    "resolve_name",
    "within_budget",
]
