r"""Input distributions: exact cumulants of Gaussian mixtures, and samplers for Monte Carlo.

Exact mixture cumulants (docs/theory.md sections 2 and 8). For
:math:`x \sim \sum_c w_c\, N(m_c, C_c)` with mean :math:`\mu = \sum_c w_c m_c`,
the centred moments are weighted sums of the components' Gaussian moments
about :math:`\mu` (Isserlis: set partitions into blocks of size 1 and 2),

.. math::

    M^{(n)}_{i_1..i_n} = \sum_c w_c \sum_{\pi:\,|B|\le 2} \prod_{B\in\pi,|B|=1} d_{c,B}
                         \prod_{B\in\pi,|B|=2} C_{c,B}, \qquad d_c = m_c - \mu,

and the cumulants follow by the Moebius formula of docs/theory.md section 2
(:math:`\kappa^{(1)} = \mu`, :math:`\kappa^{(2)} = M^{(2)}`,
:math:`\kappa^{(3)} = M^{(3)}`,
:math:`\kappa^{(4)}_{ijkl} = M^{(4)}_{ijkl} - M_{ij}M_{kl} - M_{ik}M_{jl} - M_{il}M_{jk}`, ...).
Centring first keeps the float64 arithmetic free of cancellation.
:func:`xor_class_mixture` is the mixture of one class of the XOR problem
(docs/theory.md section 8).

Samplers (``sample(n, rng) -> (n, N)`` float64 arrays) feed
:func:`symcorr.networks.montecarlo.monte_carlo`:
:class:`Gaussian`, :class:`GaussianMixture`, :class:`DataSource` (rows of a
data array, in a random order fixed by the seed) and :class:`CallableSource`
(any function ``sample(n, rng)``).
"""
from __future__ import annotations

import numpy as np

from symcorr.notation.partitions import set_partitions
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.exactness import StatusProfile, approximate
from symcorr.numeric.tensors import cumulants_from_moments, outer_over_blocks, psd_root, symmetrized

#: highest order :func:`gaussian_mixture` computes (the tensors grow as N**order)
MAX_MIXTURE_ORDER = 8


def mixture_arguments(weights, means, covs):
    """``(weights, means, covs)`` of a Gaussian mixture as float64 arrays of shapes ``(C,)``, ``(C, N)`` and
    ``(C, N, N)`` (one shared ``(N, N)`` covariance is broadcast), checked: finite, weights non-negative
    summing to 1, covariances symmetric; the errors name the argument."""
    weights = np.asarray(weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    covs = np.asarray(covs, dtype=np.float64)
    if weights.ndim != 1 or weights.size == 0:
        raise ValueError(f"weights must be a non-empty 1-D array (one per component), got shape {weights.shape}")
    n_components = weights.shape[0]
    if means.ndim != 2 or means.shape[0] != n_components:
        raise ValueError(f"means must have shape ({n_components}, N) for {n_components} weights, got {means.shape}")
    dim = means.shape[1]
    if covs.shape == (dim, dim):
        covs = np.broadcast_to(covs, (n_components, dim, dim))
    if covs.shape != (n_components, dim, dim):
        raise ValueError(f"covs must have shape ({n_components}, {dim}, {dim}) or ({dim}, {dim}), got {covs.shape}")
    for name, array in (("weights", weights), ("means", means), ("covs", covs)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} has a non-finite entry (NaN or inf)")
    if np.any(weights < 0):
        raise ValueError(f"weights must be non-negative, got {weights.tolist()}")
    if abs(weights.sum() - 1.0) > 1e-9:
        raise ValueError(f"weights must sum to 1, they sum to {weights.sum():.12g}")
    for c in range(n_components):
        if np.max(np.abs(covs[c] - covs[c].T), initial=0.0) > 1e-12 * max(np.max(np.abs(covs[c])), 1e-300):
            raise ValueError(f"covs[{c}] is not symmetric")
    return weights, means, covs


def _gaussian_moment_tensor(d: np.ndarray, C: np.ndarray, n: int) -> np.ndarray:
    r""":math:`E[y^{\otimes n}]` for :math:`y \sim N(d, C)`: set partitions into blocks of size 1 and 2."""
    total = np.zeros((d.shape[0],) * n)
    for partition in set_partitions(n):
        if all(len(block) <= 2 for block in partition):
            total += outer_over_blocks((d, C), partition, n)
    return total


def gaussian_mixture(weights, means, covs, order: int = 4, check: bool = True) -> Cumulants:
    r"""Exact cumulants of orders ``1..order`` of the mixture :math:`\sum_c w_c N(m_c, C_c)`.

    ``weights`` (C,) non-negative summing to 1, ``means`` (C, N), ``covs``
    (C, N, N) or one shared (N, N). See the module docstring for the formula.
    Example, one XOR class of docs/theory.md section 8 (clusters at (1,1) and (-1,-1)):
    ``gaussian_mixture([.5, .5], [[1, 1], [-1, -1]], 0.1 * np.eye(2), order=4)``.
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 2 <= order <= MAX_MIXTURE_ORDER:
        raise ValueError(f"order must be an integer in 2..{MAX_MIXTURE_ORDER}, got {order!r}")
    weights, means, covs = mixture_arguments(weights, means, covs)
    for c in range(len(weights)):
        psd_root(covs[c], f"covs[{c}]")
    mu = weights @ means
    deltas = means - mu
    central = [np.zeros(mu.shape)]
    for n in range(2, order + 1):
        central.append(sum(w * _gaussian_moment_tensor(d, C, n) for w, d, C in zip(weights, deltas, covs) if w > 0))
    tensors = [symmetrized(t) for t in cumulants_from_moments(central)]
    tensors[0] = mu
    result = Cumulants(*tensors, check=check)
    present = weights > 0
    if np.ptp(means[present], axis=0).any() or np.ptp(covs[present], axis=0).any():
        # a proper mixture: its cumulants of every order are non-zero in general
        tail = approximate(f"a Gaussian mixture's cumulants above order {order} are non-zero and not given",
                           layer="input")
        result = result.with_status(StatusProfile(result.exactness.held, tail))
    return result


def xor_class_mixture(label: int, width: float):
    r"""``(weights, means, covs)`` of one class of the XOR problem (docs/theory.md section 8): an equal mixture of
    two Gaussian clusters of covariance :math:`\sigma^2 I`, :math:`\sigma` = ``width``, centred at
    :math:`(1, 1)` and :math:`(-1, -1)` for class 1 ("+1", :math:`x_1 x_2 > 0`) and at :math:`(1, -1)`
    and :math:`(-1, 1)` for class 0 ("-1", :math:`x_1 x_2 < 0`).

    ``gaussian_mixture(*xor_class_mixture(1, 0.3), order=4)`` gives the exact cumulants,
    ``GaussianMixture(*xor_class_mixture(1, 0.3))`` samples the class.
    """
    if label not in (0, 1):
        raise ValueError(f"XOR labels are 0 and 1, got {label!r}")
    if not width > 0:
        raise ValueError(f"cluster width must be positive, got {width}")
    sign = 1.0 if label == 1 else -1.0
    means = np.array([[1.0, sign], [-1.0, -sign]])
    return np.array([0.5, 0.5]), means, np.stack([width**2 * np.eye(2)] * 2)


class Gaussian:
    r""":math:`N(\mu, \Sigma)` sampler (``cov`` may be singular)."""

    def __init__(self, mean, cov):
        cumulants = Cumulants(mean, cov)
        self.mean, self.cov = cumulants.mean, cumulants.cov
        self._root = psd_root(self.cov, "cov")

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def cumulants(self, order: int = 2) -> Cumulants:
        """Exact cumulants (all above order 2 are zero)."""
        return Cumulants(self.mean, self.cov, check=False).truncated(max(2, order))

    def sample(self, n: int, rng: np.random.Generator, matmul=np.matmul) -> np.ndarray:
        """``n`` samples; ``matmul`` may be replaced (e.g. by a torch product, see
        :func:`symcorr.networks.montecarlo.monte_carlo`) without changing the numbers drawn."""
        return self.mean + matmul(rng.standard_normal((n, self.dim)), self._root.T)

    def __repr__(self) -> str:
        return f"Gaussian(dim={self.dim})"


class GaussianMixture:
    r""":math:`\sum_c w_c N(m_c, C_c)` sampler; :meth:`cumulants` gives the exact cumulants."""

    def __init__(self, weights, means, covs):
        self.weights, self.means, self.covs = mixture_arguments(weights, means, covs)
        self._roots = [psd_root(C, f"covs[{c}]") for c, C in enumerate(self.covs)]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def cumulants(self, order: int = 4) -> Cumulants:
        """Exact cumulants of orders ``1..order`` (:func:`gaussian_mixture`)."""
        return gaussian_mixture(self.weights, self.means, self.covs, order, check=False)

    def sample(self, n: int, rng: np.random.Generator, matmul=np.matmul) -> np.ndarray:
        """``n`` samples (component labels first, then the noise); see :meth:`Gaussian.sample`."""
        labels = rng.choice(len(self.weights), size=n, p=self.weights)
        noise = rng.standard_normal((n, self.dim))
        out = np.empty((n, self.dim))
        for c, root in enumerate(self._roots):
            rows = labels == c
            out[rows] = self.means[c] + matmul(noise[rows], root.T)
        return out

    def __repr__(self) -> str:
        return f"GaussianMixture(components={len(self.weights)}, dim={self.dim})"


class DataSource:
    """Rows of a data array ``X`` (shape ``(n, ...)``), drawn without replacement in an order
    fixed by the generator of the first :meth:`sample` call (``shuffle=False`` keeps the order).

    Any trailing shape is allowed (e.g. images for a model starting with
    ``nn.Flatten``); :meth:`sample` returns float64 rows of that shape.
    """

    def __init__(self, X, shuffle: bool = True):
        X = np.asarray(X)
        if X.ndim < 2:
            raise ValueError(f"a data array needs shape (n_samples, ...), got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("the data array has a non-finite entry (NaN or inf)")
        self.X = X
        self.shuffle = shuffle
        self._order = None
        self._position = 0

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def dim(self) -> int:
        return int(np.prod(self.X.shape[1:]))

    def reset(self) -> None:
        self._order, self._position = None, 0

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self._order is None:
            self._order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        if self._position + n > self.n:
            raise ValueError(f"the data array has {self.n} rows; asked for {self._position + n}")
        rows = self._order[self._position:self._position + n]
        self._position += n
        return np.asarray(self.X[rows], dtype=np.float64)

    def __repr__(self) -> str:
        return f"DataSource(n={self.n}, shape={self.X.shape[1:]})"


class CallableSource:
    """Samples from a function ``sample(n, rng) -> array of shape (n, ...)``."""

    def __init__(self, function):
        self.function = function

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.asarray(self.function(n, rng), dtype=np.float64)
        if out.ndim < 2 or out.shape[0] != n:
            raise ValueError(f"the sampling function returned shape {out.shape} for n={n}; expected (n, ...)")
        return out

    def __repr__(self) -> str:
        return f"CallableSource({getattr(self.function, '__name__', self.function)!r})"


def as_source(inputs):
    """A sampler from ``inputs``: a sampler, a Gaussian :class:`Cumulants`, a data array,
    or a function ``sample(n, rng) -> (n, ...) array``."""
    if isinstance(inputs, (Gaussian, GaussianMixture, DataSource, CallableSource)):
        return inputs
    if isinstance(inputs, Cumulants):
        if any(np.any(t) for t in inputs.tensors[2:]):
            raise ValueError("cannot sample from Cumulants with non-zero cumulants above order 2: "
                             "pass a GaussianMixture or a data array instead")
        return Gaussian(inputs.mean, inputs.cov)
    if hasattr(inputs, "sample") and hasattr(inputs, "dim"):
        return inputs
    if hasattr(inputs, "detach") and hasattr(inputs, "cpu"):  # a torch tensor (numeric does not import torch)
        inputs = inputs.detach().cpu().numpy()
    if isinstance(inputs, np.ndarray):
        return DataSource(inputs)
    if callable(inputs):
        return CallableSource(inputs)
    raise TypeError(f"cannot sample inputs from {type(inputs).__name__}: pass symcorr.numeric.distributions.Gaussian, "
                    "GaussianMixture, a Gaussian Cumulants, a data array or a function sample(n, rng)")


__all__ = ["gaussian_mixture", "mixture_arguments", "xor_class_mixture", "Gaussian", "GaussianMixture", "DataSource", "CallableSource",
           "as_source", "MAX_MIXTURE_ORDER"]
