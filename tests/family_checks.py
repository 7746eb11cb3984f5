"""Checks every activation family runs the same way (tests only): pointwise against numpy sampling, and
the closure-2 vs closure-4 errors on a Gaussian mixture whose non-Gaussianity shrinks."""
import numpy as np
from references import sampled_zscores

from symcorr import Cumulants, pointwise
from symcorr.numeric.quadrature import quadrature_cumulants

#: A small correlated Gaussian for the sampling checks.
SAMPLING_MEAN = np.array([0.3, -0.4, 1.1])
SAMPLING_COV = np.array([[1.0, 0.5, -0.2], [0.5, 0.8, 0.1], [-0.2, 0.1, 0.3]])


def assert_matches_sampling(activation, seed: int, bound: float = 5.0):
    """pointwise's mean and covariance of phi(z) against 4e5 numpy samples: every z-score below ``bound``."""
    y = pointwise(Cumulants(SAMPLING_MEAN, SAMPLING_COV), activation, order=2)
    z_mean, z_cov = sampled_zscores(activation, SAMPLING_MEAN, SAMPLING_COV, y.mean, y.cov, seed=seed)
    assert np.max(np.abs(z_mean)) < bound and np.max(np.abs(z_cov)) < bound, (z_mean, z_cov)


MIXTURE_WEIGHTS = np.array([0.35, 0.65])
MIXTURE_COVS = np.array([[[0.5, 0.2], [0.2, 0.4]]] * 2)
MIXTURE_MEANS = np.array([[0.5, -0.4], [-0.5, 0.3]])


def mixture_errors(activation, truth, scales=(0.5, 0.25)):
    r"""``{(t, K): max |error| of mean and covariance}`` of ``pointwise(..., closure=K)``, K = 2, 4, on the mixture
    with component means ``t * MIXTURE_MEANS`` and a common covariance (Gaussian as t -> 0: closure 2 misses
    :math:`\kappa_3, \kappa_4`, error ~ t^3; closure 4 keeps them, ~ t^5). ``truth(weights, means, covs)`` gives
    the reference mean and covariance. Prints the table."""
    errors = {}
    for t in scales:
        means = MIXTURE_MEANS * t
        x = quadrature_cumulants(lambda p: p, MIXTURE_WEIGHTS, means, MIXTURE_COVS, order=4, n_nodes=12)
        mean, cov = truth(MIXTURE_WEIGHTS, means, MIXTURE_COVS)
        for k in (2, 4):
            y = pointwise(x, activation, order=2, closure=k)
            errors[t, k] = max(np.max(np.abs(y.mean - mean)), np.max(np.abs(y.cov - cov)))
    print(f"\n{activation} of a mixture, max |error| of mean/cov: "
          + ", ".join(f"t={t} K={k}: {e:.1e}" for (t, k), e in errors.items()))
    return errors


def gauss_hermite_truth(activation, n_nodes=80):
    """The mixture's exact mean and covariance by Gauss-Hermite (for activations smooth enough to converge)."""
    def truth(weights, means, covs):
        reference = quadrature_cumulants(activation, weights, means, covs, order=2, n_nodes=n_nodes)
        return reference.mean, reference.cov
    return truth


def assert_closure_4_corrects(errors):
    """Closure 4 at least 10x (t = 0.5) and 50x (t = 0.25) closer than closure 2."""
    assert errors[0.5, 4] < errors[0.5, 2] / 10 and errors[0.25, 4] < errors[0.25, 2] / 50, errors
