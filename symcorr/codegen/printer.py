r"""The code printer: a :class:`~symcorr.derivation.engine.Derivation` -> the source of a NumPy kernel module.

One printer for one target (NumPy + SciPy), following SymPy's own printers:
rewrite rules are data (:data:`REWRITES`, applied with
:func:`sympy.codegen.rewriting.optimize`), and the printer collects the imports
it needs (``SciPyPrinter`` knows ``erf``; custom SymPy functions print
themselves through a ``_pythoncode`` method, which SymPy's Python printers call).

A kernel module holds, for output orders ``n = 1..order``, a function
``cumulant_n(kappa, *parameters)`` returning the full symmetric order-n tensor
of output cumulants (docs/theory.md section 4): each index pattern is evaluated on
the grid of its distinct neurons (vectorized, no loop over neurons, after
common-subexpression elimination) and written into every position that
realises it, finest pattern first so that partial diagonals overwrite the
all-distinct values. ``kappa`` is the tuple of input cumulant tensors of
orders ``1..closure``.
"""
from __future__ import annotations

import sympy as sp
from sympy.codegen.rewriting import optimize, optims_numpy
from sympy.printing.numpy import SciPyPrinter

from symcorr.notation.partitions import pattern_slot_assignments
from symcorr.notation.symbols import symbol_labels
from symcorr.derivation.engine import Derivation

#: Rewrite rules applied to formulas before printing (data, not code), and the
#: functions they act on: a formula without those (any polynomial) is left as is,
#: since walking a large polynomial through the rules costs a minute and changes nothing.
REWRITES = tuple(optims_numpy)
REWRITTEN_FUNCTIONS = (sp.exp, sp.log)

#: Bumped whenever the printed form changes, so cached kernels are rebuilt.
CODEGEN_VERSION = 4


class KernelPrinter(SciPyPrinter):
    """Prints formulas as NumPy/SciPy expressions on broadcast neuron grids."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": True, "inline": True,
                          "allow_unknown_functions": False})


def module_name(name: str, order: int, closure: int) -> str:
    """The kernel module of a derivation: ``quadratic_order4_closure4``."""
    return f"{name}_order{order}_closure{closure}"


#: Output orders whose polynomial formulas are factored for the grid (see :func:`grid_friendly`).
FACTORED_ORDERS = (1, 2)


def grid_friendly(formula: sp.Expr, parameters) -> sp.Expr:
    r"""A polynomial formula arranged for evaluation on a neuron grid.

    Collected on the input cumulants that couple neurons (:math:`\Sigma_{ij}`,
    :math:`\kappa_{iij}`, ...) with each coefficient factored, so that per-neuron
    factors such as :math:`(1 + 2\alpha\mu_i)` are computed on vectors before they
    are broadcast: the order-2 quadratic kernel at N = 1024 takes 8.0 ms instead of
    12.4 ms. Applied to output orders :data:`FACTORED_ORDERS` only: those kernels run
    on large N^2 grids, while factoring the order-4 formulas costs ~10 s of
    derivation for kernels that only run at small widths.
    """
    coupling = sorted((s for s in formula.free_symbols
                       if s not in parameters and len(set(symbol_labels(s))) > 1), key=lambda s: s.name)
    if not coupling:
        return sp.factor(formula)
    collected = sp.collect(sp.expand(formula), coupling, evaluate=False)
    return sp.Add(*[monomial * sp.factor(coefficient) for monomial, coefficient in collected.items()])


#: Longest LaTeX formula a kernel's docstring shows in full; longer ones (erf at
#: closure 4: 150 000 characters) are replaced by the command that prints them.
LONGEST_DOCSTRING_LATEX = 4000


def derive_command(derivation: Derivation, pattern: str) -> str:
    """The ``symcorr derive`` command that prints ``pattern``'s formula of ``derivation`` in LaTeX."""
    activation = derivation.activation
    spec = activation.family.command_spec(activation)
    series = "" if derivation.series_order is None else f" -S {derivation.series_order}"
    return (f"symcorr derive -a {spec} -K {derivation.closure}{series} -M {derivation.order} "
            f"-p {pattern} -f latex")


def _pattern_function(derivation: Derivation, pattern: str, printer: KernelPrinter) -> list[str]:
    formula = derivation.formula(pattern)
    parameters = derivation.activation.parameter_symbols
    grid = "".join(sorted(set(pattern)))
    inputs = sorted(formula.free_symbols - set(parameters), key=lambda s: (len(symbol_labels(s)), s.name))
    signature = ", ".join(["kappa", *(p.name for p in parameters)])
    latex = sp.latex(formula)
    if len(latex) <= LONGEST_DOCSTRING_LATEX:
        math = ["    .. math::", "", f"        {latex}"]
    else:
        math = [f"    The formula's LaTeX ({len(latex)} characters) is too long to read here; print it with",
                "", f"    ``{derive_command(derivation, pattern)}``"]
    lines = [
        f"def _pattern_{pattern}({signature}):",
        f'    r"""Output cumulant :math:`\\kappa_{{y,{pattern}}}` on the neuron grid ``{grid}``.',
        "",
        *math,
        '    """',
    ]
    for symbol in inputs:
        labels = symbol_labels(symbol)
        lines.append(f"    {symbol.name} = _support.grid_view(kappa[{len(labels) - 1}], {labels!r}, {grid!r})")
    if len(pattern) in FACTORED_ORDERS and formula.is_polynomial():
        formula = grid_friendly(formula, set(parameters))
    optimized = optimize(formula, REWRITES) if formula.has(*REWRITTEN_FUNCTIONS) else formula
    replacements, (reduced,) = sp.cse(optimized, symbols=sp.numbered_symbols("t"), order="canonical")
    for lhs, rhs in replacements:
        lines += _assignment_lines(str(lhs), rhs, printer)
    if _is_long_sum(reduced):
        lines += _assignment_lines("value", reduced, printer) + ["    return value"]
    else:
        lines.append(f"    return {printer.doprint(reduced)}")
    return lines


#: Terms per line of a long sum: Python's compiler recurses once per operator, so one line
#: holding thousands of terms (erf, output order 4 at closure 3) exceeds its recursion limit.
TERMS_PER_LINE = 200


def _is_long_sum(expression: sp.Expr) -> bool:
    return isinstance(expression, sp.Add) and len(expression.args) > TERMS_PER_LINE


def _assignment_lines(name: str, expression: sp.Expr, printer: KernelPrinter) -> list[str]:
    """``name = expression``, a long sum split over lines of :data:`TERMS_PER_LINE` terms
    (``name = name + ...``, never ``+=``: the first part may be a view of an input)."""
    if not _is_long_sum(expression):
        return [f"    {name} = {printer.doprint(expression)}"]
    terms = expression.args
    lines = [f"    {name} = {printer.doprint(sp.Add(*terms[:TERMS_PER_LINE]))}"]
    for start in range(TERMS_PER_LINE, len(terms), TERMS_PER_LINE):
        lines.append(f"    {name} = {name} + ({printer.doprint(sp.Add(*terms[start:start + TERMS_PER_LINE]))})")
    return lines


def _cumulant_function(derivation: Derivation, order: int, patterns: list[str]) -> list[str]:
    parameters = [p.name for p in derivation.activation.parameter_symbols]
    call = ", ".join(["kappa", *parameters])
    lines = [
        f"def cumulant_{order}({call}):",
        f'    """Full symmetric order-{order} output cumulant tensor from input cumulants ``kappa``."""',
    ]
    # finest pattern (most distinct neurons) first, as the tensor itself when it can be:
    # coarser diagonals overwrite it
    finest, *coarser = sorted(patterns, key=lambda p: -len(set(p)))
    lines.append(f"    out = _support.output_tensor(_pattern_{finest}({call}), "
                 f"{tuple(pattern_slot_assignments(finest))!r}, kappa[0].shape[0], {order})")
    for pattern in coarser:
        assignments = tuple(pattern_slot_assignments(pattern))
        lines.append(f"    _support.fill_pattern(out, _pattern_{pattern}({call}), {assignments!r})")
    lines.append("    return out")
    return lines


def kernel_module_source(derivation: Derivation, header: str) -> str:
    """The Python source of the kernel module for ``derivation``.

    ``header`` is the module's first constant: who wrote it, that it must not
    be edited, and the command that regenerates it.
    """
    printer = KernelPrinter()
    activation = derivation.activation
    body: list[str] = []
    by_order: dict[int, list[str]] = {}
    for pattern in derivation.patterns:
        by_order.setdefault(len(pattern), []).append(pattern)
    for pattern in derivation.patterns:
        body += _pattern_function(derivation, pattern, printer) + ["", ""]
    for order, patterns in sorted(by_order.items()):
        body += _cumulant_function(derivation, order, patterns) + ["", ""]
    body.append(f"CUMULANTS = ({', '.join(f'cumulant_{n}' for n in sorted(by_order))},)")

    imports = ["import numpy"] + [f"import {m}" for m in sorted(printer.module_imports) if m != "numpy"]
    parameters = tuple(p.name for p in activation.parameter_symbols)
    head = [
        f"HEADER = {header!r}",
        f'__doc__ = r"""Cumulant kernels of phi(z) = {sp.sstr(activation.expression)}',
        "",
        f"Output cumulant orders 1..{derivation.order} from input cumulants of orders",
        f"1..{derivation.closure} (higher ones taken as zero), "
        f"{'no series truncation' if derivation.series_order is None else f'series order {derivation.series_order}'};",
        "the expansion of docs/theory.md section 4. Call ``cumulant_n(kappa, *PARAMETERS)``",
        "with ``kappa`` the tuple of input cumulant tensors (float64).",
        '"""',
        *imports,
        "",
        "from symcorr.codegen import runtime as _support",
        "",
        f"FAMILY = {activation.name!r}",
        f"EXPRESSION = {sp.srepr(activation.expression)!r}",
        f"PARAMETERS = {parameters!r}",
        f"OUT_ORDER = {derivation.order}",
        f"CLOSURE = {derivation.closure}",
        f"SERIES_ORDER = {derivation.series_order!r}",
        f"DERIVATION_KEY = {derivation.key!r}",
        f"CODEGEN_VERSION = {CODEGEN_VERSION}",
        "",
        "",
    ]
    return "\n".join(head + body).rstrip() + "\n"
