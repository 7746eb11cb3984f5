"""symcorr.numeric.linear: the covariance's congruence W S W^T."""
import numpy as np
import pytest

from symcorr.numeric.linear import congruence


@pytest.mark.parametrize("n_out", [1, 3, 17])
def test_congruence_is_exact_on_integers(n_out):
    # integer entries: every product and sum is exact in float64
    rng = np.random.default_rng(n_out)
    W = rng.integers(-5, 6, size=(n_out, 9))
    X = rng.integers(-5, 6, size=(9, 9))
    S = X @ X.T
    np.testing.assert_array_equal(congruence(W.astype(float), S.astype(float)), np.einsum("ia,ab,jb->ij", W, S, W))
