r""":math:`E[\operatorname{erf}(z)^p]` of a Gaussian :math:`z` and its mean-derivatives, numerically
(docs/theory.md section 6); NumPy and SciPy only.

:func:`erf_power_moment` is what the generated erf kernels call for powers
without a closed form; :func:`erf_derivatives` and :func:`erf_power_derivative`
give the derivatives of :math:`\operatorname{erf}^p` it integrates.
"""
import math

import numpy as np
from scipy import special as _special

from symcorr.codegen.runtime.arrays import float_arrays, legendre_unit

_SQRT2 = np.sqrt(2.0)
_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)

#: Half-width (in z) beyond which erf(z)^p is saturated: erfc(9) = 4e-37.
ERF_SATURATION = 9.0
#: Half-width (in standard deviations) of the Gaussian weight kept: ``P(|x| > 9) = 2e-19``.
GAUSS_CUTOFF = 9.0
#: Variance above which the mean-derivatives are moved onto the Gaussian (method A).
ERF_POWER_V_SWITCH = 0.2
_PANELS_B, _PANELS_A, _PANEL_NODES = 8, 6, 20


def _composite_unit(panels, nodes):
    x, w = legendre_unit(nodes)
    starts = np.arange(panels) / panels
    return (starts[:, None] + x[None, :] / panels).ravel(), np.tile(w / panels, panels)


_RULE_B = _composite_unit(_PANELS_B, _PANEL_NODES)
_RULE_A = _composite_unit(_PANELS_A, _PANEL_NODES)


def erf_derivatives(z, n):
    r""":math:`[\operatorname{erf}(z), \operatorname{erf}'(z), \dots, \operatorname{erf}^{(n)}(z)]` (docs/theory.md section 6).

    .. math:: \operatorname{erf}^{(k)}(z) = \tfrac{2}{\sqrt\pi}(-1)^{k-1} H_{k-1}(z)\, e^{-z^2},\quad k \ge 1,

    with the physicists' Hermite recurrence :math:`H_{j+1} = 2zH_j - 2jH_{j-1}`.
    """
    z = np.asarray(z, dtype=np.float64)
    out = [_special.erf(z)]
    if n >= 1:
        gauss = _TWO_OVER_SQRT_PI * np.exp(-z * z)
        h_prev, h = np.zeros_like(z), np.ones_like(z)
        for k in range(1, n + 1):
            out.append((-1) ** (k - 1) * h * gauss)
            h_prev, h = h, 2.0 * z * h - 2.0 * (k - 1) * h_prev
    return out


def erf_power_derivative(p, n, z):
    r""":math:`\frac{d^n}{dz^n}\operatorname{erf}(z)^p` by the Leibniz rule over :func:`erf_derivatives`."""
    e = erf_derivatives(z, n)
    power = e
    for _ in range(p - 1):
        power = [sum(math.comb(m, k) * e[k] * power[m - k] for k in range(m + 1)) for m in range(n + 1)]
    return power[n]


def _erf_power_small_v(p, n, mu, v):
    """Method B: E[(erf^p)^{(n)}(mu + sqrt(v) x)], x ~ N(0, 1), Gauss-Legendre over the live interval."""
    sd = np.sqrt(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(sd > 0, np.maximum(-GAUSS_CUTOFF, (-ERF_SATURATION - mu) / sd), -GAUSS_CUTOFF)
        hi = np.where(sd > 0, np.minimum(GAUSS_CUTOFF, (ERF_SATURATION - mu) / sd), GAUSS_CUTOFF)
    width = np.maximum(hi - lo, 0.0)
    nodes, weights = _RULE_B
    x = lo[..., None] + width[..., None] * nodes
    values = erf_power_derivative(p, n, mu[..., None] + sd[..., None] * x)
    gauss = np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    total = np.sum(values * gauss * weights, axis=-1) * width
    if n == 0:
        # saturated tails: erf^p = 1 above +9 and (-1)^p below -9
        with np.errstate(divide="ignore", invalid="ignore"):
            upper = np.where(sd > 0, 0.5 * _special.erfc((ERF_SATURATION - mu) / (_SQRT2 * sd)),
                             (mu > ERF_SATURATION).astype(float))
            lower = np.where(sd > 0, 0.5 * _special.erfc((ERF_SATURATION + mu) / (_SQRT2 * sd)),
                             (mu < -ERF_SATURATION).astype(float))
        total = total + upper + (-1) ** p * lower
    # v = 0: the point mass (also right where the interval degenerates)
    point = erf_power_derivative(p, n, mu)
    return np.where(sd > 0, total, point)


def _erf_power_large_v(p, n, mu, v):
    """Method A: derivatives on the Gaussian, erf^p = sign(z)^p + r_p(z) with r_p localised in |z| < 9."""
    sd = np.sqrt(v)
    x0 = -mu / sd
    phi0 = np.exp(-0.5 * x0 * x0) / np.sqrt(2.0 * np.pi)
    if p % 2:
        # v^{-n/2} int sign(x - x0) He_n(x) phi(x) dx
        smooth = _special.erf(mu / (_SQRT2 * sd)) if n == 0 else 2.0 * _special.eval_hermitenorm(n - 1, x0) * phi0 * sd ** (-n)
    else:
        smooth = np.full(mu.shape, 1.0 if n == 0 else 0.0)
    nodes, weights = _RULE_A
    z = ERF_SATURATION * nodes                       # (M,) in (0, 9)
    tail = _special.erfc(z)
    r_pos = np.expm1(p * np.log1p(-tail))            # erf(z)^p - 1 for z > 0
    total = np.zeros(mu.shape)
    for side, r in ((1.0, r_pos), (-1.0, (-1) ** p * r_pos)):
        x = (side * z - mu[..., None]) / sd[..., None]
        kernel = _special.eval_hermitenorm(n, x) * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
        total = total + np.sum(r * weights * kernel, axis=-1)
    total = total * ERF_SATURATION / sd * sd ** (-n)
    return smooth + total


def erf_power_moment(p, n, mu, v):
    r""":math:`\partial_\mu^n E_{z\sim N(\mu, v)}[\operatorname{erf}(z)^p] = E[(\operatorname{erf}^p)^{(n)}(z)]`, numerically.

    No elementary closed form exists for :math:`p \ge 3` at nonzero mean
    (docs/theory.md section 6). Two deterministic rules, both vectorised over
    ``mu``, ``v`` (broadcast, float64), accurate to ~1e-13 of the function's
    scale (the largest :math:`|g^{(n)}_p|` over the mean, at that variance)
    against mpmath, for :math:`p \le 4`, :math:`n \le 12`, all :math:`v`
    (tests/derivation/test_family_erf.py); the switch point
    :data:`ERF_POWER_V_SWITCH` = 0.2 is where both rules are equally good:

    * :math:`v \le 0.2` (method B): :math:`E[f^{(n)}(\mu + \sqrt v x)]`, the
      derivative on :math:`f = \operatorname{erf}^p` (Hermite form + Leibniz),
      composite Gauss-Legendre (8 x 20 nodes) over the part of
      :math:`|x| \le 9` where :math:`|z| \le 9`; beyond, :math:`f` is
      saturated and the tails are added exactly with ``erfc``.
    * :math:`v > 0.2` (method A): the derivatives go onto the Gaussian,
      :math:`\partial_\mu^n N(z;\mu,v) = v^{-n/2} He_n(x) N(z;\mu,v)`, and
      :math:`\operatorname{erf}(z)^p = \operatorname{sign}(z)^p + r_p(z)`:
      the sign part is exact (:math:`\operatorname{erf}(\mu/\sqrt{2v})` or
      :math:`2 v^{-n/2} He_{n-1}(x_0)\varphi(x_0)`), the remainder
      :math:`r_p` lives in :math:`|z| < 9` on the scale of erf's transition
      and is integrated there (6 x 20 Gauss-Legendre nodes on each half-line,
      :math:`r_p = \mathrm{expm1}(p\,\mathrm{log1p}(-\operatorname{erfc} z))`).
      Nodes sit where erf varies whatever :math:`v`, which is why this stays
      accurate at :math:`v = 10^4` and beyond, where a fixed Gauss-Hermite
      rule in :math:`x` (nodes spaced :math:`\sim\sqrt v` apart in :math:`z`)
      misses the transition entirely.
    """
    if isinstance(p, bool) or int(p) != p or p < 1:
        raise ValueError(f"erf_power_moment: power p must be an integer >= 1, got {p!r}")
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"erf_power_moment: derivative order n must be an integer >= 0, got {n!r}")
    p, n = int(p), int(n)
    mu, v = float_arrays(("mu", "v"), (mu, v))
    if np.any(v < 0):
        raise ValueError("erf_power_moment: variance v is negative")
    small = v <= ERF_POWER_V_SWITCH
    out = np.empty(mu.shape)
    if np.any(small):
        out[small] = _erf_power_small_v(p, n, mu[small], v[small])
    index = ~small
    if np.any(index):
        out[index] = _erf_power_large_v(p, n, mu[index], v[index])
    return out

