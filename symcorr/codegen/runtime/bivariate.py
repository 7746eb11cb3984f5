r"""Bivariate normal integrals shared by the piecewise and Gaussian-CDF kernels (docs/theory.md section 11);
NumPy and SciPy only.

For standard normals :math:`(X_a, X_b)` of correlation :math:`\rho` and thresholds :math:`h_a, h_b`,

.. math::

    K(h_a, h_b; \rho) = \Phi_2(h_a, h_b; \rho) - \Phi(h_a)\Phi(h_b) = \int_0^\rho \varphi_2(h_a, h_b; r)\,dr,
    \qquad
    J(h_a, h_b; \rho) = \int_0^\rho (\rho - r)\,\varphi_2(h_a, h_b; r)\,dr

(Plackett's identity :math:`\partial_\rho\Phi_2 = \varphi_2`). :math:`K` is the covariance of two
steps :math:`H(z_a), H(z_b)` of a Gaussian pair, :math:`J` the part of the covariance of two
ReLUs beyond :math:`c\,\Phi(h_a)\Phi(h_b)` (Price's theorem, docs/theory.md section 11), which is why both
are computed directly rather than as differences: they stay accurate when tiny.

Both are even under :math:`(h_a, \rho) \to (-h_a, -\rho)` up to the sign of :math:`K`, so the
thresholds are reflected to :math:`h \le 0` first. For :math:`|\rho| < 0.925` the integrals are
taken in the angle :math:`r = \sin t`, :math:`u = \tan(t/2)`, by Gauss-Legendre rules -- the
integrand is :math:`e^{-(h_a^2 + h_b^2 - 2h_ah_b\sin t)/(2\cos^2 t)}`, the same as the erf covariance's
with :math:`m = h/\sqrt2`, so the accuracy classes of :data:`symcorr.codegen.runtime.erf_covariance.ERF_COV_CLASSES`
apply (one class further: :math:`J`'s weight needs about one node more); for :math:`|\rho| \ge 0.925` (including :math:`|\rho| = 1`) through Owen's
:math:`T` (``scipy.special.owens_t``) and the closed form of :math:`J`. Accuracy (tests/derivation/
test_family_piecewise.py, against mpmath): absolute error below :math:`2 \cdot 10^{-15}` (:math:`3 \cdot 10^{-13}`
for :math:`J` within :math:`10^{-6}` of :math:`|\rho| = 1`, see ``_closed_forms``), relative error below
:math:`10^{-13}(1 + h_a^2 + h_b^2)` for :math:`|\rho| < 0.925`.
"""
import numpy as np
from scipy import special as _special

from symcorr.codegen.runtime.arrays import legendre_unit, symmetric_grid
from symcorr.codegen.runtime.erf_covariance import ERF_COV_CLASSES, ERF_COV_OWEN_RHO

_TWO_PI = 2.0 * np.pi
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_RULES = tuple(legendre_unit(n) for n, _, _ in ERF_COV_CLASSES)
_RHO_BOUNDS = np.array([bound for _, bound, _ in ERF_COV_CLASSES])
_DELTA_BOUNDS = np.array([bound for _, _, bound in ERF_COV_CLASSES])
#: Elements per block (keeps the temporaries in cache).
BLOCK = 32768


def normal_pdf(x):
    r""":math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}`."""
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


def _angle_rule(h_a, h_b, rho, rule):
    r"""(K, J) by Gauss-Legendre in :math:`u = \tan(t/2)` over :math:`t \in [0, \arcsin\rho]`.

    With :math:`p = 1 + u^2`, :math:`q = 1 - u^2`: :math:`\sin t = 2u/p`, :math:`\cos t = q/p`,
    :math:`dt = 2\,du/p`, and the exponent is :math:`-p\,(A p - 4Bu)/(2q^2)`,
    :math:`A = h_a^2 + h_b^2`, :math:`B = h_a h_b`.
    """
    nodes, weights = rule
    u_max = rho / (1.0 + np.sqrt(1.0 - rho * rho))
    a = h_a * h_a + h_b * h_b
    b4 = 4.0 * h_a * h_b
    k_total = np.zeros_like(rho)
    j_total = np.zeros_like(rho)
    for node, weight in zip(nodes, weights):
        u = u_max * node
        p = 1.0 + u * u
        q = 1.0 - u * u
        e = np.exp(-p * (a * p - b4 * u) / (2.0 * q * q)) * (2.0 * weight / p)
        k_total += e
        j_total += (rho - 2.0 * u / p) * e
    scale = u_max / _TWO_PI
    return k_total * scale, j_total * scale


def _owens_t_bvn(x, y, rho, r):
    r""":math:`\Phi_2(x, y; \rho)` for :math:`x, y \le 0` by Owen's formula
    :math:`\tfrac12[\Phi(x) + \Phi(y)] - T(x, \frac{y - \rho x}{x r}) - T(y, \frac{x - \rho y}{y r})`
    (:math:`r = \sqrt{1 - \rho^2}`, may be 0), with the limits at :math:`x = 0` or :math:`y = 0`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        num_x, num_y = y - rho * x, x - rho * y
        a_x = np.where(num_x == 0, 0.0, num_x / (x * r))
        a_y = np.where(num_y == 0, 0.0, num_y / (y * r))
        minus_rho_over_r = np.where(rho == 0, 0.0, -rho / r)
    cdf_x, cdf_y = _special.ndtr(x), _special.ndtr(y)
    zero_x, zero_y = x == 0, y == 0
    t_x = _special.owens_t(x, np.where(zero_x, 0.0, a_x))
    t_y = _special.owens_t(y, np.where(zero_y, 0.0, a_y))
    general = 0.5 * (cdf_x + cdf_y) - t_x - t_y
    only_x = 0.5 * cdf_y - _special.owens_t(y, minus_rho_over_r)      # x = 0, y < 0
    only_y = 0.5 * cdf_x - _special.owens_t(x, minus_rho_over_r)      # y = 0, x < 0
    both = 0.25 + np.arcsin(rho) / _TWO_PI
    return np.where(zero_x & zero_y, both, np.where(zero_x, only_x, np.where(zero_y, only_y, general)))


#: Below this distance of |rho| from 1, J is taken from its value at rho = +-1 (first order in 1 - |rho|).
NEAR_ONE = 1e-8


def _closed_forms_exact(h_a, h_b, rho):
    """(K, J) for h_a, h_b <= 0 and |rho| >= 0.925 (module docstring): Owen's T and the closed form of J."""
    r = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))
    cdf_a, cdf_b = _special.ndtr(h_a), _special.ndtr(h_b)
    k = _owens_t_bvn(h_a, h_b, rho, r) - cdf_a * cdf_b
    with np.errstate(divide="ignore", invalid="ignore"):
        num_ab, num_ba = h_a - rho * h_b, h_b - rho * h_a
        # the conditional thresholds; 0/0 (rho = +-1 on the line h_a = rho h_b) is their limit 0
        a_ab = np.where(num_ab == 0, 0.0, num_ab / r)
        a_ba = np.where(num_ba == 0, 0.0, num_ba / r)
    pdf_a, pdf_b = normal_pdf(h_a), normal_pdf(h_b)
    j = ((h_a * h_b + rho) * k + h_a * pdf_b * (_special.ndtr(a_ab) - cdf_a)
         + h_b * pdf_a * (_special.ndtr(a_ba) - cdf_b) + pdf_a * (r * normal_pdf(a_ba) - pdf_b))
    return k, j


def _closed_forms(h_a, h_b, rho):
    r"""(K, J) for :math:`|\rho| \ge 0.925`. The closed form of :math:`J` adds terms that vary like
    :math:`1/\sqrt{1 - \rho^2}` near :math:`|\rho| = 1` (their sum does not: :math:`\partial_\rho J = K`), so a
    rounding :math:`\epsilon` of :math:`\rho` costs :math:`\epsilon/\sqrt{1-|\rho|}`; within :data:`NEAR_ONE` of
    :math:`\pm1` it is replaced by :math:`J(\pm1) + (\rho \mp 1)K(\pm1)` (error below
    :math:`0.22(1-|\rho|)^{3/2}`): at most about :math:`2\cdot 10^{-13}` either way."""
    k, j = _closed_forms_exact(h_a, h_b, rho)
    near = 1.0 - np.abs(rho) < NEAR_ONE
    if np.any(near):
        ends = np.sign(rho[near])
        k_end, j_end = _closed_forms_exact(h_a[near], h_b[near], ends)
        j[near] = j_end + (rho[near] - ends) * k_end
    return k, j


def _integrals_block(h_a, h_b, rho):
    """orthant_integrals on flat, validated arrays (one cache-sized block); h already reflected to <= 0."""
    abs_rho = np.abs(rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.abs(h_a * h_b) * abs_rho + 0.5 * (h_a * h_a + h_b * h_b) * rho * rho / (1.0 - rho * rho)
    # erf's class, one further: J's weight (rho - r) needs about one node more than K for the same accuracy
    classes = np.maximum(np.searchsorted(_RHO_BOUNDS, abs_rho, side="right"),
                         np.searchsorted(_DELTA_BOUNDS, np.where(np.isnan(delta), np.inf, delta), side="right"))
    classes = np.minimum(classes + 1, len(_RULES) - 1)
    classes[abs_rho >= ERF_COV_OWEN_RHO] = len(_RULES)
    k, j = np.empty_like(rho), np.empty_like(rho)
    for c in np.unique(classes):
        index = classes == c
        if c == len(_RULES):
            k[index], j[index] = _closed_forms(h_a[index], h_b[index], rho[index])
        else:
            k[index], j[index] = _angle_rule(h_a[index], h_b[index], rho[index], _RULES[c])
    return k, j


def orthant_integrals(h_a, h_b, rho):
    r""":math:`(K, J)` of the module docstring for broadcastable float64 ``h_a``, ``h_b`` (finite) and
    ``rho`` in :math:`[-1, 1]`.

    :math:`K = \Phi_2(h_a, h_b; \rho) - \Phi(h_a)\Phi(h_b)`, :math:`J = \int_0^\rho(\rho - r)\varphi_2\,dr`;
    absolute error below :math:`2\cdot 10^{-15}` (:math:`3 \cdot 10^{-13}` for :math:`J` within :math:`10^{-6}` of
    :math:`|\rho| = 1`), relative error below :math:`10^{-13}(1 + h_a^2 + h_b^2)` for :math:`|\rho| < 0.925`.
    """
    h_a, h_b, rho = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (h_a, h_b, rho)))
    shape = h_a.shape
    h_a, h_b, rho = (np.ascontiguousarray(t).reshape(-1) for t in (h_a, h_b, rho))
    rho = np.clip(rho, -1.0, 1.0)
    # reflect both thresholds to <= 0: K changes sign with each reflection, J does not
    flip_a, flip_b = h_a > 0, h_b > 0
    sign = np.where(flip_a != flip_b, -1.0, 1.0)
    rho = np.where(flip_a != flip_b, -rho, rho)
    h_a, h_b = -np.abs(h_a), -np.abs(h_b)

    size = h_a.size
    out = np.empty(2 * size)
    for start in range(0, size, BLOCK):
        stop = min(start + BLOCK, size)
        k, j = _integrals_block(h_a[start:stop], h_b[start:stop], rho[start:stop])
        out[start:stop], out[size + start:size + stop] = k, j
    return (sign * out[:size]).reshape(shape), out[size:].reshape(shape)


def validated_pair(mu_a, mu_b, v_a, v_b, c, routine: str):
    r"""The arguments of a pair Gaussian :math:`N((\mu_a, \mu_b), [[v_a, c], [c, v_b]])` as broadcast
    float64 arrays, refused (naming ``routine``) if non-finite, a variance is negative or
    :math:`c^2 > v_a v_b` (beyond rounding)."""
    arrays = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (mu_a, mu_b, v_a, v_b, c)))
    for name, array in zip(("mu_a", "mu_b", "v_a", "v_b", "c"), arrays):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{routine}: {name} has a non-finite entry (NaN or inf)")
    mu_a, mu_b, v_a, v_b, c = arrays
    if np.any(v_a < 0) or np.any(v_b < 0):
        raise ValueError(f"{routine}: a variance (v_a or v_b) is negative")
    if np.any(c * c > v_a * v_b * (1.0 + 1e-10)):
        raise ValueError(f"{routine}: |c| > sqrt(v_a v_b), the 2x2 covariance is not positive semi-definite")
    return mu_a, mu_b, v_a, v_b, c


def validated_single(mu, v, routine: str):
    """``mu``, ``v`` as broadcast float64 arrays, refused (naming ``routine``) if non-finite or ``v < 0``."""
    mu, v = np.broadcast_arrays(np.asarray(mu, dtype=np.float64), np.asarray(v, dtype=np.float64))
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(v))):
        raise ValueError(f"{routine}: a mean or variance is non-finite (NaN or inf)")
    if np.any(v < 0):
        raise ValueError(f"{routine}: a variance is negative")
    return mu, v


def standardized(mu, v):
    r""":math:`(s, h) = (\sqrt v, \mu/\sqrt v)`, with :math:`h = 0` where :math:`v = 0` (callers mask it)."""
    s = np.sqrt(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(s > 0, mu / s, 0.0)
    return s, h


def pair_correlation(c, v_a, v_b):
    r""":math:`\rho = c/\sqrt{v_a v_b}` clipped to :math:`[-1, 1]`, 0 where a variance is 0, and exactly
    :math:`\pm1` where :math:`v_a v_b - c^2 \le 0` in floating point (the diagonal :math:`c = v_a = v_b`, duplicated
    neurons), where the quotient would round to :math:`1 - 2^{-52}`."""
    product = v_a * v_b
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(product > 0, c / np.sqrt(product), 0.0), -1.0, 1.0)
    return np.where((product > 0) & (product - c * c <= 0), np.sign(c), rho)


def bivariate_normal_cdf(x, y, rho):
    r""":math:`\Phi_2(x, y; \rho) = \Phi(x)\Phi(y) + K(x, y; \rho)` (what
    :class:`~symcorr.derivation.families.gaussian_functions.BivariateNormalCDF` prints to)."""
    x, y, rho = np.broadcast_arrays(*(np.asarray(t, dtype=np.float64) for t in (x, y, rho)))
    k, _ = orthant_integrals(x, y, rho)
    return _special.ndtr(x) * _special.ndtr(y) + k


__all__ = ["orthant_integrals", "bivariate_normal_cdf", "normal_pdf", "validated_pair", "validated_single",
           "standardized", "pair_correlation"]


# -- the kernels' symmetric neuron grid: upper triangle, weakly correlated pairs in bulk ---------

#: Weakly correlated pairs (:math:`|\rho| < 0.05`, :math:`|\rho|(h_a^2 + h_b^2) < 0.47`, erf's weak class
#: with :math:`m = h/\sqrt2`) take a 4-node Gauss-Legendre rule in :math:`r` directly.
WEAK_RHO, WEAK_SPREAD = 0.05, 0.47
_WEAK_RULE = legendre_unit(4)
#: Pairs per strip of rows in :func:`pair_matrix` (temporaries stay in cache).
STRIP = 32768


def _weak_integrals(h_a, h_b, rho):
    r"""(K, J) by 4-node Gauss-Legendre in :math:`r` of :math:`\frac{1}{2\pi}\int_0^\rho (1, \rho - r)
    e^{-(A - 2Br)/(2(1-r^2))}(1-r^2)^{-1/2}dr`, :math:`A = h_a^2 + h_b^2`, :math:`B = h_a h_b`; weakly
    correlated pairs only (:data:`WEAK_RHO`, :data:`WEAK_SPREAD`)."""
    nodes, weights = _WEAK_RULE
    a = h_a * h_a + h_b * h_b
    b = 2.0 * h_a * h_b
    k_total, j_total = np.zeros(np.shape(rho)), np.zeros(np.shape(rho))
    for node, weight in zip(nodes, weights):
        r = rho * node
        one_minus = 1.0 - r * r
        e = np.exp((b * r - a) / (2.0 * one_minus)) * (weight / np.sqrt(one_minus))
        k_total += e
        j_total += (rho - r) * e
    scale = rho / _TWO_PI
    return k_total * scale, j_total * scale


class NotSymmetric(Exception):
    """The covariance differs from its transpose beyond the tolerance (:func:`pair_matrix`)."""


def kernel_grid(mu_a, mu_b, v_a, v_b, c):
    """``(mean, variance, cov)`` if the arguments are a kernel's symmetric neuron grid (``mu_i`` (N, 1),
    ``mu_j`` (1, N), ``Sigma_ii``, ``Sigma_jj``, ``Sigma_ij`` views of one Gaussian), else ``None``."""
    arrays = [np.asarray(t, dtype=np.float64) for t in (mu_a, mu_b, v_a, v_b, c)]
    return symmetric_grid(*arrays)


def pair_matrix(h, scale, variance, cov, combine, routine: str):
    r"""The symmetric matrix ``out[i, j] = combine(i, j, c, rho, K, J)`` over all neuron pairs of one Gaussian.

    ``h`` and ``scale`` (N,) standardize each neuron (:math:`\rho_{ij} = \Sigma_{ij}/(\text{scale}_i
    \text{scale}_j)`, 0 where a scale is 0); ``variance`` and ``cov`` are the Gaussian's. ``combine`` gets row and
    column indices (slices or index arrays, broadcastable), the covariances, the correlations and
    :math:`K, J` (:func:`orthant_integrals`) of those pairs. Only the upper triangle is evaluated, in
    strips of rows; weakly correlated pairs, the bulk of a wide layer, take the 4-node rule
    (:func:`_weak_integrals`), the others (the diagonal among them) are gathered and evaluated together.
    Raises :class:`NotSymmetric` if ``cov`` is not symmetric to :math:`10^{-12}\max\Sigma_{ii}`, and
    ``ValueError`` (naming ``routine``) on non-finite entries or :math:`\Sigma_{ij}^2 > \Sigma_{ii}\Sigma_{jj}`.
    """
    n = h.shape[0]
    out = np.empty((n, n))
    rows_per_strip = max(1, STRIP // max(n, 1))
    tolerance = 1e-12 * max(float(np.max(variance, initial=0.0)), 1e-300)
    root = np.sqrt(variance)
    with np.errstate(divide="ignore"):
        inverse_scale = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 0.0)
    h2 = h * h
    hard_i, hard_j = [], []
    for start in range(0, n, rows_per_strip):
        stop = min(start + rows_per_strip, n)
        rows, cols = slice(start, stop), slice(stop, n)
        square = cov[rows, rows]
        if not (np.all(np.abs(square - square.T) <= tolerance)
                and np.all(np.abs(cov[rows, cols] - cov[cols, rows].T) <= tolerance)):
            raise NotSymmetric
        i, j = np.triu_indices(stop - start)
        hard_i.append(i + start)
        hard_j.append(j + start)
        if stop == n:
            continue
        c = cov[rows, cols]
        if not np.isfinite(np.sum(c)):
            raise ValueError(f"{routine}: cov has a non-finite entry (NaN or inf)")
        if np.any(np.abs(c) > np.multiply.outer(root[rows], root[cols]) * (1.0 + 1e-10)):
            raise ValueError(f"{routine}: cov is not positive semi-definite: some |cov[i, j]| > "
                             "sqrt(cov[i, i] cov[j, j])")
        rho = np.clip(c * inverse_scale[rows, None] * inverse_scale[None, cols], -1.0, 1.0)
        weak = np.abs(rho)
        weak = (weak < WEAK_RHO) & (weak * (h2[rows, None] + h2[None, cols]) < WEAK_SPREAD)
        k, j = _weak_integrals(h[rows, None], h[None, cols], rho)
        block = combine(rows, cols, c, rho, k, j)
        if not weak.all():
            i, j = np.nonzero(~weak)
            hard_i.append(i + start)
            hard_j.append(j + stop)
        out[rows, cols] = block
        out[cols, rows] = block.T
    i, j = np.concatenate(hard_i), np.concatenate(hard_j)
    c = cov[i, j]
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{routine}: cov has a non-finite entry (NaN or inf)")
    if np.any(np.abs(c) > root[i] * root[j] * (1.0 + 1e-10)):
        raise ValueError(f"{routine}: cov is not positive semi-definite: some |cov[i, j]| > sqrt(cov[i, i] cov[j, j])")
    rho = np.clip(c * inverse_scale[i] * inverse_scale[j], -1.0, 1.0)
    rho = np.where((scale[i] > 0) & (scale[j] > 0) & (variance[i] * variance[j] - c * c <= 0), np.sign(c), rho)
    k, jj = orthant_integrals(h[i], h[j], rho)
    values = combine(i, j, c, rho, k, jj)
    out[i, j] = values
    out[j, i] = values
    return out
