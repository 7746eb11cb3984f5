r"""Joint moments :math:`E[\prod_a \operatorname{erf}(z_a)^{p_a}]` of up to four Gaussian neurons
(docs/theory.md section 6): the vertex of the generated erf kernels of output orders 3 and 4.

Built on :mod:`~symcorr.codegen.runtime.erf_covariance` (closed forms for two
erf factors) and :mod:`~symcorr.codegen.runtime.erf_power` (single-neuron
powers); NumPy and SciPy only.
"""
import numpy as np
from scipy import special as _special

from symcorr.codegen.runtime.arrays import blockwise, float_arrays, legendre_unit
from symcorr.codegen.runtime.erf_covariance import erf_covariance_block
from symcorr.codegen.runtime.erf_power import erf_power_moment

#: Gauss-Legendre nodes of the homotopy integral in erf_gaussian_moment, by the largest effective
#: correlation r of the neurons: ``(bound on r, nodes)``, the first class whose bound exceeds r.
#: Measured against a 160-node rule on random Gaussians of 2..4 neurons (every power pattern, variances
#: 1e-3..1e2, ranks 1..k, means up to 5; tests/numeric/test_erf_gaussian.py re-checks the classes):
#: for (1, 1, 1, 1), max absolute error 1.1e-16 (r < 0.1, 10 nodes), 3.1e-16 (r < 0.3, 12), 4.9e-16
#: (r < 0.4, 16), 1.2e-13 (48 nodes, r up to 1; 2.8e-16 below r = 0.9); below r = 0.4 at most 7e-15 for
#: every power pattern. Weakly correlated tuples, the bulk of a wide layer, take the few nodes.
ERF_MOMENT_CLASSES = ((0.1, 10), (0.3, 12), (0.4, 16), (np.inf, 48))
#: The most nodes any class uses.
ERF_MOMENT_NODES = 48
_ERF_MOMENT_RULES = tuple(legendre_unit(n) for _, n in ERF_MOMENT_CLASSES)
_ERF_MOMENT_BOUNDS = np.array([bound for bound, _ in ERF_MOMENT_CLASSES])
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
        return erf_covariance_block(mu, mu, v, v, v) + mean * mean
    return erf_power_moment(p, 0, mu, v)


def erf_gaussian_moment(powers, means, variances, covariances):
    r""":math:`E\big[\prod_{a=1}^k \operatorname{erf}(z_a)^{p_a}\big]`, :math:`z \sim N(\mu, \Sigma)`, :math:`k \le 4`,
    :math:`\sum_a p_a \le 4`: the joint Gaussian vertex of output orders 3..4 (docs/theory.md section 6).

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
    erf factors: closed forms (:func:`~symcorr.codegen.runtime.erf_covariance.erf_gaussian_covariance`). The t-integral is smooth except
    near t = 1 for strongly correlated or singular :math:`\Sigma` (conditional variances vanish
    like 1 - t); it is taken in :math:`t = \sin(u)/r`, :math:`u = u_{max}(1 - (1 - s)^2)`
    (:math:`r` the largest effective correlation :math:`2|\Sigma_{ab}|/\sqrt{(1 + 2\Sigma_{aa})(1 + 2\Sigma_{bb})}`),
    with Gauss-Legendre nodes in s, 10 to :data:`ERF_MOMENT_NODES` by r (:data:`ERF_MOMENT_CLASSES`). Accuracy: absolute error
    <= 1e-12 for effective correlations up to 0.99 and variances 1e-6..1e4, ~1e-11 at
    0.9999 (tests/numeric/test_erf_gaussian.py, the test_joint_moments_* tests: against conditional adaptive quadrature and
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
    arrays = float_arrays(names, (*means, *variances, *covariances))
    flat = [np.ascontiguousarray(x).reshape(-1) for x in arrays]
    v, c = flat[k:2 * k], dict(zip(pairs, flat[2 * k:]))
    if any(np.any(x < 0) for x in v):
        raise ValueError("erf_gaussian_moment: a variance is negative")
    if any(np.any(c[(a, b)] ** 2 > v[a] * v[b] * (1.0 + 1e-10)) for a, b in pairs):
        raise ValueError("erf_gaussian_moment: some |Sigma_ab| > sqrt(Sigma_aa Sigma_bb), the covariance is not "
                         "positive semi-definite")

    def block(*x):
        return _erf_moment_block(powers, x[:k], x[k:2 * k], dict(zip(pairs, x[2 * k:])))

    return blockwise(block, flat, _ERF_MOMENT_BLOCK).reshape(arrays[0].shape)


def _erf_moment_block(powers, mu, v, c):
    k = len(powers)
    total = _erf_single_moment(powers[0], mu[0], v[0])
    for a in range(1, k):
        total = total * _erf_single_moment(powers[a], mu[a], v[a])
    if not c:
        return total
    r = np.zeros_like(total)
    for (a, b), value in c.items():
        r = np.maximum(r, 2.0 * np.abs(value) / np.sqrt((1.0 + 2.0 * v[a]) * (1.0 + 2.0 * v[b])))
    classes = np.searchsorted(_ERF_MOMENT_BOUNDS, r, side="right")
    integral = np.empty_like(total)
    for index, rule in enumerate(_ERF_MOMENT_RULES):
        members = np.nonzero(classes == index)[0]
        if members.size == total.size:
            integral = _erf_moment_integral(powers, mu, v, c, r, rule)
        elif members.size:
            integral[members] = _erf_moment_integral(powers, [x[members] for x in mu], [x[members] for x in v],
                                                     {key: x[members] for key, x in c.items()}, r[members], rule)
    return total + _FOUR_OVER_PI * integral


def _erf_moment_integral(powers, mu, v, c, r, rule):
    """The homotopy integral of :func:`erf_gaussian_moment` (without the factor 4/pi) on one Gauss-Legendre
    ``rule``; ``r`` the largest effective correlation of each element."""
    k = len(powers)
    # nodes: t = sin(u) / r removes 1/sqrt(1 - t^2 r^2) of the most correlated pair;
    # u = u_max (1 - (1 - s)^2) clusters nodes at t = 1 (square-root branch points there)
    r = np.clip(r, 1e-3, 1.0 - 1e-15)[:, None]
    s, weights = rule
    u_max = np.arcsin(r)
    u = u_max * (1.0 - (1.0 - s) ** 2)
    t = np.sin(u) / r                                                   # (E, nodes)
    w = weights * u_max * 2.0 * (1.0 - s) * np.cos(u) / r
    mu = [x[:, None] for x in mu]
    v = [x[:, None] for x in v]
    c = {key: x[:, None] for key, x in c.items()}

    def sigma(x, y):
        return v[x] if x == y else t * c[(min(x, y), max(x, y))]

    integral = np.zeros(r.shape[0])
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
            rest = (erf_covariance_block(mean_x, mean_y, var_x, var_y, c_xy)
                    + _special.erf(mean_x / np.sqrt(1.0 + 2.0 * var_x))
                    * _special.erf(mean_y / np.sqrt(1.0 + 2.0 * var_y))).reshape(shape)
        integral += (powers[a] * powers[b]) * c_ab[:, 0] * np.sum(weight * rest * w, axis=1)
    return integral
