r"""Statistics no distribution can have: checks after every pointwise layer, and the nearest valid ones.

A closure (docs/theory.md section 9) can hand back cumulants that no
probability distribution has: truncating at an odd order is known to produce
covariances that are not positive semi-definite. After each pointwise layer
:func:`symcorr.pointwise` runs :func:`problems_of`, which checks necessary
conditions of validity, each within rounding (relative tolerance
:data:`TOLERANCE` of the largest entry it compares):

* the covariance :math:`\Sigma` is positive semi-definite (a Cholesky factorisation
  of :math:`\Sigma + \epsilon I`; the smallest eigenvalue is computed only when it fails),
  in particular every variance :math:`\Sigma_{ii} \ge 0`;
* where the diagonals of orders 3 and 4 are held, Pearson's inequality per neuron,
  :math:`\kappa_{iiii}\,\Sigma_{ii} - \kappa_{iii}^2 + 2\Sigma_{ii}^3 \ge 0`
  (kurtosis :math:`\ge` squared skewness + 1).

Failures are recorded on the result (``c.problems``, each naming the layer) and
:func:`symcorr.propagate` warns once; nothing is changed silently.
:func:`nearest_valid` is the explicit projection: the covariance replaced by
the nearest positive semi-definite matrix in Frobenius norm (negative
eigenvalues set to zero, Higham 1988) and each diagonal fourth cumulant raised
to Pearson's bound where it falls below; the projected orders become
approximate, their cause stating the Frobenius change.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg.lapack
import scipy.sparse.linalg

from symcorr.numeric.cumulant_tensors import RankOneSum, pattern_slice
from symcorr.numeric.exactness import Cause, StatusProfile, worst

#: Relative tolerance of the checks (rounding of sums of many float64 terms).
TOLERANCE = 1e-10
#: Width from which the largest eigenvalue of a covariance is found by Lanczos iterations (scipy's eigsh).
LANCZOS_FROM = 64
#: Width from which ``_factorizable`` factorizes through SciPy's LAPACK rather than NumPy's.
SCIPY_CHOLESKY_FROM = 3072


class InvalidStatisticsWarning(UserWarning):
    """A result fails a validity check (the message names the check, the layer and the remedy)."""


def _diagonal(tensor, n: int):
    """The diagonal :math:`\\kappa_{i..i}` of an order-``n`` tensor (dense or :mod:`cumulant_tensors`)."""
    return pattern_slice(tensor, "i" * n)


def _factorizable(cov: np.ndarray, shift: float) -> bool:
    """Whether :math:`\\Sigma + \\text{shift}\\, I` has a Cholesky factorization, on one shifted copy.

    Below :data:`SCIPY_CHOLESKY_FROM` neurons by NumPy's ``cholesky``, from :data:`SCIPY_CHOLESKY_FROM` on by
    LAPACK's ``potrf`` through SciPy, factorized in place in the copy of :math:`\\Sigma^\\top` in its own (Fortran)
    order, which LAPACK reads without another copy (its lower triangle is :math:`\\Sigma`'s upper one). SciPy's
    factorization is the faster one (N = 4096: 0.32-0.39 s against 0.66-0.91 s), but SciPy calls a BLAS library of
    its own, whose threads keep spinning after the call while NumPy's next matrix products run: at N = 1024 every
    product of two N x N matrices right after it took 0.044-0.056 s instead of 0.025-0.028 s, more than the 0.015 s
    the faster factorization saves (measured on 2 cores). At N = 2048 the two were even (0.51 s against 0.47 s for a
    factorization and two matrix products), at N = 4096 SciPy's saves 0.5 s."""
    shifted = np.array(cov.T)
    diagonal = np.arange(cov.shape[0])
    shifted[diagonal, diagonal] += shift
    if cov.shape[0] < SCIPY_CHOLESKY_FROM:
        try:
            np.linalg.cholesky(shifted)
        except np.linalg.LinAlgError:
            return False
        return True
    _, info = scipy.linalg.lapack.dpotrf(shifted, lower=True, clean=False, overwrite_a=True)
    if info < 0:
        raise ValueError(f"LAPACK dpotrf: argument {-info} is invalid")
    return info == 0


def covariance_problem(cov: np.ndarray) -> str | None:
    """A description of why ``cov`` is not positive semi-definite within rounding, or ``None``."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov.size == 0:
        return None
    scale = float(np.max(np.abs(cov)))
    variances = np.diag(cov)
    negative = np.flatnonzero(variances < -TOLERANCE * scale)
    if negative.size:
        i = int(negative[np.argmin(variances[negative])])
        return (f"{negative.size} negative variance(s), e.g. Sigma[{i},{i}] = {variances[i]:.3e}")
    if _factorizable(cov, TOLERANCE * scale + 1e-300):
        return None
    if cov.shape[0] >= LANCZOS_FROM:
        # the criterion below, lambda_min >= -tau max(scale, lambda_max), as one more Cholesky factorization
        # with lambda_max from Lanczos iterations (O(N^2) each) instead of every eigenvalue (O(N^3), ~10x slower)
        # (and when it fails, a message without the full spectrum)
        largest = float(scipy.sparse.linalg.eigsh(cov, k=1, which="LA", tol=1e-8, return_eigenvectors=False)[0])
        shift = TOLERANCE * max(scale, largest)
        if not _factorizable(cov, shift + 1e-300):
            return (f"covariance not positive semi-definite: a negative eigenvalue below {-shift:.3e} (largest "
                    f"{largest:.3e}; its Cholesky factorization shifted by {shift:.1e} fails)")
        return None
    eigenvalues = np.linalg.eigvalsh(cov)
    if eigenvalues[0] >= -TOLERANCE * max(scale, float(eigenvalues[-1])):
        return None
    count = int(np.sum(eigenvalues < -TOLERANCE * max(scale, float(eigenvalues[-1]))))
    return (f"covariance not positive semi-definite: {count} negative eigenvalue(s), smallest "
            f"{eigenvalues[0]:.3e} (largest {eigenvalues[-1]:.3e})")


def pearson_problem(variance, third, fourth) -> str | None:
    """Where Pearson's inequality :math:`\\kappa_4\\kappa_2 - \\kappa_3^2 + 2\\kappa_2^3 \\ge 0` fails per neuron."""
    variance, third, fourth = (np.asarray(a, dtype=np.float64) for a in (variance, third, fourth))
    slack = fourth * variance - third**2 + 2.0 * variance**3
    scale = np.maximum.reduce([np.abs(fourth * variance), third**2, 2.0 * np.abs(variance) ** 3]) + 1e-300
    bad = np.flatnonzero(slack < -TOLERANCE * scale)
    if not bad.size:
        return None
    i = int(bad[np.argmin(slack[bad] / scale[bad])])
    return (f"{bad.size} neuron(s) violate Pearson's inequality (kurtosis >= skewness^2 + 1), e.g. neuron {i}: "
            f"kappa_iiii = {fourth[i]:.3e} below the bound {(third[i]**2 / max(variance[i], 1e-300) - 2 * variance[i]**2):.3e}")


def _derived_exactly(exactness, orders) -> bool:
    """Whether every order in ``orders`` is exact (or exact to a numerical tolerance) by ``exactness``."""
    return exactness is not None and all(exactness.status(n).kind in ("exact", "numerical") for n in orders)


def problems_of(cumulants, tensors=None, exactness=None) -> tuple[Cause, ...]:
    """The validity checks of the module docstring on ``cumulants`` (their tensors may be passed
    as ``tensors``, and their statuses as ``exactness``, before a
    :class:`~symcorr.numeric.cumulants.Cumulants` is built); one unnamed
    :class:`~symcorr.numeric.exactness.Cause` per failed check. Given ``exactness``, a check whose
    orders are all exact there is skipped: exact cumulants of a valid input are those of a
    distribution, valid by construction (a failure could only be rounding), and the check's
    :math:`O(N^3)` factorisation would cost more than the layer itself at large widths."""
    tensors = cumulants.held if tensors is None else tensors
    found = []
    message = None if _derived_exactly(exactness, (2,)) else covariance_problem(tensors[1])
    if message:
        found.append(Cause(message))
    if len(tensors) >= 4 and not _derived_exactly(exactness, (2, 3, 4)):
        message = pearson_problem(np.diag(tensors[1]), _diagonal(tensors[2], 3), _diagonal(tensors[3], 4))
        if message:
            found.append(Cause(message))
    return tuple(found)


def nearest_valid(cumulants):
    """``cumulants`` projected onto the checks of the module docstring (see there); the projected
    orders become approximate with the size of the change. Returns ``cumulants`` itself when valid."""
    from symcorr.numeric.cumulants import Cumulants

    tensors = list(cumulants.held)
    held = list(cumulants.exactness.held)
    cov = 0.5 * (tensors[1] + tensors[1].T)
    if covariance_problem(cov):
        eigenvalues, vectors = np.linalg.eigh(cov)
        projected = (vectors * np.maximum(eigenvalues, 0.0)) @ vectors.T
        projected = 0.5 * (projected + projected.T)
        change = float(np.linalg.norm(projected - cov) / max(np.linalg.norm(cov), 1e-300))
        held[1] = worst([held[1]], [Cause("projected to the nearest positive semi-definite covariance",
                                          size=change)])
        tensors[1] = projected
    diagonal_only = isinstance(tensors[3], RankOneSum) and tensors[3].factors is None if len(tensors) >= 4 else False
    if len(tensors) >= 4 and (isinstance(tensors[3], np.ndarray) or diagonal_only):
        variance, third = np.diag(tensors[1]), _diagonal(tensors[2], 3)
        fourth = _diagonal(tensors[3], 4)
        bound = third**2 / np.where(variance > 0, variance, np.inf) - 2.0 * variance**2
        low = fourth < bound
        if np.any(low):
            index = np.flatnonzero(low)
            if diagonal_only:
                tensors[3] = RankOneSum.diagonal(4, np.where(low, bound, fourth))
            else:
                tensors[3] = tensors[3].copy()
                tensors[3][index, index, index, index] = bound[index]
            held[3] = worst([held[3]], [Cause(f"{index.size} diagonal fourth cumulant(s) raised to Pearson's bound",
                                              size=float(np.max(np.abs(bound[index] - fourth[index]))))])
    if held == list(cumulants.exactness.held):
        return cumulants
    result = Cumulants(*tensors, check=False, exactness=StatusProfile(tuple(held), cumulants.exactness.tail))
    return result.with_status(problems=problems_of(result))


def warn_invalid(what: str, problems, stacklevel: int = 3) -> None:
    """One :class:`InvalidStatisticsWarning` listing ``problems`` and the remedies."""
    if problems:
        listed = "; ".join(str(p) for p in problems)
        warnings.warn(f"{what}: the result is not a valid set of statistics (no distribution has them): {listed}. "
                      "A higher (even) closure usually removes this; result.nearest_valid() projects onto valid "
                      "statistics explicitly (propagate(..., invalid='project') does it after every pointwise "
                      "layer, invalid='raise' refuses).", InvalidStatisticsWarning, stacklevel=stacklevel)


__all__ = ["problems_of", "covariance_problem", "pearson_problem", "nearest_valid", "warn_invalid",
           "InvalidStatisticsWarning", "TOLERANCE"]
