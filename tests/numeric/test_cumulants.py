"""Cumulants container and the linear layer (docs/theory.md sections 1, 3)."""
import itertools

import numpy as np
import pytest
from builders import random_layer, random_mixture, random_symmetric

from symcorr import Cumulants, linear
from symcorr.numeric.quadrature import quadrature_cumulants


def test_accessors_and_zero_padding():
    c = Cumulants(np.zeros(2), np.eye(2), random_symmetric(2, 3, seed=0))
    assert c.order == 3 and c.dim == 2
    assert c.kappa(1) is c.mean and c.kappa(2) is c.cov
    assert np.all(c.kappa(4) == 0) and c.kappa(4).shape == (2,) * 4
    assert c.mean.dtype == np.float64


@pytest.mark.parametrize("args, message", [
    ((np.zeros((2, 1)), np.eye(2)), "mean must be 1-D"),
    ((np.zeros(2), np.eye(3)), "cov must have shape"),
    ((np.zeros(2), np.eye(2), np.zeros((2, 2))), r"kappa\(3\) must have shape"),
    ((np.array([0.0, np.nan]), np.eye(2)), "mean has a non-finite entry"),
    ((np.zeros(2), np.array([[1.0, 0.5], [0.4, 1.0]])), "cov is not symmetric"),
    ((np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]])), "cov is not positive semi-definite"),
    ((np.zeros(2), np.eye(2), np.arange(8.0).reshape(2, 2, 2)), r"kappa\(3\) is not symmetric"),
])
def test_bad_input_is_refused_with_a_message_naming_the_problem(args, message):
    with pytest.raises(ValueError, match=message):
        Cumulants(*args)


def test_kappa_rejects_order_zero():
    with pytest.raises(ValueError, match="order"):
        Cumulants(np.zeros(1), np.eye(1)).kappa(0)


def test_linear_equals_the_naive_full_contraction():
    dim, n_out = 3, 4
    kappas = [np.arange(dim) * 0.1] + [random_symmetric(dim, n, seed=n) for n in range(2, 5)]
    kappas[1] = kappas[1] @ kappas[1].T  # positive semi-definite
    W, b = random_layer(n_out, dim, seed=3)
    out = linear(Cumulants(*kappas), W, b)
    np.testing.assert_allclose(out.mean, W @ kappas[0] + b, rtol=1e-13)
    for n in range(2, 5):
        naive = np.zeros((n_out,) * n)
        for idx in itertools.product(range(n_out), repeat=n):
            for jdx in itertools.product(range(dim), repeat=n):
                naive[idx] += np.prod([W[i, j] for i, j in zip(idx, jdx)]) * kappas[n - 1][jdx]
        np.testing.assert_allclose(out.kappa(n), naive, rtol=1e-12, atol=1e-14)


def test_linear_of_a_mixture_matches_quadrature_at_every_order():
    weights, means, covs = random_mixture(2, seed=4)
    W, b = random_layer(3, 2, seed=5)
    x = quadrature_cumulants(lambda p: p, weights, means, covs, order=4)
    z = quadrature_cumulants(lambda p: p @ W.T + b, weights, means, covs, order=4)
    out = linear(x, W, b)
    for n in range(1, 5):
        np.testing.assert_allclose(out.kappa(n), z.kappa(n), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("W, b, message", [
    (np.ones((2, 3)), None, "W must have shape"),
    (np.ones((2, 2)), np.ones(3), "b must have shape"),
    (np.full((2, 2), np.nan), None, "W has a non-finite"),
])
def test_linear_refuses_bad_weights(W, b, message):
    with pytest.raises(ValueError, match=message):
        linear(Cumulants(np.zeros(2), np.eye(2)), W, b)
