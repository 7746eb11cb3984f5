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

The all-distinct formula holds on every diagonal: for polynomial activations the
formula of every coarser pattern (``'iij'``, ``'iii'``) equals the all-distinct one
with the neurons identified, as polynomials (:func:`diagonal_corrections` computes
the differences by the Moebius formula of the partition lattice, and
:func:`network_terms` refuses a derivation where one does not vanish). The
factored tensor is therefore the network evaluated at every index tuple, with no
corrections on the diagonals.

A term is *cyclic* when its blocks, as a hypergraph on the neurons, have a cycle
(:attr:`NetworkTerm.cyclic`): the triangle :math:`\Sigma_{ij}\Sigma_{jk}\Sigma_{ki}`,
:math:`\kappa_{ijk}\Sigma_{ij}`, :math:`\kappa_{ijk}^2`. Acyclic terms of factored
inputs stay factored with slices of cost :math:`O(N^2 r)`; cyclic ones do not
(docs/theory.md section 12).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from symcorr.derivation.algebra import factor_list
from symcorr.derivation.engine import Derivation
from symcorr.notation.partitions import index_patterns, mobius_weight, set_partitions
from symcorr.notation.symbols import NEURON_LABELS, cumulant_symbol, symbol_labels


def _labels(symbol) -> str | None:
    """The neuron labels of an input cumulant symbol, ``None`` for a parameter."""
    try:
        return symbol_labels(symbol)
    except ValueError:
        return None


def _relabelled(expression: sp.Expr, mapping: dict[str, str]) -> sp.Expr:
    """``expression`` with every cumulant symbol's labels mapped (``{'k': 'i'}``: Sigma_jk -> Sigma_ij)."""
    replacements = {}
    for symbol in expression.free_symbols:
        labels = _labels(symbol)
        if labels is not None:
            replacements[symbol] = cumulant_symbol("".join(mapping.get(c, c) for c in labels))
    return expression.xreplace(replacements)


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
    total = sp.Integer(0)
    for normalized, mapping, weight in _refinements(pattern):
        total += weight * _relabelled(derivation.formula(normalized), mapping)
    return sp.expand(total)


#: The prime modulo which :func:`_vanishes` evaluates (a Mersenne prime).
_PRIME = 2**61 - 1


def _monomials(expression: sp.Expr) -> list[tuple[int, tuple[tuple[str, int], ...]]]:
    """An expanded polynomial as ``(coefficient mod _PRIME, ((symbol name, power), ...))`` per monomial."""
    out = []
    for monomial in sp.Add.make_args(expression):
        coefficient, rest = monomial.as_coeff_Mul()
        if not coefficient.is_Rational:
            raise ValueError(f"not a polynomial with rational coefficients: {monomial}")
        powers = tuple((symbol.name, int(power)) for symbol, power in rest.as_powers_dict().items()
                       if not (symbol == 1))
        value = int(coefficient.p) % _PRIME * pow(int(coefficient.q), -1, _PRIME) % _PRIME
        out.append((value, powers))
    return out


def _vanishes(derivation: Derivation, pattern: str, points: int = 2, seed: int = 0) -> bool:
    r"""Whether :func:`diagonal_correction` of ``pattern`` is the zero polynomial, tested by exact evaluation
    modulo the prime :math:`p = 2^{61} - 1` at ``points`` random points (a non-zero polynomial of degree
    :math:`d` vanishes at a random point with probability at most :math:`d/p`, Schwartz-Zippel); much
    faster than expanding the corrections of large formulas (erf's formulas, not polynomials, are
    refused by the caller before)."""
    import random

    rng = random.Random(seed)
    refinements = list(_refinements(pattern))
    monomials = {normalized: _monomials(derivation.formula(normalized)) for normalized, _, _ in refinements}
    for _ in range(points):
        values: dict[str, int] = {}

        def value(name: str, mapping) -> int:
            stem, _, labels = name.partition("_")
            if stem in ("mu", "Sigma", "kappa") and labels:
                name = cumulant_symbol("".join(mapping.get(c, c) for c in labels)).name
            if name not in values:
                values[name] = rng.randrange(1, _PRIME)
            return values[name]

        total = 0
        for normalized, mapping, weight in refinements:
            cache: dict[str, int] = {}
            part = 0
            for coefficient, powers in monomials[normalized]:
                term = coefficient
                for name, power in powers:
                    if name not in cache:
                        cache[name] = value(name, mapping)
                    term = term * pow(cache[name], power, _PRIME) % _PRIME
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
    ``expression`` in the input cumulants over those neurons and the parameters."""

    labels: str
    expression: sp.Expr


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


def _separated(coefficient: sp.Expr) -> list[tuple[sp.Expr, dict[str, sp.Expr]]]:
    r"""``coefficient`` (a polynomial in per-neuron cumulants and parameters) as a sum of products
    ``scalar * prod_a part[a]``, each ``part[a]`` depending on neuron ``a`` (and the parameters) only."""
    constant, factors = factor_list(coefficient)
    scalar, parts, mixed = sp.Integer(constant), {}, sp.Integer(1)
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
        extra, own = sp.Integer(1), dict(parts)
        for factor in sp.Mul.make_args(summand):
            letters = {c for s in factor.free_symbols if _labels(s) for c in _labels(s)}
            if not letters:
                extra *= factor
            else:
                (letter,) = letters
                own[letter] = own.get(letter, sp.Integer(1)) * factor
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


def _orbit(coupling, letters: str) -> tuple[str, int]:
    """The canonical name of the coupling monomial's orbit under relabelling the neurons, and its size."""
    names = {_coupling_name(coupling, dict(zip(letters, permuted))) for permuted in itertools.permutations(letters)}
    return min(names), len(names)


def _raw_terms(formula: sp.Expr, letters: str) -> list[tuple[sp.Expr, dict, tuple]]:
    """``(scalar, {block key: expression}, cumulant blocks)`` per separated summand of each coupling monomial
    that represents its orbit under relabelling the neurons (the scalar carries the orbit's size); block
    keys are ``('pair', 'ij')`` and ``('vector', 'i')``."""
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
        representative, size = _orbit(coupling, letters)
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
        for scalar, parts in _separated(coefficient):
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
                summed = sp.expand(sum(scalar * b[key] for scalar, b, _ in group))
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


def _arrangements(dense, cumulants, letters: str) -> tuple:
    """The joint words of the cumulant blocks up to the symmetries of the term (relabellings that keep its
    blocks), with the fraction of all joint words each stands for (:class:`NetworkTerm`)."""
    if not cumulants:
        return (((), sp.Integer(1)),)
    identity = dict(zip(letters, letters))
    signature = _block_signature(dense, cumulants, identity)
    symmetries = [mapping for mapping in (dict(zip(letters, p)) for p in itertools.permutations(letters))
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


def network_terms(derivation: Derivation, order: int) -> tuple[NetworkTerm, ...]:
    r"""The all-distinct formula of output ``order`` (>= 3) of a polynomial ``derivation`` as a sum of
    :class:`NetworkTerm` s (module docstring): :math:`\sum_t \operatorname{Sym}(X_t)` is the formula, and
    the output tensor is that sum at every index tuple.

    Refuses (``ValueError``) a derivation whose coarser patterns do not follow from the all-distinct one
    (:func:`diagonal_corrections` non-zero: non-polynomial activations).
    """
    if derivation.activation.family.name != "polynomial":
        raise ValueError(f"factored output cumulants are derived for polynomial activations; "
                         f"{derivation.activation} is of the {derivation.activation.family.name} family")
    corrections = [p for p in index_patterns(order) if len(set(p)) < order
                   and not _vanishes(derivation, p)]
    if corrections:
        raise ValueError(f"the all-distinct formula of order {order} of {derivation.activation} does not hold on "
                         f"the diagonals {sorted(corrections)}: no factored form without diagonal corrections")
    letters = NEURON_LABELS[:order]
    terms = _merged(_raw_terms(derivation.formula(letters), letters))
    out = []
    for scalar, blocks, cumulants in terms:
        dense = []
        for (kind, labels), expression in sorted(blocks.items(), key=lambda item: (item[0][1], item[0][0])):
            if kind == "vector" and expression == 1:
                continue
            dense.append(DenseBlock(labels, expression))
        arrangements = _arrangements(dense, cumulants, letters)    # before the scalar joins a block
        if dense and scalar != 1:
            dense[0] = DenseBlock(dense[0].labels, sp.expand(scalar * dense[0].expression))
            scalar = sp.Integer(1)
        out.append(NetworkTerm(scalar, tuple(dense), cumulants, arrangements))
    return tuple(sorted(out, key=lambda t: (t.cyclic, len(t.cumulants), [b.labels for b in t.dense],
                                            [b.labels for b in t.cumulants], sp.srepr(t.expression()))))


__all__ = ["network_terms", "symmetrized", "NetworkTerm", "DenseBlock", "CumulantBlock", "diagonal_correction",
           "diagonal_corrections"]
