"""propagate(): torch networks against Gauss-Hermite quadrature, layer walking, errors."""

import numpy as np
import pytest
import torch
from torch import nn

import symcorr
import symcorr.numeric.cumulants as cumulants_module
from symcorr.networks import modules as snn
from symcorr.networks.modules import mlp
from symcorr.networks.propagation import layers, propagate
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.distributions import gaussian_mixture
from symcorr.numeric.linear import linear
from symcorr.numeric.quadrature import quadrature_cumulants


def _as_function(model):
    def function(points):
        with torch.no_grad():
            return model(torch.from_numpy(points)).numpy()
    return function


def _max_error(a, b):
    return max(float(np.max(np.abs(a.mean - b.mean))), float(np.max(np.abs(a.cov - b.cov))))


def test_depth2_quadratic_gaussian_order4_equals_quadrature():
    """Hidden cumulants 1..4 are exact behind the first quadratic layer, so the output mean and
    covariance of a depth-2 quadratic network are exact (docs/theory.md section 5)."""
    model = mlp([2, 5, 4, 3], lambda: snn.Quadratic(0.5), bias_std=0.2, seed=0)
    mean, cov = np.array([0.3, -0.2]), np.array([[1.0, 0.4], [0.4, 0.7]])
    theory = symcorr.propagate(model, Cumulants(mean, cov), order=4)
    reference = quadrature_cumulants(_as_function(model), [1.0], [mean], [cov], order=2, n_nodes=12)
    assert np.max(np.abs(reference.cov)) > 0.1  # a non-trivial covariance
    assert _max_error(theory, reference) < 1e-10
    # the Gaussian closure is not exact here: the comparison can fail
    assert _max_error(propagate(model, Cumulants(mean, cov), order=2), reference) > 1e-3


def test_xor_class_one_hidden_layer_order4_equals_quadrature():
    """The XOR class (clusters at (1,1), (-1,-1)) given by its exact cumulants up to order 4."""
    weights, means, covs = [0.5, 0.5], [[1.0, 1.0], [-1.0, -1.0]], [0.09 * np.eye(2)] * 2
    model = mlp([2, 6, 2], lambda: snn.Quadratic(0.7), bias_std=0.2, seed=1)
    inputs = gaussian_mixture(weights, means, covs, order=4)
    theory = propagate(model, inputs, order=4)
    reference = quadrature_cumulants(_as_function(model), weights, means, covs, order=2, n_nodes=12)
    assert _max_error(theory, reference) < 1e-10
    # dropping the input's fourth cumulant (order=2) gets the mean right but not the covariance
    gaussian = propagate(model, inputs, order=2)
    assert np.max(np.abs(gaussian.mean - reference.mean)) < 1e-10
    assert np.max(np.abs(gaussian.cov - reference.cov)) > 1e-2


def test_cubic_one_hidden_layer_matches_quadrature_for_every_trace_entry():
    model = mlp([2, 4, 2], lambda: snn.Polynomial([0.1, 1.0, 0.3, 0.2]), bias_std=0.2, seed=2)
    mean, cov = np.array([0.1, 0.2]), np.array([[0.8, -0.3], [-0.3, 0.5]])
    trace = propagate(model, Cumulants(mean, cov), order=2, trace=True)
    assert len(trace) == 3
    for depth, theory in enumerate(trace, start=1):
        reference = quadrature_cumulants(_as_function(model[:depth]), [1.0], [mean], [cov], order=2, n_nodes=12)
        assert _max_error(theory, reference) < 1e-10


def test_linear_only_network_is_exact_at_every_order_and_pass_through_modules():
    inputs = gaussian_mixture([0.3, 0.7], [[1.0, 0.0], [-0.5, 0.2]], 0.2 * np.eye(2), order=4)
    model = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(2, 3), nn.Identity()), nn.Linear(3, 2)).double()
    assert [name for name, _ in layers(model)] == ["0", "1.0", "1.1", "2"]
    out = propagate(model, inputs, order=4)
    W1, b1 = model[1][0].weight.detach().numpy(), model[1][0].bias.detach().numpy()
    W2, b2 = model[2].weight.detach().numpy(), model[2].bias.detach().numpy()
    expected = linear(linear(inputs, W1, b1), W2, b2)
    for n in range(1, 5):
        np.testing.assert_allclose(out.kappa(n), expected.kappa(n), rtol=1e-13, atol=1e-15)


def test_float32_model_is_propagated_in_float64_without_modification():
    model32 = mlp([2, 4, 2], lambda: snn.Quadratic(0.5), bias_std=0.2, seed=3, dtype=torch.float32)
    model64 = mlp([2, 4, 2], lambda: snn.Quadratic(0.5), bias_std=0.2, seed=3, dtype=torch.float32).double()
    inputs = Cumulants([0.1, 0.2], [[1.0, 0.2], [0.2, 0.5]])
    a, b = propagate(model32, inputs, order=3), propagate(model64, inputs, order=3)
    assert next(model32.parameters()).dtype == torch.float32
    for n in range(1, 4):
        assert a.kappa(n).dtype == np.float64
        np.testing.assert_array_equal(a.kappa(n), b.kappa(n))


def test_closure_truncates_the_input_and_trace_has_one_entry_per_layer():
    inputs = gaussian_mixture([0.5, 0.5], [[1.0, 1.0], [-1.0, -1.0]], 0.1 * np.eye(2), order=4)
    model = mlp([2, 3, 3, 2], lambda: snn.Quadratic(0.3), bias_std=0.2, seed=4)
    trace = propagate(model, inputs, order=2, trace=True)
    assert len(trace) == len(layers(model)) == 5
    assert all(t.order == 2 for t in trace)
    assert [t.dim for t in trace] == [3, 3, 3, 3, 2]
    again = propagate(model, inputs.truncated(2), order=2)
    np.testing.assert_array_equal(trace[-1].cov, again.cov)


def test_input_is_checked_once_not_per_layer(monkeypatch):
    inputs = Cumulants([0.1, 0.2], [[1.0, 0.2], [0.2, 0.5]])
    calls = []
    original = cumulants_module._check_tensors
    monkeypatch.setattr(cumulants_module, "_check_tensors", lambda t: (calls.append(1), original(t)))
    propagate(mlp([2, 8, 8, 8, 2], lambda: snn.Quadratic(0.3), bias_std=0.2, seed=5), inputs, order=4)
    assert calls == []


def test_symcorr_propagate_is_the_function_after_importing_its_module():
    import symcorr.networks.propagation

    model = mlp([2, 3, 2], lambda: snn.Quadratic(0.3), bias_std=0.2, seed=6)
    inputs = Cumulants([0.0, 0.0], np.eye(2))
    np.testing.assert_array_equal(symcorr.propagate(model, inputs).cov, propagate(model, inputs).cov)


def test_errors_name_the_problem():
    inputs = Cumulants([0.0, 0.0], np.eye(2))
    with pytest.raises(TypeError, match=r"layer 1 is an unsupported module LayerNorm .*its own statistics"):
        propagate(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)), inputs)
    with pytest.raises(ValueError, match=r"layer 2 \(Linear\) expects 3 inputs but receives 4"):
        propagate(nn.Sequential(nn.Linear(2, 4), snn.Quadratic(), nn.Linear(3, 1)), inputs)
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\) expects 3 inputs but receives 2"):
        propagate(nn.Linear(3, 1), inputs)
    with pytest.raises(ValueError, match="start_dim=0, the batch axis"):
        propagate(nn.Sequential(nn.Flatten(0)), inputs)
    with pytest.raises(ValueError, match="order .* must be an integer >= 2"):
        propagate(nn.Sequential(nn.Linear(2, 2)), inputs, order=1)
    with pytest.raises(TypeError, match="must be a symcorr.Cumulants"):
        propagate(nn.Sequential(nn.Linear(2, 2)), np.eye(2))
    with pytest.raises(TypeError, match="torch nn.Module"):
        propagate([nn.Linear(2, 2)], inputs)
    bad = nn.Sequential(nn.Linear(2, 2)).double()
    with torch.no_grad():
        bad[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\): W has a non-finite entry"):
        propagate(bad, inputs)


def test_order_and_closure_mean_what_they_mean_for_pointwise():
    """``order`` is what is returned, ``closure`` what every pointwise layer keeps (docs/theory.md
    section 9): mean and covariance behind two quadratic layers of a Gaussian are exact with closure 4."""
    model = mlp([2, 5, 4, 3], lambda: snn.Quadratic(0.5), bias_std=0.2, seed=0)
    mean, cov = np.array([0.3, -0.2]), np.array([[1.0, 0.4], [0.4, 0.7]])
    theory = propagate(model, Cumulants(mean, cov), order=2, closure=4)
    assert theory.order == 2
    reference = quadrature_cumulants(_as_function(model), [1.0], [mean], [cov], order=2, n_nodes=12)
    assert _max_error(theory, reference) < 1e-10
    trace = propagate(model, Cumulants(mean, cov), order=2, closure=4, trace=True)
    assert [entry.order for entry in trace] == [2, 2, 2, 2, 2]
    assert _max_error(trace[-1], theory) == 0.0
    assert _max_error(propagate(model, Cumulants(mean, cov), order=2, closure=2), reference) > 1e-3
