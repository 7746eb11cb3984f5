"""Independent references for the activation families' Gaussian expectations (tests only).

* :func:`mp_mean`, :func:`mp_pair_covariance` -- mpmath quadrature at raised precision of
  :math:`E[\\phi(z)]` and :math:`\\mathrm{Cov}(\\phi(z_a), \\phi(z_b))`, the pair by conditioning on
  :math:`z_a` (the inner conditional mean either a textbook closed form of the one-dimensional
  Gaussian expectation or a second quadrature), split at the kinks of :math:`\\phi`;
* :func:`mp_pair_moment` -- :math:`E[\\phi(z_a)^p \\phi(z_b)^q]` the same way, for third cumulants of a pair;
* :func:`sampled_zscores` -- numpy sampling of a Gaussian through :math:`\\phi` with standard errors.

None of it calls symcorr's formulas or runtime.
"""
import mpmath
import numpy as np

DPS = 30


def _breaks(mu, sd, kinks, width=14):
    """Integration points in standardized x for z = mu + sd x: +-width and the kinks."""
    points = {mpmath.mpf(-width), mpmath.mpf(width), mpmath.mpf(0)}
    for kink in kinks:
        x = (kink - mu) / sd
        if abs(x) < width:
            points.add(x)
    return sorted(points)


def mp_expectation(f, mu, v, kinks=()):
    """E[f(z)], z ~ N(mu, v), by mpmath quadrature (f takes and returns mpmath numbers); v = 0: f(mu)."""
    mu, v = mpmath.mpf(mu), mpmath.mpf(v)
    if v == 0:
        return f(mu)
    sd = mpmath.sqrt(v)
    return mpmath.quad(lambda x: f(mu + sd * x) * mpmath.npdf(x), _breaks(mu, sd, kinks))


def _precision(dps):
    """At least ``dps`` digits, never fewer than the caller's (``mpmath.diff`` raises the precision)."""
    return mpmath.workdps(max(dps, mpmath.mp.dps))


def mp_mean(phi, mu, v, kinks=(), dps=DPS):
    with _precision(dps):
        return mp_expectation(phi, mu, v, kinks)


def mp_pair_covariance(phi, mu_a, mu_b, v_a, v_b, c, kinks=(), inner=None, dps=DPS):
    """Cov(phi(z_a), phi(z_b)) of a Gaussian pair: the integral over z_a of (phi(z_a) - E phi_a)
    (E[phi(z_b) | z_a] - E phi_b). ``inner(m, w)`` is E_{N(m, w)}[phi] (default: a quadrature)."""
    with _precision(dps):
        mu_a, mu_b, v_a, v_b, c = (mpmath.mpf(t) for t in (mu_a, mu_b, v_a, v_b, c))
        if inner is None:
            def inner(m, w):
                return mp_expectation(phi, m, w, kinks)
        if v_a == 0 or v_b == 0:
            return mpmath.mpf(0)
        mean_a, mean_b = inner(mu_a, v_a), inner(mu_b, v_b)
        # |rho| = 1 up to the rounding of c: a zero conditional variance, not a tiny one
        singular = abs(c * c - v_a * v_b) <= 1e-12 * v_a * v_b
        slope, w = c / v_a, mpmath.mpf(0) if singular else max(v_b - c * c / v_a, mpmath.mpf(0))
        sd = mpmath.sqrt(v_a)

        def integrand(x):
            z = mu_a + sd * x
            return (phi(z) - mean_a) * (inner(mu_b + slope * (z - mu_a), w) - mean_b) * mpmath.npdf(x)

        points = set(_breaks(mu_a, sd, kinks))
        if slope != 0:        # where the conditional mean of z_b crosses a kink
            points |= set(_breaks(mu_a, sd, [mu_a + (k - mu_b) / slope for k in kinks]))
        return mpmath.quad(integrand, sorted(points))


def mp_pair_moment(phi, inner, p, q, mu_a, mu_b, v_a, v_b, c, kinks=(), dps=DPS):
    """E[phi(z_a)^p phi(z_b)^q] of a Gaussian pair with |rho| < 1: the integral over z_a of phi(z_a)^p
    E[phi(z_b)^q | z_a], ``inner(m, w, q)`` being E_{N(m, w)}[phi^q] in closed form. The quadrature is split where
    the conditional mean of z_b crosses a kink and at multiples of the width over which it crosses (the
    conditional spread over the slope: near |rho| = 1 the integrand turns within it)."""
    with _precision(dps):
        mu_a, mu_b, v_a, v_b, c = (mpmath.mpf(t) for t in (mu_a, mu_b, v_a, v_b, c))
        slope, w = c / v_a, (v_a * v_b - c * c) / v_a
        sd = mpmath.sqrt(v_a)
        points = set(_breaks(mu_a, sd, kinks))
        if slope != 0:
            width = mpmath.sqrt(w) / abs(slope) / sd
            for kink in kinks:
                crossing = (kink - mu_b) / (slope * sd)
                points |= {crossing + sign * k * width for k in (0, 1e-3, 1e-2, 0.1, 1, 3, 10, 30) for sign in (-1, 1)
                           if abs(crossing + sign * k * width) < 14}
        return mpmath.quad(lambda x: phi(mu_a + sd * x) ** p * inner(mu_b + slope * sd * x, w, q) * mpmath.npdf(x),
                           sorted(points))


def gaussian_samples(mean, cov, n, seed):
    """``n`` samples of N(mean, cov) (numpy, fixed seed; a singular cov is fine)."""
    rng = np.random.default_rng(seed)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    root = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    return mean + rng.standard_normal((n, len(mean))) @ root.T


def sampled_zscores(activation, mean, cov, predicted_mean, predicted_cov, n=400_000, seed=0):
    """z-scores of the predicted mean and covariance of phi(z) against ``n`` samples (their standard
    errors from the samples): ``(z_mean, z_cov)``."""
    y = activation(gaussian_samples(np.asarray(mean, float), np.asarray(cov, float), n, seed))
    centred = y - y.mean(axis=0)
    se_mean = y.std(axis=0) / np.sqrt(n)
    products = centred[:, :, None] * centred[:, None, :]
    sample_cov = products.mean(axis=0) * n / (n - 1)
    se_cov = products.std(axis=0) / np.sqrt(n)
    return (y.mean(axis=0) - predicted_mean) / se_mean, (sample_cov - predicted_cov) / se_cov


def quad_expectation(f, mu, v, feature=(), width=16.0):
    """E[f(z)], z ~ N(mu, v), by scipy's adaptive quadrature in double precision (absolute error ~1e-15 of the
    integrand's size), split at the standardized images of the points ``feature`` (where f varies)."""
    from scipy import integrate

    if v == 0:
        return float(f(mu))
    s = np.sqrt(v)
    points = sorted({0.0} | {(z - mu) / s for z in feature if abs((z - mu) / s) < width})
    value, _ = integrate.quad(lambda x: f(mu + s * x) * np.exp(-x * x / 2) / np.sqrt(2 * np.pi), -width, width,
                              points=points, limit=500, epsabs=1e-16, epsrel=1e-14)
    return value


def quad_pair_covariance(f_a, f_b, mu_a, mu_b, v_a, v_b, c, feature=()):
    """E[(f_a(z_a) - E f_a)(f_b(z_b) - E f_b)] of a Gaussian pair by nested scipy quadrature (conditioning on z_a)."""
    if v_a == 0 or v_b == 0:
        return 0.0
    mean_a, mean_b = quad_expectation(f_a, mu_a, v_a, feature), quad_expectation(f_b, mu_b, v_b, feature)
    singular = abs(c * c - v_a * v_b) <= 1e-12 * v_a * v_b
    slope, w = c / v_a, 0.0 if singular else max(v_b - c * c / v_a, 0.0)

    def centred_inner(z):
        return f_a(z) - mean_a, quad_expectation(f_b, mu_b + slope * (z - mu_a), w, feature) - mean_b

    extra = [mu_a + (k - mu_b) / slope for k in feature] if slope else []
    return quad_expectation(lambda z: np.prod(centred_inner(z)), mu_a, v_a, list(feature) + extra)
