r"""The printer of factored modules: a derivation's output orders >= 3 as tensor-network terms (docs/theory.md section 12).

:func:`symcorr.derivation.tensor_networks.network_terms` writes the all-distinct formula of each output
order :math:`m \ge 3` as a sum of terms; this module prints them as a NumPy module
(``<activation>_order<M>_closure<K>_factored``, shipped in ``generated/`` by ``python -m derivations``
or compiled on first use like the dense kernels, :mod:`symcorr.codegen.loader`):

* one function per distinct dense block, ``_block_<n>(kappa, *parameters)``, evaluating the block on
  the neuron grid of its canonical labels (``'i'`` or ``'ij'``) from the input cumulants' slices
  (:func:`~symcorr.codegen.runtime.grid.grid_view`, which asks a factored input for its slice), after
  common-subexpression elimination, with its formula in its docstring;
* per output order :math:`m`, ``TERMS_<m>``: a tuple of
  :class:`~symcorr.codegen.runtime.factored.FactoredTerm` s naming the block functions and the labels
  they stand on, the input cumulants joined in, their arrangements with weights, and whether the term
  is cyclic; ``BLOCK_ARRAYS`` bounds the arrays of the grid's size each block function holds at once
  (for memory estimates before anything runs).

The runtime (:mod:`symcorr.numeric.factored_pointwise`) contracts nothing here: it builds the
networks, whose contractions (slices, linear layers) are chosen by ``opt_einsum`` for the actual
shapes.
"""
from __future__ import annotations

import sympy as sp

from symcorr.codegen.printer import KernelPrinter, _formula_statements, grid_friendly, module_name
from symcorr.derivation.engine import Derivation
from symcorr.derivation.tensor_networks import DenseBlock, network_terms
from symcorr.notation.symbols import NEURON_LABELS, cumulant_symbol, symbol_labels

#: Bumped whenever the printed form changes, so cached factored modules are rebuilt.
FACTORED_VERSION = 1

#: The longest block formula shown in a docstring as LaTeX.
LONGEST_BLOCK_LATEX = 1500


def factored_module_name(name: str, order: int, closure: int) -> str:
    """``quadratic_order4_closure4_factored``."""
    return module_name(name, order, closure) + "_factored"


def factored_key(derivation_key: str) -> str:
    """The key of a factored module: its derivation's key and :data:`FACTORED_VERSION`."""
    return f"{derivation_key}|factored{FACTORED_VERSION}"


def _canonical(block: DenseBlock) -> tuple[str, sp.Expr]:
    """The block on the letters ``'i'``, ``'ij'`` (its labels mapped in order)."""
    mapping = {c: NEURON_LABELS[n] for n, c in enumerate(block.labels)}
    replacements = {}
    for symbol in block.expression.free_symbols:
        try:
            labels = symbol_labels(symbol)
        except ValueError:
            continue
        replacements[symbol] = cumulant_symbol("".join(mapping[c] for c in labels))
    return "".join(mapping[c] for c in block.labels), block.expression.xreplace(replacements)


def _block_function(name: str, grid: str, expression: sp.Expr, parameters, printer: KernelPrinter):
    """The lines of ``name(kappa, *parameters)`` and the number of statements (arrays held at once, bound)."""
    inputs = sorted((s for s in expression.free_symbols if s not in set(parameters)),
                    key=lambda s: (len(symbol_labels(s)), s.name))
    latex = sp.latex(expression)
    shown = f":math:`{latex}`" if len(latex) <= LONGEST_BLOCK_LATEX else f"a polynomial of {len(latex)} LaTeX characters"
    lines = [f"def {name}({', '.join(['kappa', *(p.name for p in parameters)])}):",
             f'    r"""A factor on the neuron grid ``{grid}``: {shown}."""']
    for symbol in inputs:
        labels = symbol_labels(symbol)
        lines.append(f"    {symbol.name} = _support.grid_view(kappa[{len(labels) - 1}], {labels!r}, {grid!r})")
    statements = _formula_statements(grid_friendly(expression, set(parameters)) if expression.is_polynomial()
                                     else expression, printer)
    for target, source in statements:
        lines.append(f"    return {source}" if target is None else f"    {target} = {source}")
    return lines, len(inputs) + len(statements) + 2


def _number(value: sp.Expr) -> str:
    value = sp.nsimplify(value)
    if value.is_Integer:
        return f"{int(value)}.0"
    if value.is_Rational:
        return f"{int(value.p)} / {int(value.q)}"
    raise ValueError(f"not a rational number: {value}")


def factored_module_source(derivation: Derivation, header: str) -> str:
    """The Python source of the factored module for ``derivation`` (module docstring)."""
    printer = KernelPrinter()
    activation = derivation.activation
    parameters = activation.parameter_symbols
    blocks: dict[tuple[str, str], str] = {}
    functions: list[str] = []
    arrays: dict[str, int] = {}
    orders: list[list[str]] = []
    scalars = 0
    for order in range(3, derivation.order + 1):
        terms = network_terms(derivation, order)
        specs = []
        for term in terms:
            calls = []
            for block in term.dense:
                grid, expression = _canonical(block)
                key = (grid, sp.srepr(expression))
                if key not in blocks:
                    name = f"_block_{len(blocks)}"
                    blocks[key] = name
                    lines, count = _block_function(name, grid, expression, parameters, printer)
                    functions += lines + ["", ""]
                    arrays[name] = count
                calls.append(f"({blocks[key]}, {block.labels!r})")
            if term.scalar.free_symbols:
                name = f"_scalar_{scalars}"
                scalars += 1
                functions += [f"def {name}({', '.join(p.name for p in parameters)}):",
                              f"    return {printer.doprint(term.scalar)}", "", ""]
                scalar = name
            else:
                scalar = _number(term.scalar)
            arrangements = ", ".join(f"({tuple(words)!r}, {_number(weight)})" for words, weight in term.arrangements)
            cumulants = tuple(block.labels for block in term.cumulants)
            specs.append(f"    _support.FactoredTerm({scalar}, ({''.join(c + ', ' for c in calls)}), "
                         f"{cumulants!r}, ({arrangements},), {term.cyclic}),")
        orders.append([f"#: Output order {order}: {len(terms)} terms ({sum(t.cyclic for t in terms)} cyclic) whose "
                       "symmetrized sum is the all-distinct formula,",
                       "#: which holds on every diagonal (docs/theory.md section 12).",
                       f"TERMS_{order} = (", *specs, ")", ""])
    imports = ["import numpy"] + [f"import {m}" for m in sorted(printer.module_imports) if m != "numpy"]
    head = [
        f"HEADER = {header!r}",
        f'__doc__ = r"""Factored cumulant terms of phi(z) = {sp.sstr(activation.expression)}',
        "",
        f"Output cumulant orders 3..{derivation.order} from input cumulants of orders 1..{derivation.closure}",
        "(higher ones taken as zero) as sums of tensor-network terms (docs/theory.md section 12): each",
        "TERMS_<m> lists the terms of the all-distinct formula of order m, whose blocks are the functions",
        "below; symcorr.numeric.factored_pointwise builds the factored output tensor from them.",
        '"""',
        *imports,
        "",
        "from symcorr.codegen import runtime as _support",
        "",
        f"FAMILY = {activation.family.name!r}",
        f"EXPRESSION = {sp.srepr(activation.expression)!r}",
        f"PARAMETERS = {tuple(p.name for p in parameters)!r}",
        f"OUT_ORDER = {derivation.order}",
        f"CLOSURE = {derivation.closure}",
        f"SERIES_ORDER = {derivation.series_order!r}",
        f"DERIVATION_KEY = {factored_key(derivation.key)!r}",
        f"FACTORED_VERSION = {FACTORED_VERSION}",
        "",
        "",
    ]
    body = functions + [line for order in orders for line in order] + [
        "#: Arrays of the grid's size each block function holds at once (an upper bound).",
        "BLOCK_ARRAYS = {" + ", ".join(f"{name}: {count}" for name, count in arrays.items()) + "}",
    ]
    return "\n".join(head + body).rstrip() + "\n"


__all__ = ["factored_module_source", "factored_module_name", "factored_key", "FACTORED_VERSION"]
