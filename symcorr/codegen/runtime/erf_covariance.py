r"""The covariance of erf of a bivariate Gaussian, elementwise and as a whole matrix (docs/theory.md section 6).

:func:`erf_gaussian_covariance` (what the generated erf kernels call) and
:func:`erf_covariance_matrix` (its symmetric neuron grid, also used by
:mod:`symcorr.numeric.erf_gaussian`); NumPy and SciPy only. Every routine takes
broadcastable float64 arrays and loops only over quadrature nodes and accuracy
classes, never over neurons.
"""
import numpy as np
from scipy import special as _special

from symcorr.codegen.runtime.arrays import blockwise, float_arrays, legendre_unit, symmetric_grid

_SQRT2 = np.sqrt(2.0)

#: Accuracy classes of the Gaussian erf covariance: (Gauss-Legendre nodes, upper
#: bound on ``|rho|``, upper bound on the log-variation Delta of the integrand),
#: ``Delta = 2|m_a m_b rho| + (m_a^2 + m_b^2) rho^2 / (1 - rho^2)``; an element uses
#: the first class whose bounds it is below, Owen's T when ``|rho| >= 0.925``.
#: Chosen from measured convergence (relative error at the floor of the
#: exponent's rounding, ~1e-15 (1 + m_a^2 + m_b^2), against a 300-node rule
#: and mpmath; tests/numeric/test_erf_gaussian.py re-checks every class).
ERF_COV_CLASSES = ((4, 0.05, 0.25), (5, 0.1, 1.0), (6, 0.2, 1.0), (8, 0.3, 1.0), (12, 0.6, 1.0), (16, 0.75, 8.0),
                   (20, 0.925, 32.0), (24, 0.925, 64.0), (32, 0.925, 128.0), (48, 0.925, np.inf))
#: ``|rho|`` from which the Owen's-T form is used
ERF_COV_OWEN_RHO = 0.925

_ERF_COV_RULES = tuple(legendre_unit(n) for n, _, _ in ERF_COV_CLASSES)
_ERF_COV_RHO_BOUNDS = np.array([bound for _, bound, _ in ERF_COV_CLASSES])
_ERF_COV_DELTA_BOUNDS = np.array([bound for _, _, bound in ERF_COV_CLASSES])


def _erf_cov_theta_rule(m_a, m_b, u_max, rule):
    r"""(2/pi) int_0^{arcsin rho} exp(-(m_a^2 + m_b^2 - 2 m_a m_b sin t) / cos^2 t) dt, t = 2 arctan u.

    With :math:`u = u_{max}\tau`: :math:`\sin t = 2u/p`, :math:`\cos t = q/p`,
    :math:`p = 1 + u^2`, :math:`q = 1 - u^2`, :math:`dt = 2\,du/p`, and the
    exponent is :math:`-p\,(A p - B u)/q^2` with :math:`A = m_a^2 + m_b^2`,
    :math:`B = 4 m_a m_b`. Written with in-place operations on small blocks.
    """
    nodes, weights = rule
    a = m_a * m_a
    a += m_b * m_b
    bu = m_a * m_b
    bu *= 4.0 * u_max
    u2 = u_max * u_max
    au2 = a * u2
    total = np.zeros_like(u_max)
    tu2, p, q, poly, e = (np.empty_like(u_max) for _ in range(5))
    for node, weight in zip(nodes, weights):
        np.multiply(u2, node * node, out=tu2)
        np.add(tu2, 1.0, out=p)
        np.subtract(1.0, tu2, out=q)
        np.multiply(au2, -node, out=poly)         # -(A p - B u) = -(A + t (t A u_max^2 - B u_max))
        poly += bu
        poly *= node
        poly -= a
        poly *= p
        np.multiply(q, q, out=q)
        np.divide(poly, q, out=e)
        np.exp(e, out=e)
        e /= p
        e *= 2.0 * weight
        total += e
    total *= u_max
    total *= 2.0 / np.pi
    return total


def _erf_cov_owens_t(mu_a, mu_b, s2_a, s2_b, c, sqrt_d):
    r"""Owen's-T form of Cov(erf z_a, erf z_b), reflected to mu_a, mu_b >= 0 (|rho| near 1)."""
    sign = np.where(mu_a < 0, -1.0, 1.0) * np.where(mu_b < 0, -1.0, 1.0)
    c = c * sign
    mu_a, mu_b = np.abs(mu_a), np.abs(mu_b)
    m_a, m_b = mu_a / np.sqrt(s2_a), mu_b / np.sqrt(s2_b)
    erfc_a, erfc_b = _special.erfc(m_a), _special.erfc(m_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_a = (mu_b * s2_a - 2.0 * c * mu_a) / (mu_a * sqrt_d)
        a_b = (mu_a * s2_b - 2.0 * c * mu_b) / (mu_b * sqrt_d)
    # at mu_a = 0 (mu_b > 0) the limit of erfc(m_a) - 4 T(h_a, a_a) is 1 - 4 T(0, +inf) = 0
    term_a = np.where(mu_a > 0, erfc_a - 4.0 * _special.owens_t(_SQRT2 * m_a, np.where(mu_a > 0, a_a, 0.0)), 0.0)
    term_b = np.where(mu_b > 0, erfc_b - 4.0 * _special.owens_t(_SQRT2 * m_b, np.where(mu_b > 0, a_b, 0.0)), 0.0)
    both_zero = (mu_a == 0) & (mu_b == 0)
    value = np.where(both_zero, (2.0 / np.pi) * np.arctan2(2.0 * c, sqrt_d), term_a + term_b - erfc_a * erfc_b)
    return sign * value


def erf_gaussian_covariance(mu_a, mu_b, v_a, v_b, c_ab):
    r"""Covariance of :math:`\operatorname{erf}(z_a)` and :math:`\operatorname{erf}(z_b)` for a bivariate Gaussian.

    :math:`(z_a, z_b) \sim N\big((\mu_a, \mu_b), [[v_a, c_{ab}], [c_{ab}, v_b]]\big)` (docs/theory.md section 6).
    With :math:`s^2 = 1 + 2v`, :math:`m = \mu/s`, :math:`\rho = 2c_{ab}/(s_a s_b)`,
    :math:`D = s_a^2 s_b^2 - 4c_{ab}^2 = 1 + 2(v_a + v_b) + 4(v_a v_b - c_{ab}^2)`:

    .. math::

        \mathrm{Cov} = 4\,[\Phi_2(h_a, h_b; \rho) - \Phi(h_a)\Phi(h_b)]
        = \frac{2}{\pi}\int_0^{\arcsin\rho}
          \exp\Big(-\frac{m_a^2 + m_b^2 - 2 m_a m_b \sin t}{\cos^2 t}\Big)\,dt,
        \qquad h = \sqrt2\, m .

    For :math:`|\rho| < 0.925` the integral is done by Gauss-Legendre in
    :math:`u = \tan(t/2)` (no trigonometric calls; 8 to 48 nodes by accuracy
    class, :data:`ERF_COV_CLASSES`), which keeps the *relative* error below
    :math:`10^{-14}(1 + m_a^2 + m_b^2)` even when the covariance is tiny. For
    :math:`|\rho| \ge 0.925` the Owen's-T form (reflected to
    :math:`\mu_a, \mu_b \ge 0`, where :math:`\beta = 0`)

    .. math::

        \mathrm{Cov} = \operatorname{erfc} m_a + \operatorname{erfc} m_b - \operatorname{erfc} m_a \operatorname{erfc} m_b
                       - 4\,T(h_a, \tfrac{\mu_b s_a^2 - 2c_{ab}\mu_a}{\mu_a\sqrt D})
                       - 4\,T(h_b, \tfrac{\mu_a s_b^2 - 2c_{ab}\mu_b}{\mu_b\sqrt D})

    with :math:`T` = ``scipy.special.owens_t`` gives absolute accuracy ~1e-16;
    :math:`\mu_a = \mu_b = 0` gives the arcsin kernel
    :math:`(2/\pi)\arcsin\rho = (2/\pi)\operatorname{atan2}(2c_{ab}, \sqrt D)`.
    ``c_ab = v_a = v_b`` and ``mu_a = mu_b`` give :math:`\mathrm{Var}\,\operatorname{erf}(z)`.
    Arguments broadcast; float64. Called on a kernel's symmetric neuron grid
    (``mu_i`` (N, 1), ``mu_j`` (1, N), ``Sigma_ii``, ``Sigma_jj``, ``Sigma_ij``
    of one Gaussian, ``Sigma_ij`` symmetric to :math:`10^{-12}\max_i\Sigma_{ii}`)
    it evaluates only the upper triangle and mirrors it
    (:func:`erf_covariance_matrix`).
    """
    arrays = [np.asarray(t, dtype=np.float64) for t in (mu_a, mu_b, v_a, v_b, c_ab)]
    grid = symmetric_grid(*arrays)
    if grid is not None:
        # a kernel's (i, j) grid of one Gaussian: half the work (cov checked strip by strip)
        mean, variance, cov = grid
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(variance))):
            raise ValueError("erf_gaussian_covariance: a mean or variance is non-finite (NaN or inf)")
        if np.any(variance < 0):
            raise ValueError("erf_gaussian_covariance: a variance (v_a or v_b) is negative")
        try:
            # symmetric to rounding (a covariance computed as W @ S @ W.T is not bitwise symmetric):
            # the upper triangle decides
            return erf_covariance_matrix(mean, variance, cov, symmetry_tolerance=1e-12 * np.max(np.abs(variance)))
        except _NotSymmetric:
            pass
    mu_a, mu_b, v_a, v_b, c = float_arrays(("mu_a", "mu_b", "v_a", "v_b", "c_ab"), arrays)
    if np.any(v_a < 0) or np.any(v_b < 0):
        raise ValueError("erf_gaussian_covariance: a variance (v_a or v_b) is negative")
    if np.any(c * c > v_a * v_b * (1.0 + 1e-10)):
        raise ValueError("erf_gaussian_covariance: |c_ab| > sqrt(v_a v_b), the 2x2 covariance is not "
                         "positive semi-definite")
    flat = [np.ascontiguousarray(t).reshape(-1) for t in (mu_a, mu_b, v_a, v_b, c)]
    return blockwise(erf_covariance_block, flat, _ERF_COV_BLOCK).reshape(mu_a.shape)


#: Elements per block in erf_gaussian_covariance (keeps temporaries in cache).
_ERF_COV_BLOCK = 32768


def erf_covariance_block(mu_a, mu_b, v_a, v_b, c):
    """erf_gaussian_covariance on flat, validated float64 arrays (one cache-sized block)."""
    s2_a = 2.0 * v_a + 1.0
    s2_b = 2.0 * v_b + 1.0
    sqrt_s2 = np.sqrt(s2_a * s2_b)
    det = np.maximum(v_a * v_b - c * c, 0.0)
    sqrt_d = np.sqrt(1.0 + 2.0 * (v_a + v_b) + 4.0 * det)
    abs_rho = np.abs(2.0 * c) / sqrt_s2
    u_max = 2.0 * c / (sqrt_s2 + sqrt_d)                  # tan(arcsin(rho) / 2), |u_max| < 1
    m_a = mu_a / np.sqrt(s2_a)
    m_b = mu_b / np.sqrt(s2_b)
    rho2 = abs_rho * abs_rho
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = 2.0 * np.abs(m_a * m_b) * abs_rho + (m_a * m_a + m_b * m_b) * rho2 / (1.0 - rho2)
    # the cheapest class is by far the most common (weakly correlated pairs): run it on the
    # whole block, then redo the few elements that need more (no class arithmetic when none do)
    _, rho_bound, delta_bound = ERF_COV_CLASSES[0]
    easy = (abs_rho < rho_bound) & (delta < delta_bound)
    n_easy = int(np.count_nonzero(easy))
    if n_easy == easy.size:
        return _erf_cov_theta_rule(m_a, m_b, u_max, _ERF_COV_RULES[0])
    if 2 * n_easy >= easy.size:
        out = _erf_cov_theta_rule(m_a, m_b, u_max, _ERF_COV_RULES[0])
        hard = np.nonzero(~easy)[0]
        out[hard] = _erf_cov_classes(mu_a[hard], mu_b[hard], s2_a[hard], s2_b[hard], c[hard], sqrt_d[hard],
                                     abs_rho[hard], u_max[hard], m_a[hard], m_b[hard], delta[hard])
        return out
    return _erf_cov_classes(mu_a, mu_b, s2_a, s2_b, c, sqrt_d, abs_rho, u_max, m_a, m_b, delta)


def _erf_cov_classes(mu_a, mu_b, s2_a, s2_b, c, sqrt_d, abs_rho, u_max, m_a, m_b, delta):
    """Every element with the rule of its accuracy class (Owen's T for |rho| >= 0.925)."""
    classes = np.maximum(np.searchsorted(_ERF_COV_RHO_BOUNDS, abs_rho, side="right"),
                         np.searchsorted(_ERF_COV_DELTA_BOUNDS, np.where(np.isnan(delta), np.inf, delta),
                                         side="right"))
    classes[abs_rho >= ERF_COV_OWEN_RHO] = len(_ERF_COV_RULES)
    counts = np.bincount(classes, minlength=len(_ERF_COV_RULES) + 1)
    # the most common quadrature class runs on all elements (no gather); elements that need
    # more nodes (or Owen's T) are recomputed and overwritten, those that need fewer are only
    # made more accurate by the extra nodes
    main = int(np.argmax(counts[:-1]))
    out = _erf_cov_theta_rule(m_a, m_b, u_max, _ERF_COV_RULES[main])
    for k in range(main + 1, len(_ERF_COV_RULES)):
        if counts[k]:
            index = classes == k
            out[index] = _erf_cov_theta_rule(m_a[index], m_b[index], u_max[index], _ERF_COV_RULES[k])
    if counts[-1]:
        index = classes == len(_ERF_COV_RULES)
        out[index] = _erf_cov_owens_t(mu_a[index], mu_b[index], s2_a[index], s2_b[index], c[index], sqrt_d[index])
    return out


#: The weakly correlated class, evaluated in r = sin(t) (no tan/sqrt setup, 4 nodes): used
#: where ``|rho| < 0.05`` and ``|rho| (m_a^2 + m_b^2) < 0.235`` (which implies ``Delta < 0.25``);
#: relative error < 3e-15 (1 + m_a^2 + m_b^2), measured against a 100-node rule.
_ERF_COV_WEAK_RHO, _ERF_COV_WEAK_SPREAD = 0.05, 0.235
_ERF_COV_WEAK_RULE = legendre_unit(4)


def _erf_cov_weak(rho, a, b):
    r""":math:`\frac{2}{\pi}\int_0^\rho \exp(-\frac{A - B r}{1 - r^2}) \frac{dr}{\sqrt{1 - r^2}}`,
    :math:`A = m_a^2 + m_b^2`, :math:`B = 2 m_a m_b` (the angle integral with :math:`r = \sin t`),
    4-node Gauss-Legendre; for weakly correlated pairs only (``_ERF_COV_WEAK_*``)."""
    nodes, weights = _ERF_COV_WEAK_RULE
    p = rho * rho
    b_rho = b * rho
    total = np.zeros_like(rho)
    om, e, root = (np.empty_like(rho) for _ in range(3))
    for node, weight in zip(nodes, weights):
        np.multiply(p, -node * node, out=om)
        om += 1.0                                      # 1 - r^2
        np.multiply(b_rho, -node, out=e)
        e += a                                         # A - B r
        e /= om
        np.subtract(np.log(weight), e, out=e)          # the weight folded into the exponent
        np.exp(e, out=e)
        np.sqrt(om, out=root)
        e /= root
        total += e
    total *= rho
    total *= 2.0 / np.pi
    return total


class _NotSymmetric(Exception):
    """cov differs from its transpose (erf_covariance_matrix with ``symmetry_tolerance``)."""


def erf_covariance_matrix(mean, variance, cov, check=True, symmetry_tolerance=None):
    r"""The full symmetric matrix :math:`\mathrm{Cov}(\operatorname{erf} z_i, \operatorname{erf} z_j)`,
    :math:`z \sim N(\mu, \Sigma)` (docs/theory.md section 6), from float64 ``mean`` (N,),
    ``variance`` = diag(cov) (N,) and ``cov`` (N, N) (``check``: refuse non-finite
    entries and :math:`|\Sigma_{ij}| > \sqrt{\Sigma_{ii}\Sigma_{jj}}`; with
    ``symmetry_tolerance``, raise ``_NotSymmetric`` if
    :math:`|\Sigma_{ij} - \Sigma_{ji}|` exceeds it).

    Only the upper triangle is evaluated, and mirrored; the input's upper
    triangle decides, so the output is exactly symmetric. Per-neuron factors
    are computed once; in strips of rows of about 32768 pairs (one vectorized
    call each, temporaries in cache) the weakly correlated pairs -- the bulk of
    a wide layer -- take a 4-node rule in :math:`r = \sin t`
    (``_erf_cov_weak``); all other pairs (the diagonal among them) are
    gathered and evaluated together with the rules of
    :func:`erf_gaussian_covariance`. (A thread pool over the strips gained
    nothing on two cores: measured 30-36 ms with one thread, 31-50 ms with two,
    at N = 1024.)
    """
    n = mean.shape[0]
    out = np.empty((n, n))
    rows = max(1, _ERF_COV_BLOCK // max(n, 1))
    s = np.sqrt(1.0 + 2.0 * variance)
    m = mean / s
    m2 = m * m
    two_over_s = 2.0 / s
    rho_bound = np.sqrt(variance) / s * (1.0 + 1e-10)     # |rho_ij| <= 2 sqrt(v_i v_j) / (s_i s_j)
    hard_pairs = {}      # strip start -> index pairs left for phase two

    def strip(start):
        stop = min(start + rows, n)
        # the leading square holds the diagonal: general rules, in phase two
        i, j = np.triu_indices(stop - start)
        hard_pairs[start] = [(i + start, j + start)]
        rows_, cols = slice(start, stop), slice(stop, n)
        if symmetry_tolerance is not None:
            square = cov[rows_, rows_]
            # written as "not <=" so that a NaN in either triangle counts as asymmetric
            if not (np.all(np.abs(square - square.T) <= symmetry_tolerance)
                    and np.all(np.abs(cov[rows_, cols] - cov[cols, rows_].T) <= symmetry_tolerance)):
                raise _NotSymmetric
        if stop == n:
            return
        c = cov[rows_, cols]
        rho = c * two_over_s[rows_, None]
        rho /= s[None, cols]
        weak = np.abs(rho)
        if check:
            if not np.isfinite(np.sum(weak)):
                raise ValueError("cov has a non-finite entry (NaN or inf)")
            if np.any(weak > np.multiply.outer(2.0 * rho_bound[rows_], rho_bound[cols])):
                raise ValueError("cov is not positive semi-definite: some |cov[i, j]| > sqrt(cov[i, i] cov[j, j])")
        a = m2[rows_, None] + m2[None, cols]
        spread = weak * a
        weak = (weak < _ERF_COV_WEAK_RHO) & (spread < _ERF_COV_WEAK_SPREAD)
        block = _erf_cov_weak(rho, a, np.multiply.outer(2.0 * m[rows_], m[cols]))
        if not weak.all():
            i, j = np.nonzero(~weak)
            hard_pairs[start].append((i + start, j + stop))
        out[rows_, cols] = block
        out[cols, rows_] = block.T

    starts = range(0, n, rows)
    for start in starts:
        strip(start)
    # phase two: every pair that is not weakly correlated, in one batch
    pairs = [pair for start in starts for pair in hard_pairs[start]]
    i = np.concatenate([pair[0] for pair in pairs])
    j = np.concatenate([pair[1] for pair in pairs])
    c = cov[i, j]
    if check and not np.all(np.isfinite(c)):
        raise ValueError("cov has a non-finite entry (NaN or inf)")
    if check and np.any(c * c > variance[i] * variance[j] * (1.0 + 1e-10)):
        raise ValueError("cov is not positive semi-definite: some |cov[i, j]| > sqrt(cov[i, i] cov[j, j])")
    values = blockwise(erf_covariance_block, [mean[i], mean[j], variance[i], variance[j], c], _ERF_COV_BLOCK)
    out[i, j] = values
    out[j, i] = values
    return out
