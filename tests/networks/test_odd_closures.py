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
from symcorr.numeric.cumulant_tensors import RankOneSum, ZeroTensor, dense_slice
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
