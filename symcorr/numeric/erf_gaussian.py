r"""Exact transfer of a Gaussian through :math:`y = \operatorname{erf}(z)` (docs/theory.md section 6), numerically.

For :math:`z \sim N(\mu, \Sigma)` the mean and the full covariance of
:math:`y_i = \operatorname{erf}(z_i)` have closed forms: with
:math:`s_i^2 = 1 + 2\Sigma_{ii}`,

.. math::

    E[y_i] = \operatorname{erf}(\mu_i / s_i), \qquad
    \mathrm{Cov}(y_i, y_j) = 4\,[\Phi_2(h_i, h_j; \rho_{ij}) - \Phi(h_i)\Phi(h_j)],
    \quad h_i = \sqrt2\mu_i/s_i,\ \rho_{ij} = 2\Sigma_{ij}/(s_i s_j),

the diagonal included (:math:`\rho_{ii} = 2\Sigma_{ii}/(1 + 2\Sigma_{ii})`).
:func:`erf_gaussian_transfer` evaluates them for all neuron pairs at once
(upper triangle, vectorized, no loop over neurons) with
:func:`symcorr.codegen.runtime.erf_covariance_matrix` -- the routine the
generated erf kernels reach through ``erf_gaussian_covariance`` on their
neuron grid, so the two agree to the last bit. It is also the
resummed (``series_order``-free) Gaussian part of
``symcorr.numeric.pointwise(c, erf(), order=2)``.

:func:`price_series_covariance` is the other side of docs/theory.md section 6: the
Price series :math:`\sum_{n\ge1}\Sigma_{ij}^n/n!\, g_i^{(n)} g_j^{(n)}`,
truncated, which converges to the closed form for :math:`|\rho| < 1`
(:func:`price_series_table`).
"""
from __future__ import annotations

import numpy as np

from symcorr.codegen.runtime.erf_covariance import _NotSymmetric, erf_covariance_matrix, erf_gaussian_covariance


def _validated(mean, cov):
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    if mean.ndim != 1:
        raise ValueError(f"mean must be 1-D of shape (N,), got shape {mean.shape}")
    n = mean.shape[0]
    if cov.shape != (n, n):
        raise ValueError(f"cov must have shape ({n}, {n}) to match mean of length {n}, got {cov.shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(np.diag(cov)))):
        raise ValueError("mean or cov has a non-finite entry (NaN or inf)")
    # symmetry, finiteness and |cov_ij| <= sqrt(cov_ii cov_jj) off the diagonal are checked
    # strip by strip in erf_covariance_matrix (one pass over cov instead of three)
    if np.any(np.diag(cov) < 0):
        raise ValueError(f"cov has a negative variance on its diagonal (index {int(np.argmin(np.diag(cov)))})")
    return mean, cov


def erf_gaussian_mean(mean, variance) -> np.ndarray:
    r""":math:`E[\operatorname{erf}(z_i)] = \operatorname{erf}(\mu_i/\sqrt{1+2\Sigma_{ii}})` (docs/theory.md section 6)."""
    from scipy.special import erf

    return erf(np.asarray(mean, dtype=np.float64) / np.sqrt(1.0 + 2.0 * np.asarray(variance, dtype=np.float64)))


def erf_gaussian_transfer(mean, cov) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact mean ``(N,)`` and covariance ``(N, N)`` of :math:`\operatorname{erf}(z)`, :math:`z \sim N(\mu, \Sigma)`.

    docs/theory.md section 6; accuracy: relative error below
    :math:`10^{-14}(1 + m_i^2 + m_j^2)` (:math:`m = \mu/s`) for
    :math:`|\rho_{ij}| < 0.925`, absolute ~1e-16 above (Owen's T), including zero means,
    :math:`h_i h_j < 0`, :math:`|\rho| \to 1`, variances near 0 and very large
    (see :func:`symcorr.codegen.runtime.erf_gaussian_covariance`).

    Only the upper triangle is computed, in strips of rows (about 32768 pairs
    each, so temporaries stay in cache; every strip is one vectorized call),
    and mirrored (:func:`symcorr.codegen.runtime.erf_covariance_matrix`).
    """
    mean, cov = _validated(mean, cov)
    variance = np.diag(cov).copy()
    tolerance = 1e-12 * max(float(np.max(variance, initial=0.0)), 1e-300)
    try:
        covariance = erf_covariance_matrix(mean, variance, cov, symmetry_tolerance=tolerance)
    except _NotSymmetric:
        if not np.all(np.isfinite(cov)):
            raise ValueError("mean or cov has a non-finite entry (NaN or inf)") from None
        raise ValueError("cov is not symmetric") from None
    return erf_gaussian_mean(mean, variance), covariance


def _normalized_hermite_terms(x, order):
    r"""Rows :math:`\hat h_{k}(x) e^{-x^2}`, :math:`k = 0..order-1`, :math:`\hat h_k = H_k/\sqrt{2^k k!}` (stable)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((order,) + x.shape)
    h_prev, h = np.zeros_like(x), np.ones_like(x)
    for k in range(order):
        out[k] = h
        h_prev, h = h, np.sqrt(2.0 / (k + 1)) * x * h - np.sqrt(k / (k + 1.0)) * h_prev
    return out * np.exp(-x * x)


def price_series_covariance(mu_a, mu_b, v_a, v_b, c_ab, order: int) -> np.ndarray:
    r"""The Price series of :math:`\mathrm{Cov}(\operatorname{erf} z_a, \operatorname{erf} z_b)` truncated at ``order`` terms.

    .. math::

        \sum_{n=1}^{\mathrm{order}} \frac{c_{ab}^n}{n!} g_a^{(n)} g_b^{(n)}
        = \frac{2}{\pi}\sum_{n=1}^{\mathrm{order}} \frac{\rho^n}{n}\,
          \hat h_{n-1}(x_a)\hat h_{n-1}(x_b)\, e^{-x_a^2 - x_b^2},

    :math:`x = \mu/s`, :math:`\rho = 2c_{ab}/(s_a s_b)`, with
    :math:`g^{(n)} = s^{-n}\operatorname{erf}^{(n)}(\mu/s)` (docs/theory.md section 6)
    and normalized Hermite functions (no overflow at high order). This is
    what the engine's independent reference (``reference='independent'``,
    closure 2) gives at ``series_order = order``.
    """
    if order < 0:
        raise ValueError(f"series order must be >= 0, got {order}")
    mu_a, mu_b, v_a, v_b, c = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64)
                                                     for t in (mu_a, mu_b, v_a, v_b, c_ab)))
    s_a, s_b = np.sqrt(1.0 + 2.0 * v_a), np.sqrt(1.0 + 2.0 * v_b)
    rho = 2.0 * c / (s_a * s_b)
    if order == 0:
        return np.zeros(mu_a.shape)
    h_a = _normalized_hermite_terms(mu_a / s_a, order)
    h_b = _normalized_hermite_terms(mu_b / s_b, order)
    n = np.arange(1, order + 1).reshape((order,) + (1,) * mu_a.ndim)
    return (2.0 / np.pi) * np.sum(rho ** n / n * h_a * h_b, axis=0)


def price_series_table(rhos=(0.2, 0.6, 0.95), orders=(1, 2, 4, 8, 16, 32, 64, 128, 256),
                       means=(0.0, 0.25, -0.7, 1.5, -3.0), variances=(0.5, 2.0, 20.0, 1e4)):
    r"""Max ``|Price series - closed form|`` over a grid of means and variances, per :math:`|\rho|` and order.

    :math:`\rho = 2\Sigma_{ab}/(s_a s_b)` is the correlation that sets the
    convergence (docs/theory.md section 6); for each :math:`|\rho|` (both signs) the
    grid holds all pairs of ``means`` and pairs of ``variances`` for which
    :math:`|\Sigma_{ab}| \le \sqrt{\Sigma_{aa}\Sigma_{bb}}`. Returns
    ``{rho: {order: max_error}}``.
    """
    mu_a, mu_b, v_a, v_b = (g.ravel() for g in np.meshgrid(means, means, variances, variances, indexing="ij"))
    table = {}
    for rho in rhos:
        rows = {}
        for sign in (1.0, -1.0):
            c = sign * rho * np.sqrt((1 + 2 * v_a) * (1 + 2 * v_b)) / 2.0
            ok = c * c <= v_a * v_b
            exact = erf_gaussian_covariance(mu_a[ok], mu_b[ok], v_a[ok], v_b[ok], c[ok])
            for order in orders:
                series = price_series_covariance(mu_a[ok], mu_b[ok], v_a[ok], v_b[ok], c[ok], order)
                rows[order] = max(rows.get(order, 0.0), float(np.max(np.abs(series - exact))))
        table[rho] = rows
    return table


def format_price_series_table(table) -> str:
    """The table of :func:`price_series_table` as aligned text (one row per order)."""
    rhos = list(table)
    orders = list(next(iter(table.values())))
    lines = ["order  " + "  ".join(f"|rho|={r:<6g}" for r in rhos)]
    for order in orders:
        lines.append(f"{order:5d}  " + "  ".join(f"{table[r][order]:11.2e}" for r in rhos))
    return "\n".join(lines)


__all__ = ["erf_gaussian_mean", "erf_gaussian_transfer", "price_series_covariance",
           "price_series_table", "format_price_series_table"]
