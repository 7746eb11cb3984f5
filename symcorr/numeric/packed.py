r"""Symmetric tensors of orders 3 and 4 stored once per sorted index tuple, filled by matrix products.

The power sums and k-statistics of :mod:`symcorr.numeric.kstatistics` (docs/theory.md
section 7) are symmetric: an order-4 tensor over :math:`N` variables has
:math:`\binom{N+3}{4} \approx N^4/24` distinct entries. They are stored *packed*,
one entry per sorted tuple :math:`i \le j \le k\,(\le l)`, in blocks by the second
index :math:`j` (:class:`PackedLayout`): block :math:`j` is the matrix with rows
:math:`i = 0..j` and columns :math:`k = j..N-1` (order 3) or the pairs
:math:`j \le k \le l` in lexicographic order (order 4). That is exactly what one
matrix product gives: with :math:`A_j = (y_i y_j)_{s, i \le j}` (rows: samples),

.. math::

    S^{(3)}_{[j]} \mathrel{+}= A_j^\top\, Y_{:, j:}, \qquad
    S^{(4)}_{[j]} \mathrel{+}= A_j^\top\, P_{:, (k, l):\, k \ge j},
    \qquad P_{s, (k,l)} = y_{sk} y_{sl},

so the power sums cost :math:`\binom{N+3}{4}` multiply-adds per sample, all in BLAS
(:func:`add_power_sums`). Sums of products of power sums -- the k-statistics, or
the sums about another shift -- are evaluated block by block on broadcast index
arrays (:func:`evaluate_terms`), and :func:`expand` writes a packed tensor into
every permutation of a full one (exactly symmetric).
"""
from __future__ import annotations

import contextlib
import math
from functools import lru_cache

import numpy as np

from symcorr.codegen.runtime.tuples import fill_symmetric
from symcorr.notation.partitions import index_patterns

#: Orders stored packed (orders 1 and 2 are vectors and matrices).
PACKED_ORDERS = (3, 4)


class PackedLayout:
    r"""Where each sorted tuple of order ``order`` (3 or 4) over ``dim`` variables sits in a packed vector.

    ``offsets[j]``: start of block :math:`j`; ``widths[j]``: its columns; the block
    is ``(j + 1) x widths[j]``, row-major. ``pair_first``, ``pair_second``: the pairs
    :math:`k \le l` in lexicographic order, ``pair_start[j]`` the first with
    :math:`k = j` (order 4).
    """

    def __init__(self, dim: int, order: int):
        if order not in PACKED_ORDERS:
            raise ValueError(f"packed tensors have order 3 or 4, got {order}")
        self.dim, self.order = dim, order
        self.pair_first, self.pair_second = np.triu_indices(dim)
        self.pair_start = np.concatenate(([0], np.cumsum(np.arange(dim, 0, -1))))[:dim]
        rest = np.arange(dim, 0, -1)                      # N - j
        self.widths = rest if order == 3 else rest * (rest + 1) // 2
        self.offsets = np.concatenate(([0], np.cumsum(np.arange(1, dim + 1) * self.widths)))
        self.size = math.comb(dim + order - 1, order)

    def block(self, j: int) -> slice:
        return slice(int(self.offsets[j]), int(self.offsets[j + 1]))

    def columns(self, j: int) -> list:
        """The column indices of block ``j`` as ``(1, width)`` arrays: ``[k]`` or ``[k, l]``."""
        if self.order == 3:
            return [np.arange(j, self.dim)[None, :]]
        start = self.pair_start[j]
        return [self.pair_first[start:][None, :], self.pair_second[start:][None, :]]

    def slots(self, j: int) -> list:
        """Index arrays of the tuples of block ``j``, one per slot, broadcasting to the block."""
        return [np.arange(j + 1)[:, None], j, *self.columns(j)]

    def rank(self, indices):
        """Packed positions of sorted tuples (one broadcast index array per slot, increasing)."""
        if self.order == 3:
            return self.rank3(*indices)
        i, j, k, l = indices
        return self.offsets[j] + i * self.widths[j] + (self.pair_start[k] - self.pair_start[j]) + (l - k)

    def rank3(self, i, j, k):
        """Packed positions of sorted triples :math:`i \\le j \\le k` (broadcast arrays) in an order-3 layout."""
        return self.offsets[j] + i * (self.dim - j) + (k - j)


@lru_cache(maxsize=16)
def layout(dim: int, order: int) -> PackedLayout:
    """The (cached) :class:`PackedLayout` of ``order`` over ``dim`` variables."""
    return PackedLayout(dim, order)


#: Row chunks with fewer rows than this multiply with a single BLAS thread (when threadpoolctl is
#: installed): from_samples(digits, 4) spends 0.6 s in its 64 groups' products (29 rows each) with
#: one OpenBLAS thread and 6 s with two on a busy 2-core machine.
SMALL_PRODUCT_ROWS = 512
_blas_controller = []


def blas_threads_for(rows: int):
    """A context running BLAS single-threaded for products over ``rows < SMALL_PRODUCT_ROWS`` rows
    (threadpoolctl, if installed; otherwise, and for larger products, BLAS as configured)."""
    if rows >= SMALL_PRODUCT_ROWS:
        return contextlib.nullcontext()
    if not _blas_controller:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_controller.append(None)
        else:
            _blas_controller.append(ThreadpoolController())
    controller = _blas_controller[0]
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


#: Blocks :math:`j` are grouped into this many matrix products per row chunk: one product per
#: block is ~N small products, which a multithreaded BLAS runs 8x slower than a few large ones
#: (measured at N = 64); a group computes a few unused columns (those with :math:`k < j`).
GEMM_GROUPS = 8


def add_power_sums(Y, packed: dict) -> None:
    r"""Add :math:`\sum_s y_s^{\otimes r}` of the rows of ``Y`` to ``packed[r]`` for r in 3, 4 present.

    ``Y`` is an ``(m, N)`` float64 array (or torch tensor: the products then run in torch).
    Blocks :math:`j_0 \le j < j_1` at once (:data:`GEMM_GROUPS`): :math:`A` holds the
    products :math:`y_i y_j`, :math:`i \le j`, of the group's blocks and
    :math:`A^\top Y_{:, j_0:}`, :math:`A^\top P_{:, (k,l): k \ge j_0}` hold every block of the
    group (module docstring); the pair products :math:`P` are :math:`m N (N+1)/2` floats.
    """
    dim = Y.shape[1]
    pairs = None
    if 4 in packed:
        four = layout(dim, 4)
        pairs = Y[:, four.pair_first] * Y[:, four.pair_second]
    span = -(-dim // GEMM_GROUPS)
    for j0 in range(0, dim, span):
        blocks = range(j0, min(dim, j0 + span))
        first = np.concatenate([np.arange(j + 1) for j in blocks])
        second = np.concatenate([np.full(j + 1, j) for j in blocks])
        A = Y[:, first] * Y[:, second]
        three = np.asarray(A.T @ Y[:, j0:]) if 3 in packed else None
        products = np.asarray(A.T @ pairs[:, four.pair_start[j0]:]) if pairs is not None else None
        row = 0
        for j in blocks:
            rows = slice(row, row + j + 1)
            row += j + 1
            if three is not None:
                packed[3][layout(dim, 3).block(j)] += three[rows, j - j0:].reshape(-1)
            if products is not None:
                packed[4][four.block(j)] += products[rows, four.pair_start[j] - four.pair_start[j0]:].reshape(-1)


def evaluate_terms(dim: int, order: int, terms, factor) -> np.ndarray:
    r"""A packed tensor of order ``order``: :math:`\sum_t c_t \prod_{f \in t} f` at every sorted tuple.

    ``terms``: ``(coefficient, factors)`` pairs; ``factor(f, slots, j)`` returns the value of
    factor ``f`` on block ``j`` given the block's index arrays ``slots`` (one per slot,
    broadcasting to the block, :meth:`PackedLayout.slots`).
    """
    grid = layout(dim, order)
    out = np.empty(grid.size)
    for j in range(dim):
        slots = grid.slots(j)
        shape = (j + 1, grid.widths[j])
        total = np.zeros(shape)
        for coefficient, factors in terms:
            product = coefficient
            for f in factors:
                product = product * factor(f, slots, j)
            total += product
        out[grid.block(j)] = total.reshape(-1)
    return out


def gather(sums, count, sub, slots, j, order, dim):
    r"""The power sum over the slots ``sub`` (a sorted sub-tuple of slots) at the index arrays
    ``slots`` -- block ``j`` of an order-3 or -4 layout, or the full grid of order 1 or 2:
    ``sums[r]`` is the vector (r = 1), matrix (r = 2) or packed tensor (r = 3, 4); the count
    for the empty sub-tuple."""
    r = len(sub)
    if r == 0:
        return float(count)
    if r == order and order in PACKED_ORDERS:        # the block itself
        return sums[r][layout(dim, order).block(j)].reshape(j + 1, -1)
    index = [slots[s] for s in sub]
    if r == 1:
        return sums[1][index[0]]
    if r == 2:
        return sums[2][index[0], index[1]]
    return sums[3][layout(dim, 3).rank3(*index)]


def expand(packed: np.ndarray, dim: int, order: int) -> np.ndarray:
    """The full symmetric ``(dim,) * order`` tensor of a packed one, every permutation written
    (:func:`symcorr.codegen.runtime.tuples.fill_symmetric`)."""
    grid = layout(dim, order)
    return fill_symmetric(dim, order, index_patterns(order), lambda indices: packed[grid.rank(indices)])
