r"""Unbiased k-statistics from streaming, mergeable power sums, with standard errors.

The cumulants of docs/theory.md section 1 estimated from samples :math:`x_1..x_n`
(docs/theory.md section 7). With the power sums about a fixed shift :math:`c`,

.. math:: S^{(r)}_{i_1..i_r} = \sum_{s=1}^{n} \prod_{t=1}^{r} (x_{s,i_t} - c_{i_t}),

the multivariate k-statistics are sums over set partitions :math:`\pi` of the
index slots (docs/theory.md section 2) with a coefficient depending only on the block
sizes of :math:`\pi`:

.. math::

    k_i &= S_i / n + c_i, \\
    k_{ij} &= \frac{n S_{ij} - S_i S_j}{n(n-1)}, \\
    k_{ijk} &= \frac{n^2 S_{ijk} - n \sum_{3} S_{ij} S_k + 2 S_i S_j S_k}{n(n-1)(n-2)}, \\
    k_{ijkl} &= \frac{(n^3+n^2) S_{ijkl} - (n^2+n)\sum_{4} S_{ijk} S_l - (n^2-n) \sum_{3} S_{ij} S_{kl}
                + 2n \sum_{6} S_{ij} S_k S_l - 6 S_i S_j S_k S_l}{n(n-1)(n-2)(n-3)},

(the sums run over the distinct ways to split the indices). Each is an
unbiased estimator of the cumulant (Fisher's k-statistics); cumulants of
order >= 2 do not depend on the shift, which is chosen near the mean (a pilot
estimate) so that the float64 power sums do not cancel.

Standard errors come from batch means (docs/theory.md section 7): the samples are
split into :math:`G` groups, each group's k-statistics :math:`k_g` (from
:math:`n_g` samples) estimate the per-sample variance

.. math:: \hat\sigma^2 = \frac{1}{G-1} \sum_g n_g (k_g - \bar k)^2, \qquad
          \bar k = \sum_g n_g k_g / n, \qquad
          \mathrm{se} = \hat\sigma / \sqrt{n},

the standard error of the k-statistic of all :math:`n` samples. Each group's
k-statistics come from its rows centred on the group's own mean, where
:math:`S_i = 0` leaves only the partitions without singleton blocks (e.g.
:math:`k_{ijkl} = [(n^3+n^2) S_{ijkl} - (n^2-n)\sum_3 S_{ij}S_{kl}]/(n)_4`). All power sums
of orders 3 and 4 are matrix products on centred samples, stored once per sorted
index tuple (:mod:`symcorr.numeric.packed`): :math:`\binom{N+3}{4}` multiply-adds per
sample and order-4 tensor, twice (the whole and the groups). A
z-score :math:`(\kappa - k)/\mathrm{se}` then follows a Student t law with
:math:`G-1` degrees of freedom. Everything is accumulated in float64 and is
mergeable: two estimators over disjoint samples merge into the estimator over
their union (power sums add; the group statistics merge by Chan's formula).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from symcorr.codegen.runtime.progress import progress_bar
from symcorr.notation.partitions import set_partitions
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.packed import PACKED_ORDERS, add_power_sums, blas_threads_for, evaluate_terms, expand, gather
from symcorr.numeric.packed import layout as packed_layout
from symcorr.numeric.exactness import estimated_profile
from symcorr.numeric.tensors import symmetrized

MAX_KSTAT_ORDER = 4

#: numerator coefficient of each partition type (block sizes, descending), as a
#: polynomial in n; the denominator is the falling factorial n (n-1) ... (n-r+1)
_KSTAT_COEFFICIENTS = {
    1: {(1,): lambda n: 1.0},
    2: {(2,): lambda n: n, (1, 1): lambda n: -1.0},
    3: {(3,): lambda n: n * n, (2, 1): lambda n: -n, (1, 1, 1): lambda n: 2.0},
    4: {
        (4,): lambda n: n**3 + n**2,
        (3, 1): lambda n: -(n**2 + n),
        (2, 2): lambda n: -(n**2 - n),
        (2, 1, 1): lambda n: 2.0 * n,
        (1, 1, 1, 1): lambda n: -6.0,
    },
}

# chunk rows so that a chunk's outer products hold at most this many floats
_CHUNK_FLOATS = 1 << 22


def _check_order(order, maximum=MAX_KSTAT_ORDER, what="k-statistics") -> int:
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool):
        raise TypeError(f"order must be an integer, got {order!r}")
    if not 1 <= order <= maximum:
        raise ValueError(f"{what} are implemented for orders 1..{maximum}, got order={order}")
    return int(order)


def _as_samples(X, dim=None, name="X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, N), got shape {X.shape}")
    if dim is not None and X.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{name} has a non-finite entry (NaN or inf) at row {bad[0]}, column {bad[1]}")
    return X


def _is_torch_tensor(X) -> bool:
    """Whether ``X`` is a torch tensor, told by its methods (symcorr.numeric does not import torch)."""
    return not isinstance(X, np.ndarray) and hasattr(X, "detach") and hasattr(X, "cpu")


def _rows(X):
    """float64 rows: a NumPy array, or a torch tensor left in torch (on the CPU, in float64)."""
    if _is_torch_tensor(X):
        return X.detach().cpu().double()
    return np.asarray(X, dtype=np.float64)


def _row_mean(X) -> np.ndarray:
    mean = X.mean(0)
    return np.array(mean if isinstance(mean, np.ndarray) else mean.numpy(), dtype=np.float64)


class PowerSums:
    r"""Streaming power sums :math:`S^{(r)} = \sum_s (x_s - c)^{\otimes r}`, :math:`r = 0..` ``order``.

    ``update(X)`` adds the rows of ``X`` (shape ``(B, N)``), ``merge(other)``
    adds another instance (over disjoint samples; a different shift is
    converted exactly), ``kstatistics()`` returns the unbiased k-statistics
    of orders ``1..order``. Orders 3 and 4 are stored once per sorted index
    tuple and accumulated by matrix products (:mod:`symcorr.numeric.packed`):
    :math:`\binom{N+3}{4}` multiply-adds per sample at order 4, memory
    :math:`\approx N^4/24` floats whatever the number of samples; ``sums``
    gives the full tensors. ``shift=None`` takes the mean of the first batch.
    """

    __slots__ = ("dim", "order", "shift", "count", "_sums")

    def __init__(self, dim: int, order: int, shift=None):
        self.order = _check_order(order)
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.shift = None if shift is None else np.asarray(shift, dtype=np.float64).reshape(self.dim).copy()
        self.count = 0
        self._sums = self._zeros()

    def _zeros(self) -> dict[int, np.ndarray]:
        """Zero power sums: a vector, a matrix, packed tensors of orders 3 and 4."""
        shapes = {1: (self.dim,), 2: (self.dim, self.dim)}
        return {r: np.zeros(shapes[r] if r in shapes else packed_layout(self.dim, r).size)
                for r in range(1, self.order + 1)}

    @property
    def sums(self) -> list[np.ndarray]:
        r"""The power sums :math:`S^{(1..order)}` as full symmetric tensors."""
        return [self._sums[r] if r < 3 else expand(self._sums[r], self.dim, r) for r in range(1, self.order + 1)]

    def copy(self) -> "PowerSums":
        out = PowerSums(self.dim, self.order, self.shift)
        out.count = self.count
        out._sums = {r: s.copy() for r, s in self._sums.items()}
        return out

    def update(self, X, check: bool = True) -> "PowerSums":
        """Add the samples in the rows of ``X``; returns ``self``.

        ``X`` is a float64 array of shape ``(B, N)``; with ``check=False`` it may
        also be a float64 torch tensor (the products then run in torch, in
        the same thread pool as a torch model: mixing torch and NumPy's BLAS
        threads oversubscribes the cores).
        """
        X = _as_samples(X, self.dim) if check else _rows(X)
        if X.shape[0] == 0:
            return self
        if self.shift is None:
            self.shift = _row_mean(X)
        with np.errstate(over="ignore", invalid="ignore"):
            increments = self._increments(X)
        for r, increment in increments.items():
            if not np.all(np.isfinite(increment)):
                raise FloatingPointError(f"power sums of order {r} overflowed: samples up to "
                                         f"{float(abs(X).max()):.3e} are too large for float64 moments")
        for r, increment in increments.items():
            self._sums[r] += increment
        self.count += X.shape[0]
        return self

    def _increments(self, X) -> dict[int, np.ndarray]:
        """The power sums of the rows of ``X`` about ``self.shift``, in row chunks (matrix products)."""
        shift = self.shift if isinstance(X, np.ndarray) else X.new_tensor(self.shift)  # torch: stay in torch
        width = self.dim * (self.dim + 1) // 2 if self.order >= 4 else self.dim
        chunk = max(1, min(4096, _CHUNK_FLOATS // width))
        sums = self._zeros()
        for start in range(0, X.shape[0], chunk):
            Y = X[start:start + chunk] - shift
            sums[1] += np.asarray(Y.sum(0), dtype=np.float64)
            with blas_threads_for(Y.shape[0]):
                if self.order >= 2:
                    sums[2] += np.asarray(Y.T @ Y, dtype=np.float64)
                if self.order >= 3:
                    add_power_sums(Y, {r: sums[r] for r in PACKED_ORDERS if r <= self.order})
        return sums

    def recentered(self, shift) -> "PowerSums":
        r"""The same sums about another shift :math:`c'`:
        :math:`(y + \delta)^{\otimes r}` with :math:`\delta = c - c'`, expanded over subsets of slots."""
        shift = np.asarray(shift, dtype=np.float64).reshape(self.dim)
        out = PowerSums(self.dim, self.order, shift)
        out.count = self.count
        if self.shift is None or self.count == 0:
            return out
        delta = self.shift - shift

        def factor(f, slots, j, r):
            kind, sub = f
            return delta[slots[sub]] if kind == "shift" else self._gather(sub, slots, j, r)

        for r in range(1, self.order + 1):
            terms = [(1.0, [("sum", kept)] + [("shift", s) for s in range(r) if s not in kept])
                     for size in range(r + 1) for kept in itertools.combinations(range(r), size)]
            out._sums[r] = self._evaluate(r, terms, factor)
        return out

    def merge(self, other: "PowerSums") -> "PowerSums":
        """Add the power sums of ``other`` (disjoint samples) in place; returns ``self``."""
        if not isinstance(other, PowerSums):
            raise TypeError(f"can only merge PowerSums, got {type(other).__name__}")
        if other.dim != self.dim or other.order != self.order:
            raise ValueError(f"cannot merge power sums of dim {other.dim}, order {other.order} "
                             f"into dim {self.dim}, order {self.order}")
        if other.count == 0:
            return self
        if self.shift is None:
            self.shift = other.shift.copy()
        if not np.array_equal(other.shift, self.shift):
            other = other.recentered(self.shift)
        for r, theirs in other._sums.items():
            self._sums[r] += theirs
        self.count += other.count
        return self

    def _gather(self, sub, slots, j, r):
        """The power sum over the sorted slots ``sub`` at the tuples of block ``j`` of order ``r``."""
        return gather(self._sums, self.count, sub, slots, j, r, self.dim)

    def _evaluate(self, r, terms, factor) -> np.ndarray:
        r""":math:`\sum_t c_t \prod_f f` over ``terms`` at every index tuple of order ``r``: a vector
        (r = 1), a matrix (r = 2, on its full grid) or a packed tensor (r = 3, 4)."""
        if r in PACKED_ORDERS:
            return evaluate_terms(self.dim, r, terms, lambda f, slots, j: factor(f, slots, j, r))
        axis = np.arange(self.dim)
        slots = [axis] if r == 1 else [axis[:, None], axis[None, :]]
        total = np.zeros((self.dim,) * r)
        for coefficient, factors in terms:
            product = coefficient
            for f in factors:
                product = product * factor(f, slots, None, r)
            total = total + product
        return total

    def kstatistics(self, order: int | None = None) -> list[np.ndarray]:
        """Unbiased k-statistics of orders ``1..order`` (see the module docstring), full tensors."""
        packed = self._packed_kstatistics(order)
        return [k if r < 3 else expand(k, self.dim, r) for r, k in enumerate(packed, start=1)]

    def _packed_kstatistics(self, order: int | None = None, centred: bool = False) -> list[np.ndarray]:
        """The k-statistics with orders 3 and 4 packed. ``centred``: the shift is the mean of exactly
        these samples, so :math:`S^{(1)} = 0` and the terms holding it are left out."""
        order = self.order if order is None else _check_order(order)
        if order > self.order:
            raise ValueError(f"these power sums hold orders up to {self.order}, asked for {order}")
        n = self.count
        needed = 1 if order == 1 else order  # order r divides by n (n-1) ... (n-r+1)
        if n < needed:
            raise ValueError(f"k-statistics of order {order} need at least {needed} samples, have {n}")
        nf = float(n)
        out = [self._sums[1] / nf + self.shift]
        for r in range(2, order + 1):
            denominator = math.prod(nf - t for t in range(r))
            terms = []
            for partition in set_partitions(r):
                if centred and any(len(block) == 1 for block in partition):
                    continue
                key = tuple(sorted((len(b) for b in partition), reverse=True))
                terms.append((_KSTAT_COEFFICIENTS[r][key](nf), [tuple(block) for block in partition]))
            k = self._evaluate(r, terms, lambda sub, slots, j, r: self._gather(sub, slots, j, r)) / denominator
            if r == 2:
                k = np.triu(k) + np.triu(k, 1).T                 # exactly symmetric
            out.append(k)
        return out


class _WeightedMoments:
    """Chan/Welford accumulator of weighted mean and sum of squared deviations (mergeable)."""

    __slots__ = ("weight", "count", "mean", "m2")

    def __init__(self):
        self.weight = 0.0
        self.count = 0
        self.mean = None
        self.m2 = None

    def add(self, values, weight):
        self._combine(weight, 1, [np.array(v, dtype=np.float64) for v in values],
                      [np.zeros_like(v, dtype=np.float64) for v in values])

    def merge(self, other: "_WeightedMoments"):
        if other.count:
            self._combine(other.weight, other.count, other.mean, other.m2)

    def _combine(self, weight, count, mean, m2):
        if self.count == 0:
            self.weight, self.count = float(weight), count
            self.mean = [m.copy() for m in mean]
            self.m2 = [m.copy() for m in m2]
            return
        total = self.weight + weight
        for t in range(len(self.mean)):
            delta = mean[t] - self.mean[t]
            self.mean[t] += delta * (weight / total)
            self.m2[t] += m2[t] + delta * delta * (self.weight * weight / total)
        self.weight = total
        self.count += count


class SampleCumulants(Cumulants):
    r"""Cumulant estimates (k-statistics) with their standard errors.

    A :class:`~symcorr.numeric.cumulants.Cumulants` (so it can be fed to
    :func:`symcorr.propagate`) with extra attributes: ``stderr`` (a tuple of
    tensors, one per order, same shapes as ``tensors``), ``n_samples`` and
    ``groups`` (the number of batch-means groups; z-scores
    :math:`(\kappa - k)/\mathrm{se}` have ``groups - 1`` degrees of freedom).
    """

    __slots__ = ("stderr", "n_samples", "groups")

    def __init__(self, tensors, stderr, n_samples, groups, check: bool = True):
        super().__init__(*tensors, check=check, exactness=estimated_profile(len(tensors), n_samples))
        self.stderr = tuple(np.asarray(s, dtype=np.float64) for s in stderr)
        self.n_samples = int(n_samples)
        self.groups = int(groups)

    @property
    def dof(self) -> int:
        """Degrees of freedom of the standard errors (``groups - 1``)."""
        return self.groups - 1

    def z_scores(self, theory: Cumulants, n: int) -> np.ndarray:
        r""":math:`(\kappa^{(n)}_\text{theory} - k^{(n)}) / \mathrm{se}` elementwise.

        Entries with zero standard error give 0 where theory and estimate agree
        to rounding and ``inf`` otherwise.
        """
        if n > self.order:
            raise ValueError(f"this estimate holds orders up to {self.order}, asked for {n}")
        if theory.dim != self.dim:
            raise ValueError(f"theory has {theory.dim} neurons, the estimate {self.dim}")
        diff = theory.kappa(n) - self.kappa(n)
        se = self.stderr[n - 1]
        scale = np.maximum(np.abs(theory.kappa(n)), np.abs(self.kappa(n)))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, diff / np.where(se > 0, se, 1.0),
                         np.where(np.abs(diff) <= 1e-12 * (scale + 1e-300), 0.0, np.inf))
        return z

    def __repr__(self) -> str:
        return f"SampleCumulants(dim={self.dim}, order={self.order}, n_samples={self.n_samples}, groups={self.groups})"


class CumulantEstimator:
    r"""Streaming k-statistics of orders ``1..order`` with batch-means standard errors.

    Rows fed by :meth:`update` fill groups of ``group_size`` samples in order;
    each completed group contributes its k-statistics to the variance estimate
    (module docstring) and its power sums to the total. Memory is a few
    tensors of shape ``(N,)*order`` whatever the number of samples. Feed the
    rows in random order (a group must be a random subsample); estimators over
    disjoint samples combine with :meth:`merge`.
    """

    def __init__(self, dim: int, order: int, group_size: int, shift=None):
        if not isinstance(group_size, (int, np.integer)) or group_size < 2 * order + 2:
            raise ValueError(f"group_size must be an integer >= {2 * order + 2} for order {order}, got {group_size!r}")
        self.dim = int(dim)
        self.order = _check_order(order)
        self.group_size = int(group_size)
        self.total = PowerSums(dim, order, shift)
        self._group: list = []          # the open group's rows (copies), arrays or torch tensors
        self._group_count = 0
        self._stats = _WeightedMoments()

    @property
    def count(self) -> int:
        """Samples seen so far."""
        return self.total.count

    def update(self, X, check: bool = True) -> "CumulantEstimator":
        """Add the rows of ``X`` (shape ``(B, N)``; with ``check=False`` also a float64
        torch tensor, see :meth:`PowerSums.update`); returns ``self``."""
        X = _as_samples(X, self.dim) if check else _rows(X)
        self.total.update(X, check=False)
        start = 0
        while start < X.shape[0]:
            take = min(self.group_size - self._group_count, X.shape[0] - start)
            rows = X[start:start + take]
            self._group.append(rows.copy() if isinstance(rows, np.ndarray) else rows.clone())
            self._group_count += take
            start += take
            if self._group_count == self.group_size:
                self._close_group()
        return self

    def _group_kstatistics(self) -> list[np.ndarray]:
        """k-statistics of the open group (orders 3, 4 packed), from its rows centred on their
        own mean: the power sums of order 1 vanish and only the partitions without singletons
        remain, e.g. :math:`k_{ijkl} = [n^2(n+1) S_{ijkl} - n(n-1)\\sum_3 S_{ij}S_{kl}]/(n)_4`."""
        mean = sum(np.asarray(rows.sum(0), dtype=np.float64) for rows in self._group) / self._group_count
        sums = PowerSums(self.dim, self.order, shift=mean)
        for rows in self._group:
            sums.update(rows, check=False)
        return sums._packed_kstatistics(centred=True)

    def _close_group(self):
        if self._group_count > self.order + 1:
            self._stats.add(self._group_kstatistics(), self._group_count)
            self._group, self._group_count = [], 0
        # a group too small for a variance contribution stays open

    def merge(self, other: "CumulantEstimator") -> "CumulantEstimator":
        """Fold in an estimator over disjoint samples (its open group is merged as well)."""
        if not isinstance(other, CumulantEstimator):
            raise TypeError(f"can only merge CumulantEstimator, got {type(other).__name__}")
        if (other.dim, other.order) != (self.dim, self.order):
            raise ValueError("cannot merge estimators of different dim or order")
        self.total.merge(other.total)
        self._stats.merge(other._stats)
        if other._group_count:
            self._group = self._group + other._group
            self._group_count += other._group_count
            if self._group_count >= self.group_size:
                self._close_group()
        return self

    def result(self, check: bool = False) -> SampleCumulants:
        """The k-statistics of every sample seen and their standard errors.

        An unfinished last group counts in the estimate; it counts in the
        standard error when it holds at least half a group.
        """
        stats = _WeightedMoments()
        stats.merge(self._stats)
        if self._group_count >= max(self.group_size // 2, self.order + 2):
            stats.add(self._group_kstatistics(), self._group_count)
        if stats.count < 2:
            raise ValueError(f"standard errors need at least 2 groups of samples, have {stats.count} "
                             f"({self.count} samples, group_size {self.group_size})")
        estimates = self.total.kstatistics()
        stderr = [np.sqrt(m2 / (stats.count - 1) / self.total.count) for m2 in stats.m2]
        stderr = [s if r < 3 else expand(s, self.dim, r) for r, s in enumerate(stderr, start=1)]
        return SampleCumulants(estimates, stderr, self.total.count, stats.count, check=check)


def from_samples(X, order: int = 2, *, groups: int = 64, seed: int = 0, check: bool = True,
                 progress: bool | None = None) -> SampleCumulants:
    r"""Unbiased k-statistics of the rows of ``X`` up to ``order`` (<= 4), with standard errors.

    ``X`` has shape ``(n_samples, N)``. The estimate uses every sample; the
    standard errors are batch means over ``groups`` groups of a random
    partition of the rows (fixed by ``seed``, so the result is deterministic;
    see the module docstring). Needs at least ``groups * (2 order + 2)`` rows;
    fewer rows use fewer groups (at least 2). Cost: matrix products of
    :math:`\binom{N+3}{4}` multiply-adds per sample at order 4, twice (the
    whole and the groups; digits, 1797 x 64: about a second). ``progress``: a
    bar over the samples (``None``: on a terminal, once the run is long).
    """
    order = _check_order(order)
    X = _as_samples(X)
    n = X.shape[0]
    if not isinstance(groups, (int, np.integer)) or groups < 2:
        raise ValueError(f"groups must be an integer >= 2, got {groups!r}")
    minimum = 2 * order + 2
    if n < 2 * minimum:
        raise ValueError(f"from_samples(order={order}) needs at least {2 * minimum} samples, got {n}")
    groups = min(int(groups), n // minimum)
    rows = X[np.random.default_rng(seed).permutation(n)]
    estimator = CumulantEstimator(X.shape[1], order, group_size=-(-n // groups), shift=X.mean(axis=0))
    step = 8 * estimator.group_size
    with progress_bar(n, progress, f"k-statistics of orders 1..{order}", unit="sample") as bar:
        for start in range(0, n, step):
            estimator.update(rows[start:start + step], check=False)
            bar.update(min(step, n - start))
    result = estimator.result(check=False)
    if check:
        # validates shapes and the PSD covariance (orders 3, 4 are exactly symmetric by construction)
        Cumulants(*result.tensors[:2])
    return result


__all__ = ["symmetrized", "PowerSums", "CumulantEstimator", "SampleCumulants", "from_samples", "MAX_KSTAT_ORDER"]
