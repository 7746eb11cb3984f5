r"""Cumulant tensors of order >= 3 in factored form: sums of small tensor networks (docs/theory.md section 12).

A dense cumulant of order :math:`n` over :math:`N` neurons is :math:`8 N^n` bytes. A
:class:`FactoredTensor` holds it as a sum of :class:`~symcorr.numeric.tensor_networks.Term` s,

.. math::

    \kappa = \sum_t \operatorname{Sym}(X_t), \qquad
    X_{t,\, x_1 \dots x_n} = w_t \sum_{\text{internal}} \prod_f F^{(f)} \prod_s L^{(s)}_{x_s k_s},

each a network of per-neuron vectors, :math:`N \times N` matrices and :math:`N \times r` factors
(:mod:`symcorr.numeric.tensor_networks`), never materialized unless asked. It implements the protocol of
:mod:`symcorr.numeric.cumulant_tensors`, exactly:

* ``slice(labels)`` -- the entries of an index pattern, :math:`\operatorname{Sym}` taken as the
  average over the distinct orders of the pattern's letters, each contracted along a path computed
  once per shape by ``opt_einsum`` (:math:`O(N^2 r)` for the acyclic terms), the orders that end with a matrix
  product of one array summed before it; computed once per pattern and kept (``'ijj'`` is the transpose of
  ``'iij'``);
* ``linear(W)`` -- every leg matrix multiplied by :math:`W`, then folded into the factor that holds its
  index (matrix products, :math:`O(N^2 r)` per factor; a factor shared by several terms is folded once);
* ``to_dense(budget)`` -- the full array after a memory estimate;
* ``nbytes``, ``slice_nbytes``, ``linear_nbytes`` -- memory held, and needed before a slice or a linear
  layer.

Symmetry holds by construction (every term enters symmetrized). :func:`terms_of` turns the other
forms of the protocol into terms: a dense array (one symmetric term), a
:class:`~symcorr.numeric.cumulant_tensors.RankOneSum` (one symmetric term of its rank), a
:class:`~symcorr.numeric.cumulant_tensors.ZeroTensor` (none). A tensor whose pointwise layer dropped
terms (a truncation with a stated tolerance, :mod:`symcorr.numeric.factored_pointwise`) carries
what was dropped in ``dropped``.
"""
from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np

from symcorr.numeric import tensor_networks
from symcorr.numeric.budget import FLOAT, check_memory
from symcorr.numeric.cumulant_tensors import (RankOneAndPairing, RankOneSum, ZeroTensor, _check_labels,
                                              is_cumulant_tensor)

_LETTERS = "ijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Dropped:
    """What a truncation dropped at one pointwise layer: the off-diagonal cyclic terms of output ``order``
    whose estimated relative size ``size`` (Frobenius norm of the dropped part over that of the whole
    tensor, from ``samples`` uniformly sampled entries, or ``stratified``: as many for each number of distinct
    indices an entry can have) was at most ``tolerance``; ``error`` is the standard
    error of that estimate (bootstrap over the samples). The exactness status of the order says where
    (:mod:`symcorr.numeric.exactness`)."""

    order: int
    size: float
    tolerance: float
    terms: int
    samples: int
    error: float | None = None
    #: the index pattern of an input's slice whose off-diagonal cyclic networks a layer dropped (``None``: output terms)
    pattern: str | None = None
    #: the samples drawn in strata, and the parts on one pair of coincident neurons candidates too (the layer would
    #: not fit its memory budget with them made exactly: :func:`~symcorr.numeric.factored_pointwise.stratified_tuples`,
    #: :func:`~symcorr.numeric.pointwise.factored_layer`)
    stratified: bool = False

    def __str__(self) -> str:
        error = "" if self.error is None else f" +- {self.error:.1e}"
        sampled = (f"{self.samples} entries sampled in strata of their number of distinct indices"
                   if self.stratified else f"{self.samples} uniformly sampled entries")
        if self.pattern is not None:
            return (f"factored representation: the off-diagonal parts of {self.terms} cyclic network(s) of the "
                    f"order-{self.order} input's slice '{self.pattern}' dropped, estimated relative size "
                    f"{self.size:.1e}{error} of the slice (tolerance {self.tolerance:.3g}; Frobenius norm from "
                    f"{self.samples} uniformly sampled entries, standard error by bootstrap)")
        what = ("part(s) of cyclic diagram terms, all-distinct or on one pair of coincident neurons (candidates since "
                "the layer would not fit its memory budget with the latter kept)," if self.stratified
                else "off-diagonal cyclic diagram term(s)")
        return (f"factored representation: {self.terms} {what} of order {self.order} "
                f"dropped, estimated relative size {self.size:.1e}{error} (tolerance {self.tolerance:.3g}; Frobenius "
                f"norm from {sampled}, standard error by bootstrap)")


def _in_order(values: np.ndarray, axes: list[int]) -> np.ndarray:
    """A canonical slice's ``values`` with their axes as :func:`normalized` lists them (a view)."""
    return np.transpose(values, axes) if axes != sorted(axes) else values


def normalized(labels: str) -> tuple[str, list[int]]:
    """The canonical pattern of ``labels`` (letters by decreasing multiplicity) and the axis of the
    canonical slice that holds each sorted distinct letter: ``'ijj'`` -> ``('iij', [1, 0])``."""
    letters = sorted(set(labels))
    order = sorted(letters, key=lambda c: (-labels.count(c), c))
    pattern = "".join(_LETTERS[a] * labels.count(c) for a, c in enumerate(order))
    return pattern, [order.index(c) for c in letters]


class FactoredTensor:
    """A symmetric cumulant tensor of ``order`` over ``dim`` neurons as a sum of terms (module docstring)."""

    def __init__(self, order: int, dim: int, terms, dropped=()):
        self.order, self.dim = int(order), int(dim)
        self.terms = list(terms)
        for term in self.terms:
            if term.order != self.order:
                raise ValueError(f"a term of order {term.order} in a FactoredTensor of order {self.order}")
        self.dropped = tuple(dropped)
        self._slices: dict[str, np.ndarray] = {}

    # -- memory ---------------------------------------------------------------
    def _unique_arrays(self):
        seen = {}
        for term in self.terms:
            for array in term.arrays():
                seen[id(array)] = array
        return seen.values()

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self._unique_arrays()))

    def slice_nbytes(self, labels: str) -> int:
        """Bytes to compute ``slice(labels)``: the result, the sum and the product of a group of orders that end on
        one array (:func:`~symcorr.numeric.tensor_networks.summed_slice`), and the largest contraction's workspace."""
        pattern, _ = normalized(labels)
        result = FLOAT * self.dim ** len(set(labels))
        work = max((tensor_networks.slice_cost(term, word)[0] for term in self.terms
                    for word in ([pattern] if term.symmetric else tensor_networks.arrangements(pattern))), default=0)
        return 3 * result + work

    def slice_flops(self, labels: str) -> float:
        """Floating-point operations of ``slice(labels)`` (opt_einsum's count over every term)."""
        pattern, _ = normalized(labels)
        return sum(tensor_networks.slice_cost(term, word)[1] for term in self.terms
                   for word in ([pattern] if term.symmetric else tensor_networks.arrangements(pattern)))

    def linear_nbytes(self, n_out: int) -> int:
        """An upper bound on the bytes ``linear(W)`` allocates with ``n_out`` outputs: every factor folded
        once along a neuron axis, and the new leg matrices."""
        total = 0
        for array in self._unique_arrays():
            total += array.size * max(1, -(-n_out // max(1, min(array.shape, default=1))))
        return FLOAT * total

    # -- the protocol ----------------------------------------------------------
    def slice(self, labels: str) -> np.ndarray:
        r"""The entries of the index pattern ``labels`` over its sorted distinct letters (module docstring)."""
        _check_labels(labels, self.order)
        pattern, axes = normalized(labels)
        values = self._slices.get(pattern)
        if values is None:
            values = tensor_networks.summed_slice(self.terms, pattern, self.dim)
            values.flags.writeable = False
            self._slices[pattern] = values
        return _in_order(values, axes)

    def to_dense(self, budget=None) -> np.ndarray:
        """The whole tensor (:func:`~symcorr.numeric.tensor_networks.summed_dense`), after a memory estimate
        (:func:`~symcorr.numeric.tensor_networks.summed_dense_bytes`)."""
        what = (f"the dense order-{self.order} tensor of {self.dim} neurons from its {len(self.terms)} factored "
                "terms")
        return tensor_networks.summed_dense(self.terms, self.order, self.dim, check=lambda needed: check_memory(
            needed, what, "use its slices (slice(labels)) or entries(tuples) instead", budget))

    def linear(self, W) -> "FactoredTensor":
        r"""The tensor of :math:`z = W y` (docs/theory.md section 3): exact, factor by factor."""
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != self.dim:
            raise ValueError(f"W must have shape (N_out, {self.dim}), got {W.shape}")
        cache: dict = {}
        return FactoredTensor(self.order, W.shape[0], [tensor_networks.linear(t, W, cache) for t in self.terms],
                              self.dropped)

    # -- beyond the protocol ---------------------------------------------------
    def stacked(self, budget=None) -> "FactoredTensor":
        r"""The same tensor in fewer terms, exactly: terms that are one network but for the arrays held at one summed
        index made one whose index runs over them in turn (:func:`~symcorr.numeric.tensor_networks.stacked`,
        docs/theory.md section 12.3); its arrays checked against ``budget`` before they are made."""
        return FactoredTensor(self.order, self.dim, tensor_networks.stacked(self.terms, budget), self.dropped)

    def entries(self, tuples) -> np.ndarray:
        """The entries at the index tuples ``tuples`` (shape ``(M, order)``)."""
        return tensor_networks.summed_entries(self.terms, np.asarray(tuples, dtype=np.intp), self.dim)

    def summary(self) -> dict:
        """Terms held, how many are cyclic or dense, the largest internal index length (the rank of
        the widest factor), memory, and what was dropped."""
        ranks = [max((d for k, d in term.dims().items() if k not in {k for k, _ in term.legs}), default=1)
                 for term in self.terms]
        return {"terms": len(self.terms), "cyclic": sum(t.cyclic() for t in self.terms),
                "dense": sum(any(f.ndim >= 3 for f in t.factors) for t in self.terms),
                "rank": sum(ranks), "nbytes": self.nbytes, "dropped": [str(d) for d in self.dropped]}

    def __repr__(self) -> str:
        return (f"FactoredTensor(order={self.order}, dim={self.dim}, terms={len(self.terms)}, "
                f"nbytes={self.nbytes})")


class CachedSlices:
    """A tensor of the protocol whose slices are computed once: the inputs of one factored layer, whose
    block functions and diagonal ask for the same slices of, e.g., a kept diagonal many times, under any
    letters (``'iikk'`` is ``'iijj'``). Everything else is the tensor's own (``terms_of`` sees through it)."""

    def __init__(self, tensor):
        self.tensor, self.slices = tensor, {}

    def slice(self, labels: str) -> np.ndarray:
        _check_labels(labels, self.tensor.order)
        pattern, axes = normalized(labels)
        if pattern not in self.slices:
            self.slices[pattern] = self.tensor.slice(pattern)
        return _in_order(self.slices[pattern], axes)

    def __getattr__(self, name):
        return getattr(self.tensor, name)


def terms_of(tensor, order: int) -> list[tensor_networks.Term]:
    """The terms of an order-``order`` cumulant held in any form of the protocol (module docstring)."""
    if isinstance(tensor, CachedSlices):
        tensor = tensor.tensor
    if isinstance(tensor, FactoredTensor):
        return tensor.terms
    if isinstance(tensor, ZeroTensor):
        return []
    if isinstance(tensor, RankOneSum):
        return [tensor_networks.Term(1.0, [tensor.weights], [(0,)], [(0, tensor.factors)] * order, symmetric=True)]
    if isinstance(tensor, RankOneAndPairing):
        # the pairing c sum_pi prod G = (n-1)!! c Sym(G x G x ..): one metric G = V V^T (made once) per pair of slots
        pairing = tensor_networks.Term(math.prod(range(order - 1, 0, -2)) * tensor.pair_mean,
                                       [tensor.metric] * (order // 2), [(k, k + 1) for k in range(0, order, 2)],
                                       [(slot, None) for slot in range(order)])
        return terms_of(tensor.rank_one, order) + ([pairing] if tensor.pair_mean else [])
    if is_cumulant_tensor(tensor):
        raise TypeError(f"a cumulant of order {order} held as {type(tensor).__name__} has no factored terms (only "
                        "slices): the factored representation needs the tensor itself; use representation='dense'")
    array = np.asarray(tensor, dtype=np.float64)
    if not np.any(array):
        return []
    return [tensor_networks.Term(1.0, [array], [tuple(range(order))], [(s, None) for s in range(order)], symmetric=True)]


def factored(tensor, order: int) -> FactoredTensor:
    """``tensor`` (any form of the protocol, or a dense array) as a :class:`FactoredTensor`."""
    if isinstance(tensor, FactoredTensor):
        return tensor
    dim = tensor.dim if is_cumulant_tensor(tensor) else np.shape(tensor)[0]
    return FactoredTensor(order, dim, terms_of(tensor, order))


__all__ = ["FactoredTensor", "Dropped", "CachedSlices", "terms_of", "factored", "normalized"]
