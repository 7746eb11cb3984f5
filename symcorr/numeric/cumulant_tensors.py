r"""Cumulant tensors that are not dense arrays: the small protocol kernels read them through.

A cumulant of order :math:`n` over :math:`N` neurons is :math:`N^n` numbers, but
a pointwise layer's formulas read it only through *index patterns*: the
slice ``'iij'`` of :math:`\kappa^{(3)}` is the :math:`N \times N` array
:math:`A_{ab} = \kappa_{aab}` over its distinct labels (axes in sorted label
order), ``'iiii'`` the vector :math:`\kappa_{aaaa}` (docs/theory.md section 4).
The generated kernels call :func:`symcorr.codegen.runtime.grid_view`, which
asks ``tensor.slice(labels)`` whenever the tensor has it, so any object with
this protocol can stand where a dense array stands:

* ``order``, ``dim`` -- :math:`n` and :math:`N`;
* ``slice(labels)`` -- the entries of an index pattern over its distinct labels;
* ``nbytes`` -- the memory it holds; ``slice_nbytes(labels)`` that of one slice;
* ``to_dense(budget=None)`` -- the full array, after a memory estimate
  (:func:`symcorr.numeric.budget.check_memory`), or a ``TypeError`` naming why not;
* ``linear(W)`` -- the tensor of :math:`z = W y` (docs/theory.md section 3), with
  ``linear_nbytes(n_out)`` its memory; a ``TypeError`` naming why where impossible.

Implementations here: :class:`ZeroTensor` (an order known to vanish, no
memory), :class:`RankOneSum`
:math:`\kappa_{i_1..i_n} = \sum_r d_r V_{i_1 r}\cdots V_{i_n r}` -- with
:math:`V = I` the *diagonal* tensor that an odd closure keeps of the next
order after a pointwise layer, and after a linear layer :math:`W` the sum of
rank-1 terms :math:`\sum_a d_a\, w_a^{\otimes n}` whose slices are matrix
products (e.g. :math:`\kappa'_{iijj} = \sum_a W_{ia}^2 W_{ja}^2 d_a`); and
(:mod:`symcorr.numeric.data_cumulants`) the slices of a data set's
cumulants, estimated from samples on demand; and (:mod:`symcorr.numeric.factored`) sums of small
tensor networks, the factored representation of wide layers.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from symcorr.numeric.budget import FLOAT, check_memory
from symcorr.numeric.tensors import symmetric_product


def distinct_labels(labels: str) -> str:
    """The distinct labels of a pattern in sorted order: ``'iji'`` -> ``'ij'``."""
    return "".join(sorted(set(labels)))


def is_cumulant_tensor(tensor) -> bool:
    """Whether ``tensor`` implements the protocol of the module docstring (rather than being an array)."""
    return hasattr(tensor, "slice") and hasattr(tensor, "to_dense") and not isinstance(tensor, np.ndarray)


def dense_slice(tensor: np.ndarray, labels: str) -> np.ndarray:
    """The slice ``labels`` of a dense tensor (a view where NumPy can make one)."""
    return np.einsum(f"{labels}->{distinct_labels(labels)}", tensor)


def pattern_slice(tensor, labels: str) -> np.ndarray:
    """The slice ``labels`` of a dense array or a protocol tensor."""
    return tensor.slice(labels) if is_cumulant_tensor(tensor) else dense_slice(tensor, labels)


def is_zero(tensor) -> bool:
    """Whether ``tensor`` (array or protocol) is identically zero."""
    if isinstance(tensor, ZeroTensor):
        return True
    if isinstance(tensor, RankOneSum):
        return not np.any(tensor.weights)
    if is_cumulant_tensor(tensor) and getattr(tensor, "terms", None) is not None:
        return not tensor.terms             # a factored tensor without terms
    if is_cumulant_tensor(tensor):
        return False
    return not np.any(tensor)


def _check_labels(labels: str, order: int) -> None:
    if len(labels) != order or not labels.isalpha():
        raise ValueError(f"an index pattern of an order-{order} tensor has {order} letters, got {labels!r}")


def _contract_rank(factors, weights) -> np.ndarray:
    r""":math:`T_{a_1..a_d} = \sum_r w_r F^{(1)}_{a_1 r}\cdots F^{(d)}_{a_d r}`: a matrix product for
    :math:`d \le 2` (of the blocks on and above the diagonal where both factors are one array:
    :func:`~symcorr.numeric.tensors.symmetric_product`), one such product per index of the leading axis above
    (memory: the result)."""
    if len(factors) == 1:
        return factors[0] @ weights
    if len(factors) == 2:
        if factors[0] is factors[1]:        # symmetric: 5/8 of the product
            return symmetric_product(factors[0] * weights, factors[1])
        return (factors[0] * weights) @ factors[1].T
    out = np.empty(tuple(f.shape[0] for f in factors))
    for a in range(factors[0].shape[0]):
        out[a] = _contract_rank(factors[1:], weights * factors[0][a])
    return out


def zero_where_coincident(values: np.ndarray) -> np.ndarray:
    """``values`` (one axis per neuron) with the entries where two of its neurons coincide set to zero, in place."""
    letters = "ijklmnopqrstuvwxyz"[:values.ndim]
    for a, b in itertools.combinations(range(values.ndim), 2):
        joined = letters[:b] + letters[a] + letters[b + 1:]
        np.einsum(joined + "->" + "".join(dict.fromkeys(joined)), values)[...] = 0.0
    return values


def mean_over_distinct(values: np.ndarray) -> float:
    """The mean of ``values`` (one axis per neuron) over the entries whose neurons are all distinct (a copy is
    zeroed where they coincide)."""
    count = math.perm(values.shape[0], values.ndim)
    return float(np.sum(zero_where_coincident(np.array(values)))) / count if count else 0.0


class ZeroTensor:
    """An order-``order`` cumulant of ``dim`` neurons that is exactly zero (holds no memory)."""

    def __init__(self, order: int, dim: int):
        self.order, self.dim = int(order), int(dim)

    nbytes = 0

    def slice(self, labels: str) -> np.ndarray:
        _check_labels(labels, self.order)
        return np.zeros((self.dim,) * len(set(labels)))

    def slice_nbytes(self, labels: str) -> int:
        return FLOAT * self.dim ** len(set(labels))

    def to_dense(self, budget=None) -> np.ndarray:
        check_memory(FLOAT * self.dim**self.order, f"a dense zero tensor of order {self.order}", "keep it implicit",
                     budget)
        return np.zeros((self.dim,) * self.order)

    def linear(self, W) -> "ZeroTensor":
        return ZeroTensor(self.order, np.shape(W)[0])

    def linear_nbytes(self, n_out: int) -> int:
        return 0

    def __repr__(self) -> str:
        return f"ZeroTensor(order={self.order}, dim={self.dim})"


class RankOneSum:
    r""":math:`\kappa_{i_1..i_n} = \sum_r d_r V_{i_1 r}\cdots V_{i_n r}`; ``factors=None`` means
    :math:`V = I`, the diagonal tensor :math:`\kappa_{a..a} = d_a` (module docstring)."""

    def __init__(self, order: int, weights, factors=None):
        self.order = int(order)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.factors = None if factors is None else np.asarray(factors, dtype=np.float64)
        if self.weights.ndim != 1 or (self.factors is not None and self.factors.shape[1:] != self.weights.shape):
            raise ValueError("RankOneSum needs weights (R,) and factors (N, R)")
        self.dim = self.weights.shape[0] if self.factors is None else self.factors.shape[0]

    @classmethod
    def diagonal(cls, order: int, values) -> "RankOneSum":
        """The diagonal tensor with :math:`\\kappa_{a..a}` = ``values[a]``."""
        return cls(order, values)

    @property
    def nbytes(self) -> int:
        return self.weights.nbytes + (0 if self.factors is None else self.factors.nbytes)

    def slice(self, labels: str) -> np.ndarray:
        r"""The pattern's entries: per distinct label :math:`L` with multiplicity :math:`c_L` the factor
        :math:`V^{\circ c_L}` (elementwise power), contracted over the rank index."""
        _check_labels(labels, self.order)
        present = distinct_labels(labels)
        if self.factors is None:
            if len(present) == 1:
                return self.weights.copy()
            out = np.zeros((self.dim,) * len(present))
            out[(np.arange(self.dim),) * len(present)] = self.weights
            return out
        powers = {count: self._power(count) for count in sorted({labels.count(label) for label in present})}
        return _contract_rank([powers[labels.count(label)] for label in present], self.weights)

    def _power(self, exponent: int) -> np.ndarray:
        r""":math:`V^{\circ e}` by repeated products (``**`` with an exponent above 2 calls ``pow`` per element,
        about 5x slower)."""
        out = self.factors
        for _ in range(exponent - 1):
            out = out * self.factors
        return out

    def slice_nbytes(self, labels: str) -> int:
        return FLOAT * self.dim ** len(set(labels))

    def to_dense(self, budget=None) -> np.ndarray:
        check_memory(FLOAT * self.dim**self.order * 2, f"the dense order-{self.order} tensor of {self.dim} neurons "
                     "from its rank-1 terms", "use its slices (slice(labels)) instead", budget)
        return self.slice("ijklmnopqrstuvwxyz"[:self.order])

    def linear(self, W) -> "RankOneSum":
        W = np.asarray(W, dtype=np.float64)
        return RankOneSum(self.order, self.weights, W if self.factors is None else W @ self.factors)

    def linear_nbytes(self, n_out: int) -> int:
        return FLOAT * n_out * self.weights.shape[0]

    def __repr__(self) -> str:
        kind = "diagonal" if self.factors is None else f"rank {self.weights.shape[0]}"
        return f"RankOneSum(order={self.order}, dim={self.dim}, {kind})"


def pairings(slots: int) -> list[tuple[tuple[int, int], ...]]:
    """The perfect matchings of ``slots`` (even) slots ``0..slots-1``: ``(slots - 1)!!`` of them, each a tuple of
    pairs ``(s, t)``, ``s < t``."""
    def matchings(rest: tuple[int, ...]):
        if not rest:
            return [()]
        first, others = rest[0], rest[1:]
        return [((first, partner),) + tail for k, partner in enumerate(others)
                for tail in matchings(others[:k] + others[k + 1:])]

    return matchings(tuple(range(slots)))


class RankOneAndPairing:
    r"""The next order :math:`n = 4` that closure 3 keeps with ``pair_mean=True`` (docs/theory.md section 9.5):
    its diagonal and the mean :math:`c` of its pair entries (the formulas below hold for any even :math:`n`, but
    from :math:`n = 6` on the pairings also fill entries such as :math:`\kappa_{aaaabb}`, with :math:`3c`, so only
    :math:`n = 4` is accepted). Behind a pointwise layer it is
    :math:`\kappa_{a..a} = d_a`, :math:`\kappa_{aabb} = c` for :math:`a \ne b` (and every arrangement of such
    pairs), zero elsewhere; as a tensor

    .. math:: \kappa_{i_1..i_n} = \sum_r (d_r - (n-1)!!\,c)\, V_{i_1 r}\cdots V_{i_n r}
              + c \sum_{\text{pairings } \pi} \prod_{(s,t) \in \pi} G_{i_s i_t}, \qquad G = V V^\top,

    with :math:`V = I` there and :math:`V \to W V` through a linear layer :math:`W` (section 3), so that the
    pairing part is :math:`c\,\operatorname{Sym}` of :math:`G^{\otimes n/2}` carried by the metric :math:`G`. Its
    slices are those of the :class:`RankOneSum` (``rank_one``) plus :math:`c` times a sum over the
    :math:`(n-1)!!` pairings of products of :math:`G` and its diagonal (matrix-sized for two distinct labels)."""

    def __init__(self, rank_one: RankOneSum, pair_mean: float):
        if rank_one.order != 4:
            # at order 6 the pairings would also give the entries aaaabb 3c (not zero): not what is measured here
            raise ValueError(f"the diagonal and pair mean are kept of order 4 (closure 3) only, got order "
                             f"{rank_one.order}: use pair_mean=False at closure {rank_one.order - 1}")
        self.rank_one, self.pair_mean = rank_one, float(pair_mean)
        self.order, self.dim = rank_one.order, rank_one.dim
        self._metric = None

    @classmethod
    def from_diagonal(cls, order: int, diagonal, pair_mean: float) -> "RankOneAndPairing":
        r"""The tensor with diagonal ``diagonal`` and every pair entry :math:`\kappa_{aabb..}` equal to
        ``pair_mean`` (zero elsewhere)."""
        pairs = math.prod(range(order - 1, 0, -2))
        return cls(RankOneSum.diagonal(order, np.asarray(diagonal, dtype=np.float64) - pairs * pair_mean), pair_mean)

    @property
    def metric(self) -> np.ndarray:
        r""":math:`G = V V^\top` (the identity behind a pointwise layer), made once."""
        if self._metric is None:
            V = self.rank_one.factors
            self._metric = np.eye(self.dim) if V is None else symmetric_product(V, V)
        return self._metric

    @property
    def nbytes(self) -> int:
        return self.rank_one.nbytes + (0 if self._metric is None else self._metric.nbytes)

    def slice(self, labels: str) -> np.ndarray:
        _check_labels(labels, self.order)
        out = self.rank_one.slice(labels)
        if self.pair_mean == 0.0:
            return out
        G, output = self.metric, distinct_labels(labels)
        diagonal = np.diagonal(G)
        for pairing in pairings(self.order):
            operands, subscripts = [], []
            for s, t in pairing:
                same = labels[s] == labels[t]
                operands.append(diagonal if same else G)
                subscripts.append(labels[s] if same else labels[s] + labels[t])
            out = out + self.pair_mean * np.einsum(",".join(subscripts) + "->" + output, *operands, optimize=True)
        return out

    def slice_nbytes(self, labels: str) -> int:
        return 3 * FLOAT * self.dim ** len(set(labels)) + FLOAT * self.dim ** 2

    def to_dense(self, budget=None) -> np.ndarray:
        check_memory(FLOAT * self.dim**self.order * 3, f"the dense order-{self.order} tensor of {self.dim} neurons "
                     "from its rank-1 terms and pairing", "use its slices (slice(labels)) instead", budget)
        return self.slice("ijklmnopqrstuvwxyz"[:self.order])

    def linear(self, W) -> "RankOneAndPairing":
        return RankOneAndPairing(self.rank_one.linear(W), self.pair_mean)

    def linear_nbytes(self, n_out: int) -> int:
        return self.rank_one.linear_nbytes(n_out) + FLOAT * n_out**2

    def __repr__(self) -> str:
        return f"RankOneAndPairing(order={self.order}, dim={self.dim}, pair mean {self.pair_mean:.3g})"


__all__ = ["ZeroTensor", "RankOneSum", "RankOneAndPairing", "pairings", "zero_where_coincident", "mean_over_distinct",
           "is_cumulant_tensor", "pattern_slice", "dense_slice", "distinct_labels", "is_zero"]
