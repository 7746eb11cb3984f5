r"""Small tensor networks over neurons: the terms of a factored cumulant tensor (docs/theory.md section 12).

A :class:`Term` of order :math:`m` is

.. math::

    X_{x_1 \dots x_m} = w \sum_{\text{internal}} \prod_f F^{(f)}_{\text{its indices}}
    \prod_{s=1}^{m} L^{(s)}_{x_s,\, k_s},

factors :math:`F^{(f)}` (per-neuron vectors, :math:`N \times N` matrices, :math:`N \times r` factors,
rarely a dense block of three or four indices) over integer *indices*, and for each output slot
:math:`s` an index :math:`k_s` and a leg matrix :math:`L^{(s)}` (the product of the linear layers
applied since the term was made; ``None`` is the identity, :math:`x_s = k_s`). Several slots may
share an index (the term then lives on a diagonal). The tensor a term stands for is
:math:`\operatorname{Sym}(X)`, the average over the :math:`m!` orders of the slots, unless
``symmetric`` says that :math:`X` is symmetric already.

What is done with terms, each exactly:

* :func:`linear` -- :math:`L^{(s)} \leftarrow W L^{(s)}`, then :func:`simplified`, which folds a leg
  matrix into the one factor that holds its index (a matrix product, :math:`O(N^2 r)`);
* :func:`slice_values` -- the entries of one index pattern over its distinct labels: the factors and
  leg matrices contracted along ``opt_einsum``'s path (computed once per shape), each pair of arrays one
  batched matrix product (operands passed as they are stored where their indices allow; elementwise products
  made only when a matrix product reads them), in chunks of one output index when the whole is above the
  memory budget; slots whose identity legs share an index make a diagonal, written into the output at the end;
* :func:`summed_slice` -- the symmetrized slices of many terms summed, the orders whose contraction ends with a
  matrix product of one array (a leg or factor matrix shared between terms) summed first and multiplied once;
* :func:`split_network` -- a slice's network whose cycles make it cost more than :math:`O(N^3)` split at the
  diagonals of its internal matrices: cheap diagonal parts and off-diagonal remainders, which
  :func:`summed_slice` sets aside when asked and :func:`network_at` evaluates at sampled entries (for a pointwise
  layer that reads its input's slices within a tolerance, docs/theory.md section 12.3);
* :func:`entries` -- the values at given index tuples (for the size of what a truncation drops);
* :func:`simplified` -- factors over the same indices multiplied, vectors absorbed into a factor
  holding their index, indices held by one factor summed, chains of matrices multiplied (a step shared,
  by the identity of its arrays, between the terms of a layer that hold them), leg matrices folded: the
  same tensor with fewer factors;
* :func:`split_diagonals` -- a cyclic term as acyclic terms (its neuron-neuron matrices' diagonals)
  plus off-diagonal cyclic remainders (docs/theory.md section 12.3);
* :func:`merged` -- a list of terms in fewer terms (terms that differ in one factor made one, one-factor terms
  summed);
* :func:`deduplicated` -- terms that are one network up to the order of the slots made one.

Over the ~500-line guide: the term algebra (simplify, split, merge) and its contractions (slices,
entries) share the private index bookkeeping and are read together.
"""
from __future__ import annotations

import collections
import functools
import itertools
import math

import numpy as np
import opt_einsum

from symcorr.numeric.budget import FLOAT, check_memory, memory_budget

_LETTERS = "ijklmnopqrstuvwxyz"


class Term:
    """One term (module docstring): ``weight``, ``factors`` with their ``indices`` (a tuple of index ids
    per factor axis), ``legs`` (per output slot ``(index, leg matrix or None)``) and ``symmetric``."""

    __slots__ = ("weight", "factors", "indices", "legs", "symmetric", "descriptions", "neighbours")

    def __init__(self, weight, factors, indices, legs, symmetric: bool = False):
        self.weight = float(weight)
        self.factors = list(factors)
        self.indices = [tuple(ix) for ix in indices]
        self.legs = [(int(k), leg) for k, leg in legs]
        self.symmetric = bool(symmetric)
        # made as asked (_described_in, _held_by), kept: a term is not changed after it is made
        self.descriptions: dict = {}
        self.neighbours: dict | None = None

    @property
    def order(self) -> int:
        return len(self.legs)

    def dims(self) -> dict[int, int]:
        """The length of every index (from the factors, or the leg matrices' columns)."""
        out = {}
        for factor, ix in zip(self.factors, self.indices):
            out.update(zip(ix, factor.shape))
        for k, leg in self.legs:
            if leg is not None:
                out[k] = leg.shape[1]
        return out

    def output_dim(self, slot: int, dims=None) -> int:
        k, leg = self.legs[slot]
        return leg.shape[0] if leg is not None else (dims or self.dims())[k]

    def arrays(self):
        """Every array the term refers to (factors and leg matrices)."""
        return self.factors + [leg for _, leg in self.legs if leg is not None]

    def cyclic(self) -> bool:
        """Whether the bipartite graph of factors and the indices they hold has a cycle (then its slices
        cost more than a product of matrices: docs/theory.md section 12)."""
        return _cyclic(self.indices)

    def __repr__(self) -> str:
        shapes = ",".join("x".join(map(str, f.shape)) for f in self.factors)
        return f"Term(order={self.order}, weight={self.weight:.3g}, factors=[{shapes}], symmetric={self.symmetric})"


# ---------------------------------------------------------------------------
# simplification
# ---------------------------------------------------------------------------

def _diagonal(factor: np.ndarray, ix: tuple) -> tuple[np.ndarray, tuple]:
    """A factor whose indices repeat (after two indices were identified): its diagonal."""
    if len(set(ix)) == len(ix):
        return factor, ix
    unique = tuple(dict.fromkeys(ix))
    letters = {k: _LETTERS[n] for n, k in enumerate(unique)}
    return np.einsum("".join(letters[k] for k in ix) + "->" + "".join(letters[k] for k in unique), factor), unique


def _aligned(factor: np.ndarray, ix: tuple, target: tuple) -> np.ndarray:
    """``factor`` (indices ``ix``) with its axes in the order of ``target`` (the same set)."""
    return np.transpose(factor, [ix.index(k) for k in target])


def _cached(cache: dict | None, key: tuple, arrays: tuple, compute):
    """``compute()``, cached under ``key``: a step described by the ids of ``arrays`` (the networks of one layer apply
    the same step to the same arrays many times); the arrays are kept alive with the result so that their ids stay
    theirs."""
    if cache is not None and key in cache:
        return cache[key][0]
    out = compute()
    if cache is not None:
        cache[key] = (out, arrays)
    return out


def _fold(leg: np.ndarray, factor: np.ndarray, axis: int, cache: dict | None) -> np.ndarray:
    """``leg`` contracted into ``factor`` along ``axis`` (the new axis in its place), cached by identity: a factor of
    three or more axes by :func:`multiplied_along`; a matrix by ``np.tensordot``, whose result (a transposed view
    when ``axis`` is 1) the sampled entries read without a copy (``_EntryNetwork`` takes the rows of a matrix
    contiguous: C-contiguous results of :func:`multiplied_along` there took a quadratic closure-4 network of width
    512 from 11.0-11.6 s to 13.3 s)."""
    def compute():
        if np.ndim(factor) >= 3:
            return multiplied_along(leg, factor, axis)
        return np.moveaxis(np.tensordot(leg, factor, axes=([1], [axis])), 0, axis)

    return _cached(cache, ("fold", id(leg), id(factor), axis), (leg, factor), compute)


def multiplied_along(leg: np.ndarray, factor: np.ndarray, axis: int) -> np.ndarray:
    r"""The matrix ``leg`` (:math:`M \times n`) contracted into ``factor`` along ``axis`` (length :math:`n`),
    :math:`R_{\dots x \dots} = \sum_a L_{xa} F_{\dots a \dots}`, the new axis in its place, C-contiguous: matrix
    products over the factor's own layout (one, or one per index before ``axis``), where ``np.tensordot`` first moves
    ``axis`` to the front, a transposed copy of the factor, and returns the result's axes moved (a strided view the
    next fold copies again). For the middle axis of an :math:`N^3` factor (a cubic closure-4 layer's parts on
    coincident neurons after a linear layer) that took 3.7 times as long and held twice the memory."""
    shape = np.shape(factor)
    before, after = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
    if after == 1:
        out = factor.reshape(before, shape[axis]) @ leg.T
    elif before == 1:
        out = leg @ factor.reshape(shape[axis], after)
    else:
        out = np.matmul(leg, factor.reshape(before, shape[axis], after))
    return out.reshape(shape[:axis] + (leg.shape[0],) + shape[axis + 1:])


def _scaled_axis(factor: np.ndarray, vector: np.ndarray, axis: int, cache: dict | None,
                 in_place: bool = False) -> np.ndarray:
    """``factor`` times ``vector`` along ``axis``, cached by identity, or ``in_place`` (``factor`` itself scaled:
    an array no one else holds)."""
    shape = [1] * factor.ndim
    shape[axis] = vector.shape[0]
    if in_place:
        factor *= vector.reshape(shape)
        return factor
    return _cached(cache, ("scale", id(factor), id(vector), axis), (factor, vector),
                   lambda: factor * vector.reshape(shape))


def _cyclic(indices) -> bool:
    """Whether the bipartite graph of factors (``indices``: a tuple of index ids per factor) and the indices they
    hold has a cycle."""
    classes = _Classes()
    for f, ix in enumerate(indices):
        for k in set(ix):
            if classes.find(("f", f)) == classes.find(("k", k)):
                return True
            classes.union(("f", f), ("k", k))
    return False


def _chain(pairs: list, k: int, cache: dict | None):
    r"""The matrices of ``pairs`` that hold the internal index ``k`` multiplied along it,
    :math:`C_{xy} = \sum_k \prod_{f \in A} F^{(f)}_{xk} \prod_{g \in B} G^{(g)}_{ky}`, as ``(product, (x, y),
    owners)``, when every factor holding ``k`` is a matrix over ``k`` and one of exactly two other indices ``x``
    (factors ``A``) and ``y`` (factors ``B``); else ``None``. The elementwise products of each side are made inside
    the step, so that the step is cached by the identity of the factors it reads: the networks that embed one
    input term in one arrangement share it, whatever else (vertex vectors, other blocks) they hold."""
    owners = [n for n, (_, ix) in enumerate(pairs) if k in ix]
    sides: dict[int, list[int]] = {}
    for n in owners:
        f, ix = pairs[n]
        if f.ndim != 2 or len(set(ix)) != 2:
            return None
        sides.setdefault(ix[1] if ix[0] == k else ix[0], []).append(n)
    if len(sides) != 2:
        return None
    # the two sides in an order fixed by the factors they read: the same step from either side is one entry
    described = sorted((tuple(sorted((id(pairs[n][0]), pairs[n][1].index(k)) for n in side)), other, side)
                       for other, side in sides.items())
    (key_x, x, side_x), (key_y, y, side_y) = described

    def product():
        left = functools.reduce(np.multiply, [_aligned(*pairs[n], (x, k)) for n in side_x])
        right = functools.reduce(np.multiply, [_aligned(*pairs[n], (k, y)) for n in side_y])
        return left @ right

    arrays = tuple(pairs[n][0] for n in owners)
    return _cached(cache, ("chain", key_x, key_y), arrays, product), (x, y), owners


def simplified(term: Term, fold_cache: dict | None = None, private=()) -> Term:
    """The same tensor with fewer factors (module docstring); ``fold_cache`` shares folded factors and chain
    products between terms that hold the same arrays. A step on an array this call made (or one of ``private``,
    arrays the caller made for this term alone) is not cached: it cannot come again, and the cache would keep
    its operands and result alive. The steps, the first that applies taken again and again:

    1. a scalar into the weight;
    2. an index that no leg and only one factor holds summed out of it (cheap before any product);
    3. a chain of matrices multiplied along an index no leg holds (``_chain``);
    4. factors over the same indices multiplied into one;
    5. a vector into the smallest other factor holding its index (in place if this call made that factor) --
       except, while the term is cyclic, a vector
       on a slot's index: the products that splitting it (:func:`split_diagonals`) makes are then on the arrays
       the term came with, shared between the terms that hold them, and the vector scales their result
       (:math:`O(N^2)`) instead of each one's operands;
    6. a leg matrix into the one factor that holds its index.
    """
    weight = term.weight
    pairs = [_diagonal(f, ix) for f, ix in zip(term.factors, term.indices)]
    legs = list(term.legs)
    made = {id(a): a for a in private}       # arrays of this term alone (kept here so that their ids stay theirs)
    fresh = set()                            # of those, the ones this call made: no one else holds them

    def cache_for(*arrays):
        return None if any(id(a) in made for a in arrays) else fold_cache

    def result(out, cache):
        if cache is None:
            made[id(out)] = out
            fresh.add(id(out))
        return out

    changed = True
    while changed:
        changed = False
        for n, (f, ix) in enumerate(pairs):
            if not ix:
                weight *= float(f)
                del pairs[n]
                changed = True
                break
        if changed:
            continue
        leg_count: dict[int, int] = {}
        for k, _ in legs:
            leg_count[k] = leg_count.get(k, 0) + 1
        holders: dict[int, list[int]] = {}
        for n, (_, ix) in enumerate(pairs):
            for k in ix:
                holders.setdefault(k, []).append(n)
        for n, (f, ix) in enumerate(pairs):
            internal = [k for k in ix if len(holders[k]) == 1 and k not in leg_count]
            if internal:
                pairs[n] = (result(f.sum(axis=tuple(ix.index(k) for k in internal)), None),
                            tuple(k for k in ix if k not in internal))
                changed = True
                break
        if changed:
            continue
        for k in holders:
            if k in leg_count:
                continue
            cache = cache_for(*(f for f, ix in pairs if k in ix))
            chain = _chain(pairs, k, cache)
            if chain is not None:
                product, ix, owners = chain
                for n in sorted(owners, reverse=True):
                    del pairs[n]
                pairs.append((result(product, cache), ix))
                changed = True
                break
        if changed:
            continue
        seen: dict = {}
        for n, (f, ix) in enumerate(pairs):
            key = frozenset(ix)
            if key in seen:
                m = seen[key]
                pairs[m] = (result(pairs[m][0] * _aligned(f, ix, pairs[m][1]), None), pairs[m][1])
                del pairs[n]
                changed = True
                break
            seen[key] = n
        if changed:
            continue
        cyclic = None
        for n, (f, ix) in enumerate(pairs):
            (k,) = ix if len(ix) == 1 else (None,)
            if k is None or len(holders[k]) == 1:
                continue
            if k in leg_count:
                cyclic = _cyclic([jx for _, jx in pairs]) if cyclic is None else cyclic
                if cyclic:
                    continue
            m = min((h for h in holders[k] if h != n), key=lambda h: pairs[h][0].size)
            g, jx = pairs[m]
            cache = cache_for(g, f)
            pairs[m] = (result(_scaled_axis(g, f, jx.index(k), cache, in_place=id(g) in fresh), cache), jx)
            del pairs[n]
            changed = True
            break
        if changed:
            continue
        for s, (k, leg) in enumerate(legs):
            if leg is None or leg_count[k] != 1 or len(holders.get(k, ())) != 1:
                continue
            n = holders[k][0]
            f, ix = pairs[n]
            if ix.count(k) != 1:
                continue
            new = max([x for _, jx in pairs for x in jx] + [x for x, _ in legs]) + 1
            cache = cache_for(leg, f)
            pairs[n] = (result(_fold(leg, f, ix.index(k), cache), cache), tuple(new if x == k else x for x in ix))
            legs[s] = (new, None)
            changed = True
            break
    return Term(weight, [f for f, _ in pairs], [ix for _, ix in pairs], legs, term.symmetric)


def linear(term: Term, W: np.ndarray, fold_cache: dict | None = None) -> Term:
    r""":math:`X \to W^{\otimes m} X`: every leg matrix multiplied by ``W`` (``None`` becomes ``W`` itself,
    shared), then :func:`simplified` (folds)."""
    legs = []
    products: dict[int, np.ndarray] = {}
    for k, leg in term.legs:
        if leg is None:
            legs.append((k, W))
        else:
            if id(leg) not in products:
                products[id(leg)] = W @ leg
            legs.append((k, products[id(leg)]))
    return simplified(Term(term.weight, term.factors, term.indices, legs, term.symmetric), fold_cache)


def _connected(term: Term, skip: int, a: int, b: int) -> bool:
    """Whether indices ``a`` and ``b`` are joined through the factors of ``term`` other than factor ``skip``."""
    classes = _Classes()
    for n, ix in enumerate(term.indices):
        if n != skip:
            for k in ix[1:]:
                classes.union(ix[0], k)
    return classes.find(a) == classes.find(b)


def split_diagonals(term: Term, off_diagonal: dict | None = None,
                    fold_cache: dict | None = None) -> tuple[list[Term], list[Term]]:
    r"""``term`` (slots on identity legs) as ``(acyclic, cyclic)`` terms of the same sum, exactly: every matrix
    :math:`F_{ab}` over two slot indices on a cycle is split as :math:`F = \operatorname{diag}(F) + O`; the
    diagonal part identifies :math:`a = b` (the cycle through that edge closes on one neuron: a smaller,
    usually acyclic network), the off-diagonal :math:`O` (zero where :math:`a = b`) stays, and the split goes
    on until no such matrix is left. The cyclic terms left are products of off-diagonal matrices (and input
    factors) around their cycles: zero wherever the neurons of a split edge coincide (docs/theory.md
    section 12.3). ``off_diagonal`` (id -> array) marks the matrices already split; ``fold_cache`` shares the
    steps of :func:`simplified` (chain products above all) between the terms of one layer, but not the steps
    on the arrays the split makes (diagonals, off-diagonal copies: they belong to this term alone). The terms
    come out simplified, their vectors on slot indices (kept apart while the term was cyclic) absorbed."""
    off_diagonal = {} if off_diagonal is None else off_diagonal
    diagonals: dict[int, np.ndarray] = {}

    def simplify(piece: Term) -> Term:
        made = [f for f in piece.factors if id(f) in off_diagonal or id(f) in diagonals]
        return simplified(piece, fold_cache, made)

    slots = {k for k, leg in term.legs if leg is None}
    acyclic, cyclic, work = [], [], [term]
    while work:
        current = work.pop()
        if not current.cyclic():
            acyclic.append(simplify(current))
            continue
        choice = None
        for n, (f, ix) in enumerate(zip(current.factors, current.indices)):
            if (f.ndim == 2 and len(set(ix)) == 2 and set(ix) <= slots and id(f) not in off_diagonal
                    and _connected(current, n, *ix)):
                choice = n
                break
        if choice is None:
            cyclic.append(current)
            continue
        f, (a, b) = current.factors[choice], current.indices[choice]
        off = f.copy()
        np.fill_diagonal(off, 0.0)
        off_diagonal[id(off)] = off
        factors = list(current.factors)
        factors[choice] = off
        work.append(Term(current.weight, factors, current.indices, current.legs, current.symmetric))
        if not np.any(np.diagonal(f)):
            continue
        factors = list(current.factors)
        factors[choice] = diagonal = np.diagonal(f).copy()
        diagonals[id(diagonal)] = diagonal
        indices = [tuple(a if k == b else k for k in ix) for ix in current.indices]
        indices[choice] = (a,)
        legs = [(a if k == b else k, leg) for k, leg in current.legs]
        work.append(simplify(Term(current.weight, factors, indices, legs, current.symmetric)))
    return acyclic, cyclic


def _canonical_single(term: Term):
    r"""``(key, array)`` of a term of one factor over slot indices only (identity legs): the slots' pattern of
    indices renamed by first appearance (a non-symmetric term's slots first put in the canonical order of its
    pattern, which leaves :math:`\operatorname{Sym}(X)` as it is), the factor's axes in that order, times the
    weight; else ``None``."""
    if len(term.factors) != 1 or any(leg is not None for _, leg in term.legs):
        return None
    (factor,), (ix,) = term.factors, term.indices
    slots = [k for k, _ in term.legs]
    if not term.symmetric:
        # Sym(X) is the same for every order of the slots: the slots sorted by their index's multiplicity
        # (then first appearance) make terms of one diagonal pattern ('iij', 'iji', 'jii') one key
        slots = _in_canonical_order(slots)
    names = {}
    for k in slots:
        names.setdefault(k, len(names))
    if set(ix) != set(names) or len(set(ix)) != len(ix):
        return None
    order = sorted(range(len(ix)), key=lambda a: names[ix[a]])
    key = ("single", tuple(names[k] for k in slots), tuple(factor.shape[a] for a in order), term.symmetric)
    return key, term.weight * np.transpose(factor, order)


def _in_canonical_order(slots: list) -> list:
    """The slots' indices sorted by their multiplicity, then by first appearance: ``'jij'`` -> ``'jji'``."""
    counts = collections.Counter(slots)
    return sorted(slots, key=lambda k: (-counts[k], slots.index(k)))


class SingleSum:
    """Terms of one factor over slot indices only (identity legs) summed as they come, one array per diagonal pattern
    of the slots (``_canonical_single``): what :func:`merged` does with them, without holding them all."""

    def __init__(self):
        self.sums: dict = {}

    def add(self, term: Term) -> bool:
        """Add ``term`` if it is such a term (else ``False``, nothing done)."""
        single = _canonical_single(term)
        if single is None:
            return False
        key, array = single           # a new array (the factor times the weight): summed into in place
        if key in self.sums:
            self.sums[key] += array
        else:
            self.sums[key] = array
        return True

    def summand(self, word: str, dim: int) -> tuple[np.ndarray, str]:
        """The array that a term of one factor on ``dim`` neurons per letter, its slot :math:`s` on letter
        ``word[s]`` (not symmetric), would be summed into, and the letters of its axes: a product over those letters
        added to it in place is that term added (made zero on the first call)."""
        slots = _in_canonical_order(list(word))
        letters = "".join(dict.fromkeys(slots))
        key = ("single", tuple(letters.index(c) for c in slots), (dim,) * len(letters), False)
        if key not in self.sums:
            self.sums[key] = np.zeros((dim,) * len(letters))
        return self.sums[key], letters

    def drop_zeros(self) -> "SingleSum":
        """The sums that are zero everywhere left out (in place); returns ``self``."""
        self.sums = {key: array for key, array in self.sums.items() if np.any(array)}
        return self

    def terms(self) -> list[Term]:
        """One term per pattern, its array the sum."""
        return [Term(1.0, [array], [tuple(range(len(set(pattern))))], [(k, None) for k in pattern], symmetric)
                for (_, pattern, _, symmetric), array in self.sums.items()]


def merged(terms: list[Term], singles: SingleSum | None = None) -> list[Term]:
    r"""The same sum of :math:`\operatorname{Sym}(X_t)` in fewer terms, exactly: terms that are one network but for
    one factor made one, that factor summed (``_joined``); then terms of one factor over the same pattern of slot
    indices summed into one factor (:class:`SingleSum`). Stars are not stacked along their hubs into one: that
    saves no operation, copies every factor, and hides the arrays stars share (a linear layer folds a shared
    array once; a star whose slots hold one array has fewer distinct slice arrangements) -- docs/theory.md
    section 12.3; :func:`stacked` does it where a layer would make too many networks otherwise. With ``singles``
    (its arrays the caller's, summed into in place), the terms of one factor are added to it and its terms returned
    with the others."""
    terms = _joined(deduplicated(terms))
    singles = SingleSum() if singles is None else singles
    out = [term for term in terms if not singles.add(term)]
    return out + singles.terms()


def stacked(terms: list[Term], budget=None) -> list[Term]:
    r"""The same sum of :math:`\operatorname{Sym}(X_t)` in fewer terms, exactly: terms that are one network but for
    their factors' arrays (``_skeleton``: the same leg matrices, slots and indices, factors of the same shapes),
    and whose arrays that differ all hold one summed index :math:`k` (internal, or mapped to its slot by a leg
    matrix), made one network whose :math:`k` runs over the terms in turn, :math:`k' = (t, k)`, of length
    :math:`T` times its own (docs/theory.md section 12.3):

    .. math::

        \sum_{t=1}^{T} w_t \sum_k \prod_f F^{(t,f)} = \sum_{k'} \prod_f F'^{(f)}_{k'}, \qquad
        F'^{(f)}_{(t,k)} = w_t^{[f = f_0]} F^{(t,f)}_{k}

    -- the arrays that differ concatenated along :math:`k`'s axis (the weights in the first one's blocks), the others
    that hold :math:`k` (and the leg matrices mapping it) repeated :math:`T` times along it. Where several indices
    qualify, the one whose repeated arrays are smallest. :func:`merged` joins terms that differ in one factor
    without a longer index; this takes the rest: a pointwise layer makes a network per term of its inputs, and
    erf's third layer at closure 4 would make more than ``MAX_NETWORKS`` of them from 148 unstacked terms. The
    slices of a stacked term cost what those of its terms did together. The arrays it makes are checked against
    ``budget`` first."""
    groups: dict = {}
    for number, term in enumerate(terms):
        key, sequence, names, order = _skeleton(term)
        groups.setdefault(key, []).append((number, sequence, names, order))
    out, plans = [], []
    for key, members in groups.items():
        if len(members) == 1:
            out.append(terms[members[0][0]])
            continue
        # each in the order of its slots that its key describes (Sym(X) is the same in every order)
        group = [Term(terms[n].weight, terms[n].factors, terms[n].indices, [terms[n].legs[s] for s in order],
                      terms[n].symmetric) for n, _, _, order in members]
        plan = _stacking(group, key, [sequence for _, sequence, _, _ in members], members[0][2])
        if plan is None:
            out += [terms[n] for n, _, _, _ in members]
        else:
            plans.append(plan)
    check_memory(sum(plan[-1] for plan in plans), f"{len(terms)} factored terms stacked into {len(out) + len(plans)}",
                 "a lower closure, fewer layers, or fewer neurons", budget)
    return out + [_stacked_term(*plan[:-1]) for plan in plans]


def _skeleton(term: Term) -> tuple:
    r"""``(key, sequence, names, order)``: ``term``'s network with its factors' arrays left open (only their shapes
    told: :func:`_placed_description` by shape) and its leg matrices by identity, its slots in ``order`` (the least key
    over the orders of a term that is not symmetric: :math:`\operatorname{Sym}(X)` is the same in each);
    ``sequence`` the factors' positions in the key's order, ``names`` its name for each index. Terms with equal keys
    are one network but for their factors' arrays: factor ``sequence[p]`` of one in the place of the other's, axis
    by axis, their slots in their ``order``."""
    around = _neighbours(term, _shape)
    slot_orders = [tuple(range(term.order))] if term.symmetric else itertools.permutations(range(term.order))
    return min((_placed_description(term, order, around, _shape) + (order,) for order in slot_orders),
               key=lambda placed: placed[0])


def _shape(array: np.ndarray) -> tuple:
    """An array told by its shape only (:func:`_skeleton`)."""
    return array.shape


def _stacking(group: list[Term], key: tuple, sequences: list, names: dict) -> tuple | None:
    """How :func:`stacked` makes one term of ``group`` (equal :func:`_skeleton` keys, each term's slots in the order
    its key describes; ``sequences`` their factors in the key's order, ``names`` the first one's index names):
    ``(group, sequences, varying, index, bytes made)``, or ``None`` where no summed index is held by every array
    that differs (or nothing differs: :func:`deduplicated`'s)."""
    _, legs, described = key
    varying = [p for p in range(len(described))
               if len({id(term.factors[sequence[p]]) for term, sequence in zip(group, sequences)}) > 1]
    if not varying:
        return None
    open_slots = {name for name, leg in legs if leg == 0}
    common = set.intersection(*(set(described[p][1]) for p in varying)) - open_slots
    count = len(group)
    best = None
    for name in sorted(common):
        if any(ix.count(name) > 1 for _, ix in described):
            continue
        repeated = {id(group[0].factors[sequences[0][p]]): group[0].factors[sequences[0][p]]
                    for p, (_, ix) in enumerate(described) if name in ix and p not in varying}
        for (k, leg), (slot_name, _) in zip(group[0].legs, legs):
            if slot_name == name and leg is not None:
                repeated[id(leg)] = leg
        cost = sum(array.size for array in repeated.values())
        if best is None or cost < best[0]:
            made = cost + sum(math.prod(described[p][0]) for p in varying)
            best = (cost, name, FLOAT * count * made)
    if best is None:
        return None
    index = next(k for k, n in names.items() if n == best[1])
    return group, sequences, varying, index, best[2]


def _stacked_term(group: list[Term], sequences: list, varying: list, index: int) -> Term:
    """The term :func:`_stacking` plans: ``group``'s networks with the first one's ``index`` run over the terms in
    turn."""
    template, first = group[0], sequences[0]
    repeated: dict = {}

    def repeat(array: np.ndarray, axis: int) -> np.ndarray:
        if id(array) not in repeated:
            repeated[id(array)] = np.concatenate([array] * len(group), axis=axis)
        return repeated[id(array)]

    factors = list(template.factors)
    for p, position in enumerate(first):
        ix = template.indices[position]
        if index not in ix:
            continue
        axis = ix.index(index)
        if p in varying:
            blocks = [term.factors[sequence[p]] for term, sequence in zip(group, sequences)]
            if p == varying[0]:
                blocks = [term.weight * block for term, block in zip(group, blocks)]
            factors[position] = np.concatenate(blocks, axis=axis)
        else:
            factors[position] = repeat(template.factors[position], axis)
    legs = [(k, repeat(leg, 1) if k == index and leg is not None else leg) for k, leg in template.legs]
    return Term(1.0, factors, template.indices, legs, template.symmetric)


_ANY = object()     # the factor a key of _joined leaves open


def _open_descriptions(term: Term, position: int, orders) -> dict:
    """:func:`_description` of ``term`` with factor ``position`` left open (any array of its shape), for each of
    ``orders`` of the slots, as ``(key, axes)``: the open factor is reached last and its axes are described in the
    order of their names (``axes``, the order that puts the array's axes in it), so that the description does not
    depend on how the open array is stored (a transposed copy of a network is the same network)."""
    factors = list(term.factors)
    factors[position] = _ANY
    open_term = Term(term.weight, factors, term.indices, term.legs, term.symmetric)
    neighbours = _neighbours(open_term)
    shape = term.factors[position].shape
    out = {}
    for order in orders:
        symmetric, legs, described = _description(open_term, order, neighbours)
        (named,) = [ix for f, ix in described if f == id(_ANY)]
        axes = tuple(sorted(range(len(named)), key=named.__getitem__))
        described = tuple(entry for entry in described if entry[0] != id(_ANY))
        out[order] = ((symmetric, legs, described, tuple(named[a] for a in axes), tuple(shape[a] for a in axes)), axes)
    return out


def _joined(terms: list[Term]) -> list[Term]:
    r"""Terms that are one network but for one factor made one: :math:`X` is linear in each factor, so
    :math:`w_1 X(F_1) + w_2 X(F_2) = X(w_1 F_1 + w_2 F_2)`. A term is compared with the terms kept so far in every
    order of their slots (:math:`\operatorname{Sym}` is the same in each) with each of its factors left open
    (``_open_descriptions``): equal descriptions name the open factors' axes alike, so the arrays are summed
    axis by axis. A kept term that took a sum is then matched only on that factor (its other keys named the
    array it had). At closure 4 this halves the order-4 terms whose slices cost :math:`O(N^4)` (docs/theory.md
    section 12.3)."""
    kept: list[Term] = []
    keys: dict = {}                   # open description -> (kept term, its open factor, the order of its axes)
    owned: dict[int, list] = {}       # kept term -> its keys
    sums: dict[int, np.ndarray] = {}  # kept term -> the sum it holds in its open factor
    for term in terms:
        identity = tuple(range(term.order))
        match = None
        for position in range(len(term.factors)):
            key, axes = _open_descriptions(term, position, [identity])[identity]
            if key in keys:
                match = keys[key], position, axes
                break
        if match is None:
            index = len(kept)
            kept.append(term)
            orders = [identity] if term.symmetric else list(itertools.permutations(range(term.order)))
            owned[index] = []
            for position in range(len(term.factors)):
                for key, axes in _open_descriptions(term, position, orders).values():
                    if key not in keys:
                        keys[key] = (index, position, axes)
                        owned[index].append(key)
            continue
        (index, open_position, open_axes), position, axes = match
        leader = kept[index]
        # the term's open factor with its axes in the order of the leader's
        addend = np.transpose(np.transpose(term.factors[position], axes), np.argsort(open_axes))
        if index in sums:                    # a sum made here (weight 1): added to in place
            sums[index] += term.weight * addend
            continue
        total = leader.weight * leader.factors[open_position]
        total += term.weight * addend
        sums[index] = total
        factors = list(leader.factors)
        factors[open_position] = total
        kept[index] = Term(1.0, factors, leader.indices, leader.legs, leader.symmetric)
        for other in owned[index]:
            if keys[other][1] != open_position:
                del keys[other]
        owned[index] = [k for k in owned[index] if k in keys]
    return kept


def _description(term: Term, order: tuple, neighbours: dict) -> tuple:
    """``term`` described with its slots taken in ``order``, without its weight: arrays by identity, indices named by
    first appearance along the slots, then along the factors sorted by array and, per axis, the slot name and the
    ``neighbours`` of its index (the arrays and axes that hold it: the same in every presentation); where factors
    still tie in that order, every order of the tied ones is followed and the least description kept. The
    description is therefore the same for every presentation of one network (the order of its factors, the
    names of its indices), and equal descriptions mean equal networks (it lists every array and index)."""
    return _placed_description(term, order, neighbours)[0]


def _placed_description(term: Term, order: tuple, neighbours: dict, identify=id) -> tuple:
    """``(description, sequence, names)``: :func:`_description` of ``term`` with its arrays told by
    ``identify(array)`` (by identity, or by shape for :func:`_skeleton`), the positions of the factors in the order
    the description lists them, and the name it gives each index."""
    names: dict = {}
    legs = []
    for s in order:
        k, leg = term.legs[s]
        names.setdefault(k, len(names))
        legs.append((names[k], id(leg) if leg is not None else 0))
    # (an open factor, _ANY, last: its indices are named by the others and the order of its axes does not matter)
    told = [id(f) if f is _ANY else identify(f) for f in term.factors]
    keys = [(f is _ANY, told[n], tuple((names.get(k, -1), neighbours[k]) for k in ix))
            for n, (f, ix) in enumerate(zip(term.factors, term.indices))]
    best = None
    for sequence in _sorted_with_ties(keys):
        named = dict(names)
        for n in sequence:
            for k in term.indices[n]:
                named.setdefault(k, len(named))
        placed = sorted(((told[n], tuple(named[k] for k in term.indices[n])), n) for n in sequence)
        described = tuple(entry for entry, _ in placed)
        if best is None or described < best[0]:
            best = (described, tuple(n for _, n in placed), named)
    return (term.symmetric, tuple(legs), best[0]), best[1], best[2]


def _sorted_with_ties(keys) -> list[tuple]:
    """The positions of ``keys`` sorted by key, in every order of the positions whose keys tie (one order when none
    tie)."""
    ordered = sorted(range(len(keys)), key=keys.__getitem__)
    ties = [list(group) for _, group in itertools.groupby(ordered, key=keys.__getitem__)]
    return [tuple(n for group in choice for n in group)
            for choice in itertools.product(*(itertools.permutations(group) for group in ties))]


def _neighbours(term: Term, identify=id) -> dict:
    """Per index of ``term``, the arrays (``identify(array)``: by identity, or by shape for :func:`_skeleton`) and axes
    that hold it (sorted; an open factor's axes not told apart)."""
    holders: dict = {}
    for f, ix in zip(term.factors, term.indices):
        for axis, k in enumerate(ix):
            holders.setdefault(k, []).append((identify(f), -1 if f is _ANY else axis))
    neighbours = {k: tuple(sorted(held)) for k, held in holders.items()}
    for k, _ in term.legs:
        neighbours.setdefault(k, ())
    return neighbours


def _held_by(term: Term) -> dict:
    """:func:`_neighbours` of ``term``, made once per term."""
    if term.neighbours is None:
        term.neighbours = _neighbours(term)
    return term.neighbours


def _described_in(term: Term, order: tuple) -> tuple:
    """:func:`_description` of ``term`` with its slots in ``order``, made once per term and order (deduplication,
    slices and sampled entries all ask for them)."""
    if order not in term.descriptions:
        term.descriptions[order] = _description(term, order, _held_by(term))
    return term.descriptions[order]


def _slot_classes(term: Term) -> tuple:
    """Per slot of ``term`` what every presentation of its network tells about it: its leg matrix (by identity), the
    arrays and axes that hold its index (:func:`_neighbours`) and how many slots share that index. An order of the
    slots that leaves the network the same maps each slot to one of its class."""
    neighbours, shared = _held_by(term), collections.Counter(k for k, _ in term.legs)
    return tuple((0 if leg is None else id(leg), neighbours[k], shared[k]) for k, leg in term.legs)


def _network_key(term: Term) -> tuple:
    r"""A description of ``term`` (:func:`_description`) that is the same for the same network with its slots in
    another order (:math:`\operatorname{Sym}(X)` is the same) or its indices renamed: the least over the orders of
    the slots that take them by class (:func:`_slot_classes`, sorted; the order within a class free). The classes
    are the same in every presentation, so the orders taken are too, and the key is canonical; it compares the
    descriptions of a few orders, not of all :math:`m!` (2808 candidates of a quadratic closure-4 layer at N = 32:
    4 s of 6.5)."""
    if term.symmetric:
        return _described_in(term, tuple(range(term.order)))
    return min(_described_in(term, order) for order in _sorted_with_ties(_slot_classes(term)))


def _symmetries(term: Term) -> list[tuple]:
    r"""The orders :math:`\sigma` of the slots that leave ``term`` the same network (:func:`_description`), so that
    :math:`X_{x_{\sigma(1)} \dots x_{\sigma(m)}} = X_{x_1 \dots x_m}`: a group (those that map the arrays onto
    themselves; equal arrays held as different objects are not seen). Only orders that keep every slot in its class
    (:func:`_slot_classes`) can, and only theirs are described."""
    if term.symmetric:
        return list(itertools.permutations(range(term.order)))
    classes = _slot_classes(term)
    identity = _described_in(term, tuple(range(term.order)))
    return [order for order in itertools.permutations(range(term.order))
            if all(classes[s] == classes[t] for s, t in zip(order, range(term.order)))
            and _described_in(term, order) == identity]


def _orbits(items, symmetries, act) -> list[tuple]:
    """``items`` partitioned into the classes that ``symmetries`` (``act(item, sigma)``, each mapping ``items`` onto
    themselves) join: one representative per class, with its size. Every member of a class has the values of its
    representative, whether or not ``symmetries`` is the whole group."""
    classes = _Classes()
    for item in items:
        for sigma in symmetries:
            classes.union(act(item, sigma), item)
    sizes: dict = {}
    first: dict = {}
    for item in items:
        root = classes.find(item)
        sizes[root] = sizes.get(root, 0) + 1
        first.setdefault(root, item)
    return [(first[root], sizes[root]) for root in first]


def deduplicated(terms: list[Term]) -> list[Term]:
    r"""The same sum of :math:`\operatorname{Sym}(X_t)` with terms that are one network (the same arrays joined the
    same way, up to the order of the slots and the names of the indices) made one, their weights summed."""
    first: dict = {}
    out: list[Term] = []
    for term in terms:
        key = _network_key(term)
        if key in first:
            kept = out[first[key]]
            out[first[key]] = Term(kept.weight + term.weight, kept.factors, kept.indices, kept.legs, kept.symmetric)
        else:
            first[key] = len(out)
            out.append(term)
    return [term for term in out if term.weight != 0.0]


# ---------------------------------------------------------------------------
# contraction
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=8192)
def _path(subscripts: str, shapes: tuple) -> tuple[tuple, int, float]:
    """The contraction path of ``subscripts`` on operands of ``shapes`` (opt_einsum), its largest
    intermediate (elements) and its cost (flops); computed once per subscripts and shapes."""
    path, info = opt_einsum.contract_path(subscripts, *shapes, shapes=True, optimize="auto")
    return tuple(path), int(info.largest_intermediate), float(info.opt_cost)


def _contract(subscripts: str, operands) -> np.ndarray:
    """``subscripts`` along :func:`_path`, after twice its largest intermediate (one step's operand and result)
    is checked against the memory budget. The flop-optimal path of a cyclic network's dense slice makes
    :math:`N^5` elements (8.6 GB at N = 64, where the dense form needs 0.4 GB); a path within :math:`N^4`
    costs 18x the flops at N = 24 (measured) and more beyond. So a contraction above the budget is made in
    chunks of one output index instead (``_chunks``: the same path and flops, each chunk's intermediates that
    fraction of the whole), and refused, naming the remedy, only when one neuron's chunk is above it too."""
    shapes = tuple(o.shape for o in operands)
    path, largest, _ = _path(subscripts, shapes)
    if 2 * FLOAT * largest > memory_budget():
        chunks = _chunks(subscripts, shapes)
        if chunks is not None:
            return _contract_in_chunks(subscripts, operands, *chunks)
    check_memory(2 * FLOAT * largest, f"a contraction of {len(operands)} arrays of a factored tensor's terms "
                 f"({subscripts})", "a lower closure or fewer neurons, or representation='dense' where it fits")
    return _along(subscripts, operands, path)


def _along(subscripts: str, operands, path) -> np.ndarray:
    """``subscripts`` contracted along ``path`` (opt_einsum's), each pair of arrays by :func:`_pairwise` (an
    elementwise product a :class:`_Product` until a matrix product, or the end, makes it)."""
    inputs, output = subscripts.split("->")
    current = list(zip(operands, inputs.split(",")))
    for positions in path:
        taken = [current.pop(p) for p in sorted(positions, reverse=True)]
        needed = set(output).union(*(ix for _, ix in current))
        if len(taken) == 2:
            current.append(_pairwise(*taken[0], *taken[1], needed))
        else:
            (array, ix), = taken
            kept = "".join(c for c in dict.fromkeys(ix) if c in needed)
            current.append((_reduced(array, ix, kept), kept))
    (array, ix), = current
    return _reduced(array, ix, output) if isinstance(array, _Product) or ix != output else array


class _Product:
    """An elementwise (or outer) product of arrays not made yet: its ``parts`` ``(array, letters)``. It is made when a
    matrix product reads it, in the order of letters that product needs, with the elementwise products that led to it
    in one pass (made step by step, each was an array of the product's size written and read again)."""

    __slots__ = ("parts", "lengths")

    def __init__(self, parts):
        self.parts = parts
        self.lengths = {c: n for array, letters in parts for c, n in zip(letters, array.shape)}

    @property
    def size(self) -> int:
        return int(np.prod(list(self.lengths.values()), dtype=np.int64))


def _reduced(array, letters: str, kept: str) -> np.ndarray:
    """``array`` (or a :class:`_Product`) over ``letters`` as an array over ``kept``: the other letters summed,
    a repeated letter's diagonal taken, the axes in the order of ``kept``."""
    if isinstance(array, _Product):
        if set(kept) == set(array.lengths):         # nothing summed: an elementwise product
            return _made(array, kept)
        return np.einsum(",".join(ix for _, ix in array.parts) + "->" + kept, *(a for a, _ in array.parts))
    return np.einsum(f"{letters}->{kept}", array)


def _made(product: _Product, kept: str) -> np.ndarray:
    """The elementwise product of ``product``'s parts over the axes ``kept`` (every letter of it once), each part (a
    letter repeated within it: its diagonal) a view broadcast over them (:func:`broadcast`), multiplied into one
    array (over :math:`256^3`: two parts in 0.059 s, ``einsum`` 0.079 s; three parts 0.060 s, ``einsum`` 0.057 s)."""
    out = np.empty([product.lengths[c] for c in kept])
    views = [broadcast(array, letters, kept) for array, letters in product.parts]
    if len(views) == 1:
        out[...] = views[0]
        return out
    np.multiply(views[0], views[1], out=out)
    for view in views[2:]:
        np.multiply(out, view, out=out)
    return out


def broadcast(array: np.ndarray, letters: str, axes: str) -> np.ndarray:
    """``array`` over ``letters`` (all among ``axes``; a letter repeated is its diagonal) as a view that broadcasts
    over ``axes``: its axes in their order, a length-1 axis for each letter it does not hold."""
    unique = "".join(dict.fromkeys(letters))
    if unique != letters:
        array = np.einsum(f"{letters}->{unique}", array)
    order = sorted(unique, key=axes.index)
    array = np.transpose(array, [unique.index(c) for c in order])
    return array.reshape([array.shape[order.index(c)] if c in order else 1 for c in axes])


def _chunks(subscripts: str, shapes: tuple) -> tuple[str, int, tuple] | None:
    """The output index to cut ``subscripts`` along, how many of its values per chunk, and the path of a chunk
    (the path for one value: its intermediates grow at most in proportion to the values, so that a chunk's largest
    one, twice, and the output fit the memory budget); ``None`` when no output index that every operand holds at
    most once fits with one value per chunk."""
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    limit, best = memory_budget(), None
    size = {c: n for ix, shape in zip(terms, shapes) for c, n in zip(ix, shape)}
    whole = FLOAT * int(np.prod([size[c] for c in output], dtype=np.int64))
    for letter in output:
        if any(ix.count(letter) > 1 for ix in terms):
            continue
        one = tuple(tuple(1 if c == letter else n for c, n in zip(ix, shape)) for ix, shape in zip(terms, shapes))
        path, largest, _ = _path(subscripts, one)
        per_value = 2 * FLOAT * largest
        count = min(size[letter], (limit - whole) // per_value) if limit > whole + per_value else 0
        if count >= 1 and (best is None or count > best[1]):
            best = (letter, int(count), path)
    return best


def _contract_in_chunks(subscripts: str, operands, letter: str, size: int, path: tuple) -> np.ndarray:
    """``subscripts`` with the output index ``letter`` cut into chunks of ``size`` values, each contracted along
    ``path`` and written into its part of the output."""
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    length = next(o.shape[ix.index(letter)] for o, ix in zip(operands, terms) if letter in ix)
    out = None
    for start in range(0, length, size):
        part = slice(start, min(start + size, length))
        pieces = [o[tuple(part if c == letter else slice(None) for c in ix)] for o, ix in zip(operands, terms)]
        values = _along(subscripts, pieces, path)
        if out is None:
            out = np.empty(values.shape[:output.index(letter)] + (length,) + values.shape[output.index(letter) + 1:])
        out[tuple(part if c == letter else slice(None) for c in output)] = values
    return out


def _pairwise(a: np.ndarray, ia: str, b: np.ndarray, ib: str, needed: set) -> tuple[np.ndarray, str]:
    """``a`` (indices ``ia``) times ``b`` (``ib``), summed over the indices that no later step ``needed``, as one
    batched matrix product (``np.matmul``: BLAS) whose batch is the indices both hold that are still needed.
    ``opt_einsum`` falls back to ``einsum``'s loops whenever an index is shared and kept (a network's slice at a
    repeated neuron), which ran the order-4 slices of a cubic layer at 2 GFLOP/s. With nothing to sum the product
    is not made: a :class:`_Product` (letters ``ia`` then ``ib``'s others) that the next matrix product makes in
    the order it needs. Operands go to BLAS as they are stored where their letters allow (``_copied``)."""
    # an index one operand holds alone (or twice) and nothing later needs is summed inside it first
    own_a = "".join(c for c in dict.fromkeys(ia) if c in ib or c in needed)
    own_b = "".join(c for c in dict.fromkeys(ib) if c in ia or c in needed)
    if own_a != ia:
        a = _reduced(a, ia, own_a)
    if own_b != ib:
        b = _reduced(b, ib, own_b)
    batch = [c for c in own_a if c in own_b and c in needed]
    summed = [c for c in own_a if c in own_b and c not in needed]
    if not summed:                    # an elementwise or outer product: made when a matrix product reads it
        parts = [part for x, ix in ((a, own_a), (b, own_b))
                 for part in (x.parts if isinstance(x, _Product) else [(x, ix)])]
        return _Product(parts), "".join(dict.fromkeys(own_a + own_b))
    size = {c: n for x, ix in ((a, own_a), (b, own_b))
            for c, n in (x.lengths if isinstance(x, _Product) else dict(zip(ix, x.shape))).items()}
    a, own_a = _memory_order(a, own_a)
    b, own_b = _memory_order(b, own_b)
    # the batch and the summed letters in the order one operand stores them, so that it (or both) is passed
    # to BLAS as it is or transposed, not copied: a copy of a strided N^3 operand took 3x its product
    choices = [(order(batch), order(summed)) for order in (_ordered_by(own_a), _ordered_by(own_b))]
    choices += [(choices[0][0], choices[1][1]), (choices[1][0], choices[0][1])]
    batch, summed = min(choices, key=lambda choice: _copied(a, own_a, *choice) + _copied(b, own_b, *choice))
    left, right = _own(own_a, batch, summed), _own(own_b, batch, summed)
    made = max(x.size for x in (a, b) if isinstance(x, _Product)) if _Product in (type(a), type(b)) else 0
    written = int(np.prod([size[c] for c in batch + left + right], dtype=np.int64))
    choice = _chunk_letter(batch, summed, size, made) if made > max(PRODUCT_CHUNK, CHUNKED_RATIO * written) else None
    if choice is None:
        x = _matrices(a, own_a, batch, summed, size)
        y = np.swapaxes(_matrices(b, own_b, batch, summed, size), 1, 2)
        product = np.matmul(x, y)
    else:
        product = _chunked_matmul(a, own_a, b, own_b, batch, summed, size, *choice)
    return product.reshape([size[c] for c in batch + left + right]), "".join(batch + left + right)


#: A :class:`_Product` that a matrix product reads is made a chunk of about this many elements at a time (2 MB, in
#: the cache; :func:`_chunked_matmul`) when it is larger than this and than ``CHUNKED_RATIO`` times the matrix
#: product's result. One no larger than a few times the result is made whole: it costs no more than writing the
#: result, and cut into chunks (thin matrix products, each added to the result) the elementwise square of a matrix
#: times a matrix took 5.2 s of a quadratic closure-3 network of width 2048 that takes 14.5 s in all.
PRODUCT_CHUNK = 1 << 18
CHUNKED_RATIO = 4
#: The least length of the summed side of each chunk's matrix product when :func:`_chunked_matmul` cuts a summed
#: letter (shorter, the chunks' products are added to the output more often than they are worth).
MIN_SUMMED = 64


def _chunk_letter(batch: list, summed: list, size: dict, made: int):
    """``(letter, values per chunk)`` for :func:`_chunked_matmul`, so that a chunk of the larger elementwise product
    (``made`` elements) holds about :data:`PRODUCT_CHUNK` of them: the longest batch letter; else the longest summed
    one, if each chunk's matrix product still sums :data:`MIN_SUMMED` or more; else ``None``."""
    letter = max(batch, key=size.get) if batch else max(summed, key=size.get)
    rows = max(1, PRODUCT_CHUNK * size[letter] // made)
    if not batch and rows * int(np.prod([size[c] for c in summed if c != letter], dtype=np.int64)) < MIN_SUMMED:
        return None
    return letter, rows


def _chunked_matmul(a, own_a: str, b, own_b: str, batch: list, summed: list, size: dict, letter: str,
                    rows: int) -> np.ndarray:
    r"""The batched matrix product of :func:`_pairwise` (over batch, own letters of ``a``, own letters of ``b``) made
    ``rows`` values of ``letter`` at a time (:func:`_chunk_letter`), so that the elementwise products it reads
    (:class:`_Product`) are made a chunk at a time, in the cache, and never whole: the cyclic :math:`'iijj'` slices
    of an order-4 term read two products of :math:`N^3` elements (1 GB each at N = 512) for an :math:`N^2` result;
    made whole they took 4x the matrix product they feed (docs/theory.md section 12.3). A batch letter's chunks
    write their own part of the product; a summed letter's chunk products are added up."""
    letters = batch + _own(own_a, batch, summed) + _own(own_b, batch, summed)
    out = np.zeros([size[c] for c in letters]) if letter in summed else np.empty([size[c] for c in letters])
    for start in range(0, size[letter], rows):
        part = slice(start, min(start + rows, size[letter]))
        chunk = dict(size)
        chunk[letter] = part.stop - part.start
        x = _matrices(_sliced(a, own_a, letter, part), own_a, batch, summed, chunk)
        y = _matrices(_sliced(b, own_b, letter, part), own_b, batch, summed, chunk)
        values = np.matmul(x, np.swapaxes(y, 1, 2)).reshape([chunk[c] for c in letters])
        if letter in summed:
            out += values
        else:
            out[tuple(part if c == letter else slice(None) for c in letters)] = values
    return out


def _sliced(array, letters: str, letter: str, part: slice):
    """``array`` (or a :class:`_Product`, part by part) at ``part`` of its axis ``letter`` (a view)."""
    if isinstance(array, _Product):
        return _Product([(_sliced(x, ix, letter, part), ix) for x, ix in array.parts])
    return array[tuple(part if c == letter else slice(None) for c in letters)]


def _memory_order(array: np.ndarray, letters: str) -> tuple[np.ndarray, str]:
    """``array`` with its axes in the order of its memory (a view, transposed), if it is a transposed contiguous
    array; else as it is (and a :class:`_Product`, made in any order)."""
    if isinstance(array, _Product):
        return array, letters
    axes = sorted(range(array.ndim), key=lambda n: -array.strides[n])
    view = np.transpose(array, axes)
    return (view, "".join(letters[n] for n in axes)) if view.flags.c_contiguous else (array, letters)


def _ordered_by(letters: str):
    """A key putting letters in the order of ``letters``."""
    return lambda group: sorted(group, key=letters.index)


def _own(letters: str, batch: list, summed: list) -> list:
    """The letters of one operand that are neither batch nor summed, in their order."""
    return [c for c in letters if c not in batch and c not in summed]


def _layout(letters: str, batch: list, summed: list) -> bool | None:
    """Whether ``letters`` are ``batch + summed + own`` (``True``), ``batch + own + summed`` (``False``; ``own``:
    :func:`_own`), or neither (``None``: the operand is copied into the second)."""
    own = _own(letters, batch, summed)
    if list(letters) == batch + summed + own:
        return True
    return False if list(letters) == batch + own + summed else None


def _copied(array: np.ndarray, letters: str, batch: list, summed: list) -> int:
    """The elements of ``array`` that :func:`_matrices` copies with the letters in this order (all of a
    :class:`_Product`'s, in any order)."""
    if isinstance(array, _Product):
        return array.size
    return 0 if array.flags.c_contiguous and _layout(letters, batch, summed) is not None else array.size


def _matrices(array: np.ndarray, letters: str, batch: list, summed: list, size: dict) -> np.ndarray:
    """``array`` as a stack of matrices (batch, own (:func:`_own`), summed): a reshaped view, transposed where the
    summed letters come first in memory; a copy only where its letters are in neither order."""
    def length(group) -> int:
        return int(np.prod([size[c] for c in group], dtype=np.int64))

    own = _own(letters, batch, summed)
    if isinstance(array, _Product):
        array, letters = _reduced(array, letters, "".join(batch + own + summed)), "".join(batch + own + summed)
    summed_first = _layout(letters, batch, summed) if array.flags.c_contiguous else None
    if summed_first:
        return np.swapaxes(array.reshape(length(batch), length(summed), length(own)), 1, 2)
    if summed_first is None:
        array = np.transpose(array, [letters.index(c) for c in batch + own + summed])
    return array.reshape(length(batch), length(own), length(summed))


class _Classes:
    """Union-find over hashable items."""

    def __init__(self):
        self.parent: dict = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[a] = b


def _slice_plan(term: Term, word: str):
    """``(subscripts, operands, output letters, reduced letters)`` contracting ``term`` at ``word``
    (letter per slot); reduced letters: one per class of letters identified by shared identity legs."""
    classes = _Classes()
    operands, specs = [], []
    for s, (k, leg) in enumerate(term.legs):
        if leg is None:
            classes.union(("k", k), ("c", word[s]))
    for s, (k, leg) in enumerate(term.legs):
        if leg is not None:
            operands.append(leg)
            specs.append((("c", word[s]), ("k", k)))
    for f, ix in zip(term.factors, term.indices):
        operands.append(f)
        specs.append(tuple(("k", k) for k in ix))
    symbols: dict = {}

    def symbol(item):
        root = classes.find(item)
        if root not in symbols:
            symbols[root] = opt_einsum.get_symbol(len(symbols))
        return symbols[root]

    letters = "".join(sorted(set(word)))
    reduced, seen = [], set()
    for c in letters:
        root = classes.find(("c", c))
        if root not in seen:
            seen.add(root)
            reduced.append(c)
    output = "".join(symbol(("c", c)) for c in reduced)
    subscripts = ",".join("".join(symbol(item) for item in spec) for spec in specs) + "->" + output
    return subscripts, operands, letters, "".join(reduced), {c: classes.find(("c", c)) for c in letters}


def slice_values(term: Term, word: str, scale: float = 1.0) -> np.ndarray:
    r"""The unsymmetrized :math:`X` at the slot letters ``word`` (``'iji'``: :math:`X_{a b a}`), over the sorted
    distinct letters, times the weight (and ``scale``): in place where the contraction made a new array."""
    subscripts, operands, letters, reduced, roots = _slice_plan(term, word)
    values = _contract(subscripts, operands) if operands else np.ones(())
    factor = scale * term.weight
    if values.ndim and not any(np.may_share_memory(values, o) for o in operands):
        values *= factor
    else:
        values = factor * values
    if reduced == letters:
        return values
    dims = term.dims()
    n = {c: term.output_dim(word.index(c), dims) for c in letters}
    out = np.zeros(tuple(n[c] for c in letters))
    source = {roots[c]: _LETTERS[reduced.index(d)] for d in reduced for c in letters if roots[c] == roots[d]}
    view = np.einsum("".join(source[roots[c]] for c in letters) + "->" + _LETTERS[:len(reduced)], out)
    view[...] = values
    return out


def slice_cost(term: Term, word: str) -> tuple[int, float]:
    """``(bytes, flops)`` of :func:`slice_values`: its largest intermediate and output, and its cost."""
    subscripts, operands, letters, _, _ = _slice_plan(term, word)
    if not operands:
        return 0, 0.0
    _, largest, cost = _path(subscripts, tuple(o.shape for o in operands))
    dims = term.dims()
    size = int(np.prod([term.output_dim(word.index(c), dims) for c in letters]))
    return FLOAT * (largest + size), cost


def arrangements(pattern: str) -> list[str]:
    """The distinct orders of the letters of ``pattern`` (``'iij'`` -> ``['iij', 'iji', 'jii']``)."""
    return sorted({"".join(p) for p in itertools.permutations(pattern)})


def arrangements_up_to_renaming(pattern: str) -> list[str]:
    """One of each class of :func:`arrangements` of ``pattern`` that differ by renaming its letters, written with the
    letters ``a``, ``b``, ... in the order they first appear (``'iijj'`` -> ``['aabb', 'abab', 'abba']``)."""
    return sorted({_first_appearance(word) for word in arrangements(pattern)})


def _orders(term: Term, pattern: str) -> list[tuple[str, list[tuple[tuple, int]]]]:
    """The orders of the slots that :func:`summed_slice` contracts for ``term`` at ``pattern``: one word per class,
    with the renamings of its letters (as axes) that its values are added under and how often each."""
    words = arrangements(pattern)
    letters = "".join(sorted(set(pattern)))
    renamings = [(dict(zip(letters, (letters[a] for a in p))), p) for p in _renaming_group(pattern)]
    symmetries = _symmetries(term)
    out, done = [], set()
    for word in words:
        if word in done:
            continue
        members: dict = {}          # the orders of the class -> the renaming that makes each from ``word``
        for renaming, axes in renamings:
            for sigma in symmetries:
                member = "".join(renaming[word[s]] for s in sigma)
                members.setdefault(member, axes)
        done.update(members)
        out.append((word, list(collections.Counter(members.values()).items())))
    return out


def _renamed(values: np.ndarray, renamed: tuple) -> np.ndarray:
    """``values`` with its axes renamed as ``renamed`` says (:func:`_orders`): a transposed view."""
    return np.transpose(values, np.argsort(renamed)) if renamed != tuple(range(values.ndim)) else values


def _last_product(term: Term, word: str):
    """``(array, summed axis, its output axis, rest subscripts, rest operands)`` when the contraction of ``term`` at
    ``word`` (a word of two distinct letters, no diagonal to write) ends, along its path, with a matrix product of
    one of its arrays, a matrix over one output letter and a summed index, with the rest of the network, a matrix
    over the other output letter and that index; else ``None``."""
    subscripts, operands, letters, reduced, _ = _slice_plan(term, word)
    if reduced != letters or len(letters) != 2 or len(operands) < 2:
        return None
    inputs, output = subscripts.split("->")
    specs = inputs.split(",")
    path, largest, _ = _path(subscripts, tuple(o.shape for o in operands))
    if 2 * FLOAT * largest > memory_budget():
        return None                 # contracted in chunks (_contract)
    groups = [[n] for n in range(len(operands))]
    for positions in path[:-1]:
        taken = [groups.pop(p) for p in sorted(positions, reverse=True)]
        groups.append(sum(taken, []))
    if len(groups) != 2:
        return None
    for last, rest in (groups, groups[::-1]):
        if len(last) != 1 or len(specs[last[0]]) != 2 or len(set(specs[last[0]])) != 2:
            continue
        spec = specs[last[0]]
        mine = [c for c in spec if c in output]
        held = set("".join(specs[n] for n in rest))
        if len(mine) != 1:
            continue
        summed = next(c for c in spec if c != mine[0])
        other = next(c for c in output if c != mine[0])
        if mine[0] in held or other not in held or summed not in held:
            continue
        rest_subscripts = ",".join(specs[n] for n in rest) + "->" + other + summed
        return (operands[last[0]], spec.index(summed), output.index(mine[0]), rest_subscripts,
                [operands[n] for n in rest])
    return None


#: A slice's network that costs more than this many :math:`N^3` flops (opt_einsum's count; :math:`N` its longest
#: index) ...
SPLIT_COST = 8
#: ... and more than this many flops in all (:math:`2^{30}`, about 10 ms here: the cycle of an ``'ijij'`` slice from
#: :math:`N = 256` on, :math:`2N^4`) is split at the diagonals of its internal matrices when a tolerance allows
#: (:func:`split_network`). Narrower, the exact contraction costs little and the split would only lose accuracy:
#: at :math:`N = 64` it took a cubic closure-4 network's covariance from 0.015 to 0.035 of exact closure 4.
SPLIT_FLOPS = 1 << 30


def _unrepeated(specs: list, operands: list) -> tuple[list, list]:
    """Operands whose subscripts repeat a letter replaced by their diagonal (a view), each letter once."""
    unique = ["".join(dict.fromkeys(spec)) for spec in specs]
    return unique, [o if u == spec else _reduced(o, spec, u) for o, spec, u in zip(operands, specs, unique)]


def _on_cycle(specs: list, n: int) -> bool:
    """Whether the two letters of matrix ``n`` are joined through operands over other letters as well (a cycle
    that splitting ``n`` at its diagonal opens; operands over the same two letters only multiply elementwise)."""
    pair = set(specs[n])
    classes = _Classes()
    for m, spec in enumerate(specs):
        if m != n and set(spec) != pair:
            for c in spec[1:]:
                classes.union(spec[0], c)
    a, b = specs[n]
    return classes.find(a) == classes.find(b)


def split_network(subscripts: str, operands, off_diagonals: dict | None = None) -> tuple[list, list]:
    r"""``(kept, off)``, lists of ``(subscripts, operands)`` whose contractions sum to that of the network: while a
    network costs more than :data:`SPLIT_COST` :math:`N^3` and :data:`SPLIT_FLOPS`, one of its internal square
    matrices on a cycle is split, :math:`M_{ab} = \delta_{ab} M_{aa} + O_{ab}`: the diagonal part (the two indices
    made one, which opens the cycle) is split further, the off-diagonal part goes to ``off`` as it is. A network
    without such a matrix is kept whole. ``off_diagonals`` shares the off-diagonal copies between calls (by the
    matrix's identity; :math:`N^2` numbers each, held while the caller holds ``off``)."""
    off_diagonals = {} if off_diagonals is None else off_diagonals
    inputs, output = subscripts.split("->")
    work = [_unrepeated(inputs.split(","), list(operands))]
    kept, off = [], []
    while work:
        specs, arrays = work.pop()
        joined = ",".join(specs) + "->" + output
        longest = max((n for a in arrays for n in a.shape), default=1)
        _, _, cost = _path(joined, tuple(a.shape for a in arrays))
        n = None
        if cost > max(SPLIT_COST * float(longest) ** 3, SPLIT_FLOPS):
            n = next((n for n, (spec, a) in enumerate(zip(specs, arrays))
                      if len(spec) == 2 and not set(spec) & set(output) and a.shape[0] == a.shape[1]
                      and _on_cycle(specs, n)), None)
        if n is None:
            kept.append((joined, arrays))
            continue
        matrix = arrays[n]
        if id(matrix) not in off_diagonals:
            without = matrix.copy()
            np.fill_diagonal(without, 0.0)
            off_diagonals[id(matrix)] = (without, matrix)
        off.append((joined, arrays[:n] + [off_diagonals[id(matrix)][0]] + arrays[n + 1:]))
        a, b = specs[n]
        diagonal_specs = [spec.replace(b, a) for m, spec in enumerate(specs) if m != n] + [a]
        diagonal_arrays = [x for m, x in enumerate(arrays) if m != n] + [np.diagonal(matrix)]
        work.append(_unrepeated(diagonal_specs, diagonal_arrays))
    return kept, off


def _split_order(term: Term, word: str, off_diagonals: dict):
    """:func:`split_network` of ``term``'s network at ``word`` (``(kept, off)``), or ``None`` where it keeps the
    network whole or the slice writes a diagonal (identity legs sharing an index)."""
    subscripts, operands, letters, reduced, _ = _slice_plan(term, word)
    if reduced != letters or len(operands) < 3:
        return None
    kept, off = split_network(subscripts, operands, off_diagonals)
    return (kept, off) if off else None


def network_at(subscripts: str, operands, positions: np.ndarray) -> np.ndarray:
    """The network's output at ``positions`` (one row per entry, a column per output letter in their order): the
    operands gathered at the rows, contracted along opt_einsum's greedy path with the entries as a batch (in batches
    whose largest intermediate holds at most ``ENTRY_KEPT_MAX`` numbers)."""
    inputs, output = subscripts.split("->")
    specs = inputs.split(",")
    batch = next(symbol for symbol in map(opt_einsum.get_symbol, itertools.count()) if symbol not in subscripts)
    held = [[k for k, c in enumerate(spec) if c in output] for spec in specs]
    gathered_subscripts = ",".join(batch + "".join(c for c in spec if c not in output) if axes else spec
                                   for spec, axes in zip(specs, held)) + "->" + batch

    moved = [np.moveaxis(a, axes, list(range(len(axes)))) for a, axes in zip(operands, held)]
    columns = [[output.index(specs[n][k]) for k in axes] for n, axes in enumerate(held)]

    def gathered(rows):
        return [m[tuple(rows[:, c] for c in cs)] if cs else m for m, cs in zip(moved, columns)]

    shapes = [(len(positions),) + m.shape[len(cs):] if cs else m.shape for m, cs in zip(moved, columns)]
    path, info = opt_einsum.contract_path(gathered_subscripts, *shapes, shapes=True, optimize="greedy")
    per_entry = max(1.0, float(info.largest_intermediate) / max(1, len(positions)))
    step = max(1, min(len(positions), int(ENTRY_KEPT_MAX // per_entry)))
    values = np.empty(len(positions))
    for start in range(0, len(positions), step):
        rows = positions[start:start + step]
        values[start:start + len(rows)] = opt_einsum.contract(gathered_subscripts, *gathered(rows), optimize=path)
    return values


def off_diagonal_at(off: list, positions: np.ndarray) -> np.ndarray:
    """The sum of the networks ``off`` that :func:`summed_slice` set aside, at ``positions`` of the slice (one row per
    entry, a column per sorted letter)."""
    values = np.zeros(len(positions))
    for subscripts, operands, scale, renamings in off:
        for renamed, count in renamings:
            # the slice takes the network's values with its axes renamed (_renamed): at p, the values at p[renamed]
            values += scale * count * network_at(subscripts, operands, positions[:, list(renamed)])
    return values


def add_off_diagonal(total: np.ndarray, off: list) -> np.ndarray:
    """``total`` plus the networks ``off`` that :func:`summed_slice` set aside, contracted whole (in place)."""
    for subscripts, operands, scale, renamings in off:
        _add_renamed(total, _contract(subscripts, operands) * scale, renamings)
    return total


def _add_renamed(total: np.ndarray, values: np.ndarray, renamings) -> None:
    """``total`` plus ``values`` under each renaming of its axes (:func:`_orders`) as often as it says, in place."""
    for renamed, count in renamings:
        total += _renamed(values, renamed) if count == 1 else count * _renamed(values, renamed)


def summed_slice(terms: list[Term], pattern: str, dim: int, dropped: list | None = None) -> np.ndarray:
    r""":math:`\sum_t \operatorname{Sym}(X_t)` at ``pattern`` (a word over sorted letters), over ``dim`` neurons per
    letter: for each term the average of :func:`slice_values` over the distinct orders of the pattern's letters
    (one, if the term is symmetric). Orders that a symmetry of the network (``_symmetries``) maps onto each other
    give the same values, and orders that differ by renaming letters that the pattern holds equally often
    (``'iijj'``: ``'ijij'`` and ``'jiji'``) give the same values with those axes swapped: one order per class is
    contracted (``_orders``), its values added once per member of the class, transposed as its letters are
    renamed. The orders (of all terms) whose contraction ends with a matrix product of the same array
    (``_last_product``, at two distinct letters) are made together,

    .. math::

        \sum_u c_u\, R^{(u)} A^\top = \Big(\sum_u c_u\, R^{(u)}\Big) A^\top,

    one matrix product instead of one per order: the pointwise layers of a deep network read their input's
    ``'iij'`` slice, whose terms' arrangements end on the leg and factor matrices that the linear layer before
    made, shared between terms (docs/theory.md section 12).

    With a list ``dropped``, an order whose network costs more than :data:`SPLIT_COST` :math:`N^3` and
    :data:`SPLIT_FLOPS` (a cycle through the slice's repeated letters, :math:`2N^4` for ``'ijij'``) is split at the
    diagonals of its internal matrices (:func:`split_network`): the diagonal parts are added, and the off-diagonal
    networks appended to ``dropped`` as ``(subscripts, operands, scale, renamings)`` (:func:`network_at` evaluates
    them at sampled entries; the caller decides whether they are dropped or contracted and added, docs/theory.md
    section 12.3).

    Where the pattern holds letters equally often, the slice is invariant under the group :math:`G` of those
    renamings, and so is the sum over every order of every term: the values of a class are added once, untransposed,
    weighted by :math:`\sum_r c_r / |G|` (its renamings' counts), and the sum is symmetrized once at the end,
    :math:`\sum_{g \in G} g(A)` (``_symmetrized_over``), instead of a transposed add per renaming and term
    (memory-bound, strided; ``'iijk'`` of order-4 inputs: :math:`N^3` arrays). The diagonal parts of split networks
    are added with their own renamings after that: alone, without the networks set aside, they are not invariant."""
    total = np.zeros((dim,) * len(set(pattern)))
    share = 1.0 / len(arrangements(pattern))
    group = _renaming_group(pattern)
    alone, together, split_kept = [], collections.defaultdict(list), []
    off_diagonals: dict = {}
    for term in terms:
        for word, all_renamings in _orders(term, pattern):
            if dropped is not None:
                split = _split_order(term, word, off_diagonals)
                if split is not None:
                    kept, off = split
                    scale = term.weight * share
                    split_kept.append((kept, scale, all_renamings))
                    dropped.extend((subscripts, operands, scale, all_renamings) for subscripts, operands in off)
                    continue
            # with renamings to symmetrize over at the end: added untransposed, weighted by the class's share
            renamings = ([(group[0], sum(c for _, c in all_renamings) / len(group))] if len(group) > 1
                         else all_renamings)
            last = _last_product(term, word) if len(renamings) == 1 else None
            if last is None:
                alone.append((term, word, renamings))
                continue
            (renamed, count), = renamings
            array, summed, axis, rest_subscripts, rest_operands = last
            # the product R A^T is over (the rest's letter, the array's letter): the values' axes if the array holds
            # the second letter, and then renamed
            transposed = (axis == 0) != (renamed != (0, 1))
            together[(id(array), summed, transposed)].append(
                (term, word, renamings, array, rest_subscripts, rest_operands, term.weight * count * share))
    for (_, summed, transposed), members in together.items():
        if len(members) == 1:
            alone.append(members[0][:3])
            continue
        rests = None
        for _, _, _, array, rest_subscripts, rest_operands, scale in members:
            rest = scale * _contract(rest_subscripts, rest_operands)
            rests = rest if rests is None else np.add(rests, rest, out=rests)
        matrix = array if summed == 1 else array.T
        product = rests @ matrix.T
        total += product.T if transposed else product
    for term, word, renamings in alone:
        if len(renamings) == 1:
            (renamed, count), = renamings
            total += _renamed(slice_values(term, word, count * share), renamed)
            continue
        _add_renamed(total, slice_values(term, word, share), renamings)
    total = _symmetrized_over(total, group)
    # the diagonal parts of split networks: each alone is not invariant under the renamings (only with the networks
    # set aside), so added with its own
    for kept, scale, renamings in split_kept:
        _add_renamed(total, sum(_contract(subscripts, operands) for subscripts, operands in kept) * scale, renamings)
    return total


#: Numbers of the halves that :func:`summed_dense` gathers before it multiplies them (:math:`2^{22}`, 32 MB: erf's
#: order-4 cumulant at depth 3, width 32, in 6.4 s, against 9.0 s with :math:`2^{25}`).
DENSE_CHUNK = 1 << 22


def summed_dense(terms: list[Term], order: int, dim: int, check=None) -> np.ndarray:
    r""":math:`\sum_t \operatorname{Sym}(X_t)` whole (every slot its own letter), as
    :math:`\operatorname{Sym}(\sum_t X_t)`: :math:`\operatorname{Sym}` is linear and does not see the order of a
    term's axes, so every term is added in whichever order of its slots its network splits into two halves held
    apart, :math:`X_{AB} = \sum_s P_{As} Q_{Bs}` (``_halves``: the arrays that hold the slots :math:`A` and those
    that hold :math:`B`, joined only at the internal indices :math:`s`), and the sum is symmetrized once. The halves
    of many terms are concatenated along :math:`s` and multiplied at once: one matrix product
    :math:`[P_1 \cdots P_T][Q_1 \cdots Q_T]^\top` of up to :data:`DENSE_CHUNK` numbers, where term by term
    every term wrote an :math:`N^m` array and added it (memory-bound: erf's order-4 cumulant at depth 3, width 32,
    1,873 terms: 22.5 s through :func:`summed_slice`, 6.4 s so). Terms that do not split (one array holds slots of both
    halves, tied slots) are added through :func:`slice_values`. ``check`` is called with :func:`summed_dense_bytes`
    before anything is allocated (a memory check), the splits found once for both."""
    plans = [_split(term, order) for term in terms]
    if check is not None:
        check(_dense_bytes(terms, plans, order, dim))
    total = np.zeros((dim,) * order)
    pending: dict = collections.defaultdict(list)         # slots of P -> the halves not yet multiplied

    def multiply(left: int) -> None:
        pairs = pending.pop(left)
        P = np.concatenate([p for p, _ in pairs], axis=1)
        Q = np.concatenate([q for _, q in pairs], axis=1)
        flat = total.reshape(dim**left, dim ** (order - left))
        flat += P @ Q.T

    for term, plan in zip(terms, plans):
        halves = _halves(term, plan)
        if halves is None:
            total += slice_values(term, _LETTERS[:order])
            continue
        P, Q = halves
        left = P.ndim - 1
        pending[left].append((P.reshape(dim**left, -1), Q.reshape(dim ** (order - left), -1)))
        if sum(p.size + q.size for p, q in pending[left]) >= DENSE_CHUNK:
            multiply(left)
    for left in list(pending):
        multiply(left)
    permutations = list(itertools.permutations(range(order)))
    return functools.reduce(np.add, [np.transpose(total, p) for p in permutations]) / len(permutations)


def summed_dense_bytes(terms: list[Term], order: int, dim: int) -> int:
    """The memory :func:`summed_dense` needs at its peak: the tensor, a product and its symmetrization (four arrays
    of :math:`N^m`), the halves it holds before it multiplies them and their concatenation (twice at most
    :data:`DENSE_CHUNK` numbers and one term's halves), and the largest contraction of one term."""
    return _dense_bytes(terms, [_split(term, order) for term in terms], order, dim)


def _dense_bytes(terms: list[Term], plans: list, order: int, dim: int) -> int:
    """:func:`summed_dense_bytes` from the terms' splits (:func:`_split`)."""
    plans = [plan for plan in plans if plan is not None]
    halves = [sum(dim ** len(out) * inner for out in outs) for _, _, _, outs, inner, _, _ in plans]
    chunk = min(DENSE_CHUNK + max(halves, default=0), sum(halves))
    contraction = max((slice_cost(t, _LETTERS[:order])[0] for t in terms), default=0)
    return FLOAT * (4 * dim**order + 2 * chunk) + contraction


def _split(term: Term, order: int):
    r"""Where the term's network splits into two halves held apart (:func:`_halves`), as ``(a, b, joining,
    (out_a, out_b), inner, inputs, operands)``: the positions of either half's arrays among the ``operands`` of its
    contraction (:func:`_slice_plan`, their subscripts ``inputs``), the letters of the internal indices that join
    the halves and their joint length ``inner``, and the slots' letters either half holds; the split whose joining
    indices are shortest (ties: the more even split). ``None`` where none is shorter than :math:`N^2` or the slots
    tie (two slots on one internal index)."""
    word = _LETTERS[:order]
    subscripts, operands, _, reduced, _ = _slice_plan(term, word)
    best = None
    if reduced == word and len(operands) >= 2:
        inputs, output = subscripts.split("->")
        inputs = inputs.split(",")
        size = {c: n for ix, o in zip(inputs, operands) for c, n in zip(ix, o.shape)}
        dim = size[output[0]]
        for mask in range(1, 2 ** (len(inputs) - 1)):        # the last operand on side B: each split once
            a = [i for i in range(len(inputs)) if mask >> i & 1]
            b = [i for i in range(len(inputs)) if not mask >> i & 1]
            held_a, held_b = set("".join(inputs[i] for i in a)), set("".join(inputs[i] for i in b))
            out_a = "".join(c for c in output if c in held_a)
            out_b = "".join(c for c in output if c in held_b)
            if not out_a or not out_b or set(out_a) & held_b or set(out_b) & held_a:
                continue
            joining = "".join(sorted(held_a & held_b))
            inner = math.prod(size[c] for c in joining)
            rank = (inner, abs(len(out_a) - len(out_b)))
            if inner < dim * dim and (best is None or rank < best[0]):
                best = (rank, a, b, joining, (out_a, out_b), inner, inputs)
    return None if best is None else best[1:] + (operands,)


def _halves(term: Term, plan) -> tuple[np.ndarray, np.ndarray] | None:
    r"""``(P, Q)``: the term's network split into two (:func:`_split`), :math:`X = \sum_s P_{As} Q_{Bs}` up to the
    order of the slots: ``P`` over the slots :math:`A` and the joining indices :math:`s` flattened last, the weight
    in it, ``Q`` likewise; ``None`` where the network does not split (``plan``: its :func:`_split`)."""
    if plan is None:
        return None
    a, b, joining, (out_a, out_b), _, inputs, operands = plan
    P = term.weight * _contract(",".join(inputs[i] for i in a) + "->" + out_a + joining, [operands[i] for i in a])
    Q = _contract(",".join(inputs[i] for i in b) + "->" + out_b + joining, [operands[i] for i in b])
    return P.reshape(P.shape[:len(out_a)] + (-1,)), Q.reshape(Q.shape[:len(out_b)] + (-1,))


def _renaming_group(pattern: str) -> list[tuple]:
    """The renamings of the letters of ``pattern`` (a word over sorted letters) that keep how often each is held, as
    axis permutations of its slice (``'iijk'``: the identity and the swap of ``j`` and ``k``)."""
    letters = "".join(sorted(set(pattern)))
    return [p for p in itertools.permutations(range(len(letters)))
            if all(pattern.count(letters[a]) == pattern.count(letters[b]) for a, b in enumerate(p))]


def _symmetrized_over(values: np.ndarray, group: list[tuple]) -> np.ndarray:
    r""":math:`\sum_{g \in G} g(A)` for ``values`` :math:`A` and the axis permutations ``group`` (``_renaming_group``);
    in place one index of the leading axis at a time where every permutation keeps that axis (``'iijk'``: an
    :math:`N^2` working array, not another :math:`N^3`)."""
    if len(group) == 1:
        return values
    if values.ndim > 2 and all(g[0] == 0 for g in group):
        inner = [tuple(a - 1 for a in g[1:]) for g in group]
        for row in values:
            row[...] = functools.reduce(np.add, [_renamed(row, g) for g in inner])
        return values
    return functools.reduce(np.add, [_renamed(values, g) for g in group])


#: Numbers that :func:`entries` gathers at once from each array (:math:`2^{18}`: 1,024 rows of 256 neurons) ...
ENTRY_NUMBERS = 1 << 18
#: ... of several orders of the slots only where one order's rows hold fewer numbers than this (:math:`2^{14}`: 256
#: tuples of up to 63 neurons): with more, a contraction is worth its call, and one order at a time takes more
#: rows and products again, which other terms share (the candidates of a cubic closure-4 layer of width 256,
#: 256 tuples: 20 s one order at a time, 25 s four at once; a quadratic closure-4 network of depth 3 and width 128,
#: tolerance 0.99: 3.2 s, against 6.0 s with :math:`2^{16}`; erf's depth-3 chain at width 16, closure 4, tolerance
#: 0: 25 s either way, 28 s with :math:`2^{12}`).
ENTRY_ALONE = 1 << 14
#: Arrays of the rows of one contraction that :func:`entries` keeps for reuse (:class:`EntrySteps`): 64 (a
#: quadratic closure-4 network of width 256: 23 s, against 33 s with 16 and 23 s with 256) ...
ENTRY_KEPT = 64
#: ... and at most this many numbers (:math:`2^{24}`, 128 MB).
ENTRY_KEPT_MAX = 1 << 24


def entries(term: Term, tuples: np.ndarray, kept: EntrySteps | None = None) -> np.ndarray:
    r""":math:`\operatorname{Sym}(X)` at the index tuples ``tuples`` (shape ``(M, m)``), one value each: the average of
    :math:`X` over the orders of the slots, those that a symmetry of the network joins (``_symmetries``) evaluated
    once. Each contraction gathers at most :data:`ENTRY_NUMBERS` numbers from each array: batches of the tuples
    where they are more, and where one order's rows are few (under :data:`ENTRY_ALONE` numbers), the rows of several
    orders of the slots at once, one order after another. A call costs tens of microseconds whatever its size: 400
    terms of erf's order-4 cumulant at depth 3, width 16 (closure 4), at 2,000 tuples took 34 s one order and 1,024
    tuples at a time, 8.6 s so; the sampled sizes of the candidates of erf's depth-3 chain at width 16, closure 4,
    tolerance 0, made the chain take 102 s, now 39 s.

    Every order contracts the same network along one path (opt_einsum's greedy one: its intermediates are no
    larger than the gathered rows, where the flop-optimal one makes batches of :math:`N \times N` outer
    products, 5x the run at N = 96). The rows gathered and the products made are kept (``kept``, or for this
    call alone) by what they are made of: the other orders of the slots that read the same columns take them
    again (one order at a time), and so do other terms evaluated with the same ``kept`` that hold the same arrays
    joined the same way -- of the step flops of a layer's candidate terms at
    closure 4, 98% (quadratic) and 77% (cubic) at N = 64 (docs/theory.md section 12.3)."""
    tuples = np.asarray(tuples)
    dims = term.dims()
    neurons = max(term.output_dim(s, dims) for s in range(term.order))
    kept = EntrySteps(tuples, neurons) if kept is None else kept
    if kept.tuples is not tuples:
        raise ValueError("entries: the kept steps are of other index tuples")
    permutations = list(itertools.permutations(range(term.order)))
    orders = _orbits(permutations, _symmetries(term), lambda order, sigma: tuple(order[s] for s in sigma))
    widest = max((a.size // min(a.shape) for a in term.arrays() if a.ndim >= 2), default=1)
    rows = max(1, ENTRY_NUMBERS // max(widest, neurons))      # gathered at once from each array
    batch = min(rows, max(len(tuples), 1))
    together = max(1, rows // batch) if batch * max(widest, neurons) < ENTRY_ALONE else 1   # orders per contraction
    groups = [orders[g:g + together] for g in range(0, len(orders), together)]
    network = _EntryNetwork(term)
    out = np.zeros(len(tuples))
    steps: dict = {}
    for start in range(0, len(tuples), batch):
        stop = min(start + batch, len(tuples))
        for group in groups:
            count = (stop - start) * len(group)
            if count not in steps:
                steps[count] = network.steps(count)
            values = network.at((start, stop), tuple(order for order, _ in group), steps[count], kept)
            out[start:stop] += np.array([c for _, c in group], dtype=float) @ values.reshape(len(group), stop - start)
    return term.weight * out / len(permutations)


class EntrySteps:
    """The rows and products that :func:`entries` makes at ``tuples`` of ``dim`` neurons, kept for reuse up to
    ``elements`` numbers (:data:`ENTRY_KEPT` arrays of the tuples' rows, at most :data:`ENTRY_KEPT_MAX` numbers;
    the least recently used dropped beyond), keyed by what they are made of: a gathered row by its array (by
    identity: the array is held here, so its id stays its own), the axes it is gathered at, the tuples' columns
    and batch; a product by its operands' keys and its subscripts with the letters named by first appearance.
    Equal keys are equal values, in any order of a term's slots and in any term."""

    def __init__(self, tuples: np.ndarray, dim: int, elements: int | None = None):
        self.tuples, self.elements = tuples, kept_elements(len(tuples), dim) if elements is None else elements
        self.kept: collections.OrderedDict = collections.OrderedDict()
        self.arrays: dict = {}
        self.used, self.hits = 0, 0

    def named(self, array: np.ndarray) -> int:
        """``array``'s identity, the array held for as long as this is."""
        self.arrays[id(array)] = array
        return id(array)

    def get(self, key, compute) -> np.ndarray:
        """The value kept under ``key``, else ``compute()``, kept if it fits."""
        value = self.kept.get(key)
        if value is not None:
            self.kept.move_to_end(key)
            self.hits += 1
            return value
        value = compute()
        if value.size <= self.elements:
            self.kept[key] = value
            self.used += value.size
            while self.used > self.elements:
                _, dropped = self.kept.popitem(last=False)
                self.used -= dropped.size
        return value


def kept_elements(count: int, dim: int) -> int:
    """The numbers :class:`EntrySteps` keeps at ``count`` tuples of ``dim`` neurons: :data:`ENTRY_KEPT` arrays of the
    rows of one contraction, those of several orders of the slots where the tuples are few (:func:`entries`)."""
    return min(ENTRY_KEPT * max(count * dim, ENTRY_NUMBERS), ENTRY_KEPT_MAX)


def summed_entries(terms: list[Term], tuples: np.ndarray, dim: int) -> np.ndarray:
    r""":math:`\sum_t \operatorname{Sym}(X_t)` at the index tuples ``tuples`` over ``dim`` neurons: :func:`entries` of
    every term, their steps kept in one :class:`EntrySteps`."""
    tuples = np.asarray(tuples)
    kept = EntrySteps(tuples, dim)
    return sum((entries(term, tuples, kept) for term in terms), np.zeros(len(tuples)))


@functools.lru_cache(maxsize=8192)
def _first_appearance(subscripts: str) -> str:
    """``subscripts`` with its letters renamed ``a``, ``b``, ... in the order they first appear (once per
    subscripts: every order of every term's slots asks again)."""
    names: dict = {}
    return "".join(names.setdefault(c, opt_einsum.get_symbol(len(names))) if c not in ",->" else c
                   for c in subscripts)


class _EntryNetwork:
    """The operands of ``term`` at sampled index tuples, with the slots whose columns each one reads: a leg matrix
    its rows at its slot's column, a factor its rows at the columns of the slots on its slot indices (its slot
    axes first, contiguous where it is a matrix or vector: its rows are then gathered whole, where a column of a
    row-major matrix is strided), a factor without slot indices itself."""

    def __init__(self, term: Term):
        first: dict[int, int] = {}
        self.repeats = []                 # (slot, the first slot on its index): equal columns, else zero
        for s, (k, leg) in enumerate(term.legs):
            if leg is None:
                if k in first:
                    self.repeats.append((s, first[k]))
                else:
                    first[k] = s
        symbols: dict = {}                # "a" is the tuples' axis

        def symbol(k):
            return symbols.setdefault(k, opt_einsum.get_symbol(len(symbols) + 1))

        self.operands = []                # (array, slots read, subscript, (the array it is made of, axes moved))
        for s, (k, leg) in enumerate(term.legs):
            if leg is not None:
                self.operands.append((leg, (s,), "a" + symbol(k), (leg, ())))
        for f, ix in zip(term.factors, term.indices):
            at = [a for a, k in enumerate(ix) if k in first]
            rest = "".join(symbol(k) for a, k in enumerate(ix) if a not in at)
            if not at:
                self.operands.append((f, (), rest, (f, ())))
                continue
            moved = np.moveaxis(f, at, list(range(len(at))))
            moved = np.ascontiguousarray(moved) if f.ndim <= 2 else moved
            self.operands.append((moved, tuple(first[ix[a]] for a in at), "a" + rest, (f, tuple(at))))
        self.subscripts = ",".join(sub for _, _, sub, _ in self.operands) + "->a"

    def steps(self, rows: int) -> tuple:
        """The pairwise steps (``_greedy_steps``) that contract the operands at ``rows`` tuples, the same in every order
        of the slots, after their largest intermediate is checked against the memory budget."""
        if not self.operands:
            return ()
        shapes = tuple((rows,) + array.shape[len(slots):] if slots else array.shape
                       for array, slots, _, _ in self.operands)
        steps, largest = _greedy_steps(self.subscripts, shapes)
        check_memory(2 * FLOAT * largest, f"a contraction of {len(shapes)} arrays of a factored tensor's terms at "
                     f"sampled entries ({self.subscripts})", "fewer neurons or a lower closure")
        return steps

    def at(self, batch: tuple, orders: tuple, steps: tuple, kept: EntrySteps) -> np.ndarray:
        """:math:`X` at the tuples ``kept.tuples[start:stop]`` (``batch``) with slot ``s`` on their column
        ``order[s]``, for each order of ``orders`` in turn (the values of one order after another), contracted along
        ``steps`` (:meth:`steps`), the rows and products taken from ``kept`` where it has them."""
        rows = kept.tuples[slice(*batch)]

        def column(s: int) -> np.ndarray:          # slot s's neurons, order after order
            return rows[:, [order[s] for order in orders]].T.reshape(-1)

        mask = np.ones(len(rows) * len(orders))
        for s, t in self.repeats:
            mask = mask * (column(s) == column(t))
        if not self.operands:
            return mask
        current = []                      # (value, its key)
        for array, slots, _, (origin, axes) in self.operands:
            if not slots:
                current.append((array, ("array", kept.named(origin))))
                continue
            columns = tuple(tuple(order[s] for s in slots) for order in orders)
            key = ("rows", kept.named(origin), axes, columns, batch)
            current.append((kept.get(key, lambda: array[tuple(column(s) for s in slots)]), key))
        for positions, subscripts in steps:
            taken = [current.pop(p) for p in positions]
            key = (_first_appearance(subscripts),) + tuple(k for _, k in taken)
            current.append((kept.get(key, lambda: _step(subscripts, tuple(a.shape for a, _ in taken))(
                *(a for a, _ in taken))), key))
        (value, _), = current
        return mask * np.broadcast_to(value, mask.shape)


@functools.lru_cache(maxsize=8192)
def _step(subscripts: str, shapes: tuple):
    """One step of a path, made once per subscripts and shapes: opt_einsum's expression where it calls BLAS, else
    ``einsum`` itself (what the expression would call, without its 9 us of bookkeeping per call: the sampled entries of
    a closure-4 layer make tens of thousands of such steps of a few thousand numbers)."""
    optimize = [tuple(range(len(shapes)))]
    _, info = opt_einsum.contract_path(subscripts, *shapes, shapes=True, optimize=optimize)
    if not any(step[-1] for step in info.contraction_list):
        return functools.partial(np.einsum, subscripts)
    return opt_einsum.contract_expression(subscripts, *shapes, optimize=optimize)


@functools.lru_cache(maxsize=8192)
def _greedy_steps(subscripts: str, shapes: tuple) -> tuple[tuple, int]:
    """The pairwise steps of opt_einsum's greedy path of ``subscripts`` on ``shapes`` (per step the positions of the
    operands taken, in the order they are taken out of the list that the result is appended to, and its
    subscripts), and its largest intermediate (elements); once per subscripts and shapes."""
    _, info = opt_einsum.contract_path(subscripts, *shapes, shapes=True, optimize="greedy")
    return (tuple((tuple(sorted(step[0], reverse=True)), step[2]) for step in info.contraction_list),
            int(info.largest_intermediate))


__all__ = ["Term", "SingleSum", "multiplied_along",
           "simplified", "split_diagonals", "merged", "linear", "slice_values", "slice_cost",
           "summed_slice", "summed_dense", "summed_dense_bytes", "DENSE_CHUNK", "entries", "summed_entries",
           "EntrySteps", "ENTRY_NUMBERS", "ENTRY_ALONE", "ENTRY_KEPT", "ENTRY_KEPT_MAX", "kept_elements",
           "arrangements", "deduplicated", "stacked", "broadcast", "split_network", "network_at", "off_diagonal_at",
           "add_off_diagonal", "SPLIT_COST", "SPLIT_FLOPS"]
