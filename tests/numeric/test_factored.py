"""Factored cumulant tensors (symcorr.numeric.factored) against dense tensors built independently.

The reference contracts every term with plain ``numpy.einsum`` over all of its indices at once
(identity leg matrices made explicit) and symmetrizes by averaging the axis permutations; the
factored tensor's slices, linear maps, dense form and entries must agree to 1e-12.
"""
import itertools
import math

import numpy as np
import pytest

from builders import dense_sum
from symcorr.numeric.budget import MemoryBudgetError
from symcorr.numeric.cumulant_tensors import RankOneAndPairing, RankOneSum, ZeroTensor, dense_slice
from symcorr.numeric.factored import FactoredTensor, factored, normalized, terms_of
from symcorr.numeric.tensor_networks import Term, deduplicated, merged, simplified, split_diagonals

def random_terms(order, dim, seed):
    """CP, path, double-hub, star, cyclic, diagonal (tied legs) and dense terms, some with leg matrices."""
    rng = np.random.default_rng(seed)
    r = dim + 3

    def m(*shape):
        return rng.normal(size=shape)

    terms = []
    identity = [(s, None) for s in range(order)]
    # CP over a hub index `order`
    terms.append(Term(0.7, [m(dim, r) for _ in range(order)], [(s, order) for s in range(order)], identity))
    # CP with leg matrices (dim x r internal neuron index)
    terms.append(Term(-0.4, [m(r)], [(0,)], [(0, m(dim, r))] * order))
    if order == 3:
        terms.append(Term(1.3, [m(dim), m(dim, dim), m(dim), m(dim, dim)], [(0,), (0, 1), (1,), (1, 2)],
                          [(0, None), (1, None), (2, None)]))
        # triangle (cyclic)
        terms.append(Term(0.5, [m(dim, dim), m(dim, dim), m(dim, dim)], [(0, 1), (1, 2), (2, 0)], identity))
        # two slots tied (a diagonal term)
        terms.append(Term(2.0, [m(dim, dim)], [(0, 1)], [(0, None), (0, None), (1, None)]))
    else:
        terms.append(Term(1.3, [m(dim, dim), m(dim, dim), m(dim, dim)], [(0, 1), (1, 2), (2, 3)],
                          [(0, None), (1, None), (2, None), (3, None)]))          # path i-j-k-l
        terms.append(Term(0.9, [m(dim, dim), m(dim, dim), m(dim, dim)], [(4, 5), (0, 4), (2, 5)],
                          [(0, None), (4, None), (2, None), (5, None)]))           # double hub with bridge
        terms.append(Term(0.5, [m(dim, dim)] * 4, [(0, 1), (1, 2), (2, 3), (3, 0)], identity))   # 4-cycle
        terms.append(Term(-1.1, [m(dim, dim), m(dim)], [(0, 1), (1,)], [(0, None), (0, None), (1, None), (1, None)]))
        terms.append(Term(0.3, [m(dim, dim, dim)], [(0, 1, 2)], [(0, None), (0, None), (1, None), (2, None)]))
    dense = m(*(dim,) * order)
    dense = sum(dense.transpose(p) for p in itertools.permutations(range(order)))
    terms.append(Term(0.2, [dense], [tuple(range(order))], identity, symmetric=True))
    return terms


def all_labels(order):
    """Every index pattern of the order in every arrangement of its letters ('iij', 'iji', 'jii', 'ijj', ...)."""
    out = set()
    for word in itertools.product("ijkl"[:order], repeat=order):
        out.add("".join(word))
    return sorted(out)


def relative(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("order,dim", [(3, 5), (4, 4)])
def test_slices_to_dense_entries_match_the_dense_dense_sum(order, dim):
    terms = random_terms(order, dim, seed=order)
    tensor = FactoredTensor(order, dim, terms)
    dense = dense_sum(terms, order, dim)
    assert relative(tensor.to_dense(), dense) < 1e-12
    for labels in all_labels(order):
        assert relative(tensor.slice(labels), dense_slice(dense, labels)) < 1e-12, labels
    tuples = np.random.default_rng(1).integers(0, dim, size=(50, order))
    assert relative(tensor.entries(tuples), dense[tuple(tuples.T)]) < 1e-12


@pytest.mark.parametrize("order,dim", [(3, 5), (4, 4)])
def test_to_dense_multiplies_the_halves_of_many_terms_at_once(order, dim, monkeypatch):
    """``to_dense`` adds each term as two halves joined at their internal indices, those of many terms multiplied
    at once, and the terms that do not split (cycles, tied slots, a dense factor) through their own contraction:
    equal to the dense sum, whether it multiplies after every term, after a few or once; the split is at the
    shortest joining indices (a hub of rank r: r)."""
    import symcorr.numeric.tensor_networks as tensor_networks

    terms = random_terms(order, dim, 31) + _sharing_terms(order, dim, 32)
    dense = dense_sum(terms, order, dim)
    plans = [tensor_networks._split(term, order) for term in terms]
    assert plans[0][4] == dim + 3 and any(p is None for p in plans) and sum(p is not None for p in plans) > 5
    for chunk in (1, 500, 1 << 22):
        monkeypatch.setattr(tensor_networks, "DENSE_CHUNK", chunk)
        assert relative(FactoredTensor(order, dim, terms).to_dense(), dense) < 1e-12, chunk
    needed = tensor_networks.summed_dense_bytes(terms, order, dim)
    with pytest.raises(MemoryBudgetError, match="the dense order-.* entries"):
        FactoredTensor(order, dim, terms).to_dense(budget=needed - 1)


@pytest.mark.parametrize("order,dim,n_out", [(3, 5, 7), (4, 4, 3)])
def test_linear_maps_match_dense_linear_twice(order, dim, n_out):
    rng = np.random.default_rng(order + 10)
    terms = random_terms(order, dim, seed=order + 1)
    tensor = FactoredTensor(order, dim, terms)
    dense = dense_sum(terms, order, dim)
    W1, W2 = rng.normal(size=(n_out, dim)), rng.normal(size=(dim + 1, n_out))
    for W in (W1, W2):
        tensor = tensor.linear(W)
        for _ in range(order):
            dense = np.tensordot(dense, W, axes=([0], [1]))
        assert tensor.dim == W.shape[0]
        assert relative(tensor.to_dense(), dense) < 1e-12
        for labels in all_labels(order):
            assert relative(tensor.slice(labels), dense_slice(dense, labels)) < 1e-12, labels
        tuples = rng.integers(0, W.shape[0], size=(40, order))
        assert relative(tensor.entries(tuples), dense[tuple(tuples.T)]) < 1e-12


def test_linear_folds_leg_matrices_into_factors():
    rng = np.random.default_rng(3)
    A, B, C = (rng.normal(size=(6, 4)) for _ in range(3))
    cp = FactoredTensor(3, 6, [Term(1.0, [A, B, C], [(0, 3), (1, 3), (2, 3)], [(0, None), (1, None), (2, None)])])
    mapped = cp.linear(rng.normal(size=(9, 6)))
    (term,) = mapped.terms
    assert all(leg is None for _, leg in term.legs)
    assert sorted(f.shape for f in term.factors) == [(9, 4)] * 3


@pytest.mark.parametrize("shape", [(5,), (5, 3), (4, 5, 3), (3, 4, 5, 2)])
def test_multiplied_along_equals_einsum_on_every_axis(shape):
    """A leg matrix contracted into a factor along each of its axes, the factor contiguous or a transposed view,
    equals ``numpy.einsum``, its axes in the factor's order; of stand-ins it makes one array (the result)."""
    from symcorr.numeric import shape_only
    from symcorr.numeric.tensor_networks import multiplied_along

    rng = np.random.default_rng(41)
    letters = "abcd"[:len(shape)]
    for factor in (rng.normal(size=shape), rng.normal(size=shape[::-1]).T):
        for axis, n in enumerate(shape):
            leg = rng.normal(size=(7, n))
            expected = np.einsum(f"x{letters[axis]},{letters}->{letters.replace(letters[axis], 'x')}", leg, factor)
            values = multiplied_along(leg, factor, axis)
            assert values.flags.c_contiguous and values.shape == expected.shape
            assert np.allclose(values, expected, rtol=1e-13, atol=1e-13), (shape, axis)
            ledger = shape_only.Ledger()
            made = multiplied_along(ledger.stand_in(leg), ledger.stand_in(np.ascontiguousarray(factor)), axis)
            assert made.shape == expected.shape and ledger.count == 1


def test_a_single_summed_in_place_is_the_single_added():
    """The array ``SingleSum.summand`` gives for a slot pattern, a product over its letters added to it in place,
    is the term of one factor on that pattern added: one sum per diagonal pattern, whatever the order of the slots."""
    from symcorr.numeric.tensor_networks import SingleSum

    rng = np.random.default_rng(43)
    dim = 4
    by_add, in_place = SingleSum(), SingleSum()
    for word in ("iijk", "ijik", "jkii", "ijji", "ijij", "iiij", "jiii"):
        distinct = "".join(dict.fromkeys(word))
        values = rng.normal(size=(dim,) * len(distinct))
        by_add.add(Term(1.0, [values], [tuple(range(len(distinct)))], [(distinct.index(c), None) for c in word]))
        total, axes = in_place.summand(word, dim)
        total += np.einsum(f"{distinct}->{axes}", values)
    assert by_add.sums.keys() == in_place.sums.keys() and len(in_place.sums) == 3
    for key, total in by_add.sums.items():
        assert np.allclose(in_place.sums[key], total, rtol=1e-14, atol=1e-14)


def test_simplified_keeps_the_tensor():
    rng = np.random.default_rng(4)
    v, S, h, T = rng.normal(size=5), rng.normal(size=(5, 5)), rng.normal(size=5), rng.normal(size=(5, 5))
    path = Term(1.0, [v, S, h, T, S], [(0,), (0, 1), (1,), (1, 2), (3, 1)], [(0, None), (1, None), (2, None)])
    small = simplified(path)
    assert len(small.factors) < len(path.factors)
    assert relative(dense_sum([small], 3, 5), dense_sum([path], 3, 5)) < 1e-12


def test_rank_one_sums_zero_and_dense_become_terms():
    rng = np.random.default_rng(5)
    weights, V = rng.normal(size=3), rng.normal(size=(4, 3))
    for tensor in (RankOneSum(4, weights, V), RankOneSum.diagonal(4, rng.normal(size=4)),
                   RankOneAndPairing(RankOneSum(4, weights, V), 0.3),
                   RankOneAndPairing.from_diagonal(4, rng.normal(size=4), -0.2)):
        as_terms = factored(tensor, 4)
        assert relative(as_terms.to_dense(), tensor.to_dense()) < 1e-12
        for labels in ("iijj", "ijij", "iiij", "iiii", "iijk"):
            assert relative(as_terms.slice(labels), tensor.slice(labels)) < 1e-12
    assert terms_of(ZeroTensor(3, 4), 3) == []
    dense = dense_sum(random_terms(3, 4, 6), 3, 4)
    assert relative(factored(dense, 3).slice("iij"), dense_slice(dense, "iij")) < 1e-12


def test_normalized_patterns_and_slice_cache():
    assert normalized("ijj") == ("iij", [1, 0])
    assert normalized("kjkj") == ("iijj", [0, 1])
    terms = random_terms(3, 4, 7)
    tensor = FactoredTensor(3, 4, terms)
    assert np.array_equal(tensor.slice("ijj"), tensor.slice("iij").T)
    with pytest.raises(ValueError, match="3 letters"):
        tensor.slice("ij")


def test_memory_is_stated_and_budgeted():
    tensor = FactoredTensor(4, 30, random_terms(4, 30, 8))
    assert tensor.nbytes > 0
    assert tensor.slice_nbytes("iijj") >= 8 * 30**2
    assert tensor.linear_nbytes(40) > 0
    with pytest.raises(MemoryBudgetError, match="slices"):
        tensor.to_dense(budget=1000)


def test_split_diagonals_is_exact_and_leaves_only_off_diagonal_cycles():
    rng = np.random.default_rng(9)
    S, T, U = (rng.normal(size=(5, 5)) for _ in range(3))
    triangle = Term(0.8, [S, T, U], [(0, 1), (1, 2), (2, 0)], [(0, None), (1, None), (2, None)])
    acyclic, cyclic = split_diagonals(triangle)
    assert acyclic and len(cyclic) == 1 and not any(t.cyclic() for t in acyclic)
    assert relative(dense_sum(acyclic + cyclic, 3, 5), dense_sum([triangle], 3, 5)) < 1e-12
    left = dense_sum(cyclic, 3, 5)
    for a, b in ((0, 1), (1, 2), (0, 2)):           # zero wherever two neurons of the cycle coincide
        assert np.all(np.einsum("iij->ij" if (a, b) == (0, 1) else "ijj->ij" if (a, b) == (1, 2) else "iji->ij",
                                left) == 0)


def test_merged_keeps_the_sum_in_fewer_terms():
    rng = np.random.default_rng(10)
    singles = [Term(w, [rng.normal(size=(4, 4))], [ix], [(0, None), (0, None), (2, None)])
               for w, ix in ((0.5, (0, 2)), (-1.2, (2, 0)), (2.0, (0, 2)))]
    stars = [Term(w, [rng.normal(size=(4, r)) for _ in range(3)], [(0, 3), (3, 1), (2, 3)],
                  [(0, None), (1, None), (2, None)]) for w, r in ((0.7, 2), (1.1, 5))]
    stars[1].factors[1] = stars[1].factors[1].T.copy()      # (hub, slot) as well as (slot, hub)
    stars[1].indices[1] = (3, 1)
    stars[0].indices[1] = (1, 3)
    other = random_terms(3, 4, 11)[:2]
    terms = singles + stars + other
    fewer = merged(terms)
    assert len(fewer) == 5          # the singles summed into one; the stars and the others kept as they are
    assert relative(dense_sum(fewer, 3, 4), dense_sum(terms, 3, 4)) < 1e-12


def test_merged_sums_the_diagonal_singles_of_every_slot_order():
    """'iij', 'iji' and 'jii' terms of one matrix are one single after merging (Sym is the same), the sum kept."""
    rng = np.random.default_rng(12)
    M = rng.normal(size=(4, 4))
    terms = [Term(w, [M], [(0, 1)], legs) for w, legs in
             ((0.5, [(0, None), (0, None), (1, None)]), (1.5, [(0, None), (1, None), (0, None)]),
              (-0.7, [(1, None), (0, None), (0, None)]))]
    fewer = merged(terms)
    assert len(fewer) == 1
    assert relative(dense_sum(fewer, 3, 4), dense_sum(terms, 3, 4)) < 1e-12


@pytest.mark.parametrize("order", [3, 4])
def test_deduplicated_merges_one_network_in_other_slot_orders_only(order):
    rng = np.random.default_rng(13)
    A, B = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    cycle = [(s, (s + 1) % order) for s in range(order)]
    identity = [(s, None) for s in range(order)]
    same = [Term(0.4, [A] + [B] * (order - 1), cycle, identity),
            # the same network, its slots in another order and its indices renamed
            Term(1.1, [B] * (order - 1) + [A], [(k + 10, j + 10) for k, j in cycle[1:]] + [(10, 11)],
                 [(10 + (s + 1) % order, None) for s in range(order)][::-1]),
            # the same network with the slot order reversed
            Term(-0.2, [A] + [B] * (order - 1), cycle, identity[::-1])]
    other = Term(0.9, [B] + [A] * (order - 1), cycle, identity)      # other arrays on the edges: another network
    copy = Term(0.3, [A.copy()] + [B] * (order - 1), cycle, identity)  # equal values, another array: kept apart
    terms = same + [other, copy]
    fewer = deduplicated(terms)
    assert len(fewer) == 3
    assert relative(dense_sum(fewer, order, 5), dense_sum(terms, order, 5)) < 1e-12


def test_a_contraction_above_the_budget_is_made_in_chunks_or_refused_before_it_runs():
    """The dense slice of a 4-cycle seen through leg matrices makes intermediates larger than the tensor: above the
    memory budget it is made in chunks of one output index (the same values), and refused, with the remedy, when
    one neuron's chunk is above the budget too."""
    from symcorr.numeric.budget import budget_scope
    from symcorr.numeric.tensor_networks import slice_cost, slice_values

    rng = np.random.default_rng(14)
    dim = 6
    cycle = Term(1.0, [rng.normal(size=(dim, dim)) for _ in range(4)], [(0, 1), (1, 2), (2, 3), (3, 0)],
                 [(s, rng.normal(size=(dim, dim))) for s in range(4)])
    needed, _ = slice_cost(cycle, "ijkl")
    whole = slice_values(cycle, "ijkl")
    output, one_neuron = 8 * dim**4, 2 * 8 * dim**3          # the output, and twice one neuron's intermediate
    assert output + one_neuron < 17_000 < needed
    with budget_scope(17_000):
        chunked = slice_values(cycle, "ijkl")
    assert np.max(np.abs(chunked - whole)) < 1e-12 * np.max(np.abs(whole))
    with budget_scope(output + one_neuron // 2), pytest.raises(MemoryBudgetError, match="contraction of .* factored"):
        slice_values(cycle, "ijkl")


@pytest.mark.parametrize("order", [3, 4])
def test_orders_of_the_slots_a_network_is_symmetric_under_are_contracted_once(order, monkeypatch):
    """A star whose first two slots hold the same array, and a cycle of one matrix (symmetric under its rotations):
    their slices and entries contract one order of the slots per class that a symmetry joins (with, for slices, the
    renamings of the pattern's letters), and still equal the dense reference; a network with no symmetry contracts
    every order of 'iij', and one of each pair of 'iijk' that renames j and k."""
    import symcorr.numeric.tensor_networks as tensor_networks

    rng = np.random.default_rng(15)
    dim = 5
    P, Q = rng.normal(size=(dim, dim + 2)), rng.normal(size=(dim, dim + 2))
    hub, identity = order, [(s, None) for s in range(order)]
    star = Term(0.8, [P, P] + [Q] * (order - 2), [(s, hub) for s in range(order)], identity)
    M = rng.normal(size=(dim, dim))
    cycle = Term(-0.6, [M] * order, [(s, (s + 1) % order) for s in range(order)], identity)
    plain = Term(1.2, [rng.normal(size=(dim, dim + 2)) for _ in range(order)], [(s, hub) for s in range(order)],
                 identity)
    calls = []
    contract = tensor_networks.slice_values

    def counted(term, word, scale=1.0):
        calls.append(word)
        return contract(term, word, scale)

    monkeypatch.setattr(tensor_networks, "slice_values", counted)
    pattern = "iij" if order == 3 else "iijk"
    # orbits of the arrangements of the pattern under each network's symmetries and the renamings of the letters the
    # pattern holds equally often (Burnside's lemma: the mean number of arrangements an element fixes): the star's
    # swaps of its equal slots, the cycle's rotations, none; for 'iijk' also j <-> k (with it 3, 2, 6; without, 4, 3,
    # 12)
    expected = {"star": 2 if order == 3 else 3, "cycle": 1 if order == 3 else 2, "plain": 3 if order == 3 else 6}
    for name, term in (("star", star), ("cycle", cycle), ("plain", plain)):
        calls.clear()
        dense = dense_sum([term], order, dim)
        assert relative(tensor_networks.summed_slice([term], pattern, dim), dense_slice(dense, pattern)) < 1e-12
        assert len(calls) == expected[name], (name, calls)
        tuples = rng.integers(0, dim, size=(30, order))
        assert relative(tensor_networks.entries(term, tuples), dense[tuple(tuples.T)]) < 1e-12


def test_deduplicated_sees_one_network_in_every_presentation():
    """One network written with its factors in another order and its internal indices renamed, where one array is
    held twice over indices not yet named when it is reached (the case an order by array alone cannot settle), is
    merged whatever the order (also with its slots in another order: Sym is the same); a network with another
    array on one edge is not."""
    rng = np.random.default_rng(16)
    # M reached first whatever the memory layout (an order by array identity would settle it otherwise)
    M, X, Y = sorted((rng.normal(size=(4, 4)) for _ in range(3)), key=id)
    legs = [(0, None), (1, None), (2, None)]
    # slot 0 to two internal indices through the same M; one continues to slot 1 through X, the other to slot 2
    # through Y
    first = Term(0.5, [M, M, X, Y], [(0, 5), (0, 6), (5, 1), (6, 2)], legs)
    again = Term(0.25, [Y, M, X, M], [(8, 2), (0, 8), (9, 1), (0, 9)], legs)    # the copy of M toward Y first
    swapped = Term(1.0, [M, M, X, Y], [(0, 5), (0, 6), (5, 2), (6, 1)], legs)   # X to slot 2, Y to slot 1
    other = Term(2.0, [M, M, X, X], [(0, 5), (0, 6), (5, 1), (6, 2)], legs)
    for terms in itertools.permutations([first, again, swapped, other]):
        fewer = deduplicated(list(terms))
        assert len(fewer) == 2
        assert relative(dense_sum(fewer, 3, 4), dense_sum(list(terms), 3, 4)) < 1e-12


def test_network_keys_and_symmetries_from_the_slot_classes_are_those_of_every_order_of_the_slots():
    """_network_key and _symmetries describe only the orders of the slots that keep each slot in its class (its leg,
    the arrays and axes on its index, how many slots share it). Against every order: a network's symmetries are the
    orders whose description is the identity's, and its key is the same in every presentation (slots permuted,
    indices renamed, factors shuffled) and differs between different networks."""
    from symcorr.numeric.tensor_networks import _description, _neighbours, _network_key, _symmetries

    rng = np.random.default_rng(18)
    A, B, L = rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    v = rng.normal(size=4)
    networks = [
        Term(1.0, [A, A, A], [(0, 9), (1, 9), (2, 9)], [(0, None), (1, None), (2, None)]),        # a star of one A
        Term(1.0, [A, A, B], [(0, 9), (1, 9), (2, 9)], [(0, None), (1, None), (2, None)]),
        Term(1.0, [A, B, A, B], [(0, 1), (1, 2), (2, 3), (3, 0)], [(s, None) for s in range(4)]),  # an A-B-A-B cycle
        Term(1.0, [A, A, v], [(0, 1), (1, 2), (1,)], [(0, None), (0, None), (2, L), (2, None)]),   # shared slots
        Term(1.0, [A, B, B, A], [(0, 9), (9, 1), (9, 2), (3, 9)], [(0, L), (1, None), (2, None), (3, L)]),
    ]
    for term in networks:
        m = term.order
        every = {order: _description(term, order, _neighbours(term)) for order in itertools.permutations(range(m))}
        assert _symmetries(term) == [o for o, d in every.items() if d == every[tuple(range(m))]]
        key = _network_key(term)
        for _ in range(5):
            slots, factors = rng.permutation(m), rng.permutation(len(term.factors))
            rename = {k: 100 + n for n, k in enumerate(rng.permutation(sorted(term.dims())))}
            again = Term(term.weight, [term.factors[f] for f in factors],
                         [tuple(rename[k] for k in term.indices[f]) for f in factors],
                         [(rename[term.legs[s][0]], term.legs[s][1]) for s in slots])
            assert _network_key(again) == key
    assert len({_network_key(term) for term in networks}) == len(networks)


def test_merged_joins_networks_that_differ_in_one_factor_only():
    """Chains i-a-b-j with two more slots on their ends that differ in the middle matrix (one written with its slots
    in another order, its indices renamed and the matrix transposed) are one network with that matrix summed; a
    chain that differs from the joined one in an end factor is not joined with it (the joined term's key for that
    factor named the middle matrix it had), nor is one that differs in two factors. The sum is kept exactly."""
    rng = np.random.default_rng(17)
    dim = 5
    A, B, C, D, M1, M2, E, F, M3 = (rng.normal(size=(dim, dim)) for _ in range(9))
    identity = [(s, None) for s in range(4)]
    # X_{ijkl} = sum_{ab} A_ia B_ja M_ab C_kb D_lb
    first = Term(0.5, [A, B, M1, C, D], [(0, 4), (1, 4), (4, 5), (2, 5), (3, 5)], identity)
    # the same network but for M2, its slots in the order (k, l, i, j) and the middle matrix held as (b, a)
    second = Term(-1.5, [C, D, M2.T, A, B], [(0, 7), (1, 7), (7, 6), (2, 6), (3, 6)], identity)
    # the first network with E for A: its key for A named M1 (the joined term holds 0.5 M1 - 1.5 M2 there)
    stale = Term(0.7, [E, B, M1, C, D], [(0, 4), (1, 4), (4, 5), (2, 5), (3, 5)], identity)
    # two factors other than in each term before it
    twice = Term(1.1, [E, B, M3, C, F], [(0, 4), (1, 4), (4, 5), (2, 5), (3, 5)], identity)
    terms = [first, second, stale, twice]
    fewer = merged(terms)
    assert len(fewer) == 3
    assert relative(dense_sum(fewer, 4, dim), dense_sum(terms, 4, dim)) < 1e-12
    assert len(merged([first, second])) == 1


def test_stacked_makes_networks_that_differ_at_one_summed_index_one_term_exactly():
    """Terms that are one network but for arrays all holding one summed index -- hubs of stars with a slot order of
    their own, vectors under leg matrices, a three-index factor beside a matrix, with their weights -- are one term
    each after stacking, whose index runs over theirs in turn (the arrays it does not vary repeated); the sum is the
    same. Terms whose differing arrays share no summed index (a path whose two matrices differ, both holding a
    slot's index) and networks of other shapes stay as they are."""
    from symcorr.numeric.tensor_networks import stacked

    rng = np.random.default_rng(19)
    dim, r = 5, 3
    L, U = rng.normal(size=(dim, dim)), rng.normal(size=(dim, r))
    identity = [(s, None) for s in range(3)]
    stars = [Term(w, [rng.normal(size=(dim, r)), U, rng.normal(size=(dim, r))], [(0, 3), (1, 3), (2, 3)], identity)
             for w in (0.7, -1.3, 2.1)]
    # the first star with its slots in another order, its hub renamed and its factors shuffled (a non-symmetric
    # term: Sym is the same in every order of its slots)
    first = stars[0]
    stars.append(Term(0.4, [first.factors[2], U, first.factors[0]], [(0, 8), (2, 8), (1, 8)],
                      [(1, None), (2, None), (0, None)]))
    # sum_a v_a L_ia L_ja L_ka: the leg matrices repeated along the stacked index
    legged = [Term(w, [rng.normal(size=dim)], [(0,)], [(0, L)] * 3) for w in (0.5, -0.9)]
    # T_{ija} u_{ka}: the three-index factor varies, u repeated
    three = [Term(w, [rng.normal(size=(dim, dim, r)), U], [(0, 1, 4), (2, 4)], identity) for w in (1.0, 0.3)]
    # A_ij B_jk: both differ, both hold slot 1's index only -- nothing to stack along
    paths = [Term(w, [rng.normal(size=(dim, dim)), rng.normal(size=(dim, dim))], [(0, 1), (1, 2)], identity)
             for w in (0.6, -0.2)]
    wider = Term(0.8, [rng.normal(size=(dim, r + 1)) for _ in range(3)], [(0, 3), (1, 3), (2, 3)], identity)
    terms = stars + legged + three + paths + [wider]
    fewer = stacked(terms)
    assert len(fewer) == 6          # stars, legged, three made one each; the paths and the wider star as they were
    assert relative(dense_sum(fewer, 3, dim), dense_sum(terms, 3, dim)) < 1e-12
    lengths = sorted(max(term.dims().values()) for term in fewer)
    assert lengths == sorted([dim, dim, dim, 2 * dim, 2 * r, 4 * r])     # stacked index: T times its length
    for group in (stars, legged, three):
        alone = stacked(group)
        assert len(alone) == 1 and relative(dense_sum(alone, 3, dim), dense_sum(group, 3, dim)) < 1e-12
    assert len(stacked(paths)) == 2 and stacked([stars[0]]) == [stars[0]]


def test_stacked_tensor_keeps_entries_and_refuses_above_the_budget_before_it_makes_anything():
    rng = np.random.default_rng(20)
    dim, r = 6, 4
    identity = [(s, None) for s in range(4)]
    B = rng.normal(size=(dim, r))
    # order 4: double hubs sum_ab A_ia C_ja M_ab B_kb B_lb that differ in the factors on hub a
    terms = [Term(w, [rng.normal(size=(dim, r)), rng.normal(size=(dim, r)), rng.normal(size=(r, r)), B, B],
                  [(0, 4), (1, 4), (4, 5), (2, 5), (3, 5)], identity) for w in (0.5, 1.5, -0.25)]
    tensor = FactoredTensor(4, dim, terms)
    fewer = tensor.stacked()
    assert len(fewer.terms) == 1
    assert relative(fewer.to_dense(), tensor.to_dense()) < 1e-12
    tuples = rng.integers(0, dim, size=(20, 4))
    assert relative(fewer.entries(tuples), tensor.entries(tuples)) < 1e-12
    with pytest.raises(MemoryBudgetError, match="stacked"):
        tensor.stacked(budget=100)


def _sharing_terms(order, dim, seed):
    """Terms that hold the same arrays joined in different ways: leg matrices on one internal index or two, a
    matrix between slots or between a slot and an internal index, with the slots in other orders."""
    rng = np.random.default_rng(seed)
    L, P, Q = (rng.normal(size=(dim, dim)) for _ in range(3))
    v, w = rng.normal(size=dim), rng.normal(size=dim)
    identity = [(s, None) for s in range(order)]
    rest = list(range(2, order))
    terms = [Term(0.6, [v], [(order,)], [(order, L)] * order),                              # sum_a v_a L_ia L_ja ...
             Term(-0.8, [v, w], [(order,), (order + 1,)], [(order, L), (order, L)] + [(order + 1, L)] * (order - 2)),
             Term(1.2, [P, Q] + [w] * len(rest), [(0, order), (order, 1)] + [(k,) for k in rest], identity),
             Term(0.4, [P, Q] + [w] * len(rest), [(order, 0), (1, order)] + [(k,) for k in rest], identity),
             Term(-0.5, [P, Q] + [v] * len(rest), [(0, order), (1, order)] + [(k,) for k in rest], identity)]
    # the rows of L at two slots multiplied, their internal index kept for a third leg or summed at once
    terms += [Term(0.9, [np.ones(dim)], [(order,)], [(order, L)] * order),
              Term(1.1, [w] * (order - 2), [(k,) for k in rest], [(order, L), (order, L)] + identity[2:])]
    for term in list(terms):       # the slots in reverse order
        terms.append(Term(0.3 * term.weight, term.factors, term.indices, term.legs[::-1]))
    return terms


def test_entries_take_rows_and_products_again_where_they_are_the_same(monkeypatch):
    """The values at sampled tuples are the same whether the rows and products made are kept for reuse -- between
    the orders of a term's slots and between terms (one ``EntrySteps`` for all), in a room large enough for all
    or for a few -- or not at all (no room), in one batch or several, every order of the slots in one contraction,
    a few at a time or one, for terms with leg matrices, tied slots and cycles and terms that hold the same arrays
    joined in different ways. Kept steps are taken again, and more often when the terms share them."""
    import symcorr.numeric.tensor_networks as tensor_networks

    for order, dim in ((3, 5), (4, 4)):
        terms = random_terms(order, dim, 18) + _sharing_terms(order, dim, 20)
        tuples = np.random.default_rng(19).integers(0, dim, size=(40, order))
        dense = dense_sum(terms, order, dim)[tuple(tuples.T)]
        default = tensor_networks.kept_elements(len(tuples), dim)
        # numbers gathered at once (from 1 << 18: every order at once; 7 rows: several batches, one order at a
        # time; 200 rows: five orders at a time where the arrays are N wide, one where they are wider), and the
        # numbers below which orders go together (0: never)
        few = 3 * len(tuples) * math.factorial(order) * dim        # room for three arrays of every order's rows
        for room, numbers, together_below in ((default, 1 << 18, 1 << 16), (0, 1 << 18, 1 << 16),
                                              (few, 1 << 18, 1 << 16), (default, 7 * dim, 1 << 16),
                                              (default, 200 * dim, 1 << 16), (default, 1 << 18, 0)):
            monkeypatch.setattr(tensor_networks, "ENTRY_NUMBERS", numbers)
            monkeypatch.setattr(tensor_networks, "ENTRY_ALONE", together_below)
            batch = (room, numbers, together_below)
            kept = tensor_networks.EntrySteps(tuples, dim, room)
            values = sum(tensor_networks.entries(term, tuples, kept) for term in terms)
            assert relative(values, dense) < 1e-12, (order, room, batch)
            assert (kept.hits > 0) == (room > 0), (order, room)
            assert kept.used <= room
            alone = [tensor_networks.EntrySteps(tuples, dim, room) for _ in terms]
            for term, steps in zip(terms, alone):
                tensor_networks.entries(term, tuples, steps)
            if room == default:
                assert kept.hits > sum(steps.hits for steps in alone), (order, batch)
        with pytest.raises(ValueError, match="other index tuples"):
            tensor_networks.entries(terms[0], tuples.copy(), tensor_networks.EntrySteps(tuples, dim))


@pytest.mark.parametrize("subscripts", ["cd,ae,be,de,da->abc", "ac,ad,bd,cd,cb->ab", "ab,ab,bc->ac", "aab,bc->ac",
                                        "abc,cd,ad->abd", "ab,cd->abcd", "ab,bc,ca->"])
def test_slice_contractions_along_the_path_equal_einsum(subscripts):
    """The contraction of a slice (``_contract``: opt_einsum's path, each pair of arrays one batched matrix product)
    equals ``numpy.einsum`` of the same subscripts: shared indices kept (a batch), summed, repeated within one array,
    held by one array alone, and outer products."""
    from symcorr.numeric.tensor_networks import _contract

    rng = np.random.default_rng(21)
    sizes = dict(zip("abcde", (5, 6, 7, 4, 3)))
    operands = [rng.normal(size=[sizes[c] if c != "a" or ix.count("a") == 1 else 5 for c in ix])
                for ix in subscripts.split("->")[0].split(",")]
    expected = np.einsum(subscripts, *operands)
    assert np.allclose(_contract(subscripts, operands), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ia, ib, needed", [("cbd", "adc", "ab"), ("dec", "aed", "abcd"), ("ab", "bc", "ac"),
                                            ("abc", "cd", "abd"), ("abcd", "bd", "abcd"), ("ab", "ab", "")])
def test_a_pairwise_product_equals_einsum_for_every_storage_order_of_its_operands(ia, ib, needed, monkeypatch):
    """``_pairwise`` passes an operand to BLAS as it is stored (a transposed view, not a copy) where its letters allow:
    every storage order of both operands (each a transposed view of a contiguous array, or a strided slice) gives
    ``numpy.einsum``'s values, and for the slice of a 4-cycle (``cbd``, ``adc`` -> ``ab``) one of the two, stored as
    it comes, is not copied."""
    from symcorr.numeric.tensor_networks import _pairwise, _reduced

    rng = np.random.default_rng(23)
    sizes = dict(zip("abcde", (5, 6, 7, 4, 3)))
    a_full = rng.normal(size=[sizes[c] for c in ia])
    b_full = rng.normal(size=[sizes[c] for c in ib])
    out = "".join(c for c in dict.fromkeys(ia + ib) if c in needed)
    expected = np.einsum(f"{ia},{ib}->{out}", a_full, b_full)
    for pa in itertools.permutations(range(len(ia))):
        for pb in itertools.permutations(range(len(ib))):
            a = np.transpose(np.ascontiguousarray(np.transpose(a_full, pa)), np.argsort(pa))
            b = np.transpose(np.ascontiguousarray(np.transpose(b_full, pb)), np.argsort(pb))
            values, letters = _pairwise(a, ia, b, ib, set(needed))
            assert np.allclose(_reduced(values, letters, out), expected, rtol=1e-12, atol=1e-12), (pa, pb)
    strided = np.zeros([2 * sizes[c] for c in ia])
    strided[tuple(slice(None, None, 2) for _ in ia)] = a_full
    values, letters = _pairwise(strided[tuple(slice(None, None, 2) for _ in ia)], ia, b_full, ib, set(needed))
    assert np.allclose(_reduced(values, letters, out), expected, rtol=1e-12, atol=1e-12)
    if (ia, ib) == ("cbd", "adc"):
        shared, matmul = [], np.matmul
        monkeypatch.setattr(np, "matmul", lambda x, y: shared.append(
            (np.shares_memory(x, a_full), np.shares_memory(y, b_full))) or matmul(x, y))
        _pairwise(a_full, ia, b_full, ib, set(needed))
        assert shared == [(False, True)]      # 'adc' read as (a, dc): no copy; 'cbd' is copied either way


@pytest.mark.parametrize("a_parts, b_parts, needed, cut", [
    (["db", "cb"], ["ad", "ac", "cd"], "ab", "summed"),      # the cyclic 'iijj' slice: two products, each N^3
    (["db", "cb"], ["ad", "ac", "cd"], "ab", None),          # ... with chunks summing too few: made whole
    (["ab", "ac"], ["ac", "bc"], "ab", "batch"),
    ([None, "da"], ["da", "bd"], "ab", "batch"),              # a plain array and a product
    (["ca", "ac"], [None, "bc"], "ab", None),                 # a product of the output's size: made whole
])
def test_a_product_made_in_chunks_equals_einsum(a_parts, b_parts, needed, cut, monkeypatch):
    """``_pairwise`` makes an elementwise product that a matrix product reads a chunk of one letter at a time
    (``_chunked_matmul``) when it is larger than ``PRODUCT_CHUNK`` and ``CHUNKED_RATIO`` times the result: with
    chunks of one value up to nearly the whole, cutting a batch or a summed letter, or made whole (a product of
    the result's size, or chunks that would sum fewer than ``MIN_SUMMED``), the values are ``numpy.einsum``'s and
    the letter cut is the one the case names."""
    from symcorr.numeric import tensor_networks
    from symcorr.numeric.tensor_networks import _pairwise, _Product, _reduced

    rng = np.random.default_rng(29)
    sizes = dict(zip("abcd", (5, 6, 7, 9)))

    def operand(parts):
        if parts[0] is None:
            return rng.normal(size=[sizes[c] for c in parts[1]]), parts[1], [parts[1]]
        arrays = [(rng.normal(size=[sizes[c] for c in ix]), ix) for ix in parts]
        return _Product(arrays), "".join(dict.fromkeys("".join(parts))), parts

    a, ia, sa = operand(a_parts)
    b, ib, sb = operand(b_parts)
    arrays = [x for x, _ in a.parts] if isinstance(a, _Product) else [a]
    arrays += [x for x, _ in b.parts] if isinstance(b, _Product) else [b]
    out = "".join(c for c in dict.fromkeys(ia + ib) if c in needed)
    expected = np.einsum(",".join(sa + sb) + "->" + out, *arrays)
    chunked, cuts = tensor_networks._chunked_matmul, []

    def recorded(*args):
        cuts.append(args[-2:])
        return chunked(*args)

    monkeypatch.setattr(tensor_networks, "_chunked_matmul", recorded)
    monkeypatch.setattr(tensor_networks, "MIN_SUMMED", 1 if a_parts[0] != "db" or cut else 10_000)
    made = max(x.size for x in (a, b) if isinstance(x, _Product))
    for chunk in (1, 7, made - 1):
        monkeypatch.setattr(tensor_networks, "PRODUCT_CHUNK", chunk)
        cuts.clear()
        values, letters = _pairwise(a, ia, b, ib, set(needed))
        assert np.allclose(_reduced(values, letters, out), expected, rtol=1e-12, atol=1e-12), chunk
        if cut is None:
            assert cuts == []
            continue
        ((letter, rows),) = cuts
        kind = "batch" if letter in ia and letter in ib and letter in needed else "summed"
        assert kind == cut and rows == max(1, chunk * sizes[letter] // made), (chunk, letter, rows)


def test_cached_slices_are_computed_once_per_pattern_under_any_letters():
    """A layer's blocks ask for 'iijj' and its split terms for 'iikk' (and 'ijij'): one contraction, the values of
    each request those of the tensor's own slice."""
    from symcorr.numeric.factored import CachedSlices

    rng = np.random.default_rng(14)
    tensor = RankOneSum(4, rng.normal(size=3), rng.normal(size=(5, 3)))
    calls = []
    contract = tensor.slice
    tensor.slice = lambda labels: calls.append(labels) or contract(labels)
    cached = CachedSlices(tensor)
    for labels in ("iijj", "iikk", "ijij", "jjii", "iijk", "jkii"):
        assert np.array_equal(cached.slice(labels), contract(labels)), labels
    assert calls == ["iijj", "iijk"]


@pytest.mark.parametrize("labels", ["iij", "iji", "ijj"])
def test_slice_orders_ending_on_one_array_are_multiplied_once(labels, monkeypatch):
    """Stars that share a leg array S (held as (slot, hub) by two terms, (hub, slot) by two): the orders whose
    contraction ends with S (the slot it holds gets the pattern's single letter) are summed before one product with
    S per storage order; the other orders are contracted one by one. The slice equals the dense sum either way."""
    from symcorr.numeric import tensor_networks

    rng = np.random.default_rng(5)
    dim = 6
    S = rng.normal(size=(dim, dim))
    terms = []
    for weight, held in ((0.7, (2, 3)), (-1.2, (2, 3)), (0.4, (3, 2)), (1.9, (3, 2))):
        terms.append(Term(weight, [rng.normal(size=(dim, dim)), rng.normal(size=(dim, dim)), S],
                          [(0, 3), (1, 3), held], [(s, None) for s in range(3)]))
    contracted = []
    slice_values = tensor_networks.slice_values
    monkeypatch.setattr(tensor_networks, "slice_values",
                        lambda term, word, scale=1.0: contracted.append(word) or slice_values(term, word, scale))
    values = FactoredTensor(3, dim, terms).slice(labels)
    assert relative(values, dense_slice(dense_sum(terms, 3, dim), labels)) < 1e-13
    assert len(contracted) == 4 * 2          # of 3 orders per term, the one ending on S is made in a group


@pytest.mark.parametrize("labels", ["iijj", "iijk", "iiij", "ijkl"])
def test_a_slice_split_at_its_cycles_diagonals_plus_the_networks_set_aside_is_the_exact_slice(labels, monkeypatch):
    """After a linear layer the path and hub terms hold internal matrices that a slice's repeated letters close into
    cycles (A_ia B_ja M_ab C_ib D_jb at 'ijij'). summed_slice with a list splits those networks at the internal
    matrices' diagonals (every one above SPLIT_COST N^3; lowered here, the widths being small; the 4-cycle term is
    split at every pattern) and sets the off-diagonal networks aside: contracted and added they give the exact
    slice, and at sampled entries they are the difference (the renamings of 'iijj', 'iijk' included)."""
    from symcorr.numeric import tensor_networks
    from symcorr.numeric.tensor_networks import add_off_diagonal, off_diagonal_at, split_network, summed_slice

    monkeypatch.setattr(tensor_networks, "SPLIT_COST", 1.0)
    monkeypatch.setattr(tensor_networks, "SPLIT_FLOPS", 0)
    dim = 7
    rng = np.random.default_rng(11)
    tensor = FactoredTensor(4, dim, random_terms(4, dim, seed=3)).linear(rng.normal(size=(dim, dim)))
    exact = dense_slice(dense_sum(tensor.terms, 4, dim), labels)
    off = []
    kept = summed_slice(tensor.terms, labels, dim, off)
    assert relative(summed_slice(tensor.terms, labels, dim), exact) < 1e-12
    assert off and relative(kept, exact) > 1e-3
    tuples = rng.integers(0, dim, size=(50, len(set(labels))))
    assert relative(off_diagonal_at(off, tuples), (exact - kept)[tuple(tuples.T)]) < 1e-12
    assert relative(add_off_diagonal(kept, off), exact) < 1e-12
    # every network set aside holds a matrix with a zero diagonal; what was kept costs no more than the bound
    for subscripts, operands, _, _ in off:
        assert any(o.ndim == 2 and o.shape[0] == o.shape[1] and not np.any(np.diagonal(o)) for o in operands)
    subscripts = "ia,ja,ab,ib,jb->ij"
    operands = [rng.normal(size=(dim, dim)) for _ in range(5)]
    whole, set_aside = split_network(subscripts, operands)
    assert [s for s, _ in whole] == ["ia,ja,ia,ja,a->ij"] and len(set_aside) == 1
    total = sum(np.einsum(s, *o) for s, o in whole + set_aside)
    assert relative(total, np.einsum(subscripts, *operands)) < 1e-12


def test_network_at_equals_the_contracted_network_at_those_entries():
    from symcorr.numeric.tensor_networks import network_at

    rng = np.random.default_rng(2)
    operands = [rng.normal(size=(5, 6)), rng.normal(size=(6, 6)), rng.normal(size=(5, 6)), rng.normal(size=(4, 6)),
                rng.normal(size=(6,))]
    subscripts = "ia,ab,jb,kb,a->ijk"
    positions = np.stack([rng.integers(0, 5, 40), rng.integers(0, 5, 40), rng.integers(0, 4, 40)], axis=1)
    full = np.einsum(subscripts, *operands)
    assert relative(network_at(subscripts, operands, positions), full[tuple(positions.T)]) < 1e-13
