r"""The numeric cumulants of a distribution over :math:`\mathbb{R}^N` (MATH.md section 1).

:class:`Cumulants` holds :math:`\kappa^{(1)} = \mu`, :math:`\kappa^{(2)} = \Sigma`
and optionally :math:`\kappa^{(3)}, \dots, \kappa^{(K)}` as float64 symmetric
tensors; cumulants above ``order`` are taken as zero (the closure of MATH.md
section 4). Each order carries its exactness (:mod:`symcorr.numeric.exactness`:
``c.status(n)``, ``c.exactness``) and the result of the validity checks of
:mod:`symcorr.numeric.validity` (``c.problems``, ``c.valid``).
"""
from __future__ import annotations

import numpy as np

from symcorr.numeric.cumulant_tensors import ZeroTensor, is_cumulant_tensor
from symcorr.numeric.exactness import Cause, OrderStatus, StatusProfile
from symcorr.numeric.tensors import is_symmetric


class Cumulants:
    r"""Joint cumulants :math:`\kappa^{(1..K)}` of an N-dimensional random vector.

    ``Cumulants(mean, cov, *higher)`` with ``mean`` of shape ``(N,)``, ``cov``
    of shape ``(N, N)`` and ``higher[n-3]`` of shape ``(N,)*n``. Every tensor
    is converted to float64 and checked: shape, finiteness, symmetry under
    permutation of indices, and positive semi-definiteness of ``cov``. The
    errors name the offending tensor.

    ``exactness`` (a :class:`~symcorr.numeric.exactness.StatusProfile`, default:
    every given order exact and the orders above exactly zero) says per order
    whether it is exact, numerical, estimated or approximate, and why;
    ``problems`` lists failed validity checks (:mod:`symcorr.numeric.validity`)
    as :class:`~symcorr.numeric.exactness.Cause` records.
    """

    __slots__ = ("_tensors", "_exactness", "_problems")

    def __init__(self, mean, cov, *higher, check: bool = True, exactness: StatusProfile | None = None,
                 problems=()):
        tensors = [np.asarray(t, dtype=np.float64) for t in (mean, cov)]
        tensors += [t if is_cumulant_tensor(t) else np.asarray(t, dtype=np.float64) for t in higher]
        for n, t in enumerate(tensors[2:], start=3):
            if is_cumulant_tensor(t) and (t.order, t.dim) != (n, tensors[0].shape[0]):
                raise ValueError(f"kappa({n}) is a {type(t).__name__} of order {t.order} over {t.dim} neurons; "
                                 f"expected order {n} over {tensors[0].shape[0]}")
        if check:
            _check_tensors(tensors)
        self._tensors = tuple(tensors)
        if exactness is None:
            exactness = StatusProfile.given(len(tensors))
        if exactness.order != len(tensors):
            raise ValueError(f"exactness describes {exactness.order} orders, the cumulants hold {len(tensors)}")
        self._exactness = exactness
        self._problems = tuple(problems)

    # -- access -------------------------------------------------------------
    @property
    def mean(self) -> np.ndarray:
        r""":math:`\kappa^{(1)}`, shape ``(N,)``."""
        return self._tensors[0]

    @property
    def cov(self) -> np.ndarray:
        r""":math:`\kappa^{(2)}`, shape ``(N, N)``."""
        return self._tensors[1]

    @property
    def order(self) -> int:
        """The highest cumulant order held (higher ones are zero)."""
        return len(self._tensors)

    @property
    def dim(self) -> int:
        """The number of neurons N."""
        return self._tensors[0].shape[0]

    @property
    def tensors(self) -> tuple[np.ndarray, ...]:
        r"""``(kappa^{(1)}, ..., kappa^{(order)})`` as dense arrays (see :meth:`kappa`)."""
        return tuple(self.kappa(n) for n in range(1, self.order + 1))

    @property
    def held(self) -> tuple:
        """The tensors as held: dense arrays, or objects of :mod:`symcorr.numeric.cumulant_tensors`
        (e.g. the diagonal of the next order an odd closure keeps, or slices estimated from data)."""
        return self._tensors

    def tensor(self, n: int):
        r""":math:`\kappa^{(n)}` as held (:attr:`held`); a :class:`~symcorr.numeric.cumulant_tensors.ZeroTensor`
        above :attr:`order`."""
        if n <= self.order:
            return self._tensors[n - 1]
        return ZeroTensor(n, self.dim)

    def kappa(self, n: int) -> np.ndarray:
        r""":math:`\kappa^{(n)}` for :math:`n \ge 1` as a dense array; zeros of shape ``(N,)*n`` above
        ``order``. A tensor held in another form is expanded (after a memory estimate; slices estimated
        from data refuse, naming why)."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"cumulant order must be an integer >= 1, got {n!r}")
        if n <= self.order:
            tensor = self._tensors[n - 1]
            return tensor.to_dense() if is_cumulant_tensor(tensor) else tensor
        return np.zeros((self.dim,) * n)

    def truncated(self, order: int) -> "Cumulants":
        """The same cumulants up to ``order`` (padding with zeros above ``self.order``); dropping
        non-zero orders makes the orders above ``order`` approximate (:attr:`exactness`)."""
        if order < 2:
            raise ValueError(f"Cumulants keep at least mean and covariance (order >= 2), got {order}")
        return Cumulants(*(self.tensor(n) for n in range(1, order + 1)), check=False,
                         exactness=self._exactness.truncated(order), problems=self._problems)

    # -- exactness and validity ----------------------------------------------
    @property
    def exactness(self) -> StatusProfile:
        """Per order: exact, numerical, estimated or approximate, and why (``c.exactness[n]``)."""
        return self._exactness

    def status(self, n: int) -> OrderStatus:
        """The :class:`~symcorr.numeric.exactness.OrderStatus` of order ``n`` (above :attr:`order`:
        that of the orders taken as zero)."""
        return self._exactness[n]

    @property
    def problems(self) -> tuple[Cause, ...]:
        """Failed validity checks (e.g. a covariance that is not positive semi-definite), each naming
        where it arose; empty when every check passed (:mod:`symcorr.numeric.validity`)."""
        return self._problems

    @property
    def valid(self) -> bool:
        """Whether every validity check passed (:attr:`problems` is empty)."""
        return not self._problems

    def with_status(self, exactness: StatusProfile | None = None, problems=None) -> "Cumulants":
        """The same tensors (shared, not copied) with other statuses or problems."""
        return Cumulants(*self._tensors, check=False,
                         exactness=self._exactness if exactness is None else exactness,
                         problems=self._problems if problems is None else problems)

    def named(self, layer: str) -> "Cumulants":
        """The same cumulants with every cause and problem that names no layer placed at ``layer``
        (``self`` when there is none: a subclass such as a k-statistics estimate keeps its standard errors)."""
        statuses = (*self._exactness.held, self._exactness.tail)
        if all(c.layer is not None for s in statuses for c in s.causes) and all(p.layer is not None
                                                                                for p in self._problems):
            return self
        problems = tuple(p if p.layer is not None else Cause(p.text, layer, p.dropped, p.size)
                         for p in self._problems)
        return self.with_status(self._exactness.named(layer), problems)

    def nearest_valid(self) -> "Cumulants":
        """The nearest cumulants that pass the validity checks (:func:`symcorr.numeric.validity.nearest_valid`)."""
        from symcorr.numeric.validity import nearest_valid

        return nearest_valid(self)

    def __repr__(self) -> str:
        invalid = f", INVALID: {len(self._problems)} problem(s)" if self._problems else ""
        return f"Cumulants(dim={self.dim}, order={self.order}, {self._exactness.summary()}{invalid})"

    def __str__(self) -> str:
        lines = [repr(self), self._exactness.describe()]
        lines += [f"  invalid: {p}" for p in self._problems]
        return "\n".join(lines)

    @classmethod
    def from_samples(cls, X, order: int = 2, **options) -> "Cumulants":
        """Unbiased k-statistics of the rows of ``X`` up to ``order`` <= 4, with standard errors
        (``.stderr``); see :func:`symcorr.numeric.kstatistics.from_samples`."""
        from symcorr.numeric.kstatistics import from_samples

        return from_samples(X, order, **options)

    @classmethod
    def gaussian_mixture(cls, weights, means, covs, order: int = 4) -> "Cumulants":
        r"""Exact cumulants of orders ``1..order`` of :math:`\sum_c w_c N(m_c, C_c)`;
        see :func:`symcorr.numeric.distributions.gaussian_mixture`."""
        from symcorr.numeric.distributions import gaussian_mixture

        return gaussian_mixture(weights, means, covs, order)


def _check_tensors(tensors) -> None:
    if len(tensors) < 2:
        raise ValueError("Cumulants need at least a mean and a covariance")
    mean = tensors[0]
    if mean.ndim != 1:
        raise ValueError(f"mean must be 1-D of shape (N,), got shape {mean.shape}")
    n_neurons = mean.shape[0]
    for order, tensor in enumerate(tensors, start=1):
        if is_cumulant_tensor(tensor):       # held in another form: order and width checked on construction
            continue
        name = {1: "mean", 2: "cov"}.get(order, f"kappa({order})")
        expected = (n_neurons,) * order
        if tensor.shape != expected:
            raise ValueError(f"{name} must have shape {expected} to match mean of length {n_neurons}, got {tensor.shape}")
        if not np.all(np.isfinite(tensor)):
            bad = np.argwhere(~np.isfinite(tensor))[0]
            raise ValueError(f"{name} has a non-finite entry (NaN or inf) at index {tuple(int(i) for i in bad)}")
        if order >= 2 and not is_symmetric(tensor):
            raise ValueError(f"{name} is not symmetric under permutation of its indices")
    cov = tensors[1]
    if n_neurons:
        eigenvalues = np.linalg.eigvalsh(cov)
        tolerance = 1e-10 * max(float(np.max(np.abs(eigenvalues))), 1e-300)
        if eigenvalues[0] < -tolerance:
            raise ValueError(
                f"cov is not positive semi-definite: smallest eigenvalue {eigenvalues[0]:.3e}"
            )


