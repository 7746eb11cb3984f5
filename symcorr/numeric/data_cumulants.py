r"""The cumulants of data, slice by slice: unbiased k-statistics of only the entries a layer needs.

A data set's cumulant of order 4 at width :math:`N` is an :math:`N^4` tensor, but a
pointwise layer that returns the mean and the covariance reads only its slices
with at most two distinct labels (``'iiii'``, ``'iiij'``, ``'iijj'``), which are
:math:`N \times N` arrays. :class:`SampleSlices` holds the centred samples
:math:`c_{s,i} = x_{s,i} - \bar x_i` (:math:`P \times N`) and computes a slice when
asked (:mod:`symcorr.numeric.cumulant_tensors` protocol; cached): with the
centred power sums of a pattern,

.. math::

    S_{i_1..i_n} = \sum_{s=1}^{P} c_{s,i_1}\cdots c_{s,i_n},

(the sums :math:`S_i` vanish), the unbiased k-statistics (Fisher; the formulas of
:mod:`symcorr.numeric.kstatistics` with :math:`S_i = 0`, docs/theory.md section 7) are

.. math::

    k_{ijk} = \frac{P\, S_{ijk}}{(P-1)(P-2)}, \qquad
    k_{ijkl} = \frac{P(P+1)\, S_{ijkl} - (P-1)\,(S_{ij}S_{kl} + S_{ik}S_{jl} + S_{il}S_{jk})}{(P-1)(P-2)(P-3)}.

A slice's power sum is one matrix product: the distinct labels are split in
two groups, the rows of each group's Khatri-Rao product of powers
:math:`c^{\circ m}` (one column per label tuple) are multiplied, e.g.
:math:`S_{aabb} = \sum_s c_{sa}^2 c_{sb}^2 = (C^{\circ 2})^\top C^{\circ 2}` at cost
:math:`O(P N^2)`, processed in chunks of rows so that no buffer exceeds
:data:`CHUNK_FLOATS`. Nothing of size :math:`N^4` is formed unless a pattern with
four distinct labels is asked for.

Standard errors are batch means as in :mod:`symcorr.numeric.kstatistics`:
the rows are split into ``groups`` groups (a seeded permutation), each
group's k-statistic :math:`k_g` (own centring) gives
:math:`\hat\sigma^2 = \sum_g n_g (k_g - \bar k)^2/(G-1)` and
:math:`\mathrm{se} = \hat\sigma/\sqrt{P}`.

A linear layer maps the samples (:meth:`SampleSlices.linear`: :math:`C W^\top`;
k-statistics are multilinear in the centred data, so this is exact).
:func:`data_cumulants` builds :class:`DataCumulants`: dense mean and covariance,
orders 3..4 as :class:`SampleSlices`, statuses ``estimated``.
"""
from __future__ import annotations

import numpy as np

from symcorr.numeric.budget import FLOAT, check_memory
from symcorr.numeric.cumulant_tensors import distinct_labels
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.exactness import estimated_profile

#: Largest buffer (in floats) of a chunk of Khatri-Rao rows.
CHUNK_FLOATS = 1 << 22
#: Highest order with k-statistic formulas here.
MAX_ORDER = 4


def power_sum_slice(centred: np.ndarray, labels: str) -> np.ndarray:
    r""":math:`S` of the pattern ``labels`` over its distinct labels (sorted), from centred samples (P, N)."""
    present = distinct_labels(labels)
    powers = [labels.count(label) for label in present]
    P, N = centred.shape
    if len(present) == 1:
        return np.sum(centred ** powers[0], axis=0)
    half = (len(present) + 1) // 2
    left, right = powers[:half], powers[half:]
    width = N ** max(len(left), len(right))
    chunk = max(1, CHUNK_FLOATS // max(width, 1))
    out = np.zeros((N ** len(left), N ** len(right)))
    for start in range(0, P, chunk):
        block = centred[start:start + chunk]
        out += _khatri_rao(block, left).T @ _khatri_rao(block, right)
    return out.reshape((N,) * len(present))


def _khatri_rao(block: np.ndarray, powers) -> np.ndarray:
    """Row-wise products of the elementwise powers: shape (rows, N ** len(powers))."""
    out = block ** powers[0]
    for power in powers[1:]:
        out = (out[:, :, None] * (block ** power)[:, None, :]).reshape(block.shape[0], -1)
    return out


def kstatistic_slice(centred: np.ndarray, labels: str, covariance_sums: np.ndarray | None = None) -> np.ndarray:
    """The unbiased k-statistic of pattern ``labels`` (orders 2..4) from samples centred at their mean
    (module docstring); ``covariance_sums`` is :math:`S_{ij} = C^T C` if already known."""
    P = centred.shape[0]
    n = len(labels)
    if not 2 <= n <= MAX_ORDER:
        raise ValueError(f"k-statistic slices are implemented for orders 2..{MAX_ORDER}, got pattern {labels!r}")
    if P <= n:
        raise ValueError(f"a k-statistic of order {n} needs more than {n} samples, got {P}")
    S = power_sum_slice(centred, labels)
    if n == 2:
        return S / (P - 1)
    if n == 3:
        return P * S / ((P - 1) * (P - 2))
    pairs = centred.T @ centred if covariance_sums is None else covariance_sums
    present = distinct_labels(labels)
    a, b, c, d = labels
    pairings = sum(np.einsum(f"{x}{y},{z}{w}->{present}", pairs, pairs)
                   for x, y, z, w in ((a, b, c, d), (a, c, b, d), (a, d, b, c)))
    return (P * (P + 1) * S - (P - 1) * pairings) / ((P - 1) * (P - 2) * (P - 3))


class SampleSlices:
    """An order-``order`` cumulant of the rows of ``samples`` (P, N), computed slice by slice on demand
    (module docstring); implements :mod:`symcorr.numeric.cumulant_tensors`' protocol."""

    def __init__(self, samples, order: int, groups: int = 32, seed: int = 0, centred: bool = False):
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 2:
            raise ValueError(f"samples must have shape (P, N), got {samples.shape}")
        if not 2 <= order <= MAX_ORDER:
            raise ValueError(f"SampleSlices hold orders 2..{MAX_ORDER}, got {order}")
        self.order = int(order)
        self.centred = samples if centred else samples - samples.mean(axis=0)
        self.dim = self.centred.shape[1]
        self.n_samples = self.centred.shape[0]
        self.groups = int(groups)
        self.seed = int(seed)
        self._cache: dict[str, np.ndarray] = {}
        self._pairs = None

    @property
    def nbytes(self) -> int:
        return self.centred.nbytes + sum(v.nbytes for v in self._cache.values())

    def _covariance_sums(self) -> np.ndarray:
        if self._pairs is None:
            self._pairs = self.centred.T @ self.centred
        return self._pairs

    def slice(self, labels: str) -> np.ndarray:
        """The k-statistic of the pattern ``labels`` over its distinct labels (sorted), cached."""
        if len(labels) != self.order:
            raise ValueError(f"an index pattern of an order-{self.order} tensor has {self.order} letters, got {labels!r}")
        if labels not in self._cache:
            check_memory(self.slice_nbytes(labels), f"the data slice {labels!r} of order {self.order} over "
                         f"{self.dim} neurons", "ask for fewer distinct labels (a lower output order)")
            self._cache[labels] = kstatistic_slice(self.centred, labels, self._covariance_sums())
        return self._cache[labels]

    def slice_nbytes(self, labels: str) -> int:
        """The slice, the chunk buffers of its power sum and the pair sums."""
        return FLOAT * (self.dim ** len(set(labels)) + 3 * CHUNK_FLOATS + self.dim**2)

    def standard_error(self, labels: str) -> np.ndarray:
        """Batch-means standard error of :meth:`slice` (module docstring)."""
        if len(labels) != self.order:
            raise ValueError(f"an index pattern of an order-{self.order} tensor has {self.order} letters, got {labels!r}")
        groups = group_rows(self.n_samples, self.groups, self.seed, self.order)
        values = [kstatistic_slice(self.centred[rows] - self.centred[rows].mean(axis=0), labels) for rows in groups]
        return batch_means_stderr(values, [len(rows) for rows in groups])

    def to_dense(self, budget=None) -> np.ndarray:
        """The whole k-statistic tensor (the slice with ``order`` distinct labels), after a memory estimate."""
        labels = "ijklmnop"[:self.order]
        check_memory(FLOAT * self.dim**self.order * 2, f"the dense order-{self.order} k-statistic of {self.dim} "
                     "neurons", "use its slices (slice(labels)), which is what the kernels read", budget)
        return self.slice(labels)

    def linear(self, W) -> "SampleSlices":
        """The samples mapped by :math:`W` (exact: k-statistics are multilinear in the centred data)."""
        return SampleSlices(self.centred @ np.asarray(W, dtype=np.float64).T, self.order, self.groups, self.seed,
                            centred=True)

    def linear_nbytes(self, n_out: int) -> int:
        return FLOAT * self.n_samples * n_out

    def __repr__(self) -> str:
        return f"SampleSlices(order={self.order}, dim={self.dim}, samples={self.n_samples})"


def group_rows(n: int, groups: int, seed: int, order: int) -> list[np.ndarray]:
    """A seeded split of ``n`` rows into at most ``groups`` groups of at least ``2 order + 2`` rows."""
    groups = max(2, min(int(groups), n // (2 * order + 2)))
    return np.array_split(np.random.default_rng(seed).permutation(n), groups)


def batch_means_stderr(values, sizes) -> np.ndarray:
    r""":math:`\sqrt{\sum_g n_g (k_g - \bar k)^2 / (G - 1) / n}` with :math:`\bar k` weighted by :math:`n_g`."""
    sizes = np.asarray(sizes, dtype=np.float64)
    values = np.asarray(values)
    n = sizes.sum()
    mean = np.tensordot(sizes, values, axes=1) / n
    spread = np.tensordot(sizes, (values - mean) ** 2, axes=1) / (len(sizes) - 1)
    return np.sqrt(spread / n)


class DataCumulants(Cumulants):
    """Cumulants of samples: dense mean and covariance (unbiased), orders 3.. as :class:`SampleSlices`;
    ``n_samples``, ``groups`` and :meth:`standard_error`. Statuses: estimated."""

    __slots__ = ("n_samples", "groups", "_centred", "_seed")

    def __init__(self, samples, order: int, groups: int = 32, seed: int = 0):
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[0] < 2 * (2 * min(order, MAX_ORDER) + 2):
            raise ValueError(f"data needs shape (P, N) with enough rows for order {order}, got {samples.shape}")
        order = min(int(order), MAX_ORDER)
        mean = samples.mean(axis=0)
        centred = samples - mean
        cov = centred.T @ centred / (samples.shape[0] - 1)
        higher = [SampleSlices(centred, n, groups, seed, centred=True) for n in range(3, order + 1)]
        super().__init__(mean, 0.5 * (cov + cov.T), *higher, check=False,
                         exactness=estimated_profile(order, samples.shape[0]))
        self.n_samples = samples.shape[0]
        self.groups = int(groups)
        self._centred = centred
        self._seed = int(seed)

    def standard_error(self, n: int, labels: str | None = None) -> np.ndarray:
        """Batch-means standard error of order ``n`` (the whole mean or covariance; for ``n >= 3`` the
        slice ``labels``)."""
        if n >= 3:
            return self.tensor(n).standard_error(labels)
        groups = group_rows(self.n_samples, self.groups, self._seed, 2)
        if n == 1:
            values = [self._centred[rows].mean(axis=0) for rows in groups]
        else:
            values = [np.cov(self._centred[rows], rowvar=False).reshape(self.dim, self.dim) for rows in groups]
        return batch_means_stderr(values, [len(rows) for rows in groups])

    def __repr__(self) -> str:
        return (f"DataCumulants(dim={self.dim}, order={self.order}, n_samples={self.n_samples}, "
                f"{self.exactness.summary()})")


def data_cumulants(samples, order: int, groups: int = 32, seed: int = 0) -> DataCumulants:
    """:class:`DataCumulants` of the rows of ``samples`` up to ``order`` (<= 4)."""
    return DataCumulants(samples, order, groups, seed)


__all__ = ["SampleSlices", "DataCumulants", "data_cumulants", "kstatistic_slice", "power_sum_slice",
           "batch_means_stderr", "group_rows", "CHUNK_FLOATS"]
