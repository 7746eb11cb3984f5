"""Seeded builders of test inputs (one seed -> one input, always), and the dense reference of factored terms."""
import itertools
import math

import numpy as np


def random_gaussian(dim: int, seed: int, scale: float = 0.5):
    """Mean and a well-conditioned covariance."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim))
    return rng.normal(size=dim) * scale, (a @ a.T / dim + 0.2 * np.eye(dim)) * scale


def random_mixture(dim: int, seed: int, components: int = 2, spread: float = 0.8):
    """Weights, means and covariances of a Gaussian mixture (non-Gaussian at every order)."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(components) * 3)
    means = rng.normal(size=(components, dim)) * spread
    covs = []
    for _ in range(components):
        a = rng.normal(size=(dim, dim))
        covs.append(a @ a.T / dim * 0.2 + 0.05 * np.eye(dim))
    return weights, means, np.array(covs)


def random_layer(n_out: int, n_in: int, seed: int, scale: float = 0.8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_out, n_in)) * scale / np.sqrt(n_in), rng.normal(size=n_out) * 0.3


def random_symmetric(dim: int, order: int, seed: int):
    """A random symmetric tensor of the given order (average over axis permutations)."""
    import itertools

    rng = np.random.default_rng(seed)
    t = rng.normal(size=(dim,) * order)
    perms = list(itertools.permutations(range(order)))
    return sum(t.transpose(p) for p in perms) / len(perms)


#: Parameter values the kernel pins use, by parameter name.
PIN_PARAMETERS = {"alpha": 0.7, "a0": 0.1, "a1": 0.9, "a2": -0.4, "a3": 0.25, "slope": 0.1}


def kernel_pin_inputs(closure: int, dim: int = 4, seed: int = 11):
    """Fixed input cumulants of orders 1..closure (a PSD covariance, small higher cumulants)
    on which every shipped kernel's outputs are pinned (tests/data/kernel_outputs.npz)."""
    mean, cov = random_gaussian(dim, seed)
    higher = [0.05 * random_symmetric(dim, n, seed + n) for n in range(3, closure + 1)]
    return (mean, cov, *higher)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def dense_sum(terms, order, dim):
    """The dense sum of Sym(X_t) of factored terms (symcorr.numeric.tensor_networks.Term), by one numpy.einsum per
    term over all indices (legs explicit): the reference the factored code is checked against."""
    total = np.zeros((dim,) * order)
    for term in terms:
        dims = term.dims()
        symbols = {}

        def symbol(k):
            return symbols.setdefault(k, _LETTERS[len(symbols) + order])

        operands, specs = [], []
        for f, ix in zip(term.factors, term.indices):
            operands.append(f)
            specs.append("".join(symbol(k) for k in ix))
        for s, (k, leg) in enumerate(term.legs):
            operands.append(np.eye(dims[k]) if leg is None else leg)
            specs.append(_LETTERS[s] + symbol(k))
        X = term.weight * np.einsum(",".join(specs) + "->" + _LETTERS[:order], *operands)
        if not term.symmetric:
            X = sum(X.transpose(p) for p in itertools.permutations(range(order))) / math.factorial(order)
        total += X
    return total
