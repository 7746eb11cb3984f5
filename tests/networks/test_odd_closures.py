"""Odd closures done soundly: closure 3 keeps the diagonal of kappa4 (symcorr.numeric.cumulant_tensors),
checked against quadrature and against closure 4 where the two must agree."""
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from symcorr.codegen.runtime.grid import grid_view
from symcorr.networks import modules as snn
from symcorr.networks.exactness import status_walk
from symcorr.networks.propagation import propagate
from symcorr.numeric.cumulant_tensors import RankOneAndPairing, RankOneSum, ZeroTensor, dense_slice, pairings
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.linear import linear
from symcorr.numeric.quadrature import quadrature_cumulants

PATTERNS = ("iiii", "iiij", "iijj", "iijk", "ijkl", "ijij", "jiik")


def _network(widths, seed, gain=0.8, coeffs=(0.0, 1.0, 0.5), first=None):
    generator = torch.Generator().manual_seed(seed)
    modules = []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layer = nn.Linear(n_in, n_out, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(n_out, n_in, generator=generator, dtype=torch.float64) * gain / math.sqrt(n_in))
            layer.bias.copy_(0.2 * torch.randn(n_out, generator=generator, dtype=torch.float64))
            if k == 0 and first is not None:
                layer.weight.copy_(torch.as_tensor(first))
        modules.append(layer)
        if k < len(widths) - 2:
            modules.append(snn.Polynomial(list(coeffs), learnable=False).double())
    return nn.Sequential(*modules)


def _function(model):
    def function(points):
        with torch.no_grad():
            return model(torch.from_numpy(points)).numpy()
    return function


def _quiet_propagate(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return propagate(*args, **kwargs)


def test_rank_one_sum_slices_equal_the_dense_tensor():
    rng = np.random.default_rng(0)
    diagonal = RankOneSum.diagonal(4, rng.normal(size=5))
    W = rng.normal(size=(4, 5))
    mapped = diagonal.linear(W)
    dense = np.einsum("ia,ja,ka,la,a->ijkl", W, W, W, W, diagonal.weights)
    assert np.allclose(mapped.to_dense(), dense, rtol=1e-13, atol=1e-13)
    for labels in PATTERNS:
        assert np.allclose(mapped.slice(labels), dense_slice(dense, labels), rtol=1e-13, atol=1e-13), labels
        assert np.allclose(diagonal.slice(labels), dense_slice(diagonal.to_dense(), labels)), labels
    # a linear layer maps the factored tensor exactly as it maps the dense one
    c = Cumulants(np.zeros(5), np.eye(5), np.zeros((5,) * 3), diagonal)
    assert np.allclose(linear(c, W).kappa(4), linear(Cumulants(np.zeros(5), np.eye(5), np.zeros((5,) * 3),
                                                              diagonal.to_dense()), W).kappa(4), atol=1e-13)
    # the kernels read it through grid_view
    assert np.allclose(grid_view(mapped, "iijk", "ijkl")[..., 0], dense_slice(dense, "iijk"))
    assert ZeroTensor(4, 3).slice("iijj").shape == (3, 3)


def _diagonal_and_pairs(diagonal, pair_mean):
    """The order-4 tensor with kappa_aaaa = diagonal[a], kappa_aabb = pair_mean (a != b, every arrangement) and
    zero elsewhere, entry by entry from that definition."""
    n = len(diagonal)
    dense = np.zeros((n,) * 4)
    for entry in np.ndindex(*dense.shape):
        counts = sorted(entry.count(a) for a in set(entry))
        if counts == [4]:
            dense[entry] = diagonal[entry[0]]
        elif counts == [2, 2]:
            dense[entry] = pair_mean
    return dense


def test_pairings_are_the_perfect_matchings():
    assert pairings(4) == [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]
    six = pairings(6)
    assert len(six) == 15 and len(set(six)) == 15
    assert all(sorted(s for pair in p for s in pair) == list(range(6)) for p in six)


def test_rank_one_and_pairing_slices_equal_the_dense_tensor():
    rng = np.random.default_rng(1)
    diagonal, pair_mean = rng.normal(size=5), 0.37
    kept = RankOneAndPairing.from_diagonal(4, diagonal, pair_mean)
    dense = _diagonal_and_pairs(diagonal, pair_mean)
    assert np.allclose(kept.to_dense(), dense, rtol=0, atol=1e-14)
    W2, W1 = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    mapped = kept.linear(W1).linear(W2)
    reference = np.einsum("ia,jb,kc,ld,abcd->ijkl", W2 @ W1, W2 @ W1, W2 @ W1, W2 @ W1, dense)
    assert np.allclose(mapped.to_dense(), reference, rtol=1e-13, atol=1e-13)
    for labels in PATTERNS:
        assert np.allclose(mapped.slice(labels), dense_slice(reference, labels), rtol=1e-13, atol=1e-13), labels
        assert np.allclose(kept.slice(labels), dense_slice(dense, labels), rtol=0, atol=1e-14), labels
    c = Cumulants(np.zeros(5), np.eye(5), np.zeros((5,) * 3), kept)
    assert np.allclose(linear(c, W1).kappa(4), np.einsum("ia,jb,kc,ld,abcd->ijkl", W1, W1, W1, W1, dense),
                       atol=1e-13)
    for order in (3, 6):
        with pytest.raises(ValueError, match="order 4 .closure 3. only"):
            RankOneAndPairing(RankOneSum.diagonal(order, diagonal), 0.1)


def _pair_mean_reference(model, inputs):
    """Closure 3 keeping the diagonal and the mean pair entry of kappa4, with every tensor dense: each pointwise
    layer is the dense closure-4 kernel of order 4 on the kept kappa4 made dense (:func:`_diagonal_and_pairs`),
    each linear layer maps all four orders; the last pointwise layer returns orders 1..2."""
    from symcorr.numeric.pointwise import pointwise

    layers = list(model)
    c = Cumulants(inputs.mean, inputs.cov, np.zeros((inputs.dim,) * 3), np.zeros((inputs.dim,) * 4))
    for k, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            c = linear(c, layer.weight.detach().numpy(), layer.bias.detach().numpy())
            continue
        last = not any(isinstance(later, snn.Polynomial) for later in layers[k + 1:])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = pointwise(c, layer.activation, order=2 if last else 4, closure=4, representation="dense")
        if last:
            c = y
            continue
        fourth = y.kappa(4)
        pairs = np.einsum("aabb->ab", fourth)
        off = ~np.eye(len(pairs), dtype=bool)
        c = Cumulants(y.kappa(1), y.kappa(2), y.kappa(3),
                      _diagonal_and_pairs(np.einsum("aaaa->a", fourth), pairs[off].mean()), check=False)
    return c


@pytest.mark.parametrize("representation", ["dense", "factored"])
def test_closure_3_with_the_pair_mean_equals_its_dense_reference(representation):
    """propagate(pair_mean=True) through three quadratic layers equals the same scheme made of dense tensors
    (the pair mean from every pair entry of the dense kappa4, its linear maps by einsum)."""
    model = _network([5, 6, 5, 6, 4], seed=7)
    inputs = Cumulants(np.array([0.1, -0.2, 0.3, 0.0, 0.2]), 0.6 * np.eye(5) + 0.1)
    reference = _pair_mean_reference(model, inputs)
    out = _quiet_propagate(model, inputs, order=2, closure=3, pair_mean=True, representation=representation)
    diagonal_only = _quiet_propagate(model, inputs, order=2, closure=3, representation=representation)
    for n in (1, 2):
        assert np.allclose(out.kappa(n), reference.kappa(n), rtol=1e-11, atol=1e-13), n
    assert np.max(np.abs(diagonal_only.kappa(2) - reference.kappa(2))) > 1e-3      # the pair mean is visible
    assert "the mean of the pair entries of order 4" in out.status(2).reason
    walk = status_walk(model, inputs.exactness, 2, 3, pair_mean=True)
    assert [out.status(n) for n in (1, 2)] == [walk[-1].status(n) for n in (1, 2)]


def test_the_pair_mean_takes_closure_3_closer_to_monte_carlo():
    """Quadratic network of width 32 and depth 2 (weights N(0, 0.7^2/N)) against 2^18 Monte Carlo samples (fixed
    seed). The squared covariance error of closure 3 falls with the pair mean by more than eight standard errors of
    that fall: the Monte Carlo noise enters it as 2 e.(C_3 - C_3p), whose standard error is at most
    2 sqrt(2) |se * (C_3 - C_3p)| (an entry and its transpose are one sample). Measured: relative errors 0.075 ->
    0.049, the fall 31 standard errors. Closure 4, exact for this network, is within three noise floors
    (measured 0.80)."""
    from symcorr.networks.montecarlo import monte_carlo

    width = 32
    model = snn.mlp([width] * 4, lambda: snn.Polynomial([0.0, 1.0, 1.0], learnable=False), init_gain=0.7, seed=0)
    inputs = Cumulants(np.zeros(width), np.eye(width))
    sampled = monte_carlo(model, inputs, 1 << 18, order=[0, 0, 0, 0, 2], seed=1, threads=1, progress=False).output
    truth, se = sampled.kappa(2), sampled.stderr[1]

    def covariance(**kwargs):
        return _quiet_propagate(model, inputs, order=2, **kwargs).cov

    diagonal, pairs = covariance(closure=3), covariance(closure=3, pair_mean=True)
    fall = np.sum((diagonal - truth) ** 2) - np.sum((pairs - truth) ** 2)
    assert fall > 8 * 2 * np.sqrt(2) * np.linalg.norm(se * (diagonal - pairs))
    assert np.linalg.norm(covariance(closure=4) - truth) < 3 * np.linalg.norm(se)


def test_a_dense_input_kappa4_enters_with_its_diagonal_and_pair_mean():
    from symcorr.numeric.distributions import gaussian_mixture
    from symcorr.numeric.pointwise import next_diagonal_input

    x = gaussian_mixture([0.3, 0.7], [[1.0, 0.5, -1.0], [-0.4, -0.2, 0.4]], 0.25 * np.eye(3) + 0.05, order=4)
    kept = next_diagonal_input(x, 3, pair_mean=True)
    fourth = x.kappa(4)
    pairs = np.einsum("aabb->ab", fourth)
    assert isinstance(kept.tensor(4), RankOneAndPairing)
    assert np.isclose(kept.tensor(4).pair_mean, pairs[~np.eye(3, dtype=bool)].mean(), rtol=1e-14, atol=0)
    assert np.allclose(kept.tensor(4).slice("iiii"), np.einsum("aaaa->a", fourth), rtol=1e-14, atol=0)
    assert "the mean of the pair entries of order 4" in kept.status(4).reason


def test_pair_mean_needs_an_odd_closure_that_keeps_the_next_order():
    model = _network([2, 3, 2], seed=4)
    for closure in (4, 5):
        with pytest.raises(ValueError, match=f"pair_mean=True keeps the pair entries of order 4.*closure {closure}"):
            _quiet_propagate(model, Cumulants(np.zeros(2), np.eye(2)), order=2, closure=closure, pair_mean=True)
    from symcorr.derivation import activations
    from symcorr.numeric.pointwise import pointwise

    with pytest.raises(ValueError, match="pair_mean=True keeps the pair entries.*order 2 with closure 3"):
        pointwise(Cumulants(np.zeros(2), np.eye(2)), activations.quadratic(1.0), order=2, closure=3, pair_mean=True)


def test_width_one_chain_closure_3_with_the_diagonal_equals_closure_4():
    """With one neuron per layer the diagonal of kappa4 is all of it: closure 3 + diagonal is closure 4."""
    model = _network([1, 1, 1, 1, 1], seed=3, coeffs=(0.0, 1.0, 0.3))
    inputs = Cumulants(np.array([0.3]), np.array([[0.7]]))
    odd = _quiet_propagate(model, inputs, order=3, closure=3)
    four = _quiet_propagate(model, inputs, order=4, closure=4)
    plain = _quiet_propagate(model, inputs, order=3, closure=3, keep_next_diagonal=False)
    for n in (1, 2, 3):
        assert np.allclose(odd.kappa(n), four.kappa(n), rtol=1e-12, atol=0), n
    assert abs(plain.kappa(2)[0, 0] / four.kappa(2)[0, 0] - 1) > 1e-4     # dropping kappa4 is visible


def test_independent_neurons_closure_3_with_the_diagonal_is_exact_without_it_is_not():
    """Independent pre-activations (diagonal first layer, independent Gaussian input) make the first
    nonlinearity's kappa4 exactly diagonal: closure 3 + diagonal then carries it exactly through the dense
    second linear layer, and the mean and covariance after the second nonlinearity equal quadrature."""
    model = _network([2, 2, 3, 2], seed=1, first=np.diag([0.9, -0.7]))
    mean, cov = np.array([0.2, -0.3]), np.diag([0.8, 0.5])
    reference = quadrature_cumulants(_function(model), [1.0], [mean], [cov], order=2, n_nodes=16)
    errors = {}
    for name, closure, keep in (("3", 3, False), ("3+diag", 3, True), ("4", 4, None)):
        out = _quiet_propagate(model, Cumulants(mean, cov), order=2, closure=closure, keep_next_diagonal=keep)
        errors[name] = max(np.max(np.abs(out.mean - reference.mean)), np.max(np.abs(out.cov - reference.cov)))
    assert errors["3+diag"] < 1e-10 and errors["4"] < 1e-10
    assert errors["3"] > 1e-3


def test_statuses_of_an_odd_closure_name_the_partial_order():
    model = _network([2, 3, 3, 2], seed=2)
    inputs = Cumulants(np.zeros(2), np.eye(2))
    trace = _quiet_propagate(model, inputs, order=3, closure=3, trace=True)
    walk = status_walk(model, inputs.exactness, 3, 3)
    assert "only the diagonal of order 4" in walk[1].status(4).reason
    for entry, profile in zip(trace, walk):
        assert [entry.status(n) for n in (1, 2, 3)] == [profile.status(n) for n in (1, 2, 3)]
    assert [trace[1].status(n).kind for n in (1, 2, 3)] == ["exact"] * 3       # Gaussian into one layer
    assert trace[3].status(1).kind == "exact"          # a quadratic's mean needs orders 1..2 only
    assert trace[3].status(2).kind == "approximate"
    assert "only the diagonal of order 4" in trace[3].status(2).reason


@pytest.mark.parametrize("keep", [True, False])
def test_an_input_kappa4_enters_an_odd_closure_through_its_diagonal(keep):
    from symcorr.numeric.distributions import gaussian_mixture

    model = _network([2, 3, 2], seed=4)
    x = gaussian_mixture([0.5, 0.5], [[1.0, 1.0], [-1.0, -1.0]], 0.25 * np.eye(2), order=4)
    trace = _quiet_propagate(model, x, order=3, closure=3, trace=True, keep_next_diagonal=keep)
    hidden = trace[0]
    assert hidden.order == 3                      # the returned orders; the partial one is carried inside
    cause = trace[1].status(2).reason
    assert ("only the diagonal of order 4" in cause) == keep
    assert ("closure 3 drops input order 4" in cause) == (not keep)


def test_an_odd_closure_run_one_higher_is_named_as_asked():
    """Where the kept diagonal of order 4 enters, closure 3 runs as closure 4: the cause names both, so that a
    user who asked for closure 3 does not read of a closure 4 they never asked for."""
    from symcorr.numeric.distributions import gaussian_mixture

    model = _network([2, 3, 3, 2], seed=4)
    x = gaussian_mixture([0.5, 0.5], [[1.0, 1.0], [-1.0, -1.0]], 0.25 * np.eye(2), order=4)
    result = _quiet_propagate(model, x, order=2, closure=3)
    reason = result.status(2).reason
    assert "closure 3 (run as 4: the kept diagonal of order 4 enters) drops input order" in reason
    assert "closure 4 drops" not in reason
