r"""The numeric cumulants of a distribution over :math:`\mathbb{R}^N` (MATH.md section 1).

:class:`Cumulants` holds :math:`\kappa^{(1)} = \mu`, :math:`\kappa^{(2)} = \Sigma`
and optionally :math:`\kappa^{(3)}, \dots, \kappa^{(K)}` as float64 symmetric
tensors; cumulants above ``order`` are taken as zero (the closure of MATH.md
section 4). Cumulants of data and of Gaussian mixtures come from
:func:`symcorr.from_samples` and :func:`symcorr.gaussian_mixture`.
"""
from __future__ import annotations

import numpy as np

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
    """

    __slots__ = ("_tensors",)

    def __init__(self, mean, cov, *higher, check: bool = True):
        tensors = [np.asarray(t, dtype=np.float64) for t in (mean, cov, *higher)]
        if check:
            _check_tensors(tensors)
        self._tensors = tuple(tensors)

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
        r"""``(kappa^{(1)}, ..., kappa^{(order)})``."""
        return self._tensors

    def kappa(self, n: int) -> np.ndarray:
        r""":math:`\kappa^{(n)}` for :math:`n \ge 1`; zeros of shape ``(N,)*n`` above ``order``."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"cumulant order must be an integer >= 1, got {n!r}")
        if n <= self.order:
            return self._tensors[n - 1]
        return np.zeros((self.dim,) * n)

    def truncated(self, order: int) -> "Cumulants":
        """The same cumulants up to ``order`` (padding with zeros above ``self.order``)."""
        if order < 2:
            raise ValueError(f"Cumulants keep at least mean and covariance (order >= 2), got {order}")
        return Cumulants(*(self.kappa(n) for n in range(1, order + 1)), check=False)

    def __repr__(self) -> str:
        return f"Cumulants(dim={self.dim}, order={self.order})"


def _check_tensors(tensors) -> None:
    if len(tensors) < 2:
        raise ValueError("Cumulants need at least a mean and a covariance")
    mean = tensors[0]
    if mean.ndim != 1:
        raise ValueError(f"mean must be 1-D of shape (N,), got shape {mean.shape}")
    n_neurons = mean.shape[0]
    for order, tensor in enumerate(tensors, start=1):
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
