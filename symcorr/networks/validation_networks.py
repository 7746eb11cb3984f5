r"""The networks ``symcorr validate`` adds for torch's layers and the activation families.

* :data:`FAMILY_FACTORIES` -- one torch module per activation family: torch's own
  module where torch has one (``nn.ReLU``, ``nn.LeakyReLU(0.1)``, ``nn.GELU()``,
  ``nn.GELU('tanh')``, ``nn.Tanh``, ``nn.Sigmoid``, ``nn.SiLU``, ``nn.Softplus``,
  ``nn.ELU``), so the validation also checks the mapping of
  :mod:`symcorr.networks.torch_activations`; otherwise (``heaviside``, ``abs``,
  ``probit``, ``sin``, ``cos``) a module that evaluates the family's own
  :math:`\phi` elementwise (:class:`FamilyActivation`). A family this symcorr does
  not have is skipped, and :func:`missing_families` names it for the printed note.
* :func:`family_networks` -- for every available family, random MLPs of depth
  1..3 with Gaussian and Gaussian-mixture inputs
  (:class:`symcorr.networks.validation.NetworkSpec`).
* :class:`ConvNetworkSpec` -- ``Conv2d -> BatchNorm2d (eval) -> activation ->
  AvgPool2d -> Flatten -> Linear`` on ``(2, 8, 8)`` inputs: the spatial layers of
  :mod:`symcorr.networks.spatial` against Monte Carlo.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from symcorr.networks.modules import SymcorrActivation


def _torch_factory(class_name: str, *args):
    def factory():
        return getattr(nn, class_name)(*args)

    return factory


def _family_factory(name: str, **parameters):
    def factory():
        from symcorr.derivation import activations

        return FamilyActivation(activations.get(name, **parameters))

    return factory


#: one torch module per activation family (module docstring)
FAMILY_FACTORIES = {
    "relu": _torch_factory("ReLU"),
    "leaky_relu": _torch_factory("LeakyReLU", 0.1),
    "gelu": _torch_factory("GELU"),
    "gelu_tanh": _torch_factory("GELU", "tanh"),
    "tanh": _torch_factory("Tanh"),
    "sigmoid": _torch_factory("Sigmoid"),
    "silu": _torch_factory("SiLU"),
    "softplus": _torch_factory("Softplus"),
    "elu": _torch_factory("ELU"),
    "heaviside": _family_factory("heaviside"),
    "abs": _family_factory("abs"),
    "probit": _family_factory("probit"),
    "sin": _family_factory("sin"),
    "cos": _family_factory("cos"),
}


class FamilyActivation(SymcorrActivation):
    r"""A symcorr activation as a torch module, :math:`\phi` evaluated elementwise through its own
    NumPy function (float64, not differentiable): for the families torch has no module of."""

    def __init__(self, activation):
        super().__init__()
        self._activation = activation

    @property
    def activation(self):
        return self._activation

    def forward(self, x):
        values = self._activation(x.detach().cpu().double().numpy())
        return torch.from_numpy(values).to(dtype=x.dtype, device=x.device)

    def extra_repr(self) -> str:
        return str(self._activation)


def family_available(name: str) -> bool:
    """Whether this symcorr has the activation family behind ``FAMILY_FACTORIES[name]``."""
    from symcorr.derivation import activations
    from symcorr.networks.layers import rule_for

    if name not in FAMILY_FACTORIES:
        return name in activations.ACTIVATIONS
    try:
        module = FAMILY_FACTORIES[name]()
        rule_for(module).activation(module)
    except (ValueError, TypeError):
        return False
    return True


def missing_families() -> list[str]:
    """The families of :data:`FAMILY_FACTORIES` this symcorr does not have (yet)."""
    return [name for name in FAMILY_FACTORIES if not family_available(name)]


def family_networks(quick: bool = False) -> list:
    """MLPs for every available family of :data:`FAMILY_FACTORIES` (depth 1..3, Gaussian and mixture
    inputs, closure 2), and the convolutional networks of :class:`ConvNetworkSpec`; ``quick``: a ReLU
    MLP and a convolutional network only."""
    from symcorr.networks.validation import NetworkSpec

    available = [name for name in FAMILY_FACTORIES if family_available(name)]
    if quick:
        specs = [NetworkSpec("relu", 1, 16, "gaussian", 2, seed=6)] if "relu" in available else []
        return specs + [ConvNetworkSpec("quadratic", "gaussian", 2, seed=7)]
    specs = []
    for name in available:
        for depth, width in ((1, 32), (2, 16), (3, 8)):
            specs.append(NetworkSpec(name, depth, width, "gaussian", 2, seed=20 + depth))
        for depth, width in ((1, 16), (2, 8), (3, 8)):
            specs.append(NetworkSpec(name, depth, width, "mixture", 2, seed=30 + depth))
    for activation in ["quadratic", *(["relu"] if "relu" in available else [])]:
        for inputs in ("gaussian", "mixture"):
            specs.append(ConvNetworkSpec(activation, inputs, 2, seed=40))
    return specs


@dataclass(frozen=True)
class ConvNetworkSpec:
    r"""``Conv2d(2, channels, 3, padding=1) -> BatchNorm2d (eval) -> activation -> AvgPool2d(2) -> Flatten ->
    Linear(channels * 16, 4)`` on inputs of shape ``(2, 8, 8)`` (``input_shape``).

    Convolution weights :math:`N(0, g^2/18)`, biases :math:`N(0, 0.1^2)`; the batch norm's running
    statistics, scale and shift random (seeded). ``inputs``: ``'gaussian'`` (random mean and
    covariance of the 128 inputs) or ``'mixture'`` (two Gaussians); ``order`` the closure K.
    """

    activation: str
    inputs: str
    order: int
    seed: int = 0
    channels: int = 3
    gain: float = 1.0
    input_shape: tuple = (2, 8, 8)

    @property
    def name(self) -> str:
        return f"conv-{self.activation}-c{self.channels}-{self.inputs}-K{self.order}"

    def build(self, dtype=None):
        """``(model, sampler, input cumulants)`` as :meth:`symcorr.networks.validation.NetworkSpec.build`."""
        from symcorr.networks.validation import ACTIVATION_FACTORIES
        from symcorr.numeric.distributions import Gaussian, GaussianMixture

        generator = torch.Generator().manual_seed(2000 + self.seed)
        rng = np.random.default_rng(2000 + self.seed)
        c_in, height, width = self.input_shape
        d_in = c_in * height * width
        A = rng.normal(size=(d_in, d_in)) / math.sqrt(d_in)
        cov = 0.5 * (A @ A.T) + 0.2 * np.eye(d_in)
        if self.inputs == "gaussian":
            source = Gaussian(0.3 * rng.normal(size=d_in), cov)
        elif self.inputs == "mixture":
            centre = 0.6 * rng.normal(size=d_in)
            source = GaussianMixture([0.4, 0.6], [centre, -0.5 * centre], [cov, 0.5 * cov])
        else:
            raise ValueError(f"inputs must be 'gaussian' or 'mixture', got {self.inputs!r}")

        def normal(*shape, scale=1.0):
            return scale * torch.randn(*shape, generator=generator, dtype=torch.float64)

        conv = nn.Conv2d(c_in, self.channels, 3, padding=1, dtype=torch.float64)
        norm = nn.BatchNorm2d(self.channels, dtype=torch.float64)
        readout = nn.Linear(self.channels * (height // 2) * (width // 2), 4, dtype=torch.float64)
        with torch.no_grad():
            conv.weight.copy_(normal(*conv.weight.shape, scale=self.gain / math.sqrt(9 * c_in)))
            conv.bias.copy_(normal(self.channels, scale=0.1))
            norm.running_mean.copy_(normal(self.channels, scale=0.2))
            norm.running_var.copy_(0.5 + normal(self.channels).abs())
            norm.weight.copy_(1.0 + normal(self.channels, scale=0.2))
            norm.bias.copy_(normal(self.channels, scale=0.1))
            readout.weight.copy_(normal(*readout.weight.shape, scale=1 / math.sqrt(readout.in_features)))
            readout.bias.copy_(normal(4, scale=0.1))
        model = nn.Sequential(conv, norm, ACTIVATION_FACTORIES[self.activation](), nn.AvgPool2d(2), nn.Flatten(),
                              readout).eval()
        if dtype is not None:
            model = model.to(dtype)
        return model, source, source.cumulants(2)


__all__ = ["FAMILY_FACTORIES", "FamilyActivation", "ConvNetworkSpec", "family_networks", "family_available",
           "missing_families"]
