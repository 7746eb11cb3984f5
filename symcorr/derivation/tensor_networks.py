r"""The output cumulants of a pointwise layer as tensor networks (docs/theory.md section 12).

The all-distinct formula of output order :math:`m` (pattern ``'ijk'`` for
:math:`m = 3`) is a polynomial in the input cumulants. Each of its monomials is
a product of *per-neuron* factors (:math:`\mu_i, \Sigma_{ii}, \kappa_{iii}`,
parameters), *pair* factors over two neurons (:math:`\Sigma_{ij}`,
:math:`\kappa_{iij}`, :math:`\kappa_{iijj}`, ...) and input cumulants over three
or more neurons (:math:`\kappa_{ijk}`, :math:`\kappa_{iijk}`, ...): a tensor
network whose legs are the output neurons. :func:`network_terms` writes the
formula as a sum of :class:`NetworkTerm` s:

* the monomials are collected by their coupling factors (the factors over two or
  more neurons); the coefficient of each coupling monomial, a polynomial in the
  per-neuron quantities and the parameters, is factored into one polynomial per
  neuron (``sympy.factor_list``; a factor over several neurons is expanded);
* the pair factors of one pair form one :class:`DenseBlock` (an :math:`N \times N`
  array), a neuron's own polynomial is multiplied into its pair block when it has
  exactly one and no higher cumulant, and is a vector block otherwise; the input
  cumulants over three or more neurons are :class:`CumulantBlock` s, which the
  runtime replaces by the input's own factored terms;
* terms that differ in one dense block only are merged (that block summed), until
  no two do.

For polynomial activations the all-distinct formula holds on every diagonal: the
formula of every coarser pattern (``'iij'``, ``'iii'``) equals the all-distinct one
with the neurons identified, as polynomials (:func:`diagonal_corrections` computes
the differences by the Moebius formula of the partition lattice; :func:`network_terms`
checks that they vanish). The factored tensor is then the network evaluated at every
index tuple. For families whose vertex functions are not polynomials (erf) the terms
are derived from the formulas in the vertex functions (:func:`per_neuron_formula`),
which are per-neuron quantities like :math:`\mu_i`, and every coarser pattern gets its
correction as terms that stand on that pattern only (:func:`correction_terms`). A pattern on two
neurons derived in joint vertex functions of the pair (the piecewise-linear families) gets its
correction as one block zero where the two coincide, and the one-neuron pattern what the others
leave on the diagonal (:func:`pair_correction_terms`, :func:`single_correction_terms`).

A term is *cyclic* when its blocks, as a hypergraph on the neurons, have a cycle
(:attr:`NetworkTerm.cyclic`): the triangle :math:`\Sigma_{ij}\Sigma_{jk}\Sigma_{ki}`,
:math:`\kappa_{ijk}\Sigma_{ij}`, :math:`\kappa_{ijk}^2`. Acyclic terms of factored
inputs stay factored with slices of cost :math:`O(N^2 r)`; cyclic ones do not
(docs/theory.md section 12).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import sympy as sp

from symcorr.derivation.algebra import factor_list
from symcorr.derivation.activation import Activation
from symcorr.derivation.engine import Derivation, resolve_reference
from symcorr.notation.partitions import index_patterns, mobius_weight, set_partitions
from symcorr.notation.symbols import (NEURON_LABELS, cumulant_symbol, joint_vertex_symbol, parse_joint_vertex_symbol,
                                      parse_vertex_symbol, symbol_labels, vertex_symbol)


def _labels(symbol) -> str | None:
    """The neuron labels of an input cumulant symbol or of a single-neuron vertex function
    (:func:`~symcorr.notation.symbols.vertex_symbol`, a per-neuron quantity), ``None`` for a parameter."""
    vertex = parse_vertex_symbol(symbol)
    if vertex is not None:
        return vertex[0]
    try:
        return symbol_labels(symbol)
    except ValueError:
        return None


def relabelled_symbol(symbol: sp.Symbol, mapping: dict[str, str]) -> sp.Symbol:
    """``symbol`` with its neuron labels mapped (``{'k': 'i'}``: Sigma_jk -> Sigma_ij, g1d2_k -> g1d2_i,
    G2x1d0x0_kj -> G2x1d0x0_ij); a parameter as it is."""
    vertex = parse_vertex_symbol(symbol)
    if vertex is not None:
        label, power, derivative = vertex
        return vertex_symbol(mapping.get(label, label), power, derivative)
    joint = parse_joint_vertex_symbol(symbol)
    if joint is not None:
        labels, powers, derivatives = joint
        return joint_vertex_symbol("".join(mapping.get(c, c) for c in labels), powers, derivatives)
    labels = _labels(symbol)
    return symbol if labels is None else cumulant_symbol("".join(mapping.get(c, c) for c in labels))


def _relabelled(expression: sp.Expr, mapping: dict[str, str]) -> sp.Expr:
    """``expression`` with every symbol's neuron labels mapped (:func:`relabelled_symbol`)."""
    return expression.xreplace({symbol: relabelled_symbol(symbol, mapping) for symbol in expression.free_symbols})


class NoFactoredForm(ValueError):
    """A derivation whose formulas have no factored form (:func:`per_neuron_formula`)."""


def has_factored_form(activation: Activation, order: int, closure: int) -> bool:
    """Whether the output orders ``3..order`` of ``activation`` at ``closure`` have factored terms: for a
    family whose formulas are polynomials always, otherwise where every pattern of those orders on three or more
    neurons is derived in the independent reference, whose vertex functions are per-neuron (erf at closure 3 and 4;
    not at closure 2, whose orders 3..4 are joint moments: :func:`per_neuron_formula`). A pattern on one neuron
    (``'iii'``) has no joint vertex of several neurons in either reference, and one on two (``'iij'``, the
    piecewise-linear families' joint vertices) is one :math:`N \\times N` block in either
    (:func:`pair_correction_terms`)."""
    return activation.family.formulas_are_polynomials or all(
        len(set(pattern)) <= 2 or resolve_reference(activation, pattern, closure) == "independent"
        for m in range(3, order + 1) for pattern in index_patterns(m))


def per_neuron_formula(derivation: Derivation, pattern: str) -> sp.Expr:
    r"""The formula of ``pattern`` that the factored terms are derived from: the formula itself where the family's
    formulas are polynomials in the input cumulants (``formulas_are_polynomials``), else its diagram form, whose
    single-neuron vertex functions are per-neuron quantities like :math:`\mu_i` (docs/theory.md section 12.2).
    A diagram form with joint vertex functions (a joint Gaussian reference, section 4.7) is refused on three or more
    neurons; on two, its joint vertices are functions of the pair (:func:`pair_correction_terms`)."""
    if derivation.activation.family.formulas_are_polynomials:
        return derivation.formula(pattern)
    form = derivation.diagram_form(pattern)
    joint = sorted(s.name for s in form.free_symbols if parse_joint_vertex_symbol(s) is not None)
    if joint and len(set(pattern)) > 2:
        raise NoFactoredForm(f"pattern {pattern!r} of {derivation.activation} (closure {derivation.closure}) is "
                             f"derived in the joint Gaussian reference (vertex functions {', '.join(joint[:3])}): its "
                             "joint vertices are not per-neuron factors, so it has no factored form; use "
                             "representation='dense'")
    return form


def _pattern_blocks(pattern: str) -> tuple[list[tuple[int, ...]], str]:
    """The slots of each distinct letter of ``pattern`` (``'iij'`` -> ``[(0, 1), (2,)]``) and the letters."""
    letters = "".join(dict.fromkeys(pattern))
    return [tuple(s for s, c in enumerate(pattern) if c == letter) for letter in letters], letters


def diagonal_correction(derivation: Derivation, pattern: str) -> sp.Expr:
    r"""What the coarser pattern ``pattern`` (e.g. ``'iij'``) adds to the all-distinct network on its
    diagonal: :math:`G_\sigma = \sum_{\tau \le \sigma} \mu(\tau, \sigma)\, f_\tau|_\sigma`, over the set
    partitions :math:`\tau` of the slots finer than the pattern's :math:`\sigma`, with
    :math:`\mu(\tau, \sigma) = \prod_B (-1)^{k_B - 1}(k_B - 1)!` (:math:`k_B` blocks of :math:`\tau` in the
    block :math:`B` of :math:`\sigma`) and :math:`f_\tau|_\sigma` the formula of :math:`\tau`'s pattern with
    its neurons identified as in :math:`\sigma`. The tensor is :math:`\sum_\sigma G_\sigma` placed on the
    positions whose equal neurons include :math:`\sigma`'s (Moebius inversion on the partition lattice)."""
    # the engine's formulas come expanded, and a relabelled monomial is a monomial: one Add collects them (sp.expand
    # of the sum took most of the corrections' time for erf's formulas in vertex functions)
    summands = []
    for normalized, mapping, weight in _refinements(pattern):
        formula = _relabelled(per_neuron_formula(derivation, normalized), mapping)
        summands += [weight * monomial for monomial in sp.Add.make_args(formula)]
    return sp.Add(*summands)


#: The prime modulo which :func:`_vanishes` evaluates (a Mersenne prime).
_PRIME = 2**61 - 1


def _monomials(expression: sp.Expr) -> list[tuple[int, tuple[tuple[sp.Symbol, int], ...]]]:
    """An expanded polynomial as ``(coefficient mod _PRIME, ((symbol, power), ...))`` per monomial."""
    out = []
    for monomial in sp.Add.make_args(expression):
        coefficient, rest = monomial.as_coeff_Mul()
        if not coefficient.is_Rational:
            raise ValueError(f"not a polynomial with rational coefficients: {monomial}")
        powers = tuple((symbol, int(power)) for symbol, power in rest.as_powers_dict().items()
                       if not (symbol == 1))
        value = int(coefficient.p) % _PRIME * pow(int(coefficient.q), -1, _PRIME) % _PRIME
        out.append((value, powers))
    return out


def _vanishes(derivation: Derivation, pattern: str, points: int = 2, seed: int = 0) -> bool:
    r"""Whether :func:`diagonal_correction` of ``pattern`` is the zero polynomial, tested by exact evaluation
    modulo the prime :math:`p = 2^{61} - 1` at ``points`` random points (a non-zero polynomial of degree
    :math:`d` vanishes at a random point with probability at most :math:`d/p`, Schwartz-Zippel); much
    faster than expanding the corrections of large formulas."""
    import random

    rng = random.Random(seed)
    refinements = list(_refinements(pattern))
    monomials = {normalized: _monomials(per_neuron_formula(derivation, normalized))
                 for normalized, _, _ in refinements}
    for _ in range(points):
        values: dict[sp.Symbol, int] = {}

        def value(symbol: sp.Symbol, mapping) -> int:
            symbol = relabelled_symbol(symbol, mapping)
            if symbol not in values:
                values[symbol] = rng.randrange(1, _PRIME)
            return values[symbol]

        total = 0
        for normalized, mapping, weight in refinements:
            cache: dict[sp.Symbol, int] = {}
            part = 0
            for coefficient, powers in monomials[normalized]:
                term = coefficient
                for symbol, power in powers:
                    if symbol not in cache:
                        cache[symbol] = value(symbol, mapping)
                    term = term * pow(cache[symbol], power, _PRIME) % _PRIME
                part += term
            total = (total + weight * part) % _PRIME
        if total != 0:
            return False
    return True


def _refinements(pattern: str):
    """``(normalized pattern, letter mapping, Moebius weight)`` of every set partition of the slots finer than
    ``pattern``'s (:func:`diagonal_correction`)."""
    blocks, letters = _pattern_blocks(pattern)
    for choice in itertools.product(*(set_partitions(len(block)) for block in blocks)):
        weight, finer, owner = 1, [], []
        for block, partition, letter in zip(blocks, choice, letters):
            weight *= mobius_weight(len(partition))
            for part in partition:
                finer.append(tuple(block[t] for t in part))
                owner.append(letter)
        order = sorted(range(len(finer)), key=lambda a: (-len(finer[a]), finer[a][0]))
        normalized = "".join(NEURON_LABELS[r] * len(finer[a]) for r, a in enumerate(order))
        yield normalized, {NEURON_LABELS[r]: owner[a] for r, a in enumerate(order)}, weight


def diagonal_corrections(derivation: Derivation, order: int) -> dict[str, sp.Expr]:
    """:func:`diagonal_correction` of every coarser pattern of ``order`` (zero for polynomials)."""
    return {pattern: diagonal_correction(derivation, pattern) for pattern in index_patterns(order)
            if len(set(pattern)) < order}


@dataclass(frozen=True)
class DenseBlock:
    """A factor of a term evaluated on the neuron grid of its ``labels`` (one or two sorted letters):
    ``expression`` in the input cumulants over those neurons and the parameters; ``off_diagonal``: zero where
    the two neurons coincide (:func:`pair_correction_terms`)."""

    labels: str
    expression: sp.Expr
    off_diagonal: bool = False


@dataclass(frozen=True)
class CumulantBlock:
    """The input cumulant of order ``len(labels)`` over ``labels`` (three or more distinct neurons,
    e.g. ``'ijk'``, ``'iijk'``): replaced at run time by the input's own factored terms."""

    labels: str

    @property
    def order(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class NetworkTerm:
    r"""One term of the all-distinct formula of output order :math:`m`, standing for its whole orbit under
    relabelling the neurons: the output receives :math:`\operatorname{Sym}(X)`, the average of :math:`X`
    over the :math:`m!` orders of its slots, with

    .. math::

        X_{i j k \dots} = \mathrm{scalar} \prod_{b \in \mathrm{dense}} b
        \prod_{c \in \mathrm{cumulants}} \kappa_{c},

    slot :math:`s` being neuron ``'ijkl..'[s]``. The input cumulants :math:`\kappa_c` are symmetric
    tensors; the runtime holds them as symmetrized sums of unsymmetric terms, so :math:`\kappa_c` over the
    labels ``c.labels`` is the average of an input term over the distinct words of those labels.
    ``arrangements`` lists, for the cumulant blocks jointly, the words that give different results
    under the outer :math:`\operatorname{Sym}` (one per orbit of the symmetries of the term's dense
    blocks) with their weights (summing to 1): the word's letter at position :math:`t` is the neuron
    of the input term's slot :math:`t`.
    """

    scalar: sp.Expr
    dense: tuple[DenseBlock, ...]
    cumulants: tuple[CumulantBlock, ...]
    arrangements: tuple[tuple[tuple[str, ...], sp.Rational], ...] = (((), sp.Integer(1)),)
    #: ``None`` for a term of the all-distinct formula; else the coarser index pattern (``'iij'``) whose
    #: diagonal correction the term is part of: slot :math:`s` is then neuron ``pattern[s]``, so :math:`X` is
    #: zero off that pattern's diagonal (:func:`correction_terms`).
    pattern: str | None = None

    @property
    def cyclic(self) -> bool:
        """Whether the blocks over two or more neurons, as hyperedges, contain a cycle (the bipartite
        graph of blocks and neurons is not a forest)."""
        edges = [set(b.labels) for b in self.dense if len(b.labels) > 1] + [set(b.labels) for b in self.cumulants]
        labels = set().union(*edges) if edges else set()
        parent = {x: x for x in [("e", n) for n in range(len(edges))] + [("l", c) for c in labels]}

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for n, edge in enumerate(edges):
            for label in edge:
                a, b = find(("e", n)), find(("l", label))
                if a == b:
                    return True
                parent[a] = b
        return False

    def expression(self) -> sp.Expr:
        """:math:`X` as a SymPy product (the input cumulants as their symmetric symbols)."""
        product = self.scalar
        for block in self.dense:
            product *= block.expression
        for block in self.cumulants:
            product *= cumulant_symbol(block.labels)
        return product


def symmetrized(expression: sp.Expr, letters: str) -> sp.Expr:
    r""":math:`\operatorname{Sym}` of a polynomial in the cumulant symbols over the neurons ``letters``:
    the average of its relabellings."""
    permutations = list(itertools.permutations(letters))
    return sp.expand(sum(_relabelled(expression, dict(zip(letters, p))) for p in permutations) / len(permutations))


def _split_product(product: sp.Expr, parts: dict[str, sp.Expr]) -> tuple[sp.Expr, dict[str, sp.Expr]]:
    """A product of factors of one neuron each (or none) as ``(scalar, {neuron: its factors})``, multiplied into a
    copy of ``parts``."""
    scalar, own = sp.Integer(1), dict(parts)
    for factor in sp.Mul.make_args(product):
        letters = {c for s in factor.free_symbols if _labels(s) for c in _labels(s)}
        if not letters:
            scalar *= factor
        else:
            (letter,) = letters
            own[letter] = own.get(letter, sp.Integer(1)) * factor
    return scalar, own


def _separated(coefficient: sp.Expr, factored: bool = True) -> list[tuple[sp.Expr, dict[str, sp.Expr]]]:
    r"""``coefficient`` (a polynomial in per-neuron cumulants and parameters) as a sum of products
    ``scalar * prod_a part[a]``, each ``part[a]`` depending on neuron ``a`` (and the parameters) only: factored
    first (``factored``), else monomial by monomial (:func:`_merged` joins them again): the diagonal corrections of
    vertex-function formulas are large polynomials in many symbols, whose factoring took SymPy 108 s of 122 s
    (erf, order 3, closure 4)."""
    if not factored:
        return [_split_product(monomial, {}) for monomial in sp.Add.make_args(sp.expand(coefficient))]
    constant, factors = factor_list(coefficient)
    scalar, parts, mixed = sp.sympify(constant), {}, sp.Integer(1)
    for factor, power in factors:
        letters = {c for s in factor.free_symbols if _labels(s) for c in _labels(s)}
        if not letters:
            scalar *= factor**power
        elif len(letters) == 1:
            (letter,) = letters
            parts[letter] = parts.get(letter, sp.Integer(1)) * factor**power
        else:
            mixed *= factor**power
    if mixed == 1:
        return [(scalar, parts)]
    out = []
    for summand in sp.Add.make_args(sp.expand(mixed)):
        extra, own = _split_product(summand, parts)
        out.append((scalar * extra, own))
    return out


def _coupling_name(coupling, mapping=None) -> str:
    """A canonical string of a coupling monomial ``((symbol, power), ...)`` with its labels mapped."""
    names = []
    for symbol, power in coupling:
        labels = symbol_labels(symbol)
        if mapping is not None:
            labels = "".join(mapping[c] for c in labels)
        names.append(f"{cumulant_symbol(labels).name}^{power}")
    return "*".join(sorted(names))


def relabellings(letters: str, pattern: str | None = None) -> list[dict[str, str]]:
    """The relabellings of the neurons ``letters`` under which a formula is symmetric: all of them for the
    all-distinct formula (``pattern=None``), those among letters that ``pattern`` holds equally often for a
    coarser pattern's correction (``'iijk'``: j <-> k)."""
    mappings = [dict(zip(letters, p)) for p in itertools.permutations(letters)]
    if pattern is None:
        return mappings
    return [m for m in mappings if all(pattern.count(a) == pattern.count(b) for a, b in m.items())]


def _orbit(coupling, letters: str, symmetries) -> tuple[str, int]:
    """The canonical name of the coupling monomial's orbit under the relabellings ``symmetries``, and its size."""
    names = {_coupling_name(coupling, mapping) for mapping in symmetries}
    return min(names), len(names)


def _raw_terms(formula: sp.Expr, letters: str, symmetries=None,
               factored: bool = True) -> list[tuple[sp.Expr, dict, tuple]]:
    """``(scalar, {block key: expression}, cumulant blocks)`` per separated summand (:func:`_separated`, with
    ``factored``) of each coupling monomial that represents its orbit under relabelling the neurons (``symmetries``,
    default all relabellings: the scalar carries the orbit's size); block keys are ``('pair', 'ij')`` and
    ``('vector', 'i')``."""
    symmetries = relabellings(letters) if symmetries is None else symmetries
    if any(not isinstance(base, sp.Symbol) and base != 1 for monomial in sp.Add.make_args(formula)
           for base in monomial.as_coeff_Mul()[1].as_powers_dict()):
        formula = sp.expand(formula)        # the engine's formulas come expanded; others are expanded here
    by_coupling: dict[tuple, list] = {}
    for monomial in sp.Add.make_args(formula):
        coefficient, rest = monomial.as_coeff_Mul()
        coupling, own = [], [coefficient]
        powers = {symbol: power for symbol, power in rest.as_powers_dict().items() if symbol != 1}
        for symbol, power in sorted(powers.items(), key=lambda item: item[0].name):
            labels = _labels(symbol)
            if labels is not None and len(set(labels)) > 1:
                coupling.append((symbol, int(power)))
            else:
                own.append(symbol**power)
        by_coupling.setdefault(tuple(coupling), []).append(sp.Mul(*own))
    terms = []
    for coupling, own in by_coupling.items():
        representative, size = _orbit(coupling, letters, symmetries)
        if _coupling_name(coupling) != representative:
            continue
        coefficient = sp.Add(*own)
        pairs: dict[str, sp.Expr] = {}
        cumulants = []
        for symbol, power in coupling:
            labels = symbol_labels(symbol)
            distinct = "".join(sorted(set(labels)))
            if len(distinct) == 2:
                pairs[distinct] = pairs.get(distinct, sp.Integer(1)) * symbol**power
            else:
                cumulants += [CumulantBlock(labels)] * power
        cumulants = tuple(sorted(cumulants, key=lambda b: (len(b.labels), b.labels)))
        in_cumulants = {c for b in cumulants for c in b.labels}
        for scalar, parts in _separated(coefficient, factored):
            blocks = {("pair", labels): expression for labels, expression in pairs.items()}
            for letter, part in parts.items():
                owners = [labels for labels in pairs if letter in labels]
                if len(owners) == 1 and letter not in in_cumulants:
                    blocks[("pair", owners[0])] = sp.expand(blocks[("pair", owners[0])] * part)
                else:
                    blocks[("vector", letter)] = sp.expand(part)
            terms.append((size * scalar, blocks, cumulants))
    return terms


def _merged(terms: list) -> list:
    """Terms that differ in one dense block only, merged (that block summed, the scalars moved into it),
    until no two do."""
    changed = True
    while changed:
        changed = False
        keys = sorted({k for _, blocks, _ in terms for k in blocks})
        for key in keys:
            groups: dict = {}
            for scalar, blocks, cumulants in terms:
                if key not in blocks:
                    groups.setdefault(("keep", id(blocks)), []).append((scalar, blocks, cumulants))
                    continue
                rest = tuple(sorted(((k, v) for k, v in blocks.items() if k != key), key=lambda item: item[0]))
                groups.setdefault((tuple(sorted(blocks)), rest, cumulants), []).append((scalar, blocks, cumulants))
            merged = []
            for group in groups.values():
                if len(group) == 1:
                    merged.append(group[0])
                    continue
                changed = True
                _, blocks, cumulants = group[0]
                summed = sp.expand(sp.Add(*[scalar * b[key] for scalar, b, _ in group]))
                if summed == 0:
                    continue
                merged.append((sp.Integer(1), {**blocks, key: summed}, cumulants))
            terms = merged
    return terms


def _block_signature(dense, cumulants, mapping) -> tuple:
    """The dense blocks (labels, expression) and cumulant blocks' label multisets after relabelling."""
    blocks = sorted(("".join(sorted(mapping[c] for c in b.labels)), sp.srepr(_relabelled(b.expression, mapping)))
                    for b in dense)
    return tuple(blocks), tuple(sorted("".join(sorted(mapping[c] for c in b.labels)) for b in cumulants))


def _arrangements(dense, cumulants, letters: str, pattern: str | None = None) -> tuple:
    """The joint words of the cumulant blocks up to the symmetries of the term (relabellings that keep its
    blocks, and ``pattern``'s multiplicities: :func:`relabellings`), with the fraction of all joint words each
    stands for (:class:`NetworkTerm`)."""
    if not cumulants:
        return (((), sp.Integer(1)),)
    identity = dict(zip(letters, letters))
    signature = _block_signature(dense, cumulants, identity)
    symmetries = [mapping for mapping in relabellings(letters, pattern)
                  if _block_signature(dense, cumulants, mapping) == signature]
    words = [sorted({"".join(w) for w in itertools.permutations(b.labels)}) for b in cumulants]
    owner = [b.labels for b in cumulants]

    def canonical(joint):
        best = None
        for mapping in symmetries:
            mapped = ["".join(mapping[c] for c in w) for w in joint]
            # words back to the blocks whose labels they carry (blocks with equal labels: sorted)
            slots: dict[str, list[str]] = {}
            for w in mapped:
                slots.setdefault("".join(sorted(w)), []).append(w)
            ordered = []
            pools = {k: sorted(v) for k, v in slots.items()}
            for labels in owner:
                ordered.append(pools["".join(sorted(labels))].pop(0))
            key = tuple(ordered)
            best = key if best is None or key < best else best
        return best

    counts: dict[tuple, int] = {}
    total = 0
    for joint in itertools.product(*words):
        key = canonical(joint)
        counts[key] = counts.get(key, 0) + 1
        total += 1
    return tuple((joint, sp.Rational(count, total)) for joint, count in sorted(counts.items()))


def _network_terms(formula: sp.Expr, letters: str, pattern: str | None = None, weight=1,
                   factored: bool = True) -> list[NetworkTerm]:
    """:class:`NetworkTerm` s of ``formula`` over the neurons ``letters`` (symmetric under :func:`relabellings`
    of ``pattern``), merged, each scalar times ``weight``; ``factored`` as for :func:`_separated`."""
    terms = _merged(_raw_terms(formula, letters, relabellings(letters, pattern), factored=factored))
    out = []
    for scalar, blocks, cumulants in terms:
        scalar = scalar * weight
        dense = []
        for (kind, labels), expression in sorted(blocks.items(), key=lambda item: (item[0][1], item[0][0])):
            if kind == "vector" and expression == 1:
                continue
            dense.append(DenseBlock(labels, expression))
        arrangements = _arrangements(dense, cumulants, letters, pattern)    # before the scalar joins a block
        if dense and scalar != 1:
            dense[0] = DenseBlock(dense[0].labels, sp.expand(scalar * dense[0].expression))
            scalar = sp.Integer(1)
        out.append(NetworkTerm(scalar, tuple(dense), cumulants, arrangements, pattern))
    return sorted(out, key=lambda t: (t.cyclic, len(t.cumulants), [b.labels for b in t.dense],
                                      [b.labels for b in t.cumulants], sp.srepr(t.expression())))


def placements(pattern: str) -> int:
    r"""The positions of an order-:math:`m` tensor's slots that have ``pattern``'s shape: the set partitions of
    the :math:`m` slots into blocks of its letters' multiplicities, :math:`m! / (\prod_b k_b! \prod_k c_k!)`
    (:math:`k_b` the size of block :math:`b`, :math:`c_k` the number of blocks of size :math:`k`): 3 for
    ``'iij'``, 3 for ``'iijj'``, 6 for ``'iijk'``."""
    sizes = [pattern.count(c) for c in dict.fromkeys(pattern)]
    count = math.factorial(len(pattern))
    for size in sizes:
        count //= math.factorial(size)
    for size in set(sizes):
        count //= math.factorial(sizes.count(size))
    return count


def correction_terms(derivation: Derivation, pattern: str) -> list[NetworkTerm]:
    r"""The :func:`diagonal_correction` :math:`G_\sigma` of the coarser ``pattern`` as terms on that pattern: the
    tensor receives :math:`G_\sigma` at each of its :func:`placements`, which is
    :math:`\operatorname{Sym}(X)` of :math:`X_{x_1 \dots x_m} = \text{placements} \cdot G_\sigma` where the
    slots' neurons follow ``pattern`` and zero elsewhere (:math:`G_\sigma` is symmetric under relabelling its
    letters of equal multiplicity, so every slot order that gives one position gives one value)."""
    letters = "".join(dict.fromkeys(pattern))
    return _network_terms(diagonal_correction(derivation, pattern), letters, pattern, placements(pattern),
                          factored=False)


def _in_joint_vertices(derivation: Derivation, pattern: str) -> bool:
    """Whether ``pattern``'s formula (:func:`per_neuron_formula`) holds joint vertex functions."""
    return any(parse_joint_vertex_symbol(s) is not None for s in per_neuron_formula(derivation, pattern).free_symbols)


def pair_correction_terms(derivation: Derivation, pattern: str) -> list[NetworkTerm]:
    r"""The correction of a ``pattern`` on two neurons whose formula is in joint vertex functions (ReLU's
    :math:`\kappa_{y,iij}`: :math:`\partial^n_{\mu_i}\partial^m_{\mu_j} E[\phi(z_i)^2\phi(z_j)]` over the pair's
    Gaussian, section 11.3): one :math:`N \times N` block, :func:`placements` times :math:`G_\sigma`, that is
    zero where the two neurons coincide (``off_diagonal``). There the joint vertices are those of a singular
    covariance (:math:`\rho = 1`: infinite for ReLU's :math:`\delta \cdot \delta`), and what the pattern adds on
    that diagonal is carried by the one-neuron correction instead (:func:`single_correction_terms`)."""
    letters = "".join(dict.fromkeys(pattern))
    expression = placements(pattern) * diagonal_correction(derivation, pattern)
    return [NetworkTerm(sp.Integer(1), (DenseBlock(letters, expression, off_diagonal=True),), (),
                        pattern=pattern)]


def single_correction_terms(derivation: Derivation, pattern: str, off_diagonal) -> list[NetworkTerm]:
    r"""The correction of the one-neuron ``pattern`` (``'iii'``) when the corrections of the patterns
    ``off_diagonal`` (on two neurons) are zero where their neurons coincide (:func:`pair_correction_terms`): what
    the others leave of :math:`f_\sigma` on the diagonal,

    .. math::

        G'_{i \dots i} = f_{i \dots i} - \sum_{\tau \notin \text{off\_diagonal},\ \tau \neq i \dots i}
        \text{placements}(\tau)\, G_\tau|_{i \dots i},

    the all-distinct formula (:math:`G = f`, one placement) among the :math:`\tau`: with them, every position
    :math:`(a, \dots, a)` sums to :math:`f_{i \dots i}`, as the Moebius inversion of :func:`diagonal_correction`
    does with all of them. No joint vertex appears (those patterns' diagonals are left out)."""
    order = len(pattern)
    diagonal = dict.fromkeys(NEURON_LABELS[:order], pattern[0])
    expression = per_neuron_formula(derivation, pattern)
    for other in index_patterns(order):
        if other == pattern or other in off_diagonal:
            continue
        value = (per_neuron_formula(derivation, other) if len(set(other)) == order
                 else placements(other) * diagonal_correction(derivation, other))
        expression -= _relabelled(value, diagonal)
    return _network_terms(expression, pattern[0], pattern, placements(pattern), factored=False)


def network_terms(derivation: Derivation, order: int) -> tuple[NetworkTerm, ...]:
    r"""The formula of output ``order`` (>= 3) of ``derivation`` as a sum of :class:`NetworkTerm` s (module
    docstring): :math:`\sum_t \operatorname{Sym}(X_t)` over the terms of the all-distinct formula (from
    :func:`per_neuron_formula`), evaluated at every index tuple, plus the :func:`correction_terms` of every
    coarser pattern (none where the correction vanishes) -- none for polynomial activations
    (``formulas_are_polynomials``: the all-distinct formula holds on every diagonal, docs/theory.md section
    12.2), which is checked. A pattern on two neurons in joint vertex functions has its correction as one block
    zero on its diagonal (:func:`pair_correction_terms`), and the one-neuron pattern the rest
    (:func:`single_correction_terms`). Refuses (``ValueError``) a formula in joint vertex functions of three or more
    neurons.
    """
    polynomial = derivation.activation.family.formulas_are_polynomials
    coarser = [p for p in index_patterns(order) if len(set(p)) < order]
    if polynomial:
        broken = [p for p in coarser if not _vanishes(derivation, p)]
        if broken:
            raise ValueError(f"the all-distinct formula of order {order} of {derivation.activation} does not hold on "
                             f"the diagonals {sorted(broken)}, which a polynomial's does: a derivation error")
    letters = NEURON_LABELS[:order]
    out = _network_terms(per_neuron_formula(derivation, letters), letters, factored=polynomial)
    if polynomial:
        return tuple(out)
    pairs = [p for p in coarser if len(set(p)) == 2 and _in_joint_vertices(derivation, p)]
    for pattern in coarser:
        if pattern in pairs:
            out += pair_correction_terms(derivation, pattern)
        elif len(set(pattern)) == 1 and pairs:
            out += single_correction_terms(derivation, pattern, pairs)
        else:
            out += correction_terms(derivation, pattern)
    return tuple(out)


__all__ = ["network_terms", "symmetrized", "NetworkTerm", "DenseBlock", "CumulantBlock", "diagonal_correction",
           "diagonal_corrections", "correction_terms", "placements", "per_neuron_formula", "relabelled_symbol",
           "relabellings", "NoFactoredForm", "has_factored_form", "pair_correction_terms", "single_correction_terms"]
