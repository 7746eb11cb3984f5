"""symcorr.numeric.validity: the covariance check against its criterion computed from every eigenvalue, through
either library's Cholesky factorization."""
import numpy as np
import pytest

from symcorr.numeric import validity
from symcorr.numeric.validity import LANCZOS_FROM, TOLERANCE, covariance_problem


@pytest.mark.parametrize("scipy_from", [0, 10**9], ids=["scipy", "numpy"])
@pytest.mark.parametrize("n", [8, LANCZOS_FROM, 200])
@pytest.mark.parametrize("depth, valid", [(0.0, True), (0.5, True), (2.0, False), (1e3, False)])
def test_covariance_check_follows_the_eigenvalue_criterion(n, depth, valid, scipy_from, monkeypatch):
    r"""A matrix whose largest eigenvalue (:math:`n`) is far above its largest entry (1), shifted down by ``depth``
    times :math:`\tau \lambda_{max}`: within the criterion :math:`\lambda_{min} \ge -\tau \max(s, \lambda_{max})`
    for ``depth < 1`` although a shift of :math:`\tau s` does not make it positive definite. Both factorizations
    (``SCIPY_CHOLESKY_FROM``: from which width SciPy's is taken) give the same answers."""
    monkeypatch.setattr(validity, "SCIPY_CHOLESKY_FROM", scipy_from)
    ones = np.full((n, n), 1.0)                   # eigenvalues n and 0 (n - 1 times)
    cov = ones - depth * TOLERANCE * n * np.eye(n)
    eigenvalues = np.linalg.eigvalsh(cov)
    reference = eigenvalues[0] >= -TOLERANCE * max(np.max(np.abs(cov)), eigenvalues[-1])
    assert reference == valid
    assert (covariance_problem(cov) is None) == valid
