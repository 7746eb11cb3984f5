r"""Exact Gaussian mean and covariance of the piecewise-linear activations (docs/theory.md section 11);
NumPy and SciPy only.

A *ramp* :math:`\phi(z) = a z + b\,\mathrm{relu}(z)` covers ReLU (:math:`a = 0, b = 1`), leaky ReLU
(:math:`a = \alpha, b = 1 - \alpha`) and :math:`|z|` (:math:`a = -1, b = 2`); the *step* is
:math:`H(z)` (:math:`H(0) = 1/2`). For :math:`z \sim N(\mu, v)`, :math:`s = \sqrt v`, :math:`h = \mu/s`:

.. math::

    E[\mathrm{relu}(z)] = \mu\Phi(h) + s\varphi(h), \qquad E[H(z)] = \Phi(h),

and for a pair of correlation :math:`\rho = c/(s_a s_b)`, by Price's theorem along the correlation
(:math:`\phi'' = b\,\delta`; :mod:`symcorr.codegen.runtime.bivariate` for :math:`K, J`):

.. math::

    \mathrm{Cov}(\phi(z_a), \phi(z_b)) = c\,(a + b\Phi(h_a))(a + b\Phi(h_b)) + b^2 s_a s_b\, J(h_a, h_b; \rho),
    \qquad
    \mathrm{Cov}(H(z_a), H(z_b)) = K(h_a, h_b; \rho),

no difference of large numbers, the diagonal (:math:`c = v`, :math:`\rho = 1`) included. A zero
variance gives the point values :math:`\phi(\mu)` and covariance 0. Absolute error below
:math:`10^{-15}` of the scale (:math:`s_a s_b`, resp. 1; tests/derivation/test_family_piecewise.py).
"""
import numpy as np
from scipy import special as _special

from symcorr.codegen.runtime.bivariate import (NotSymmetric, kernel_grid, normal_pdf, orthant_integrals,
                                               pair_correlation, pair_matrix, standardized, validated_pair,
                                               validated_single)


def relu_gaussian_mean(mu, v):
    r""":math:`E[\mathrm{relu}(z)] = \mu\Phi(h) + s\varphi(h)`, :math:`\max(\mu, 0)` at :math:`v = 0`."""
    mu, v = validated_single(mu, v, "relu_gaussian_mean")
    s, h = standardized(mu, v)
    return np.where(s > 0, mu * _special.ndtr(h) + s * normal_pdf(h), np.maximum(mu, 0.0))


def ramp_gaussian_mean(mu, v, a, b):
    r""":math:`E[a z + b\,\mathrm{relu}(z)]` for :math:`z \sim N(\mu, v)` (module docstring)."""
    mu = np.asarray(mu, dtype=np.float64)
    return a * mu + b * relu_gaussian_mean(mu, v)


def step_gaussian_mean(mu, v):
    r""":math:`E[H(z)] = \Phi(\mu/\sqrt v)`; at :math:`v = 0`, :math:`H(\mu)` with :math:`H(0) = 1/2`."""
    mu, v = validated_single(mu, v, "step_gaussian_mean")
    s, h = standardized(mu, v)
    return np.where(s > 0, _special.ndtr(h), np.heaviside(mu, 0.5))


def ramp_gaussian_covariance(mu_a, mu_b, v_a, v_b, c, a, b):
    r""":math:`\mathrm{Cov}(a z_a + b\,\mathrm{relu}(z_a), a z_b + b\,\mathrm{relu}(z_b))` of a Gaussian pair
    (module docstring); ``c = v_a = v_b``, ``mu_a = mu_b`` gives the variance."""
    grid = kernel_grid(mu_a, mu_b, v_a, v_b, c)
    if grid is not None:
        try:
            return _ramp_matrix(*grid, a, b)
        except NotSymmetric:
            pass
    mu_a, mu_b, v_a, v_b, c = validated_pair(mu_a, mu_b, v_a, v_b, c, "ramp_gaussian_covariance")
    (s_a, h_a), (s_b, h_b) = standardized(mu_a, v_a), standardized(mu_b, v_b)
    rho = pair_correlation(c, v_a, v_b)
    _, j = orthant_integrals(h_a, h_b, rho)
    slope_a, slope_b = a + b * _special.ndtr(h_a), a + b * _special.ndtr(h_b)
    value = c * slope_a * slope_b + b * b * (s_a * s_b) * j
    return np.where((s_a > 0) & (s_b > 0), value, 0.0)


def step_gaussian_covariance(mu_a, mu_b, v_a, v_b, c):
    r""":math:`\mathrm{Cov}(H(z_a), H(z_b)) = K(h_a, h_b; \rho)` of a Gaussian pair (module docstring)."""
    grid = kernel_grid(mu_a, mu_b, v_a, v_b, c)
    if grid is not None:
        try:
            return _step_matrix(*grid)
        except NotSymmetric:
            pass
    mu_a, mu_b, v_a, v_b, c = validated_pair(mu_a, mu_b, v_a, v_b, c, "step_gaussian_covariance")
    (s_a, h_a), (s_b, h_b) = standardized(mu_a, v_a), standardized(mu_b, v_b)
    k, _ = orthant_integrals(h_a, h_b, pair_correlation(c, v_a, v_b))
    return np.where((s_a > 0) & (s_b > 0), k, 0.0)


def _ramp_matrix(mean, variance, cov, a, b):
    """ramp_gaussian_covariance on a kernel's symmetric grid (:func:`~symcorr.codegen.runtime.bivariate.pair_matrix`)."""
    s, h = standardized(*validated_single(mean, variance, "ramp_gaussian_covariance"))
    slope = a + b * _special.ndtr(h)
    b2s = (b * b) * s

    def combine(rows, cols, c, rho, k, j):
        if isinstance(rows, slice):
            return c * slope[rows, None] * slope[None, cols] + j * b2s[rows, None] * s[None, cols]
        return c * slope[rows] * slope[cols] + j * b2s[rows] * s[cols]

    return pair_matrix(h, s, variance, cov, combine, "ramp_gaussian_covariance")


def _step_matrix(mean, variance, cov):
    """step_gaussian_covariance on a kernel's symmetric grid."""
    s, h = standardized(*validated_single(mean, variance, "step_gaussian_covariance"))
    return pair_matrix(h, s, variance, cov, lambda rows, cols, c, rho, k, j: k, "step_gaussian_covariance")
