r"""Deterministic references: tensor-product Gauss-Hermite quadrature (docs/theory.md section 7).

For an input of dimension :math:`d \le 3` distributed as a Gaussian mixture
:math:`\sum_c w_c N(m_c, C_c)`, the expectation of any function is

.. math:: E[f(x)] \approx \sum_c w_c \sum_{\mathbf k} \prod_{t=1}^{d} \omega_{k_t}\, f(m_c + L_c \xi_{\mathbf k}),
          \qquad L_c L_c^\top = C_c,

with the probabilists' Hermite nodes :math:`\xi` and weights :math:`\omega`
(normalised to sum to 1). With :math:`n` nodes per dimension it is exact for
polynomials of degree :math:`\le 2n - 1` in each coordinate, so it is exact
(to rounding) for polynomial networks and converges fast for erf ones.
Output cumulants follow from central moments by the Moebius formula of
docs/theory.md section 2.
"""
from __future__ import annotations

import itertools

import numpy as np

from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.distributions import mixture_arguments
from symcorr.numeric.tensors import cumulants_from_moments, psd_root


def hermite_rule(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) of the n-point rule for :math:`N(0, 1)`."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    return nodes, weights / weights.sum()


def mixture_points(weights, means, covs, n_nodes: int = 16) -> tuple[np.ndarray, np.ndarray]:
    r"""Quadrature points ``(P, d)`` and their probabilities ``(P,)`` for a Gaussian mixture.

    ``weights`` (C,), ``means`` (C, d), ``covs`` (C, d, d) or one shared (d, d),
    checked by :func:`symcorr.numeric.distributions.mixture_arguments`; a
    Gaussian is the mixture with one component. Refuses :math:`d > 3` (the
    rule has :math:`n^d` points).
    """
    weights, means, covs = mixture_arguments(weights, means, covs)
    dim = means.shape[1]
    if dim > 3:
        raise ValueError(f"tensor-product quadrature is for inputs of dimension <= 3, got {dim}")
    nodes, node_weights = hermite_rule(n_nodes)
    grid = np.array(list(itertools.product(nodes, repeat=dim)))
    grid_weights = np.prod(np.array(list(itertools.product(node_weights, repeat=dim))), axis=1)
    points = [m + grid @ psd_root(c, f"covs[{k}]").T for k, (m, c) in enumerate(zip(means, covs))]
    probabilities = [w * grid_weights for w in weights]
    return np.concatenate(points), np.concatenate(probabilities)


def cumulants_of_samples(values: np.ndarray, probabilities: np.ndarray, order: int) -> Cumulants:
    r"""Cumulants of orders ``1..order`` of a discrete distribution: ``values`` (P, N) with ``probabilities``.

    Central moments first (better conditioned), then the Moebius formula;
    the mean is put back as :math:`\kappa^{(1)}`.
    """
    values = np.asarray(values, dtype=np.float64)
    mean = probabilities @ values
    centred = values - mean
    moments = [np.zeros_like(mean)]
    for n in range(2, order + 1):
        letters = "abcdefgh"[:n]
        operands = [probabilities] + [centred] * n
        subscripts = "p," + ",".join(f"p{c}" for c in letters) + "->" + letters
        moments.append(np.einsum(subscripts, *operands, optimize=True))
    kappas = cumulants_from_moments(moments)
    kappas[0] = mean
    return Cumulants(*kappas, check=False)


def quadrature_cumulants(function, weights, means, covs, order: int, n_nodes: int = 16) -> Cumulants:
    """Cumulants of ``function(x)`` (a map ``(P, d) -> (P, N)``) for ``x`` a Gaussian mixture."""
    points, probabilities = mixture_points(weights, means, covs, n_nodes)
    return cumulants_of_samples(function(points), probabilities, order)
