"""Layer rules: spatial layers exact against their Jacobians, shape bookkeeping, eval-mode checks,
torch activations mapped to symcorr families, input shapes and memory bounds."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from symcorr.derivation import activations
from symcorr.networks import modules as snn
from symcorr.networks import spatial
from symcorr.networks.layers import rule_for
from symcorr.networks.propagation import layers, propagate
from symcorr.networks.torch_activations import torch_activation
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.distributions import gaussian_mixture
from symcorr.numeric.linear import linear

needs_relu = pytest.mark.skipif("relu" not in activations.ACTIVATIONS, reason="needs the activation families")


def _random_cumulants(dim, order, seed):
    """A two-component Gaussian mixture in ``dim`` dimensions: non-zero cumulants of every order."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(dim, dim)) / math.sqrt(dim)
    cov = A @ A.T + 0.1 * np.eye(dim)
    centre = rng.normal(size=dim)
    return gaussian_mixture([0.3, 0.7], [centre, -0.4 * centre], [cov, 0.5 * cov], order=order)


def _randomize(module, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
        for name, buffer in module.named_buffers():
            if buffer.is_floating_point():
                values = torch.randn(buffer.shape, generator=generator, dtype=buffer.dtype)
                buffer.copy_(values.abs() + 0.5 if "var" in name else values)
    return module.eval()


def _affine_map(block, shape):
    """``(J, b)`` of an affine torch block on features of ``shape``: the Jacobian by autograd (reverse mode,
    independent of symcorr's forward-on-the-basis construction) and the response to zero."""
    n_in = math.prod(shape)

    def flat(x):
        return block(x.reshape(1, *shape)).reshape(-1)

    zero = torch.zeros(n_in, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(flat, zero)
    return J.numpy(), flat(zero).detach().numpy()


def _assert_close(a, b, order, rtol=1e-12):
    for n in range(1, order + 1):
        scale = max(1.0, float(np.max(np.abs(b.kappa(n)))))
        assert float(np.max(np.abs(a.kappa(n) - b.kappa(n)))) < rtol * scale, n


SPATIAL_LAYERS = [
    ((2, 7), lambda: nn.Conv1d(2, 4, 3, stride=2, padding=1, dilation=2, groups=2, padding_mode="reflect")),
    ((2, 6), lambda: nn.Conv1d(2, 3, 3, padding="same", padding_mode="replicate", bias=False)),
    ((2, 4, 4), lambda: nn.Conv2d(2, 4, 3, stride=2, padding=2, groups=2, padding_mode="circular")),
    ((1, 4, 5), lambda: nn.Conv2d(1, 2, (3, 3), padding="same", dilation=(2, 1))),
    ((2, 4, 3), lambda: nn.Conv2d(2, 2, 2, stride=(2, 1), padding="valid")),
    ((2, 2, 2), lambda: nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1, output_padding=1)),
    ((1, 3, 3, 3), lambda: nn.Conv3d(1, 2, 2)),
    ((2, 7), lambda: nn.AvgPool1d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((1, 5, 5), lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)),
    ((1, 4, 5), lambda: nn.AvgPool2d(2, divisor_override=3)),
    ((1, 5, 4), lambda: nn.AdaptiveAvgPool2d((3, 2))),
    ((3, 7), lambda: nn.AdaptiveAvgPool1d(4)),
    ((3,), lambda: nn.BatchNorm1d(3)),
    ((3, 4), lambda: nn.BatchNorm1d(3, affine=False)),
    ((2, 3, 3), lambda: nn.BatchNorm2d(2)),
]


@pytest.mark.parametrize("shape, make", SPATIAL_LAYERS, ids=[repr(make()) for _, make in SPATIAL_LAYERS])
def test_spatial_layers_are_exact_affine_maps_at_every_order(shape, make):
    layer = _randomize(make().double(), seed=sum(shape))
    inputs = _random_cumulants(math.prod(shape), 4, seed=len(shape))
    out = propagate(layer, inputs, order=4, input_shape=shape)
    J, b = _affine_map(layer, shape)
    _assert_close(out, linear(inputs, J, b), 4)
    # and the mean is the layer applied to the mean (an affine map commutes with expectation)
    with torch.no_grad():
        direct = layer(torch.from_numpy(inputs.mean).reshape(1, *shape)).reshape(-1).numpy()
    np.testing.assert_allclose(out.mean, direct, rtol=1e-12, atol=1e-12)


def _conv_network(activation, channels=2):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), activation,
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(channels * 16, 3)).double()
    _randomize(model[1], seed=3)
    return model.eval()


def _flattened(model, shape):
    """The same network with each affine block (conv -> batch norm; pool -> flatten -> linear) one nn.Linear."""
    first, second = model[:2], model[3:]
    J1, b1 = _affine_map(first, shape)
    J2, b2 = _affine_map(second, (J1.shape[0] // 64, 8, 8))
    flat = nn.Sequential(nn.Linear(J1.shape[1], J1.shape[0]), model[2], nn.Linear(J2.shape[1], J2.shape[0])).double()
    with torch.no_grad():
        for linear_layer, J, b in ((flat[0], J1, b1), (flat[2], J2, b2)):
            linear_layer.weight.copy_(torch.from_numpy(J))
            linear_layer.bias.copy_(torch.from_numpy(b))
    return flat


@pytest.mark.parametrize("inputs", ["gaussian", "mixture"])
def test_conv_batchnorm_pool_network_equals_its_flattened_linear_form(inputs):
    """Conv2d -> BatchNorm2d (eval) -> activation -> AvgPool2d -> Flatten -> Linear on 8x8 inputs equals the
    network with each affine block one nn.Linear, to 1e-12 at every order carried (here 1..3)."""
    model = _conv_network(snn.Quadratic(0.4, learnable=False))
    cumulants = _random_cumulants(64, 3, seed=5)
    if inputs == "gaussian":
        cumulants = cumulants.truncated(2)
    theory = propagate(model, cumulants, order=3, input_shape=(1, 8, 8), trace=True)
    reference = propagate(_flattened(model, (1, 8, 8)), cumulants, order=3, trace=True)
    for ours, theirs in zip((theory[1], theory[2], theory[5]), reference):
        _assert_close(ours, theirs, 3)


@needs_relu
def test_conv_network_with_relu_equals_its_flattened_linear_form():
    model = _conv_network(nn.ReLU())
    cumulants = _random_cumulants(64, 2, seed=6).truncated(2)
    theory = propagate(model, cumulants, order=2, input_shape=(1, 8, 8))
    _assert_close(theory, propagate(_flattened(model, (1, 8, 8)), cumulants, order=2), 2)


def test_flatten_and_unflatten_with_any_dims_keep_the_features():
    model = nn.Sequential(nn.Unflatten(1, (2, -1, 4)), nn.Flatten(2, 3), nn.Unflatten(-1, (3, 4)), nn.Flatten(-2),
                          nn.Flatten())
    inputs = _random_cumulants(24, 3, seed=7)
    trace = propagate(model, inputs, order=3, trace=True)
    x = torch.zeros(5, 24)
    for depth, out in enumerate(trace, start=1):
        assert out.dim == model[:depth](x)[0].numel()
        for n in range(1, 4):
            np.testing.assert_array_equal(out.kappa(n), inputs.kappa(n))
    for bad, message in [(nn.Flatten(0), "start_dim=0, the batch axis"), (nn.Unflatten(0, (1, 24)), "dim=0"),
                         (nn.Unflatten(1, (5, -1)), "cannot split 24"), (nn.Flatten(1, 4), "out of range")]:
        with pytest.raises(ValueError, match=message):
            propagate(bad, inputs)
    with pytest.raises(ValueError, match=r"layer 1 \(Linear\) receives features of shape \(2, 12\).*nn.Flatten"):
        propagate(nn.Sequential(nn.Unflatten(1, (2, 12)), nn.Linear(12, 2)), inputs)


def test_eval_mode_layers_and_their_training_mode_refusal():
    inputs = _random_cumulants(4, 3, seed=8)
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3), nn.BatchNorm1d(4), nn.AlphaDropout(0.2)).double()
    _randomize(model, seed=9)
    J, b = _affine_map(model, (4,))
    _assert_close(propagate(model, inputs, order=3), linear(inputs, J, b), 3)
    model.train()
    with pytest.raises(ValueError, match=r"layer 1 \(Dropout\) is in training mode.*model.eval\(\)"):
        propagate(model, inputs)
    model[1].eval()
    with pytest.raises(ValueError, match=r"layer 2 \(BatchNorm1d\) is in training mode.*model.eval\(\)"):
        propagate(model, inputs)
    with pytest.raises(ValueError, match="track_running_stats=False"):
        propagate(nn.BatchNorm1d(4, track_running_stats=False).eval(), inputs)
    assert propagate(nn.Dropout(0.0).train(), inputs).dim == 4  # p = 0 is the identity even in training
    with pytest.raises(ValueError, match="expects 3 channels"):
        propagate(nn.BatchNorm1d(3).eval(), inputs, input_shape=(2, 2))
    lazy = nn.LazyConv1d(2, 1)
    with pytest.raises(ValueError, match=r"uninitialized \(lazy\) parameters"):
        propagate(lazy, inputs, input_shape=(2, 2))
    assert not hasattr(lazy, "in_channels") or lazy.in_channels == 0  # the model was not touched


def test_input_shape_is_inferred_when_unambiguous_and_asked_for_otherwise():
    inputs = _random_cumulants(12, 2, seed=10)
    conv = _randomize(nn.Conv1d(3, 2, 2).double(), seed=11)
    inferred = propagate(nn.Sequential(nn.Identity(), conv), inputs)
    np.testing.assert_array_equal(inferred.cov, propagate(conv, inputs, input_shape=(3, 4)).cov)
    with pytest.raises(ValueError, match=r"layer 0 \(Conv2d\).*input_shape=\(3, 2, 2\)"):
        propagate(nn.Conv2d(3, 1, 1), inputs)
    with pytest.raises(ValueError, match=r"layer 1 \(Conv1d\).*flat vector of 6.*nn.Unflatten"):
        propagate(nn.Sequential(nn.Linear(12, 6), nn.Conv1d(3, 1, 1)), inputs)
    with pytest.raises(ValueError, match="product is the 12 input features"):
        propagate(conv, inputs, input_shape=(3, 5))
    with pytest.raises(ValueError, match=r"AvgPool2d\) cannot act on features of shape \(3, 4, 1\)"):
        propagate(nn.AvgPool2d(2), inputs, input_shape=(3, 4, 1))


def test_explicit_matrices_state_their_memory_and_refuse_above_the_bound(monkeypatch):
    monkeypatch.setattr(spatial, "MATRIX_MEMORY_LIMIT", 2**20)
    inputs = Cumulants(np.zeros(32 * 32), np.eye(32 * 32), check=False)
    with pytest.raises(ValueError, match=r"layer 0 \(Conv2d\) as an explicit linear map from \(1, 32, 32\) to "
                                         r"\(4, 32, 32\) features is a 4096 x 1024 float64 matrix of 32.0 MiB, "
                                         r"above the bound of 1.0 MiB"):
        propagate(nn.Conv2d(1, 4, 3, padding=1), inputs, input_shape=(1, 32, 32))
    assert spatial.matrix_bytes(3072, 12288) == 8 * 3072 * 12288


def test_torch_activations_map_to_families_by_name(monkeypatch):
    calls = []

    def constructor(name):
        def make(**parameters):
            calls.append((name, parameters))
            return activations.quadratic(0.0)
        return make

    names = ["relu", "leaky_relu", "gelu", "gelu_tanh", "tanh", "sigmoid", "silu", "softplus", "elu"]
    monkeypatch.setattr(activations, "ACTIVATIONS", {name: constructor(name) for name in names})
    modules = [nn.ReLU(), nn.LeakyReLU(0.2), nn.GELU(), nn.GELU("tanh"), nn.Tanh(), nn.Sigmoid(), nn.SiLU(),
               nn.Softplus(beta=2.0), nn.ELU(alpha=0.5)]
    for module in modules:
        torch_activation(module)
        assert rule_for(module).kind == "pointwise"
    assert calls == [("relu", {}), ("leaky_relu", {"slope": 0.2}), ("gelu", {}), ("gelu_tanh", {}), ("tanh", {}),
                     ("sigmoid", {}), ("silu", {}), ("softplus", {"beta": 2.0}), ("elu", {"alpha": 0.5})]
    # without gelu_tanh, the tanh approximation is asked of gelu
    monkeypatch.setattr(activations, "ACTIVATIONS", {"gelu": constructor("gelu")})
    torch_activation(nn.GELU("tanh"))
    assert calls[-1] == ("gelu", {"approximate": "tanh"})
    with pytest.raises(ValueError, match=r"threshold=5.*exp\(-threshold\)/\|beta\| = 0.0067"):
        torch_activation(nn.Softplus(threshold=5))


def test_a_missing_family_is_named_before_any_work(monkeypatch):
    monkeypatch.setattr(activations, "ACTIVATIONS", {"quadratic": activations.quadratic})
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    with pytest.raises(ValueError, match=r"layer 1 \(Tanh\) needs the activation family 'tanh', which is not "
                                         r"available in this symcorr \(symcorr.activations has quadratic\)"):
        propagate(model, Cumulants([0.0, 0.0], np.eye(2)))


def test_unsupported_modules_are_named_with_the_reason():
    inputs = Cumulants(np.zeros(4), np.eye(4))
    for module, reason in [(nn.MaxPool1d(2), "max pooling"), (nn.LayerNorm(4), "layer norm"),
                           (nn.Softmax(dim=1), "softmax couples"), (nn.Hardtanh(), "propagate handles")]:
        with pytest.raises(TypeError, match=f"unsupported module {type(module).__name__} .*{reason}"):
            propagate(nn.Sequential(nn.Identity(), module), inputs)
    assert [name for name, _ in layers(nn.Sequential(nn.Dropout(), nn.Sequential(nn.ReLU())))] == ["0", "1.0"]
