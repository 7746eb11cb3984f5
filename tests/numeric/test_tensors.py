"""symcorr.numeric.tensors: matrix products known to be symmetric, by blocks."""
import numpy as np
import pytest

from symcorr.numeric.tensors import SYMMETRIC_PRODUCT_BLOCKS, symmetric_product


@pytest.mark.parametrize("n", [1, 2, SYMMETRIC_PRODUCT_BLOCKS - 1, SYMMETRIC_PRODUCT_BLOCKS + 1, 17])
def test_symmetric_product_is_exact_on_integers(n):
    # V D V^T with integer entries: every product and sum is exact in float64, so every block must be exact
    rng = np.random.default_rng(n)
    V = rng.integers(-5, 6, size=(n, 9))
    d = rng.integers(-3, 4, size=9)
    out = symmetric_product((V * d).astype(float), V.astype(float))
    assert out.shape == (n, n)
    np.testing.assert_array_equal(out, np.einsum("ar,r,br->ab", V, d, V))


def test_symmetric_product_equals_the_whole_product_to_rounding_and_is_symmetric():
    rng = np.random.default_rng(0)
    V = rng.standard_normal((37, 29))
    A = V * rng.standard_normal(29)
    out = symmetric_product(A, V)
    reference = A @ V.T
    assert np.max(np.abs(out - reference)) <= 1e-13 * np.max(np.abs(reference))
    np.testing.assert_array_equal(out, out.T)
