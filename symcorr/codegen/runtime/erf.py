r"""erf numerics that generated erf kernels call (docs/theory.md section 6); NumPy and SciPy only.

Called by the generated erf kernels (through :mod:`symcorr.codegen.runtime`)
and by :mod:`symcorr.numeric.erf_gaussian`; every routine takes broadcastable
float64 arrays and loops only over quadrature nodes and accuracy classes,
never over neurons.
"""
import numpy as np
from scipy import special as _special

_SQRT2 = np.sqrt(2.0)
_TWO_OVER_SQRT_PI = 2.0 / np.sqrt(np.pi)

#: Accuracy classes of the Gaussian erf covariance: (Gauss-Legendre nodes, upper
#: bound on |rho|, upper bound on the log-variation Delta of the integrand),
#: Delta = 2|m_a m_b rho| + (m_a^2 + m_b^2) rho^2 / (1 - rho^2); an element uses
#: the first class whose bounds it is below, Owen's T when |rho| >= 0.925.
#: Chosen from measured convergence (relative error at the floor of the
#: exponent's rounding, ~1e-15 (1 + m_a^2 + m_b^2), against a 300-node rule
#: and mpmath; tests/test_erf_gaussian.py re-checks every class).
ERF_COV_CLASSES = ((4, 0.05, 0.25), (5, 0.1, 1.0), (6, 0.2, 1.0), (8, 0.3, 1.0), (12, 0.6, 1.0), (16, 0.75, 8.0),
                   (20, 0.925, 32.0), (24, 0.925, 64.0), (32, 0.925, 128.0), (48, 0.925, np.inf))
#: |rho| from which the Owen's-T form is used
ERF_COV_OWEN_RHO = 0.925


def _legendre_unit(n):
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1.0) / 2.0, weights / 2.0


_ERF_COV_RULES = tuple(_legendre_unit(n) for n, _, _ in ERF_COV_CLASSES)
_ERF_COV_RHO_BOUNDS = np.array([bound for _, bound, _ in ERF_COV_CLASSES])
_ERF_COV_DELTA_BOUNDS = np.array([bound for _, _, bound in ERF_COV_CLASSES])


def _float_arrays(names, values):
    arrays = []
    for name, value in zip(names, values):
        array = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} has a non-finite entry (NaN or inf)")
        arrays.append(array)
    return np.broadcast_arrays(*arrays)


def _blockwise(function, arrays, size):
    """``function`` on consecutive blocks of ``size`` elements of equal-length 1-D ``arrays``
    (temporaries stay in cache), the results joined."""
    out = np.empty(arrays[0].size)
    for start in range(0, out.size, size):
        block = slice(start, start + size)
        out[block] = function(*(a[block] for a in arrays))
    return out


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

    :math:`(z_a, z_b) \sim N\big((\mu_a, \mu_b), [[v_a, c_{ab}], [c_{ab}, v_b]]\big)` (MATH.md section 6).
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
    grid = _symmetric_grid(*arrays)
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
    mu_a, mu_b, v_a, v_b, c = _float_arrays(("mu_a", "mu_b", "v_a", "v_b", "c_ab"), arrays)
    if np.any(v_a < 0) or np.any(v_b < 0):
        raise ValueError("erf_gaussian_covariance: a variance (v_a or v_b) is negative")
    if np.any(c * c > v_a * v_b * (1.0 + 1e-10)):
        raise ValueError("erf_gaussian_covariance: |c_ab| > sqrt(v_a v_b), the 2x2 covariance is not "
                         "positive semi-definite")
    flat = [np.ascontiguousarray(t).reshape(-1) for t in (mu_a, mu_b, v_a, v_b, c)]
    return _blockwise(_erf_cov_block, flat, _ERF_COV_BLOCK).reshape(mu_a.shape)


#: Elements per block in erf_gaussian_covariance (keeps temporaries in cache).
_ERF_COV_BLOCK = 32768


def _erf_cov_block(mu_a, mu_b, v_a, v_b, c):
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
#: where |rho| < 0.05 and |rho| (m_a^2 + m_b^2) < 0.235 (which implies Delta < 0.25);
#: relative error < 3e-15 (1 + m_a^2 + m_b^2), measured against a 100-node rule.
_ERF_COV_WEAK_RHO, _ERF_COV_WEAK_SPREAD = 0.05, 0.235
_ERF_COV_WEAK_RULE = _legendre_unit(4)


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
    :math:`z \sim N(\mu, \Sigma)` (MATH.md section 6), from float64 ``mean`` (N,),
    ``variance`` = diag(cov) (N,) and ``cov`` (N, N) (``check``: refuse non-finite
    entries and :math:`|\Sigma_{ij}| > \sqrt{\Sigma_{ii}\Sigma_{jj}}`; with
    ``symmetry_tolerance``, raise ``_NotSymmetric`` if
    :math:`|\Sigma_{ij} - \Sigma_{ji}|` exceeds it).

    Only the upper triangle is evaluated, and mirrored; the input's upper
    triangle decides, so the output is exactly symmetric. Per-neuron factors
    are computed once; in strips of rows of about 32768 pairs (one vectorized
    call each, temporaries in cache) the weakly correlated pairs -- the bulk of
    a wide layer -- take a 4-node rule in :math:`r = \sin t`
    (:func:`_erf_cov_weak`); all other pairs (the diagonal among them) are
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
    values = _blockwise(_erf_cov_block, [mean[i], mean[j], variance[i], variance[j], c], _ERF_COV_BLOCK)
    out[i, j] = values
    out[j, i] = values
    return out


def _symmetric_grid(mu_a, mu_b, v_a, v_b, c):
    """(mean, variance, cov) if the arguments have the shape of a kernel's symmetric neuron
    grid (mu_i, mu_j, Sigma_ii, Sigma_jj, Sigma_ij views of one Gaussian), else None."""
    if c.ndim != 2 or c.shape[0] != c.shape[1] or 0 in c.strides:
        return None
    n = c.shape[0]
    column, row = (n, 1), (1, n)
    if not all(np.shape(t) == s for t, s in ((mu_a, column), (mu_b, row), (v_a, column), (v_b, row))):
        return None
    mean, variance = np.ravel(mu_a), np.ravel(v_a)
    if not (np.array_equal(mean, np.ravel(mu_b)) and np.array_equal(variance, np.ravel(v_b))
            and np.array_equal(variance, np.diagonal(c))):
        return None
    return mean, variance, c


# -- E[erf(z)^p] and its mean-derivatives, numerically ------------------------

#: Half-width (in z) beyond which erf(z)^p is saturated: erfc(9) = 4e-37.
ERF_SATURATION = 9.0
#: Half-width (in standard deviations) of the Gaussian weight kept: P(|x| > 9) = 2e-19.
GAUSS_CUTOFF = 9.0
#: Variance above which the mean-derivatives are moved onto the Gaussian (method A).
ERF_POWER_V_SWITCH = 0.2
_PANELS_B, _PANELS_A, _PANEL_NODES = 8, 6, 20


def _composite_unit(panels, nodes):
    x, w = _legendre_unit(nodes)
    starts = np.arange(panels) / panels
    return (starts[:, None] + x[None, :] / panels).ravel(), np.tile(w / panels, panels)


_RULE_B = _composite_unit(_PANELS_B, _PANEL_NODES)
_RULE_A = _composite_unit(_PANELS_A, _PANEL_NODES)


def erf_derivatives(z, n):
    r""":math:`[\operatorname{erf}(z), \operatorname{erf}'(z), \dots, \operatorname{erf}^{(n)}(z)]` (MATH.md section 6).

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
        power = [sum(_binomial(m, k) * e[k] * power[m - k] for k in range(m + 1)) for m in range(n + 1)]
    return power[n]


def _binomial(m, k):
    """Binomial coefficient C(m, k) in exact integer arithmetic (no imports beyond NumPy/SciPy)."""
    out = 1
    for t in range(1, k + 1):
        out = out * (m - k + t) // t
    return out


def _hermite_e(n, x):
    """Probabilists' Hermite polynomial He_n(x)."""
    h_prev, h = np.zeros_like(x), np.ones_like(x)
    for k in range(n):
        h_prev, h = h, x * h - k * h_prev
    return h


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
        smooth = _special.erf(mu / (_SQRT2 * sd)) if n == 0 else 2.0 * _hermite_e(n - 1, x0) * phi0 * sd ** (-n)
    else:
        smooth = np.full(mu.shape, 1.0 if n == 0 else 0.0)
    nodes, weights = _RULE_A
    z = ERF_SATURATION * nodes                       # (M,) in (0, 9)
    tail = _special.erfc(z)
    r_pos = np.expm1(p * np.log1p(-tail))            # erf(z)^p - 1 for z > 0
    total = np.zeros(mu.shape)
    for side, r in ((1.0, r_pos), (-1.0, (-1) ** p * r_pos)):
        x = (side * z - mu[..., None]) / sd[..., None]
        kernel = _hermite_e(n, x) * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
        total = total + np.sum(r * weights * kernel, axis=-1)
    total = total * ERF_SATURATION / sd * sd ** (-n)
    return smooth + total


def erf_power_moment(p, n, mu, v):
    r""":math:`\partial_\mu^n E_{z\sim N(\mu, v)}[\operatorname{erf}(z)^p] = E[(\operatorname{erf}^p)^{(n)}(z)]`, numerically.

    No elementary closed form exists for :math:`p \ge 3` at nonzero mean
    (MATH.md section 6). Two deterministic rules, both vectorised over
    ``mu``, ``v`` (broadcast, float64), accurate to ~1e-13 of the function's
    scale (the largest :math:`|g^{(n)}_p|` over the mean, at that variance)
    against mpmath, for :math:`p \le 4`, :math:`n \le 12`, all :math:`v`
    (tests/test_vertex_functions.py); the switch point
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
    mu, v = _float_arrays(("mu", "v"), (mu, v))
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


# -- joint moments E[prod_a erf(z_a)^p_a] of up to four neurons ---------------

#: Gauss-Legendre nodes of the homotopy integral in erf_gaussian_moment.
ERF_MOMENT_NODES = 48
_ERF_MOMENT_RULE = _legendre_unit(ERF_MOMENT_NODES)
#: Elements per block in erf_gaussian_moment (each takes ERF_MOMENT_NODES nodes).
_ERF_MOMENT_BLOCK = 1024
_FOUR_OVER_PI = 4.0 / np.pi


def _erf_single_moment(p, mu, v):
    r""":math:`E_{N(\mu, v)}[\operatorname{erf}(z)^p]`: closed forms for p <= 2, numerical above."""
    if p == 0:
        return np.ones_like(mu)
    mean = _special.erf(mu / np.sqrt(1.0 + 2.0 * v))
    if p == 1:
        return mean
    if p == 2:
        return _erf_cov_block(mu, mu, v, v, v) + mean * mean
    return erf_power_moment(p, 0, mu, v)


def erf_gaussian_moment(powers, means, variances, covariances):
    r""":math:`E\big[\prod_{a=1}^k \operatorname{erf}(z_a)^{p_a}\big]`, :math:`z \sim N(\mu, \Sigma)`, :math:`k \le 4`,
    :math:`\sum_a p_a \le 4`: the joint Gaussian vertex of output orders 3..4 (MATH.md section 6).

    ``powers`` :math:`(p_1..p_k)`; ``means``, ``variances`` (k arrays), ``covariances``
    (the :math:`\Sigma_{ab}`, :math:`a < b`, in the order (1,2), (1,3), ..., (k-1,k));
    arrays broadcast, float64. Along :math:`\Sigma(t) = \mathrm{diag}\,\Sigma + t\,\mathrm{offdiag}\,\Sigma`
    the heat equation (Price's theorem) gives

    .. math::

        M(1) = \prod_a E[\operatorname{erf}(z_a)^{p_a}] + \int_0^1 \sum_{a<b} \Sigma_{ab}\,
        E_{\Sigma(t)}\big[(\operatorname{erf}^{p_a})'(z_a)\,(\operatorname{erf}^{p_b})'(z_b)
        \textstyle\prod_{c \ne a,b} \operatorname{erf}(z_c)^{p_c}\big]\, dt,

    where :math:`(\operatorname{erf}^p)' = p \operatorname{erf}^{p-1}\operatorname{erf}'` and
    :math:`\operatorname{erf}'(z) = \tfrac{2}{\sqrt\pi} e^{-z^2}` tilts the Gaussian:
    :math:`E[e^{-z_a^2 - z_b^2} G(z)] = \det(I + 2S)^{-1/2} e^{-m^T (I + 2S)^{-1} m}\, E'[G]` with
    :math:`S, m` the (a, b) block, and :math:`E'` the Gaussian with
    :math:`\Sigma' = \Sigma - \Sigma_{\cdot E}(S + I/2)^{-1}\Sigma_{E\cdot}`,
    :math:`\mu' = \mu - \Sigma_{\cdot E}(S + I/2)^{-1} m`. What is left of :math:`G` has at most two
    erf factors: closed forms (:func:`erf_gaussian_covariance`). The t-integral is smooth except
    near t = 1 for strongly correlated or singular :math:`\Sigma` (conditional variances vanish
    like 1 - t); it is taken in :math:`t = \sin(u)/r`, :math:`u = u_{max}(1 - (1 - s)^2)`
    (:math:`r` the largest effective correlation :math:`2|\Sigma_{ab}|/\sqrt{(1 + 2\Sigma_{aa})(1 + 2\Sigma_{bb})}`),
    with :data:`ERF_MOMENT_NODES` Gauss-Legendre nodes in s. Accuracy: absolute error
    <= 1e-12 for effective correlations up to 0.99 and variances 1e-6..1e4, ~1e-11 at
    0.9999 (tests/test_erf_moments.py: against conditional adaptive quadrature and
    Gauss-Hermite).
    """
    powers = tuple(int(p) for p in powers)
    k = len(powers)
    if not 1 <= k <= 4 or min(powers) < 1 or sum(powers) > 4:
        raise ValueError(f"erf_gaussian_moment: powers must be 1..4 positive integers summing to <= 4, got {powers}")
    pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
    if len(means) != k or len(variances) != k or len(covariances) != len(pairs):
        raise ValueError(f"erf_gaussian_moment: {k} powers need {k} means, {k} variances and "
                         f"{len(pairs)} covariances")
    names = [f"mean {a + 1}" for a in range(k)] + [f"variance {a + 1}" for a in range(k)] + \
        [f"covariance {a + 1},{b + 1}" for a, b in pairs]
    arrays = _float_arrays(names, (*means, *variances, *covariances))
    flat = [np.ascontiguousarray(x).reshape(-1) for x in arrays]
    mu, v, c = flat[:k], flat[k:2 * k], dict(zip(pairs, flat[2 * k:]))
    if any(np.any(x < 0) for x in v):
        raise ValueError("erf_gaussian_moment: a variance is negative")
    if any(np.any(c[(a, b)] ** 2 > v[a] * v[b] * (1.0 + 1e-10)) for a, b in pairs):
        raise ValueError("erf_gaussian_moment: some |Sigma_ab| > sqrt(Sigma_aa Sigma_bb), the covariance is not "
                         "positive semi-definite")
    def block(*x):
        return _erf_moment_block(powers, x[:k], x[k:2 * k], dict(zip(pairs, x[2 * k:])))

    return _blockwise(block, flat, _ERF_MOMENT_BLOCK).reshape(arrays[0].shape)


def _erf_moment_block(powers, mu, v, c):
    k = len(powers)
    total = _erf_single_moment(powers[0], mu[0], v[0])
    for a in range(1, k):
        total = total * _erf_single_moment(powers[a], mu[a], v[a])
    if not c:
        return total
    # nodes: t = sin(u) / r removes 1/sqrt(1 - t^2 r^2) of the most correlated pair;
    # u = u_max (1 - (1 - s)^2) clusters nodes at t = 1 (square-root branch points there)
    r = np.zeros_like(total)
    for (a, b), value in c.items():
        r = np.maximum(r, 2.0 * np.abs(value) / np.sqrt((1.0 + 2.0 * v[a]) * (1.0 + 2.0 * v[b])))
    r = np.clip(r, 1e-3, 1.0 - 1e-15)[:, None]
    s, weights = _ERF_MOMENT_RULE
    u_max = np.arcsin(r)
    u = u_max * (1.0 - (1.0 - s) ** 2)
    t = np.sin(u) / r                                                   # (E, nodes)
    w = weights * u_max * 2.0 * (1.0 - s) * np.cos(u) / r
    mu = [x[:, None] for x in mu]
    v = [x[:, None] for x in v]
    c = {key: x[:, None] for key, x in c.items()}

    def sigma(x, y):
        return v[x] if x == y else t * c[(min(x, y), max(x, y))]

    integral = np.zeros_like(total)
    for (a, b), c_ab in c.items():
        if not np.any(c_ab):
            continue
        # (S + I/2)^{-1} of the (a, b) block, and the Gaussian normalisation of e^{-z_a^2 - z_b^2}
        s_aa, s_bb, s_ab = v[a] + 0.5, v[b] + 0.5, t * c_ab
        det = s_aa * s_bb - s_ab * s_ab
        i_aa, i_bb, i_ab = s_bb / det, s_aa / det, -s_ab / det
        m_a, m_b = mu[a], mu[b]
        weight = np.exp(-0.5 * (i_aa * m_a * m_a + 2.0 * i_ab * m_a * m_b + i_bb * m_b * m_b)) / np.sqrt(4.0 * det)

        def tilted(x):
            """Mean and gain of z_x under the tilted Gaussian."""
            s_xa, s_xb = sigma(x, a), sigma(x, b)
            gain = (s_xa * i_aa + s_xb * i_ab, s_xa * i_ab + s_xb * i_bb)
            return mu[x] - gain[0] * m_a - gain[1] * m_b, gain

        def tilted_cov(x, y, gain):
            return sigma(x, y) - gain[0] * sigma(a, y) - gain[1] * sigma(b, y)

        slots = [a] * (powers[a] - 1) + [b] * (powers[b] - 1) + \
            [x for x in range(k) if x not in (a, b) for _ in range(powers[x])]
        if not slots:
            rest = 1.0
        elif len(slots) == 1:
            mean_x, gain = tilted(slots[0])
            var_x = np.maximum(tilted_cov(slots[0], slots[0], gain), 0.0)
            rest = _special.erf(mean_x / np.sqrt(1.0 + 2.0 * var_x))
        else:
            x, y = slots
            (mean_x, gain_x), (mean_y, gain_y) = tilted(x), tilted(y)
            var_x = np.maximum(tilted_cov(x, x, gain_x), 0.0)
            var_y = np.maximum(tilted_cov(y, y, gain_y), 0.0)
            bound = np.sqrt(var_x * var_y)
            c_xy = var_x if x == y else np.clip(tilted_cov(x, y, gain_x), -bound, bound)
            grid = np.broadcast_arrays(mean_x, mean_y, var_x, var_y, c_xy)
            shape = grid[0].shape
            mean_x, mean_y, var_x, var_y, c_xy = (np.ascontiguousarray(g).reshape(-1) for g in grid)
            rest = (_erf_cov_block(mean_x, mean_y, var_x, var_y, c_xy)
                    + _special.erf(mean_x / np.sqrt(1.0 + 2.0 * var_x))
                    * _special.erf(mean_y / np.sqrt(1.0 + 2.0 * var_y))).reshape(shape)
        integral += (powers[a] * powers[b]) * c_ab[:, 0] * np.sum(weight * rest * w, axis=1)
    return total + _FOUR_OVER_PI * integral
