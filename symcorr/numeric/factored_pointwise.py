r"""The output orders >= 3 of a pointwise layer in factored form (docs/theory.md section 12).

A factored module (:func:`symcorr.codegen.loader.load_factored`) lists, per output order
:math:`m`, the terms of the all-distinct formula (``TERMS_<m>``). :func:`output_terms` turns each
into networks (:class:`~symcorr.numeric.tensor_networks.Term`): the block functions evaluated once on the
input cumulants (orders 1..2 dense, higher ones through their slices), the input cumulants over
three or more neurons replaced by the input's own terms in every arrangement the term lists,
neurons shared between the pieces identified, and the result :func:`~symcorr.numeric.tensor_networks.simplified`.

:func:`factored_output` then separates the acyclic networks, kept as they are, from the cyclic ones
(:meth:`~symcorr.numeric.tensor_networks.Term.cyclic`), whose slices after a linear layer cost
:math:`O(N^4)` or more (docs/theory.md section 12.3). With ``tolerance=None`` the cyclic ones are kept
exactly as one dense symmetric block (their sum, :math:`N^m` memory, after a memory estimate). With a
``tolerance`` they are first split exactly at the diagonals of their neuron-neuron matrices
(:func:`~symcorr.numeric.tensor_networks.split_diagonals`): the parts where two neurons of a cycle coincide
become smaller acyclic networks, and only products of off-diagonal parts stay cyclic. At output order 3 a
term's blocks are split so before the input's terms enter (:func:`diagonal_parts`): its coincident parts
are then :math:`N^2` values from the inputs' symmetric slices, not a matrix product per input term. A layer
whose cyclic terms would make too many networks (products of several input cumulants of order >= 3, whose input terms
multiply: :func:`whole_terms`) takes its cyclic terms whole instead and splits them at the output's own
diagonals: where two of their neurons coincide they are kept exactly, as dense slices
(:func:`coincident_parts`), and their all-distinct parts are the candidates (with, where the layer would not fit its
budget otherwise, from order 4 on their parts on one pair of neurons: :math:`N^{m-1}` values, made only if kept);
cyclic diagonal corrections (terms on a
coarser pattern) that would make too many networks are kept whole, exactly, as their values on their pattern
(:func:`correction_parts`). Of those, the
smallest are dropped as long as the dropped part's estimated relative size stays within the
tolerance -- the Frobenius norm of the dropped part over that of the whole output tensor, estimated
from the values of every term at uniformly sampled index tuples
(:func:`~symcorr.numeric.tensor_networks.entries`), or at tuples sampled in strata of their number of distinct
neurons where parts on one pair of neurons are candidates (:func:`stratified_tuples`) -- and the rest is kept
exactly. What was dropped is
recorded (:class:`~symcorr.numeric.factored.Dropped`) and becomes a cause of the order's
``approximate`` status (:func:`symcorr.numeric.pointwise.pointwise`). A layer given a tolerance also reads the
slices of its factored input within it (:class:`SlicesWithinTolerance`): the off-diagonal parts of the cycles that
a slice's repeated letters close are dropped while their estimated relative size in the slice stays within it.
"""
from __future__ import annotations

import collections
import concurrent.futures
import itertools
import math
import os

import numpy as np

from symcorr.codegen.runtime.grid import OnDiagonal, in_row_windows
from symcorr.codegen.runtime.tuples import window_rows
from symcorr.numeric import shape_only, tensor_networks
from symcorr.numeric.budget import FLOAT, MemoryBudgetError, check_memory
from symcorr.numeric.cumulant_tensors import is_zero, mean_over_distinct, pattern_slice, zero_where_coincident
from symcorr.notation.partitions import integer_partitions, set_partitions
from symcorr.numeric.factored import CachedSlices, Dropped, FactoredTensor, normalized, terms_of
from symcorr.numeric.progress import report

_LETTERS = "ijklmnopqrstuvwxyz"

#: Index tuples sampled (uniformly) to estimate what a truncation drops.
SAMPLES = 256
#: The most networks one output order of one factored layer may hold (each a few Python objects: beyond
#: this, memory and time go to bookkeeping): acyclic terms that would make more are evaluated densely
#: (``dense_terms``), others refused with MemoryBudgetError.
MAX_NETWORKS = 20_000
#: The seed of those samples (the estimate is reproducible).
SAMPLE_SEED = 20260601
#: With a tolerance, the cyclic terms of a layer's formula are split into networks (docs/theory.md section 12.3)
#: while they make at most this many networks together; beyond it (products of several input cumulants of order
#: >= 3, whose input terms multiply) they are all taken whole: split at the output's own diagonals.
SPLIT_NETWORKS = 2000


class _Classes:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _network(weight: float, dense, embedded, order: int, fold_cache: dict,
             pattern: str | None = None) -> tensor_networks.Term:
    """The network of one term: ``dense`` blocks ``(array, labels)``, input terms ``embedded`` as
    ``(term, word)`` (slot ``t`` of the input term on neuron ``word[t]``), slot ``s`` on neuron ``_LETTERS[s]``,
    or on ``pattern[s]`` for a diagonal correction (:class:`~symcorr.codegen.runtime.factored.FactoredTerm`)."""
    letters = _LETTERS[:order]
    slots = letters if pattern is None else pattern
    classes = _Classes()
    factors, indices = [], []
    for array, labels in dense:
        factors.append(array)
        indices.append(tuple(letters.index(c) for c in labels))
    next_id = order
    for term, word in embedded:
        own = sorted(term.dims())
        mapping = {k: next_id + n for n, k in enumerate(own)}
        next_id += len(own)
        for t, (k, leg) in enumerate(term.legs):
            label = letters.index(word[t])
            if leg is None:
                classes.union(mapping[k], label)
            else:
                factors.append(leg)
                indices.append((label, mapping[k]))
        factors += term.factors
        indices += [tuple(mapping[k] for k in ix) for ix in term.indices]
        weight *= term.weight
    legs = [(classes.find(letters.index(c)), None) for c in slots]
    indices = [tuple(classes.find(k) for k in ix) for ix in indices]
    return tensor_networks.simplified(tensor_networks.Term(weight, factors, indices, legs), fold_cache)


def _working_arrays(function) -> int:
    """The arrays of its grid's size a block function holds at once (its module's ``BLOCK_ARRAYS``)."""
    return function.__globals__.get("BLOCK_ARRAYS", {}).get(function, 0)


def _block_rows(function, grid_size: int, dim: int) -> int:
    """The rows of the grid :func:`_block_values` evaluates ``function`` on at a time
    (:func:`~symcorr.codegen.runtime.tuples.window_rows`)."""
    return window_rows(dim, FLOAT * _working_arrays(function)) if grid_size == 2 else dim


def _block_working_bytes(function, grid_size: int, dim: int) -> int:
    """The bytes of the working arrays of one evaluation of ``function`` by :func:`_block_values` (a chunk's)."""
    return FLOAT * _working_arrays(function) * dim ** (grid_size - 1) * min(dim, _block_rows(function, grid_size, dim))


def _block_values(function, grid_size: int, dim: int, kappa, parameters, cache: dict) -> np.ndarray:
    """The values of a block function on its grid, evaluated once per layer (``cache``), with whether they vanish
    (``_vanishes``: asked for every term that holds the block); on two neurons a window of rows at a time
    (:func:`~symcorr.codegen.runtime.grid.in_row_windows`: the block is elementwise on its grid)."""
    if function not in cache:
        if grid_size == 2:
            values = in_row_windows(function, kappa, parameters, dim, _block_rows(function, grid_size, dim))
        else:
            values = np.asarray(function(kappa, *parameters), dtype=np.float64)
            values = np.ascontiguousarray(np.broadcast_to(values, (dim,) * grid_size))
        cache[function] = values
        cache[function, "vanishes"] = not np.any(values)
    return cache[function]


#: Blocks whose values are one number times another block's on the same grid (or its transpose, on two neurons) to
#: this many machine epsilons of their largest value are taken as that block (:func:`_shared_blocks`).
PROPORTIONAL_ULPS = 16
#: Entries of a block compared first (the rest only where these agree), at positions drawn once per width.
PROPORTIONAL_PROBES = 16


def _probe_positions(dim: int, grid_size: int, cache: dict) -> tuple:
    """:data:`PROPORTIONAL_PROBES` positions of a grid of ``grid_size`` neurons (a tuple of index arrays), the same for
    every block of the layer (``cache``)."""
    key = ("probes", grid_size)
    if key not in cache:
        rng = np.random.default_rng(SAMPLE_SEED)
        cache[key] = tuple(rng.integers(0, dim, PROPORTIONAL_PROBES) for _ in range(grid_size))
    return cache[key]


def _proportional(values: np.ndarray, other: np.ndarray, positions: tuple, transposed: bool) -> float | None:
    r"""``c`` with ``values`` :math:`= c\,` ``other`` (``other.T`` if ``transposed``) to :data:`PROPORTIONAL_ULPS`
    machine epsilons of the largest of ``values``, else ``None``: compared at ``positions`` first, then everywhere
    (a few rows at a time: no array of the grid's size is made)."""
    seen = other.T if transposed else other
    a, b = seen[positions], values[positions]
    if not np.any(a):
        return None
    c = float(np.dot(a, b) / np.dot(a, a))
    largest = float(np.max(np.abs(values)))
    tolerance = PROPORTIONAL_ULPS * np.finfo(np.float64).eps * largest
    if np.max(np.abs(b - c * a)) > tolerance:
        return None
    rows = max(1, (1 << 18) // values[0].size) if values.ndim == 2 else values.shape[0]
    for start in range(0, values.shape[0], rows):
        if np.max(np.abs(values[start:start + rows] - c * seen[start:start + rows])) > tolerance:
            return None
    return c


def _shared_blocks(spec, dense: list, cache: dict) -> tuple[list, float]:
    r"""``dense`` (``(array, labels)`` per block of ``spec``) with every block whose values are a number :math:`c`
    times those of a block met before on this layer (``cache``) -- on two neurons, or of its transpose -- replaced
    by that block's array (its labels reversed for the transpose), and the product of those numbers, which the
    term's weight takes. The formula's blocks are proportional where an input cumulant vanishes (of a zero-mean
    Gaussian input the quadratic's first layer has six blocks on two neurons, all multiples of :math:`\Sigma_{ij}`;
    its second has :math:`\kappa_{ijj} \propto \kappa_{iij}^\top`): one array then stands for them, so that the
    networks that hold it show their symmetries (:func:`~symcorr.numeric.tensor_networks.summed_slice` contracts one
    order of slots per class) and a linear layer folds it once. The values differ from the block's own by rounding
    (:data:`PROPORTIONAL_ULPS`)."""
    out, scale = [], 1.0
    for (function, _), (array, labels) in zip(spec.blocks, dense):
        key = ("shared", function)
        if key not in cache:
            cache[key] = _proportional_to_one_met(array, cache)
        shared, transposed, c = cache[key]
        out.append((shared, labels[::-1] if transposed else labels))
        scale *= c
    return out, scale


def _proportional_to_one_met(array: np.ndarray, cache: dict) -> tuple[np.ndarray, bool, float]:
    """``(earlier, transposed, c)`` for the first block met before on this layer (``cache``) that ``array`` is ``c``
    times (:func:`_proportional`), else ``(array, False, 1.0)``, ``array`` then met."""
    if array.ndim not in (1, 2) or not np.any(array):
        return array, False, 1.0
    positions = _probe_positions(array.shape[0], array.ndim, cache)
    met = cache.setdefault(("shared arrays", array.ndim), [])
    for earlier in met:
        for transposed in (False, True)[:array.ndim]:
            c = _proportional(array, earlier, positions, transposed)
            if c is not None:
                return earlier, transposed, c
    met.append(array)
    return array, False, 1.0


def _vanishes(function, cache: dict) -> bool:
    """Whether the block ``function``, evaluated into ``cache`` by :func:`_block_values`, is zero on these inputs."""
    return cache[function, "vanishes"]


def output_terms(module, order: int, kappa, parameters, dim: int, block_cache: dict | None = None,
                 cyclic: bool | None = False, fold_cache: dict | None = None, skipped=frozenset(),
                 blocks: dict | None = None, stand_in=None):
    """The networks of the acyclic terms (``cyclic=True``: the cyclic ones; ``None``: all) of output ``order`` of
    the factored ``module`` on the inputs ``kappa`` (orders ``1..closure``: arrays or protocol tensors), one
    at a time (a generator: a caller that sums them holds one at a time), but for the terms numbered in
    ``skipped``; ``fold_cache`` shares the steps of their simplification
    (:func:`~symcorr.numeric.tensor_networks.simplified`) between them (and the caller). ``blocks`` maps a
    term's number to the arrays its blocks take instead of their values (the off-diagonal rest of
    :func:`diagonal_parts`). ``stand_in`` maps every array the networks take (blocks, input terms' arrays) to
    what they take in its place (:func:`network_bytes`: arrays of shapes only)."""
    blocks = {} if blocks is None else blocks
    block_cache = {} if block_cache is None else block_cache
    fold_cache = {} if fold_cache is None else fold_cache
    for number, spec in enumerate(getattr(module, f"TERMS_{order}")):
        if (cyclic is not None and whole_cyclic(spec) != cyclic) or number in skipped:
            continue
        scalar = _scalar(spec, parameters)
        if scalar == 0:
            continue
        inputs = [terms_of(kappa[len(labels) - 1], len(labels)) if len(labels) <= len(kappa) else []
                  for labels in spec.cumulants]
        if any(not held for held in inputs):
            continue                             # an input cumulant that is zero (or not held)
        dense = _dense_blocks(spec, dim, kappa, parameters, block_cache, blocks.get(number))
        if any(_vanishes(function, block_cache) for function, _ in spec.blocks):
            continue                             # a block that vanishes on these inputs (e.g. odd moments)
        if number not in blocks and stand_in is None:
            dense, proportion = _shared_blocks(spec, dense, block_cache)
            scalar *= proportion
        if stand_in is not None:
            dense = [(stand_in(array), labels) for array, labels in dense]
            inputs = [[_term_of_stand_ins(term, stand_in) for term in held] for held in inputs]
        for (choice, words), weight in _arrangements(spec, inputs).items():
            embedded = [(inputs[b][choice[b]], word) for b, word in enumerate(words)]
            yield _network(scalar * weight, dense, embedded, order, fold_cache, spec.pattern)


def _term_of_stand_ins(term: tensor_networks.Term, stand_in) -> tensor_networks.Term:
    """``term`` with every array replaced by ``stand_in(array)``."""
    return tensor_networks.Term(term.weight, [stand_in(f) for f in term.factors], term.indices,
                                [(k, None if leg is None else stand_in(leg)) for k, leg in term.legs], term.symmetric)


def _arrangements(spec, inputs) -> dict:
    """The networks one term of the formula makes on the input terms ``inputs`` (per input cumulant it multiplies,
    the terms held), as ``{(choice, words): weight}``: per arrangement of its slots and choice of one term of each
    input; a symmetric input term gives the same network in every arrangement, so its arrangements are one word
    with their weights summed."""
    combined: dict = {}
    for words, weight in spec.arrangements:
        for choice in itertools.product(*(range(len(held)) for held in inputs)):
            key = (choice, tuple(labels if inputs[b][choice[b]].symmetric else word
                                 for b, (labels, word) in enumerate(zip(spec.cumulants, words))))
            combined[key] = combined.get(key, 0.0) + float(weight)
    return combined


def _network_count(spec, inputs) -> int:
    """``len(_arrangements(spec, inputs))`` without making them: per set of the input cumulants whose chosen term is
    not symmetric, the choices of that kind times the distinct words the arrangements give those inputs (the other
    inputs' words are their labels)."""
    symmetric = [sum(term.symmetric for term in held) for held in inputs]
    total = 0
    for asymmetric in itertools.product((False, True), repeat=len(inputs)):
        choices = math.prod(len(held) - symmetric[b] if kind else symmetric[b]
                            for b, (held, kind) in enumerate(zip(inputs, asymmetric)))
        if choices:
            total += choices * len({tuple(word for word, kind in zip(words, asymmetric) if kind)
                                    for words, _ in spec.arrangements})
    return total


def whole_cyclic(spec) -> bool:
    """Whether ``spec`` is a cyclic term of the all-distinct formula: the terms a layer may evaluate whole, as the
    formula's own product over every index tuple, or split at its blocks' diagonals before the inputs' terms
    enter. A cyclic diagonal correction (a term on a coarser pattern) is built as networks, like the acyclic ones,
    and its cyclic networks are treated as they come."""
    return spec.cyclic and spec.pattern is None


def heavy(term: tensor_networks.Term, order: int) -> bool:
    """Whether ``term`` holds a factor over ``order`` or more indices (an array as large as the dense tensor)."""
    return any(f.ndim >= order for f in term.factors)


def factored_remedy(tolerance, kappa, dim: int) -> str:
    """The remedy a factored layer names when it is refused on its memory estimate. Without a tolerance: one. With
    one, a larger tolerance does not shrink what this layer's estimate counts, except through its inputs: a dense
    term of a factored input (the cyclic terms an earlier factored layer kept above the tolerance, summed into one
    array of the dense tensor's size) is counted with every network that reads it, and a larger tolerance lets the
    earlier layers drop those terms (quadratic, depth 4, width 64, closure 4: refused at the third pointwise layer
    on 104.8 GiB with the tolerance 0.2, 18 s in all with 0.99)."""
    if tolerance is None:
        return ("a tolerance (tolerance=...: cyclic terms within it are dropped, their size stated), a lower order, "
                "or fewer neurons")
    inner = [tensor.tensor if isinstance(tensor, CachedSlices) else tensor for tensor in kappa]
    counts = {n: sum(heavy(term, n) for term in tensor.terms) for n, tensor in enumerate(inner, start=1)
              if isinstance(tensor, FactoredTensor)}
    dense = {n: count for n, count in counts.items() if count}
    if not dense:
        return ("a lower order (closure), or fewer neurons (a larger tolerance would not help: what this estimate "
                "counts is kept at any tolerance)")
    held = ", ".join(f"{count} of order {n} ({dim}^{n} numbers)" for n, count in sorted(dense.items()))
    return (f"a larger tolerance (the inputs hold dense terms, {held}, which this estimate counts with every network "
            "that reads them: the cyclic terms an earlier factored layer kept above its tolerance; with a larger one "
            "it drops more of them), a lower order (closure), or fewer neurons")


def _scalar(spec, parameters) -> float:
    return spec.scalar(*parameters) if callable(spec.scalar) else float(spec.scalar)


def _dense_blocks(spec, dim: int, kappa, parameters, cache: dict, arrays=None) -> list:
    """``(array, labels)`` per block of ``spec``: its values (evaluated into ``cache``), or ``arrays`` in their
    place (the off-diagonal rest of :func:`diagonal_parts`)."""
    dense = [(_block_values(function, len(set(labels)), dim, kappa, parameters, cache), labels)
             for function, labels in spec.blocks]
    return dense if arrays is None else [(array, labels) for array, (_, labels) in zip(arrays, dense)]


def _held(kappa, n: int):
    return kappa[n - 1] if n <= len(kappa) else None


def spec_factors(spec, word: str, kappa, parameters, dim: int, block_cache: dict, blocks=None):
    r"""The factors of the unsymmetrized :math:`X` of one generated term at the slot letters ``word`` (``'iiii'``:
    its diagonal; ``'ijk'``: every entry): ``(scalar, operands, subscripts)``, its blocks (or the arrays ``blocks``
    in their place) and the input cumulants' slices at the mapped labels (an input's own slice, :math:`N^d` for
    :math:`d` distinct labels), each over its letters among ``word``'s; ``None`` when an input or a block it needs
    is zero. :func:`summed_products` multiplies them out."""
    letters = _LETTERS[:len(word)]
    mapped = {c: word[s] for s, c in enumerate(letters)}
    inputs = [_held(kappa, len(labels)) for labels in spec.cumulants]
    if any(tensor is None or is_zero(tensor) for tensor in inputs):
        return None                 # known before its blocks are evaluated
    operands, subscripts = [], []
    # blocks of one neuron first: one that vanishes spares evaluating the grids of the others
    for position in sorted(range(len(spec.blocks)), key=lambda p: len(set(spec.blocks[p][1]))):
        function, labels = spec.blocks[position]
        array = _block_values(function, len(set(labels)), dim, kappa, parameters, block_cache)
        if _vanishes(function, block_cache):
            return None
        operands.append(array if blocks is None else blocks[position])
        subscripts.append("".join(mapped[c] for c in labels))
    for labels, tensor in zip(spec.cumulants, inputs):
        target = "".join(mapped[c] for c in labels)
        operands.append(pattern_slice(tensor, target))
        subscripts.append("".join(sorted(set(target))))
    return _scalar(spec, parameters), operands, subscripts


def _held_factors(specs, word: str, kappa, parameters, dim: int, block_cache: dict) -> list:
    """:func:`spec_factors` of each of ``specs`` at ``word``, those that are zero left out."""
    factors = (spec_factors(spec, word, kappa, parameters, dim, block_cache) for spec in specs)
    return [f for f in factors if f is not None]


def spec_values(spec, word: str, kappa, parameters, dim: int, block_cache: dict,
                add_to: np.ndarray | None = None, blocks=None) -> np.ndarray | None:
    r"""The unsymmetrized :math:`X` of one generated term at the slot letters ``word``, over the sorted distinct
    letters: the product of its factors (:func:`spec_factors`). ``None`` when an input or a block it needs is zero.
    With ``add_to``, :math:`X` is added to it in place and ``add_to`` is returned (unchanged when :math:`X` is
    zero)."""
    factors = spec_factors(spec, word, kappa, parameters, dim, block_cache, blocks)
    if factors is None:
        return add_to
    return summed_products([factors], "".join(sorted(set(word))), dim, add_to)


#: Elements of the output that :func:`summed_products` makes at a time (2 MB: a chunk and its products stay in
#: the cache while every product is added to it).
SUMMED_CHUNK = 1 << 18
#: Threads that :func:`summed_products` shares its chunks between: the processors this process may use, at most 4.
THREADS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def summed_products(products, output: str, dim: int, add_to: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\sum_t s_t \prod_f A^{(t)}_f` over the axes ``output`` (``dim`` each), for ``products`` of
    ``(scalar, operands, subscripts)`` (:func:`spec_factors`), or that added to ``add_to`` in place. It is made in
    chunks of the first axis of :data:`SUMMED_CHUNK` elements, every product added to a chunk before the next:
    a chunk stays in the cache, where one product over the whole output went to memory and back per operand (the
    products of a cubic layer's coincident parts at N = 256, :math:`N^3` each: 0.48 s for a product of three
    matrices over the whole output, 0.05 s chunk by chunk). Within a chunk the operands smaller than it are
    multiplied first. The chunks are shared between :data:`THREADS` threads (NumPy's elementwise products run
    without the interpreter lock; each chunk is written by one thread): the coincident parts of a cubic
    closure-4 network of width 256 took 8.2 s with two threads, 13.8 s with one."""
    shape = (dim,) * len(output)
    out = np.zeros(shape) if add_to is None else add_to
    products = [(np.float64(scalar), [tensor_networks.broadcast(array, letters, output)
                                      for array, letters in zip(operands, subscripts)])
                for scalar, operands, subscripts in products]
    if not output:
        for scalar, views in products:
            out += scalar * math.prod(views, start=np.float64(1.0))
        return out
    rows = max(1, SUMMED_CHUNK // max(1, dim ** (len(output) - 1)))

    def chunk(start: int) -> None:
        part = slice(start, min(start + rows, dim))
        target = out[part]
        work = np.empty(target.shape)
        for scalar, views in products:
            views = sorted((v[part] if v.shape[0] != 1 else v for v in views), key=np.size)
            largest = views.pop() if views else np.ones((1,) * len(output))
            small, rest = scalar, []
            for view in views:          # the small ones multiplied while smaller than the chunk, the rest in place
                if math.prod(np.broadcast_shapes(np.shape(small), view.shape)) < target.size:
                    small = small * view
                else:
                    rest.append(view)
            np.multiply(largest, small, out=work)
            for view in rest:
                np.multiply(work, view, out=work)
            target += work

    starts = range(0, dim, rows)
    if len(starts) > 1 and THREADS > 1:
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(chunk, starts))
    else:
        for start in starts:
            chunk(start)
    return out


def summed_working_bytes(letters: int, dim: int) -> int:
    """The bytes of the working arrays of :func:`summed_products` over ``letters`` axes: two per thread, each a
    chunk (:data:`SUMMED_CHUNK` elements, or one row of the first axis when that is larger)."""
    return FLOAT * 2 * THREADS * min(dim ** letters, max(SUMMED_CHUNK, dim ** (letters - 1)))


def spec_entries(spec, tuples: np.ndarray, kappa, parameters, dim: int, block_cache: dict,
                 inputs_at: dict) -> np.ndarray | None:
    r""":math:`\operatorname{Sym}(X)` of one generated term at the index tuples ``tuples`` (shape ``(M, m)``): the
    average over the :math:`m!` orders of the slots of its scalar times its blocks and its input cumulants at
    the tuples' entries. The inputs are symmetric, so their values depend only on which columns they read:
    computed once per input order and set of columns (``inputs_at``, shared between the terms of a layer)
    from the input's terms (:func:`~symcorr.numeric.tensor_networks.entries`). ``None`` when an input or a
    block it needs is zero."""
    blocks = _dense_blocks(spec, dim, kappa, parameters, block_cache)
    if any(_vanishes(function, block_cache) for function, _ in spec.blocks):
        return None
    if any(len(labels) > len(kappa) or is_zero(kappa[len(labels) - 1]) for labels in spec.cumulants):
        return None
    order = tuples.shape[1]
    letters = _LETTERS[:order]
    orders = list(itertools.permutations(range(order)))
    scalar, total = _scalar(spec, parameters), np.zeros(len(tuples))
    for slots in orders:
        column = {c: slots[s] for s, c in enumerate(letters)}     # letter -> the tuples' column it reads
        values = np.full(len(tuples), scalar)
        for array, labels in blocks:
            values = values * array[tuple(tuples[:, column[c]] for c in labels)]
        for labels in spec.cumulants:
            key = (len(labels), tuple(sorted(column[c] for c in labels)))
            if key not in inputs_at:
                at, held = tuples[:, list(key[1])], terms_of(kappa[key[0] - 1], key[0])
                inputs_at[key] = tensor_networks.summed_entries(held, at, dim)
            values = values * inputs_at[key]
        total += values
    return total / len(orders)


def diagonal_parts(spec, order: int, kappa, parameters, dim: int, block_cache: dict,
                   off_diagonal: dict | None = None):
    r"""A cyclic term :math:`X` of output order 3 that multiplies input cumulants of order >= 3, split exactly at
    the diagonals of its blocks over two neurons before the inputs' terms enter (docs/theory.md section 12.3):
    with :math:`B_{ab} = \operatorname{diag}(B) + O`, the part where :math:`a = b` is :math:`X` on that pattern,
    :math:`N^2` values (:func:`spec_values`) from the inputs' symmetric slices -- which the layer's blocks read
    anyway -- instead of one matrix product per input term and arrangement; the rest is :math:`X` with :math:`O`
    in the block's place, and the next block is split in it. Returns ``(parts, blocks)``: the parts where
    neurons coincide as terms of one factor, and the arrays the rest's blocks take (``None``: nothing split);
    the off-diagonal arrays made are marked in ``off_diagonal`` (id -> array, as for
    :func:`~symcorr.numeric.tensor_networks.split_diagonals`, which then does not split them again). Higher output
    orders are left to :func:`~symcorr.numeric.tensor_networks.split_diagonals`: their parts hold
    :math:`N^{m-1}` values."""
    letters = _LETTERS[:order]
    pairs = _split_pairs(spec, order, kappa, parameters, dim, block_cache)
    if not pairs:
        return [], None
    arrays = [array for array, _ in _dense_blocks(spec, dim, kappa, parameters, block_cache)]
    parts = []
    for position in pairs:
        a, b = spec.blocks[position][1]     # on a cycle: the inputs' cumulants (three or more neurons) hold both
        word = letters.replace(b, a)
        values = spec_values(spec, word, kappa, parameters, dim, block_cache, blocks=arrays)
        if values is not None and np.any(values):
            distinct = "".join(sorted(set(word)))
            parts.append(tensor_networks.Term(1.0, [values], [tuple(range(len(distinct)))],
                                              [(distinct.index(c), None) for c in word]))
        arrays[position] = off = np.array(arrays[position])
        np.fill_diagonal(off, 0.0)
        if off_diagonal is not None:
            off_diagonal[id(off)] = off
    return parts, arrays


def _split_pairs(spec, order: int, kappa, parameters, dim: int, block_cache: dict) -> list[int]:
    """The positions of the blocks over two neurons at whose diagonals :func:`diagonal_parts` splits ``spec`` (none:
    it is not split there)."""
    pairs = [position for position, (_, labels) in enumerate(spec.blocks) if len(set(labels)) == 2]
    if order != 3 or not whole_cyclic(spec) or not spec.cumulants or not pairs or _scalar(spec, parameters) == 0:
        return []
    if any(len(labels) > len(kappa) or is_zero(kappa[len(labels) - 1]) for labels in spec.cumulants):
        return []
    _dense_blocks(spec, dim, kappa, parameters, block_cache)
    if any(_vanishes(function, block_cache) for function, _ in spec.blocks):
        return []
    return pairs


def network_bytes(module, order: int, kappa, parameters, dim: int, tolerance: float | None, block_cache: dict,
                  taken=frozenset()) -> int:
    r"""The bytes of the arrays that the networks of output ``order`` of :func:`factored_output` make -- built,
    split at their diagonals, merged -- counted by making them with
    :class:`~symcorr.numeric.shape_only.ShapeOnly` stand-ins of the blocks and the inputs' arrays: the same
    networks and steps, shared alike between networks (by identity), without values. Every array made counts,
    whether or not it is still held at the peak: a bound from above. ``taken``: the terms the layer takes whole
    (:func:`whole_terms`, :func:`whole_corrections`), whose parts are not networks. With a tolerance, a term split
    at its blocks' diagonals (:func:`diagonal_parts`) counts an off-diagonal copy and a part of :math:`N^2` values
    per block so split. More than ``MAX_NETWORKS`` networks are refused here, as the layer would refuse
    them."""
    ledger = shape_only.Ledger()
    marks, rests = {}, {}
    if tolerance is not None:
        for number, spec in enumerate(getattr(module, f"TERMS_{order}")):
            pairs = [] if number in taken else _split_pairs(spec, order, kappa, parameters, dim, block_cache)
            if not pairs:
                continue
            arrays = [ledger.stand_in(array) for array, _ in _dense_blocks(spec, dim, kappa, parameters, block_cache)]
            for position in pairs:
                ledger.made((dim, dim))                 # the part where the pair's neurons coincide
                arrays[position] = off = arrays[position].copy()
                marks[id(off)] = off
            rests[number] = arrays
    steps: dict = {}
    kept = []
    for term in output_terms(module, order, kappa, parameters, dim, block_cache,
                             cyclic=None if tolerance is not None else False, fold_cache=steps, skipped=taken,
                             blocks=rests, stand_in=ledger.stand_in):
        if tolerance is not None and term.cyclic():
            pieces, left = tensor_networks.split_diagonals(term, marks, steps)
            kept += pieces + left
        elif tolerance is not None or not (term.cyclic() or heavy(term, order)):
            kept.append(term)                           # (exactly, the others are summed into the dense block)
        _check_networks(len(kept), order, dim)          # as the layer would, before making as many
    tensor_networks.merged(kept)
    return ledger.bytes


def whole_terms(module, order: int, kappa, parameters, dim: int, block_cache: dict) -> frozenset:
    """The numbers of the cyclic terms of output ``order`` that :func:`factored_output` takes whole (with a
    tolerance), not as networks: all of them if the networks they would make (per term its arrangements times
    the terms of each input it multiplies) number more than :data:`SPLIT_NETWORKS`, else none."""
    return _taken_whole(_network_counts(module, order, kappa, parameters, dim, block_cache, whole_cyclic))


def dense_terms(module, order: int, kappa, parameters, dim: int, block_cache: dict) -> frozenset:
    """The numbers of the acyclic terms of output ``order`` that :func:`factored_output` evaluates whole, exactly,
    where their networks (per term the networks :func:`output_terms` makes of it, ``_network_count``) would
    number more than ``MAX_NETWORKS``, the layer's limit, on these (already stacked) inputs: every acyclic term,
    those of the all-distinct formula into the dense block (the formula's own product over every index tuple, as its
    cyclic terms), the diagonal corrections as their values on their patterns (:func:`correction_parts`); else none.
    The output order is then held densely, :math:`N^m` numbers after a memory estimate -- what the dense
    representation holds -- instead of refused: erf's fourth layer at closure 4, whose input holds 1,101 stacked
    terms of order 4 (docs/theory.md section 12.2). With a tolerance its cyclic terms are still dropped within it
    (their size measured against the whole, these terms' values at the sampled tuples included)."""
    counts = _network_counts(module, order, kappa, parameters, dim, block_cache, lambda spec: not spec.cyclic,
                             lambda spec, held: _network_count(spec, [held[len(labels)] for labels in spec.cumulants]))
    return _taken_whole(counts, MAX_NETWORKS)


def cyclic_correction(spec) -> bool:
    """Whether ``spec`` is a cyclic diagonal correction: a term on a coarser pattern whose blocks form a cycle."""
    return spec.cyclic and spec.pattern is not None


def whole_corrections(module, order: int, kappa, parameters, dim: int, block_cache: dict) -> frozenset:
    """The numbers of the cyclic diagonal corrections of output ``order`` that :func:`factored_output` takes whole
    (:func:`correction_parts`: exactly), not as networks split at their diagonals (with a tolerance) or summed into
    the dense block one at a time (without): all of them if the networks they would make number more than
    :data:`SPLIT_NETWORKS` (ReLU's second factored layer at closure 4: 4600, split into 19,000; erf's third at
    closure 4: 2.0 million), else none."""
    return _taken_whole(_network_counts(module, order, kappa, parameters, dim, block_cache, cyclic_correction))


def _network_counts(module, order: int, kappa, parameters, dim: int, block_cache: dict, kind,
                    made=None) -> list:
    """``(networks, number)`` of the terms of output ``order`` of the ``kind`` asked for that make networks on
    these inputs (``made(spec, held)``, by default :func:`_networks_made`; a zero scalar or a vanishing block makes
    none)."""
    held, counts = _held_terms(kappa), []
    made = _networks_made if made is None else made
    for number, spec in enumerate(getattr(module, f"TERMS_{order}")):
        count = made(spec, held)
        if not kind(spec) or not count or _scalar(spec, parameters) == 0:
            continue
        _dense_blocks(spec, dim, kappa, parameters, block_cache)
        if any(_vanishes(function, block_cache) for function, _ in spec.blocks):
            continue
        counts.append((count, number))
    return counts


def stacked_inputs(module, order: int, kappa, parameters, budget=None) -> tuple:
    r"""``kappa`` with the terms of its factored tensors stacked (``FactoredTensor.stacked``: exact, terms that
    are one network but for arrays held at one summed index made one) where the acyclic terms of an output order
    :math:`3..`\ ``order`` would make more than ``MAX_NETWORKS`` networks on them as they are (the layer refuses
    beyond it), else ``kappa`` itself: erf's third layer at closure 4, whose input of order 4 holds 148 terms (37
    stacked; docs/theory.md sections 12.2-12.3). Not otherwise: a stacked index repeats the arrays it does not vary
    (the leg matrices among them) once per term."""
    held = _held_terms(kappa)
    count = max(sum(_networks_made(spec, held) for spec in getattr(module, f"TERMS_{m}")
                    if not whole_cyclic(spec) and _scalar(spec, parameters) != 0) for m in range(3, order + 1))
    if count <= MAX_NETWORKS:
        return kappa
    report("stacking the inputs' terms")
    return tuple(tensor.stacked(budget) if isinstance(tensor, FactoredTensor) else tensor for tensor in kappa)


def _networks_made(spec, held) -> int:
    """The networks one term of the formula makes (:func:`output_terms`): its arrangements times the terms of each
    input it multiplies (``held``: :func:`_held_terms`)."""
    return len(spec.arrangements) * math.prod(len(held[len(labels)]) for labels in spec.cumulants)


def _taken_whole(counts, limit: int | None = None) -> frozenset:
    """Of ``(networks, number)`` pairs, every number if together they make more than ``limit`` (by default
    :data:`SPLIT_NETWORKS`) networks, else none."""
    limit = SPLIT_NETWORKS if limit is None else limit
    return frozenset(number for _, number in counts) if sum(c for c, _ in counts) > limit else frozenset()


def coincident_parts(specs, order: int, kappa, parameters, dim: int, block_cache: dict,
                     blocks=None) -> tensor_networks.SingleSum:
    r"""The part of the generated terms :math:`X_t` (``specs``) where two or more of their slots are on one neuron,
    exactly, as terms of one factor: per set partition of the slots with a block of two or more,
    :math:`\sum_t X_t` at that pattern (:func:`spec_values`, :math:`N^{b}` for :math:`b` blocks) with the entries
    where neurons of different blocks coincide set to zero (they belong to a coarser partition). The parts are
    disjoint and sum to :math:`\sum_t X_t` off its all-distinct entries (docs/theory.md section 12.3). Their
    :math:`\operatorname{Sym}` is the same in every order of the slots, so the partitions of one shape (``'iijk'``,
    ``'ijik'``, ...) are summed into one array in place (:meth:`~symcorr.numeric.tensor_networks.SingleSum.summand`):
    one array per shape is made, not one per partition and a copy of it. With ``blocks``, only the partitions of
    that many blocks (a collection of numbers) are made."""
    letters = _LETTERS[:order]
    parts = tensor_networks.SingleSum()
    for partition in set_partitions(order):
        if len(partition) == order or (blocks is not None and len(partition) not in blocks):
            continue
        word = [""] * order
        for b, block in enumerate(partition):
            for s in block:
                word[s] = letters[b]
        factors = _held_factors(specs, "".join(word), kappa, parameters, dim, block_cache)
        if factors:
            total, axes = parts.summand("".join(word), dim)
            summed_products(factors, axes, dim, add_to=total)
    for total in parts.sums.values():
        zero_where_coincident(total)    # (a property of the shape: the same in every order of its axes)
    return parts


def correction_parts(specs, order: int, kappa, parameters, dim: int, block_cache: dict,
                     into: tensor_networks.SingleSum) -> None:
    r"""The diagonal corrections ``specs`` (terms on a coarser pattern: slot :math:`s` on neuron ``pattern[s]``) added
    to ``into`` as terms of one factor, exactly: per pattern the sum of their values over its distinct neurons
    (:func:`spec_values` with every label its own neuron, :math:`N^{d}` for :math:`d` distinct letters), the same sum
    as their networks', entries where those neurons coincide included, added in place
    (:meth:`~symcorr.numeric.tensor_networks.SingleSum.summand`)."""
    by_pattern = collections.defaultdict(list)
    for spec in specs:
        by_pattern[spec.pattern].append(spec)
    for pattern, group in by_pattern.items():
        factors = _held_factors(group, _LETTERS[:order], kappa, parameters, dim, block_cache)
        if factors:
            total, axes = into.summand(pattern, dim)
            summed_products(factors, axes, dim, add_to=total)


def coincident_bytes(kappa, order: int, dim: int, blocks: int) -> int:
    r"""The bytes that the parts of output ``order`` on coincident neurons take to make (:func:`coincident_parts`,
    :func:`correction_parts`) on the partitions of at most ``blocks`` blocks: one array per shape of the slots,
    :math:`N^b` for :math:`b` blocks, the working chunks of :func:`summed_products`, and a slice of :math:`N^{blocks}`
    of each input of order >= 3 that is not zero (the terms' factors read no slice of a zero input:
    :func:`spec_factors`)."""
    inputs = sum(not is_zero(tensor) for tensor in kappa[2:])
    shapes = [shape for shape in integer_partitions(order) if len(shape) <= blocks]
    return (FLOAT * (sum(dim ** len(shape) for shape in shapes) + inputs * dim ** blocks)
            + summed_working_bytes(blocks, dim))


def sampled_tuples(dim: int, order: int, count: int = SAMPLES, seed: int = SAMPLE_SEED) -> np.ndarray:
    """``count`` index tuples drawn uniformly from all :math:`N^m` (fixed seed): mean squares over them estimate
    the Frobenius norm of the whole tensor without bias."""
    return np.random.default_rng(seed).integers(0, dim, size=(count, order))


def _distinct_values(dim: int, count: int, letters: int, seed: int) -> np.ndarray:
    """Uniform rows of ``letters`` distinct neurons of ``dim`` (``count`` of them)."""
    rng, values = np.random.default_rng(seed), np.empty((0, letters), dtype=np.int64)
    while len(values) < count:
        drawn = rng.integers(0, dim, size=(2 * count, letters))
        ordered = np.sort(drawn, axis=1)
        values = np.concatenate([values, drawn[np.all(ordered[:, 1:] != ordered[:, :-1], axis=1)]])
    return values[:count]


def stratified_tuples(dim: int, order: int, count: int = SAMPLES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Index tuples in strata by their number :math:`b` of distinct neurons, ``count`` in each (fixed seeds): per
    tuple a set partition of the slots into :math:`b` blocks drawn uniformly, then :math:`b` distinct neurons, so
    uniform over the :math:`S(m, b)\, N(N-1)\cdots(N-b+1)` entries of the stratum (:math:`S`: Stirling numbers of
    the second kind; none for :math:`b > N`). Returns ``(tuples, weights, strata)``: the weight of a tuple is
    :math:`\sqrt{|S_b| / n}` for its stratum, so that the norm of weighted values estimates the Frobenius norm of
    the whole tensor without bias, :math:`\lVert T \rVert^2 = \sum_b |S_b|\, \mathrm{mean}_{S_b} T^2`, with the
    coincident entries -- :math:`O(m^2/N)` of all, and at the layers' diagonals the largest -- sampled as well as
    the all-distinct ones (docs/theory.md section 12.3)."""
    by_blocks = collections.defaultdict(list)
    for partition in set_partitions(order):
        by_blocks[len(partition)].append(partition)
    parts, weights, strata = [], [], []
    for b, partitions in sorted(by_blocks.items()):
        if b > dim:
            continue
        which = np.random.default_rng(SAMPLE_SEED + 10 * b).integers(0, len(partitions), size=count)
        values = _distinct_values(dim, count, b, SAMPLE_SEED + 10 * b + 1)
        tuples = np.empty((count, order), dtype=np.int64)
        for p, partition in enumerate(partitions):
            rows = which == p
            for block, slots in enumerate(partition):
                tuples[np.ix_(rows, slots)] = values[rows, block][:, None]
        parts.append(tuples)
        weights.append(np.full(count, math.sqrt(len(partitions) * math.perm(dim, b) / count)))
        strata.append(np.full(count, b))
    return np.concatenate(parts), np.concatenate(weights), np.concatenate(strata)


#: Resamples of the sampled tuples behind the standard error of a truncation's estimated size.
BOOTSTRAP = 200


def bootstrap_error(part: np.ndarray, whole: np.ndarray, resamples: int = BOOTSTRAP,
                    strata: np.ndarray | None = None) -> float:
    r"""The standard error of :math:`\lVert part \rVert / \lVert whole \rVert` estimated from the values of both at
    the same sampled tuples: the spread of the ratio over ``resamples`` bootstrap resamples of the tuples (fixed
    seed), each stratum resampled within itself (``strata``: the stratum of each tuple, :func:`stratified_tuples`;
    the values weighted already). With heavy-tailed entries it understates the spread (measured with 256 samples:
    0.9 of it for entries that are products of two Gaussians, 0.7 for products of three)."""
    rng = np.random.default_rng(SAMPLE_SEED + 1)
    if strata is None:
        picks = rng.integers(0, len(whole), size=(resamples, len(whole)))
    else:
        picks = np.concatenate([rng.choice(np.flatnonzero(strata == s), size=(resamples, np.sum(strata == s)))
                                for s in np.unique(strata)], axis=1)
    numerator = np.sqrt(np.sum(part[picks] ** 2, axis=1))
    denominator = np.sqrt(np.sum(whole[picks] ** 2, axis=1))
    ratios = numerator / np.where(denominator > 0, denominator, np.inf)
    return float(np.std(ratios, ddof=1))


class _OnOnePair:
    """The part of a term taken whole (``spec``) on the entries where exactly one pair of slots is on one neuron,
    a candidate for dropping (:func:`factored_output`)."""

    def __init__(self, spec):
        self.spec = spec


def _symmetrized(total: np.ndarray) -> np.ndarray:
    permutations = list(itertools.permutations(range(total.ndim)))
    out = total.transpose(permutations[0]).copy()
    for p in permutations[1:]:
        out += total.transpose(p)
    return out / len(permutations)


def _dense_term(values: np.ndarray) -> tensor_networks.Term:
    order = values.ndim
    return tensor_networks.Term(1.0, [values], [tuple(range(order))], [(s, None) for s in range(order)], symmetric=True)


def factored_output(module, order: int, kappa, parameters, dim: int, tolerance: float | None = None,
                    budget=None, block_cache: dict | None = None, pairs_as_candidates: bool = False) -> FactoredTensor:
    """Output ``order`` of the factored ``module`` as a :class:`FactoredTensor` (module docstring). Exactly
    (``tolerance=None``), the networks that are cyclic or hold an array of the dense tensor's size (an input
    kept dense) are summed into one dense block as they are built, one at a time, and the cyclic terms of
    the formula evaluated into it directly. With a ``tolerance``, every cyclic network is first split at its
    matrices' diagonals (:func:`~symcorr.numeric.tensor_networks.split_diagonals`: exact), which leaves cyclic only
    the products of off-diagonal parts; those are the candidates for dropping. When the cyclic terms of the
    formula would make too many networks (:func:`whole_terms`) they are split instead at the output's own
    diagonals: where neurons coincide they are kept exactly (:func:`coincident_parts`), and their all-distinct
    parts are the candidates, their values at the sampled tuples from the inputs' values there
    (:func:`spec_entries`); one that is kept goes into the dense block. With ``pairs_as_candidates`` (the layer
    would not fit its budget with them made exactly: :func:`symcorr.numeric.pointwise.factored_layer`), from order
    4 on their parts on one pair of neurons are candidates as well (the tuples then sampled in strata,
    :func:`stratified_tuples`), made exactly only if kept, after a memory check. When the cyclic diagonal
    corrections would make too many networks (:func:`whole_corrections`) they are kept whole and exactly, with a
    tolerance or without, as their values on their patterns (:func:`correction_parts`, at most :math:`N^{m-1}`).
    When the acyclic terms would make more networks than the layer may hold (:func:`dense_terms`), they are
    evaluated densely into the block, exactly (with a tolerance their values at the sampled tuples count in the
    whole that the candidates are measured against)."""
    block_cache = {} if block_cache is None else block_cache
    letters, specs = _LETTERS[:order], getattr(module, f"TERMS_{order}")
    block = _DenseSum(order, dim, budget, len(kappa))
    acyclic, candidates, dropped = [], [], []
    held = _HeldArrays(order, dim, budget)
    whole = frozenset() if tolerance is None else whole_terms(module, order, kappa, parameters, dim, block_cache)
    corrections = whole_corrections(module, order, kappa, parameters, dim, block_cache)
    dense = dense_terms(module, order, kappa, parameters, dim, block_cache)
    if dense:
        report(f"order {order}, acyclic terms evaluated densely: {len(dense)} (too many networks)")
    corrections |= {number for number in dense if specs[number].pattern is not None}
    formula = [specs[number] for number in sorted(dense) if specs[number].pattern is None]   # into the dense block
    if tolerance is None:
        for made, term in enumerate(output_terms(module, order, kappa, parameters, dim, block_cache,
                                                 skipped=corrections | dense), start=1):
            report(f"order {order}, networks made: {made}", often=True)
            if not term.cyclic() and not heavy(term, order):
                acyclic.append(term)
                held.add([term])
            else:
                block.add(tensor_networks.slice_values(term, letters))
        factors = _held_factors([spec for spec in specs if whole_cyclic(spec)], letters, kappa, parameters, dim,
                                block_cache)
        if factors:
            block.add(summed_products(factors, letters, dim))
    else:
        marks: dict = {}      # the off-diagonal arrays the splits make (not split again)
        rests: dict = {}
        for number, spec in enumerate(specs):
            if number not in whole | dense:
                parts, rest = diagonal_parts(spec, order, kappa, parameters, dim, block_cache, marks)
                if rest is not None:
                    acyclic += parts
                    held.add(parts)
                    rests[number] = rest
        steps: dict = {}      # the steps of simplifying (chain products above all), shared by the networks and splits
        for made, term in enumerate(output_terms(module, order, kappa, parameters, dim, block_cache, cyclic=None,
                                                 fold_cache=steps, skipped=whole | corrections | dense, blocks=rests),
                                    start=1):
            report(f"order {order}, networks made: {made}", often=True)
            if term.cyclic():
                pieces, left = tensor_networks.split_diagonals(term, marks, steps)
                acyclic += pieces
                candidates += left
                held.add(pieces + left)
            else:
                acyclic.append(term)
                held.add([term])
        steps.clear()         # what the networks do not hold of it is garbage from here on
    factors = _held_factors(formula, letters, kappa, parameters, dim, block_cache)
    if factors:
        block.add(summed_products(factors, letters, dim))
    coincident = None
    # from order 4 on, where asked, the parts of the terms taken whole on one pair of coincident neurons are
    # candidates too: N^(m-1) values from slices of N^(m-1) of their inputs, made only if kept
    pairs_are_candidates = pairs_as_candidates and bool(whole) and order >= 4
    if whole or corrections:
        report(f"order {order}, terms taken whole: {len(whole) + len(corrections)}")
        # the terms taken whole where neurons coincide, exactly (zeroed there first), then the corrections
        coincident = coincident_parts([specs[number] for number in sorted(whole)], order, kappa, parameters, dim,
                                      block_cache, range(1, order - 1) if pairs_are_candidates else None)
        correction_parts([specs[number] for number in sorted(corrections)], order, kappa, parameters, dim,
                         block_cache, coincident)
        held.add(coincident.drop_zeros().terms())
    report(f"order {order}, merging the networks ({len(acyclic)})")
    candidates = tensor_networks.deduplicated(candidates)
    # zero terms are none; the networks' singles are summed into the coincident parts' arrays (not copied: N^(m-1))
    acyclic = tensor_networks.merged([t for t in acyclic if all(np.any(f) for f in t.factors)], coincident)
    if candidates or whole:
        report(f"order {order}, the sizes of the candidates for dropping ({len(candidates) + len(whole)})")
        # the values at the sampled tuples, weighted by their strata (the pair entries sampled apart when their
        # parts are candidates), so that norms of them estimate Frobenius norms
        tuples, weights, strata = (stratified_tuples(dim, order) if pairs_are_candidates
                                   else (sampled_tuples(dim, order), 1.0, None))
        sampled_steps = tensor_networks.EntrySteps(tuples, dim)      # the terms share arrays: their steps made once
        valued = [(term, weights * tensor_networks.entries(term, tuples, sampled_steps)) for term in candidates]
        exact = weights * sum((tensor_networks.entries(t, tuples, sampled_steps) for t in acyclic),
                              np.zeros(len(tuples)))
        del sampled_steps                  # (up to kept_elements numbers: one such at a time)
        inputs_at: dict = {}
        for spec in formula:               # the terms evaluated densely, into the block
            values = spec_entries(spec, tuples, kappa, parameters, dim, block_cache, inputs_at)
            if values is not None:
                exact += weights * values
        neurons = np.array([len(set(t)) for t in tuples.tolist()])      # distinct ones per tuple
        for number in sorted(whole):       # their all-distinct parts, and their parts on one pair of neurons
            values = spec_entries(specs[number], tuples, kappa, parameters, dim, block_cache, inputs_at)
            if values is not None:
                valued.append((specs[number], weights * values * (neurons == order)))
                if pairs_are_candidates:
                    valued.append((_OnOnePair(specs[number]), weights * values * (neurons == order - 1)))
        everything = exact + sum((values for _, values in valued), np.zeros(len(tuples)))
        total = np.linalg.norm(everything)
        running, removed, keep = np.zeros(len(tuples)), 0, []
        for item, value in sorted(valued, key=lambda c: np.linalg.norm(c[1])):
            candidate = running + value
            if not np.any(value) or (total > 0 and np.linalg.norm(candidate) <= tolerance * total):
                running, removed = candidate, removed + bool(np.any(value))
            else:
                keep.append(item)
        if removed:
            dropped.append(Dropped(order, float(np.linalg.norm(running) / total), float(tolerance), removed,
                                   len(tuples), bootstrap_error(running, everything, strata=strata),
                                   stratified=strata is not None))
        on_a_pair = [item.spec for item in keep if isinstance(item, _OnOnePair)]
        if on_a_pair:                      # the kept parts on one pair of neurons, exactly
            check_memory(coincident_bytes(kappa, order, dim, order - 1),
                         f"the parts of output order {order} of {dim} neurons on one pair of coincident neurons "
                         f"({len(on_a_pair)} term(s) above the tolerance)", "a larger tolerance, or fewer neurons",
                         budget)
            kept = coincident_parts(on_a_pair, order, kappa, parameters, dim, block_cache, (order - 1,)).drop_zeros()
            held.add(kept.terms())
            acyclic += kept.terms()
        for item in keep:
            if isinstance(item, _OnOnePair):
                continue
            if isinstance(item, tensor_networks.Term):
                block.add(tensor_networks.slice_values(item, letters))
            else:
                # its dense values read the inputs' dense slices: the block, its symmetrization, the values, an
                # input's slice and one working array, each N^m, before any of them is made
                check_memory(5 * FLOAT * dim**order, f"a cyclic term of output order {order} of {dim} neurons kept "
                             "whole (its all-distinct part above the tolerance: evaluated densely)",
                             "a larger tolerance, or fewer neurons", budget)
                block.add(zero_where_coincident(spec_values(item, letters, kappa, parameters, dim, block_cache)))
    terms = acyclic + ([_dense_term(_symmetrized(block.total))] if block.total is not None else [])
    return FactoredTensor(order, dim, terms, tuple(dropped))


def _check_networks(count: int, order: int, dim: int) -> None:
    """Refuse a layer whose output ``order`` holds more than :data:`MAX_NETWORKS` networks (``count`` so far)."""
    if count > MAX_NETWORKS:
        raise MemoryBudgetError(
            f"the factored form of output order {order} of {dim} neurons grows beyond {MAX_NETWORKS} networks at "
            "this layer (the diagram terms multiply with the depth; terms are not compressed): use a lower closure, "
            "fewer layers, or representation='dense' where it fits", count, MAX_NETWORKS)


class _HeldArrays:
    """The bytes of the distinct arrays the networks of one output order hold, checked against the budget
    as they are made: the networks after a split are not known before (their number grows with the depth,
    fastest for orders 4 of non-symmetric inputs), so this bounds them as they come."""

    def __init__(self, order: int, dim: int, budget):
        self.order, self.dim, self.budget, self.seen, self.bytes, self.count = order, dim, budget, set(), 0, 0

    def add(self, terms) -> None:
        self.count += len(terms)
        _check_networks(self.count, self.order, self.dim)
        for term in terms:
            for array in term.arrays():
                if id(array) not in self.seen:
                    self.seen.add(id(array))
                    self.bytes += array.nbytes
        check_memory(self.bytes, f"the networks of output order {self.order} of a factored layer of {self.dim} "
                     f"neurons ({len(self.seen)} arrays so far: the diagram terms multiply with the depth)",
                     "a lower closure or fewer layers, representation='dense' where it fits, or fewer neurons",
                     self.budget, growing=True)


class _DenseSum:
    """The dense block of the terms kept exactly that have no small factored form: allocated at the first
    term added, after a memory estimate (the block, its symmetrization and one term's values)."""

    def __init__(self, order: int, dim: int, budget, inputs: int):
        self.order, self.dim, self.budget, self.inputs, self.total = order, dim, budget, inputs, None

    def add(self, values) -> None:
        if values is None:
            return
        if self.total is None:
            check_memory(3 * FLOAT * self.dim**self.order, f"the dense block of the cyclic diagram terms of output "
                         f"order {self.order} of {self.dim} neurons, kept exactly", "a tolerance (tolerance=...: "
                         "cyclic terms within it are dropped, their size stated), or fewer neurons", self.budget)
            self.total = np.zeros((self.dim,) * self.order)
        self.total += values


def _held_terms(kappa) -> list:
    """The terms of the input cumulants by order (index = order; orders 3..8, none below or beyond)."""
    return [None, None, None] + [terms_of(kappa[n - 1], n) if n <= len(kappa) else [] for n in range(3, 9)]


def held_blocks(module, orders: int, kappa) -> dict:
    """The block functions of the terms of orders ``3..orders`` whose input cumulants ``kappa`` holds, with the
    number of axes of their grid."""
    held = _held_terms(kappa)
    used = {}
    for m in range(3, orders + 1):
        for spec in getattr(module, f"TERMS_{m}"):
            if all(held[len(labels)] for labels in spec.cumulants):
                used.update((function, len(set(labels))) for function, labels in spec.blocks)
    return used


def block_bytes(module, orders: int, kappa, dim: int) -> int:
    """The bytes of the blocks :func:`held_blocks` names, evaluated and kept for the layer, and of the working
    arrays of the largest (``BLOCK_ARRAYS`` of its grid, or of a chunk of its rows: ``_block_working_bytes``)."""
    used = held_blocks(module, orders, kappa)
    return (FLOAT * sum(dim**grid for grid in used.values())
            + max((_block_working_bytes(function, grid, dim) for function, grid in used.items()), default=0))


def vanishing_blocks(module, orders: int, kappa, parameters, dim: int, cache: dict) -> frozenset:
    """Evaluate the blocks :func:`held_blocks` names into ``cache`` (as :func:`output_terms` would) and return
    those that are zero on these inputs (e.g. odd moments of a symmetric input): their terms make no networks."""
    used = held_blocks(module, orders, kappa)
    for function, grid in used.items():
        _block_values(function, grid, dim, kappa, parameters, cache)
    return frozenset(function for function in used if _vanishes(function, cache))


def factored_peak_bytes(module, orders: int, kappa, dim: int, tolerance: float | None,
                        vanishing: frozenset = frozenset(), whole: dict | None = None,
                        networks: dict | None = None, pairs_as_candidates: bool = False) -> int:
    r"""An estimate, from above, of the bytes :func:`factored_output` of orders ``3..orders`` allocates on the
    inputs ``kappa``, before anything is computed:

    * the block arrays of the terms whose input cumulants are held (:func:`block_bytes`); terms with a block
      in ``vanishing`` (:func:`vanishing_blocks`, once the blocks are evaluated) make no networks;
    * per network made (``_network_count``: the arrangements of a symmetric input term are one network), the
      arrays it refers to (what :func:`~symcorr.numeric.tensor_networks.simplified` creates from them: every step
      makes one array no larger than those it replaces, and steps on the same arrays are shared between networks),
      except those of the dense tensor's size, which are summed one network at a time into the dense block;
    * with a tolerance, per cyclic term split at its diagonals twice its blocks (the off-diagonal copies), and
      where terms are taken whole (``whole``: per order the numbers :func:`whole_terms`, :func:`whole_corrections`
      and :func:`dense_terms` give; ``None``: not known, every cyclic term counted as split as well) their parts
      on coincident neurons and the corrections' values, one array per shape of the slots (:math:`N^{m-1}` for
      ``'iijk..'``, :math:`N^{m-2}` or less for each coarser one), the working chunks of :func:`summed_products`, and
      a slice of :math:`N^{m-1}` of each input of order >= 3 that is not zero -- with ``pairs_as_candidates`` from
      order 4 on, unless a correction is on such a pattern, only the coarser shapes and slices of :math:`N^{m-2}`:
      the parts on one pair of neurons are then candidates, checked against the budget when kept
      (:func:`factored_output`);
      the sampled values, the rows of the factors their batches gather (``ENTRY_NUMBERS`` numbers per
      operand, or one row of an :math:`N^2` array, 8 operands) and, for one order at a time, the rows and products
      kept for reuse (``kept_elements``);
    * the dense block (three arrays of :math:`N^m`: the block, its symmetrization, one term's values) when
      terms go into it exactly, or with a tolerance when terms are evaluated densely (:func:`dense_terms`; else
      whether any cyclic term stays is known only after the estimate of their size: the block is checked against
      the budget then, before it is allocated).

    With ``networks`` (per order, :func:`network_bytes`: the arrays the networks make, counted once each by making
    them of shapes only) that count takes the place of the count per network and of the off-diagonal copies.

    The arrays the networks hold are also counted as they are made, against the same budget
    (``_HeldArrays``): a layer over the budget stops there, after one network's arrays. Counted per network, the
    products and off-diagonal copies of the networks split at their diagonals are not in this estimate and can be
    most of the peak at closure 4 (a cubic layer of 96 neurons: estimated 0.13 GB, 0.50 GB held, 0.38 GB of it by
    about 800 split networks), while the networks' shared arrays are counted with each network that reads them. The
    count of networks made of shapes has both right: a layer whose estimate counted per network is above its
    budget asks for it (:func:`symcorr.numeric.pointwise.factored_layer`). Measured against the peaks of quadratic
    and cubic layers (closure 3, tolerance 0.2, N = 256 and 1024) the count per network is 1.3-3.4 times the
    peak, of ReLU's (N = 512 and 1024) 2.0-3.4 times; with the networks made of shapes, ReLU's second layer is 1.9
    times its peak at N = 512 (closure 3) and 1.75 times at N = 128 (closure 4), where the count per network was
    3.5 times. tests/numeric/test_factored_pointwise.py checks that both are above."""
    held = _held_terms(kappa)
    total = block_bytes(module, orders, kappa, dim)
    for m in range(3, orders + 1):
        networks_bytes, count, block, cyclic, split, densely = 0, 0, False, [], {}, False
        for number, spec in enumerate(getattr(module, f"TERMS_{m}")):
            if any(function in vanishing for function, _ in spec.blocks):
                continue                          # a block that is zero on these inputs: no networks
            if not spec.cyclic and whole is not None and number in whole.get(m, frozenset()):
                block = densely = True            # evaluated densely (dense_terms): no networks
                continue
            inputs = [held[len(labels)] for labels in spec.cumulants]
            combinations = _network_count(spec, inputs)
            dense = sum(FLOAT * dim ** len(set(labels)) for _, labels in spec.blocks)
            if spec.cyclic:
                block = block or combinations > 0 or not spec.cumulants
                if tolerance is not None and combinations:
                    split[number] = 2 * dense     # split at its diagonals: off-diagonal copies of its blocks
                    cyclic.append((_networks_made(spec, held), number))
                continue
            light = sum(max((sum(a.nbytes for a in t.arrays() if a.ndim < m or tolerance is not None) for t in h), default=0)
                        for h in inputs)
            networks_bytes += combinations * (dense + light)
            count += combinations
            block = block or any(heavy(t, m) for h in inputs for t in h)
        taken = _taken_whole(cyclic) if whole is None else whole.get(m, frozenset())
        networks_bytes += sum(size for number, size in split.items() if whole is None or number not in taken)
        if networks is not None:
            networks_bytes = networks[m]
        if taken:                           # terms taken whole: their parts on coincident neurons, those on one
            # pair of neurons unless they are candidates (checked when kept) and no correction makes one
            specs = getattr(module, f"TERMS_{m}")
            later = pairs_as_candidates and tolerance is not None and m >= 4 and not any(
                specs[number].pattern is not None and len(set(specs[number].pattern)) == m - 1 for number in taken)
            networks_bytes += coincident_bytes(kappa, m, dim, m - 2 if later else m - 1)
        total += networks_bytes
        if tolerance is not None:           # the sampled values, and the rows of the factors their batches gather
            total += FLOAT * SAMPLES * (count + 16) + FLOAT * max(tensor_networks.ENTRY_NUMBERS, dim * dim) * 8
        if block and (tolerance is None or densely):    # (else checked when it is needed)
            total += FLOAT * (3 * dim**m + sum(dim**n for n in range(3, min(len(kappa), 8) + 1)))
    if tolerance is not None:               # the rows and products kept for reuse, for one order at a time
        total += FLOAT * tensor_networks.kept_elements(SAMPLES, dim)
    return int(total)


def factored_diagonal(module, order: int, kappa, parameters, dim: int) -> np.ndarray:
    r"""The diagonal :math:`\kappa_{y,i..i}` of output ``order`` from the generated terms, every one of them: with all
    slots on one neuron every term is a product of vectors, the blocks on the diagonals of their grids (evaluated
    on the inputs' diagonals, :class:`~symcorr.codegen.runtime.grid.OnDiagonal`: no grid of :math:`N^2` is made)
    and the inputs' diagonal slices."""
    on_diagonal = tuple(OnDiagonal(np.asarray(pattern_slice(tensor, "i" * n), dtype=np.float64))
                        for n, tensor in enumerate(kappa, start=1))
    blocks: dict = {}
    out = np.zeros(dim)
    for spec in getattr(module, f"TERMS_{order}"):
        values = np.full(dim, _scalar(spec, parameters))
        for labels in spec.cumulants:
            values = values * on_diagonal[len(labels) - 1].values if len(labels) <= len(kappa) else 0.0 * values
        for function, labels in spec.blocks:
            if function not in blocks:
                block = np.asarray(function(on_diagonal, *parameters), dtype=np.float64)
                if block.size not in (1, dim) or any(length != 1 for length in block.shape[1:]):
                    raise ValueError(f"the block {function.__name__} is not elementwise on its grid (shape {block.shape} "
                                     "on the diagonal): this factored module cannot give a diagonal")
                blocks[function] = np.broadcast_to(block.reshape(-1), (dim,))
            values = values * blocks[function]
        out += values
    return out


def factored_pattern_mean(module, order: int, pattern: str, kappa, parameters, dim: int,
                          block_cache: dict | None = None) -> float:
    r"""The mean of the order-``order`` output on ``pattern`` (its letters of one multiplicity, ``'iijj'``) over
    every tuple of distinct neurons, from the generated terms, every one of them: the output is
    :math:`\sum_t \operatorname{Sym}(X_t)` (docs/theory.md section 12.2), and the mean of :math:`\operatorname{Sym}(X)`
    over the tuples is that of :math:`X` over the arrangements of the pattern's letters on the slots; arrangements
    that differ by renaming the letters have the same mean, so one of each class is evaluated (:func:`spec_values`,
    :math:`N^d` values for :math:`d` letters: ``'aabb'``, ``'abab'``, ``'abba'``), its entries where neurons
    coincide left out. Term by term: a block that only this order's terms hold is evaluated when the first of them
    comes and dropped after the last (``block_cache`` keeps the layer's own), so that the order's blocks are not
    all held at once."""
    specs = getattr(module, f"TERMS_{order}")
    if any(spec.pattern is not None for spec in specs):
        raise ValueError(f"the mean of the pattern {pattern!r} is taken from the all-distinct formula's terms, which "
                         f"hold on every diagonal for polynomial activations only; {module.FAMILY}'s terms carry "
                         "diagonal corrections: use pair_mean=False, or representation='dense'")
    block_cache = {} if block_cache is None else block_cache
    words = tensor_networks.arrangements_up_to_renaming(pattern)
    output = "".join(sorted(set(words[0])))
    total = np.zeros((dim,) * len(output))
    local = dict(block_cache)
    for spec, done in _block_lifetimes(specs, block_cache):
        factors = [f for f in (spec_factors(spec, word, kappa, parameters, dim, local) for word in words) if f]
        summed_products(factors, output, dim, add_to=total)
        for function in done:
            local.pop(function, None)               # its "vanishes" flag stays: a term asks for it first
    return mean_over_distinct(total) / len(words)


def _block_lifetimes(specs, kept):
    """``(spec, done)`` for each of ``specs`` in turn, ``done`` the blocks (not in ``kept``) that no later spec
    holds: evaluated at the first spec that holds them, they can go after ``spec``."""
    left = collections.Counter(function for spec in specs for function, _ in spec.blocks)
    for spec in specs:
        done = []
        for function, _ in spec.blocks:
            left[function] -= 1
            if not left[function] and function not in kept:
                done.append(function)
        yield spec, done


def pattern_mean_bytes(module, order: int, pattern: str, dim: int, kept) -> int:
    """An upper bound on the bytes :func:`factored_pattern_mean` allocates: its sum over the pattern's letters
    (:math:`N^d`) and the working chunks of :func:`summed_products` (two per thread), the inputs' slices its terms
    read (each :math:`N^{d'}`, as if none were cached yet), and, at the worst point of its walk over the terms, the
    blocks it holds that ``kept`` (the layer's evaluated blocks) does not, each a grid of :math:`N^g`, as if none
    vanished."""
    specs = getattr(module, f"TERMS_{order}")
    grids = {function: len(set(labels)) for spec in specs for function, labels in spec.blocks}
    slices = {(len(labels), normalized("".join(word[_LETTERS.index(c)] for c in labels))[0])
              for spec in specs for word in tensor_networks.arrangements_up_to_renaming(pattern)
              for labels in spec.cumulants}
    live, worst = set(), 0
    for spec, done in _block_lifetimes(specs, kept):
        live |= {function for function, _ in spec.blocks if function not in kept}
        worst = max(worst, sum(dim ** grids[function] for function in live))
        live -= set(done)
    letters = len(set(pattern))
    return (FLOAT * (dim ** letters + sum(dim ** len(set(labels)) for _, labels in slices) + worst)
            + summed_working_bytes(letters, dim))


class SlicesWithinTolerance(CachedSlices):
    r"""A factored input of a pointwise layer given a ``tolerance``, read slice by slice (docs/theory.md section
    12.3). A slice's networks that cost more than :data:`~symcorr.numeric.tensor_networks.SPLIT_COST`
    :math:`N^3` and :data:`~symcorr.numeric.tensor_networks.SPLIT_FLOPS` -- acyclic terms that the slice's repeated
    letters close into a cycle, as :math:`A_{ia} B_{ja} M_{ab} C_{ib} D_{jb}` at ``'ijij'``, :math:`2N^4` flops --
    are split at the diagonals of their internal matrices, :math:`M_{ab} = \delta_{ab} M_{aa} + O_{ab}`
    (:func:`~symcorr.numeric.tensor_networks.summed_slice`): the diagonal parts cost :math:`O(N^3)` and are kept.
    The off-diagonal networks are evaluated at :data:`SAMPLES` uniformly sampled entries of the slice; if the
    Frobenius norm of their sum there, relative to that of the whole slice, is within ``tolerance`` they are
    dropped and recorded in ``truncations`` (a :class:`~symcorr.numeric.factored.Dropped` with the pattern, the
    estimate and its bootstrap standard error), else contracted and added: the slice is then exact."""

    def __init__(self, tensor: FactoredTensor, tolerance: float):
        super().__init__(tensor)
        self.tolerance = tolerance
        self.truncations: list[Dropped] = []

    def slice(self, labels: str) -> np.ndarray:
        pattern, _ = normalized(labels)
        if pattern not in self.slices:
            self.slices[pattern] = self._within_tolerance(pattern)
            self.slices[pattern].flags.writeable = False
        return super().slice(labels)

    def _within_tolerance(self, pattern: str) -> np.ndarray:
        tensor = self.tensor
        off: list = []
        values = tensor_networks.summed_slice(tensor.terms, pattern, tensor.dim, off)
        if not off:
            return values
        tuples = sampled_tuples(tensor.dim, len(set(pattern)))
        part = tensor_networks.off_diagonal_at(off, tuples)
        whole = values[tuple(tuples.T)] + part
        norm = float(np.linalg.norm(whole))
        size = float(np.linalg.norm(part)) / norm if norm > 0 else (0.0 if not np.any(part) else np.inf)
        if size > self.tolerance:
            return tensor_networks.add_off_diagonal(values, off)
        self.truncations.append(Dropped(tensor.order, size, self.tolerance, len(off), len(tuples),
                                        bootstrap_error(part, whole), pattern))
        return values


__all__ = ["SlicesWithinTolerance", "output_terms", "diagonal_parts", "factored_output", "factored_diagonal",
           "factored_peak_bytes", "factored_remedy", "factored_pattern_mean", "pattern_mean_bytes", "spec_factors",
           "spec_values",
           "summed_products", "summed_working_bytes", "coincident_bytes", "SUMMED_CHUNK", "THREADS",
           "spec_entries",
           "whole_terms", "coincident_parts", "SPLIT_NETWORKS", "whole_corrections", "correction_parts",
           "cyclic_correction", "network_bytes", "stacked_inputs", "dense_terms",
           "bootstrap_error", "held_blocks", "block_bytes", "vanishing_blocks",
           "sampled_tuples", "stratified_tuples", "SAMPLES"]
