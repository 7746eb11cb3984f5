r"""Exact Gaussian mean and covariance of the Gaussian CDF :math:`\Phi(z)` and GELU :math:`z\Phi(z)`
(docs/theory.md section 11); NumPy and SciPy only.

With :math:`\sigma = \sqrt{1 + v}`, :math:`h = \mu/\sigma`, :math:`\rho' = c/(\sigma_a\sigma_b)` (always
:math:`|\rho'| < 1`: no singular limit), :math:`r' = \sqrt{1 - \rho'^2}`, :math:`\psi(x) = x\Phi(x) + \varphi(x)`:

.. math::

    E[\Phi(z)] = \Phi(h), \qquad \mathrm{Cov}(\Phi(z_a), \Phi(z_b)) = K(h_a, h_b; \rho'),

    E[\mathrm{gelu}(z)] = \mu\Phi(h) + \frac{v}{\sigma}\varphi(h), \qquad
    \mathrm{Cov}(\mathrm{gelu}_a, \mathrm{gelu}_b) = c\,\Phi(h_a)\Phi(h_b) + \sigma_a\sigma_b J(h_a, h_b; \rho')
      - \frac{\sigma_b}{\sigma_a}\varphi(h_a)[r'\psi(A_{ba}) - \psi(h_b)]
      - \frac{\sigma_a}{\sigma_b}\varphi(h_b)[r'\psi(A_{ab}) - \psi(h_a)]
      + \frac{\varphi_2(h_a, h_b; \rho') - \varphi(h_a)\varphi(h_b)}{\sigma_a\sigma_b},

:math:`A_{ba} = (h_b - \rho' h_a)/r'`: the covariance of :math:`\mathrm{relu}(w) - \delta(w)`,
:math:`w \sim N(\mu, \Sigma + I)` (docs/theory.md section 11). :math:`K, J` from
:mod:`symcorr.codegen.runtime.bivariate`. Absolute error below :math:`10^{-15}` of the scale
(1 for :math:`\Phi`, :math:`\sigma_a\sigma_b` for GELU; tests/derivation/test_family_gaussian_cdf.py).
"""
import numpy as np
from scipy import special as _special

from symcorr.codegen.runtime.bivariate import (NotSymmetric, kernel_grid, normal_pdf, orthant_integrals,
                                               pair_correlation, pair_matrix, validated_pair, validated_single)

_TWO_PI = 2.0 * np.pi


def _smoothed(mu, v):
    """(sigma, h) = (sqrt(1 + v), mu / sigma)."""
    sigma = np.sqrt(1.0 + v)
    return sigma, mu / sigma


def probit_gaussian_mean(mu, v):
    r""":math:`E[\Phi(z)] = \Phi(\mu/\sqrt{1 + v})`."""
    mu, v = validated_single(mu, v, "probit_gaussian_mean")
    return _special.ndtr(_smoothed(mu, v)[1])


def gelu_gaussian_mean(mu, v):
    r""":math:`E[z\Phi(z)] = \mu\Phi(h) + (v/\sigma)\varphi(h)`."""
    mu, v = validated_single(mu, v, "gelu_gaussian_mean")
    sigma, h = _smoothed(mu, v)
    return mu * _special.ndtr(h) + v / sigma * normal_pdf(h)


def _psi(x):
    r""":math:`\psi(x) = x\Phi(x) + \varphi(x) = E[\mathrm{relu}(x + N(0, 1))]`."""
    return x * _special.ndtr(x) + normal_pdf(x)


def _gelu_terms(c, rho, sigma_a, sigma_b, h_a, h_b, j):
    """The GELU covariance (module docstring) from its parts (broadcastable arrays)."""
    r = np.sqrt(1.0 - rho * rho)
    pdf_a, pdf_b = normal_pdf(h_a), normal_pdf(h_b)
    q = (h_a * h_a - 2.0 * rho * h_a * h_b + h_b * h_b) / (2.0 * r * r)
    density = np.exp(-q) / (_TWO_PI * r)
    return (c * _special.ndtr(h_a) * _special.ndtr(h_b) + sigma_a * sigma_b * j
            - sigma_b / sigma_a * pdf_a * (r * _psi((h_b - rho * h_a) / r) - _psi(h_b))
            - sigma_a / sigma_b * pdf_b * (r * _psi((h_a - rho * h_b) / r) - _psi(h_a))
            + (density - pdf_a * pdf_b) / (sigma_a * sigma_b))


def _pair_arguments(mu_a, mu_b, v_a, v_b, c, routine):
    mu_a, mu_b, v_a, v_b, c = validated_pair(mu_a, mu_b, v_a, v_b, c, routine)
    (sigma_a, h_a), (sigma_b, h_b) = _smoothed(mu_a, v_a), _smoothed(mu_b, v_b)
    return c, sigma_a, sigma_b, h_a, h_b, pair_correlation(c, 1.0 + v_a, 1.0 + v_b)


def probit_gaussian_covariance(mu_a, mu_b, v_a, v_b, c):
    r""":math:`\mathrm{Cov}(\Phi(z_a), \Phi(z_b)) = K(h_a, h_b; \rho')` of a Gaussian pair."""
    grid = kernel_grid(mu_a, mu_b, v_a, v_b, c)
    if grid is not None:
        try:
            mean, variance, cov = grid
            sigma, h = _smoothed(*validated_single(mean, variance, "probit_gaussian_covariance"))
            return pair_matrix(h, sigma, variance, cov, lambda rows, cols, c_, rho, k, j: k,
                               "probit_gaussian_covariance")
        except NotSymmetric:
            pass
    _, _, _, h_a, h_b, rho = _pair_arguments(mu_a, mu_b, v_a, v_b, c, "probit_gaussian_covariance")
    return orthant_integrals(h_a, h_b, rho)[0]


def gelu_gaussian_covariance(mu_a, mu_b, v_a, v_b, c):
    r""":math:`\mathrm{Cov}(z_a\Phi(z_a), z_b\Phi(z_b))` of a Gaussian pair (module docstring); ``c = v_a = v_b``,
    ``mu_a = mu_b`` gives the variance."""
    grid = kernel_grid(mu_a, mu_b, v_a, v_b, c)
    if grid is not None:
        try:
            return _gelu_matrix(*grid)
        except NotSymmetric:
            pass
    c, sigma_a, sigma_b, h_a, h_b, rho = _pair_arguments(mu_a, mu_b, v_a, v_b, c, "gelu_gaussian_covariance")
    _, j = orthant_integrals(h_a, h_b, rho)
    return _gelu_terms(c, rho, sigma_a, sigma_b, h_a, h_b, j)


def _gelu_matrix(mean, variance, cov):
    """gelu_gaussian_covariance on a kernel's symmetric grid (:func:`~symcorr.codegen.runtime.bivariate.pair_matrix`)."""
    sigma, h = _smoothed(*validated_single(mean, variance, "gelu_gaussian_covariance"))

    def combine(rows, cols, c, rho, k, j):
        if isinstance(rows, slice):
            return _gelu_terms(c, rho, sigma[rows, None], sigma[None, cols], h[rows, None], h[None, cols], j)
        return _gelu_terms(c, rho, sigma[rows], sigma[cols], h[rows], h[cols], j)

    return pair_matrix(h, sigma, variance, cov, combine, "gelu_gaussian_covariance")
