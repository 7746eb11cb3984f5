r"""Numerical Gaussian expectations of the smooth activations without closed forms (docs/theory.md section 11):
tanh, sigmoid, SiLU, softplus, GELU (tanh approximation), ELU (its kink at 0 split off), and the powers :math:`p \ge 3` of the Gaussian CDF
and of GELU (:math:`E[\phi^p]` needs a p-variate normal probability). NumPy and SciPy only.

**Vertex functions** :math:`g^{(n)}_p(\mu, v) = \partial^n_\mu E_{N(\mu, v)}[\phi^p]`, :math:`F = \phi^p`,
:math:`z = \mu + s x`, :math:`s = \sqrt v`, by composite Gauss-Legendre in :math:`x` (:data:`NODES` per
panel of width :data:`PANEL` over :math:`|x| \le` :data:`HALF_WIDTH`, the region where :math:`\phi` varies,
:math:`|z| \le Z_c`, refined to panels of the activation's own scale in :math:`z` when :math:`s` is large):
:math:`E[F^{(n)}(\mu + s x)]` with the derivative on :math:`F` (Taylor coefficients by series arithmetic,
:func:`taylor`) for :math:`s \le` :data:`DERIVATIVE_SWITCH`, else the derivative on the Gaussian,
:math:`s^{-n}E[F\,He_n(x)]`; :math:`v = 0` gives :math:`F^{(n)}(\mu)`.

**Pair covariances** :math:`C^{(n,m)} = \partial^n_{\mu_a}\partial^m_{\mu_b}\mathrm{Cov}(\phi(z_a), \phi(z_b))` by the
Mehler (Price) series in the normalized Hermite coefficients :math:`\alpha^{(n)}_k` of :math:`F^{(n)}(\mu + s x)`,

.. math::

    C^{(n,m)} = \sum_{k \ge 1} \rho^k \alpha^{(n)}_{a,k}\alpha^{(m)}_{b,k}, \qquad
    \Big|\sum_{k > K}\Big| \le |\rho|^{K+1}\sqrt{T_a T_b}, \quad
    T = E[F^{(n)}(z)^2] - \sum_{k \le K} (\alpha^{(n)}_k)^2

(Parseval gives the bound: the tail is computed, not guessed). Pairs whose bound exceeds
:data:`TOLERANCE` of the scale :math:`\sqrt{E[F_a^{(n)2}]E[F_b^{(m)2}]}` -- strongly correlated ones --
are integrated by conditioning instead: :math:`E_x[F_a^{(n)}(\mu_a + s_a x)(G_b(x) - g^{(m)}_b)]`,
:math:`G_b(x)` the vertex function of :math:`\phi_b` at the conditional mean and variance. Identical
neurons (:math:`\rho = 1`) use :math:`E[F^{(n)}F^{(m)}] - g^{(n)}g^{(m)}` directly.

Stated accuracy (:data:`TOLERANCE`, tests/derivation/test_family_smooth.py against mpmath): absolute
error below :math:`10^{-12}` of the scale (:math:`\sup|F|`-like for vertices,
:math:`s^{-n}` times that for derivatives on the Gaussian).
"""
import math

import numpy as np
from scipy import special as _special

from symcorr.codegen.runtime.bivariate import NotSymmetric, kernel_grid, validated_pair, validated_single

#: The stated absolute error bound, relative to the scale (module docstring).
TOLERANCE = 1e-12
#: Gauss-Legendre nodes per panel, panel width and half-width (in x) of the vertex quadrature.
NODES, PANEL, HALF_WIDTH = 12, 0.25, 12.0
#: Hermite coefficients kept in the Mehler series, and the quadrature that resolves them.
HERMITE_ORDER, HERMITE_PANEL, HERMITE_HALF_WIDTH = 256, 0.15, 38.0
#: Standard deviation up to which the derivative is taken on F (Taylor coefficients).
DERIVATIVE_SWITCH = 0.5
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(NODES)
_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite_e.hermegauss(48)
_HERMITE_WEIGHTS = _HERMITE_WEIGHTS / np.sum(_HERMITE_WEIGHTS)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


# -- Taylor coefficients: series arithmetic on arrays of shape (order + 1, ...) ------------------

def _mul(a, b):
    out = np.zeros_like(a)
    for k in range(a.shape[0]):
        out[k] = np.sum(a[:k + 1] * b[k::-1], axis=0)
    return out


def _ode_series(u, value, rate):
    r"""The series of :math:`y` with :math:`y(u_0) = ` ``value``, :math:`y' = \mathrm{rate}(y)\,u'`:
    :math:`k y_k = \sum_{j=1}^k j u_j r_{k-j}` with :math:`r` the series of ``rate(y)`` (a polynomial in y)."""
    order = u.shape[0] - 1
    y = np.zeros_like(u)
    y[0] = value
    r = np.zeros_like(u)
    for k in range(1, order + 1):
        r[k - 1] = rate(y, k - 1)
        y[k] = sum(j * u[j] * r[k - j] for j in range(1, k + 1)) / k
    return y


def _square_term(y, m):
    return np.sum(y[:m + 1] * y[m::-1], axis=0)


def _tanh(u):
    return _ode_series(u, np.tanh(u[0]), lambda y, m: (1.0 if m == 0 else 0.0) - _square_term(y, m))


def _sigmoid(u):
    return _ode_series(u, _special.expit(u[0]), lambda y, m: y[m] - _square_term(y, m))


def _softplus_series(u):
    """log(1 + e^u): derivative sigmoid(u) u'."""
    s = _sigmoid(u)
    y = np.zeros_like(u)
    y[0] = np.logaddexp(0.0, u[0])
    for k in range(1, u.shape[0]):
        y[k] = sum(j * u[j] * s[k - j] for j in range(1, k + 1)) / k
    return y


def _identity(z, order):
    u = np.zeros((order + 1,) + np.shape(z))
    u[0] = z
    if order:
        u[1] = 1.0
    return u


def _normal_cdf_series(u):
    r""":math:`\Phi(u)`: :math:`\Phi' = \varphi(u)u'`, :math:`\varphi(u) = e^{-u^2/2}/\sqrt{2\pi}` (series exponential)."""
    half_square = -0.5 * _mul(u, u)
    density = _ode_series(half_square, np.exp(half_square[0]) * _INV_SQRT_2PI, lambda y, m: y[m])
    y = np.zeros_like(u)
    y[0] = _special.ndtr(u[0])
    for k in range(1, u.shape[0]):
        y[k] = sum(j * u[j] * density[k - j] for j in range(1, k + 1)) / k
    return y


def _elu_series(u, alpha):
    """ELU: u for u > 0, alpha (e^u - 1) else (the left branch at u = 0: its one-sided derivatives)."""
    exponential = _ode_series(u, np.exp(np.minimum(u[0], 0.0)), lambda y, m: y[m])
    exponential[0] -= 1.0
    return np.where(u[0] > 0, u, alpha * exponential)


_GELU_K = np.sqrt(2.0 / np.pi)


def _gelu_tanh_values(z):
    return 0.5 * z * (1.0 + np.tanh(_GELU_K * (z + 0.044715 * z**3)))


def _gelu_tanh_series(u):
    inner = _GELU_K * (u + 0.044715 * _mul(_mul(u, u), u))
    one_plus = _tanh(inner)
    one_plus[0] += 1.0
    return 0.5 * _mul(u, one_plus)


class Spec:
    """How one activation is evaluated: values, Taylor series, where (and on what scale) it varies, and the
    points ``kinks`` where a derivative jumps (there the derivatives are taken on the Gaussian only)."""

    def __init__(self, values, series, feature, kinks=()):
        self.values, self.series, self.kinks = values, series, tuple(kinks)
        self._feature = feature

    def feature(self, *parameters):
        """(Z_c, width, kinks)."""
        return (*self._feature(*parameters), self.kinks)


#: The activations: ``values(z, *parameters)``, ``series(u, *parameters)`` (u the series of z),
#: ``feature(*parameters)`` = (Z_c, width): phi equals its asymptotes to rounding beyond ``|z| > Z_c`` and
#: varies on the scale ``width`` inside.
SPECS = {
    "tanh": Spec(np.tanh, _tanh, lambda: (20.0, 0.5)),
    "sigmoid": Spec(_special.expit, _sigmoid, lambda: (40.0, 1.0)),
    "silu": Spec(lambda z: z * _special.expit(z), lambda u: _mul(u, _sigmoid(u)), lambda: (45.0, 1.0)),
    "softplus": Spec(lambda z, beta: np.logaddexp(0.0, beta * z) / beta,
                     lambda u, beta: _softplus_series(beta * u) / beta, lambda beta: (40.0 / beta, 1.0 / beta)),
    "gelu_tanh": Spec(_gelu_tanh_values, _gelu_tanh_series, lambda: (10.0, 0.3)),
    "elu": Spec(lambda z, alpha: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0))), _elu_series,
                lambda alpha: (40.0, 1.0), kinks=(0.0,)),
    # the closed-form families' powers p >= 3 (no closed form: a p-variate normal probability)
    "probit": Spec(_special.ndtr, _normal_cdf_series, lambda: (40.0, 1.0)),
    "gelu": Spec(lambda z: z * _special.ndtr(z), lambda u: _mul(u, _normal_cdf_series(u)), lambda: (40.0, 1.0)),
}


def _spec(name):
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"no numerical rule for activation {name!r}; known: {sorted(SPECS)}") from None


def taylor(name, p, z, order, parameters=()):
    r"""Taylor coefficients :math:`F^{(k)}(z)/k!`, :math:`k = 0..` ``order``, of :math:`F = \phi^p` (shape
    ``(order + 1,) + z.shape``)."""
    spec = _spec(name)
    phi = spec.series(_identity(np.asarray(z, dtype=np.float64), order), *parameters)
    power = phi
    for _ in range(p - 1):
        power = _mul(power, phi)
    return power


def derivative(name, p, n, z, parameters=()):
    r""":math:`F^{(n)}(z)`, :math:`F = \phi^p`."""
    if n == 0:
        return _spec(name).values(np.asarray(z, dtype=np.float64), *parameters) ** p
    return taylor(name, p, z, n, parameters)[n] * math.factorial(n)


# -- composite Gauss-Legendre in x --------------------------------------------------------------

def _breakpoints(mu, s, feature, half_width, panel):
    """Panel ends in x for one neuron: uniform, refined where phi varies faster than the panels resolve, and
    split at the kinks."""
    points = np.arange(-half_width, half_width + panel / 2, panel)
    z_c, width, kinks = feature
    if s > 0 and kinks:
        inside = [(k - mu) / s for k in kinks if abs((k - mu) / s) < half_width]
        points = np.union1d(points, inside)
    if s * panel > width:
        lo, hi = (-z_c - mu) / s, (z_c - mu) / s
        if hi > -half_width and lo < half_width:
            fine = np.arange(max(lo, -half_width), min(hi, half_width), width / s)
            points = np.union1d(points, fine)
    return points


def _rule(breakpoints):
    """Nodes and weights (times the standard normal density) of the composite rule on the panels."""
    left, right = breakpoints[:-1, None], breakpoints[1:, None]
    half = (right - left) / 2
    x = (left + right) / 2 + half * _GL_NODES
    w = half * _GL_WEIGHTS * _INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return x.ravel(), w.ravel()


def _plain(mu, s, feature, panel):
    """Neurons whose rule is the uniform one (phi resolved by the uniform panels, no kink)."""
    return (s * panel <= feature[1]) & (not feature[2])


def _hermite_rows(x, order):
    r"""Normalized probabilists' Hermite polynomials :math:`He_k(x)/\sqrt{k!}`, :math:`k = 0..` ``order``."""
    rows = np.empty((order + 1,) + x.shape)
    rows[0] = 1.0
    if order:
        rows[1] = x
    for k in range(1, order):
        rows[k + 1] = (x * rows[k] - np.sqrt(k) * rows[k - 1]) / np.sqrt(k + 1)
    return rows


def _integrate(function, mu, s, feature, half_width, panel, weights_rows=None):
    r""":math:`\int f(\mu_i + s_i x, x)\,w(x)\varphi(x)dx` for every neuron i: ``function(z, x)`` returns the
    values (..., nodes) to integrate, with a leading axis of rows if ``weights_rows`` (rows(x), (R, nodes))
    is given (then the result is (R, N): the rows are contracted over the nodes)."""
    n = mu.shape[0]
    plain = _plain(mu, s, feature, panel)
    out = None
    groups = [np.nonzero(plain)[0]] + [[i] for i in np.nonzero(~plain)[0]]
    for group in groups:
        if len(group) == 0:
            continue
        group = np.asarray(group)
        x, w = _rule(_breakpoints(mu[group[0]], s[group[0]], feature, half_width, panel) if len(group) == 1
                     and not plain[group[0]] else np.arange(-half_width, half_width + panel / 2, panel))
        z = mu[group, None] + s[group, None] * x
        values = function(z, x) * w
        result = values @ weights_rows(x).T if weights_rows is not None else np.sum(values, axis=-1)
        if out is None:
            out = np.empty((n,) + result.shape[1:])
        out[group] = result
    return out


# -- vertex functions ---------------------------------------------------------------------------

def _vertex_flat(name, p, n, mu, v, parameters):
    spec = _spec(name)
    feature = spec.feature(*parameters)
    s = np.sqrt(v)
    out = np.empty(mu.shape)
    point = s == 0
    if np.any(point):
        out[point] = derivative(name, p, n, mu[point], parameters)
    # the derivative on F only where F is smooth: across a kink F^(n) misses the jumps' delta terms
    if n == 0:
        on_f = ~point
    elif spec.kinks:
        on_f = np.zeros(mu.shape, dtype=bool)
    else:
        on_f = ~point & (s <= DERIVATIVE_SWITCH)
    if np.any(on_f):
        out[on_f] = _integrate(lambda z, x: derivative(name, p, n, z, parameters), mu[on_f], s[on_f], feature,
                               HALF_WIDTH, PANEL)
    on_gaussian = ~point & ~on_f
    if np.any(on_gaussian):
        def weighted(z, x):
            return spec.values(z, *parameters) ** p * _hermite_rows(x, n)[n] * math.sqrt(math.factorial(n))
        out[on_gaussian] = _integrate(weighted, mu[on_gaussian], s[on_gaussian], feature, HALF_WIDTH, PANEL) \
            / s[on_gaussian] ** n
    return out


def smooth_vertex(name, p, n, mu, v, *parameters):
    r""":math:`g^{(n)}_p(\mu, v) = \partial^n_\mu E_{N(\mu, v)}[\phi(z)^p]` of activation ``name`` (module docstring);
    ``mu``, ``v`` broadcast (float64)."""
    p, n = int(p), int(n)
    mu, v = validated_single(mu, v, f"smooth_vertex({name!r})")
    flat = _vertex_flat(name, p, n, np.ascontiguousarray(mu).reshape(-1), np.ascontiguousarray(v).reshape(-1),
                        parameters)
    return flat.reshape(mu.shape)


# -- pair covariances ---------------------------------------------------------------------------

def _hermite_coefficients(name, n, mu, s, parameters):
    r"""Per neuron: :math:`\alpha^{(n)}_k` (k = 1..K, shape (N, K)), :math:`g^{(n)}` and :math:`E[F^{(n)2}]`, for
    :math:`F = \phi`, :math:`s > 0`. The derivative is on the Gaussian: :math:`\alpha^{(n)}_k =
    s^{-n}a_{k+n}\sqrt{(k+n)!/k!}`, :math:`a_j = E[\phi\,He_j/\sqrt{j!}]`."""
    spec = _spec(name)
    feature = spec.feature(*parameters)
    order = HERMITE_ORDER + n
    a = _integrate(lambda z, x: spec.values(z, *parameters), mu, s, feature, HERMITE_HALF_WIDTH, HERMITE_PANEL,
                   weights_rows=lambda x: _hermite_rows(x, order))
    k = np.arange(0, HERMITE_ORDER + 1)
    log_factor = 0.5 * (_special.gammaln(k + n + 1) - _special.gammaln(k + 1))
    alpha = a[:, n:] * np.exp(log_factor) / s[:, None] ** n
    second = _vertex_flat_square(name, n, mu, s, parameters)
    return alpha[:, 1:], alpha[:, 0], second


def _vertex_flat_square(name, n, mu, s, parameters):
    r""":math:`E[F^{(n)}(z)^2]` (the Parseval norm of the derivative-shifted coefficients)."""
    feature = _spec(name).feature(*parameters)
    return _integrate(lambda z, x: derivative(name, 1, n, z, parameters) ** 2, mu, s, feature, HALF_WIDTH, PANEL)


def _mehler(alpha_a, alpha_b, rho):
    """sum_k rho^k alpha_a[k] alpha_b[k] (k >= 1) by Horner, elementwise over the pairs."""
    total = alpha_a[..., -1] * alpha_b[..., -1]
    for k in range(alpha_a.shape[-1] - 2, -1, -1):
        total = total * rho + alpha_a[..., k] * alpha_b[..., k]
    return total * rho


def _kinked_derivatives(name, n, m, where):
    """Refuse mean-derivatives that the conditional or identical-neuron rules would take pointwise across a kink."""
    if _spec(name).kinks and n + m > (1 if where == "identical" else 0):
        raise ValueError(f"{name}: the derivative orders ({n}, {m}) of a covariance of {where} neurons are not "
                         f"available numerically ({name}'s derivative jumps at {_spec(name).kinks}, and the rule "
                         f"for such pairs differentiates pointwise); use closure 2 (mean and covariance of the "
                         f"Gaussian part, exact to the tolerance)")


def _identical(name, n, m, mu, v, parameters):
    r""":math:`E[F^{(n)}F^{(m)}] - g^{(n)}g^{(m)}` for one neuron (:math:`\rho = 1`)."""
    _kinked_derivatives(name, n, m, "identical")
    spec = _spec(name)
    s = np.sqrt(v)
    joint = _integrate(lambda z, x: derivative(name, 1, n, z, parameters) * derivative(name, 1, m, z, parameters),
                       mu, s, spec.feature(*parameters), HALF_WIDTH, PANEL)
    return joint - _vertex_flat(name, 1, n, mu, v, parameters) * _vertex_flat(name, 1, m, mu, v, parameters)


def _conditional(name, n, m, mu_a, s_a, mu_b, s_b, rho, parameters):
    r"""One pair by conditioning on :math:`x_a`: :math:`E_x[F_a^{(n)}(\mu_a + s_a x)(G_b(x) - g^{(m)}_b)]`,
    :math:`G_b(x) = g^{(m)}(\mu_b + s_b\rho x, s_b^2(1 - \rho^2))`."""
    _kinked_derivatives(name, n, m, "strongly correlated")
    spec = _spec(name)
    feature = spec.feature(*parameters)
    r2 = max(1.0 - rho * rho, 0.0)
    points = _breakpoints(mu_a, s_a, feature, HALF_WIDTH, PANEL)
    if abs(rho) * s_b > 0:      # where G_b varies: phi_b's features (and kinks) seen through the conditional mean
        z_c, width, kinks = feature
        scale = max(width, s_b * math.sqrt(r2)) / (abs(rho) * s_b)
        lo, hi = sorted(((-z_c - mu_b) / (rho * s_b), (z_c - mu_b) / (rho * s_b)))
        if scale < PANEL and hi > -HALF_WIDTH and lo < HALF_WIDTH:
            points = np.union1d(points, np.arange(max(lo, -HALF_WIDTH), min(hi, HALF_WIDTH), scale))
        # a kink of phi_b, smoothed by the conditional spread: panels graded geometrically down to that width
        smoothing = max(s_b * math.sqrt(r2), 1e-12) / (abs(rho) * s_b)
        grading = smoothing * 2.0 ** np.arange(0, max(1, int(np.ceil(np.log2(PANEL / smoothing))) + 1))
        for k in kinks:
            centre = (k - mu_b) / (rho * s_b)
            if abs(centre) < HALF_WIDTH:
                near = np.concatenate([[centre], centre - grading, centre + grading])
                points = np.union1d(points, near[np.abs(near) < HALF_WIDTH])
    x, w = _rule(points)
    spread = s_b * math.sqrt(r2)
    if spread <= DERIVATIVE_SWITCH and not spec.kinks:
        # a narrow conditional: Gauss-Hermite (phi analytic within pi/2 of the real axis, i.e. pi/(2 * spread)
        # >= pi standard deviations: 48 nodes converge to rounding)
        y, weights = _HERMITE_NODES, _HERMITE_WEIGHTS
        values = derivative(name, 1, m, (mu_b + s_b * rho * x)[:, None] + spread * y, parameters)
        inner = values @ weights
    else:
        inner = _vertex_flat(name, 1, m, mu_b + s_b * rho * x, np.full(x.shape, spread * spread), parameters)
    mean_b = _vertex_flat(name, 1, m, np.array([mu_b]), np.array([s_b * s_b]), parameters)[0]
    return float(np.sum(derivative(name, 1, n, mu_a + s_a * x, parameters) * (inner - mean_b) * w))


def _tail(coefficients):
    r""":math:`T = E[F^{(n)2}] - g^{(n)2} - \sum_{k=1}^K \alpha_k^2` (Parseval: the norm of the dropped coefficients)."""
    alpha, mean, second = coefficients
    return np.maximum(second - mean**2 - np.sum(alpha**2, axis=-1), 0.0)


def _hard(rho, tail_a, tail_b, second_a, second_b):
    """Pairs whose Mehler tail bound exceeds a tenth of the tolerance of their scale."""
    bound = np.abs(rho) ** (HERMITE_ORDER + 1) * np.sqrt(tail_a * tail_b)
    return bound > 0.1 * TOLERANCE * np.sqrt(second_a * second_b)


def _pairs(name, n, m, mu_a, v_a, mu_b, v_b, c, coefficients_a, coefficients_b, parameters):
    """Covariances of flat arrays of pairs, given each side's (alpha, g, E[F^2]) (rows aligned with the pairs)."""
    s_a, s_b = np.sqrt(v_a), np.sqrt(v_b)
    scale = s_a * s_b
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(scale > 0, c / scale, 0.0), -1.0, 1.0)
    out = _mehler(coefficients_a[0], coefficients_b[0], rho)
    hard = _hard(rho, _tail(coefficients_a), _tail(coefficients_b), coefficients_a[2], coefficients_b[2]) & (scale > 0)
    same = (mu_a == mu_b) & (v_a == v_b) & (c == v_a) & (scale > 0)
    if np.any(same):
        out[same] = _identical(name, n, m, mu_a[same], v_a[same], parameters)
    for t in np.nonzero(hard & ~same)[0]:
        out[t] = _conditional(name, n, m, mu_a[t], s_a[t], mu_b[t], s_b[t], rho[t], parameters)
    return np.where(scale > 0, out, 0.0)


#: The last few neurons' coefficients: a kernel asks for the same neurons at many derivative orders.
_COEFFICIENT_CACHE: dict = {}
_COEFFICIENT_CACHE_SIZE = 16


def _coefficients(name, n, mu, v, parameters):
    """(alpha, g, E[F^2]) per neuron; zero-variance neurons get zeros (their covariances are 0). Cached by value."""
    key = (name, n, mu.tobytes(), v.tobytes(), tuple(float(p) for p in parameters))
    if key not in _COEFFICIENT_CACHE:
        if len(_COEFFICIENT_CACHE) >= _COEFFICIENT_CACHE_SIZE:
            _COEFFICIENT_CACHE.pop(next(iter(_COEFFICIENT_CACHE)))
        _COEFFICIENT_CACHE[key] = _compute_coefficients(name, n, mu, v, parameters)
    return _COEFFICIENT_CACHE[key]


def _compute_coefficients(name, n, mu, v, parameters):
    s = np.sqrt(v)
    alpha = np.zeros((mu.shape[0], HERMITE_ORDER))
    mean, second = np.zeros(mu.shape), np.zeros(mu.shape)
    live = s > 0
    if np.any(live):
        alpha[live], mean[live], second[live] = _hermite_coefficients(name, n, mu[live], s[live], parameters)
    return alpha, mean, second


def smooth_covariance(name, n, m, mu_a, mu_b, v_a, v_b, c, *parameters):
    r""":math:`\partial^n_{\mu_a}\partial^m_{\mu_b}\mathrm{Cov}(\phi(z_a), \phi(z_b))` of a Gaussian pair (module
    docstring); on a kernel's symmetric neuron grid the Hermite coefficients are computed once per neuron."""
    n, m = int(n), int(m)
    grid = kernel_grid(mu_a, mu_b, v_a, v_b, c)
    if grid is not None:
        try:
            return _matrix(name, n, m, *grid, parameters)
        except NotSymmetric:
            pass
    arrays = validated_pair(mu_a, mu_b, v_a, v_b, c, f"smooth_covariance({name!r})")
    shape = arrays[0].shape
    mu_a, mu_b, v_a, v_b, c = (np.ascontiguousarray(t).reshape(-1) for t in arrays)
    out = _pairs(name, n, m, mu_a, v_a, mu_b, v_b, c, _coefficients(name, n, mu_a, v_a, parameters),
                 _coefficients(name, m, mu_b, v_b, parameters), parameters)
    return out.reshape(shape)


def _matrix(name, n, m, mean, variance, cov, parameters):
    """smooth_covariance on a kernel's symmetric grid: Hermite coefficients once per neuron, the Mehler series on
    the whole (N, N) grid (Horner, one outer product per order), the hard pairs and the diagonal apart."""
    validated_pair(mean, mean, variance, variance, variance, f"smooth_covariance({name!r})")
    if not np.all(np.isfinite(cov)):
        raise ValueError(f"smooth_covariance({name!r}): cov has a non-finite entry (NaN or inf)")
    if np.any(np.abs(cov - cov.T) > 1e-12 * max(float(np.max(variance, initial=0.0)), 1e-300)):
        raise NotSymmetric
    s = np.sqrt(variance)
    if np.any(cov**2 > np.outer(variance, variance) * (1.0 + 1e-10)):
        raise ValueError(f"smooth_covariance({name!r}): cov is not positive semi-definite")
    left = _coefficients(name, n, mean, variance, parameters)
    right = left if m == n else _coefficients(name, m, mean, variance, parameters)
    live = s > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(np.outer(live, live), cov / np.outer(s, s), 0.0), -1.0, 1.0)
    alpha_a, alpha_b = left[0], right[0]
    out = np.multiply.outer(alpha_a[:, -1], alpha_b[:, -1])
    for k in range(alpha_a.shape[1] - 2, -1, -1):
        out *= rho
        out += np.multiply.outer(alpha_a[:, k], alpha_b[:, k])
    out *= rho
    hard = _hard(rho, _tail(left)[:, None], _tail(right)[None, :], left[2][:, None], right[2][None, :])
    hard &= np.outer(live, live)
    np.fill_diagonal(hard, False)
    for i, j in zip(*np.nonzero(hard)):
        out[i, j] = _conditional(name, n, m, mean[i], s[i], mean[j], s[j], rho[i, j], parameters)
    diagonal = np.zeros(mean.shape)
    diagonal[live] = _identical(name, n, m, mean[live], variance[live], parameters)
    out[np.diag_indices_from(out)] = diagonal
    out[~np.outer(live, live)] = 0.0
    return out
