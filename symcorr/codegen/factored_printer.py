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
from symcorr.derivation.tensor_networks import DenseBlock, network_terms, relabelled_symbol
from symcorr.notation.symbols import NEURON_LABELS, parse_joint_vertex_symbol, parse_vertex_symbol, symbol_labels

#: Bumped whenever the printed form changes, so cached factored modules are rebuilt.
FACTORED_VERSION = 2

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
    replacements = {symbol: relabelled_symbol(symbol, mapping) for symbol in block.expression.free_symbols}
    return "".join(mapping[c] for c in block.labels), block.expression.xreplace(replacements)


def _vertex(symbol: sp.Symbol) -> tuple[str, str] | None:
    """``(neuron labels, function name)`` of a vertex symbol, one neuron's (``g1d3_j``) or a pair's
    (``G2x1d0x0_ij``), ``None`` for any other symbol."""
    single = parse_vertex_symbol(symbol)
    if single is not None:
        label, power, derivative = single
        return label, f"_vertex_g{power}d{derivative}"
    joint = parse_joint_vertex_symbol(symbol)
    if joint is not None:
        labels, powers, derivatives = joint
        return labels, f"_vertex_G{'x'.join(map(str, powers))}d{'x'.join(map(str, derivatives))}"
    return None


class _VertexFunctions:
    r"""The vertex functions that blocks in vertex functions use: one neuron's,
    :math:`g^{(n)}_{p}(\mu_a, \Sigma_{aa})`, and a pair's (:math:`\partial^n_{\mu_a}\partial^m_{\mu_b}
    E[\phi(z_a)^p\phi(z_b)^q]` over the pair's Gaussian: the piecewise-linear families' two-neuron patterns), each
    printed once as ``_vertex_g{p}d{n}(mu_i, Sigma_ii, *parameters)`` or ``_vertex_G{p}x{q}d{n}x{m}(mu_i, mu_j,
    Sigma_ii, Sigma_ij, Sigma_jj, *parameters)`` (elementwise, the family's expression after common-subexpression
    elimination) and called by the blocks on their own neurons. ``grid_arrays``: per pair's function, the arrays of
    the grid's size it may hold at once (its statements: a block's memory bound adds the largest it calls; a
    neuron's function holds vectors)."""

    def __init__(self, activation, printer: KernelPrinter):
        self.activation, self.printer, self.printed, self.lines = activation, printer, {}, []
        self.grid_arrays: dict[str, int] = {}

    def _printed(self, symbol: sp.Symbol) -> tuple[str, list[sp.Symbol]]:
        """The name of the function of the vertex ``symbol`` and its input cumulants on the neurons ``'i'``
        (``'ij'``), printed into :attr:`lines` the first time."""
        labels, name = _vertex(symbol)
        if name not in self.printed:
            base = relabelled_symbol(symbol, {c: NEURON_LABELS[n] for n, c in enumerate(labels)})
            parameters = self.activation.parameter_symbols
            value = self.activation.family.substitute_vertices(self.activation, base)
            arguments = sorted((s for s in value.free_symbols if s not in set(parameters)), key=lambda s: s.name)
            self.lines += [f"def {name}({', '.join([*(a.name for a in arguments), *(p.name for p in parameters)])}):",
                           f'    r"""The vertex function :math:`{sp.latex(base)}`, elementwise."""']
            statements = _formula_statements(value, self.printer)
            for target, source in statements:
                self.lines.append(f"    return {source}" if target is None else f"    {target} = {source}")
            self.lines += ["", ""]
            self.printed[name] = arguments
            if len(labels) > 1:
                self.grid_arrays[name] = len(statements) + 1
        return name, self.printed[name]

    def call(self, symbol: sp.Symbol) -> tuple[str, list[sp.Symbol]]:
        """The call that gives ``symbol`` (``g1d3_j``, ``G2x1d0x0_ij``) on its neurons, and the input cumulants it
        reads."""
        labels = _vertex(symbol)[0]
        name, arguments = self._printed(symbol)
        own = [relabelled_symbol(a, {NEURON_LABELS[n]: c for n, c in enumerate(labels)}) for a in arguments]
        parameters = self.activation.parameter_symbols
        return f"{name}({', '.join([*(a.name for a in own), *(p.name for p in parameters)])})", own


def _block_function(name: str, grid: str, expression: sp.Expr, activation, printer: KernelPrinter,
                    vertices: _VertexFunctions, off_diagonal: bool = False):
    """The lines of ``name(kappa, *parameters)`` and the number of statements (arrays held at once, bound). A
    block in vertex functions (:func:`~symcorr.derivation.tensor_networks.per_neuron_formula`) computes each of
    them from its neurons' means and covariances (``vertices``) and is printed as the polynomial it is in them.
    An ``off_diagonal`` block returns zeros where its two neurons coincide
    (:func:`~symcorr.codegen.runtime.grid.off_diagonal`)."""
    parameters = activation.parameter_symbols
    latex = sp.latex(expression)
    shown = (f":math:`{latex}`" if len(latex) <= LONGEST_BLOCK_LATEX
             else f"a polynomial of {len(latex)} LaTeX characters")
    in_vertices = sorted((s for s in expression.free_symbols if _vertex(s) is not None), key=lambda s: s.name)
    calls = [(symbol, *vertices.call(symbol)) for symbol in in_vertices]
    inputs = {s for s in expression.free_symbols if s not in set(parameters) and _vertex(s) is None}
    inputs = sorted(inputs.union(*(own for _, _, own in calls)), key=lambda s: (len(symbol_labels(s)), s.name))
    lines = [f"def {name}({', '.join(['kappa', *(p.name for p in parameters)])}):",
             f'    r"""A factor on the neuron grid ``{grid}``: {shown}."""']
    for symbol in inputs:
        labels = symbol_labels(symbol)
        lines.append(f"    {symbol.name} = _support.grid_view(kappa[{len(labels) - 1}], {labels!r}, {grid!r})")
    lines += [f"    {symbol.name} = {call}" for symbol, call, _ in calls]
    if calls:               # a large polynomial in many symbols: factoring it for the grid costs more than it saves
        statements = _formula_statements(expression, printer)
    else:
        statements = _formula_statements(grid_friendly(expression, set(parameters)) if expression.is_polynomial()
                                         else expression, printer)
    for target, source in statements:
        if target is None and off_diagonal:
            source = f"_support.off_diagonal({source}, kappa[1])"
        lines.append(f"    return {source}" if target is None else f"    {target} = {source}")
    inside = max((vertices.grid_arrays.get(_vertex(symbol)[1], 0) for symbol, _, _ in calls), default=0)
    return lines, len(inputs) + len(calls) + len(statements) + 2 + off_diagonal + inside


def _number(value: sp.Expr) -> str:
    value = value if isinstance(value, sp.Rational) else sp.nsimplify(value)
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
    vertices = _VertexFunctions(activation, printer)
    for order in range(3, derivation.order + 1):
        terms = network_terms(derivation, order)
        specs = []
        for term in terms:
            calls = []
            for block in term.dense:
                grid, expression = _canonical(block)
                key = (grid, sp.srepr(expression), block.off_diagonal)
                if key not in blocks:
                    name = f"_block_{len(blocks)}"
                    blocks[key] = name
                    lines, count = _block_function(name, grid, expression, activation, printer, vertices,
                                                   block.off_diagonal)
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
            pattern = "" if term.pattern is None else f", {term.pattern!r}"
            specs.append(f"    _support.FactoredTerm({scalar}, ({''.join(c + ', ' for c in calls)}), "
                         f"{cumulants!r}, ({arrangements},), {term.cyclic}{pattern}),")
        corrections = sorted({t.pattern for t in terms if t.pattern is not None})
        if corrections:
            what = [f"#: Output order {order}: {len(terms)} terms ({sum(t.cyclic for t in terms)} cyclic), the "
                    "all-distinct formula's and the corrections",
                    f"#: on the diagonals {', '.join(corrections)} (docs/theory.md section 12.2)."]
        else:
            what = [f"#: Output order {order}: {len(terms)} terms ({sum(t.cyclic for t in terms)} cyclic) whose "
                    "symmetrized sum is the all-distinct formula,",
                    "#: which holds on every diagonal (docs/theory.md section 12)."]
        orders.append([*what, f"TERMS_{order} = (", *specs, ")", ""])
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
    body = vertices.lines + functions + [line for order in orders for line in order] + [
        "#: Arrays of the grid's size each block function holds at once (an upper bound).",
        "BLOCK_ARRAYS = {" + ", ".join(f"{name}: {count}" for name, count in arrays.items()) + "}",
    ]
    return "\n".join(head + body).rstrip() + "\n"


__all__ = ["factored_module_source", "factored_module_name", "factored_key", "FACTORED_VERSION"]
