r"""The numeric cumulants of a distribution over :math:`\mathbb{R}^N` (docs/theory.md section 1).

:class:`Cumulants` holds :math:`\kappa^{(1)} = \mu`, :math:`\kappa^{(2)} = \Sigma`
and optionally :math:`\kappa^{(3)}, \dots, \kappa^{(K)}` as float64 symmetric
tensors; cumulants above ``order`` are taken as zero (the closure of docs/theory.md
section 4). Cumulants of data and of Gaussian mixtures come from
:func:`symcorr.from_samples` and :func:`symcorr.gaussian_mixture`. Each order carries
its exactness (:mod:`symcorr.numeric.exactness`: ``c.status(n)``, ``c.exactness``) and
the result of the validity checks of :mod:`symcorr.numeric.validity` (``c.problems``,
``c.valid``).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from symcorr.numeric.cumulant_tensors import ZeroTensor, is_cumulant_tensor
from symcorr.numeric.exactness import Cause, OrderStatus, StatusProfile
from symcorr.numeric.tensors import is_symmetric


#: Constructors that were classmethods of :class:`Cumulants` and are now functions of the modules
#: that compute them (those modules import this one): name -> the replacement to name in the error.
REMOVED_CONSTRUCTORS = {
    "from_samples": "symcorr.from_samples(X, order, ...) (symcorr.numeric.kstatistics.from_samples)",
    "gaussian_mixture": "symcorr.gaussian_mixture(weights, means, covs, order) "
                        "(symcorr.numeric.distributions.gaussian_mixture)",
}


class _CumulantsType(type):
    """The metaclass of :class:`Cumulants`: ``Cumulants.from_samples`` and ``Cumulants.gaussian_mixture``
    raise an ``AttributeError`` that names their replacement."""

    def __getattr__(cls, name):
        message = f"type object {cls.__name__!r} has no attribute {name!r}"
        if name in REMOVED_CONSTRUCTORS:
            message += f": {cls.__name__}.{name} was removed, use {REMOVED_CONSTRUCTORS[name]}"
        raise AttributeError(message)


class Cumulants(metaclass=_CumulantsType):
    r"""Joint cumulants :math:`\kappa^{(1..K)}` of an N-dimensional random vector.

    ``Cumulants(mean, cov, *higher)`` with ``mean`` of shape ``(N,)``, ``cov``
    of shape ``(N, N)`` and ``higher[n-3]`` of shape ``(N,)*n``. Every tensor
    is converted to float64 and checked: shape, finiteness, symmetry under
    permutation of indices, and positive semi-definiteness of ``cov``. The
    errors name the offending tensor.

    The tolerances follow the numbers (``_check_tensors``): symmetry is measured against
    the natural size of the order, :math:`\max(s^{n/2}, \max|\kappa^{(n)}|)` with :math:`s` the
    largest variance, so a third cumulant that is zero up to rounding passes; rounding is that
    of the input's own precision (a float32 sample covariance passes at float32 precision); a
    negative variance is always refused; positive semi-definiteness is checked on the
    correlation matrix (scale-free). A covariance that is genuinely indefinite is refused with
    the remedies: estimate it with :func:`symcorr.from_samples`, or project it explicitly with
    :func:`symcorr.numeric.tensors.nearest_psd`, which also returns how far it moved.

    ``exactness`` (a :class:`~symcorr.numeric.exactness.StatusProfile`, default:
    every given order exact and the orders above exactly zero) says per order
    whether it is exact, numerical, estimated or approximate, and why;
    ``problems`` lists failed validity checks (:mod:`symcorr.numeric.validity`)
    as :class:`~symcorr.numeric.exactness.Cause` records.
    """

    __slots__ = ("_tensors", "_exactness", "_problems")

    def __init__(self, mean, cov, *higher, check: bool = True, exactness: StatusProfile | None = None,
                 problems=()):
        given = [np.asarray(t) for t in (mean, cov)]
        given += [t if is_cumulant_tensor(t) else np.asarray(t) for t in higher]
        tensors = [t if is_cumulant_tensor(t) else np.asarray(t, dtype=np.float64) for t in given]
        for n, t in enumerate(tensors[2:], start=3):
            if is_cumulant_tensor(t) and (t.order, t.dim) != (n, tensors[0].shape[0]):
                raise ValueError(f"kappa({n}) is a {type(t).__name__} of order {t.order} over {t.dim} neurons; "
                                 f"expected order {n} over {tensors[0].shape[0]}")
        if check:
            _check_tensors(tensors, [None if is_cumulant_tensor(t) else _rounding(t.dtype) for t in given])
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
        problems = tuple(p if p.layer is not None else replace(p, layer=layer)
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


SYMMETRY_RTOL = 1e-10
"""Relative asymmetry accepted in float64 input (relative to the natural scale of the order)."""
PSD_ROUNDING_FACTOR = 16
r"""A correlation matrix may have eigenvalues down to :math:`-16 N \epsilon` (rounding of its
:math:`N^2` entries at machine precision :math:`\epsilon` of the input; measured worst case
:math:`0.4 N\epsilon` on rank-deficient sample covariances)."""


def _rounding(dtype: np.dtype) -> float:
    """Machine precision of an input of ``dtype``: its own for floats narrower than float64."""
    if dtype.kind == "f" and dtype.itemsize < 8:
        return float(np.finfo(dtype).eps)
    return float(np.finfo(np.float64).eps)


def _check_tensors(tensors, rounding=None) -> None:
    r"""Refuse, naming the tensor and the remedy, what cannot be the cumulants of a distribution.

    ``rounding[n-1]`` is the machine precision of the input of order ``n`` (float64's by default).
    """
    rounding = rounding or [float(np.finfo(np.float64).eps)] * len(tensors)
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
    cov = tensors[1]
    variances = np.diag(cov)
    if n_neurons and variances.min() < 0:
        i = int(np.argmin(variances))
        raise ValueError(f"cov[{i}, {i}] = {variances[i]:.6g} is a negative variance; a covariance has "
                         "non-negative diagonal entries")
    largest = float(variances.max()) if n_neurons else 0.0
    for order, tensor in enumerate(tensors[1:], start=2):
        if is_cumulant_tensor(tensor):       # held in another form: symmetric by construction
            continue
        name = "cov" if order == 2 else f"kappa({order})"
        natural = max(largest ** (order / 2), float(np.max(np.abs(tensor), initial=0.0)))
        rtol = max(SYMMETRY_RTOL, 64 * rounding[order - 1])
        if not is_symmetric(tensor, rtol, natural):
            raise ValueError(f"{name} is not symmetric under permutation of its indices (beyond {rtol:.1e} "
                             f"times its natural scale {natural:.3e} = max(largest variance^({order}/2), largest entry))")
    if n_neurons:
        _check_positive_semidefinite(cov, variances, largest, rounding[1])


def _check_positive_semidefinite(cov, variances, largest, rounding) -> None:
    r"""``cov`` is PSD up to rounding: the correlation matrix :math:`D^{-1} C D^{-1}`, with
    :math:`D_{ii} = \sqrt{\max(C_{ii}, \tau s)}`, has no eigenvalue below :math:`-\tau`,
    :math:`\tau = 16 N \epsilon` (scale-free; a variance that is zero up to rounding is floored)."""
    tolerance = PSD_ROUNDING_FACTOR * len(variances) * rounding
    if largest == 0:
        if np.any(cov != 0):
            raise ValueError("cov is not positive semi-definite: every variance is 0 but a covariance is not")
        return
    scale = np.sqrt(np.maximum(variances, tolerance * largest))
    smallest = float(np.linalg.eigvalsh(cov / np.outer(scale, scale))[0])
    if smallest < -tolerance:
        raise ValueError(
            f"cov is not positive semi-definite: its correlation matrix has smallest eigenvalue {smallest:.3e} "
            f"(rounding at the input's precision, machine epsilon {rounding:.1e}, accounts for {-tolerance:.1e}; "
            "pass a float32 covariance as float32). Estimate it from data with "
            "symcorr.from_samples (a sample covariance is PSD), or project it explicitly: "
            "cov, distance = symcorr.numeric.tensors.nearest_psd(cov)")


