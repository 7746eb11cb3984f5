r"""The code printer: a :class:`~symcorr.derivation.engine.Derivation` -> the source of a NumPy kernel module.

One printer for one target (NumPy + SciPy), following SymPy's own printers:
rewrite rules are data (:data:`REWRITES`, applied with
:func:`sympy.codegen.rewriting.optimize`), and the printer collects the imports
it needs (``SciPyPrinter`` knows ``erf``; custom SymPy functions print
themselves through a ``_pythoncode`` method, which SymPy's Python printers call).

A kernel module holds, for output orders ``n = 1..order``, a function
``cumulant_n(kappa, *parameters, progress=None)`` returning the full symmetric
order-n tensor of output cumulants (docs/theory.md section 4); ``kappa`` is the tuple
of input cumulant tensors of orders ``1..closure``. Each index pattern's
formula is printed after common-subexpression elimination, with a ``del`` for
every temporary after its last use, in one of two forms:

* output orders 1, 2 (:data:`GRID_ORDERS`): ``_pattern_<p>(kappa, *parameters)``
  evaluates the formula on the broadcast grid of the pattern's distinct
  neurons (no loop over neurons) and :func:`~symcorr.codegen.runtime.grid.fill_pattern`
  writes it into every position that realises it, finest pattern first so that
  partial diagonals overwrite the all-distinct values;
* output orders >= 3: ``_pattern_<p>(kappa, at, shared, *parameters)`` evaluates
  it on a block of neuron tuples (``at``, 1-D index arrays; each tuple once, sorted
  within groups of equal multiplicity) and
  :func:`~symcorr.codegen.runtime.tuples.symmetric_tensor` loops over the blocks
  and writes every permutation; costly runtime functions of fewer neurons than
  the pattern are tabulated once (``_shared<n>_<t>``) and gathered
  (:mod:`symcorr.codegen.runtime.tuples`). ``progress`` shows a bar for these
  (``None``: on a terminal, once a run is long).

Every kernel module states its memory before it runs:
``peak_bytes(n: int) -> int`` is an upper bound on the bytes that computing
``cumulant_1 .. cumulant_order`` at width ``n`` allocates, the results kept
(input tensors not counted): the results, plus the largest working memory of
any order -- the arrays each statement of a pattern function holds, read off
the printed code (:mod:`symcorr.codegen.workspace`), and the runtime
functions' workspace (:func:`symcorr.codegen.runtime.tuples.peak_bytes`).
"""
from __future__ import annotations

import itertools

import sympy as sp
from sympy.codegen.rewriting import optimize, optims_numpy
from sympy.printing.numpy import SciPyPrinter

from symcorr.codegen.runtime.tuples import pattern_groups, pattern_words
from symcorr.codegen.workspace import FunctionMemory
from symcorr.derivation.algebra import factor
from symcorr.derivation.engine import Derivation
from symcorr.derivation.families.gaussian_functions import ExpNeg
from symcorr.notation.partitions import pattern_slot_assignments
from symcorr.notation.symbols import NEURON_LABELS, cumulant_symbol, symbol_labels

#: Rewrite rules applied to formulas before printing (data, not code), and the
#: functions they act on: a formula without those (any polynomial) is left as is,
#: since walking a large polynomial through the rules costs a minute and changes nothing.
REWRITES = tuple(optims_numpy)
REWRITTEN_FUNCTIONS = (sp.exp, sp.log)

#: Rewrites of a function's argument before printing (data: the function and what its argument becomes).
#: A Gaussian exponent is printed as one factored fraction: the conditional exponent of a pair,
#: :math:`(\Sigma_{ii}\mu_j - \Sigma_{ij}\mu_i)^2 / (2\Sigma_{ii}(\Sigma_{ii}\Sigma_{jj} - \Sigma_{ij}^2))`, arrives
#: from the substitution :math:`h = \mu/\sigma`, :math:`\rho = \Sigma_{ij}/(\sigma_i\sigma_j)` as three fractions of
#: size :math:`h^2/(1-\rho^2)` whose sum is small; as :math:`\rho \to 1` their rounding became the whole exponent
#: (ReLU's order 3 lost 1e-7 of its scale at :math:`\rho = 1 - 10^{-8}`, both forms; docs/theory.md section 11.2).
ARGUMENT_REWRITES = ((ExpNeg, factor),)

#: Bumped whenever the printed form or a derivation changes, so cached kernels are rebuilt (the cache's key is
#: the derivation key and this version).
CODEGEN_VERSION = 8


class KernelPrinter(SciPyPrinter):
    """Prints formulas as NumPy/SciPy expressions on broadcast neuron grids."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": True, "inline": True,
                          "allow_unknown_functions": False})


def module_name(name: str, order: int, closure: int) -> str:
    """The kernel module of a derivation: ``quadratic_order4_closure4``."""
    return f"{name}_order{order}_closure{closure}"


#: Output orders evaluated on the broadcast neuron grid (their polynomial formulas factored by
#: :func:`grid_friendly`); higher ones on neuron tuples.
GRID_ORDERS = (1, 2)


def grid_friendly(formula: sp.Expr, parameters) -> sp.Expr:
    r"""A polynomial formula arranged for evaluation on a neuron grid.

    Collected on the input cumulants that couple neurons (:math:`\Sigma_{ij}`,
    :math:`\kappa_{iij}`, ...) with each coefficient factored, so that per-neuron
    factors such as :math:`(1 + 2\alpha\mu_i)` are computed on vectors before they
    are broadcast: the order-2 quadratic kernel at N = 1024 takes 8.0 ms instead of
    12.4 ms. Applied to the grid orders :data:`GRID_ORDERS` only: on neuron tuples
    every operand is a block of the same length, so nothing is gained, while
    factoring the order-4 formulas costs ~10 s of derivation.
    """
    coupling = sorted((s for s in formula.free_symbols
                       if s not in parameters and len(set(symbol_labels(s))) > 1), key=lambda s: s.name)
    if not coupling:
        return factor(formula)
    collected = sp.collect(sp.expand(formula), coupling, evaluate=False)
    return sp.Add(*[monomial * factor(coefficient) for monomial, coefficient in collected.items()])


def horner_form(formula: sp.Expr, parameters) -> sp.Expr:
    r"""A polynomial formula as a greedy multivariate Horner scheme (unevaluated), for neuron tuples.

    The input cumulant appearing in most terms is factored out of them,
    :math:`x\,(\dots) + (\text{the rest})`, recursively; sums of monomials that share no
    factor are grouped by their coefficient (a number times a power of the parameters,
    computed once as a scalar). On a block of tuples every array operation costs the same,
    so fewer operations is the whole gain: printed by ``_horner_statements``, the
    order-4 quadratic pattern ``ijkl`` takes 1027 array operations instead of 1576 after
    common-subexpression elimination, ``iijk`` 466 instead of 790. The same polynomial
    (``sympy.expand`` gives it back), evaluated in another order: the values differ at the
    level of rounding (on the pinned inputs, old and new are both within 1e-16 of the
    tensor's scale from exact rational arithmetic).
    """
    generators = sorted(formula.free_symbols - set(parameters), key=lambda s: s.name)
    if not generators:
        return formula
    terms = dict(sp.Poly(formula, *generators).terms())

    def scheme(terms):
        counts = [sum(1 for exponents in terms if exponents[g]) for g in range(len(generators))]
        best = max(range(len(generators)), key=counts.__getitem__)
        if counts[best] <= 1:
            by_coefficient: dict = {}
            for exponents, coefficient in terms.items():
                monomial = sp.Mul(*(s**k for s, k in zip(generators, exponents) if k))
                by_coefficient.setdefault(coefficient, []).append(monomial)
            return sp.Add(*(_scaled(coefficient, sp.Add(*monomials))
                            for coefficient, monomials in by_coefficient.items()), evaluate=False)
        inner, rest = {}, {}
        for exponents, coefficient in terms.items():
            if exponents[best]:
                reduced = list(exponents)
                reduced[best] -= 1
                inner[tuple(reduced)] = coefficient
            else:
                rest[exponents] = coefficient
        factored = sp.Mul(generators[best], scheme(inner), evaluate=False)
        return sp.Add(factored, scheme(rest), evaluate=False) if rest else factored

    return scheme(terms)


def _scaled(coefficient: sp.Expr, expression: sp.Expr) -> sp.Expr:
    """``coefficient * expression``, the scalar coefficient kept together (one array operation)."""
    if coefficient == 1 or expression == 1:
        return coefficient * expression
    return sp.Mul(coefficient, expression, evaluate=False)


def _horner_statements(formula: sp.Expr, parameters, printer: KernelPrinter) -> list[tuple[str | None, str]]:
    """``(target, source)`` evaluating the Horner scheme of ``formula``: every sum holding an input
    becomes a temporary (children first, identical sums once), products stay inline. (SymPy's
    ``cse`` is not used here: on unevaluated expressions it can return a different polynomial.)"""
    arrays = formula.free_symbols - set(parameters)
    statements, names = [], {}

    def emit(node):
        if node.is_Atom or not (node.free_symbols & arrays):
            return node
        rebuilt = node.func(*(emit(arg) for arg in node.args), evaluate=False)
        if not isinstance(node, sp.Add):
            return rebuilt
        key = sp.srepr(rebuilt)
        if key not in names:
            names[key] = sp.Symbol(f"t{len(names)}")
            statements.extend(_assignments(names[key].name, rebuilt, printer))
        return names[key]

    top = emit(horner_form(formula, parameters))
    return statements + [(None, printer.doprint(top))]


#: Longest LaTeX formula a kernel's docstring shows in full; longer ones (erf at
#: closure 4: 150 000 characters) are replaced by the command that prints them.
LONGEST_DOCSTRING_LATEX = 4000


def derive_command(derivation: Derivation, pattern: str) -> str:
    """The ``symcorr derive`` command that prints ``pattern``'s formula of ``derivation`` in LaTeX (in the vertex
    functions where the family's formula sheets are, ``sheet_in_vertex_functions``)."""
    activation = derivation.activation
    spec = activation.family.command_spec(activation)
    series = "" if derivation.series_order is None else f" -S {derivation.series_order}"
    vertices = " --vertex-functions" if activation.family.sheet_in_vertex_functions else ""
    return (f"symcorr derive -a {spec} -K {derivation.closure}{series} -M {derivation.order} "
            f"-p {pattern} -f latex{vertices}")


def _printed_symbols_exceed(formula: sp.Expr, limit: int) -> bool:
    """Whether ``formula``'s LaTeX surely has more than ``limit`` characters, counted cheaply: every
    occurrence of a symbol reached through sums, products and powers is printed (at least one character),
    so their number is a lower bound of the length. Stops counting at ``limit``."""
    count = 0
    stack = [formula]
    while stack:
        node = stack.pop()
        if node.is_Symbol:
            count += 1
            if count > limit:
                return True
        elif node.is_Add or node.is_Mul or node.is_Pow:
            stack.extend(node.args)
    return False


def _docstring_math(derivation: Derivation, pattern: str, formula: sp.Expr) -> list[str]:
    # the formulas of the closed-form families at closure 4 print to 10^5-10^6 characters; sizing them
    # without printing them saves most of their kernels' printing time
    if not _printed_symbols_exceed(formula, LONGEST_DOCSTRING_LATEX):
        latex = sp.latex(formula)
        if len(latex) <= LONGEST_DOCSTRING_LATEX:
            return ["    .. math::", "", f"        {latex}"]
    return [f"    The formula's LaTeX (over {LONGEST_DOCSTRING_LATEX} characters) is too long to read here; "
            "print it with",
            "", f"    ``{derive_command(derivation, pattern)}``"]


def _cumulant_labels(symbol) -> str | None:
    """The neuron labels of an input cumulant symbol, ``None`` for any other symbol."""
    try:
        return symbol_labels(symbol)
    except ValueError:
        return None


def _formula_statements(formula: sp.Expr, printer: KernelPrinter) -> list[tuple[str | None, str]]:
    """``(target, source)`` of the assignments evaluating ``formula`` after common-subexpression
    elimination, the last one ``(None, source)`` for the ``return``."""
    for function, rewrite in ARGUMENT_REWRITES:
        formula = formula.xreplace({call: function(*map(rewrite, call.args)) for call in formula.atoms(function)})
    optimized = optimize(formula, REWRITES) if formula.has(*REWRITTEN_FUNCTIONS) else formula
    replacements, (reduced,) = sp.cse(optimized, symbols=sp.numbered_symbols("t"), order="canonical")
    statements = []
    for lhs, rhs in replacements:
        statements += _assignments(str(lhs), rhs, printer)
    if _is_long_sum(reduced):
        return statements + _assignments("value", reduced, printer) + [(None, "value")]
    return statements + [(None, printer.doprint(reduced))]


#: Terms per line of a long sum: Python's compiler recurses once per operator, so one line
#: holding thousands of terms (erf, output order 4 at closure 3) exceeds its recursion limit.
TERMS_PER_LINE = 200


def _is_long_sum(expression: sp.Expr) -> bool:
    return isinstance(expression, sp.Add) and len(expression.args) > TERMS_PER_LINE


def _assignments(name: str, expression: sp.Expr, printer: KernelPrinter) -> list[tuple[str, str]]:
    """``name = expression``, a long sum split over lines of :data:`TERMS_PER_LINE` terms
    (``name = name + ...``, never ``+=``: the first part may be a view of an input)."""
    if not _is_long_sum(expression):
        return [(name, printer.doprint(expression))]
    terms = expression.args
    statements = [(name, printer.doprint(sp.Add(*terms[:TERMS_PER_LINE])))]
    for start in range(TERMS_PER_LINE, len(terms), TERMS_PER_LINE):
        statements.append((name, f"{name} + ({printer.doprint(sp.Add(*terms[start:start + TERMS_PER_LINE]))})"))
    return statements


def _function_body(statements, views, size_class, gathers) -> tuple[list[str], list]:
    """The printed body (with a ``del`` after each temporary's last use) and its memory moments."""
    deletions, moments = FunctionMemory(statements, views, size_class, gathers).analyse()
    lines = []
    for (target, source), dead in zip(statements, deletions):
        if target is None:
            lines.append(f"    return {source}")
            break
        lines.append(f"    {target} = {source}")
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    return lines, moments


def _grid_memory(moments, axes: int) -> tuple:
    """Moments as ``(arrays by number of grid axes 0..axes, ((call, axes),) or ())``."""
    return tuple(sorted((tuple(arrays.get(c, 0) for c in range(axes + 1)),
                         () if call is None or not call[0].startswith("_support.") else (call,))
                        for arrays, call in moments))


def _tuple_memory(moments) -> tuple:
    """Moments as ``(block arrays, (call,) or ())``."""
    return tuple(sorted((arrays.get(1, 0), () if call is None or not call[0].startswith("_support.") else (call[0],))
                        for arrays, call in moments))


def _grid_pattern_function(derivation: Derivation, pattern: str, printer: KernelPrinter) -> tuple[list[str], tuple]:
    """``_pattern_<p>(kappa, *parameters)`` on the neuron grid, and its memory moments."""
    formula = derivation.formula(pattern)
    parameters = derivation.activation.parameter_symbols
    grid = "".join(sorted(set(pattern)))
    inputs = sorted(formula.free_symbols - set(parameters), key=lambda s: (len(symbol_labels(s)), s.name))
    signature = ", ".join(["kappa", *(p.name for p in parameters)])
    head = [
        f"def _pattern_{pattern}({signature}):",
        f'    r"""Output cumulant :math:`\\kappa_{{y,{pattern}}}` on the neuron grid ``{grid}``.',
        "",
        *_docstring_math(derivation, pattern, formula),
        '    """',
    ]
    statements = [(symbol.name, (f"_support.grid_view(kappa[{len(symbol_labels(symbol)) - 1}], "
                                f"{symbol_labels(symbol)!r}, {grid!r})")) for symbol in inputs]
    if formula.is_polynomial():
        formula = grid_friendly(formula, set(parameters))
    statements += _formula_statements(formula, printer)
    lines, moments = _function_body(statements, {}, len, {"_support.grid_view": False})
    return head + lines, _grid_memory(moments, len(grid))


def _index_arrays(labels_used) -> int:
    """Flat index arrays a :class:`~symcorr.codegen.runtime.tuples.NeuronTuples` tile block caches
    for these gathers and fills: one per distinct label string."""
    return len(set(labels_used))


def _tuple_statements(formula: sp.Expr, placeholders: dict, printer: KernelPrinter, parameters=()):
    """Gathers of the inputs (and of shared tables) at the block's tuples, then the formula
    (a polynomial as its Horner scheme, :func:`horner_form`)."""
    inputs = sorted((s for s in formula.free_symbols if _cumulant_labels(s)),
                    key=lambda s: (len(symbol_labels(s)), s.name))
    statements = [(s.name, f"at(kappa[{len(symbol_labels(s)) - 1}], {symbol_labels(s)!r})") for s in inputs]
    statements += [(s.name, f"at(shared[{table}], {letters!r})")
                   for s, (table, letters) in sorted(placeholders.items(), key=lambda item: item[0].name)
                   if s in formula.free_symbols]
    labels = [symbol_labels(s) for s in inputs] + [letters for s, (_, letters) in placeholders.items()]
    evaluation = (_horner_statements(formula, parameters, printer) if formula.is_polynomial()
                  else _formula_statements(formula, printer))
    return statements + evaluation, labels


def _hoist_shared(formula: sp.Expr, pattern: str, printer: KernelPrinter, tables: dict):
    """Replace every runtime call (``_support.*``) on fewer neurons than ``pattern`` by a gather
    from a shared table. ``tables`` maps ``(canonical call, sub-pattern)`` to ``(index, call,
    sub-pattern)``: the call relabelled onto the first letters, and the tuples it is needed at as
    the simplest pattern with the same ordering (``'iij'``: any two distinct neurons; ``'ij'``:
    increasing). Returns the new formula and the placeholders, symbol -> (table, letters of
    ``pattern`` it is gathered at)."""
    letters_of_pattern = "".join(dict.fromkeys(pattern))
    calls = [f for f in formula.atoms(sp.Function) if printer.doprint(f).startswith("_support.")]
    replacements, placeholders = {}, {}
    for call in sorted(calls, key=sp.default_sort_key):
        if any(other != call and other.has(call) for other in calls):
            continue                                   # inside another call: goes with it
        letters = sorted({c for s in call.free_symbols for c in (_cumulant_labels(s) or "")})
        if not letters or len(letters) == len(letters_of_pattern):
            continue
        relabel = {old: NEURON_LABELS[m] for m, old in enumerate(letters)}
        canonical = call.xreplace({s: cumulant_symbol("".join(relabel[c] for c in _cumulant_labels(s)))
                                   for s in call.free_symbols if _cumulant_labels(s)})
        # the tuples it is needed at: distinct neurons, increasing within runs of equal multiplicity
        # in `pattern`; written as the simplest pattern with those runs ('iij': any i != j)
        runs = pattern_groups("".join(c * pattern.count(c) for c in letters))
        sub_pattern = "".join(NEURON_LABELS[m] * (len(runs) - r) for m, r in
                              enumerate(r for r, size in enumerate(runs) for _ in range(size)))
        key = (sp.srepr(canonical), sub_pattern)
        if key not in tables:
            tables[key] = (len(tables), canonical, sub_pattern)
        table = tables[key][0]
        symbol = sp.Symbol(f"shared{table}_{''.join(letters)}", real=True)
        replacements[call] = symbol
        placeholders[symbol] = (table, "".join(letters))
    return formula.xreplace(replacements), placeholders


def _tuple_pattern_function(derivation: Derivation, pattern: str, printer: KernelPrinter, tables: dict):
    """``_pattern_<p>(kappa, at, shared, *parameters)`` on a block of neuron tuples; returns its
    lines, memory moments and index arrays."""
    formula = derivation.formula(pattern)
    parameters = derivation.activation.parameter_symbols
    letters = "".join(dict.fromkeys(pattern))
    signature = ", ".join(["kappa", "at", "shared", *(p.name for p in parameters)])
    head = [
        f"def _pattern_{pattern}({signature}):",
        f'    r"""Output cumulant :math:`\\kappa_{{y,{pattern}}}` at the neuron tuples ``{letters}`` of the block ``at``.',
        "",
        *_docstring_math(derivation, pattern, formula),
        '    """',
    ]
    hoisted, placeholders = _hoist_shared(formula, pattern, printer, tables)
    statements, labels = _tuple_statements(hoisted, placeholders, printer, parameters)
    lines, moments = _function_body(statements, {}, lambda _: 1, {"at": True})
    index_arrays = _index_arrays(labels + list(pattern_words(pattern)))
    return head + lines, _tuple_memory(moments), index_arrays


def _shared_function(name: str, canonical: sp.Expr, sub_pattern: str, parameters, printer: KernelPrinter):
    """A shared table's function ``(kappa, at, *parameters)``; returns lines, moments, index arrays."""
    letters = "".join(dict.fromkeys(sub_pattern))
    runs = ["".join(run) for _, run in itertools.groupby(letters, key=sub_pattern.count)]
    ordering = ("; ".join(" < ".join(run) for run in runs if len(run) > 1) or "in any order"
                if len(letters) > 1 else "every neuron")
    head = [
        f"def {name}({', '.join(['kappa', 'at', *(p.name for p in parameters)])}):",
        f'    r""":math:`{sp.latex(canonical)}` at the neuron tuples ``{letters}`` of the block ``at``',
        f"    ({'distinct neurons, ' if len(letters) > 1 else ''}{ordering}): tabulated once per call, "
        "gathered by the patterns.",
        '    """',
    ]
    statements, labels = _tuple_statements(canonical, {}, printer)
    lines, moments = _function_body(statements, {}, lambda _: 1, {"at": True})
    return head + lines, _tuple_memory(moments), _index_arrays(labels + [letters])


def _grid_cumulant_function(derivation: Derivation, order: int, patterns: list[str]) -> list[str]:
    """``cumulant_<order>`` of a grid order (``patterns``: its patterns in ``GRID_MEMORY``'s order); the pattern on
    two neurons made a window of rows at a time (``_support.grid_pattern``)."""
    parameters = [p.name for p in derivation.activation.parameter_symbols]
    call = ", ".join(["kappa", *parameters])
    lines = [
        f"def cumulant_{order}({call}, progress=None):",
        (f'    """Full symmetric order-{order} output cumulant tensor from input cumulants ``kappa`` '
        f'(``progress``: unused, the grid evaluation is fast)."""'),
    ]
    # finest pattern (most distinct neurons) first, as the tensor itself when it can be:
    # coarser diagonals overwrite it
    finest, *coarser = sorted(patterns, key=lambda p: -len(set(p)))
    values = f"_pattern_{finest}({call})"
    if len(set(finest)) == 2:
        values = (f"_support.grid_pattern(_pattern_{finest}, kappa, ({''.join(p + ', ' for p in parameters)}), "
                  f"GRID_MEMORY[{order}][{patterns.index(finest)}])")
    lines.append(f"    out = _support.output_tensor({values}, "
                 f"{tuple(pattern_slot_assignments(finest))!r}, kappa[0].shape[0], {order})")
    for pattern in coarser:
        assignments = tuple(pattern_slot_assignments(pattern))
        lines.append(f"    _support.fill_pattern(out, _pattern_{pattern}({call}), {assignments!r})")
    lines.append("    return out")
    return lines


def _tuple_order(derivation: Derivation, order: int, patterns: list[str], printer: KernelPrinter) -> list[str]:
    """The pattern and shared functions of one tuple order, their specifications and ``cumulant_<order>``."""
    parameters = derivation.activation.parameter_symbols
    tables: dict = {}
    functions, specs = [], []
    for pattern in sorted(patterns, key=lambda p: -len(set(p))):
        lines, moments, index_arrays = _tuple_pattern_function(derivation, pattern, printer, tables)
        functions += lines + ["", ""]
        specs.append(f"    _support.TuplePattern({pattern!r}, _pattern_{pattern}, {moments!r}, {index_arrays}),")
    shared_functions, shared_specs = [], []
    for table, canonical, sub_pattern in sorted(tables.values(), key=lambda entry: entry[0]):
        name = f"_shared{order}_{table}"
        lines, moments, index_arrays = _shared_function(name, canonical, sub_pattern, parameters, printer)
        shared_functions += lines + ["", ""]
        shared_specs.append(f"    _support.SharedTable({sub_pattern!r}, {name}, {moments!r}, {index_arrays}),")
    names = ", ".join(["kappa", *(p.name for p in parameters)])
    values = f"({', '.join(p.name for p in parameters)}{',' if len(parameters) == 1 else ''})"
    return shared_functions + functions + [
        f"#: Output order {order}: each index pattern (and shared table) with its function, working memory",
        "#: (per statement: block arrays alive, runtime call) and index arrays (symcorr.codegen.runtime.tuples).",
        f"PATTERNS_{order} = (", *specs, ")",
        f"SHARED_{order} = (", *shared_specs, ")",
        "",
        "",
        f"def cumulant_{order}({names}, progress=None):",
        f'    """Full symmetric order-{order} output cumulant tensor from input cumulants ``kappa``: each pattern',
        "    once per sorted neuron tuple (symcorr.codegen.runtime.tuples.symmetric_tensor); ``progress``:",
        '    a bar (None: on a terminal, once the run is long; True; False)."""',
        (f"    return _support.symmetric_tensor(kappa[0].shape[0], {order}, PATTERNS_{order}, SHARED_{order}, kappa, "
        f"{values}, progress)"),
        "",
        "",
    ]


def kernel_module_source(derivation: Derivation, header: str) -> str:
    """The Python source of the kernel module for ``derivation``.

    ``header`` is the module's first constant: who wrote it, that it must not
    be edited, and the command that regenerates it.
    """
    printer = KernelPrinter()
    activation = derivation.activation
    by_order: dict[int, list[str]] = {}
    for pattern in derivation.patterns:
        by_order.setdefault(len(pattern), []).append(pattern)
    body: list[str] = []
    grid_memory: dict[int, list] = {}
    for pattern in derivation.patterns:
        if len(pattern) in GRID_ORDERS:
            lines, moments = _grid_pattern_function(derivation, pattern, printer)
            body += lines + ["", ""]
            grid_memory.setdefault(len(pattern), []).append(moments)
    for order, patterns in sorted(by_order.items()):
        if order in GRID_ORDERS:
            body += _grid_cumulant_function(derivation, order, patterns) + ["", ""]
        else:
            body += _tuple_order(derivation, order, patterns, printer)
    tuple_orders = [order for order in sorted(by_order) if order not in GRID_ORDERS]
    body += [
        f"CUMULANTS = ({', '.join(f'cumulant_{n}' for n in sorted(by_order))},)",
        "",
        "#: Working memory of the grid pattern functions of each output order 1, 2: per statement, float",
        "#: arrays by number of grid axes and the runtime call under way (symcorr.codegen.runtime.tuples).",
        "GRID_MEMORY = {",
        *(f"    {order}: {tuple(memory)!r}," for order, memory in sorted(grid_memory.items())),
        "}",
        "",
        "",
        "def peak_bytes(n):",
        (f'    """Upper bound on the bytes ``cumulant_1 .. cumulant_{derivation.order}`` allocate at width ``n``, '
        'their results kept'),
        '    (input tensors not counted): symcorr.codegen.runtime.tuples.peak_bytes."""',
        "    return _support.peak_bytes(n, GRID_MEMORY, {"
        + ", ".join(f"{order}: (PATTERNS_{order}, SHARED_{order})" for order in tuple_orders) + "})",
    ]

    imports = ["import numpy"] + [f"import {m}" for m in sorted(printer.module_imports) if m != "numpy"]
    parameters = tuple(p.name for p in activation.parameter_symbols)
    head = [
        f"HEADER = {header!r}",
        f'__doc__ = r"""Cumulant kernels of phi(z) = {sp.sstr(activation.expression)}',
        "",
        f"Output cumulant orders 1..{derivation.order} from input cumulants of orders",
        (f"1..{derivation.closure} (higher ones taken as zero), "
        f"{'no series truncation' if derivation.series_order is None else f'series order {derivation.series_order}'};"),
        "the expansion of docs/theory.md section 4. Call ``cumulant_n(kappa, *PARAMETERS)``",
        "with ``kappa`` the tuple of input cumulant tensors (float64); ``peak_bytes(n)``",
        "bounds the memory of all orders at width ``n`` before anything runs.",
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
