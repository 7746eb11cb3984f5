r"""Torch's own activation modules as symcorr activations (docs/theory.md sections 4 and 10).

:data:`TORCH_ACTIVATIONS` is data: for each torch activation class, the
symcorr activation family it is (a name of
:data:`symcorr.activations.ACTIVATIONS`) and how the module's parameters become
the family's parameters. :func:`torch_activation` looks the module up and
builds the :class:`~symcorr.derivation.activation.Activation` through
:func:`symcorr.activations.get`; a family this symcorr does not have is
refused, naming it.

=====================================  =============================================
torch module                           symcorr activation
=====================================  =============================================
``nn.ReLU()``                          ``relu()``
``nn.LeakyReLU(negative_slope)``       ``leaky_relu(slope=negative_slope)``
``nn.GELU(approximate='none')``        ``gelu()``
``nn.GELU(approximate='tanh')``        ``gelu_tanh()`` (or ``gelu(approximate='tanh')``)
``nn.Tanh()``                          ``tanh()``
``nn.Sigmoid()``                       ``sigmoid()``
``nn.SiLU()``                          ``silu()``
``nn.Softplus(beta, threshold)``       ``softplus(beta=beta)``, see below
``nn.ELU(alpha)``                      ``elu(alpha=alpha)``
=====================================  =============================================

**Softplus threshold.** Torch computes :math:`\tfrac1\beta\log(1 + e^{\beta z})`
only where :math:`\beta z \le` ``threshold`` and returns :math:`z` above it;
there the two differ by :math:`\tfrac1\beta\log(1 + e^{-\beta z}) < e^{-\mathrm{threshold}}/\beta`.
symcorr propagates the analytic softplus, so the torch module and the
propagated function differ pointwise by less than
:math:`\delta = e^{-\mathrm{threshold}}/|\beta|` (:math:`2.1\cdot10^{-9}` for torch's
defaults :math:`\beta = 1`, threshold 20), and every cumulant of the layer's
output by correspondingly little; a module with :math:`\delta` above
:data:`SOFTPLUS_TOLERANCE` is refused rather than silently approximated.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

#: Largest pointwise difference :math:`e^{-\mathrm{threshold}}/|\beta|` between torch's
#: ``nn.Softplus`` and the analytic softplus that is accepted (module docstring).
SOFTPLUS_TOLERANCE = 1e-6


@dataclass(frozen=True)
class TorchActivation:
    """One torch activation class (``module_type``, its import path) and the symcorr activation it is:
    ``candidates(module)`` lists ``(family name, parameters)`` to try in order (the first name
    symcorr has is used); ``check(module)`` raises :class:`ValueError` for settings symcorr
    cannot propagate exactly."""

    module_type: str
    candidates: Callable
    check: Callable | None = None


def _softplus_check(module) -> None:
    beta, threshold = float(module.beta), float(module.threshold)
    if beta == 0:
        raise ValueError("has beta=0 (softplus(z)/beta is undefined)")
    bound = math.exp(-threshold) / abs(beta)
    if not bound <= SOFTPLUS_TOLERANCE:
        raise ValueError(f"switches to the identity where beta*z > threshold={threshold:g}, where it differs from "
                         f"the softplus symcorr propagates by up to exp(-threshold)/|beta| = {bound:.2g}, above "
                         f"{SOFTPLUS_TOLERANCE:g} (symcorr.networks.torch_activations.SOFTPLUS_TOLERANCE): "
                         "use a larger threshold, e.g. nn.Softplus(beta, threshold=20)")


def _gelu(module):
    if module.approximate == "none":
        return (("gelu", {}),)
    if module.approximate == "tanh":
        return (("gelu_tanh", {}), ("gelu", {"approximate": "tanh"}))
    raise ValueError(f"has approximate={module.approximate!r}; torch knows 'none' and 'tanh'")


#: torch activation classes and the symcorr activations they are (module docstring).
TORCH_ACTIVATIONS = (
    TorchActivation("torch.nn.ReLU", lambda m: (("relu", {}),)),
    TorchActivation("torch.nn.LeakyReLU", lambda m: (("leaky_relu", {"slope": float(m.negative_slope)}),)),
    TorchActivation("torch.nn.GELU", _gelu),
    TorchActivation("torch.nn.Tanh", lambda m: (("tanh", {}),)),
    TorchActivation("torch.nn.Sigmoid", lambda m: (("sigmoid", {}),)),
    TorchActivation("torch.nn.SiLU", lambda m: (("silu", {}),)),
    TorchActivation("torch.nn.Softplus", lambda m: (("softplus", {"beta": float(m.beta)}),), _softplus_check),
    TorchActivation("torch.nn.ELU", lambda m: (("elu", {"alpha": float(m.alpha)}),)),
)


def entry_for(module) -> TorchActivation:
    """The :data:`TORCH_ACTIVATIONS` entry whose class ``module`` is an instance of (a :class:`KeyError` if none)."""
    from torch import nn

    for entry in TORCH_ACTIVATIONS:
        if isinstance(module, getattr(nn, entry.module_type.rpartition(".")[2])):
            return entry
    raise KeyError(type(module).__name__)


def torch_activation(module):
    """The symcorr :class:`~symcorr.derivation.activation.Activation` that the torch activation ``module``
    computes (module docstring); a :class:`ValueError` naming the family when this symcorr lacks it
    or the module's settings cannot be propagated exactly."""
    from symcorr.derivation import activations

    entry = entry_for(module)
    if entry.check is not None:
        entry.check(module)
    candidates = entry.candidates(module)
    for name, parameters in candidates:
        if name not in activations.ACTIVATIONS:
            continue
        try:
            return activations.get(name, **parameters)
        except TypeError as error:  # the family's constructor takes other parameters
            call = ", ".join(f"{k}={v!r}" for k, v in parameters.items())
            raise ValueError(f"maps to symcorr.activations.get({name!r}, {call}), which the {name} family "
                             f"refuses: {error}") from None
    names = " or ".join(repr(name) for name, _ in candidates)
    raise ValueError(f"needs the activation family {names}, which is not available in this symcorr "
                     f"(symcorr.activations has {', '.join(sorted(activations.ACTIVATIONS))})")


__all__ = ["TORCH_ACTIVATIONS", "TorchActivation", "SOFTPLUS_TOLERANCE", "entry_for", "torch_activation"]
