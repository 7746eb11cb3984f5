"""Models that are not nn.Sequential: traced with torch.fx into a chain, or refused naming the operation."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from symcorr.networks import modules as snn
from symcorr.networks.montecarlo import monte_carlo
from symcorr.networks.propagation import layers, propagate
from symcorr.networks.tracing import FeatureReshape, layer_chain
from symcorr.numeric.cumulants import Cumulants
from symcorr.numeric.distributions import Gaussian


class ChainNet(nn.Module):
    """A forward that is a chain: submodules, functional calls and reshapes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(2, 3, 3, padding=1)
        self.act = snn.Quadratic(0.3, learnable=False)
        self.head = nn.Sequential(nn.Linear(12, 5), nn.Dropout(0.5))
        self.out = nn.Linear(5, 2)

    def forward(self, x):
        x = x.view(x.size(0), 2, 4)
        x = self.act(self.conv(x))
        x = torch.flatten(x, 1)
        x = torch.erf(self.head(x).contiguous())
        x = F.dropout(x, 0.2, training=self.training)
        return self.out(x.reshape(x.shape[0], -1))


def _sequential_twin(model):
    return nn.Sequential(nn.Unflatten(1, (2, 4)), model.conv, model.act, nn.Flatten(), model.head[0],
                         model.head[1], nn.Identity(), snn.Erf(), nn.Dropout(0.2), nn.Flatten(), model.out).eval()


def _gaussian(dim, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    return Gaussian(0.3 * rng.normal(size=dim), A @ A.T + 0.2 * np.eye(dim))


def test_a_chain_forward_is_traced_into_layers_and_propagated_like_its_sequential_twin():
    model = ChainNet().double().eval()
    entries = layers(model)
    assert [name for name, _ in entries] == ["view", "conv", "act", "flatten", "head.0", "head.1", "contiguous",
                                             "erf", "dropout", "reshape", "out"]
    assert isinstance(entries[0][1], FeatureReshape) and entries[0][1].sizes == (2, 4)
    assert entries[2][1] is model.act and entries[4][1] is model.head[0]
    cumulants = _gaussian(8, seed=1).cumulants(2)
    ours = propagate(model, cumulants, order=2, trace=True)
    twin = propagate(_sequential_twin(model), cumulants, order=2, trace=True)
    assert len(ours) == len(twin) == 11
    for a, b in zip(ours, twin):
        np.testing.assert_array_equal(a.cov, b.cov)
    with torch.no_grad():
        x = torch.randn(7, 8, dtype=torch.float64)
        torch.testing.assert_close(model(x), _sequential_twin(model)(x), rtol=0, atol=0)
    # in training mode the traced F.dropout is refused like nn.Dropout
    with pytest.raises(ValueError, match=r"layer head.1 \(Dropout\) is in training mode.*model.eval\(\)"):
        propagate(model.train(), cumulants)


def test_monte_carlo_runs_the_traced_graph_and_agrees_with_propagate():
    model = ChainNet().double().eval()
    source = _gaussian(8, seed=2)
    recorded = []
    layer_chain(model).run(torch.randn(3, 8, dtype=torch.float64), lambda l, x: recorded.append((l, x.shape)))
    assert [l for l, _ in recorded] == list(range(11)) and recorded[0][1] == (3, 2, 4)
    mc = monte_carlo(model, source, 2**15, 2, groups=32)
    theory = propagate(model, source.cumulants(2), order=2, trace=True)
    assert len(mc) == len(theory) == 11
    # the first quadratic layer of a Gaussian is exact in mean and covariance (z-scores of a
    # correct result; 64 entries per layer, a bound of 6 is never reached by chance here)
    for l in range(3):
        for n in (1, 2):
            assert np.max(np.abs(mc[l].z_scores(theory[l], n))) < 6.0


def test_layers_of_a_sequential_with_a_custom_block():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 3)

        def forward(self, x):
            return torch.tanh(self.linear(x))

    model = nn.Sequential(nn.Linear(2, 3), Block(), nn.Sequential(Block()))
    names = [name for name, _ in layers(model)]
    assert names == ["0", "1.linear", "1.tanh", "2.0.linear", "2.0.tanh"]
    assert isinstance(layers(model)[2][1], nn.Tanh)


def test_functional_activations_become_their_modules():
    class Functional(nn.Module):
        def forward(self, x):
            x = F.leaky_relu(x, 0.2)
            x = F.gelu(x, approximate="tanh")
            x = F.softplus(x, beta=2.0, threshold=30.0)
            x = F.elu(x, alpha=0.5)
            x = torch.relu(F.relu(x).relu())
            return torch.sigmoid(F.silu(x.tanh()))

    modules = [module for _, module in layers(Functional())]
    assert [type(m).__name__ for m in modules] == ["LeakyReLU", "GELU", "Softplus", "ELU", "ReLU", "ReLU", "ReLU",
                                                   "Tanh", "SiLU", "Sigmoid"]
    assert modules[0].negative_slope == 0.2 and modules[1].approximate == "tanh"
    assert (modules[2].beta, modules[2].threshold, modules[3].alpha) == (2.0, 30.0, 0.5)

    class FunctionalDropout(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.3, training=self.training)

    inputs = Cumulants(np.zeros(2), np.eye(2))
    assert propagate(FunctionalDropout().eval(), inputs).dim == 2
    with pytest.raises(ValueError, match=r"layer dropout \(Dropout\) is in training mode, .* p=0.3"):
        propagate(FunctionalDropout().train(), inputs)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return x + self.linear(x)


class MaxPooled(nn.Module):
    def forward(self, x):
        return F.max_pool1d(x.view(x.size(0), 1, 4), 2)


class PoolModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool1d(2)

    def forward(self, x):
        return self.pool(x.view(-1, 1, 4))


class Normed(nn.Module):
    def forward(self, x):
        return F.layer_norm(x, (4,))


class Attention(nn.Module):
    def forward(self, x):
        q = x.view(x.size(0), 2, 2)
        return F.scaled_dot_product_attention(q, q, q)


class Branching(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        self.a(x)
        return self.b(x)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, x):
        return x * self.scale


class DataDependent(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


@pytest.mark.parametrize("model, message", [
    (Residual(), (r"node 'add' of the traced forward \(call_function add \(addition \(e.g. a residual connection\)\)\) "
                  r"combines the outputs 'x', 'linear'")),
    (MaxPooled(), r"node 'max_pool1d' .*max_pool1d \(max pooling\)\) is not supported"),
    (PoolModule(), r"node 'pool' of the traced forward \(module pool\) is an unsupported module MaxPool1d .*max pooling"),
    (Normed(), r"node 'layer_norm' .*layer_norm \(layer norm\)\) is not supported"),
    (Attention(), r"node 'scaled_dot_product_attention' .*\(attention\)\) is not supported"),
    (Branching(), r"node 'b' .*takes 'x' rather than the output of the previous layer 'a' \(the forward branches\)"),
    (Scaled(), r"node 'scale' .*get_attr scale\) uses a parameter or buffer of the model directly"),
    (DataDependent(), r"DataDependent is not an nn.Sequential and torch.fx cannot trace its forward"),
], ids=lambda value: type(value).__name__ if isinstance(value, nn.Module) else "")
def test_anything_but_a_chain_is_refused_naming_the_operation(model, message):
    with pytest.raises(TypeError, match=message):
        propagate(model, Cumulants(np.zeros(4), np.eye(4)))


def test_reshapes_must_keep_the_batch():
    class Wrong(nn.Module):
        def forward(self, x):
            return x.view(-1, 2)

    class Computed(nn.Module):
        def forward(self, x):
            return x.view(x.size(1), -1)

    with pytest.raises(ValueError, match=r"reshapes to \(-1, 2\) but each sample has 4 features"):
        propagate(Wrong(), Cumulants(np.zeros(4), np.eye(4)))
    with pytest.raises(TypeError, match="reshapes with sizes other than the batch size"):
        layers(Computed())
