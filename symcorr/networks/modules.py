r"""Torch activation modules tied to symcorr activations.

Each module computes :math:`\phi` elementwise in torch (differentiable, any
dtype and device) and exposes :attr:`SymcorrActivation.activation`, the
:class:`symcorr.derivation.activations.Activation` with the module's *current*
parameter values, which :func:`symcorr.propagate` uses to move cumulants
through the layer (docs/theory.md sections 4-6):

* :class:`Quadratic` -- :math:`\phi(z) = z + \alpha z^2` (the paper's), :math:`\alpha` learnable;
* :class:`Polynomial` -- :math:`\phi(z) = \sum_{k=0}^{d} a_k z^k`, the :math:`a_k` learnable;
* :class:`Erf` -- :math:`\phi(z) = \operatorname{erf}(z)` (no parameters: a scale
  :math:`\operatorname{erf}(\beta z)` belongs in the preceding ``nn.Linear``).

Parameters are created in torch's default dtype and follow ``.double()`` /
``.to(...)`` like any module parameter; pass ``learnable=False`` to keep them
fixed (they are then buffers, saved in the ``state_dict`` but not trained).

:func:`mlp` builds the seeded ``nn.Sequential`` of ``nn.Linear`` layers and
these activations that the validation, the experiments, the tests and the
benchmarks use.
"""
from __future__ import annotations

import math

from symcorr.derivation import activations
from symcorr.networks import require_torch

torch = require_torch("symcorr.nn")
from torch import nn  # noqa: E402 - after the check that names the missing dependency


def _finite_tensor(name: str, value, shape=None) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
    if shape is not None and tuple(tensor.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
    if not torch.all(torch.isfinite(tensor)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return tensor


class SymcorrActivation(nn.Module):
    """Base class of the torch activations :func:`symcorr.propagate` understands."""

    @property
    def activation(self) -> activations.Activation:  # pragma: no cover - abstract
        """The symcorr :class:`~symcorr.derivation.activations.Activation` with the current parameter values."""
        raise NotImplementedError

    def _register(self, name: str, tensor: torch.Tensor, learnable: bool) -> None:
        if learnable:
            self.register_parameter(name, nn.Parameter(tensor))
        else:
            self.register_buffer(name, tensor)


class Quadratic(SymcorrActivation):
    r""":math:`\phi(z) = z + \alpha z^2` elementwise; ``alpha`` is a learnable scalar unless ``learnable=False``."""

    def __init__(self, alpha: float = 1.0, learnable: bool = True):
        super().__init__()
        self._register("alpha", _finite_tensor("alpha", float(alpha), ()), learnable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.alpha * (x * x)

    @property
    def activation(self) -> activations.Activation:
        return activations.quadratic(float(self.alpha.detach()))

    def extra_repr(self) -> str:
        return f"alpha={float(self.alpha.detach()):g}"


class Polynomial(SymcorrActivation):
    r""":math:`\phi(z) = \sum_{k=0}^{d} a_k z^k` with ``coeffs = [a_0, ..., a_d]`` (``d >= 1``), learnable.

    Evaluated by Horner's rule. Degree 3 corresponds to the symcorr family ``cubic``.
    """

    def __init__(self, coeffs, learnable: bool = True):
        super().__init__()
        coeffs = _finite_tensor("coeffs", [float(c) for c in coeffs])
        if coeffs.ndim != 1 or coeffs.shape[0] < 2:
            raise ValueError(f"Polynomial needs coefficients [a0, a1, ...] (degree >= 1), got {coeffs.tolist()}")
        self._register("coeffs", coeffs, learnable)

    @property
    def degree(self) -> int:
        return self.coeffs.shape[0] - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.coeffs
        out = c[-1] * x + c[-2]
        for k in range(c.shape[0] - 3, -1, -1):
            out = out * x + c[k]
        return out

    @property
    def activation(self) -> activations.Activation:
        return activations.polynomial(self.coeffs.detach().cpu().double().tolist())

    def extra_repr(self) -> str:
        return "coeffs=[" + ", ".join(f"{c:g}" for c in self.coeffs.detach().tolist()) + "]"


class Erf(SymcorrActivation):
    r""":math:`\phi(z) = \operatorname{erf}(z)` elementwise (no parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)

    @property
    def activation(self) -> activations.Activation:
        return activations.erf()


def from_activation(activation: activations.Activation, learnable: bool = True) -> SymcorrActivation:
    """The torch module of a symcorr activation (``quadratic``, polynomial families, ``erf``)."""
    if not isinstance(activation, activations.Activation):
        raise TypeError(f"expected a symcorr Activation, got {type(activation).__name__}")
    values = activation.parameter_values
    if activation.name == "quadratic":
        return Quadratic(values["alpha"], learnable=learnable)
    if activation.name == "erf":
        return Erf()
    coefficients = [values.get(f"a{k}") for k in range(len(values))]
    if values and None not in coefficients and activation == activations.polynomial(coefficients):
        return Polynomial(coefficients, learnable=learnable)
    raise ValueError(f"no torch module for activation {activation}: symcorr.networks.modules has Quadratic, Polynomial and Erf")


def mlp(widths, activation_factory, *, init_gain: float = 1.0, bias_std: float = 0.0, seed: int = 0,
        dtype=torch.float64) -> nn.Sequential:
    r"""``Linear(w0, w1), act, Linear(w1, w2), act, ..., Linear(w_{L-1}, w_L)``, seeded, in ``dtype``.

    ``activation_factory()`` makes one activation module per hidden layer. Layer by layer, the
    weights are drawn :math:`N(0, g^2 / n_\mathrm{in})` with ``g = init_gain``, then the biases
    :math:`N(0, b^2)` with ``b = bias_std`` (zero, and not drawn, when ``bias_std = 0``), from one
    torch generator seeded with ``seed``, in ``dtype``.
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"an MLP needs at least input and output widths, got {widths}")
    generator = torch.Generator().manual_seed(seed)
    modules = []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        linear = nn.Linear(n_in, n_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(n_out, n_in, generator=generator, dtype=dtype)
                                * (init_gain / math.sqrt(n_in)))
            if bias_std:
                linear.bias.copy_(bias_std * torch.randn(n_out, generator=generator, dtype=dtype))
            else:
                linear.bias.zero_()
        modules.append(linear)
        if k < len(widths) - 2:
            modules.append(activation_factory())
    return nn.Sequential(*modules)


__all__ = ["SymcorrActivation", "Quadratic", "Polynomial", "Erf", "from_activation", "mlp"]
