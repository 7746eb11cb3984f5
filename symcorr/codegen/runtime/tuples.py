r"""Symmetric output tensors evaluated once per sorted neuron tuple (docs/theory.md section 4).

An index pattern such as ``'iijk'`` says which slots of an output cumulant
share a neuron; its formula depends only on the pattern's distinct neurons
(here ``i, j, k``) and does not change when two neurons of equal multiplicity
(``j`` and ``k``) are swapped. Kernels of output orders >= 3 therefore evaluate
each pattern on the *tuples* of distinct neurons that are increasing within
each group of equal multiplicity (``i`` any neuron, ``j < k``, all three
distinct) -- once each -- in blocks of at most a few thousand tuples held as
1-D index arrays (:class:`NeuronTuples`), so that every temporary of the
formula is a block of floats, never an :math:`N^{order}` array. Each value is
then written into every position of the output that realises the pattern
(:func:`pattern_words`, 12 positions for ``'iijk'``, 24 for ``'ijkl'``): the
output is exactly symmetric and each entry is written once.

A pattern of :math:`d` distinct neurons in groups of equal multiplicity of
sizes :math:`g_1, g_2, \dots` has :math:`\binom{N}{d}\, d!/\prod_a g_a!` tuples
(:func:`tuple_count`): the :math:`d`-combinations of the neurons times the ways
to hand a sorted combination out to the groups (``_group_assignments``).
The combinations are enumerated by *tile blocks* (``_tile_blocks``): the
neurons are cut into tiles (8 neurons at d = 4, :data:`TILES`) and a block
holds the combinations drawing from one non-decreasing sequence of tiles, so
that the positions its values are written to fill a few cache-sized regions of
the output -- whole regions, written through strided views, when the tiles are
distinct (:meth:`NeuronTuples.write`). Blocks of one shape share their index
arrays, which are computed once.

Costly vertex functions of fewer neurons than the pattern (the erf family's
joint moments) are evaluated once per tuple of *their* neurons into a
*shared table* (an array over those neurons, :math:`N^{d'}` with
:math:`d' < d`, filled at the tuples used) and gathered from it, instead of
once per tuple of the pattern.

Memory is stated before anything is allocated: :func:`peak_bytes`, from the
working memory the printer measured on each pattern function's code
(:mod:`symcorr.codegen.printer`) and the workspace of the runtime functions
(:data:`RUNTIME_WORKSPACE`).
"""
from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from symcorr.codegen.runtime.progress import progress_bar

_LETTERS = "ijklmnopqrstuvwxyz"

#: Bytes of block temporaries a tuple pattern aims at: the block size is the largest power of
#: two from ``MIN_BLOCK`` to ``MAX_BLOCK`` whose working memory fits in it. Measured on
#: the order-4 quadratic pattern ``ijkl`` (68 block arrays alive at most): 0.5 us of CPU per
#: tuple with blocks of 2048..4096, 0.76 us with 1024 (NumPy's per-call overhead); with its
#: earlier 354 live arrays, blocks above 1024 fell out of the cache.
WORKSPACE_BYTES = 8 << 20
MIN_BLOCK, MAX_BLOCK = 256, 8192

#: Workspace of the runtime functions a formula calls, beyond their result, on ``E`` elements
#: (the call's broadcast shape): ``per_element * E + blocked * min(E, block) + fixed`` bytes,
#: as ``(per_element, blocked, block, fixed)`` -- the functions work in blocks of ``block``
#: elements. Upper bounds, 1.25x what tracemalloc measured over 1..360 000 elements and weak to
#: strong correlations (the covariance's worst case: every pair strongly correlated, 45 bytes
#: per element on a symmetric grid); tests/codegen/test_tuple_kernels.py measures them again. Functions
#: not listed (NumPy and SciPy ufuncs) allocate only their result.
RUNTIME_WORKSPACE = {
    "_support.erf_gaussian_covariance": (56, 230, 32768, 32 << 10),
    "_support.erf_power_moment": (7200, 0, 0, 16 << 10),
    "_support.erf_gaussian_moment": (32, 20800, 1024, 64 << 10),
}


class TuplePattern(NamedTuple):
    r"""One index pattern of a generated kernel evaluated on neuron tuples.

    ``pattern`` (``'iijk'``); ``function(kappa, at, shared, *parameters)`` returns the
    pattern's values at the tuples of the :class:`NeuronTuples` block ``at``;
    ``statements`` is the printer's account of its working memory
    (:mod:`symcorr.codegen.workspace`): per moment of its evaluation, ``(arrays,
    calls)``, the number of block-length float arrays alive and the runtime function
    running (see :data:`RUNTIME_WORKSPACE`); ``index_arrays`` the flat index arrays a
    tile block caches for its gathers and writes (one per label string).
    """

    pattern: str
    function: Callable
    statements: tuple
    index_arrays: int


class SharedTable(NamedTuple):
    r"""A vertex function of ``d' < d`` neurons shared by tuple patterns, tabulated once.

    ``pattern`` is the multiplicity pattern of its neurons within the patterns that use it
    (``'iij'``: its first neuron has multiplicity 2 there, so no ordering is imposed between
    the two; ``'ijk'``: increasing); ``function(kappa, at, *parameters)``; ``statements`` and
    ``index_arrays`` as in :class:`TuplePattern`.
    """

    pattern: str
    function: Callable
    statements: tuple
    index_arrays: int


def distinct_letters(pattern: str) -> str:
    """The distinct neuron letters of ``pattern`` in order: ``'iijk'`` -> ``'ijk'``."""
    return "".join(dict.fromkeys(pattern))


def pattern_groups(pattern: str) -> tuple[int, ...]:
    """Sizes of the runs of distinct letters of equal multiplicity: ``'iijk'`` -> ``(1, 2)``.

    Patterns list their neurons by decreasing multiplicity (``normalize_pattern``), so
    neurons of equal multiplicity are consecutive.
    """
    multiplicities = [pattern.count(c) for c in distinct_letters(pattern)]
    return tuple(len(list(run)) for _, run in itertools.groupby(multiplicities))


def tuple_count(n: int, pattern: str) -> int:
    r"""Number of neuron tuples of ``pattern`` over ``n`` neurons:
    :math:`\binom{n}{d}\, d!/\prod_a g_a!` (module docstring)."""
    groups = pattern_groups(pattern)
    d = sum(groups)
    return math.comb(n, d) * math.factorial(d) // math.prod(math.factorial(g) for g in groups)


def pattern_words(pattern: str) -> tuple[str, ...]:
    """The distinct orderings of ``pattern``'s letters: the output positions one tuple fills.

    ``'iij'`` -> ``('iij', 'iji', 'jii')``; ``order! / prod(multiplicity!)`` of them.
    """
    return tuple(sorted({"".join(word) for word in itertools.permutations(pattern)}))


@functools.cache
def _group_assignments(groups: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Every way to hand the positions of a sorted combination out to the pattern's letters,
    increasing within each group: ``(1, 2)`` -> ``((0, 1, 2), (1, 0, 2), (2, 0, 1))``."""
    out = []

    def assign(remaining, groups, prefix):
        if not groups:
            out.append(tuple(prefix))
            return
        for chosen in itertools.combinations(remaining, groups[0]):
            assign([p for p in remaining if p not in chosen], groups[1:], prefix + list(chosen))

    assign(list(range(sum(groups))), list(groups), [])
    return tuple(out)


#: Neurons per tile (by number of distinct neurons d): tuples are enumerated tile block by tile
#: block, so that the ~order! positions each value is written to lie in a few cache-sized regions
#: of the output (about 4096 tuples per block; tiles of 8 neurons at d = 4 match a cache line).
TILES = {1: 4096, 2: 64, 3: 16, 4: 8}


def tile_size(d: int) -> int:
    """Neurons per tile for tuples of ``d`` distinct neurons (:data:`TILES`; 5 beyond d = 4)."""
    return TILES.get(d, 5)


def _local_combinations(runs: tuple[tuple[int, int], ...]) -> list[np.ndarray]:
    """Within one block of tiles: ``runs`` lists (number of combination positions, neurons in the
    tile) for each tile in increasing order; returns one array per position, the neuron's offset in
    its tile, over every combination (increasing within each tile; tiles vary slowest first)."""
    per_tile = [np.array(list(itertools.combinations(range(size), length)), dtype=np.intp).reshape(-1, length)
                for length, size in runs]
    rows = np.meshgrid(*[np.arange(len(table)) for table in per_tile], indexing="ij")
    return [np.ascontiguousarray(table[row.reshape(-1), k]) for table, row in zip(per_tile, rows)
            for k in range(table.shape[1])]


def _tile_blocks(n: int, d: int):
    """The ``d``-combinations of ``range(n)`` by tile blocks, grouped by the blocks' shape: yields
    ``(runs, local, blocks)``: ``runs`` the shape ((positions, tile size) per tile), ``local`` as
    from :func:`_local_combinations` and ``blocks`` the per-position tile starts of every tile
    block of that shape."""
    t = tile_size(d)
    shapes: dict = {}
    for tiles in itertools.combinations_with_replacement(range(-(-n // t)), d):
        runs = tuple((len(list(run)), min(t, n - tile * t)) for tile, run in itertools.groupby(tiles))
        if all(length <= size for length, size in runs):
            shapes.setdefault(runs, []).append(tuple(tile * t for tile in tiles))
    for runs, blocks in shapes.items():
        yield runs, _local_combinations(runs), blocks


@functools.lru_cache(maxsize=4096)
def _strides(labels: str, n: int) -> tuple[tuple[int, int], ...]:
    """``((axis, stride), ...)``: the flat index of ``tensor[neuron(labels[0]), ...]`` is the sum of
    ``stride`` times the neuron of letter ``axis``: ``('iij', n)`` -> ``((0, n*n + n), (1, 1))``."""
    strides: dict[int, int] = {}
    for slot, letter in enumerate(labels):
        axis = _LETTERS.index(letter)
        strides[axis] = strides.get(axis, 0) + n ** (len(labels) - 1 - slot)
    return tuple(strides.items())


class NeuronTuples:
    r"""A block of tuples of distinct neurons, held as tile offsets plus positions within the tiles:
    the neuron of letter ``'ijkl...'[a]`` in tuple ``t`` is ``offsets[a] + local[a][t]``.

    ``at(tensor, labels)`` gathers an input tensor's entries at the tuples:
    ``at(kappa[1], 'ij')[t] = Sigma[i_t, j_t]``, ``at(kappa[2], 'iij')[t] = kappa[i_t, i_t, j_t]``
    (``tensor`` C-contiguous, every axis of length ``n``); :meth:`write` scatters values into
    such a tensor. The positions within the tiles depend only on the block's shape, so their flat
    indices are computed once per shape (``cache``) and serve every block of that shape.
    """

    __slots__ = ("_cache", "local", "n", "offsets", "positions", "rows", "size", "sizes")

    def __init__(self, offsets, local, n: int, rows: slice, cache: dict, sizes=None, positions=None):
        self.offsets, self.local, self.n, self.rows, self._cache = offsets, local, n, rows, cache
        self.size = len(range(*rows.indices(len(local[0]))))
        # a whole block of distinct tiles: ``sizes`` of the tiles (in increasing order) and the
        # tile of each letter (``positions``), for strided writes; None otherwise
        self.sizes, self.positions = sizes, positions

    def index(self, labels: str) -> tuple[int, np.ndarray]:
        """``(base, index)``: flat positions ``base + index`` of ``[neuron(labels[0]), ...]`` in an
        ``(n,) * len(labels)`` C-contiguous array."""
        strides = _strides(labels, self.n)
        base = 0
        for axis, stride in strides:
            base += self.offsets[axis] * stride
        index = self._cache.get(labels)
        if index is None:
            index = sum(self.local[axis] * stride for axis, stride in strides)
            self._cache[labels] = index
        return base, index[self.rows]

    def neuron(self, letter: str) -> np.ndarray:
        """The neuron of ``letter`` in every tuple of the block."""
        axis = _LETTERS.index(letter)
        return self.offsets[axis] + self.local[axis][self.rows]

    def __call__(self, tensor: np.ndarray, labels: str) -> np.ndarray:
        if isinstance(tensor, HeldSlices):
            # a cumulant tensor held in another form: its slice of ``labels`` (axes: the distinct
            # letters, sorted) gathered at the tuples
            values = tensor.slice(labels)
            return values[tuple(self.neuron(letter) for letter in sorted(set(labels)))]
        base, index = self.index(labels)
        return tensor.reshape(-1)[base:].take(index)

    def write(self, tensor: np.ndarray, labels: str, values) -> None:
        """``tensor[neuron(labels[0]), ...] = values`` at every tuple of the block."""
        if self.sizes is not None:
            # a whole block of distinct tiles: the tuples are the product of the tiles, in order,
            # and their positions in ``tensor`` a strided view of one region (no index array)
            offset, strides = 0, [0] * len(self.sizes)
            for slot, letter in enumerate(labels):
                axis = _LETTERS.index(letter)
                offset += self.offsets[axis] * tensor.strides[slot]
                strides[self.positions[axis]] += tensor.strides[slot]
            region = tensor.reshape(-1)[offset // tensor.itemsize:]
            view = np.lib.stride_tricks.as_strided(region, self.sizes, strides, writeable=True)
            view[...] = np.reshape(values, self.sizes) if np.ndim(values) else values
            return
        base, index = self.index(labels)
        tensor.reshape(-1)[base:][index] = values


def neuron_tuples(n: int, pattern: str, block: int):
    """The tuples of ``pattern`` over ``n`` neurons (module docstring), as :class:`NeuronTuples`
    blocks of at most ``block`` tuples, tile block by tile block."""
    groups = pattern_groups(pattern)
    assignments = _group_assignments(groups)
    for runs, local, blocks in _tile_blocks(n, sum(groups)):
        caches = [{} for _ in assignments]          # flat indices of this shape, per assignment
        count = len(local[0])
        distinct = count <= block and all(length == 1 for length, _ in runs)
        sizes = tuple(size for _, size in runs) if distinct else None
        for offsets in blocks:
            for assignment, cache in zip(assignments, caches):
                letters_offsets = [offsets[p] for p in assignment]
                letters_local = [local[p] for p in assignment]
                for start in range(0, count, block):
                    yield NeuronTuples(letters_offsets, letters_local, n, slice(start, start + block), cache,
                                       sizes, assignment if distinct else None)


def _call_workspace(name: str, elements: int) -> int:
    per_element, blocked, block, fixed = RUNTIME_WORKSPACE.get(name, (0, 0, 0, 0))
    return per_element * elements + blocked * min(elements, block) + fixed


def _bytes_per_tuple(spec) -> int:
    """Working bytes per tuple of an evaluation block, beyond the runtime calls' fixed workspace."""
    return max((8 * arrays + sum(sum(RUNTIME_WORKSPACE.get(name, (0, 0, 0, 0))[:2]) for name in calls)
                for arrays, calls in spec.statements), default=0)


def block_size(spec) -> int:
    """Tuples per evaluation block of ``spec``: the largest power of two from ``MIN_BLOCK`` to
    ``MAX_BLOCK`` whose working memory fits in :data:`WORKSPACE_BYTES`."""
    block = MAX_BLOCK
    while block > MIN_BLOCK and block * _bytes_per_tuple(spec) > WORKSPACE_BYTES:
        block //= 2
    return block


def _working_bytes(spec, n: int) -> int:
    """Upper bound on the bytes one pattern (or shared table) of ``spec`` holds while its blocks
    run: one evaluation block's arrays and calls, and the per-shape index arrays of a tile block
    (positions within the tiles, and the ``spec.index_arrays`` flat indices cached from them)."""
    d = len(distinct_letters(spec.pattern))
    block = min(block_size(spec), max(1, tuple_count(n, spec.pattern)))
    statements = max((8 * arrays * block + sum(_call_workspace(name, block) for name in calls)
                      for arrays, calls in spec.statements), default=0)
    tile_block = min(tile_size(d) ** d, max(1, math.comb(n, d)))
    assignments = len(_group_assignments(pattern_groups(spec.pattern)))
    return statements + 8 * tile_block * (d + assignments * spec.index_arrays)


class HeldSlices:
    """An input cumulant held in another form than an array (an object with ``slice(labels)``,
    :mod:`symcorr.numeric.cumulant_tensors`), each slice computed once per kernel call."""

    __slots__ = ("_cache", "_tensor")

    def __init__(self, tensor):
        self._tensor, self._cache = tensor, {}

    def slice(self, labels: str) -> np.ndarray:
        values = self._cache.get(labels)
        if values is None:
            values = self._cache[labels] = np.asarray(self._tensor.slice(labels), dtype=np.float64)
        return values


def _input_tensors(kappa):
    """The input cumulants as the tuple gathers read them: C-contiguous float64 arrays, or
    :class:`HeldSlices` for tensors held in another form."""
    return tuple(HeldSlices(t) if hasattr(t, "slice") else np.ascontiguousarray(t, dtype=np.float64)
                 for t in kappa)


def _shared_tables(n: int, shared, kappa, parameters, bar=None) -> list[np.ndarray]:
    """The :class:`SharedTable` values over ``n`` neurons, at their tuples."""
    tables = []
    for spec in shared:
        letters = distinct_letters(spec.pattern)
        table = np.empty((n,) * len(letters))     # written (and read) at the pattern's tuples only
        for at in neuron_tuples(n, spec.pattern, block_size(spec)):
            at.write(table, letters, spec.function(kappa, at, *parameters))
            if bar is not None:
                bar.update(at.size)
        tables.append(table)
    return tables


def symmetric_tensor(n: int, order: int, patterns, shared, kappa, parameters, progress=None) -> np.ndarray:
    r"""The full symmetric order-``order`` output tensor over ``n`` neurons from its tuple patterns.

    ``patterns`` (:class:`TuplePattern`, one per index pattern of the order) are evaluated on
    their neuron tuples block by block and each value is written into every position that
    realises it; ``shared`` (:class:`SharedTable`) are tabulated first and handed to every
    pattern function as the list ``shared``. ``kappa`` are the input cumulant tensors (copied
    once if not C-contiguous float64; tensors held in another form are read through their
    slices, :class:`HeldSlices`), ``parameters`` the activation's. ``progress``: a bar
    over the tuples (:func:`~symcorr.codegen.runtime.progress.progress_bar`). Peak memory:
    the output, the shared tables and one block's working memory (:func:`peak_bytes`).
    """
    kappa = _input_tensors(kappa)
    out = np.empty((n,) * order)
    total = sum(tuple_count(n, spec.pattern) for spec in (*shared, *patterns))
    with progress_bar(total, progress, f"order-{order} cumulant over {n} neurons", unit="tuple") as bar:
        tables = _shared_tables(n, shared, kappa, parameters, bar)
        for spec in patterns:
            words = pattern_words(spec.pattern)
            for at in neuron_tuples(n, spec.pattern, block_size(spec)):
                values = np.broadcast_to(spec.function(kappa, at, tables, *parameters), (at.size,))
                for word in words:
                    at.write(out, word, values)
                bar.update(at.size)
    return out


def diagonal(n: int, order: int, patterns, shared, kappa, parameters) -> np.ndarray:
    r"""The diagonal :math:`\kappa_{y,i\dots i}` of the order-``order`` output (pattern ``'i' * order``)
    over ``n`` neurons: a vector, computed from each neuron's own input slices only."""
    pattern = "i" * order
    spec = next(spec for spec in patterns if spec.pattern == pattern)
    kappa = _input_tensors(kappa)
    tables = _shared_tables(n, shared, kappa, parameters)
    out = np.empty(n)
    for at in neuron_tuples(n, pattern, block_size(spec)):
        at.write(out, "i", np.broadcast_to(spec.function(kappa, at, tables, *parameters), (at.size,)))
    return out


def pattern_mean(n: int, pattern: str, patterns, shared, kappa, parameters) -> float:
    r"""The mean of the output's entries on ``pattern`` over all its tuples of distinct neurons (``'iijj'``: the
    mean of :math:`\kappa_{y,aabb}` over :math:`a \ne b`): the pattern's function summed over its sorted tuples,
    which stand for every tuple (module docstring), block by block."""
    spec = next(spec for spec in patterns if spec.pattern == pattern)
    kappa = _input_tensors(kappa)
    tables = _shared_tables(n, shared, kappa, parameters)
    total, count = 0.0, 0
    for at in neuron_tuples(n, pattern, block_size(spec)):
        total += float(np.sum(np.broadcast_to(spec.function(kappa, at, tables, *parameters), (at.size,))))
        count += at.size
    return total / count if count else 0.0


#: Bytes the working arrays of a grid function on two neurons take at most at once: above it the function is
#: evaluated a window of rows of its grid at a time (:func:`~symcorr.codegen.runtime.grid.in_row_windows`), each
#: window's arrays within it (a row at least). ReLU's order-2 pattern ``'ij'`` at closure 4 holds 161 arrays of the
#: grid's size and its runtime call's workspace, 1360 bytes per entry (5.7 GB at N = 2048 whole); a factored
#: module's ``'iij'`` correction ~400 arrays (3.2 GB at N = 1024 whole). 4 MB, near the processor's caches: the
#: cubic's order-2 pattern at closure 4 took 0.097 s at N = 1024 and 1.6 s at 4096 so, 0.117 s and 2.1 s in windows
#: of 64 MB (1 MB: 0.097 s and 1.7 s; 512 kB: 0.10 s and 2.1 s, the windows' Python calls adding up).
ROW_WINDOW_BYTES = 1 << 22


def window_rows(n: int, bytes_per_entry: int) -> int:
    """The rows of an ``n x n`` grid evaluated at a time by a function whose working memory is
    ``bytes_per_entry`` per grid entry (:data:`ROW_WINDOW_BYTES`)."""
    if bytes_per_entry * n * n <= ROW_WINDOW_BYTES:
        return n
    return max(1, ROW_WINDOW_BYTES // (bytes_per_entry * n))


def grid_entry_bytes(statements) -> int:
    """Working bytes per entry of the grid of two neurons of a grid pattern function (its ``GRID_MEMORY``
    statements): its arrays of the grid's size and the per-element workspace of runtime calls on the grid."""
    return max((8 * (arrays[2] if len(arrays) > 2 else 0)
                + sum(sum(RUNTIME_WORKSPACE.get(name, (0, 0, 0, 0))[:2]) for name, e in calls if e == 2)
                for arrays, calls in statements), default=0)


def _grid_pattern_bytes(n: int, statements) -> int:
    """Working bytes of a grid pattern function (output orders 1, 2): per statement, ``arrays[e]``
    float arrays of ``n**e`` elements and runtime calls ``(name, e)`` on ``n**e`` elements -- on two neurons, of
    ``rows * n`` elements, the window of rows evaluated at a time (:func:`window_rows`)."""
    elements = [1, n, n * window_rows(n, grid_entry_bytes(statements))]
    return max((sum(8 * count * elements[e] for e, count in enumerate(arrays))
                + sum(_call_workspace(name, elements[e]) for name, e in calls)
                for arrays, calls in statements), default=0)


#: Bytes peak_bytes adds for what does not grow with the width: Python objects, small tables
#: (measured: 10-20 kB for the order-2 cubic kernels at widths 12..60).
OVERHEAD_BYTES = 1 << 20


def peak_bytes(n: int, grid_orders: dict, tuple_orders: dict) -> int:
    r"""Upper bound on the bytes a kernel allocates while computing the output cumulants of
    every order at width ``n`` and keeping them (as ``pointwise`` does).

    ``grid_orders[k]``: the statements of each grid pattern function of order ``k``
    (``_grid_pattern_bytes``); ``tuple_orders[k] = (patterns, shared)`` as passed to
    :func:`symmetric_tensor`. The bound is the sum of the results,
    :math:`8\sum_k n^k`, plus the largest working memory of any order -- for a grid order,
    its largest pattern function; for a tuple order, its shared tables and one block of its
    largest pattern (``_working_bytes``) -- plus :data:`OVERHEAD_BYTES`. The input
    tensors are not counted.
    """
    n = int(n)
    results = sum(8 * n ** k for k in (*grid_orders, *tuple_orders))
    working = [_grid_pattern_bytes(n, statements) for patterns in grid_orders.values() for statements in patterns]
    for patterns, shared in tuple_orders.values():
        tables = sum(8 * n ** len(distinct_letters(spec.pattern)) for spec in shared)
        working.append(tables + max((_working_bytes(spec, n) for spec in (*shared, *patterns)), default=0))
    return results + max(working, default=0) + OVERHEAD_BYTES


def fill_symmetric(n: int, order: int, patterns, entries, progress=None) -> np.ndarray:
    r"""The full symmetric ``(n,) * order`` tensor whose entry at a sorted index tuple
    :math:`i_1 \le \dots \le i_r` is ``entries(sorted_indices)`` (``order`` index arrays,
    increasing slot by slot; returns one value per tuple).

    ``patterns``: the index patterns of the order (``notation.partitions.index_patterns``),
    whose tuples together cover every sorted index tuple once; written with
    :func:`symmetric_tensor`, hence exactly symmetric.
    """
    def pattern_entries(word):
        def function(kappa, at, shared):
            return entries(list(np.sort(np.stack([at.neuron(letter) for letter in word]), axis=0)))
        return function

    specs = [TuplePattern(pattern, pattern_entries(pattern), ((order + 1, ()),), 0) for pattern in patterns]
    return symmetric_tensor(n, order, specs, (), (), (), progress)
