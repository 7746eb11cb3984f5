"""symcorr.networks.modules: torch activations tied to symcorr activations."""
import numpy as np
import pytest
import torch

from symcorr.derivation import activations
from symcorr.networks import modules as snn


def _same_activation(a, b, rtol):
    """Same family, parameters equal to ``rtol`` (a float32 module holds float32 parameters)."""
    assert a.name == b.name and a.expression == b.expression
    assert [n for n, _ in a.parameters] == [n for n, _ in b.parameters]
    np.testing.assert_allclose([v for _, v in a.parameters], [v for _, v in b.parameters], rtol=rtol)


@pytest.mark.parametrize("make_module, activation", [
    (lambda: snn.Quadratic(0.7), activations.quadratic(0.7)),
    (lambda: snn.Polynomial([0.1, 1.0, -0.3, 0.2]), activations.cubic(0.1, 1.0, -0.3, 0.2)),
    (lambda: snn.Polynomial([0.5, -1.0]), activations.polynomial([0.5, -1.0])),
    (lambda: snn.Erf(), activations.erf()),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_matches_the_symcorr_activation(make_module, activation, dtype):
    x = torch.linspace(-3, 3, 61, dtype=dtype)
    module = make_module().to(dtype)
    y = module(x)
    assert y.dtype == dtype and y.shape == x.shape
    tolerance = 1e-6 if dtype == torch.float32 else 1e-14
    # the module's activation (its current parameter values) is what the torch layer computes
    np.testing.assert_allclose(y.detach().double().numpy(), module.activation(x.double().numpy()),
                               rtol=tolerance, atol=tolerance)
    _same_activation(module.activation, activation, rtol=1e-7)


def test_parameters_are_learnable_and_the_activation_follows_them():
    module = snn.Quadratic(0.5)
    assert [name for name, _ in module.named_parameters()] == ["alpha"]
    x = torch.linspace(-1, 1, 11)
    module(x).pow(2).sum().backward()
    assert module.alpha.grad is not None and module.alpha.grad.abs() > 0
    with torch.no_grad():
        module.alpha.fill_(0.25)
    assert module.activation.parameter_values == {"alpha": 0.25}

    poly = snn.Polynomial([0.0, 1.0, 0.5])
    torch.optim.SGD(poly.parameters(), lr=0.1).zero_grad()
    poly(x).sum().backward()
    assert poly.coeffs.grad.shape == (3,)
    assert poly.degree == 2


def test_fixed_parameters_are_buffers_and_follow_dtype():
    module = snn.Quadratic(0.5, learnable=False)
    assert list(module.parameters()) == []
    assert "alpha" in module.state_dict()
    assert module.double().alpha.dtype == torch.float64
    assert snn.Polynomial([0, 1, 2], learnable=False).double().coeffs.dtype == torch.float64
    assert list(snn.Erf().parameters()) == []


def test_from_activation_round_trip():
    for activation in (activations.quadratic(0.3), activations.cubic(), activations.polynomial([1, 2, 3, 4, 5]),
                       activations.erf()):
        _same_activation(snn.from_activation(activation).activation, activation, rtol=1e-7)
        _same_activation(snn.from_activation(activation).double().activation, activation, rtol=1e-7)
    with pytest.raises(TypeError, match="symcorr Activation"):
        snn.from_activation("erf")


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="alpha must be finite"):
        snn.Quadratic(float("nan"))
    with pytest.raises(ValueError, match="degree >= 1"):
        snn.Polynomial([1.0])
    with pytest.raises(ValueError, match="coeffs must be finite"):
        snn.Polynomial([0.0, float("inf")])
